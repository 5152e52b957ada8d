"""AL sandbox: one strategy against Random on an embedded dataset, with the picks of a cycle
(Mittal et al., "Parting with Illusions about Deep Active Learning": augmentation Sec. 3.2.2,
SSL Sec. 3.2.3, budgets Sec. 3.2.1; class imbalance of the picks is a suspected cause, Sec. 5)."""

from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

from alkit.explorers.base import Explorer


class ALSandbox(Explorer):
    """Run a small AL experiment (cached in the results store) and look at it.

    State: ``dataset`` (embedded: "digits"), ``strategy``, ``augment`` ("none" | "paper"), ``ssl``
    (bool: UDA on/off), ``initial`` (B_i), ``step`` (B_s), ``cycles``, ``trials``, ``epochs``,
    ``min_steps``, ``seed`` and ``cycle`` (the cycle whose picks are shown). ``results()`` runs
    ``alkit.run`` for ``(strategy, "random")`` — finished cycles are loaded from the store, so an
    experiment the notebook already ran costs nothing — with a tqdm progress bar.
    ``store_root``: results store (default: ``outputs/runs``).
    """

    def __init__(self, dataset: str = "digits", strategy: str = "entropy", augment: str = "paper", ssl: bool = False,
                 initial: int = 40, step: int = 40, cycles: int = 3, trials: int = 3, epochs: int | None = None,
                 min_steps: int | None = None, iterations: int | None = None, cycle: int = 1, seed: int = 0,
                 data_root: str | None = None, store_root=None, executor=None, workers: int | None = None):
        self.dataset, self.strategy, self.augment, self.ssl = dataset, strategy, augment, bool(ssl)
        self.initial, self.step, self.cycles, self.trials = int(initial), int(step), int(cycles), int(trials)
        self.epochs, self.min_steps, self.iterations, self.cycle = epochs, min_steps, iterations, int(cycle)
        self.seed, self.data_root = int(seed), data_root
        self.store_root, self.executor, self.workers = store_root, executor, workers
        self._cache: dict = {}
        self._data = None

    def experiment(self):
        """The :class:`alkit.Experiment` of the current state."""
        from alkit.experiments.config import Experiment

        fields = dict(dataset=self.dataset, strategies=tuple(dict.fromkeys((self.strategy, "random"))),
                      augment=self.augment, initial=self.initial, step=self.step, cycles=self.cycles,
                      trials=self.trials, seed=self.seed, data_root=self.data_root, workers=self.workers)
        if self.ssl:
            fields.update(ssl="uda", iterations=self.iterations)
        else:
            fields.update(epochs=self.epochs, min_steps=self.min_steps)
        return Experiment(**fields)

    def results(self):
        """Results of the current experiment (one row per strategy, trial, cycle, with ``selected``)."""
        from alkit.experiments.config import run

        exp = self.experiment()
        key = repr(exp)
        if key not in self._cache:
            self._cache[key] = run(exp, store_root=self.store_root, with_selected=True, progress=True,
                                   executor=self.executor)
        return self._cache[key]

    def data(self):
        """The dataset (loaded once)."""
        if self._data is None or self._data.name != self.dataset:
            from alkit.engine.data import load_dataset

            self._data = load_dataset(self.dataset, root=self.data_root)
        return self._data

    def picks(self) -> np.ndarray:
        """Pool indices ``strategy`` labelled in ``cycle`` (all trials; cycle 0 = the initial set)."""
        df = self.results()
        rows = df[(df.strategy == self.strategy) & (df.cycle == min(self.cycle, int(df.cycle.max())))]
        return np.concatenate([np.asarray(s, dtype=int) for s in rows.selected] or [np.zeros(0, int)])

    def class_counts(self) -> np.ndarray:
        """int ``[K]``: class histogram of :meth:`picks`."""
        labels = self.data().train_y.numpy()
        return np.bincount(labels[self.picks()], minlength=len(self.data().classes))

    def summary(self) -> str:
        """One line: final accuracy of the strategy and of Random (SSL-Random when SSL is on), their
        paired gap over trials with its 95 % Student-t interval (:func:`alkit.analysis.stats.paired_test`;
        fewer than 3 trials: no interval, said so), and the picks of ``cycle``."""
        from alkit.analysis.plots import strategy_label
        from alkit.analysis.stats import MIN_TRIALS, paired_test

        df = self.results()
        ssl = "uda" if self.ssl else None
        final = df[df.cycle == df.cycle.max()].pivot_table(index="trial", columns="strategy", values="accuracy")
        counts = self.class_counts()
        name, base = strategy_label(self.strategy, ssl), strategy_label("random", ssl)
        text = (f"{name}: final accuracy {100 * final[self.strategy].mean():.1f} % vs {base} "
                f"{100 * final['random'].mean():.1f} %")
        if self.strategy != "random":
            t = paired_test((final[self.strategy] - final["random"]).to_numpy())
            if t["n"] < MIN_TRIALS:
                text += f" (mean of {t['n']} trials: too few for an interval)"
            elif np.isnan(t["ci_low"]):
                text += f", gap {100 * t['gap']:+.1f} points in all {t['n']} trials (no spread to test)"
            else:
                text += (f", gap {100 * t['gap']:+.1f} [{100 * t['ci_low']:+.1f}, {100 * t['ci_high']:+.1f}] "
                         f"points (95 % interval, {t['n']} trials)")
        return f"{text}; cycle {self.cycle}: {counts.sum()} picks over {(counts > 0).sum()} classes"

    def render(self, fig=None):
        """Three panels: curve vs Random (mean +- std), the first images picked in ``cycle`` (trial 0),
        the class histogram of all trials' picks in ``cycle``."""
        import seaborn as sns
        from alkit.analysis.plots import plot_curves

        df, data = self.results(), self.data()
        fig = fig or plt.figure(figsize=(13, 3.8))
        grid = fig.add_gridspec(2, 12)
        ax_curve = fig.add_subplot(grid[:, :5])
        plot_curves(df, ax=ax_curve, style="ssl" if self.ssl else None, title=f"{self.dataset}: vs {'SSL-' if self.ssl else ''}Random")
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
        ax_hist.set_xticks(range(len(counts)), data.classes, fontsize=8)
        ax_hist.set_title(f"classes picked, cycle {cyc}")
        fig.tight_layout()
        return fig

    def controls(self) -> dict:
        """``{state attribute: ipywidget}`` for :meth:`widget`."""
        import ipywidgets as w
        from alkit.strategies import strategy_names

        return {"dataset": w.Dropdown(options=["digits"], value=self.dataset, description="dataset"),
                "strategy": w.Dropdown(options=[s for s in strategy_names("classification") if s != "random"],
                                       value=self.strategy, description="strategy"),
                "augment": w.Dropdown(options=["none", "paper"], value=self.augment, description="augment"),
                "ssl": w.Checkbox(value=self.ssl, description="SSL (UDA)"),
                "initial": w.IntSlider(value=self.initial, min=10, max=200, step=10, description="budget B_i",
                                       continuous_update=False),
                "step": w.IntSlider(value=self.step, min=10, max=200, step=10, description="budget B_s",
                                    continuous_update=False),
                "cycles": w.IntSlider(value=self.cycles, min=1, max=8, description="cycles", continuous_update=False),
                "cycle": w.IntSlider(value=self.cycle, min=0, max=8, description="show cycle", continuous_update=False)}
