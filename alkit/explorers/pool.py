"""Pool inspector: where in the pool do the strategies pick? A 2-D map of the pool's features
(PCA or t-SNE from scikit-learn) with the labelled points coloured by the cycle they were picked in
(Mittal et al. discuss class imbalance and redundancy of the picks as causes, Sec. 3.2.4)."""

from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

from alkit.explorers.base import Explorer


def pool_features(data, max_points: int | None = None) -> np.ndarray:
    """The pool's images as feature vectors: float ``[N, C*H*W]`` pixels in [0, 1] (a model-free
    view, the same for every strategy)."""
    x = data.train_x if max_points is None else data.train_x[:max_points]
    return x.reshape(len(x), -1).float().numpy() / 255.0


def embed(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``[N, D]`` -> ``[N, 2]`` by ``method`` "pca" (sklearn PCA) or "tsne" (sklearn TSNE, PCA init)."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(features)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30, len(features) - 1)).fit_transform(features)
    raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")


class PoolInspector(Explorer):
    """Map of the pool with each strategy's picks.

    ``data``: the :class:`~alkit.engine.data.base.ImageDataset` the run used; ``df``: results of
    ``alkit.run(exp, with_selected=True)`` (one row per strategy, trial, cycle; ``selected`` = pool
    indices labelled in that cycle, the initial set at cycle 0). State: ``strategy``, ``trial``,
    ``cycle`` (show the picks of cycles 0..cycle), ``method`` ("pca" | "tsne").
    """

    def __init__(self, data, df, strategy: str | None = None, trial: int = 0, cycle: int | None = None,
                 method: str = "pca", seed: int = 0):
        if "selected" not in df.columns:
            raise ValueError("df needs the 'selected' column: run(exp, with_selected=True)")
        self.data, self.df, self.seed = data, df, seed
        names = sorted(df["strategy"].unique())
        self.strategy = strategy if strategy is not None else next((s for s in names if s != "random"), names[0])
        self.trial, self.method = int(trial), method
        self.cycle = int(df["cycle"].max()) if cycle is None else int(cycle)
        self._maps: dict = {}

    def coordinates(self) -> np.ndarray:
        """``[N, 2]`` map of the pool (computed once per method)."""
        if self.method not in self._maps:
            self._maps[self.method] = embed(pool_features(self.data), self.method, self.seed)
        return self._maps[self.method]

    def picked_at(self) -> np.ndarray:
        """int ``[N]``: the cycle in which each pool item was labelled by ``strategy`` in ``trial``
        up to ``cycle``, -1 if unlabelled by then."""
        out = np.full(len(self.data.train_y), -1, dtype=int)
        rows = self.df[(self.df.strategy == self.strategy) & (self.df.trial == self.trial) & (self.df.cycle <= self.cycle)]
        for r in rows.itertuples():
            out[np.asarray(r.selected, dtype=int)] = int(r.cycle)
        return out

    def summary(self) -> str:
        """One line: how many items are labelled and how they spread over the classes."""
        at = self.picked_at()
        labels = self.data.train_y.numpy()[at >= 0]
        counts = np.bincount(labels, minlength=len(self.data.classes))
        return (f"{self.strategy}, trial {self.trial}, up to cycle {self.cycle}: {int((at >= 0).sum())} labelled, "
                f"{int((counts > 0).sum())}/{len(counts)} classes, largest class share {counts.max() / max(counts.sum(), 1):.2f}")

    def render(self, fig=None):
        """Grey pool, labelled points coloured by their cycle (seaborn palette "viridis")."""
        import seaborn as sns
        from alkit.analysis.plots import strategy_label

        xy, at = self.coordinates(), self.picked_at()
        fig = fig or plt.figure(figsize=(6.5, 5))
        ax = fig.subplots()
        ax.scatter(xy[:, 0], xy[:, 1], s=4, color="0.85", label="unlabelled")
        sel = at >= 0
        if sel.any():
            sns.scatterplot(x=xy[sel, 0], y=xy[sel, 1], hue=at[sel], palette="viridis", s=22, ax=ax,
                            edgecolor="k", linewidth=0.3, legend="full")
            ax.legend(title="picked in cycle", fontsize=8, frameon=False, loc="best")
        ax.set_title(f"{strategy_label(self.strategy)}: picks up to cycle {self.cycle}")
        ax.set_xlabel(f"{self.method.upper()} 1")
        ax.set_ylabel(f"{self.method.upper()} 2")
        fig.tight_layout()
        return fig

    def controls(self) -> dict:
        """``{state attribute: ipywidget}`` for :meth:`widget`."""
        import ipywidgets as w

        return {"strategy": w.Dropdown(options=sorted(self.df.strategy.unique()), value=self.strategy, description="strategy"),
                "cycle": w.IntSlider(value=self.cycle, min=0, max=int(self.df.cycle.max()), description="cycle",
                                     continuous_update=False),
                "trial": w.Dropdown(options=sorted(int(t) for t in self.df.trial.unique()), value=self.trial,
                                    description="trial"),
                "method": w.Dropdown(options=["pca", "tsne"], value=self.method, description="map")}
