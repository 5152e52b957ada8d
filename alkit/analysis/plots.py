"""Plots from saved results, drawn with seaborn in one slide-readable style (:func:`use_style`):
performance curves with mean and interval bands over trials (:func:`plot_curves`), the gap to
Random per cycle (:func:`plot_gap`), the pairwise penalty matrix (:func:`plot_penalty`), and one
``savefig`` that writes every figure as PNG and PDF under ``outputs/figures/`` (atomically).
Figures follow Mittal et al., "Parting with Illusions about Deep Active Learning" (Figs. 2-13)."""

from __future__ import annotations

import textwrap
import zlib
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "nbagg", "widget", "ipympl"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from alkit.paths import figures_dir  # noqa: E402
from alkit.analysis.stats import curve_summary  # noqa: E402

# Colours for strategies registered without one: chosen by a hash of the name (stable across
# sessions and processes), moving to the next free colour when another registered strategy has it.
_USER_PALETTE = ("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d",
                 "#9edae5", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354")


class _StrategyColors(Mapping):
    """``{name: colour}`` of the registered strategies (their ``color``, else a stable palette
    colour) plus a few non-strategy series (``transfer``). Unknown names: ``.get`` gives None."""

    _extra = {"transfer": "#8c564b"}

    def __getitem__(self, name):
        from alkit.strategies import find_strategy, strategy_names

        if name in self._extra:
            return self._extra[name]
        spec = find_strategy(name)
        if spec is None:
            raise KeyError(name)
        if spec.color:
            return spec.color
        users = [n for t in ("classification", "segmentation") for n in strategy_names(t)
                 if not find_strategy(n).color]
        taken = {find_strategy(n).color for t in ("classification", "segmentation") for n in strategy_names(t)}
        slot = zlib.crc32(name.encode()) % len(_USER_PALETTE)
        for other in dict.fromkeys(users):  # earlier colourless strategies keep their colours
            if other == name:
                break
            taken.add(self[other])
        for step in range(len(_USER_PALETTE)):
            colour = _USER_PALETTE[(slot + step) % len(_USER_PALETTE)]
            if colour not in taken:
                return colour
        return _USER_PALETTE[slot]

    def __iter__(self):
        from alkit.strategies import strategy_names

        names = [n for t in ("classification", "segmentation") for n in strategy_names(t)]
        return iter(dict.fromkeys([*names, *self._extra]))

    def __len__(self):
        return sum(1 for _ in self)


STRATEGY_COLORS = _StrategyColors()


# Names whose paper spelling is not (or not yet) in the registry.
_LABELS = {"d-score": "D-score", "random-image-entropy-polygon": "Random-Image-Entropy-Polygon",
           "random-image-random-polygon": "Random-Image-Random-Polygon"}
SSL_METHODS = ("uda", "fixmatch", "s4gan")  # ssl values whose curves the paper names SSL-X


def strategy_label(name: str, ssl: str | None = None) -> str:
    """The paper's name of a strategy: the registry's label (e.g. "ENS-varR"), a few fixed spellings
    ("d-score" -> "D-score", "random-image-entropy-polygon" -> "Random-Image-Entropy-Polygon"), else
    ``name`` itself; prefixed "SSL-" when ``ssl`` is one of :data:`SSL_METHODS` (paper Sec. 3.2.3)."""
    from alkit.strategies import find_strategy

    name = str(name)
    label = _LABELS.get(name)
    if label is None:
        spec = find_strategy(name)
        label = spec.label if spec is not None else name
    return ("SSL-" + label) if ssl is not None and str(ssl).lower() in SSL_METHODS else label


# One style for every figure: readable on a slide (large fonts, light grid, short titles).
STYLE = dict(context="notebook", style="whitegrid", font_scale=1.15,
             rc={"axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 9, "figure.dpi": 100,
                 "axes.titleweight": "bold", "grid.alpha": 0.35})


def use_style() -> None:
    """Apply the kit's seaborn style (:data:`STYLE`) to every later matplotlib figure."""
    sns.set_theme(**STYLE)


use_style()


def _line_with_band(ax, x, y, low, high, *, color, label, linestyle="-"):
    """One seaborn line (markers at the points) and, unless ``low`` is None, a band from ``low`` to
    ``high`` in the line's colour (NaN bounds leave gaps)."""
    n_before = len(ax.lines)
    sns.lineplot(x=np.asarray(x), y=np.asarray(y), ax=ax, color=color, label=label, marker="o", markersize=4,
                 linestyle=linestyle, errorbar=None)
    drawn = ax.lines[n_before] if len(ax.lines) > n_before else ax.lines[-1]
    if low is not None:
        ax.fill_between(x, low, high, color=drawn.get_color(), alpha=0.18, lw=0)


def plot_curves(df, *, y: str = "accuracy", x: str = "n_labelled", hue: str = "strategy",
                style: str | None = None, ax=None, spread: str = "std", scale: float = 100.0,
                label=None, title: str | None = None, ylabel: str | None = None, xlabel: str | None = None):
    """Mean curve per ``hue`` (and ``style``) with a shaded band of +-``spread`` ("std" or "sem")
    over trials. ``scale`` multiplies ``y`` (100 -> percent). ``label(hue_value, style_value)``
    names the lines (default: the paper's strategy names, plus the style value; a ``style`` column
    ``ssl`` turns into the paper's "SSL-X" names). Lines are drawn by ``seaborn.lineplot`` on the
    per-x means (:func:`alkit.analysis.stats.curve_summary`); bands are mean +- spread.
    ``df``: tidy results, one row per (strategy, trial, cycle). Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    by = [hue] + ([style] if style else [])
    summary = curve_summary(df, y=y, x=x, by=by)
    styles = sorted(summary[style].astype(str).unique()) if style else [None]
    dashes = ["-", "--", ":", "-."]
    for keys, part in summary.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        hv, sv = keys[0], (str(keys[1]) if style else None)
        part = part.sort_values(x)
        if label:
            name = label(hv, sv)
        elif style == "ssl":
            name = strategy_label(str(hv), sv)
        else:
            name = strategy_label(str(hv)) + (f" ({sv})" if sv is not None else "")
        color = STRATEGY_COLORS.get(str(hv))
        ls = dashes[styles.index(sv) % len(dashes)] if style else "-"
        m, s = part["mean"] * scale, part[spread] * scale
        _line_with_band(ax, part[x], m, m - s, m + s, color=color, label=name, linestyle=ls)
    ax.set_xlabel(xlabel or {"n_labelled": "labelled images", "cost": "clicks", "n_clicks": "clicks"}.get(x, x))
    ax.set_ylabel(ylabel or (f"{y} (%)" if scale == 100 else y))
    if title:
        ax.set_title(title)
    ax.legend(fontsize=9, frameon=False)
    return ax


def plot_gap(per_cycle, *, x: str = "n_labelled", hue: str = "strategy", ax=None, scale: float = 100.0,
             title: str | None = None, ylabel: str | None = None, ssl: str | None = None):
    """Gap to the reference per cycle with its interval band, one line per ``hue`` value.

    ``per_cycle``: :func:`alkit.analysis.stats.compare_to_reference` with ``at="cycle"`` (columns
    ``gap``, ``ci_low``, ``ci_high`` — NaN bounds from fewer than 3 trials draw no band) plus an ``x`` column.
    A dotted zero line marks "as good as Random" (paper Figs. 6-7); ``ssl`` names the lines "SSL-X"
    (:func:`strategy_label`). Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for hv, part in per_cycle.groupby(hue, sort=False):
        part = part.sort_values(x)
        band = {"ci_low", "ci_high"} <= set(part.columns)
        _line_with_band(ax, part[x], part["gap"] * scale, part["ci_low"] * scale if band else None,
                        part["ci_high"] * scale if band else None, color=STRATEGY_COLORS.get(str(hv)),
                        label=strategy_label(str(hv), ssl))
    ax.axhline(0, color="k", lw=1, ls=":")
    ax.set_xlabel({"n_labelled": "labelled images", "budget": "clicks"}.get(x, x))
    ax.set_ylabel(ylabel or ("gap to Random (points)" if scale == 100 else "gap to Random"))
    if title:
        ax.set_title(title)
    ax.legend(fontsize=9, frameon=False)
    return ax


def plot_penalty(penalty, *, ax=None, title: str | None = "penalty matrix"):
    """Heatmap of a penalty matrix (:func:`alkit.analysis.stats.penalty_matrix`, strategies x
    strategies, share of comparisons the row wins, in [0, 1]), annotated with two decimals, with the
    paper's strategy names; the diagonal is left blank and an off-diagonal NaN (no comparison with
    enough trials) reads "n/a". Without ``ax`` the figure grows with the number of strategies.
    Returns the axes."""
    if ax is None:
        n = len(penalty.index)
        _, ax = plt.subplots(figsize=(1.2 * n + 2.5, 1.0 * n + 2))
    labels = [strategy_label(str(s)) for s in penalty.index]
    cols = [strategy_label(str(s)) for s in penalty.columns]
    values = penalty.to_numpy(float)
    sns.heatmap(values, ax=ax, vmin=0, vmax=1, cmap="Reds", annot=True, fmt=".2f",
                xticklabels=cols, yticklabels=labels, cbar_kws={"label": "share of comparisons won"}, square=True)
    for i, j in zip(*np.nonzero(np.isnan(values))):
        if penalty.index[i] != penalty.columns[j]:  # seaborn leaves NaN cells blank: say why
            ax.text(j + 0.5, i + 0.5, "n/a", ha="center", va="center", fontsize=9, color="0.4")
    ax.set_xlabel("worse (column)")
    ax.set_ylabel("better (row)")
    if title:
        ax.set_title(title)
    return ax


def savefig(fig, name: str, folder: str | Path | None = None) -> Path:
    """Save ``fig`` as ``<outputs>/figures/<name>.png`` and ``.pdf``; returns the PNG path.

    Each file is rendered into a temp file in the same folder and renamed into place, so an
    interrupted save never leaves a half-written PNG/PDF under the final name.
    """
    from alkit.io import atomic_open

    folder = Path(folder) if folder else figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    for path, kw in ((png, {"dpi": 130}), (folder / f"{name}.pdf", {})):
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format=path.suffix[1:], bbox_inches="tight", **kw)
    return png


