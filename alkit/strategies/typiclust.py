"""TypiClust (Hacohen, Dekel & Weinshall, "Active learning on a budget: opposite strategies suit
high and low budgets", ICML 2022): query the most *typical* point of each cluster not yet covered.

Following the authors' code (``deep-al/pycls/al/typiclust.py`` in avihu111/TypiClust):

1. cluster the features of the whole pool (labelled + unlabelled) into
   ``min(|L| + B, 500)`` clusters with k-means (``KMeans`` up to 50 clusters, else
   ``MiniBatchKMeans`` with batches of 5,000);
2. drop clusters of at most 5 points; order the rest by how many labelled points they hold
   (fewest first), then by size (largest first);
3. go through that list round-robin; from each cluster take its unlabelled point of highest
   typicality, computed among the cluster's points still unlabelled (labelled and picked ones
   removed) with ``k = min(20, n_cluster // 2)`` neighbours.

Typicality is ``1 / (mean distance to the k nearest neighbours + 1e-5)``. The paper defines it with
Euclidean distances; the authors' code uses faiss ``IndexFlatL2``, which returns *squared*
distances. alkit follows the paper (``squared=False``); ``squared=True`` gives the code's variant.

Where the authors' code would fail, alkit goes on: a cluster left without unlabelled points is
skipped; if every kept cluster is exhausted, the remaining picks are the most typical of the
pool's leftover unlabelled points; if no cluster has more than 5 points, none is dropped.
"""

from __future__ import annotations

import numpy as np

K_NN = 20
MAX_CLUSTERS = 500
MIN_CLUSTER_SIZE = 5


def typicality(features, k: int = K_NN, *, squared: bool = False, chunk: int = 1024) -> np.ndarray:
    """float64 ``[n]``: ``1 / (mean distance of each row to its k nearest other rows + 1e-5)``.

    ``features [n, d]``; ``k`` is capped at ``n - 1``; ``k = 0`` (a single point) gives
    ``1 / 1e-5``. ``squared=True`` averages squared distances (the authors' code). Exact, in blocks
    of ``chunk`` rows (memory ``chunk x n``; called per cluster, so ``n`` is a cluster's size)."""
    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    k = int(min(k, n - 1))
    if k <= 0:
        return np.full(n, 1e5)
    sq = np.einsum("ij,ij->i", x, x)
    out = np.empty(n)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        d2 = np.maximum(sq[a:b, None] + sq[None, :] - 2.0 * (x[a:b] @ x.T), 0.0)  # [b - a, n]
        d2[np.arange(b - a), np.arange(a, b)] = np.inf  # a point is not its own neighbour
        near = np.partition(d2, k - 1, axis=1)[:, :k]
        out[a:b] = 1.0 / ((near if squared else np.sqrt(near)).mean(axis=1) + 1e-5)
    return out


def cluster_pool(features, n_clusters: int, seed: int) -> np.ndarray:
    """int ``[n]`` k-means cluster ids (``KMeans`` up to 50 clusters, else ``MiniBatchKMeans``)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    x = np.asarray(features, dtype=np.float32)
    if n_clusters <= 50:
        km = KMeans(n_clusters=n_clusters, n_init="auto", random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=n_clusters, batch_size=5000, n_init="auto", random_state=seed)
    return km.fit_predict(x)


def typiclust_select(features, labelled_mask, budget: int, rng: np.random.Generator, *, k_nn: int = K_NN,
                     max_clusters: int = MAX_CLUSTERS, min_cluster_size: int = MIN_CLUSTER_SIZE,
                     squared: bool = False, clusters=None) -> np.ndarray:
    """TypiClust's batch (see the module docstring): int64 ``[budget]`` unlabelled pool indices.

    ``features [n_pool, D]``; ``labelled_mask`` bool ``[n_pool]``; ``rng`` seeds k-means.
    ``clusters`` (int ``[n_pool]``) skips the clustering (for tests and precomputed clusterings).
    """
    x = np.asarray(features, dtype=np.float64)
    mask = np.asarray(labelled_mask, dtype=bool)
    n, budget = len(x), int(budget)
    if mask.shape != (n,):
        raise ValueError(f"labelled_mask must be bool [{n}], got shape {mask.shape}")
    if not 0 <= budget <= int((~mask).sum()):
        raise ValueError(f"budget must be in [0, {int((~mask).sum())}] (the unlabelled points), got {budget}")
    if budget == 0:
        return np.zeros(0, dtype=np.int64)
    if clusters is None:
        k = int(min(mask.sum() + budget, max_clusters, n))
        clusters = cluster_pool(x, k, int(rng.integers(2**31 - 1)))
    labels = np.asarray(clusters, dtype=np.int64).copy()
    ids, sizes = np.unique(labels, return_counts=True)
    covered = np.array([int(mask[labels == c].sum()) for c in ids])
    keep = sizes > min_cluster_size
    if not keep.any():
        keep[:] = True
    ids, sizes, covered = ids[keep], sizes[keep], covered[keep]
    order = ids[np.lexsort((ids, -sizes, covered))]  # fewest labelled, then largest, then lowest id
    labels[mask] = -1  # labelled (and, below, picked) points leave their cluster
    picks: list[int] = []
    i = 0
    live = list(order)
    while len(picks) < budget and live:
        c = live[i % len(live)]
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            live.remove(c)
            continue
        t = typicality(x[members], min(k_nn, len(members) // 2), squared=squared)
        pick = int(members[int(np.argmax(t))])
        picks.append(pick)
        labels[pick] = -1
        i += 1
    if len(picks) < budget:  # every kept cluster is exhausted: the most typical of the rest
        rest = np.flatnonzero(labels >= 0)
        t = typicality(x[rest], min(k_nn, len(rest) // 2), squared=squared)
        picks.extend(rest[np.argsort(-t, kind="stable")[:budget - len(picks)]].tolist())
    return np.asarray(picks, dtype=np.int64)
