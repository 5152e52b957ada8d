"""Bias meters: how far what an active-learning strategy picked is from the pool it picked from.

The paper's closing hypothesis (Sec. 5): "AL sampling introduces a bias into the distribution of
annotated samples, i.e., the sampled distribution does not sufficiently match the true
distribution anymore. The damage by this bias is larger than the positive effect of learning from
'more interesting' samples." These meters put a number on that bias for every (strategy, trial,
cycle) of a run, using nothing but the ``selected`` column of
:func:`alkit.experiments.config.run` (``with_selected=True``; cycle 0 holds the random initial set,
cycle c the batch queried after cycle c - 1 and labelled for cycle c).

Set meters, on the labelled set L of a cycle (the union of ``selected`` over cycles 0..c):

* :func:`class_imbalance` -- total variation and KL(L || pool) of the class histograms (image
  labels, or pixel counts per class for segmentation: :func:`pixel_histograms`);
* :func:`feature_shift` -- the energy distance between L and the pool in a feature space;
* :func:`coverage` -- distance of each pool point to its nearest labelled point: mean, and max
  (the core-set radius of Sener & Savarese 2018).

Batch meters, on one cycle's queried batch:

* :func:`redundancy` -- mean pairwise cosine similarity within the batch;
* :func:`typicality` -- TypiClust's density (Hacohen et al. 2022) of the picks as a percentile
  rank within the pool (0.5 = as typical as a random pick).

A finite random sample is never at 0 on the set meters (a random set of m items drawn from K
classes has a TV of order sqrt(K / m)), and in classification the initial set is class-balanced
(:func:`alkit.protocol.pool.class_balanced_order`): read each meter against the Random strategy's
rows at the same cycle, not against 0.

Features come from ONE fixed space shared by all strategies, :func:`reference_embedding` (a small
network trained once on the fully labelled pool, cached on disk); :func:`bias_table` computes every
meter for a whole run. Distances are Euclidean, in float64, computed exactly (``torch.cdist``
without the matrix-product shortcut, so a point is at distance 0 from itself) in blocks of
``chunk`` rows: memory is ``chunk x n``, linear in the pool, never an ``n x n`` matrix.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

PSEUDO_COUNT = 0.5  # added to every class count before KL (the Jeffreys / Krichevsky-Trofimov estimate)
CHUNK = 512  # rows per distance block: a block holds CHUNK x n float64 (5 MB for a 1,257-image pool)
K_NN = 20  # neighbours of TypiClust's typicality (Hacohen et al. 2022)
_EXACT = "donot_use_mm_for_euclid_dist"  # torch.cdist mode: exact, and the same whatever the block size

# Columns of a run frame that name one run (the labelled set grows within one), and the columns
# bias_table copies from the run frame next to the meters (sizes, budgets and the test metric).
RUN_COLUMNS = ("dataset", "augment", "ssl", "regime", "tolerance", "labeling", "polygon_strategy", "strategy", "trial")
CARRIED_COLUMNS = ("n_labelled", "n_images", "n_items", "budget", "cost", "n_clicks", "accuracy", "miou")
METER_COLUMNS = ("labelled", "batch", "tv", "kl", "energy", "coverage_mean", "coverage_max", "redundancy", "typicality")


# -- checking inputs ------------------------------------------------------------------------------


def _as_features(name: str, x) -> torch.Tensor:
    """``x`` as a float64 CPU tensor ``[n, d]`` with n, d >= 1 and finite values, else ValueError."""
    try:
        t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a numeric 2-D array [n, d], got {type(x).__name__}") from None
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [n, d], got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty: it needs at least one row")
    if t.shape[1] == 0:
        raise ValueError(f"{name} has no feature columns (shape {tuple(t.shape)})")
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must hold real numbers, got {t.dtype}")
    t = t.to("cpu", torch.float64)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return t


def _same_width(a_name: str, a: torch.Tensor, b_name: str, b: torch.Tensor) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{a_name} has {a.shape[1]} feature columns but {b_name} has {b.shape[1]}")


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _indices(name: str, idx, n: int) -> np.ndarray:
    """``idx`` as int64 pool indices in [0, n), else ValueError naming ``name``."""
    a = np.asarray(idx)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer pool indices, got {a.dtype} shape {a.shape}")
    if a.min() < 0 or a.max() >= n:
        raise ValueError(f"{name} holds pool indices outside [0, {n}): min {a.min()}, max {a.max()}")
    return a.astype(np.int64)


# -- class imbalance ------------------------------------------------------------------------------


def class_histogram(labels, num_classes: int, *, name: str = "labels") -> np.ndarray:
    """float64 ``[K]`` class counts of ``labels``: integer class ids ``[n]`` (one per image), or
    per-item class counts ``[n, K]`` (e.g. pixels of each class per image, :func:`pixel_histograms`),
    summed over the items. ValueError naming ``name`` for an empty input, ids outside [0, K),
    negative counts or a shape that is neither."""
    k = _positive_int("num_classes", num_classes)
    a = np.asarray(labels)
    if a.size == 0:
        raise ValueError(f"{name} is empty: it needs at least one item")
    if a.ndim == 1:
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class ids, got dtype {a.dtype}")
        if a.min() < 0 or a.max() >= k:
            raise ValueError(f"{name} holds class ids outside [0, {k}): min {a.min()}, max {a.max()}")
        return np.bincount(a, minlength=k).astype(np.float64)
    if a.ndim == 2 and a.shape[1] == k:
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise ValueError(f"{name} must hold numeric class counts, got dtype {a.dtype}")
        if not np.isfinite(a).all() or (a < 0).any():
            raise ValueError(f"{name} holds negative or non-finite class counts")
        return a.sum(axis=0, dtype=np.float64)
    raise ValueError(f"{name} must be class ids [n] or per-item class counts [n, {k}], got shape {a.shape}")


def class_imbalance(labelled_labels, pool_labels, num_classes: int, *,
                    pseudo_count: float = PSEUDO_COUNT) -> dict[str, float]:
    """How far the labelled set's class distribution is from the pool's.

    ``labelled_labels`` / ``pool_labels``: integer class ids ``[n_l]`` / ``[n]`` (classification), or
    per-item class counts ``[n_l, K]`` / ``[n, K]`` (segmentation: pixels of each class per image,
    :func:`pixel_histograms`), both in the same form. Returns ``{"tv": ..., "kl": ...}``:

    * ``tv`` = 1/2 sum_k |p_k - q_k| in [0, 1], on the raw normalised histograms (p labelled, q pool);
    * ``kl`` = KL(p || q) = sum_k p_k log(p_k / q_k) in nats, both histograms smoothed with
      ``pseudo_count`` per class (default 0.5, the Jeffreys / Krichevsky-Trofimov estimate), so a class
      the labelled set lacks gives a finite value. A labelled set equal to the pool gives 0 for both.

    Source: the class-imbalance view of AL bias (paper Sec. 5; e.g. the class-balance analyses of
    Hacohen et al. 2022). ValueError for an empty set, class ids outside [0, K) or mixed forms.
    """
    if np.ndim(labelled_labels) != np.ndim(pool_labels):
        raise ValueError("labelled_labels and pool_labels must both be class ids [n] or both class counts [n, K], "
                         f"got {np.ndim(labelled_labels)}-D and {np.ndim(pool_labels)}-D")
    if not pseudo_count > 0:
        raise ValueError(f"pseudo_count must be > 0, got {pseudo_count!r}")
    labelled = class_histogram(labelled_labels, num_classes, name="labelled_labels")
    pool = class_histogram(pool_labels, num_classes, name="pool_labels")
    return _imbalance_of_histograms(labelled, pool, pseudo_count)


def _imbalance_of_histograms(labelled: np.ndarray, pool: np.ndarray, pseudo_count: float) -> dict[str, float]:
    """TV and smoothed KL (see :func:`class_imbalance`) of two class-count vectors ``[K]``."""
    for name, h in (("labelled_labels", labelled), ("pool_labels", pool)):
        if h.sum() <= 0:
            raise ValueError(f"{name} holds no counts (every class count is 0)")
    tv = 0.5 * np.abs(labelled / labelled.sum() - pool / pool.sum()).sum()
    p = (labelled + pseudo_count) / (labelled.sum() + pseudo_count * len(labelled))
    q = (pool + pseudo_count) / (pool.sum() + pseudo_count * len(pool))
    return {"tv": float(tv), "kl": float(np.sum(p * np.log(p / q)))}


def pixel_histograms(masks, num_classes: int, ignore_index: int = 255, *, images_per_block: int = 256) -> np.ndarray:
    """int64 ``[n, K]``: pixels of each class in each mask, ``ignore_index`` pixels left out.

    ``masks``: uint8/int ``[n, H, W]`` (stacked) or a list of ``[H_i, W_i]`` (varied sizes, as VOC).
    Counts one block of ``images_per_block`` stacked masks at a time (one ``bincount`` per block).
    ValueError for a mask value that is neither a class in [0, K) nor ``ignore_index``."""
    k = _positive_int("num_classes", num_classes)
    stacked = isinstance(masks, (torch.Tensor, np.ndarray))
    blocks = ([masks[a:a + images_per_block] for a in range(0, len(masks), images_per_block)] if stacked
              else [m[None] for m in masks])
    counts = [_count_pixels(torch.as_tensor(np.asarray(b) if isinstance(b, np.ndarray) else b), k, ignore_index)
              for b in blocks]
    return torch.cat(counts).numpy() if counts else np.zeros((0, k), dtype=np.int64)


def _count_pixels(masks: torch.Tensor, k: int, ignore_index: int) -> torch.Tensor:
    """int64 ``[b, K]`` class pixel counts of masks ``[b, H, W]``."""
    flat = masks.detach().to("cpu", torch.int64).reshape(len(masks), -1)
    valid = flat != ignore_index
    if ((flat[valid] < 0) | (flat[valid] >= k)).any():
        raise ValueError(f"masks hold values outside the {k} classes [0, {k}) other than ignore_index {ignore_index}")
    ids = (torch.arange(len(flat))[:, None] * k + flat)[valid]
    return torch.bincount(ids, minlength=len(flat) * k).reshape(len(flat), k)


def pool_class_labels(task_or_data) -> np.ndarray:
    """The pool's classes for :func:`class_imbalance` / :func:`bias_table`: int64 labels ``[n]`` of a
    classification pool (``train_y``), pixel counts ``[n, K]`` of a segmentation pool (the true
    ``train_masks``, not the annotator's polygons). ``task_or_data``: a task (its ``.data``) or a dataset.

    ANALYSIS ONLY: these are the pool's true labels, which no strategy ever sees; they are read here
    to measure what the strategies picked, never to pick."""
    data = getattr(task_or_data, "data", task_or_data)
    if hasattr(data, "train_y"):
        return data.train_y.detach().cpu().numpy().astype(np.int64)
    if hasattr(data, "train_masks"):
        return pixel_histograms(data.train_masks, data.num_classes, data.ignore_index)
    raise ValueError(f"task_or_data must be a task or a loaded dataset, got {type(task_or_data).__name__}")


# -- distances in blocks ----------------------------------------------------------------------------


def _distance_blocks(rows: torch.Tensor, cols: torch.Tensor, chunk: int):
    """Yield ``(start, D)``: ``D[i, j] = ||rows[start + i] - cols[j]||``, float64 ``[<= chunk, len(cols)]``."""
    for start in range(0, len(rows), chunk):
        yield start, torch.cdist(rows[start:start + chunk], cols, compute_mode=_EXACT)


def _sum_of_distances(rows: torch.Tensor, cols: torch.Tensor, chunk: int) -> float:
    """sum_ij ||rows_i - cols_j|| over every pair, in blocks."""
    return float(sum(d.sum() for _, d in _distance_blocks(rows, cols, chunk)))


def _mean_distance_to_all(rows: torch.Tensor, cols: torch.Tensor, chunk: int) -> torch.Tensor:
    """float64 ``[len(rows)]``: mean_j ||rows_i - cols_j||."""
    return torch.cat([d.mean(dim=1) for _, d in _distance_blocks(rows, cols, chunk)])


def _nearest_distance(rows: torch.Tensor, cols: torch.Tensor, chunk: int) -> torch.Tensor:
    """float64 ``[len(rows)]``: min_j ||rows_i - cols_j||."""
    return torch.cat([d.min(dim=1).values for _, d in _distance_blocks(rows, cols, chunk)])


def _energy_from_means(cross: float, within_labelled: float, within_pool: float) -> float:
    """sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|), clipped at 0 against rounding."""
    return math.sqrt(max(2.0 * cross - within_labelled - within_pool, 0.0))


# -- feature meters ---------------------------------------------------------------------------------


def feature_shift(labelled_feats, pool_feats, *, chunk: int = CHUNK) -> float:
    """Energy distance between the labelled set and the pool in a feature space.

    ``labelled_feats [n_l, d]``, ``pool_feats [n, d]`` (numpy or torch). Returns
    ``sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|)`` with X, X' drawn from the labelled rows and Y, Y'
    from the pool rows, all expectations over every pair (the V-statistic: a labelled set equal to
    the pool gives exactly 0). Székely & Rizzo, "Energy statistics" (2013); ``scipy.stats.energy_distance``
    is this in one dimension. Memory ``chunk x max(n_l, n)``; the pool-pool term costs n^2 distances.

    Why energy distance and not an RBF-MMD: it has no bandwidth to choose (the median heuristic would
    tie the scale to each feature space and pool), it is a metric that is 0 only for equal
    distributions (it is the MMD of the distance kernel, Sejdinovic et al. 2013), and its labelled-pool
    term is a per-point mean distance, which :func:`bias_table` computes once for the whole run.
    """
    chunk = _positive_int("chunk", chunk)
    x = _as_features("labelled_feats", labelled_feats)
    y = _as_features("pool_feats", pool_feats)
    _same_width("labelled_feats", x, "pool_feats", y)
    cross = _sum_of_distances(x, y, chunk) / (len(x) * len(y))
    within_labelled = _sum_of_distances(x, x, chunk) / len(x) ** 2
    within_pool = _sum_of_distances(y, y, chunk) / len(y) ** 2
    return _energy_from_means(cross, within_labelled, within_pool)


def coverage(labelled_feats, pool_feats, *, chunk: int = CHUNK) -> dict[str, float]:
    """How well the labelled set covers the pool: the distance of each pool point to its nearest
    labelled point, ``{"mean": ..., "max": ...}``.

    ``labelled_feats [n_l, d]``, ``pool_feats [n, d]``. ``max`` is the core-set radius delta that
    Core-Set minimises (Sener & Savarese, "Active learning for convolutional neural networks: a
    core-set approach", ICLR 2018); ``mean`` is its average-case counterpart. 0 when every pool point
    is labelled. Memory ``chunk x n_l``."""
    chunk = _positive_int("chunk", chunk)
    x = _as_features("labelled_feats", labelled_feats)
    y = _as_features("pool_feats", pool_feats)
    _same_width("labelled_feats", x, "pool_feats", y)
    nearest = _nearest_distance(y, x, chunk)
    return {"mean": float(nearest.mean()), "max": float(nearest.max())}


def redundancy(batch_feats) -> float:
    """Mean pairwise cosine similarity within one queried batch ``[b, d]`` (over the b(b-1)/2 pairs).

    Computed without a ``b x b`` matrix: with unit rows u_i, sum_{i != j} u_i . u_j =
    ||sum_i u_i||^2 - sum_i ||u_i||^2. An all-zero row has cosine 0 with everything. NaN for a
    batch of fewer than 2 points (no pair). High values = near-duplicate picks, the redundancy that
    batch-aware strategies (Core-Set, Sener & Savarese 2018; BADGE, Ash et al. 2020) try to avoid."""
    shape = tuple(batch_feats.shape) if hasattr(batch_feats, "shape") else np.shape(batch_feats)
    if len(shape) >= 1 and shape[0] < 2:
        return float("nan")
    x = _as_features("batch_feats", batch_feats)
    norms = x.norm(dim=1, keepdim=True)
    unit = torch.where(norms > 0, x / norms.clamp_min(1e-300), torch.zeros_like(x))
    b = len(unit)
    off_diagonal = unit.sum(dim=0).square().sum() - unit.square().sum()
    return float(off_diagonal / (b * (b - 1)))


def knn_mean_distance(feats, k: int = K_NN, *, chunk: int = CHUNK) -> np.ndarray:
    """float64 ``[n]``: mean distance of each row of ``feats [n, d]`` to its ``k`` nearest other rows
    (``k`` capped at n - 1; 0 for a single row). TypiClust's typicality (Hacohen, Dekel & Weinshall,
    ICML 2022) is ``1 / (this + 1e-5)`` (:func:`alkit.strategies.typiclust.typicality`). Exact kNN in
    blocks of ``chunk`` rows (memory ``chunk x n``)."""
    chunk = _positive_int("chunk", chunk)
    k = _positive_int("k", k)
    x = _as_features("feats", feats)
    n = len(x)
    k = min(k, n - 1)
    if k == 0:
        return np.zeros(n)
    out = torch.empty(n, dtype=torch.float64)
    for start, d in _distance_blocks(x, x, chunk):
        rows = torch.arange(len(d))
        d[rows, rows + start] = math.inf  # a point is not its own neighbour
        out[start:start + len(d)] = d.topk(k, dim=1, largest=False).values.mean(dim=1)
    return out.numpy()


def percentile_ranks(values) -> np.ndarray:
    """float64 ``[n]``: the mid-rank percentile of each value among all of them,
    (#smaller + #equal / 2) / n, in (0, 1); their mean is exactly 0.5."""
    v = np.asarray(values, dtype=np.float64)
    ordered = np.sort(v)
    below = np.searchsorted(ordered, v, side="left")
    up_to = np.searchsorted(ordered, v, side="right")
    return (below + 0.5 * (up_to - below)) / len(v)


def pool_typicality_ranks(pool_feats, k: int = K_NN, *, chunk: int = CHUNK) -> np.ndarray:
    """float64 ``[n]``: each pool point's typicality (TypiClust density, 1 / mean distance to its k
    nearest neighbours; Hacohen et al. 2022) as a percentile rank within the pool: 1 = the densest
    point, 0.5 = the median. Higher typicality is a smaller kNN distance, so the rank is taken of
    the negated distance."""
    return percentile_ranks(-knn_mean_distance(pool_feats, k, chunk=chunk))


def typicality(batch_idx, pool_feats, k: int = K_NN, *, chunk: int = CHUNK) -> float:
    """Mean typicality percentile of the picks ``batch_idx`` (int pool indices ``[b]``) within the
    pool ``pool_feats [n, d]``: 0.5 = as typical as a random pick, towards 1 = picks from dense
    regions (what TypiClust asks for), towards 0 = outlying points.

    Typicality of a point = 1 / mean distance to its ``k`` nearest pool neighbours (Hacohen, Dekel
    & Weinshall, "Active learning on a budget", ICML 2022; ranked with :func:`percentile_ranks`).
    NaN for an empty batch. Memory ``chunk x n``."""
    ranks = pool_typicality_ranks(pool_feats, k, chunk=chunk)
    idx = _indices("batch_idx", batch_idx, len(ranks))
    return float(ranks[idx].mean()) if len(idx) else float("nan")


# -- the reference feature space ------------------------------------------------------------------

REFERENCE_VERSION = 1  # bump when the training or the embedding below changes what a cached file holds
# Short, seeded recipes (seconds on one CPU core for the embedded data). Classification: the small
# CNN (alkit.engine.models.small_cnn) for 15 epochs over the whole pool without augmentation;
# embedding = forward_features' penultimate output (64-d). Segmentation: the small segmentation net
# (alkit.engine.models.segmentation) with the shapes recipe's optimiser for >= 150 steps; embedding =
# its last tap (the features before the classifier) averaged over the image.
REFERENCE_RECIPE = {
    "classification": dict(model="small-cnn", epochs=15, batch_size=64, lr=0.05, augment="none"),
    "segmentation": dict(model="small-seg", epochs=1, min_epoch_steps=150, batch_size=10, lr=3e-3,
                         optimizer="adamw", weight_decay=1e-4, schedule="cosine", warmup=20, crop_size=48,
                         scale_range=[0.75, 1.25]),
}


def reference_embedding(task_or_data, *, seed: int = 0, device="cpu", cache_dir=None,
                        recipe: dict | None = None) -> np.ndarray:
    """float32 ``[n_pool, D]``: every pool item in ONE feature space shared by all strategies.

    A reference network is trained once on the whole pool with its true labels
    (:data:`REFERENCE_RECIPE`, updated by ``recipe``; seeded by ``seed``, one CPU thread, so the same
    seed gives the same features) and the pool is embedded with it: for classification the penultimate
    output of ``forward_features`` (the small CNN: 64-d), for segmentation the network's last feature
    map averaged over the image. Strategies' own features change every cycle and differ between
    strategies; bias is measured here, in a space none of them chose.

    ``task_or_data``: a task (its ``.data``) or a loaded dataset. The features are cached in
    ``cache_dir`` (default ``outputs/reference``) under a hash of the pool's content (images, labels,
    classes, normalisation), the recipe, the seed, the device type and the network's parameter
    shapes, written atomically; a second call loads them.
    """
    data = getattr(task_or_data, "data", task_or_data)
    kind = _data_kind(data)
    r = {**REFERENCE_RECIPE[kind], **(recipe or {})}
    path = _reference_path(data, kind, r, seed, torch.device(device), cache_dir)
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)["features"].numpy()
    # The pool's TRUE labels are read here to train the reference network. They are used only for
    # this analysis (to measure what the strategies picked); no strategy ever sees them.
    model = _train_reference(data, kind, r, seed, torch.device(device))
    features = _embed_pool(model, data, kind, torch.device(device)).to("cpu", torch.float32)
    from alkit.io import atomic_open

    with atomic_open(path, "wb") as f:  # parallel workers never read half a file
        torch.save({"features": features, "model": {k: v.cpu() for k, v in model.state_dict().items()}}, f)
    return features.numpy()


