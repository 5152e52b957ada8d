"""The simulated annotator of the paper (Sec. 4.1, Fig. 10-11): polygons and click costs.

A human labels a segmentation image by clicking polygon vertices around every object. We simulate
that: every connected component of every foreground class in the true mask is traced
(``cv2.findContours`` with ``RETR_CCOMP``, which also returns the holes of each component) and
simplified by Ramer-Douglas-Peucker (``cv2.approxPolyDP``; Douglas & Peucker 1973) with a pixel
``tolerance``. The image's **click cost is the total number of polygon vertices**, and the
**approximated mask is the rasterised polygons** (``cv2.fillPoly``) — that is what the model
trains on, while evaluation uses the true masks.

Rules (documented choices):

* The ``background`` class is not drawn: it is whatever no polygon covers (as in VOC labelling).
* A polygon keeps at least 3 vertices: when RDP collapses a contour to a line, the tolerance is
  halved for that contour until 3 vertices remain (so a square costs 4 clicks at any tolerance).
* A hole of a component is drawn (and costs clicks) only if the true mask shows background inside
  it (a ring); its polygon outlines the pixels inside the hole (so a square hole costs 4). A hole filled by other objects (a person in front of a car) costs nothing: the
  inner object's own polygon is painted on top. Components are painted largest first.
* Pixels that are ``ignore_index`` (VOC's 255 borders) in the true mask stay ignored in the
  approximated mask and are excluded from every mIoU.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from alkit.engine.metrics import confusion, miou_from_confusion  # noqa: F401  (re-exported)

IGNORE_INDEX = 255


@dataclass
class Polygon:
    """One annotated component: class id, outer ring and the holes that had to be drawn.

    ``outer`` and each hole are int32 ``[V, 2]`` (x, y) vertex arrays."""

    label: int
    outer: np.ndarray
    holes: list
    area: float  # area of the true component in pixels (painting order: largest first)

    @property
    def clicks(self) -> int:
        return int(len(self.outer) + sum(len(h) for h in self.holes))


def square_corners(contour: np.ndarray, binary: np.ndarray, offset=(0, 0)) -> np.ndarray:
    """Make concave corners exact on an OpenCV pixel contour, then drop collinear points.

    OpenCV traces 8-connected boundary pixels, so at a concave right-angle corner (an L shape) it
    cuts the corner pixel with a diagonal step, and RDP at 1 px would then shave a wedge off the
    mask. Where a diagonal step joins an axis-aligned run to a perpendicular one and the skipped
    pixel belongs to the region (``binary``, local coordinates = contour - ``offset``), the pixel
    is put back. contour ``[V, 1, 2]`` (every boundary pixel, ``CHAIN_APPROX_NONE``) ->
    ``[V', 1, 2]`` with only the points where the direction changes.
    """
    pts = contour.reshape(-1, 2)
    n = len(pts)
    if n >= 4:
        d = np.roll(pts, -1, axis=0) - pts  # step i: pts[i] -> pts[i+1]
        d_in, d_out = np.roll(d, 1, axis=0), np.roll(d, -1, axis=0)
        axis_in, axis_out = (d_in == 0).any(1), (d_out == 0).any(1)
        cand = (d != 0).all(1) & axis_in & axis_out & ((d_in * d_out).sum(1) == 0)
        corner = pts + d_in - np.asarray(offset)
        h, w = binary.shape
        inside = (corner[:, 0] >= 0) & (corner[:, 0] < w) & (corner[:, 1] >= 0) & (corner[:, 1] < h)
        cand &= inside
        cand[cand] = binary[corner[cand, 1], corner[cand, 0]] > 0
        if cand.any():
            where = np.flatnonzero(cand) + 1
            pts = np.insert(pts, where, (pts + d_in)[cand], axis=0)
    if len(pts) >= 3:  # keep only the points where the direction changes
        d = np.roll(pts, -1, axis=0) - pts
        d = d // np.maximum(np.abs(d).max(1, keepdims=True), 1)
        pts = pts[(d != np.roll(d, 1, axis=0)).any(1)]
    return np.ascontiguousarray(pts.reshape(-1, 1, 2), dtype=np.int32)


def simplify(contour: np.ndarray, tolerance: float) -> np.ndarray:
    """Ramer-Douglas-Peucker on a closed contour ``[V, 1, 2]`` -> int32 ``[V', 2]``, V' >= 3 when
    the contour has >= 3 points (the tolerance is halved while RDP leaves fewer)."""
    eps = float(tolerance)
    approx = cv2.approxPolyDP(contour, eps, True) if eps > 0 else contour
    while len(approx) < 3 <= len(contour) and eps > 1e-3:
        eps /= 2.0
        approx = cv2.approxPolyDP(contour, eps, True)
    if len(approx) < 3 <= len(contour):
        approx = contour
    return approx.reshape(-1, 2).astype(np.int32)


def _hole_outlines(mask: np.ndarray, hole: np.ndarray, label: int, background: int,
                   tolerance: float) -> list[np.ndarray]:
    """Polygons for one hole of a ``label`` component: the outline of the non-``label`` pixels
    enclosed by the hole contour, simplified; ``[]`` if no background shows through the hole."""
    x, y, w, h = cv2.boundingRect(hole)
    local = mask[y:y + h, x:x + w]
    inside = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inside, [hole.reshape(-1, 2) - (x, y)], 1)
    region = inside.astype(bool) & (local != label)
    if not np.any(local[region] == background):
        return []
    region = region.astype(np.uint8)
    outlines, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE, offset=(x, y))
    return [simplify(square_corners(o, region, (x, y)), tolerance) for o in outlines]


def mask_to_polygons(mask: np.ndarray, tolerance: float, *, background: int = 0,
                     ignore_index: int = IGNORE_INDEX) -> list[Polygon]:
    """Polygons a simulated annotator clicks for a true label mask.

    mask: integer ``[H, W]`` class ids (``ignore_index`` = unlabelled). tolerance: RDP tolerance in
    pixels (0 = exact contours). Returns one :class:`Polygon` per connected component of every
    class except ``background`` and ``ignore_index`` (8-connectivity, as traced by OpenCV).
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    mask = np.ascontiguousarray(mask)
    polys: list[Polygon] = []
    for c in np.unique(mask):
        c = int(c)
        if c in (background, ignore_index):
            continue
        binary = (mask == c).astype(np.uint8)
        contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
        if hierarchy is None:
            continue
        hier = hierarchy[0]  # [n, 4]: next, previous, first child, parent
        for i, cont in enumerate(contours):
            if hier[i, 3] != -1:  # a hole: handled with its parent
                continue
            holes, hole_area = [], 0.0
            j = hier[i, 2]
            while j != -1:
                hole_area += cv2.contourArea(contours[j])
                holes += _hole_outlines(mask, contours[j], c, background, tolerance)
                j = hier[j, 0]
            area = cv2.contourArea(cont) - hole_area + 0.5 * cv2.arcLength(cont, True)
            polys.append(Polygon(c, simplify(square_corners(cont, binary), tolerance), holes, float(area)))
    return polys


def rasterize(polygons: list[Polygon], shape: tuple[int, int], *, background: int = 0,
              ignore: np.ndarray | None = None, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Paint polygons into a uint8 ``[H, W]`` label mask (largest first; each hole is cut back to
    background right after its component). ``ignore`` bool ``[H, W]`` -> ``ignore_index``."""
    out = np.full(shape, background, dtype=np.uint8)
    for p in sorted(polygons, key=lambda q: -q.area):
        cv2.fillPoly(out, [p.outer], int(p.label))
        if p.holes:
            cv2.fillPoly(out, p.holes, int(background))
    if ignore is not None:
        out[ignore] = ignore_index
    return out


def annotate(mask: np.ndarray, tolerance: float, *, background: int = 0,
             ignore_index: int = IGNORE_INDEX) -> tuple[np.ndarray, int]:
    """Simulated annotation of one true mask ``[H, W]``: (approximated uint8 mask ``[H, W]``, clicks)."""
    mask = np.asarray(mask)
    polys = mask_to_polygons(mask, tolerance, background=background, ignore_index=ignore_index)
    approx = rasterize(polys, mask.shape, background=background, ignore=(mask == ignore_index),
                       ignore_index=ignore_index)
    return approx, sum(p.clicks for p in polys)


def annotate_many(masks, tolerance: float, *, background: int = 0, ignore_index: int = IGNORE_INDEX,
                  progress: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """Annotate a sequence of masks (arrays or uint8 tensors ``[H, W]``).

    Returns (approximated masks, clicks int64 ``[n]``)."""
    from tqdm.auto import tqdm

    approx, clicks = [], []
    for m in tqdm(masks, desc=f"annotating (tol {tolerance:g}px)", unit="img", disable=not progress, leave=False):
        m = m.numpy() if hasattr(m, "numpy") else np.asarray(m)
        a, k = annotate(m, tolerance, background=background, ignore_index=ignore_index)
        approx.append(a)
        clicks.append(k)
    return approx, np.asarray(clicks, dtype=np.int64)


def tolerance_sweep(masks, tolerances, num_classes: int, *, background: int = 0,
                    ignore_index: int = IGNORE_INDEX, progress: bool = True) -> pd.DataFrame:
    """Fig. 10-11 of the paper: label quality vs annotation cost for each RDP tolerance.

    masks: sequence of true masks ``[H, W]``. Returns one row per tolerance with columns
    ``tolerance`` (px), ``clicks_per_image`` (mean), ``clicks_std``, ``miou`` (approximated vs true
    labels, in [0, 1], confusion accumulated over all images) and ``images``.
    """
    from tqdm.auto import tqdm

    masks = [m.numpy() if hasattr(m, "numpy") else np.asarray(m) for m in masks]
    rows = []
    for tol in tqdm(list(tolerances), desc="tolerance sweep", unit="tol", disable=not progress):
        cm = np.zeros((num_classes, num_classes), dtype=np.int64)
        clicks = []
        for m in masks:
            a, k = annotate(m, float(tol), background=background, ignore_index=ignore_index)
            cm += confusion(m, a, num_classes, ignore_index)
            clicks.append(k)
        clicks = np.asarray(clicks, dtype=np.float64)
        rows.append(dict(tolerance=float(tol), clicks_per_image=float(clicks.mean()),
                         clicks_std=float(clicks.std()), miou=miou_from_confusion(cm), images=len(masks)))
    return pd.DataFrame(rows)


def clicks_table(data, tolerances, *, n_images: int = 200, progress: bool = True):
    """Annotation cost vs label quality (paper Fig. 10-11) on the first ``n_images`` pool images of a
    loaded segmentation dataset.

    Returns a DataFrame with columns ``tolerance`` (px), ``clicks_per_image``, ``clicks_std``,
    ``miou`` (approximated vs true labels, %) and ``images``."""
    tolerances = [float(t) for t in tolerances]
    if not tolerances or min(tolerances) < 0:
        raise ValueError(f"tolerances must be a non-empty list of pixel values >= 0, got {tolerances}")
    masks = list(data.train_masks[:n_images])
    table = tolerance_sweep(masks, tolerances, data.num_classes, background=data.background,
                            ignore_index=data.ignore_index, progress=progress)
    table["miou"] = (100 * table["miou"]).round(2)
    return table.round({"clicks_per_image": 2, "clicks_std": 2})


def sweep_options(dataset: str, n_images: int) -> dict:
    """Loader options that read only the ``n_images`` pool images a sweep needs (``shapes``:
    generate that many, no validation set; ``voc``: the first ``n_images``)."""
    if dataset == "shapes":
        return dict(n_train=n_images, n_val=0)
    if dataset == "voc":
        return dict(max_train=n_images, max_val=0)
    return {}
