"""The classification strategies that come with alkit, registered like a user's would be.

The paper's five (Sec. 3.1): Random, Entropy, ENS-varR, Core-set, Learning Loss; and four more for
experiments beyond it: Margin, BALD, BADGE, TypiClust. The array work is in :mod:`.scores`,
:mod:`.badge` and :mod:`.typiclust`; each function here only says what it needs and calls it.
"""

from __future__ import annotations

import numpy as np

from alkit.strategies import scores
from alkit.strategies.badge import badge_select
from alkit.strategies.base import register_strategy
from alkit.strategies.typiclust import typiclust_select


@register_strategy("random", kind="select", label="Random", color="#444444")
def random_sampling(inputs, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Random: ``budget`` unlabelled items from a seeded permutation (the paper's baseline)."""
    return rng.permutation(inputs.unlabelled)[:budget]


@register_strategy("entropy", needs={"probs"}, label="Entropy", color="#1f77b4")
def entropy_sampling(inputs) -> np.ndarray:
    """Entropy: softmax entropy ``[u]`` (Shannon 1948; for deep AL Wang et al. 2017)."""
    return scores.entropy(inputs.probs)


@register_strategy("ens-varr", needs={"member_preds"}, label="ENS-varR", color="#2ca02c")
def ensemble_variation_ratio(inputs) -> np.ndarray:
    """ENS-varR: variation ratio ``[u]`` of the ensemble's votes (Beluch et al. 2018; 5 members in
    the paper: the task's ``ensemble_size``)."""
    return scores.variation_ratio(inputs.member_preds, inputs.num_classes)


@register_strategy("coreset", needs={"features"}, kind="select", label="Core-set", color="#ff7f0e")
def coreset(inputs, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Core-set: k-center greedy on the penultimate features of the pool (Sener & Savarese 2018),
    on the learner's device. Deterministic (``rng`` unused)."""
    picks = scores.k_center_greedy(inputs.features, inputs.labelled_mask, budget, device=inputs.device)
    return np.asarray(picks, dtype=np.int64)


@register_strategy("ll", needs={"predicted_loss"}, label="LL", color="#d62728")
def learning_loss(inputs) -> np.ndarray:
    """Learning Loss: the loss-prediction module's output ``[u]`` (Yoo & Kweon 2019)."""
    return np.asarray(inputs.predicted_loss, dtype=np.float64)


@register_strategy("margin", needs={"probs"}, label="Margin", color="#17becf")
def margin_sampling(inputs) -> np.ndarray:
    """Margin: ``-(p_1 - p_2)`` ``[u]``, the smallest top-2 gap first (Scheffer et al. 2001)."""
    return scores.margin(inputs.probs)


@register_strategy("bald", needs={"mc_bald"}, label="BALD", color="#bcbd22")
def bald(inputs) -> np.ndarray:
    """BALD: mutual information ``[u]`` over ``T`` MC-dropout samples (Gal et al. 2017). The
    classification task trains the network with dropout ``p = 0.5`` on its penultimate features
    (``trains="dropout"``, :mod:`alkit.engine.models.mc_dropout`) and draws ``T = 20`` samples with
    that dropout, in float32, chunk by chunk over the pool
    (:func:`alkit.strategies.scores.mc_dropout_bald`)."""
    return np.asarray(inputs.mc_bald, dtype=np.float64)


@register_strategy("badge", needs={"probs", "features"}, kind="select", label="BADGE", color="#e377c2")
def badge(inputs, budget: int, rng: np.random.Generator) -> np.ndarray:
    """BADGE: k-means++ seeding on gradient embeddings (Ash et al. 2020), see :mod:`.badge`.
    Uses the features of the unlabelled items only (the gradient embedding is implicit)."""
    unl = inputs.unlabelled
    return unl[badge_select(inputs.probs, inputs.features[unl], budget, rng)]


@register_strategy("typiclust", needs={"features"}, kind="select", label="TypiClust", color="#393b79")
def typiclust(inputs, budget: int, rng: np.random.Generator) -> np.ndarray:
    """TypiClust: the most typical point of each uncovered k-means cluster (Hacohen et al. 2022),
    see :mod:`.typiclust`. The paper clusters self-supervised features; here they are the
    learner's penultimate features."""
    return typiclust_select(inputs.features, inputs.labelled_mask, budget, rng)