def _data_kind(data) -> str:
    if hasattr(data, "train_x"):
        return "classification"
    if hasattr(data, "train_images"):
        return "segmentation"
    raise ValueError(f"task_or_data must be a task or a loaded dataset, got {type(data).__name__}")


def _fresh_reference_model(data, kind: str, r: dict):
    if kind == "classification":
        from alkit.engine.models import build_model

        return build_model(r["model"], data.num_classes, in_channels=data.channels, image_size=data.image_size)
    from alkit.engine.models.segmentation import build_segmentation_model

    return build_segmentation_model(r["model"], data.num_classes, None)


def _reference_path(data, kind: str, r: dict, seed: int, device: torch.device, cache_dir) -> Path:
    """``<cache_dir>/<kind>-<model>-<16 hex>.pt``, the hash covering everything the features depend on."""
    from alkit.paths import outputs_dir

    with torch.random.fork_rng(devices=[]):  # a throw-away network for its shapes: the caller's RNG is kept
        shapes = [list(t.shape) for t in _fresh_reference_model(data, kind, r).state_dict().values()]
    blob = json.dumps(dict(version=REFERENCE_VERSION, pool=_pool_hash(data, kind), recipe=r, seed=int(seed),
                           device=device.type, shapes=shapes), sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir is not None else outputs_dir() / "reference"
    return folder / f"{kind}-{r['model']}-{key}.pt"


def _pool_hash(data, kind: str) -> str:
    """16-hex blake2b of what the reference network learns from: the pool's images and labels (the
    dtype, shape and bytes of each tensor, as :mod:`alkit.experiments.fingerprint` hashes datasets;
    the test / validation split plays no part), the class names and the normalisation statistics."""
    h = hashlib.blake2b(digest_size=8)
    small = dict(classes=list(data.classes), mean=data.mean, std=data.std, ignore=getattr(data, "ignore_index", None))
    h.update(json.dumps(small, sort_keys=True, default=str).encode())
    for field in ("train_x", "train_y") if kind == "classification" else ("train_images", "train_masks"):
        value = getattr(data, field)
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        h.update(f"{field}:{'list' if isinstance(value, (list, tuple)) else 'tensor'}:{len(items)}\n".encode())
        for t in items:
            t = torch.as_tensor(t).detach().cpu().contiguous()
            h.update(f"{t.dtype}:{tuple(t.shape)}\n".encode())
            h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


def _train_reference(data, kind: str, r: dict, seed: int, device: torch.device):
    """The reference network trained on every pool item (see :func:`reference_embedding`)."""
    from alkit.engine.train.common import prepare_model, torch_threads

    data = data.to(device)
    everything = np.arange(len(data.train_x if kind == "classification" else data.train_images))
    forked = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked), torch_threads(1):  # tiny networks: one thread, reproducible
        torch.manual_seed(seed)
        model = prepare_model(_fresh_reference_model(data, kind, r), device)
        if kind == "classification":
            from alkit.engine.augment import build_augment
            from alkit.engine.train.supervised import train_supervised

            return train_supervised(model, data, everything, epochs=r["epochs"], batch_size=r["batch_size"],
                                    lr=r["lr"], augment=build_augment(r["augment"], data.image_size, hflip=False),
                                    seed=seed)
        from alkit.engine.train.segmentation import train_segmentation

        return train_segmentation(model, data.train_images, data.train_masks, everything, epochs=r["epochs"],
                                  seed=seed, mean=data.mean, std=data.std, num_classes=data.num_classes,
                                  crop_size=r["crop_size"], scale_range=tuple(r["scale_range"]),
                                  batch_size=r["batch_size"], lr=r["lr"], head_lr_mult=1.0,
                                  ignore_index=data.ignore_index, optimizer=r["optimizer"],
                                  weight_decay=r["weight_decay"], schedule=r["schedule"], warmup=r["warmup"],
                                  min_epoch_steps=r["min_epoch_steps"], device=device)


