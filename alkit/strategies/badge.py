"""BADGE (Ash, Zhang, Krishnamurthy, Langford & Agarwal, "Deep batch active learning by diverse,
uncertain gradient lower bounds", ICLR 2020): k-means++ seeding on gradient embeddings.

Each unlabelled item is embedded as the last layer's loss gradient at its predicted label,
``g = a (x) f`` with ``a = p - onehot(argmax p)`` ``[K]`` and ``f`` the penultimate features ``[D]``
(:func:`alkit.strategies.scores.grad_embedding`). The batch is chosen by the k-means++ seeding of
Arthur & Vassilvitskii (2007), as in the authors' code (``init_centers`` in JordanAsh/badge): the
first centre is the embedding of largest norm, each next one is drawn with probability
proportional to its squared distance to the nearest centre chosen so far (``D^2`` sampling).
scikit-learn's ``kmeans_plusplus`` differs (a uniform first centre, greedy local trials), so the
seeding is written here.

Memory is linear in the pool: one running squared distance per item; the distances to a new
centre come from ``<g_i, g_j> = <a_i, a_j> <f_i, f_j>``, so the ``[u, K*D]`` embeddings are never
built (:func:`badge_select`); :func:`d2_seeding` also runs on explicit embeddings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def d2_seeding(sq_norms: np.ndarray, dist_to: Callable[[int], np.ndarray], k: int,
               rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding that starts from the largest norm: int64 ``[k]`` row indices, in order.

    ``sq_norms [n]``: squared norms of the rows; ``dist_to(i)`` -> ``[n]`` squared distances of
    every row to row ``i``. First pick: the largest norm (lowest index on ties); then each pick is
    drawn with probability ``d^2 / sum d^2`` from ``rng``, ``d`` being a row's distance to its
    nearest pick so far (picked rows have ``d = 0``). When every remaining row coincides with a
    pick (``sum d^2 = 0``) the next pick is uniform among the rows not picked yet.
    """
    sq = np.asarray(sq_norms, dtype=np.float64)
    n, k = len(sq), int(k)
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, {n}], got {k}")
    picks: list[int] = []
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    first = int(np.argmax(sq))
    picks.append(first)
    d2 = np.maximum(np.asarray(dist_to(first), dtype=np.float64), 0.0)
    d2[first] = 0.0
    chosen = np.zeros(n, dtype=bool)
    chosen[first] = True
    while len(picks) < k:
        total = d2.sum()
        if total > 0:
            cum = np.cumsum(d2)
            i = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
            i = min(i, n - 1)
            if chosen[i]:  # rounding at the very end of the cumulative sum
                i = int(np.flatnonzero(~chosen & (d2 > 0))[-1])
        else:
            i = int(rng.choice(np.flatnonzero(~chosen)))
        picks.append(i)
        chosen[i] = True
        np.minimum(d2, np.asarray(dist_to(i), dtype=np.float64), out=d2)
        np.maximum(d2, 0.0, out=d2)
        d2[i] = 0.0  # exactly: d2 only ever shrinks, so picked rows keep probability 0
    return np.asarray(picks, dtype=np.int64)


def dense_seeding(x, k: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`d2_seeding` on explicit rows ``x [n, d]`` (e.g. ``grad_embedding`` output)."""
    x = np.asarray(x, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    return d2_seeding(sq, lambda i: sq + sq[i] - 2.0 * (x @ x[i]), k, rng)


def badge_select(probs, features, budget: int, rng: np.random.Generator) -> np.ndarray:
    """BADGE's batch: int64 ``[budget]`` row indices into ``probs``/``features`` (unlabelled items).

    ``probs [u, K]`` softmax, ``features [u, D]`` penultimate features of the same items. Equals
    :func:`dense_seeding` on ``grad_embedding(probs, features)`` (up to rounding) without building
    the ``[u, K*D]`` matrix: ``||g_i - g_j||^2 = s_i + s_j - 2 <a_i, a_j> <f_i, f_j>`` with
    ``s_i = ||a_i||^2 ||f_i||^2``.
    """
    p = np.asarray(probs, dtype=np.float64)
    f = np.asarray(features, dtype=np.float64)
    if p.ndim != 2 or f.ndim != 2 or len(p) != len(f):
        raise ValueError(f"probs [u, K] and features [u, D] must have the same rows, got {p.shape}, {f.shape}")
    a = p.copy()
    a[np.arange(len(a)), a.argmax(axis=1)] -= 1.0
    sa, sf = np.einsum("ij,ij->i", a, a), np.einsum("ij,ij->i", f, f)
    sq = sa * sf
    return d2_seeding(sq, lambda i: sq + sq[i] - 2.0 * (a @ a[i]) * (f @ f[i]), budget, rng)
