"""Compute every stored run of a set of notebooks before the notebooks start, on one pool of workers.

``alkit reproduce`` runs the notebooks one after another, and each notebook calls
:func:`alkit.experiments.config.run` several times. Run by run, every call starts its own worker
processes and ends with a tail in which one core finishes the run's last unit while the other
waits. :func:`prefetch` instead plans the runs of every chosen notebook
(:mod:`alkit.experiments.notebook_runs`, the same description ``alkit reproduce --plan`` prices),
keeps each (strategy, trial) unit once (a unit two notebooks share, or a shorter run of the same
results-store key, runs once with the most cycles asked for), and sends all of them to one pool,
the longest first, so the cores stay busy until the last few units. The notebooks then find their
runs in the results store and only load them; what a notebook computes itself (a strategy or a
network defined in a cell) it still computes. Nothing changes what a unit computes: a unit is a
pure function of its task and its :class:`~alkit.experiments.runner.Unit` (the store's key).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json

from alkit.experiments.config import plan, shared_fits
from alkit.experiments.runner import finished, picklable, run_jobs


def _registered(strategy: str, kind: str) -> bool:
    """Whether ``strategy`` is known in this process (a strategy a notebook defines is not)."""
    from alkit.strategies import check_strategy

    try:
        check_strategy(strategy, task=kind)
    except ValueError:
        return False
    return True


def left_to_notebook(nb) -> int:
    """How many stored runs of one notebook's plan (``nb``: its
    :class:`~alkit.experiments.notebook_runs.NotebookRuns`) the prefetch leaves to the notebook: runs
    with a network the notebook builds or a strategy it defines."""
    n = 0
    for run in nb.runs:
        if not run.stored:
            continue
        asked = run.strategies or run.exp.resolved()["strategies"]
        n += bool(run.model) or not all(_registered(s, run.exp.kind) for s in asked)
    return n


def cycle_costs(p, unit) -> list[float]:
    """A relative cost of each cycle of one unit (not a time): pixels through the networks of its
    training steps, times the networks a cycle trains (:func:`alkit.experiments.cost_plan` counts
    steps the same way). Pixels are a fair common currency here: a training step of the small
    digits CNN and of the small segmentation network cost about the same per input pixel, and so
    does s4GAN's discriminator per pixel of the input it sees (pooled ``d_pool`` x ``d_pool``:
    with the discriminator's pixels counted at full size, an s4GAN unit weighed 2x its time)."""
    from alkit.experiments.cost_plan import _steps

    s, task = p.settings, p.task
    kind = p.exp.kind
    recipe = p.exp.recipe("segmentation") if kind == "segmentation" else {}
    if kind == "segmentation":
        per_image, side = float(task.pool_costs().mean()), int(recipe.get("crop_size", 48))
        d_pool = int((s.get("s4gan") or recipe.get("s4gan") or {}).get("d_pool", 1))
    else:
        per_image, side, d_pool = 1.0, int(getattr(task.data, "image_size", 32)), 1
    out = []
    for c in range(unit.cycles + 1):
        n = max(1, round((unit.initial + c * unit.step) / per_image))
        steps, images, d_images = _steps(kind, s.get("ssl"), s, recipe, n)
        out.append(steps * (images * side * side + d_images * (side // d_pool) ** 2) * task.unit_cost(unit.strategy))
    return out


def work_weights(jobs, *, split: bool = False) -> list[float]:
    """One relative cost per ``(plan, unit)`` of ``jobs`` as they run together, in the order they
    start: the sum of its :func:`cycle_costs`, but a plain cycle-0 training that several units share (the same
    training settings, trial and initial budget: :func:`alkit.experiments.config.fit_signature`;
    strategies whose first network is plain, ``task.first_fit_shared``) is trained once, by the
    first of them to start, and loaded from a file by the others: the first carries it, the others
    carry none of it (``split``: each carries an equal share, an order-free cost for sorting).
    Counted whole in each, the shared trainings put a third of a digits run's weight in cycles
    that mostly load a file, and the bar's estimate of the total came out a third too short."""
    from alkit.experiments.config import fit_signature

    costs, groups = [], {}
    for p, u in jobs:
        c = cycle_costs(p, u)
        shared = bool(u.store_config) and getattr(p.task, "first_fit_shared", lambda s: False)(u.strategy)
        key = (fit_signature(u.store_config), u.trial, u.initial) if shared else None
        if key is not None:
            groups[key] = groups.get(key, 0) + 1
        costs.append((c, key))
    out, seen = [], set()
    for (c, key), (p, u) in zip(costs, jobs):
        first = c[0]
        if key is not None and groups[key] > 1:  # one of the cycle's networks is the shared one
            one = first / p.task.unit_cost(u.strategy)
            first = first - one + (one / groups[key] if split else (0.0 if key in seen else one))
            seen.add(key)
        out.append(first + sum(c[1:]))
    return out


def stored_jobs(plans) -> list:
    """``[(plan, unit), ...]``: every unit of the notebooks' stored runs (``plans``: their
    :class:`~alkit.experiments.notebook_runs.NotebookRuns`) that the store does not hold yet, each
    store key and trial once (the most cycles asked for), longest first. Runs with a network the
    notebook builds itself, strategies it defines and tasks that cannot travel to a worker are left
    to the notebook."""
    best: dict = {}
    for nb in plans:
        for run in nb.runs:
            if not run.stored or run.model or run.first_cycle_only or run.exp.trials == "auto":
                continue
            asked = run.strategies or run.exp.resolved()["strategies"]
            names = tuple(s for s in asked if _registered(s, run.exp.kind))
            if not names:
                continue
            p = plan(dataclasses.replace(run.exp, strategies=names))
            if not picklable(p.task):
                continue
            for u in p.units:
                if finished(u):
                    continue
                key = (json.dumps(u.store_config, sort_keys=True, default=str), u.trial)
                if key not in best or best[key][1].cycles < u.cycles:
                    best[key] = (p, u)
    jobs = list(best.values())
    weights = work_weights(jobs, split=True)
    return [jobs[i] for i in sorted(range(len(jobs)), key=lambda i: -weights[i])]


def prefetch(plans, *, workers: int | None = None, progress: bool = True) -> int:
    """Run every unit :func:`stored_jobs` finds, on one pool of ``workers`` processes (default one
    per core); returns the number of units run. The progress bar counts shares of the work weighted
    by :func:`work_weights` (the long segmentation units run first: counted in cycles, its estimate of
    the time left would start at hours for a run of minutes). Each run's strategies share their plain cycle-0
    trainings as in :func:`alkit.experiments.config.run` (:func:`~alkit.experiments.config.shared_fits`)."""
    jobs = stored_jobs(plans)
    if not jobs:
        return 0
    runs = {id(p): p for p, _ in jobs}
    with contextlib.ExitStack() as stack:
        for p in runs.values():
            stack.enter_context(shared_fits(p.exp, p))
        run_jobs([(p.task, u) for p, u in jobs], workers=workers, progress=progress,
                 desc=f"all notebooks' runs ({len(jobs)} units, {len(runs)} runs)",
                 weights=work_weights(jobs))
    return len(jobs)
