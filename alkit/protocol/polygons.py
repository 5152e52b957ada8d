"""Polygon-level labelling (paper Sec. 4.4.2, Fig. 14-15): the pool's items are single polygons.

In the image-level regime (Sec. 4.3) a query labels whole images. In the polygon-level regime
"only a region of an image is selected by the query function. This region is approximately
labeled using a polygon by the annotation simulator". The paper's protocol, as alkit runs it:

* **Polygons** are the simulated annotator's polygons (:func:`alkit.protocol.annotation.mask_to_polygons`):
  one per connected component of every non-background class of the true mask, simplified by RDP
  at the annotator's tolerance. Rasterised together they *are* the approximated ground truth, so
  they are the connected components of the approximated GT as the annotator drew them (two
  approximated components that happen to touch stay two polygons). A polygon costs its own
  clicks: its outer vertices plus the vertices of the holes it has to outline (a ring costs its
  outer ring and its hole), so the clicks of an image's polygons add up to the image's cost.
* **Background is not a polygon** (the annotator never draws it, Sec. 4.1): a partially labelled
  image teaches background only inside the holes its labelled polygons outline; once every polygon
  of an image is labelled the image is complete, and its remaining pixels are background.
* **A polygon's pixels** are the pixels it owns in the approximated mask: polygons are painted
  largest first, as :func:`~alkit.protocol.annotation.rasterize` does, so a smaller polygon on top
  owns the pixels it covers; a hole's pixels belong to the polygon that outlines it (labelled
  background). :func:`owner_map` returns this map; :func:`polygon_pixels` one polygon's pixels.
* **Entropy score** of a polygon: "we create a binary mask for the pixel-wise entropy based on a
  threshold and use the area of the high-entropy pixels as our selection heuristic" — the number
  of its pixels whose normalised entropy exceeds 0.6 (the threshold of the image-level Entropy
  strategy), :func:`polygon_entropy_area`.
* **Selection** (:func:`polygon_order`): images in random order, and inside each image a single
  polygon, the best unlabelled one (most high-entropy pixels, or a random one). One polygon per
  image per round; when every image has given one, the next round gives every image's next best,
  and so on. The loop takes polygons in this order until B_s clicks are spent, so the spend
  exceeds B_s by less than the last polygon's cost.

Pool layout (:class:`PolygonPool`): items ``0..N-1`` are the *whole images* (cost = the image's
clicks, at least 1, as in the image-level task) and items ``N..N+P-1`` the polygons. The initial
cycle draws whole-image items in random order until B_i is spent (exactly as the image-level
task, with the same seed the same images); later cycles rank only the polygons of images that are
not complete. Item ids are what the loop's records hold in ``selected``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alkit.protocol.annotation import IGNORE_INDEX, Polygon, mask_to_polygons

NO_OWNER = -1  # pixel owned by no polygon: background nobody outlined
IGNORED = np.iinfo(np.int32).min  # pixel that is ignore_index in the true mask (VOC borders)


def owner_map(polygons: list[Polygon], shape: tuple[int, int], ignore: np.ndarray | None = None) -> np.ndarray:
    """Which polygon owns each pixel of the approximated mask: int32 ``[H, W]``.

    Values: ``j`` = inside polygon ``j`` (index into ``polygons``) with its class;
    ``-(j + 2)`` = inside a hole outlined by polygon ``j`` (background); :data:`NO_OWNER` (-1) =
    background no polygon outlines; :data:`IGNORED` = ``ignore`` (bool ``[H, W]``, the true
    mask's ignored pixels, which stay ignored whatever is labelled). Painted in the order of
    :func:`alkit.protocol.annotation.rasterize` (largest first, holes right after their polygon),
    so ``labels_from_owner`` reproduces its mask exactly.
    """
    out = np.full(shape, NO_OWNER, dtype=np.int32)
    for j in sorted(range(len(polygons)), key=lambda q: -polygons[q].area):
        p = polygons[j]
        cv2.fillPoly(out, [p.outer], int(j))
        if p.holes:
            cv2.fillPoly(out, p.holes, int(-(j + 2)))
    if ignore is not None:
        out[np.asarray(ignore, dtype=bool)] = IGNORED
    return out


def labels_from_owner(owner: np.ndarray, polygons: list[Polygon], *, background: int = 0,
                      keep=None, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """The label mask uint8 ``[H, W]`` of an owner map (:func:`owner_map`).

    ``keep``: None = every polygon is labelled (the approximated mask, background elsewhere); else
    a collection of polygon indices: only their pixels (and their holes, as background) are
    labelled, every other pixel is ``ignore_index`` (a partially labelled image)."""
    lut_size = len(polygons)
    cls = np.array([p.label for p in polygons] + [background], dtype=np.uint8)  # [P + 1], last = background
    owner = np.asarray(owner, dtype=np.int64)
    idx = np.where(owner >= 0, owner, lut_size)  # holes and unowned -> background
    out = cls[idx]
    if keep is not None:
        keep = np.asarray(sorted(int(k) for k in keep), dtype=np.int64)
        pid = np.where(owner >= 0, owner, -owner - 2)  # polygon responsible for the pixel (holes too)
        labelled = (owner != NO_OWNER) & np.isin(pid, keep)
        out = np.where(labelled, out, np.uint8(ignore_index)).astype(np.uint8)
    out[owner == IGNORED] = ignore_index
    return out


def polygon_entropy_area(entropy: np.ndarray, owner: np.ndarray, n_polygons: int, threshold: float = 0.6) -> np.ndarray:
    """Entropy score of every polygon of one image (paper Sec. 4.4.2): its number of pixels whose
    normalised entropy exceeds ``threshold``.

    entropy float ``[H, W]`` in [0, 1] (:func:`alkit.strategies.segmentation.normalized_entropy`);
    owner int ``[H, W]`` (:func:`owner_map`). Returns int64 ``[n_polygons]``. A polygon's hole
    pixels do not count (they are background, not the object the polygon outlines)."""
    hit = (np.asarray(entropy) > threshold) & (owner >= 0)
    return np.bincount(owner[hit].ravel(), minlength=n_polygons).astype(np.int64)[:n_polygons]


def polygon_order(images: np.ndarray, candidates: dict, scores: dict | None, rng: np.random.Generator,
                  tiebreak: dict | None = None) -> list[int]:
    """The polygon-level query order (paper Sec. 4.4.2): random images, one polygon per image per round.

    images: image indices in the (already random) order they are visited; candidates: image ->
    list of its unlabelled polygon item ids; scores: item id -> score (higher first), or None for
    random polygons. Ties are broken by ``tiebreak`` (item id -> number, lower first; default
    random draws from ``rng``). Round r takes every image's r-th best polygon, in image order.
    Returns item ids."""
    per_image = []
    for i in images:
        items = np.asarray(candidates.get(int(i), []), dtype=np.int64)
        if not len(items):
            continue
        if scores is None:
            items = rng.permutation(items)
        else:
            s = np.array([scores[int(k)] for k in items], dtype=np.float64)
            t = rng.random(len(items)) if tiebreak is None else np.array([tiebreak[int(k)] for k in items])
            items = items[np.lexsort((t, -s))]
        per_image.append(items)
    order = []
    for r in range(max((len(p) for p in per_image), default=0)):
        order.extend(int(p[r]) for p in per_image if r < len(p))
    return order


@dataclass
class PolygonPool:
    """The polygons of every pool image and the item layout of the polygon-level regime.

    ``image_of[k]`` / ``local[k]``: image and index within that image of polygon item ``N + k``;
    ``polygons[i]``: the annotator's polygons of image ``i``; ``owners[i]``: its :func:`owner_map`;
    ``image_costs``: clicks of each whole image ``[N]`` (at least 1); ``polygon_costs``: clicks of
    each polygon ``[P]``."""

    polygons: list
    owners: list
    image_costs: np.ndarray
    polygon_costs: np.ndarray
    image_of: np.ndarray
    local: np.ndarray

    @classmethod
    def from_masks(cls, masks, tolerance: float, *, background: int = 0, ignore_index: int = IGNORE_INDEX,
                   image_costs=None) -> "PolygonPool":
        """Polygons of true masks (sequence of ``[H, W]`` arrays/tensors) at the annotator's tolerance."""
        polys, owners, img_of, local, pcost = [], [], [], [], []
        for i, m in enumerate(masks):
            m = m.cpu().numpy() if hasattr(m, "cpu") else np.asarray(m)
            ps = mask_to_polygons(m, tolerance, background=background, ignore_index=ignore_index)
            polys.append(ps)
            owners.append(owner_map(ps, m.shape, m == ignore_index))
            for j, p in enumerate(ps):
                img_of.append(i)
                local.append(j)
                pcost.append(p.clicks)
        if image_costs is None:
            image_costs = np.maximum([sum(p.clicks for p in ps) for ps in polys], 1)
        return cls(polys, owners, np.asarray(image_costs, dtype=np.float64), np.asarray(pcost, dtype=np.float64),
                   np.asarray(img_of, dtype=np.int64), np.asarray(local, dtype=np.int64))

    @property
    def n_images(self) -> int:
        """Pool images N (items ``0..N-1``)."""
        return len(self.polygons)

    def costs(self) -> np.ndarray:
        """Cost of every pool item ``[N + P]``: whole images, then polygons (clicks)."""
        return np.concatenate([self.image_costs, self.polygon_costs])

    def is_polygon(self, item: int) -> bool:
        """True for a single-polygon item, False for a whole-image item."""
        return int(item) >= self.n_images

    def locate(self, item: int) -> tuple[int, int | None]:
        """(image index, polygon index in that image, or None for a whole-image item) of a pool item."""
        item = int(item)
        if item < self.n_images:
            return item, None
        k = item - self.n_images
        return int(self.image_of[k]), int(self.local[k])

    def items_of(self, image: int) -> np.ndarray:
        """Polygon item ids of one image."""
        return np.flatnonzero(self.image_of == image) + self.n_images

    def labelled_state(self, labelled_items) -> dict:
        """image -> None (completely labelled) or the set of its labelled polygon indices.

        An image is complete when its whole-image item is labelled or all its polygons are."""
        state: dict = {}
        for item in np.asarray(labelled_items, dtype=np.int64):
            i, j = self.locate(item)
            if j is None:
                state[i] = None
            elif state.get(i, set()) is not None:
                state.setdefault(i, set()).add(j)
        for i, s in list(state.items()):
            if s is not None and len(s) == len(self.polygons[i]):
                state[i] = None
        return state

    def mask(self, image: int, keep=None, *, background: int = 0, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
        """Label mask uint8 ``[H, W]`` of one image: complete (``keep=None``) or only polygons ``keep``."""
        return labels_from_owner(self.owners[image], self.polygons[image], background=background, keep=keep,
                                 ignore_index=ignore_index)

    def candidates(self, unlabelled_items, labelled_items) -> dict:
        """image -> its unlabelled polygon items, for images that are not complete."""
        state = self.labelled_state(labelled_items)
        out: dict = {}
        for item in np.asarray(unlabelled_items, dtype=np.int64):
            if item < self.n_images:
                continue
            i, _ = self.locate(item)
            if i in state and state[i] is None:
                continue
            out.setdefault(i, []).append(int(item))
        return out


def polygon_pixels(task, item: int) -> np.ndarray:
    """Fig. 14: bool ``[H, W]`` pixels of pool item ``item`` of a polygon-level task
    (:class:`alkit.tasks.polygon_segmentation.PolygonSegmentationTask`): the polygon's pixels
    (with its holes), or the whole image for a whole-image item. The image is
    ``task.pool.locate(item)[0]``."""
    pool = task.pool
    i, j = pool.locate(item)
    owner = pool.owners[i]
    if j is None:
        return np.ones(owner.shape, dtype=bool)
    return (owner == j) | (owner == -(j + 2))  # IGNORED pixels are in no polygon
