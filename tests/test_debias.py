"""Debiased strategies (alkit.strategies.debias): quotas and picks by hand, the budget respected,
no index picked twice or already labelled, no hidden label read, and a class mix closer to the pool's."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from alkit.strategies import get_strategy, rank
from alkit.strategies.debias import class_quotas, debias, debiased_pick


def test_quotas_by_hand():
    # pool 50/50, labelled 4 of class 0: after 4 more, 4 + 4 is the pool's mix -> all 4 from class 1
    assert class_quotas([1, 1], [4, 0], 4).tolist() == [0, 4]
    # pool 1/2/1, nothing labelled, batch 5: 1.25 / 2.5 / 1.25 -> floors 1/2/1, the one left to the
    # largest remainder (0.5, class 1) -> 1/3/1; batch 2: 0.5 / 1 / 0.5 -> floors 0/1/0, the one left
    # to the tie of remainders 0.5 at the lower class id -> 1/1/0
    assert class_quotas([1, 2, 1], [0, 0, 0], 5).tolist() == [1, 3, 1]
    assert class_quotas([1, 2, 1], [0, 0, 0], 2).tolist() == [1, 1, 0]
    # already over-represented everywhere but one class: the whole batch goes there
    assert class_quotas([1, 1, 1], [5, 0, 5], 3).tolist() == [0, 3, 0]
    assert class_quotas([1, 1], [0, 0], 0).tolist() == [0, 0]
    for bad in (dict(estimated_pool=[0, 0], labelled_counts=[0, 0], batch=1),
                dict(estimated_pool=[1, 1], labelled_counts=[0], batch=1),
                dict(estimated_pool=[1, -1], labelled_counts=[0, 0], batch=1)):
        with pytest.raises(ValueError):
            class_quotas(**bad)


def test_pick_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    predicted = np.array([0, 0, 0, 1, 1, 2])
    rng = np.random.default_rng(0)
    # one per class: the best of each class, in score order
    assert debiased_pick(scores, predicted, [1, 1, 1], 3, rng).tolist() == [0, 3, 5]
    # class 2 has one item for a quota of 2: its slot goes to the best item left (1)
    assert debiased_pick(scores, predicted, [1, 0, 2], 3, rng).tolist() == [0, 5, 1]
    assert debiased_pick(scores, predicted, [3, 3, 3], 2, rng).tolist() == [0, 1]  # never past the budget
    assert debiased_pick(scores, predicted, [0, 0, 0], 10, rng).tolist() == [0, 1, 2, 3, 4, 5]


def _inputs(rng, u=200, k=4, labelled=12):
    """What the strategy may read, and nothing else: no attribute holds the unlabelled items' labels."""
    probs = rng.dirichlet(np.ones(k) * 0.3, size=u)
    probs[: u // 2, 0] += 3  # the first half: confidently class 0 and low entropy
    probs /= probs.sum(1, keepdims=True)
    return SimpleNamespace(probs=probs, labelled_labels=np.zeros(labelled, dtype=np.int64), num_classes=k,
                           unlabelled=np.arange(labelled, labelled + u), labelled=np.arange(labelled),
                           for_strategy=lambda spec: None)


def test_the_strategy_reads_only_what_it_declares_and_respects_the_budget():
    spec = get_strategy("debiased-entropy")
    assert spec.needs == {"probs", "labelled_labels"} and spec.kind == "select" and spec.builtin
    rng = np.random.default_rng(3)
    inputs = _inputs(rng)
    picks = spec.fn(inputs, 20, np.random.default_rng(1))  # a SimpleNamespace: reading anything else raises
    assert len(picks) == 20 and len(set(picks.tolist())) == 20
    assert set(picks.tolist()) <= set(inputs.unlabelled.tolist())


def test_debiased_picks_are_closer_to_the_estimated_pool_mix():
    inputs = _inputs(np.random.default_rng(5))
    k = inputs.num_classes
    est = np.bincount(inputs.labelled_labels, minlength=k) + inputs.probs.sum(0)
    est /= est.sum()

    def tv_after(picks):
        pred = inputs.probs[picks - inputs.unlabelled[0]].argmax(1)
        mix = np.bincount(np.concatenate([inputs.labelled_labels, pred]), minlength=k)
        return 0.5 * np.abs(mix / mix.sum() - est).sum()

    raw = inputs.unlabelled[np.argsort(-get_strategy("entropy").fn(inputs), kind="stable")[:20]]
    debiased = get_strategy("debiased-entropy").fn(inputs, 20, np.random.default_rng(0))
    assert tv_after(debiased) < tv_after(raw)


def test_debiased_runs_end_to_end(tmp_path):
    from alkit.experiments.config import Experiment, run

    exp = Experiment(strategies=("debiased-entropy",), trials=1, initial=20, step=10, cycles=2, epochs=1,
                     min_steps=2, workers=1)
    df = run(exp, store_root=tmp_path, progress=False, with_selected=True)
    picked = [np.asarray(s, dtype=int) for s in df.sort_values("cycle").selected]
    allp = np.concatenate(picked)
    assert [len(p) for p in picked] == [20, 10, 10] and len(set(allp.tolist())) == len(allp)


def test_only_builtin_score_strategies():
    with pytest.raises(ValueError, match="only score strategies"):
        debias("coreset")
    assert rank  # the registry's adapter draws select strategies, debiased ones included
