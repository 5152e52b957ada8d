"""AL sandbox: one strategy against Random on an embedded dataset, with the picks of a cycle
(Mittal et al., "Parting with Illusions about Deep Active Learning": augmentation Sec. 3.2.2,
SSL Sec. 3.2.3, budgets Sec. 3.2.1; class imbalance of the picks is a suspected cause, Sec. 5).

The sandbox answers while you watch: a control change returns at once; its (strategy, trial)
units run in background worker processes (:class:`alkit.explorers.background.UnitRunner`), cycles
already in the results store are read at once, every new cycle is drawn as soon as it is stored,
and units the new setting no longer needs are stopped.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import matplotlib.pyplot as plt

from alkit.explorers.base import Explorer

# State attributes that change the experiment (a change starts a run); the others only change the view.
EXPERIMENT_SETTINGS = ("dataset", "strategy", "augment", "ssl", "initial", "step", "cycles", "trials", "epochs",
                       "min_steps", "iterations", "seed", "data_root")


@dataclass
class _Plan:
    """The units of one experiment: ``keys[i]`` (store folder, trial) identifies ``units[i]``."""

    experiment: object
    settings: dict
    task: object
    keys: list
    units: list
    planned: object = None  # the alkit.experiments.config.Plan (units in alkit.run's order)
    payload: bytes | None = None
    frame: object = None  # the finished results, once every unit is done


class ALSandbox(Explorer):
    """Run a small AL experiment in the background (cached in the results store) and look at it.

    State: ``dataset`` (embedded: "digits"), ``strategy``, ``augment`` ("none" | "paper"), ``ssl``
    (bool: UDA on/off), ``initial`` (B_i), ``step`` (B_s), ``cycles``, ``trials``, ``epochs``,
    ``min_steps``, ``iterations`` (UDA), ``seed`` and ``cycle`` (the cycle whose picks are shown).
    Settings left at ``None`` are the dataset's recipe (:func:`alkit.experiments.recipes.recipe`,
    via :meth:`alkit.Experiment.resolved`): at its defaults the sandbox runs exactly the experiment of
    notebook 00, so it reads that notebook's stored cycles.

    ``set(...)`` returns at once; the experiment's units (``strategy`` and Random, trial by trial)
    run in ``workers`` background processes (default one per core; ``mode="thread"``: one at a time
    in a thread of this process; ``executor``: a ``submit``-style executor such as a Dask cluster's). ``render()``,
    ``summary()`` and ``partial()`` show what is finished so far; ``status()`` says how many trial
    runs are done and running; ``wait()`` blocks until they are done; ``results()`` waits and
    returns the whole table, as :func:`alkit.run` gives it. ``close()`` stops the workers.
    ``store_root``: results store (default: ``outputs/runs``).
    """

    def __init__(self, dataset: str = "digits", strategy: str = "entropy", augment: str = "paper", ssl: bool = False,
                 initial: int | None = None, step: int | None = None, cycles: int | None = None, trials: int = 3,
                 epochs: int | None = None, min_steps: int | None = None, iterations: int | None = None,
                 cycle: int = 1, seed: int = 0, data_root: str | None = None, store_root=None, executor=None,
                 workers: int | None = None, mode: str = "process"):
        self.dataset, self.strategy, self.augment, self.ssl = dataset, strategy, augment, bool(ssl)
        self.initial, self.step, self.cycles, self.trials = initial, step, cycles, int(trials)
        self.epochs, self.min_steps, self.iterations, self.cycle = epochs, min_steps, iterations, int(cycle)
        self.seed, self.data_root = int(seed), data_root
        self.store_root, self.executor, self.workers, self.mode = store_root, executor, workers, mode
        self._plans: dict = {}
        self._data = None
        self._runner = None
        self._listeners: list = []
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ the experiment and its units

    def experiment(self):
        """The :class:`alkit.Experiment` of the current state (``None`` settings: the recipe's)."""
        from alkit.experiments.config import Experiment

        fields = dict(dataset=self.dataset, strategies=tuple(dict.fromkeys((self.strategy, "random"))),
                      augment=self.augment, trials=int(self.trials), seed=int(self.seed), data_root=self.data_root,
                      workers=self.workers)
        for name in ("initial", "step", "cycles"):
            if getattr(self, name) is not None:
                fields[name] = int(getattr(self, name))
        if self.ssl:
            fields.update(ssl="uda", iterations=self.iterations)
        else:
            fields.update(epochs=self.epochs, min_steps=self.min_steps)
        return Experiment(**fields)

    def _plan(self) -> _Plan:
        """The units of the current experiment (:func:`alkit.experiments.config.plan`: alkit.run's
        units and store keys), trial by trial (``strategy`` then Random, so the first paired trial
        is finished first); their stored cycles are read into the runner."""
        from alkit.experiments.config import plan as plan_units
        from alkit.experiments.store import RunStore

        exp = self.experiment()
        name = repr(exp)
        with self._lock:
            if name in self._plans:
                return self._plans[name]
        planned = plan_units(exp, task=exp.build_task(data=self.data()), store_root=self.store_root)
        runner = self._get_runner(planned.task)
        pool_size = len(planned.task.pool_costs())
        order = sorted(range(len(planned.units)), key=lambda i: (planned.units[i].trial, i))
        keys, units = [], []
        for unit in (planned.units[i] for i in order):
            store = RunStore(unit.store_root, unit.store_config)
            key = (store.dir.name, unit.trial)
            if len(runner.records(key)) < unit.cycles + 1:
                runner.add_records(key, _stored_cycles(store, unit.trial, unit.cycles, pool_size))
            keys.append(key)
            units.append(unit)
        plan = _Plan(exp, planned.settings, planned.task, keys, units, planned=planned)
        with self._lock:
            return self._plans.setdefault(name, plan)

    def _get_runner(self, task):
        from alkit.experiments.runner import default_workers
        from alkit.explorers.background import UnitRunner

        with self._lock:
            if self._runner is None:
                workers = self.workers if self.workers is not None else default_workers(task, 1 << 20)
                notify = weakref.WeakMethod(self._notify)  # the runner's threads must not keep the sandbox alive
                self._runner = UnitRunner(workers=workers, mode=self.mode, executor=self.executor,
                                          on_update=lambda: (notify() or (lambda: None))())
            return self._runner

    def _start(self) -> _Plan:
        """Make the current experiment's unfinished units the wanted ones (returns at once)."""
        import pickle

        from alkit.experiments.runner import picklable, threads_per_worker
        from alkit.explorers.background import Job

        plan = self._plan()
        if self.mode == "process" and self.executor is None and not picklable(plan.task):
            # e.g. a strategy defined in a notebook cell: it cannot travel to a worker process, so
            # every run goes to a thread of this process from now on (as alkit.run does)
            self.close()
            self.mode = "thread"
            plan = self._plan()
        runner = self._runner
        todo = []
        for key, unit in zip(plan.keys, plan.units):
            if len(runner.records(key)) >= unit.cycles + 1:
                runner.mark_done(key)
                continue
            if plan.payload is None and (self.mode == "process" or self.executor is not None):
                plan.payload = pickle.dumps(plan.task)  # once per experiment, unpickled by the workers
            todo.append(Job(key=key, unit=unit, payload=plan.payload, task=plan.task,
                            threads=threads_per_worker(plan.task, runner.workers)))
        runner.want(todo)
        return plan

    def _changed(self, values: dict) -> None:
        """A control change: start the new experiment (if it is one) in the background."""
        if any(k in EXPERIMENT_SETTINGS for k in values):
            self._start()
        else:
            self._notify()

    # ------------------------------------------------------------------ progress

    def subscribe(self, callback) -> None:
        """Call ``callback()`` (from a background thread) whenever a cycle is stored or a run
        changes state; keep it quick (e.g. set an event)."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for cb in list(self._listeners):
            cb()

    def counts(self) -> dict:
        """``{"total", "done", "running", "queued", "failed"}``: trial runs (strategy x trial) of the
        current experiment."""
        plan = self._start_once()
        states = [self._runner.state(k) for k in plan.keys]
        return dict(total=len(states), done=states.count("done"), running=states.count("running"),
                    queued=states.count("queued"), failed=states.count("error"))

    def status(self) -> str:
        """E.g. ``"2 of 6 trial runs done, 2 running, 2 queued"`` (with an error message if one failed)."""
        c = self.counts()
        text = f"{c['done']} of {c['total']} trial runs done"
        if c["running"]:
            text += f", {c['running']} running"
        if c["queued"]:
            text += f", {c['queued']} queued"
        if c["failed"]:
            plan = self._plan()
            first = next(self._runner.error(k) for k in plan.keys if self._runner.state(k) == "error")
            text += f", {c['failed']} failed ({first})"
        return text

    def wait(self, timeout: float | None = None, runs: int | None = None) -> bool:
        """Block until ``runs`` trial runs (default: all) of the current experiment are done (or
        failed); False if ``timeout`` seconds passed first."""
        plan = self._start_once()
        return self._runner.wait(plan.keys, timeout=timeout, count=runs)

    def _start_once(self) -> _Plan:
        plan = self._plan()
        if any(self._runner.state(k) is None for k in plan.keys):
            plan = self._start()
        return plan

    def close(self) -> None:
        """Stop every background run and worker."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None
            self._plans.clear()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ------------------------------------------------------------------ results

    def partial(self):
        """The cycles finished so far (same columns as :meth:`results`; may be empty)."""
        import pandas as pd

        from alkit.experiments.config import collect

        plan = self._start_once()
        by_unit = dict(zip(map(id, plan.units), plan.keys))
        per_unit = []
        for unit in plan.planned.units:  # alkit.run's order: strategy, trial, cycle
            recs = self._runner.records(by_unit[id(unit)])
            per_unit.append([recs[c] for c in sorted(recs)])
        if not any(per_unit):
            return pd.DataFrame(columns=["strategy", "trial", "cycle", "n_labelled", "accuracy", "selected"])
        return collect(plan.planned, per_unit, with_selected=True)

    def results(self, timeout: float | None = None):
        """Every strategy x trial x cycle of the current experiment, as :func:`alkit.run` with
        ``with_selected=True`` returns it; waits for the background runs (``TimeoutError`` after
        ``timeout`` seconds, ``RuntimeError`` if a run failed)."""
        plan = self._start_once()
        if plan.frame is not None:
            return plan.frame
        if not self.wait(timeout=timeout):
            raise TimeoutError(f"sandbox: {self.status()} after {timeout} s")
        c = self.counts()
        if c["failed"] or c["done"] < c["total"]:  # a failed run, or the setting changed meanwhile
            raise RuntimeError(f"sandbox: {self.status()}")
        plan.frame = self.partial()
        return plan.frame

    def data(self):
        """The dataset (loaded once)."""
        if self._data is None or self._data.name != self.dataset:
            from alkit.engine.data import load_dataset

            self._data = load_dataset(self.dataset, root=self.data_root)
        return self._data

    def picks(self) -> np.ndarray:
        """Pool indices ``strategy`` labelled in ``cycle`` (the trials finished so far; cycle 0 = the
        initial set)."""
        df = self.partial()
        if df.empty:
            return np.zeros(0, int)
        rows = df[(df.strategy == self.strategy) & (df.cycle == min(self.cycle, int(df.cycle.max())))]
        return np.concatenate([np.asarray(s, dtype=int) for s in rows.selected] or [np.zeros(0, int)])

    def class_counts(self) -> np.ndarray:
        """int ``[K]``: class histogram of :meth:`picks`."""
        labels = self.data().train_y.numpy()
        return np.bincount(labels[self.picks()], minlength=len(self.data().classes))

    def labelled_tv(self, strategy: str | None = None) -> float:
        """Class imbalance of ``strategy``'s (default: the chosen one) labelled set after ``cycle``:
        total variation between its class histogram and the pool's (:func:`alkit.analysis.bias.class_imbalance`;
        paper Sec. 5's suspected cause), mean over the trials finished that far; NaN before any.
        The pool's labels are read here to show the bias, never by a strategy."""
        from alkit.analysis.bias import class_imbalance

        df = self.partial()
        if df.empty:
            return float("nan")
        cyc = min(self.cycle, int(df.cycle.max()))
        labels = self.data().train_y.numpy()
        k = len(self.data().classes)
        values = []
        for _, g in df[(df.strategy == (strategy or self.strategy)) & (df.cycle <= cyc)].groupby("trial"):
            if int(g.cycle.max()) < cyc:
                continue
            idx = np.concatenate([np.asarray(sel, dtype=int) for sel in g.sort_values("cycle").selected])
            values.append(class_imbalance(labels[idx], labels, k)["tv"])
        return float(np.mean(values)) if values else float("nan")

    def summary(self) -> str:
        """One line of what is finished so far: final accuracy of the strategy and of Random
        (SSL-Random when SSL is on), their paired gap over the trials both finished with its 95 %
        Student-t interval and the outcome of "the strategy beats Random" at the dataset's margin
        (:func:`alkit.analysis.claims.compare_line`: replicated / contradicted / inconclusive; no
        interval from fewer than 3 trials), the picks of ``cycle`` and, while runs go on,
        :meth:`status`."""
        from alkit.analysis.plots import strategy_label

        df = self.partial()
        counts = self.class_counts()
        ssl = "uda" if self.ssl else None
        name, base = strategy_label(self.strategy, ssl), strategy_label("random", ssl)
        plan = self._plan()
        last = plan.settings["cycles"]
        final = df[df.cycle == last].pivot_table(index="trial", columns="strategy", values="accuracy")
        parts = []
        for s, label in dict.fromkeys([(self.strategy, name), ("random", base)]):
            n = int(final[s].count()) if s in final else 0
            acc = f"{100 * final[s].mean():.1f} %" if n else "-"
            parts.append(f"{label} {acc}" + (f" ({n} of {self.trials} trials)" if n < self.trials else ""))
        text = f"{name}: final accuracy {parts[0].removeprefix(name + ' ')}" + "".join(f" vs {p}" for p in parts[1:])
        if self.strategy != "random" and {self.strategy, "random"} <= set(final):
            d = (final[self.strategy] - final["random"]).dropna().to_numpy()  # trials both finished
            if len(d):
                text += self._gap_text(d, name, base)
        text += f"; cycle {self.cycle}: {counts.sum()} picks over {(counts > 0).sum()} classes"
        tv, tv_random = self.labelled_tv(), self.labelled_tv("random")
        if not np.isnan(tv):
            text += f", labelled set's class imbalance (TV to the pool) {tv:.2f}"
            if self.strategy != "random" and not np.isnan(tv_random):
                text += f" (Random {tv_random:.2f})"
        c = self.counts()
        if c["done"] < c["total"]:
            text += f"; {'SSL (UDA) ' if self.ssl else ''}{self.status()}"
        return text

    def _gap_text(self, d: np.ndarray, name: str, base: str) -> str:
        """The paired final gap (fractions ``d``, one per trial), its interval and the outcome of
        "``name`` beats ``base``" at the dataset's margin (:func:`alkit.analysis.claims.compare_line`)."""
        from alkit.analysis import claims

        return "; " + claims.compare_line(name, d, reference=base, margin_=claims.margin(self.dataset, "accuracy"))

    # ------------------------------------------------------------------ drawing

    def render(self, fig=None):
        """Three panels of what is finished so far: curve vs Random (mean +- std over the trials
        so far), the first images picked in ``cycle`` (first trial), the class histogram of the
        picks in ``cycle``; the title says how many trial runs are still going."""
        import seaborn as sns

        from alkit.analysis.plots import plot_curves

        df, data = self.partial(), self.data()
        c = self.counts()
        fig = fig or plt.figure(figsize=(13, 3.8))
        grid = fig.add_gridspec(2, 12)
        ax_curve = fig.add_subplot(grid[:, :5])
        title = f"{self.dataset}: vs {'SSL-' if self.ssl else ''}Random"
        if c["done"] < c["total"]:
            title += f"\n({c['done']} of {c['total']} trial runs done, {c['running']} running)"
        if df.empty:
            ax_curve.set_title(title)
            ax_curve.text(0.5, 0.5, "training ...", ha="center", va="center", transform=ax_curve.transAxes)
            cyc, shown = self.cycle, np.zeros(0, int)
        else:
            plot_curves(df, ax=ax_curve, style="ssl" if self.ssl else None, title=title)
            cyc = min(self.cycle, int(df.cycle.max()))
            ax_curve.axvline(df[df.cycle == cyc].n_labelled.mean(), color="k", lw=0.8, ls=":")
            first = df[(df.strategy == self.strategy) & (df.cycle == cyc)].sort_values("trial")
            shown = np.asarray(first.selected.iloc[0], dtype=int)[:8] if len(first) else np.zeros(0, int)
        for j in range(8):
            ax = fig.add_subplot(grid[j // 4, 5 + j % 4])
            ax.axis("off")
            if j < len(shown):
                img = data.train_x[shown[j]].permute(1, 2, 0).squeeze(-1).numpy()
                ax.imshow(img, cmap="gray")
                ax.set_title(data.classes[int(data.train_y[shown[j]])], fontsize=9)
        ax_hist = fig.add_subplot(grid[:, 9:])
        counts = self.class_counts()
        sns.barplot(x=list(range(len(counts))), y=counts, ax=ax_hist, color="#4c72b0")
        pool = np.bincount(data.train_y.numpy(), minlength=len(counts))
        if counts.sum():  # the pool's class mix at the same number of picks: what an unbiased pick looks like
            ax_hist.scatter(range(len(counts)), pool / pool.sum() * counts.sum(), marker="_", s=250, color="k",
                            zorder=3, label="pool's mix")
            ax_hist.legend(fontsize=7, loc="upper right")
        ax_hist.set_xticks(range(len(counts)), data.classes, fontsize=8)
        tv = self.labelled_tv()
        ax_hist.set_title(f"classes picked, cycle {cyc}" + ("" if np.isnan(tv) else f"\nlabelled set: TV to the pool {tv:.2f}"),
                          fontsize=9)
        fig.tight_layout()
        return fig

    def controls(self) -> dict:
        """``{state attribute: ipywidget}`` for :meth:`widget`."""
        import ipywidgets as w
        from alkit.strategies import strategy_names

        s = self._plan().settings
        return {"dataset": w.Dropdown(options=["digits"], value=self.dataset, description="dataset"),
                "strategy": w.Dropdown(options=[s for s in strategy_names("classification") if s != "random"],
                                       value=self.strategy, description="strategy"),
                "augment": w.Dropdown(options=["none", "paper"], value=self.augment, description="augment"),
                "ssl": w.Checkbox(value=self.ssl, description="SSL (UDA)"),
                "initial": w.IntSlider(value=s["initial"], min=10, max=200, step=10, description="budget B_i",
                                       continuous_update=False),
                "step": w.IntSlider(value=s["step"], min=10, max=200, step=10, description="budget B_s",
                                    continuous_update=False),
                "cycles": w.IntSlider(value=s["cycles"], min=1, max=8, description="cycles", continuous_update=False),
                "cycle": w.IntSlider(value=self.cycle, min=0, max=8, description="show cycle", continuous_update=False)}


def _stored_cycles(store, trial: int, cycles: int, pool_size: int) -> list[dict]:
    """The records of ``trial``'s cycles already in ``store`` (validated), up to the first missing one."""
    out = []
    for c in range(cycles + 1):
        if not store.has_cycle(trial, c):
            break
        saved = store.load_cycle(trial, c, pool_size=pool_size, metric="accuracy")
        if saved is None:
            break
        out.append(saved[0])
    return out
