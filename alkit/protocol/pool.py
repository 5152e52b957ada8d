"""Who is labelled: the whole active-learning state in one integer array.

``labelled_at[i] == -1`` means pool item ``i`` is unlabelled; otherwise it holds the cycle in which
the item was labelled (0 = the initial set). Easy to plot, save and resume.
"""

from __future__ import annotations

import numpy as np


def new_state(n: int) -> np.ndarray:
    """A pool of ``n`` unlabelled items: int64 ``[n]`` filled with -1."""
    return np.full(n, -1, dtype=np.int64)


def labelled(labelled_at: np.ndarray, upto_cycle: int | None = None) -> np.ndarray:
    """Pool indices labelled so far (optionally only up to and including ``upto_cycle``)."""
    mask = labelled_at >= 0
    if upto_cycle is not None:
        mask &= labelled_at <= upto_cycle
    return np.flatnonzero(mask)


def unlabelled(labelled_at: np.ndarray) -> np.ndarray:
    """Pool indices not labelled yet."""
    return np.flatnonzero(labelled_at < 0)


def mark_labelled(labelled_at: np.ndarray, indices: np.ndarray, cycle: int) -> None:
    """Record that ``indices`` were labelled in ``cycle``; labelling an item twice is an error."""
    indices = np.asarray(indices, dtype=np.int64)
    if len(np.unique(indices)) != len(indices):
        raise ValueError("an item was selected twice in one query")
    if np.any(labelled_at[indices] >= 0):
        raise ValueError("a query selected an item that is already labelled")
    labelled_at[indices] = cycle


def class_balanced_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order of the pool in which every prefix is class-balanced.

    Round-robin over the classes (each class shuffled, the class order of every round shuffled),
    so the first ``B`` items hold ``B / K`` per class, up to one, as long as no class runs out.
    This is how the paper draws its initial labelled set (Sec. 3.2.1). ``labels`` int ``[n]``.
    """
    labels = np.asarray(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    rounds = max(len(p) for p in per_class)
    order = []
    for r in range(rounds):
        members = [p[r] for p in per_class if r < len(p)]
        order.extend(rng.permutation(members).tolist())
    return np.asarray(order, dtype=np.int64)


def take_within_budget(order: np.ndarray, costs: np.ndarray, budget: float) -> np.ndarray:
    """Walk ``order`` and take items until the spent cost reaches ``budget``.

    The rule: an item is taken while the spend so far is below the budget, so the total exceeds
    the budget by less than the last item's cost (for unit costs it is exactly ``budget`` items).
    Raises ``ValueError`` when ``order`` cannot cover the budget at all.
    """
    order = np.asarray(order, dtype=np.int64)
    if budget <= 0:
        return order[:0]
    spent = np.cumsum(np.asarray(costs, dtype=np.float64)[order])
    n = int(np.searchsorted(spent, budget, side="left")) + 1  # first prefix whose spend >= budget
    if n > len(order):
        if len(order) and spent[-1] > 0:
            raise ValueError(f"budget {budget:g} exceeds what is left in the pool ({spent[-1]:g})")
        raise ValueError(f"budget {budget:g} exceeds what is left in the pool (0)")
    return order[:n]
