"""The active-learning cycle: train -> evaluate -> score the pool -> annotate within budget.

Budgets are in cost units: 1 per image for classification, clicks for segmentation. A *task*
(``alkit.tasks.classification.ClassificationTask``, ``alkit.tasks.segmentation.SegmentationTask``) supplies
the task-specific parts through the :class:`Task` protocol; this module owns the protocol of the
paper (Sec. 3.2.1 and 4.3): a seeded initial set per trial, ``step`` units per cycle, one metric
point per cycle (the initial one included), strategies that see only what the learner predicts.
"""

from __future__ import annotations

import time

import numpy as np

from alkit.protocol import pool as pool_ops
from alkit.experiments.store import RunStore
from alkit.tasks.base import Task  # noqa: F401  (the contract a task fulfils)


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


def run_trial(task: "Task", strategy: str, *, initial: float, step: float, cycles: int, trial: int,
              seed: int = 0, store: RunStore | None = None, meta: dict | None = None,
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
    check_budget(task, initial, step, cycles)
    costs = np.asarray(task.pool_costs(), dtype=np.float64)
    labelled_at = pool_ops.new_state(len(costs))
    records: list[dict] = []
    start = 0
    pending = None  # items labelled for the next cycle, in the order they were picked
    if store is not None:
        for c in range(cycles + 1):
            saved = store.load_cycle(trial, c, pool_size=len(costs), metric=metric)
            if saved is None:
                break
            records.append(saved[0])
            labelled_at, pending = saved[1], saved[2]
            start = c + 1
            if on_cycle:
                on_cycle(saved[0])
    if start == 0:
        rng = np.random.default_rng(cycle_seed(seed, trial, 0, salt=1))
        pending = pool_ops.take_within_budget(task.initial_order(rng), costs, initial)
        pool_ops.mark_labelled(labelled_at, pending, 0)

    for cycle in range(start, cycles + 1):
        t0 = time.perf_counter()
        lab = pool_ops.labelled(labelled_at)
        learner = task.fit(lab, cycle_seed(seed, trial, cycle), strategy)
        metrics = task.evaluate(learner)
        record = dict(meta or {})
        record.update(
            strategy=strategy, trial=trial, cycle=cycle, n_labelled=int(len(lab)),
            cost=float(costs[lab].sum()), **metrics,
            selected=[int(i) for i in pending],
        )
        if cycle < cycles:
            unl = pool_ops.unlabelled(labelled_at)
            rng = np.random.default_rng(cycle_seed(seed, trial, cycle, salt=2))
            order = task.rank(learner, strategy, lab, unl, step, rng)
            pending = pool_ops.take_within_budget(order, costs, step)
            pool_ops.mark_labelled(labelled_at, pending, cycle + 1)
        record["seconds"] = round(time.perf_counter() - t0, 3)
        if store is not None:
            store.save_cycle(trial, cycle, record, labelled_at, pending if cycle < cycles else [])
        records.append(record)
        if on_cycle:
            on_cycle(record)
    return records


def run_grid(task: "Task", strategies, *, trials: int, initial: float, step: float, cycles: int, seed: int,
             store_root, store_config_for, meta: dict, metric: str, desc: str, progress: bool = True,
             workers: int | None = None, executor=None, bar=None) -> list[dict]:
    """Every strategy x trial through :func:`run_trial`, as independent units run by
    :func:`alkit.experiments.runner.run_units` (parallel worker processes, one per core by default), with one
    tqdm bar counting cycles.

    ``store_config_for(strategy)`` gives the results-store config of a strategy (None: no store)
    under ``store_root``; ``metric`` is the record field shown on the bar. Returns all records in
    (strategy, trial, cycle) order, whatever order the units finished in.
    """
    from alkit.experiments.runner import Unit, run_units

    check_budget(task, initial, step, cycles)
    root = None if store_root is None else str(store_root)
    units = [Unit(strategy=s, trial=t, initial=initial, step=step, cycles=cycles, seed=seed, metric=metric,
                  store_root=root, store_config=store_config_for(s), meta=dict(meta))
             for s in strategies for t in range(trials)]
    per_unit = run_units(task, units, workers=workers, executor=executor, progress=progress, desc=desc,
                         bar=bar)
    return [rec for recs in per_unit for rec in recs]
