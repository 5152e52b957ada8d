"""``alkit reproduce`` computes the notebooks' stored runs on one pool before the notebooks start
(alkit.experiments.prefetch): the store it fills is exactly the one the notebooks read, each unit
runs once, and mixing experiments on one pool computes what each run computes alone."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd

from alkit.experiments.config import Experiment, plan, run
from alkit.experiments.prefetch import _registered, prefetch, stored_jobs
from alkit.experiments.reproduce import notebook_plans
from alkit.experiments.runner import finished, run_jobs


def _stored_runs(plans):
    for nb in plans:
        for r in nb.runs:
            if r.stored and not r.model and not r.first_cycle_only:
                yield r


def test_prefetch_fills_the_store_the_notebooks_read(tmp_path, monkeypatch):
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    plans = notebook_plans(["00", "07"], "smoke")
    jobs = stored_jobs(plans)
    keys = [(json.dumps(u.store_config, sort_keys=True, default=str), u.trial) for _, u in jobs]
    assert jobs and len(keys) == len(set(keys))  # every (store key, trial) once
    assert prefetch(plans, workers=2, progress=False) == len(jobs)
    assert stored_jobs(plans) == []  # nothing left to compute
    checked = 0
    for r in _stored_runs(plans):  # each run as the notebook builds it finds every cycle stored
        names = tuple(s for s in (r.strategies or r.exp.resolved()["strategies"]) if _registered(s, r.exp.kind))
        p = plan(dataclasses.replace(r.exp, strategies=names))
        assert all(finished(u) for u in p.units), r.label
        checked += len(p.units)
    assert checked >= len(jobs)


def test_one_pool_for_several_experiments_computes_what_each_run_computes(tmp_path):
    small = dict(dataset="digits", trials=2, initial=20, step=10, cycles=1, epochs=1, min_steps=1)
    a = Experiment(strategies=("random", "entropy"), **small)
    b = Experiment(strategies=("margin",), augment="none", **small)
    pa, pb = plan(a, store_root=tmp_path / "mixed"), plan(b, store_root=tmp_path / "mixed")
    jobs = [(pb.task, u) for u in pb.units] + [(pa.task, u) for u in pa.units]
    mixed = run_jobs(jobs, workers=2, progress=False)
    alone = [run(e, store_root=tmp_path / "alone", progress=False, workers=1) for e in (b, a)]
    got = pd.DataFrame([rec for recs in mixed for rec in recs]).drop(columns="seconds")
    want = pd.concat(alone).drop(columns="seconds")
    cols = ["strategy", "trial", "cycle", "augment", "n_labelled", "accuracy"]
    key = ["augment", "strategy", "trial", "cycle"]
    pd.testing.assert_frame_equal(got[cols].sort_values(key).reset_index(drop=True),
                                  want[cols].sort_values(key).reset_index(drop=True))


def test_nothing_to_prefetch_starts_no_pool(monkeypatch, tmp_path):
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    import alkit.experiments.prefetch as pf

    def no_pool(*a, **k):
        raise AssertionError("a pool started with nothing to run")

    monkeypatch.setattr(pf, "run_jobs", no_pool)
    assert prefetch(notebook_plans(["05"], "smoke"), progress=False) == 0


def test_a_strategy_unknown_here_is_left_to_the_notebook(monkeypatch, tmp_path):
    """Notebook 08 loads its own strategy from a file; a process that has not loaded it (the
    prefetch runs before the notebook) must leave it to the notebook, and run the rest."""
    import alkit.experiments.prefetch as pf

    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    plans = notebook_plans(["08"], "smoke")
    own = plans[0].params["strategy_name"]
    known = pf._registered
    monkeypatch.setattr(pf, "_registered", lambda name, kind: name != own and known(name, kind))
    asked = {s for r in _stored_runs(plans) for s in r.strategies}
    assert own in asked
    assert {u.strategy for _, u in stored_jobs(plans)} == asked - {own}
