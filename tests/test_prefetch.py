"""``alkit reproduce`` computes the notebooks' stored runs on one pool before the notebooks start
(alkit.experiments.prefetch): the store it fills is exactly the one the notebooks read, each unit
runs once, and mixing experiments on one pool computes what each run computes alone."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

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


def _unit(strategy, trial, cycles):
    from alkit.experiments.runner import Unit

    return Unit(strategy=strategy, trial=trial, initial=20, step=10, cycles=cycles, seed=0, metric="accuracy")


def test_work_shares_add_up_to_the_whole_and_follow_the_weights():
    from alkit.experiments.runner import WorkShares

    # two runs share the pair (random, 0); a heavy unit of 3 cycles (+ cycle 0) and a light one
    units = [_unit("random", 0, 3), _unit("random", 0, 1), _unit("entropy", 0, 1)]
    shares = WorkShares(units, [8.0, 1.0, 1.0])
    first = shares.take("random", 0)
    assert first == pytest.approx(100 * 0.8 / 4)  # the heavy unit's cycle: 20 % of the work
    taken = [first] + [shares.take("random", 0) for _ in range(5)] + [shares.take("entropy", 0) for _ in range(2)]
    assert sum(taken) == pytest.approx(100.0)
    assert shares.take("random", 0) == 0.0 and shares.take("margin", 3) == 0.0  # spent / unknown pair


def test_work_shares_reject_bad_weights():
    from alkit.experiments.runner import WorkShares

    with pytest.raises(ValueError, match="2 weights for 1 units"):
        WorkShares([_unit("random", 0, 1)], [1.0, 2.0])
    with pytest.raises(ValueError, match=">= 0"):
        WorkShares([_unit("random", 0, 1)], [float("nan")])
    zero = WorkShares([_unit("random", 0, 0), _unit("entropy", 0, 0)], [0.0, 0.0])  # no cost known: even
    assert zero.take("random", 0) == pytest.approx(50.0)


def test_weighted_bar_reaches_the_whole_run(tmp_path, capsys):
    """run_jobs with weights: the bar counts percent of the work and ends at 100 %."""
    small = dict(dataset="digits", trials=1, initial=20, step=10, cycles=1, epochs=1, min_steps=1)
    p = plan(Experiment(strategies=("random", "entropy"), **small), store_root=tmp_path / "w")
    run_jobs([(p.task, u) for u in p.units], workers=1, progress=True, weights=[3.0, 1.0])
    err = capsys.readouterr().err
    assert "100% of the work" in err and "4/4 cycles" in err


def test_work_weights_give_a_shared_cycle_0_training_to_the_first_unit_that_starts(tmp_path):
    """Random and Entropy train the same cycle-0 network (one training through the fit cache): the
    first of them in the order the units start trains it and carries it, the other loads it and
    carries none of it (``split``: half each, for sorting); Learning Loss trains its own; a run with
    other training settings shares nothing. Cycle costs by hand: digits are 8 x 8; 20 and 30 labels
    at batch 64 are one step per epoch, so min_steps 5 gives 5 steps of 64 images per cycle."""
    from alkit.experiments.prefetch import cycle_costs, work_weights

    small = dict(dataset="digits", trials=2, initial=20, step=10, cycles=1, epochs=1, min_steps=5, batch_size=64)
    p = plan(Experiment(strategies=("random", "entropy", "ll"), **small), store_root=tmp_path / "a")
    q = plan(Experiment(strategies=("random",), augment="none", **small), store_root=tmp_path / "b")
    jobs = [(p, u) for u in p.units] + [(q, u) for u in q.units]
    assert [u.strategy for _, u in jobs[:4]] == ["random", "random", "entropy", "entropy"]
    one = 5 * 64 * 8 * 8
    assert all(cycle_costs(r, u) == [one, one] for r, u in jobs)
    for split, first, second in ((False, 2 * one, one), (True, one / 2 + one, one / 2 + one)):
        weights = dict(zip([(r is p, u.strategy, u.trial) for r, u in jobs], work_weights(jobs, split=split)))
        for t in (0, 1):
            assert weights[(True, "random", t)] == first and weights[(True, "entropy", t)] == second
            assert weights[(True, "ll", t)] == 2 * one  # its network has a loss module: not shared
            assert weights[(False, "random", t)] == 2 * one  # other settings (no augmentation): its own
    assert sum(work_weights(jobs)) == sum(work_weights(jobs, split=True))  # the same work, spread otherwise
    assert work_weights([(p, p.units[0])]) == [2 * one]  # alone, a unit carries its whole cycle 0


def test_fit_signature_ignores_what_does_not_change_one_training():
    """The strategy, its scoring settings and an ensemble's size leave a (first-member) training as it
    is; a training setting does not."""
    from alkit.experiments.config import fit_signature

    base = dict(dataset="shapes", lr=0.003, epochs=60, strategy="random")
    assert fit_signature(base) == fit_signature({**base, "strategy": "ens-ent", "ensemble_size": 2,
                                                 "threshold": 0.6, "ens_reduce": "mean-entropy"})
    assert fit_signature(base) != fit_signature({**base, "lr": 0.01})


def test_cycle_costs_count_the_discriminator_at_its_pooled_input(tmp_path):
    """s4GAN's discriminator sees its input pooled d_pool x d_pool (the shapes recipe: 2), so its 4
    images per generator image pair count a quarter of their pixels each: per step
    (2 b side^2 + 4 b (side / 2)^2) = 3 b side^2, three supervised steps of batch b."""
    from alkit.engine.train.segmentation import train_steps
    from alkit.experiments.prefetch import cycle_costs

    seg = dict(dataset="shapes", trials=1, initial=200, step=150, cycles=1, epochs=2,
               data_options=dict(n_train=40, n_val=8))
    s4 = plan(Experiment(strategies=("random",), ssl="s4gan", **seg), store_root=tmp_path / "s")
    sup = plan(Experiment(strategies=("random",), **seg), store_root=tmp_path / "p")
    r = s4.exp.recipe("segmentation")
    assert r["s4gan"]["d_pool"] == 2 and r["s4gan"]["batch_size"] == r["batch_size"]
    side, b = r["crop_size"], r["s4gan"]["batch_size"]
    per_image = float(s4.task.pool_costs().mean())
    u = s4.units[0]
    expect = [train_steps(max(1, round((u.initial + c * u.step) / per_image)), b, 2, r["min_epoch_steps"])
              * 3 * b * side * side for c in range(u.cycles + 1)]
    assert cycle_costs(s4, u) == expect
    assert cycle_costs(s4, u) == [3 * c for c in cycle_costs(sup, sup.units[0])]
