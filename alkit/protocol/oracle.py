"""A greedy *oracle* for classification AL: how much could any strategy gain here? (issue 18)

**It cheats, on purpose.** Each query cycle it takes K candidate batches (the proposals of
``proposals``: random batches and the batches strategies would pick), trains a network on the
labelled set plus each candidate, and keeps the candidate whose network scores best on a
*validation split of the pool, read with its labels* — labels no real strategy has (the greedy
oracle of CDALBench, Li et al. 2024). Its curve is an estimate of the headroom above Random that
a strategy choosing among such batches could reach; it is not an upper bound over all batches.

Protocol as :func:`alkit.protocol.loop.run_trial`: the same seeded initial set per trial as every
strategy (so the oracle pairs with Random by trial), ``step`` images per cycle, one test-set
metric per cycle. The validation split (``val_fraction`` of the pool, drawn per trial, never the
initial set) is left out of every candidate batch; the chosen candidate's network is the next
cycle's network (the same labelled set and seed train the same network), so a cycle costs K
trainings.
"""

from __future__ import annotations

import time

import numpy as np

from alkit.protocol import pool as pool_ops
from alkit.protocol.loop import check_budget, cycle_seed

PROPOSALS = ("random", "random", "entropy", "margin")


def pick_best(scores) -> int:
    """Index of the best candidate score (the first of equal ones)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or not len(scores):
        raise ValueError("pick_best needs a non-empty 1-D list of candidate scores")
    return int(np.argmax(scores))


def validation_split(n_pool: int, initial: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """int64 ``[round(fraction x n_pool)]`` pool indices for validation, none of them in ``initial``
    (sorted)."""
    if not 0 < fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {fraction}")
    rest = np.setdiff1d(np.arange(n_pool), initial)
    size = min(len(rest), max(1, int(round(fraction * n_pool))))
    return np.sort(rng.choice(rest, size=size, replace=False)).astype(np.int64)


def run_oracle_trial(task, *, initial: int, step: int, cycles: int, trial: int, seed: int = 0,
                     proposals=PROPOSALS, val_fraction: float = 0.2, validate=None, meta: dict | None = None,
                     on_cycle=None) -> list[dict]:
    """One trial of the greedy oracle on a classification ``task``; one record per cycle like
    :func:`~alkit.protocol.loop.run_trial` (``strategy="oracle"``), plus ``val_score`` (the chosen
    candidate's validation score; NaN at cycle 0) and ``chosen`` (the proposal that won).

    ``validate(learner, indices) -> float`` scores a network on pool items with their labels
    (default: accuracy through the task's :meth:`predict_labels`)."""
    check_budget(task, initial, step, cycles)
    if not proposals:
        raise ValueError("the oracle needs at least one proposal")
    validate = validate or (lambda learner, idx: float(np.mean(task.predict_labels(learner, idx) == task.labels[idx])))
    n = len(task.pool_costs())
    costs = np.ones(n)
    labelled_at = pool_ops.new_state(n)
    pending = pool_ops.take_within_budget(task.initial_order(np.random.default_rng(cycle_seed(seed, trial, 0, salt=1))),
                                          costs, initial)
    pool_ops.mark_labelled(labelled_at, pending, 0)
    val = validation_split(n, pending, val_fraction, np.random.default_rng(cycle_seed(seed, trial, 0, salt=7)))
    records, learner, val_score, chosen = [], None, float("nan"), ""
    for cycle in range(cycles + 1):
        t0 = time.perf_counter()
        lab = pool_ops.labelled(labelled_at)
        if learner is None:
            learner = task.fit(lab, cycle_seed(seed, trial, cycle), "random")
        record = dict(meta or {})
        record.update(strategy="oracle", trial=trial, cycle=cycle, n_labelled=int(len(lab)), cost=float(len(lab)),
                      **task.evaluate(learner), selected=[int(i) for i in pending], val_score=val_score, chosen=chosen)
        if cycle < cycles:
            unl = np.setdiff1d(pool_ops.unlabelled(labelled_at), val)
            candidates = []
            for k, name in enumerate(proposals):
                rng = np.random.default_rng(cycle_seed(seed, trial, cycle, salt=100 + k))
                batch = np.asarray(task.rank(learner, name, lab, unl, step, rng), dtype=np.int64)[:step]
                fitted = task.fit(np.union1d(lab, batch), cycle_seed(seed, trial, cycle + 1), "random")
                candidates.append((name, batch, fitted, validate(fitted, val)))
            best = pick_best([c[3] for c in candidates])
            chosen, pending, learner, val_score = candidates[best]
            pool_ops.mark_labelled(labelled_at, pending, cycle + 1)
        record["seconds"] = round(time.perf_counter() - t0, 3)
        records.append(record)
        if on_cycle:
            on_cycle(record)
    return records


def oracle_records(task, settings: dict, *, trials: int, proposals=PROPOSALS, val_fraction: float = 0.2) -> list[dict]:
    """:func:`run_oracle_trial` for trials ``0 .. trials - 1`` with the budgets and seed of
    ``settings`` (an experiment's resolved settings: ``initial``, ``step``, ``cycles``, ``seed``);
    every cycle's record, in order. Trains in this process with the task's preferred torch thread
    count (``preferred_threads``: 1 for tiny images, as the runner's workers), restored after."""
    import contextlib

    from alkit.engine.train.common import torch_threads

    hint = getattr(task, "preferred_threads", None)
    with torch_threads(int(hint)) if hint else contextlib.nullcontext():
        return [r for t in range(int(trials))
                for r in run_oracle_trial(task, initial=settings["initial"], step=settings["step"],
                                          cycles=settings["cycles"], trial=t, seed=settings["seed"],
                                          proposals=tuple(proposals), val_fraction=val_fraction)]
