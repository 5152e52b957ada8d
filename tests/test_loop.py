"""The AL loop on a fake task: budgets, no repeats, one record per cycle, determinism, resume."""

import numpy as np
import pytest

from alkit.protocol import pool
from alkit.protocol.loop import check_budget, run_trial
from alkit.experiments.store import RunStore


class FakeTask:
    """Pool of n items with costs; 'training' memorises the labelled set; rank = a seeded shuffle
    (strategy 'random') or a fixed score (strategy 'entropy': highest index first)."""

    name = "fake"

    def __init__(self, n=60, costs=None, fail_at_fit=None):
        self.n = n
        self.costs = np.ones(n) if costs is None else costs
        self.fits = 0
        self.fail_at_fit = fail_at_fit
        self.labels = np.arange(n) % 3

    def pool_costs(self):
        return self.costs

    def initial_order(self, rng):
        return pool.class_balanced_order(self.labels, rng)

    def fit(self, labelled, seed, strategy):
        self.fits += 1
        if self.fail_at_fit is not None and self.fits == self.fail_at_fit:
            raise KeyboardInterrupt("simulated kill")
        return {"labelled": np.array(labelled), "seed": seed}

    def evaluate(self, learner):
        return {"accuracy": float(len(learner["labelled"]) / self.n + (learner["seed"] % 1000) * 1e-6)}

    def rank(self, learner, strategy, labelled, unlabelled, budget, rng):
        assert not np.isin(unlabelled, labelled).any()
        if strategy == "random":
            return rng.permutation(unlabelled)
        return unlabelled[::-1]


def test_records_budgets_and_no_repeats():
    recs = run_trial(FakeTask(), "random", initial=9, step=6, cycles=4, trial=0, seed=0)
    assert [r["cycle"] for r in recs] == [0, 1, 2, 3, 4]
    assert [r["n_labelled"] for r in recs] == [9, 15, 21, 27, 33]
    picked = np.concatenate([r["selected"] for r in recs])
    assert len(picked) == len(set(picked.tolist())) == 33
    # the initial set is class-balanced
    assert np.bincount(np.asarray(recs[0]["selected"]) % 3).tolist() == [3, 3, 3]


def test_click_budgets_overshoot_at_most_last_item():
    rng = np.random.default_rng(0)
    costs = rng.integers(5, 40, size=80).astype(float)
    recs = run_trial(FakeTask(80, costs), "random", initial=200, step=150, cycles=3, trial=0, seed=3)
    for r in recs:
        sel = np.asarray(r["selected"])
        spent = costs[sel].sum()
        budget = 200 if r["cycle"] == 0 else 150
        assert spent >= budget and spent - costs[sel[-1]] < budget


def test_deterministic_under_seed_and_trials_differ():
    a = run_trial(FakeTask(), "random", initial=9, step=6, cycles=3, trial=1, seed=5)
    b = run_trial(FakeTask(), "random", initial=9, step=6, cycles=3, trial=1, seed=5)
    c = run_trial(FakeTask(), "random", initial=9, step=6, cycles=3, trial=2, seed=5)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
    assert strip(a) == strip(b)
    assert a[0]["selected"] != c[0]["selected"]  # each trial has its own initial set


def test_resume_after_interruption_matches_uninterrupted(tmp_path):
    kw = dict(initial=9, step=6, cycles=4, trial=0, seed=11)
    full = run_trial(FakeTask(), "random", store=RunStore(tmp_path / "a", {"k": 1, "data": "x"}), **kw)
    store = RunStore(tmp_path / "b", {"k": 1, "data": "x"})
    with pytest.raises(KeyboardInterrupt):
        run_trial(FakeTask(fail_at_fit=3), "random", store=store, **kw)  # dies in cycle 2
    resumed_task = FakeTask()
    resumed = run_trial(resumed_task, "random", store=store, **kw)
    assert resumed_task.fits == 3  # cycles 0 and 1 were reused, 2..4 computed
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
    assert strip(resumed) == strip(full)
    again = FakeTask()
    run_trial(again, "random", store=store, **kw)
    assert again.fits == 0  # everything reused


def test_a_longer_run_extends_a_shorter_one_exactly(tmp_path):
    kw = dict(initial=9, step=6, trial=0, seed=11)
    full = run_trial(FakeTask(), "entropy", cycles=4, store=RunStore(tmp_path / "a", {"k": 1, "data": "x"}), **kw)
    store = RunStore(tmp_path / "b", {"k": 1, "data": "x"})
    run_trial(FakeTask(), "entropy", cycles=2, store=store, **kw)  # its last cycle queries nothing
    longer_task, seen = FakeTask(), []
    longer = run_trial(longer_task, "entropy", cycles=4, store=store, on_cycle=seen.append, **kw)
    assert longer_task.fits == 3  # cycle 2 trained again to query from it, then 3 and 4
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
    assert strip(longer) == strip(full) and [r["cycle"] for r in seen] == [0, 1, 2, 3, 4]
    shorter_task = FakeTask()
    assert strip(run_trial(shorter_task, "entropy", cycles=3, store=store, **kw)) == strip(full[:4])
    assert shorter_task.fits == 0


def test_budget_larger_than_pool_is_one_clear_error():
    with pytest.raises(ValueError, match="exceeds the pool"):
        check_budget(FakeTask(30), 20, 10, 2)
