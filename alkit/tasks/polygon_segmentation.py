"""Polygon-level labelling task (paper Sec. 4.4.2, Fig. 14-15): random images, single polygons.

:class:`PolygonSegmentationTask` is the image-level :class:`~alkit.tasks.segmentation.SegmentationTask`
with the pool of :class:`alkit.protocol.polygons.PolygonPool`: items ``0..N-1`` are whole images,
items ``N..`` single polygons, each costing its clicks. The loop
(:func:`alkit.protocol.loop.run_trial`) and the results store work unchanged:

* ``initial_order``: whole images in random order (the same permutation, hence the same initial
  set, as the image-level task with the same seed): "only in the first cycle, images are
  completely labeled until B_i is covered";
* ``rank``: polygons of images that are not complete, images in random order and one polygon per
  image per round — the one with the largest area of high-entropy pixels (``polygon_strategy=
  "entropy"``, normalised entropy > ``threshold`` = 0.6) or a random one (``"random"``); the loop
  takes them until B_s clicks are spent;
* ``fit``: trains on **partial masks**: a complete image keeps its approximated mask, a partially
  labelled one has its labelled polygons' pixels (their holes as background) and ``ignore_index``
  everywhere else, so unlabelled pixels add nothing to the cross-entropy
  (:func:`alkit.engine.train.segmentation.train_segmentation` averages over labelled pixels only).
  Under s4GAN (``ssl="s4gan"``) the partially labelled images are also passed as unlabelled images.

The image-level strategy is always Random (the paper's "Random-Image-...-Polygon"); results are
named ``random-image-entropy-polygon`` / ``random-image-random-polygon``
(:func:`polygon_run_name`). Fig. 14 panels come from :func:`query_panels`.
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.protocol.polygons import PolygonPool, polygon_entropy_area, polygon_order, polygon_pixels
from alkit.tasks.segmentation import SegmentationTask

POLYGON_STRATEGIES = ("entropy", "random")
LABELINGS = ("image", "polygon")


def polygon_run_name(image_strategy: str, polygon_strategy: str) -> str:
    """The results' strategy name of a polygon-level run, e.g. ``random-image-entropy-polygon``
    (the paper writes Random-Image-Entropy-Polygon, with an ``SSL-`` prefix under s4GAN)."""
    return f"{image_strategy}-image-{polygon_strategy}-polygon"


def polygon_run_label(name: str, ssl: str | None = None) -> str:
    """The paper's label of a polygon-level run name (Sec. 4.4.2, Fig. 15):
    ``random-image-entropy-polygon`` -> ``Random-Image-Entropy-Polygon``, with ``SSL-`` in front
    when ``ssl`` is set (e.g. ``"s4gan"``). Other names are returned unchanged."""
    parts = name.split("-")
    if len(parts) != 4 or parts[1] != "image" or parts[3] != "polygon":
        return name
    label = "-".join(p.capitalize() for p in parts)
    return f"SSL-{label}" if ssl and ssl != "none" else label


class PolygonSegmentationTask(SegmentationTask):
    """Polygon-level AL on a :class:`~alkit.engine.data.seg_folder.SegmentationDataset` (see the module
    docstring). Takes every option of :class:`SegmentationTask` plus ``polygon_strategy``
    (``"entropy"`` | ``"random"``)."""

    labeling = "polygon"

    def __init__(self, data, *, polygon_strategy: str = "entropy", **kwargs):
        if polygon_strategy not in POLYGON_STRATEGIES:
            raise ValueError(f"unknown polygon strategy {polygon_strategy!r}; choose from {', '.join(POLYGON_STRATEGIES)}")
        super().__init__(data, **kwargs)
        self.polygon_strategy = polygon_strategy
        self._partial = np.zeros(0, dtype=np.int64)  # partially labelled images of the fit in progress
        self.pool = PolygonPool.from_masks(data.train_masks, self.tolerance, background=data.background,
                                           ignore_index=data.ignore_index, image_costs=self.clicks)

    # -- Task protocol -------------------------------------------------------------------------
    def pool_costs(self) -> np.ndarray:
        """Clicks of every item ``[N + P]``: whole images, then polygons."""
        return self.pool.costs()

    def max_spend(self) -> float:
        """Clicks that label the whole pool (each image once): what budgets must stay within."""
        return float(self.clicks.sum())

    def initial_order(self, rng: np.random.Generator) -> np.ndarray:
        """Whole-image items in random order (as :meth:`SegmentationTask.initial_order`)."""
        return rng.permutation(self.pool.n_images).astype(np.int64)

    def training_masks(self, labelled_items):
        """(image indices with any label ``[n]``, masks) for training on ``labelled_items``.

        masks: like ``approx_masks`` (uint8 ``[N, H, W]`` tensor or list), the images not in the
        first element left as they are (never read); partially labelled images hold
        ``ignore_index`` outside their labelled polygons."""
        d = self.data
        state = self.pool.labelled_state(labelled_items)
        images = np.asarray(sorted(state), dtype=np.int64)
        partial = {i: s for i, s in state.items() if s is not None}
        if isinstance(self.approx_masks, torch.Tensor):
            masks = self.approx_masks.clone() if partial else self.approx_masks
        else:
            masks = list(self.approx_masks)
        for i, keep in partial.items():
            m = torch.from_numpy(self.pool.mask(i, keep, background=d.background, ignore_index=d.ignore_index))
            masks[i] = m.to(self.approx_masks[i].device)
        return images, masks

    def partially_labelled(self, labelled_items) -> np.ndarray:
        """Image indices with some but not all polygons labelled."""
        state = self.pool.labelled_state(labelled_items)
        return np.asarray(sorted(i for i, s in state.items() if s is not None), dtype=np.int64)

    def _train(self, labelled: np.ndarray, seed: int, lossnet=None):
        """Train on the partial masks of the labelled items (the image-level training, whatever it
        is — supervised or s4GAN — sees image indices and masks with ignored pixels)."""
        images, masks = self.training_masks(labelled)
        full = self.approx_masks
        self.approx_masks, self._partial = masks, self.partially_labelled(labelled)
        try:
            return super()._train(images, seed, lossnet)
        finally:
            self.approx_masks, self._partial = full, np.zeros(0, dtype=np.int64)

    def fit(self, labelled: np.ndarray, seed: int, strategy: str = "random"):
        learner = super().fit(labelled, seed, strategy)
        state = self.pool.labelled_state(labelled)
        learner.info.update(n_images=len(state), n_complete=sum(s is None for s in state.values()))
        return learner

    def evaluate(self, learner) -> dict:
        """``miou`` (true validation masks) plus ``n_images`` (images with any labelled pixel) and
        ``n_complete`` (completely labelled images)."""
        out = super().evaluate(learner)
        out.update({k: int(learner.info[k]) for k in ("n_images", "n_complete") if k in learner.info})
        return out

    def entropy_maps(self, learner, images) -> np.ndarray:
        """Normalised pixel entropy of pool images under ``learner.models[0]``: float32 ``[n, H, W]``
        (fixed-size data) or a list of ``[H_i, W_i]``."""
        from alkit.engine.train.segmentation import iterate_predictions
        from alkit.strategies.segmentation import normalized_entropy

        out = []
        for _, probs, _ in iterate_predictions(learner.models[0], self.data.train_images, np.asarray(images, np.int64),
                                               self.data.mean, self.data.std, batch_size=self.eval_batch,
                                               device=self.device):
            out.extend(normalized_entropy(probs).float().cpu().numpy())
        return np.stack(out) if self.data.fixed_size else out

    def polygon_scores(self, learner, images) -> dict:
        """Entropy score (:func:`~alkit.protocol.polygons.polygon_entropy_area`) of every polygon
        item of ``images``: item id -> area of pixels with normalised entropy > ``threshold``."""
        scores = {}
        for i, h in zip(images, self.entropy_maps(learner, images)):
            area = polygon_entropy_area(h, self.pool.owners[int(i)], len(self.pool.polygons[int(i)]), self.threshold)
            for item, a in zip(self.pool.items_of(int(i)), area):
                scores[int(item)] = float(a)
        return scores

    def rank(self, learner, strategy: str, labelled: np.ndarray, unlabelled: np.ndarray, budget: float,
             rng: np.random.Generator) -> np.ndarray:
        """Polygon items, most wanted first (:func:`~alkit.protocol.polygons.polygon_order`).

        Images are visited in random order; with ``"entropy"`` they are scored in chunks of
        ``eval_batch`` only until the first round (one polygon per image) covers ``budget``, the
        only part of the order the loop consumes in that case, so large pools are not predicted
        in full."""
        if strategy != "random":
            raise ValueError(f"polygon-level labelling picks images at random (strategy 'random'), got {strategy!r}")
        cand = self.pool.candidates(unlabelled, labelled)
        images = rng.permutation(np.asarray(sorted(cand), dtype=np.int64))
        if self.polygon_strategy == "random":
            return np.asarray(polygon_order(images, cand, None, rng), dtype=np.int64)
        costs = self.pool.costs()
        tiebreak = dict(zip(range(len(costs)), rng.random(len(costs))))  # one random key per item
        scores, first_round, done = {}, 0.0, 0
        while done < len(images) and first_round < budget:
            chunk = images[done:done + self.eval_batch]
            part = self.polygon_scores(learner, chunk)
            scores.update(part)
            for i in chunk:  # the polygon this image gives in the first round
                first_round += costs[min(cand[int(i)], key=lambda k: (-part[k], tiebreak[k]))]
            done += len(chunk)
        # when the first round of the scored images covers the budget, the loop reads no further
        return np.asarray(polygon_order(images[:done], cand, scores, rng, tiebreak), dtype=np.int64)


def labelled_upto(df, trial: int, cycle: int) -> np.ndarray:
    """Pool items labelled up to and including ``cycle`` of ``trial`` from a results frame with a
    ``selected`` column (``run(..., with_selected=True)``) of one strategy."""
    rows = df[(df["trial"] == trial) & (df["cycle"] <= cycle)]
    return np.asarray([k for sel in rows["selected"] for k in sel], dtype=np.int64)


def query_panels(task: PolygonSegmentationTask, df, *, trial: int = 0, cycle: int = 0, seed: int = 0,
                 n: int = 2, strategy: str = "random") -> list[dict]:
    """Fig. 14: what the query after ``cycle`` saw and picked, for its first ``n`` polygons.

    Re-trains the model of (``trial``, ``cycle``) exactly as the run did (same labelled items,
    same seed; deterministic on the CPU) and returns one dict per selected polygon of cycle
    ``cycle + 1``: ``image`` uint8 ``[H, W, 3]``, ``approx`` uint8 ``[H, W]`` (approximated ground
    truth), ``entropy`` float ``[H, W]`` (normalised pixel entropy), ``polygon`` bool ``[H, W]``
    (its pixels, :func:`~alkit.protocol.polygons.polygon_pixels`), ``item`` and ``pool_index``
    (the image). ``df``: the rows of one polygon-level strategy with ``selected``."""
    from alkit.protocol.loop import cycle_seed

    picked = df[(df["trial"] == trial) & (df["cycle"] == cycle + 1)]["selected"]
    if picked.empty:
        raise ValueError(f"no cycle {cycle + 1} in trial {trial}: run at least {cycle + 1} query cycles")
    learner = task.fit(labelled_upto(df, trial, cycle), cycle_seed(seed, trial, cycle), strategy)
    out = []
    for item in list(picked.iloc[0])[:n]:
        i, _ = task.pool.locate(item)
        img = task.data.train_images[i]
        out.append(dict(item=int(item), pool_index=i, image=img.permute(1, 2, 0).cpu().numpy(),
                        approx=task.approx_masks[i].cpu().numpy(), entropy=task.entropy_maps(learner, [i])[0],
                        polygon=polygon_pixels(task, item)))
    return out
