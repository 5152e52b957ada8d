"""The greedy oracle (alkit.protocol.oracle): never a batch worse on validation than its own
candidates, the budget kept, validation items never labelled, the initial set shared with every
strategy, determinism under a seed, and a real digits run end to end."""

from __future__ import annotations

import numpy as np
import pytest

from alkit.protocol.oracle import pick_best, run_oracle_trial, validation_split
from alkit.tasks.base import Learner


class FakeTask:
    """A pool of 60 items; a 'network' is its labelled set; its validation score is the share of
    labelled items with an even index (so candidates differ, and the best one is known)."""

    name = "fake"

    def __init__(self, n=60):
        self.n = n
        self.fits = 0

    def pool_costs(self):
        return np.ones(self.n)

    def initial_order(self, rng):
        return rng.permutation(self.n)

    def fit(self, labelled, seed, strategy):
        self.fits += 1
        return Learner([np.sort(np.asarray(labelled))])

    def evaluate(self, learner):
        return {"accuracy": float(np.mean(learner.models[0] % 2 == 0))}

    def rank(self, learner, strategy, labelled, unlabelled, budget, rng):
        unl = np.asarray(unlabelled)
        if strategy == "even":
            unl = np.concatenate([unl[unl % 2 == 0], unl[unl % 2 == 1]])
        else:
            unl = rng.permutation(unl)
        return unl[: int(budget)]


def _score(learner, val):
    return float(np.mean(learner.models[0] % 2 == 0))


def test_pick_best():
    assert pick_best([0.2, 0.7, 0.7, 0.1]) == 1
    with pytest.raises(ValueError):
        pick_best([])


def test_validation_split_avoids_the_initial_set():
    v = validation_split(100, np.arange(10), 0.2, np.random.default_rng(0))
    assert len(v) == 20 and not set(v.tolist()) & set(range(10)) and np.all(np.diff(v) > 0)
    with pytest.raises(ValueError, match="val_fraction"):
        validation_split(100, np.arange(10), 1.5, np.random.default_rng(0))


def test_never_worse_than_its_candidates_and_budget_kept():
    task = FakeTask()
    seen = []

    def validate(learner, val):
        s = _score(learner, val)
        seen.append(s)
        return s

    recs = run_oracle_trial(task, initial=10, step=5, cycles=3, trial=0, seed=1, proposals=("random", "even", "random"),
                            validate=validate)
    assert [r["n_labelled"] for r in recs] == [10, 15, 20, 25]
    for c, r in enumerate(recs[1:]):
        assert r["val_score"] == max(seen[3 * c: 3 * c + 3])  # the best of the cycle's three candidates
        assert r["chosen"] == "even"
    picked = np.concatenate([r["selected"] for r in recs])
    assert len(set(picked.tolist())) == len(picked)  # no index twice
    assert task.fits == 1 + 3 * 3  # the chosen candidate's network is the next cycle's


def test_validation_items_are_never_labelled_and_the_initial_set_is_random_s():
    from alkit.protocol.loop import run_trial

    task = FakeTask()
    recs = run_oracle_trial(task, initial=10, step=5, cycles=2, trial=3, seed=2, validate=_score,
                            proposals=("random", "even"), val_fraction=0.25)
    val = validation_split(60, np.asarray(recs[0]["selected"]), 0.25,
                           np.random.default_rng(__import__("alkit.protocol.loop", fromlist=["cycle_seed"]).cycle_seed(2, 3, 0, salt=7)))
    picked = np.concatenate([r["selected"] for r in recs])
    assert not set(picked.tolist()) & set(val.tolist())
    random = run_trial(FakeTask(), "random", initial=10, step=5, cycles=0, trial=3, seed=2)
    assert recs[0]["selected"] == random[0]["selected"]  # paired with every strategy by trial


def test_deterministic_under_a_seed():
    a = run_oracle_trial(FakeTask(), initial=10, step=5, cycles=2, trial=0, seed=4, validate=_score)
    b = run_oracle_trial(FakeTask(), initial=10, step=5, cycles=2, trial=0, seed=4, validate=_score)
    import pandas as pd

    pd.testing.assert_frame_equal(pd.DataFrame(a).drop(columns="seconds"), pd.DataFrame(b).drop(columns="seconds"))


def test_a_digits_oracle_trial_end_to_end():
    from alkit.experiments.config import Experiment

    task = Experiment(dataset="digits", initial=20, step=10, cycles=1, epochs=1, min_steps=5).build_task()
    recs = run_oracle_trial(task, initial=20, step=10, cycles=1, trial=0, proposals=("random", "entropy"))
    assert [r["n_labelled"] for r in recs] == [20, 30] and 0 <= recs[1]["val_score"] <= 1
    assert recs[1]["chosen"] in ("random", "entropy") and 0 <= recs[1]["accuracy"] <= 1


def test_oracle_records_train_with_the_tasks_thread_count_and_restore_it():
    """In a notebook kernel the oracle trains in-process: with the task's preferred thread count
    (1 for digits, as the runner's workers), restored afterwards."""
    import torch

    from alkit.protocol.oracle import oracle_records

    seen = []

    class Threads(FakeTask):
        preferred_threads = 1
        labels = np.zeros(60, dtype=int)

        def fit(self, labelled, seed, strategy):
            seen.append(torch.get_num_threads())
            return super().fit(labelled, seed, strategy)

        def predict_labels(self, learner, idx):
            return np.zeros(len(idx), dtype=int)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        recs = oracle_records(Threads(), dict(initial=10, step=5, cycles=1, seed=0), trials=1)
        assert recs and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
