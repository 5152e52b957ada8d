"""One experiment = one dataset, augmentation and training recipe, several strategies x trials.

:func:`run_experiment` is what the notebooks and ``python -m alkit run`` call. Every
(strategy, trial) is an independent unit (:mod:`alkit.runner`: parallel worker processes, one per
core by default) that goes through :func:`alkit.loop.run_trial` with a results store keyed by the
settings, the content fingerprint of the data actually loaded and the recipe version: a re-run on
the same data with the same recipe reuses finished cycles, an interrupted run resumes, and
anything else recomputes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from .paths import runs_dir
from .results import records_frame
from .recipes import REGIMES, regime_budget  # noqa: F401  (budgets live with the recipes)
from .strategies import STRATEGY_NAMES, check_strategy


@dataclass
class Experiment:
    """Everything that defines a classification AL experiment (defaults: a small digits run)."""

    dataset: str = "digits"
    strategies: tuple = STRATEGY_NAMES
    augment: str = "paper"  # "none" | "paper"
    ssl: str | None = None  # None | "uda"
    initial: int = 40
    step: int = 40
    cycles: int = 4
    trials: int = 3
    epochs: int = 30  # supervised epochs per cycle (paper: 150)
    min_steps: int = 0  # at least this many optimiser steps per cycle (tiny labelled sets)
    iterations: int = 500  # UDA iterations per cycle (paper: 50k)
    unlabelled_batch: int = 320
    model: str | None = None  # None -> WRN-28-2 on 32x32, small CNN on digits
    batch_size: int = 64
    lr: float = 0.03
    ensemble_size: int = 5
    seed: int = 0
    regime: str = "custom"
    data_root: str | None = field(default=None, compare=False)
    download: bool = field(default=False, compare=False)
    device: str | None = field(default=None, compare=False)
    workers: int | None = field(default=None, compare=False)  # parallel units (None: one per core)

    def store_config(self, strategy: str, data_fingerprint: str) -> dict:
        """The part of the config that determines a strategy's results (the store key), with the
        content fingerprint of the data it runs on (:func:`alkit.fingerprint.data_fingerprint`)."""
        cfg = asdict(self)
        for k in ("strategies", "trials", "data_root", "download", "device", "workers"):
            cfg.pop(k)
        cfg["data"] = data_fingerprint
        if self.ssl is None:
            cfg.pop("iterations"), cfg.pop("unlabelled_batch")
        else:
            cfg.pop("epochs"), cfg.pop("min_steps")
        if strategy != "ens-varr":
            cfg.pop("ensemble_size")
        cfg["strategy"] = strategy
        return cfg


def make_task(exp: Experiment, data=None):
    """The :class:`~alkit.classification.ClassificationTask` for an experiment (loads the data)."""
    from .classification import ClassificationTask
    from .data import load_dataset

    data = data if data is not None else load_dataset(exp.dataset, exp.data_root, download=exp.download)
    return ClassificationTask(data, model=exp.model, augment=exp.augment, ssl=exp.ssl, epochs=exp.epochs,
                              min_steps=exp.min_steps,
                              iterations=exp.iterations, batch_size=exp.batch_size,
                              unlabelled_batch=exp.unlabelled_batch, lr=exp.lr,
                              ensemble_size=exp.ensemble_size, device=exp.device)


def run_experiment(exp: Experiment, *, task=None, store_root=None, progress: bool = True,
                   with_selected: bool = False, workers: int | None = None, executor=None,
                   bar=None) -> pd.DataFrame:
    """Run (or load) every strategy x trial of ``exp``; one row per (strategy, trial, cycle).

    Columns: dataset, augment, ssl, regime, strategy, trial, cycle, n_labelled, cost, accuracy,
    seconds (and ``selected`` when asked). A tqdm bar counts cycles. The (strategy, trial) units
    run in ``workers`` parallel processes (default ``exp.workers``, else one per core on the CPU);
    a ``task`` that cannot be pickled (e.g. one holding a closure) runs them in this process.
    ``executor``: any ``submit``-style executor to run the units on instead (see
    :mod:`alkit.runner`). ``bar``: a tqdm bar to count cycles into (see :func:`alkit.runner.run_units`).
    """
    from .fingerprint import data_fingerprint
    from .loop import run_grid
    from .runner import picklable

    strategies = [check_strategy(s) for s in exp.strategies]
    task = task if task is not None else make_task(exp)
    workers = workers if workers is not None else exp.workers
    if executor is None and workers != 1 and not picklable(task):
        workers = 1
    fingerprint = data_fingerprint(task.data)
    meta = dict(dataset=exp.dataset, augment=exp.augment, ssl=exp.ssl or "none", regime=exp.regime)
    records = run_grid(task, strategies, trials=exp.trials, initial=exp.initial, step=exp.step, cycles=exp.cycles,
                       seed=exp.seed, store_root=store_root if store_root is not None else runs_dir(),
                       store_config_for=lambda s: exp.store_config(s, fingerprint), meta=meta,
                       metric="accuracy", progress=progress, workers=workers, executor=executor, bar=bar,
                       desc=f"{exp.dataset}/{exp.augment}{'/' + exp.ssl if exp.ssl else ''}")
    return records_frame(records, with_selected=with_selected)