@torch.inference_mode()
def _embed_pool(model, data, kind: str, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """float ``[n, D]`` embedding of every pool item by the trained reference ``model``."""
    from alkit.engine.data.base import normalize
    from alkit.engine.train.common import to_layout

    model.eval()
    if kind == "classification":
        from alkit.engine.train.supervised import predict

        return predict(model, data.train_x.to(device), data.mean, data.std, features=True)["embedding"]
    images = data.train_images
    step = batch_size if isinstance(images, torch.Tensor) else 1
    out = []
    for start in range(0, len(images), step):
        x = images[start:start + step] if step > 1 else images[start][None]
        x = to_layout(normalize(x.to(device), data.mean, data.std), device)
        _, taps = model.forward_features(x)
        out.append(taps[-1].float().mean(dim=(2, 3)))
    return torch.cat(out)


# -- a whole run ----------------------------------------------------------------------------------


class _Pool:
    """What every run of a table shares: the pool's features, class counts and the terms of the
    meters that depend on the pool alone (computed once per table)."""

    def __init__(self, feats: torch.Tensor, labels: np.ndarray, num_classes: int, k: int, chunk: int):
        self.feats, self.labels, self.num_classes, self.chunk = feats, labels, num_classes, chunk
        self.histogram = class_histogram(labels, num_classes, name="pool_labels")
        self.mean_distance = _mean_distance_to_all(feats, feats, chunk)  # [n] E_Y |x_i - Y|
        self.within = float(self.mean_distance.mean())  # E|Y - Y'|
        self.typicality_ranks = pool_typicality_ranks(feats, k, chunk=chunk)


class _GrowingLabelledSet:
    """The labelled set of one run as it grows cycle by cycle, with running sums, so that a cycle's
    set meters cost one (batch x pool) block of distances instead of a fresh (labelled x pool) one."""

    def __init__(self, pool: _Pool):
        n = len(pool.feats)
        self.pool = pool
        self.member = np.zeros(n, dtype=bool)
        self.nearest = torch.full((n,), math.inf, dtype=torch.float64)  # each pool point to its nearest labelled
        self.within_sum = 0.0  # sum over labelled pairs (i, j) of |x_i - x_j|
        self.cross_sum = 0.0  # sum over labelled i of E_Y |x_i - Y|
        self.histogram = np.zeros(pool.num_classes)

    @property
    def size(self) -> int:
        return int(self.member.sum())

    def add(self, batch: np.ndarray) -> None:
        new = np.unique(batch[~self.member[batch]])
        old = np.flatnonzero(self.member)
        pool = self.pool
        for start, d in _distance_blocks(pool.feats[new], pool.feats, pool.chunk):  # [<= chunk, n]
            self.nearest = torch.minimum(self.nearest, d.min(dim=0).values)
            self.within_sum += 2.0 * float(d[:, old].sum()) + float(d[:, new].sum())
        self.cross_sum += float(pool.mean_distance[new].sum())
        self.histogram += class_histogram(pool.labels[new], pool.num_classes) if len(new) else 0.0
        self.member[new] = True

    def meters(self, pseudo_count: float) -> dict[str, float]:
        n = self.size
        imbalance = _imbalance_of_histograms(self.histogram, self.pool.histogram, pseudo_count)
        energy = _energy_from_means(self.cross_sum / n, self.within_sum / n**2, self.pool.within)
        return dict(labelled=n, tv=imbalance["tv"], kl=imbalance["kl"], energy=energy,
                    coverage_mean=float(self.nearest.mean()), coverage_max=float(self.nearest.max()))


def _check_run_frame(df: pd.DataFrame) -> list[str]:
    """The run columns of ``df`` (those of :data:`RUN_COLUMNS` it has); ValueError if it lacks a needed one."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("strategy", "trial", "cycle", "selected") if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks column(s) {', '.join(missing)}: use run(exp, with_selected=True)")
    if "dataset" in df.columns and df["dataset"].nunique() > 1:
        raise ValueError(f"df holds several datasets ({', '.join(map(str, df['dataset'].unique()))}); "
                         "pool_feats belong to one: filter df first")
    return [c for c in RUN_COLUMNS if c in df.columns]


def _ordered_cycles(run: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of one run by cycle; ValueError unless they are cycles 0, 1, ..., C, each once."""
    run = run.sort_values("cycle")
    cycles = run["cycle"].to_numpy()
    if not np.array_equal(cycles, np.arange(len(cycles))):
        raise ValueError(f"df: {name} has cycles {cycles.tolist()}; the labelled set needs each of 0..C exactly once")
    return run


def bias_table(df: pd.DataFrame, pool_labels, pool_feats, num_classes: int, *, k: int = K_NN,
               chunk: int = CHUNK, pseudo_count: float = PSEUDO_COUNT) -> pd.DataFrame:
    """Every bias meter for every (strategy, trial, cycle) of a run: one row each.

    ``df``: the frame of ``run(exp, with_selected=True)`` (columns ``strategy``, ``trial``, ``cycle``,
    ``selected``; one dataset). ``pool_labels``: int class ids ``[n]`` or class pixel counts
    ``[n, K]`` (:func:`pool_class_labels`); ``pool_feats``: ``[n, d]`` (:func:`reference_embedding`).
    Only ``selected`` is read: the labelled set of cycle c is the union of ``selected`` over cycles
    0..c of the same run, the batch of cycle c is that row's ``selected`` (cycle 0: the random initial set).

    Columns: the run columns present (:data:`RUN_COLUMNS`), ``cycle``, the sizes / budget / metric
    columns present (:data:`CARRIED_COLUMNS`), then ``labelled`` (|L|), ``batch`` (|batch|), ``tv``,
    ``kl`` (:func:`class_imbalance`), ``energy`` (:func:`feature_shift`), ``coverage_mean``,
    ``coverage_max`` (:func:`coverage`) of L, and ``redundancy`` (:func:`redundancy`), ``typicality``
    (:func:`typicality`, ``k`` neighbours) of the batch.

    Cost: the pool-only terms once (n^2 distances in blocks), then per run one (new points x pool)
    block per cycle, updating running sums; memory ``chunk x n``.
    """
    chunk = _positive_int("chunk", chunk)
    k = _positive_int("k", k)
    num_classes = _positive_int("num_classes", num_classes)
    feats = _as_features("pool_feats", pool_feats)
    labels = np.asarray(pool_labels)
    if labels.shape[:1] != (len(feats),):
        raise ValueError(f"pool_labels has shape {labels.shape} but pool_feats has {len(feats)} rows")
    run_columns = _check_run_frame(df)
    pool = _Pool(feats, labels, num_classes, k, chunk)
    rows = []
    for key, run in df.groupby(run_columns, sort=False, dropna=False):
        name = ", ".join(f"{c}={v}" for c, v in zip(run_columns, key))
        labelled = _GrowingLabelledSet(pool)
        for record in _ordered_cycles(run, name).to_dict("records"):
            batch = _indices(f"df: 'selected' of {name}, cycle {record['cycle']}", record["selected"], len(feats))
            labelled.add(batch)
            if labelled.size == 0:
                raise ValueError(f"df: 'selected' of {name}, cycle 0 is empty: the labelled set must not be empty")
            rows.append({**{c: record[c] for c in run_columns}, "cycle": record["cycle"],
                         **{c: record[c] for c in CARRIED_COLUMNS if c in record},
                         **labelled.meters(pseudo_count), "batch": len(batch),
                         "redundancy": redundancy(feats[batch]) if len(batch) else float("nan"),
                         "typicality": float(pool.typicality_ranks[batch].mean()) if len(batch) else float("nan")})
    columns = run_columns + ["cycle"] + [c for c in CARRIED_COLUMNS if c in df.columns] + list(METER_COLUMNS)
    return pd.DataFrame(rows, columns=columns)


__all__ = ["bias_table", "class_histogram", "class_imbalance", "coverage", "feature_shift", "knn_mean_distance",
           "percentile_ranks", "pixel_histograms", "pool_class_labels", "pool_typicality_ranks", "redundancy",
           "reference_embedding", "typicality", "CHUNK", "K_NN", "PSEUDO_COUNT", "REFERENCE_RECIPE"]
