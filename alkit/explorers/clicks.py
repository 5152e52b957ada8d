"""Click explorer: how the polygon tolerance trades clicks against label quality on one image
(Mittal et al., "Parting with Illusions about Deep Active Learning", Sec. 4, Figs. 10-11)."""

from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

from alkit.explorers.base import Explorer


class ClickExplorer(Explorer):
    """Tolerance slider over a segmentation image.

    ``data``: a :class:`~alkit.engine.data.seg_folder.SegmentationDataset` (e.g.
    ``load_dataset("shapes")``); state: ``index`` (pool image) and ``tolerance`` (pixels, >= 0).
    ``state()`` gives the polygons (:func:`alkit.protocol.annotation.mask_to_polygons`), the click
    count and the IoU of the approximated mask against the true mask (mean over the classes present).
    """

    def __init__(self, data, index: int = 0, tolerance: float = 2.0, max_tolerance: float = 12.0):
        self.data, self.index, self.tolerance, self.max_tolerance = data, int(index), float(tolerance), max_tolerance

    def _mask(self) -> np.ndarray:
        m = self.data.train_masks[self.index]
        return m.numpy() if hasattr(m, "numpy") else np.asarray(m)

    def _image(self) -> np.ndarray:
        x = self.data.train_images[self.index]
        x = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
        return np.transpose(x, (1, 2, 0))

    def state(self) -> dict:
        """``{"polygons", "clicks", "iou", "approx"}`` of the current image and tolerance
        (approx: uint8 ``[H, W]``; iou: mean IoU over the classes in the true or approximated mask)."""
        from alkit.protocol.annotation import confusion, mask_to_polygons, miou_from_confusion, rasterize

        d, mask = self.data, self._mask()
        polys = mask_to_polygons(mask, self.tolerance, background=d.background, ignore_index=d.ignore_index)
        approx = rasterize(polys, mask.shape, background=d.background, ignore=(mask == d.ignore_index),
                           ignore_index=d.ignore_index)
        iou = miou_from_confusion(confusion(mask, approx, d.num_classes, d.ignore_index))
        return dict(polygons=polys, clicks=sum(p.clicks for p in polys), iou=iou, approx=approx)

    def summary(self) -> str:
        """One line: polygons, clicks and IoU at the current tolerance."""
        s = self.state()
        return (f"image {self.index}, tolerance {self.tolerance:g} px: {len(s['polygons'])} polygons, "
                f"{s['clicks']} clicks, IoU of the approximated mask {100 * s['iou']:.1f} %")

    def render(self, fig=None):
        """Image with the polygons drawn (vertices = clicks), the true mask and the approximated mask."""
        s = self.state()
        fig = fig or plt.figure(figsize=(10, 3.6))
        axes = fig.subplots(1, 3)
        axes[0].imshow(self._image())
        for p in s["polygons"]:
            for ring in [p.outer, *p.holes]:
                closed = np.vstack([ring, ring[:1]])
                axes[0].plot(closed[:, 0], closed[:, 1], "-", color="yellow", lw=1.2)
                axes[0].plot(ring[:, 0], ring[:, 1], "o", color="red", ms=2.5)
        axes[0].set_title(f"{self.tolerance:g} px: {s['clicks']} clicks")
        k = self.data.num_classes
        axes[1].imshow(np.where(self._mask() == self.data.ignore_index, 0, self._mask()), vmin=0, vmax=k, cmap="tab20")
        axes[1].set_title("true mask")
        axes[2].imshow(np.where(s["approx"] == self.data.ignore_index, 0, s["approx"]), vmin=0, vmax=k, cmap="tab20")
        axes[2].set_title(f"polygons: IoU {100 * s['iou']:.1f} %")
        for ax in axes:
            ax.axis("off")
        fig.tight_layout()
        return fig

    def controls(self) -> dict:
        """``{state attribute: ipywidget}`` for :meth:`widget`."""
        import ipywidgets as w

        return {"tolerance": w.FloatSlider(value=self.tolerance, min=0, max=self.max_tolerance, step=0.5,
                                           description="tolerance", continuous_update=False),
                "index": w.IntSlider(value=self.index, min=0, max=len(self.data.train_masks) - 1,
                                     description="image", continuous_update=False)}
