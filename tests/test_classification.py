"""The classification task on digits: every strategy's query respects the budget, picks only
unlabelled items, never looks at their labels, and is deterministic under a seed."""

import numpy as np
import pytest
import torch

from alkit.tasks.classification import ClassificationTask
from alkit.engine.data import load_dataset
from alkit.experiments.config import Experiment, run
from alkit.strategies import STRATEGY_NAMES
from task_settings import training


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def small_task(data, **kw):
    return ClassificationTask(data, **training(epochs=2, ensemble_size=3), augment="paper", **kw)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_query_respects_budget_and_pool(digits, strategy):
    task = small_task(digits)
    rng = np.random.default_rng(0)
    labelled = task.initial_order(rng)[:30]
    unlabelled = np.setdiff1d(np.arange(len(digits.train_y)), labelled)
    learner = task.fit(labelled, seed=1, strategy=strategy)
    picked = task.rank(learner, strategy, labelled, unlabelled, 25, np.random.default_rng(1))
    assert len(picked) == 25 and len(set(picked.tolist())) == 25
    assert not np.isin(picked, labelled).any()
    if strategy == "ens-varr":
        assert len(learner.models) == 3
    if strategy == "ll":
        assert learner.lossnet is not None


@pytest.mark.parametrize("strategy", ["entropy", "coreset", "ll"])
def test_query_never_sees_unlabelled_labels(digits, strategy):
    """Scrambling the labels of the unlabelled items changes nothing the strategy picks."""
    rng = np.random.default_rng(0)
    labelled = small_task(digits).initial_order(rng)[:30]
    unlabelled = np.setdiff1d(np.arange(len(digits.train_y)), labelled)
    picks = []
    for scramble in (False, True):
        data = load_dataset("digits")
        if scramble:
            y = data.train_y.clone()
            y[unlabelled] = torch.from_numpy(np.random.default_rng(5).integers(0, 10, len(unlabelled)))
            data.train_y = y
        task = small_task(data)
        learner = task.fit(labelled, seed=3, strategy=strategy)
        picks.append(task.rank(learner, strategy, labelled, unlabelled, 20, np.random.default_rng(2)))
    assert np.array_equal(picks[0], picks[1])


def test_experiment_deterministic_under_seed(digits, tmp_path):
    exp = Experiment(strategies=("random", "entropy"), initial=20, step=20, cycles=2, trials=1, epochs=3, min_steps=0, seed=4)
    a = run(exp, store_root=tmp_path / "a", progress=False, with_selected=True)
    b = run(exp, store_root=tmp_path / "b", progress=False, with_selected=True)
    assert a.drop(columns="seconds").equals(b.drop(columns="seconds"))
    c = run(Experiment(**{**exp.__dict__, "seed": 5}), store_root=tmp_path / "c", progress=False,
                       with_selected=True)
    assert a.selected.tolist() != c.selected.tolist()


def test_unknown_names_are_clear(digits):
    with pytest.raises(ValueError, match="unknown augment|valid|choose"):
        ClassificationTask(digits, **training(), augment="fancy")
    with pytest.raises(ValueError, match="unknown ssl"):
        ClassificationTask(digits, **training(), ssl="mixmatch")
    with pytest.raises(ValueError, match="unknown strategy"):
        small_task(digits).fit(np.arange(10), 0, "bogus")


def test_epoch_chunks_cover_every_epoch_once_in_batches():
    """The trainer's grouped epochs: each epoch is a permutation of the labelled set, batches are
    contiguous slices within one epoch, and there are exactly epochs x ceil(n / batch) of them."""
    import math

    import torch

    from alkit.engine.augment import build_augment
    from alkit.engine.data import load_dataset
    from alkit.engine.train.supervised import _epoch_chunks
    from alkit.engine.train.common import make_generator

    data = load_dataset("digits")
    idx = torch.arange(0, 150, 3)  # 50 labels
    epochs, bs = 7, 16
    aug = build_augment("none", 8)
    seen_batches, rows = 0, []
    for views, labels, bounds in _epoch_chunks(data, idx, epochs, aug, make_generator(0, data.device), bs):
        assert views.dtype == torch.float32 and len(views) == len(labels)
        for a, b in bounds:
            assert 0 < b - a <= bs and (a // len(idx)) == ((b - 1) // len(idx))  # never spans two epochs
        seen_batches += len(bounds)
        rows.append(labels)
    labels = torch.cat(rows)
    assert seen_batches == epochs * math.ceil(len(idx) / bs) and len(labels) == epochs * len(idx)
    for e in range(epochs):  # every epoch holds each labelled item's label exactly as often as the set
        got = torch.bincount(labels[e * len(idx):(e + 1) * len(idx)], minlength=10)
        assert torch.equal(got, torch.bincount(data.train_y[idx], minlength=10))


def test_weight_average_holds_the_mean_of_the_weights():
    """WeightAverage: with a constant live weight the average converges to it; copy_to writes it;
    a decay outside (0, 1) is refused."""
    import pytest
    import torch

    from alkit.engine.train.supervised import WeightAverage

    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(m, 0.5)
    start = [t.clone() for t in avg.shadow]
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
    for step in range(1, 40):
        avg.update(step)
    for s, t0 in zip(avg.shadow[:2], start[:2]):
        assert torch.allclose(s, t0 + 1.0, atol=1e-6)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
    avg.copy_to(m)
    assert torch.allclose(m[0].weight, start[0] + 1.0, atol=1e-6)
    with pytest.raises(ValueError):
        WeightAverage(m, 1.0)
