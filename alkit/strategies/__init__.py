"""Query strategies for classification (paper Sec. 3.1).

The scoring functions are pure and live in :mod:`alkit.strategies.scores`; this module is the thin
adapter that says what each strategy needs from the learner and turns scores into a ranking of the
unlabelled pool. A strategy never sees the labels of unlabelled items: it only gets predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRATEGY_NAMES = ("random", "entropy", "ens-varr", "coreset", "ll")

# What each strategy asks of the learner (the classification task computes only that).
NEEDS = {
    "random": set(),
    "entropy": {"probs"},
    "ens-varr": {"member_preds"},
    "coreset": {"features"},
    "ll": {"predicted_loss"},
}

LABELS = {  # names as the paper writes them, for plots
    "random": "Random",
    "entropy": "Entropy",
    "ens-varr": "ENS-varR",
    "coreset": "Core-set",
    "ll": "LL",
    "ens-ent": "ENS-ent",
}


def check_strategy(name: str) -> str:
    """``name`` if it is a known strategy, else a one-line ``ValueError`` listing the valid ones."""
    if name not in NEEDS:
        raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGY_NAMES)}")
    return name


@dataclass
class QueryInputs:
    """What the learner predicted, on the *unlabelled* items in the order of ``unlabelled``."""

    unlabelled: np.ndarray  # int64 [u] pool indices
    probs: np.ndarray | None = None  # [u, K] softmax of the (first) model
    member_preds: np.ndarray | None = None  # int [M, u] predicted classes of the ensemble members
    num_classes: int | None = None
    features: np.ndarray | None = None  # [n_pool, D] penultimate features, labelled + unlabelled
    labelled_mask: np.ndarray | None = None  # bool [n_pool]
    predicted_loss: np.ndarray | None = None  # [u]


def rank(name: str, inputs: QueryInputs, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Pool indices of the ``budget`` (or all, if fewer) most wanted unlabelled items, best first.

    random: a seeded permutation; entropy: highest softmax entropy (Shannon 1948 / Wang et al. 2017);
    ens-varr: highest variation ratio of 5 members (Beluch et al. 2018); coreset: k-center greedy
    on penultimate features (Sener & Savarese 2018); ll: highest predicted loss (Yoo & Kweon 2019).
    Ties are broken at random with ``rng``.
    """
    from . import scores

    check_strategy(name)
    unl = np.asarray(inputs.unlabelled, dtype=np.int64)
    k = int(min(budget, len(unl)))
    if name == "random":
        return rng.permutation(unl)[:k]
    if name == "entropy":
        return unl[scores.top_k(scores.entropy(inputs.probs), k, rng)]
    if name == "ens-varr":
        return unl[scores.top_k(scores.variation_ratio(inputs.member_preds, inputs.num_classes), k, rng)]
    if name == "ll":
        return unl[scores.top_k(np.asarray(inputs.predicted_loss), k, rng)]
    # coreset: k-center greedy over the whole pool; its picks are pool indices already
    return np.asarray(scores.k_center_greedy(inputs.features, inputs.labelled_mask, k), dtype=np.int64)