VERDICT_LABEL_WIDTH = 64  # characters per line of a claim's label on the verdict figure


def verdict_label(row, width: int = VERDICT_LABEL_WIDTH, lines: int = 2) -> str:
    """The y label of one verdict-board row: ``"NN: claim"`` (``" [mIoU]"`` appended for an mIoU
    claim, so the two units on one axis are told apart) wrapped at word boundaries into at most
    ``lines`` lines of ``width`` characters, the last ending in "..." when the claim is longer.
    (It was the first 60 characters, cut mid-word with no mark that anything was left out.)"""
    text = f"{row['notebook']}: {row['claim']}"
    if str(row.get("metric", "")) == "miou" and "mIoU" not in str(row["claim"]):
        text += " [mIoU]"
    return "\n".join(textwrap.wrap(text, width=width, max_lines=lines, placeholder=" ..."))


def plot_verdicts(board, *, ax=None):
    """The verdict board as a figure: one row per claim with an effect, its effect (points) with the
    95 % interval as a bar, 0 and the claim's margin as marks, coloured by verdict (seaborn palette).
    A row with an interval but no verdict (not tested: no margin, or part of its family not run) is
    drawn grey, dashed and hollow, so it cannot be read as a decided one.
    ``board``: rows of :func:`alkit.analysis.board.load_rows`. Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    use_style()
    df = board[np.isfinite(board["effect"].astype(float))].reset_index(drop=True)
    colours = dict(zip(["replicated", "contradicted", "inconclusive"], sns.color_palette("colorblind", 3)))
    grey = (0.6, 0.6, 0.6)
    if ax is None:  # rows tall enough for a claim wrapped on two lines
        fig, ax = plt.subplots(figsize=(9, 0.5 * max(len(df), 2) + 1.2))
    fig = ax.figure
    untested = False
    for i, r in df.iterrows():
        c = colours.get(str(r["verdict"]))
        if c is None:
            untested = True
            ax.plot([r["ci_low"], r["ci_high"]], [i, i], color=grey, lw=2, ls="--")
            ax.plot(r["effect"], i, "o", mfc="white", mec=grey)
        else:
            ax.plot([r["ci_low"], r["ci_high"]], [i, i], color=c, lw=2.5)
            ax.plot(r["effect"], i, "o", color=c)
        if np.isfinite(float(r["margin"])):
            ax.plot(r["margin"], i, "|", color="black", ms=12)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(df)))
    ax.set_yticklabels([verdict_label(r) for _, r in df.iterrows()], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("effect with 95 % interval (accuracy or mIoU points); | = margin")
    for v in ("replicated", "contradicted", "inconclusive"):
        ax.plot([], [], color=colours[v], lw=2.5, label=v)
    if untested:
        ax.plot([], [], color=grey, lw=2, ls="--", marker="o", mfc="white", label="no verdict (not tested; interval only)")
    ax.legend(fontsize=7, loc="best")
    return fig
