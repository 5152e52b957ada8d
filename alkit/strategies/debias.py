"""Debiased strategies: a strategy's ranking, with picks that keep the labelled set's class mix
close to the pool's (the intervention behind the paper's Sec. 5 hypothesis).

The paper's hypothesis: AL picks bias the labelled set's distribution, and the bias hurts more
than the informative samples help. If so, a strategy that keeps its ranking but is kept from
skewing the class mix should close its gap to Random where the raw strategy loses. ``debias(name)``
registers ``debiased-<name>`` for a *score* strategy ``name``:

1. the pool's class histogram is *estimated* from what the learner may know: the labels of the
   labelled items (``labelled_labels``) plus the model's predicted probabilities summed over the
   unlabelled items (``probs``); the hidden labels of unlabelled items are never read (the
   strategy registry gives a strategy nothing it did not declare);
2. :func:`class_quotas`: the batch's quota per class brings the labelled set, after the batch,
   as close as the batch allows to that estimate (largest-remainder rounding);
3. :func:`debiased_pick`: the base strategy's best-scored items fill each class's quota (the class
   an item counts for is its predicted class); slots a class cannot fill go to the best-scored
   items left. At most ``budget`` distinct unlabelled items, as every strategy.

Built in: ``debiased-entropy`` and ``debiased-margin`` (notebook 09).
"""

from __future__ import annotations

import numpy as np

from alkit.strategies.base import get_strategy, register_strategy


def class_quotas(estimated_pool, labelled_counts, batch: int) -> np.ndarray:
    """int ``[K]`` items per class for a batch of ``batch``: the shortfall of each class against its
    estimated pool share of the labelled set after the batch, ``share_c x (l + batch) - count_c``
    (clipped at 0), rescaled to sum to ``batch`` with largest-remainder rounding (ties to the lower
    class id). ``estimated_pool``: ``[K]`` non-negative (counts or shares); ``labelled_counts``:
    ``[K]`` class counts of the labelled set."""
    est = np.asarray(estimated_pool, dtype=np.float64)
    have = np.asarray(labelled_counts, dtype=np.float64)
    if est.ndim != 1 or have.shape != est.shape:
        raise ValueError(f"estimated_pool and labelled_counts must be [K] arrays of one length, got {est.shape} "
                         f"and {have.shape}")
    if batch < 0 or not np.all(est >= 0) or not est.sum() > 0:
        raise ValueError("class_quotas needs batch >= 0 and a non-negative estimate with a positive sum")
    share = est / est.sum()
    need = np.clip(share * (have.sum() + batch) - have, 0.0, None)
    if not need.sum() > 0:
        need = share
    want = need / need.sum() * batch
    quotas = np.floor(want).astype(np.int64)
    rest = int(batch - quotas.sum())
    if rest > 0:
        order = np.lexsort((np.arange(len(want)), -(want - quotas)))
        quotas[order[:rest]] += 1
    return quotas


def debiased_pick(scores, predicted, quotas, budget: int, rng: np.random.Generator) -> np.ndarray:
    """int64 positions into the unlabelled items (at most ``budget``, distinct): best ``scores``
    first (ties at random with ``rng``), at most ``quotas[c]`` items predicted as class ``c``, then
    the best of the rest until ``budget``. ``scores``: ``[u]``; ``predicted``: int ``[u]``."""
    scores = np.asarray(scores, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if scores.shape != predicted.shape or scores.ndim != 1:
        raise ValueError(f"scores and predicted must be [u] arrays of one length, got {scores.shape} and {predicted.shape}")
    budget = int(min(budget, len(scores)))
    order = np.lexsort((rng.random(len(scores)), -scores))
    left = np.asarray(quotas, dtype=np.int64).copy()
    chosen = np.zeros(len(scores), dtype=bool)
    picks = []
    for i in order:
        if len(picks) == budget:
            break
        c = predicted[i]
        if 0 <= c < len(left) and left[c] > 0:
            left[c] -= 1
            chosen[i] = True
            picks.append(i)
    for i in order:
        if len(picks) == budget:
            break
        if not chosen[i]:
            chosen[i] = True
            picks.append(i)
    return np.asarray(picks, dtype=np.int64)


def debias(name: str) -> str:
    """Register ``debiased-<name>`` for the classification *score* strategy ``name`` (see the
    module docstring) and return the new name. It trains what ``name`` trains (an ensemble, the
    Learning-Loss module, ...)."""
    base = get_strategy(name)
    if not base.builtin:  # a user's strategy's code hash belongs in the store key; not carried here yet
        raise ValueError(f"debias({name!r}): only built-in strategies can be debiased")
    if base.kind != "score":
        raise ValueError(f"debias({name!r}): only score strategies can be debiased (their ranking is kept)")
    new = f"debiased-{name}"

    def pick(inputs, budget, rng):
        probs = np.asarray(inputs.probs, dtype=np.float64)  # [u, K], unlabelled items only
        k = int(inputs.num_classes)
        have = np.bincount(np.asarray(inputs.labelled_labels, dtype=np.int64), minlength=k)[:k]
        quotas = class_quotas(have + probs.sum(axis=0), have, int(min(budget, len(probs))))
        positions = debiased_pick(base.fn(inputs), probs.argmax(axis=1), quotas, budget, rng)
        return np.asarray(inputs.unlabelled, dtype=np.int64)[positions]

    pick.__doc__ = f"{base.label or name} scores, picks debiased to the estimated pool class mix."
    register_strategy(new, needs=set(base.needs) | {"probs", "labelled_labels"}, kind="select",
                      label=f"Debiased {base.label or name}", members=base.members, trains=base.trains,
                      replace=True)(pick)
    return new


for _name in ("entropy", "margin"):
    debias(_name)
