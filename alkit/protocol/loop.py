"""The active-learning cycle: train -> evaluate -> score the pool -> annotate within budget.

Budgets are in cost units: 1 per image for classification, clicks for segmentation. A *task*
(``alkit.tasks.classification.ClassificationTask``, ``alkit.tasks.segmentation.SegmentationTask``) supplies
the task-specific parts through the :class:`Task` protocol; this module owns the protocol of the
paper (Sec. 3.2.1 and 4.3): a seeded initial set per trial, ``step`` units per cycle, one metric
point per cycle (the initial one included), strategies that see only what the learner predicts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import numpy as np

from alkit.protocol import pool as pool_ops

if TYPE_CHECKING:  # the contract a task fulfils (alkit.tasks sits above the protocol: types only)
    from alkit.tasks.base import Task


class CycleStore(Protocol):
    """What the loop needs of a results store (:class:`alkit.experiments.store.RunStore` is one):
    a validated finished cycle, or None; and saving one."""

    def load_cycle(self, trial: int, cycle: int, *, pool_size: int | None = None,
                   metric: str | None = None) -> tuple | None: ...

    def save_cycle(self, trial: int, cycle: int, record: dict, labelled_at, queried) -> None: ...


def cycle_seed(seed: int, trial: int, cycle: int, salt: int = 0) -> int:
    """A deterministic 31-bit seed for one (trial, cycle) so resumed runs repeat exactly."""
    return int(np.random.SeedSequence([seed, trial, cycle, salt]).generate_state(1)[0] & 0x7FFFFFFF)


def check_budget(task: "Task", initial: float, step: float, cycles: int) -> None:
    """One clear ``ValueError`` if the requested budget cannot be met by the pool."""
    total_cost = float(np.sum(task.pool_costs()))
    need = initial + step * cycles
    if initial <= 0 or step < 0 or cycles < 0:
        raise ValueError(f"budgets must be positive (initial={initial}, step={step}, cycles={cycles})")
    if need > total_cost:
        raise ValueError(
            f"budget {initial:g} + {cycles} x {step:g} = {need:g} exceeds the pool of {task.name} "
            f"(total cost {total_cost:g})"
        )


def load_stored(store: CycleStore | None, trial: int, cycles: int, *, pool_size: int, metric: str | None = None,
                on_cycle=None) -> tuple[list[dict], np.ndarray | None, np.ndarray | None]:
    """The consecutive finished cycles of one trial in ``store`` (each validated; the first
    missing or damaged one ends them): ``(records, labelled_at, queried)`` of the last one
    (``None, None`` when there is none). ``on_cycle(record)`` is called for each."""
    records: list[dict] = []
    labelled_at = pending = None
    if store is None:
        return records, labelled_at, pending
    for c in range(cycles + 1):
        saved = store.load_cycle(trial, c, pool_size=pool_size, metric=metric)
        if saved is None:
            break
        records.append(saved[0])
        labelled_at, pending = saved[1], saved[2]
        if on_cycle:
            on_cycle(saved[0])
    return records, labelled_at, pending


def run_trial(task: "Task", strategy: str, *, initial: float, step: float, cycles: int, trial: int,
              seed: int = 0, store: CycleStore | None = None, meta: dict | None = None,
              metric: str | None = None, on_cycle=None) -> list[dict]:
    """Run (or resume) one trial of pool-based AL and return one record per cycle.

    ``cycles`` query rounds follow the initial set, so there are ``cycles + 1`` records.
    Each record: the ``meta`` fields (dataset, strategy, augment, ...), ``trial``, ``cycle``,
    ``n_labelled``, ``cost`` (units spent so far), the task's metrics, ``seconds`` and ``selected``
    (pool indices labelled for this cycle, in the order they were picked). With a ``store``, finished cycles are loaded instead of
    recomputed and every new cycle is saved as soon as it ends. ``on_cycle(record)`` is called
    after each cycle, loaded or computed (progress bars hook in there). ``metric`` (e.g.
    ``"accuracy"``) is checked to be finite in every cached cycle; a cached cycle that fails the
    store's validation is set aside and recomputed, with every cycle after it.
    """
    return run_trials(task, strategy, initial=initial, step=step, cycles=cycles, trials=[trial], seed=seed,
                      store=store, meta=meta, metric=metric, on_cycle=on_cycle)[0]


class _TrialState:
    """One trial of :func:`run_trials`: its records so far, pool state and the items pending."""

    def __init__(self, task, trial: int, costs: np.ndarray, *, initial: float, cycles: int, seed: int,
                 store, meta, metric, on_cycle):
        self.trial = trial
        records, labelled_at, pending = load_stored(store, trial, cycles, pool_size=len(costs), metric=metric)
        start = len(records)
        if 0 < start <= cycles and len(pending) == 0:
            # The last stored cycle ended a shorter run of the same settings (no query after it; the
            # store key leaves the number of cycles out): redo that cycle, which trains the same model
            # (its seed depends on trial and cycle only), and query from it.
            start -= 1
            pending = np.asarray(records.pop()["selected"], dtype=np.int64)
        self.records = [dict(r, **(meta or {})) for r in records]  # labelled as this run (e.g. its regime)
        for record in self.records:
            if on_cycle:
                on_cycle(record)
        if start == 0:
            labelled_at = pool_ops.new_state(len(costs))
            rng = np.random.default_rng(cycle_seed(seed, trial, 0, salt=1))
            pending = pool_ops.take_within_budget(task.initial_order(rng), costs, initial)
            pool_ops.mark_labelled(labelled_at, pending, 0)
        self.start, self.labelled_at, self.pending = start, labelled_at, pending


def run_trials(task: "Task", strategy: str, *, initial: float, step: float, cycles: int, trials: list[int],
               seed: int = 0, store: CycleStore | None = None, meta: dict | None = None,
               metric: str | None = None, on_cycle=None) -> list[list[dict]]:
    """:func:`run_trial` for several ``trials`` of one strategy in lockstep: at each cycle the
    trials that reached it ask the task for their learners together (``task.fit_many``, when the
    task has it and more than one trial is at the cycle: e.g. one stacked training for all,
    :meth:`alkit.tasks.classification.ClassificationTask.fit_many`), then each evaluates, queries
    and saves on its own. The records are those of :func:`run_trial` for each trial (a task's
    ``fit_many`` returns what ``fit`` would); a record's ``seconds`` counts its share of the joint
    training (the training time split evenly) and its own evaluation and query. Returns one list
    of records per trial, in the order of ``trials``."""
    check_budget(task, initial, step, cycles)
    costs = np.asarray(task.pool_costs(), dtype=np.float64)
    states = [_TrialState(task, t, costs, initial=initial, cycles=cycles, seed=seed, store=store, meta=meta,
                          metric=metric, on_cycle=on_cycle) for t in trials]
    joint = getattr(task, "fit_many", None)
    for cycle in range(min((s.start for s in states), default=cycles + 1), cycles + 1):
        active = [s for s in states if s.start <= cycle]
        t0 = time.perf_counter()
        labs = [pool_ops.labelled(s.labelled_at) for s in active]
        asks = [(lab, cycle_seed(seed, s.trial, cycle), strategy) for lab, s in zip(labs, active)]
        learners = joint(asks) if joint is not None and len(asks) > 1 else [task.fit(*a) for a in asks]
        share = (time.perf_counter() - t0) / len(active)
        for s, lab, learner in zip(active, labs, learners):
            t1 = time.perf_counter()
            metrics = task.evaluate(learner)
            record = dict(meta or {})
            record.update(
                strategy=strategy, trial=s.trial, cycle=cycle, n_labelled=int(len(lab)),
                cost=float(costs[lab].sum()), **metrics,
                selected=[int(i) for i in s.pending],
            )
            if cycle < cycles:
                unl = pool_ops.unlabelled(s.labelled_at)
                rng = np.random.default_rng(cycle_seed(seed, s.trial, cycle, salt=2))
                order = task.rank(learner, strategy, lab, unl, step, rng)
                s.pending = pool_ops.take_within_budget(order, costs, step)
                pool_ops.mark_labelled(s.labelled_at, s.pending, cycle + 1)
            record["seconds"] = round(share + time.perf_counter() - t1, 3)
            if store is not None:
                store.save_cycle(s.trial, cycle, record, s.labelled_at, s.pending if cycle < cycles else [])
            s.records.append(record)
            if on_cycle:
                on_cycle(record)
    return [s.records for s in states]
