"""Plots from saved results: performance curves with mean +- spread over trials, and one
``savefig`` that writes every figure as PNG and PDF under ``outputs/figures/``."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "nbagg", "widget", "ipympl"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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


def strategy_label(name: str) -> str:
    """The strategy's label from the registry (e.g. "ENS-varR"), else ``name`` itself."""
    from alkit.strategies import find_strategy

    spec = find_strategy(name)
    return spec.label if spec is not None else name


def plot_curves(df, *, y: str = "accuracy", x: str = "n_labelled", hue: str = "strategy",
                style: str | None = None, ax=None, spread: str = "std", scale: float = 100.0,
                label=None, title: str | None = None, ylabel: str | None = None, xlabel: str | None = None):
    """Mean curve per ``hue`` (and ``style``) with a shaded band of +-``spread`` ("std" or "sem")
    over trials. ``scale`` multiplies ``y`` (100 -> percent). ``label(hue_value, style_value)``
    names the lines (default: the paper's strategy names, plus the style value).
    Returns the axes."""
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
        name = label(hv, sv) if label else strategy_label(str(hv)) + (f" ({sv})" if sv is not None else "")
        color = STRATEGY_COLORS.get(str(hv))
        ls = dashes[styles.index(sv) % len(dashes)] if style else "-"
        m, s = part["mean"] * scale, part[spread] * scale
        ax.plot(part[x], m, ls, marker="o", ms=3, color=color, label=name)
        ax.fill_between(part[x], m - s, m + s, color=ax.lines[-1].get_color(), alpha=0.15, lw=0)
    ax.set_xlabel(xlabel or {"n_labelled": "labelled images", "cost": "clicks", "n_clicks": "clicks"}.get(x, x))
    ax.set_ylabel(ylabel or (f"{y} (%)" if scale == 100 else y))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def savefig(fig, name: str, folder: str | Path | None = None) -> Path:
    """Save ``fig`` as ``<outputs>/figures/<name>.png`` and ``.pdf``; returns the PNG path.

    Each file is rendered into a temp file in the same folder and renamed into place, so an
    interrupted save never leaves a half-written PNG/PDF under the final name.
    """
    from alkit.experiments.store import atomic_open

    folder = Path(folder) if folder else figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    for path, kw in ((png, {"dpi": 130}), (folder / f"{name}.pdf", {})):
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format=path.suffix[1:], bbox_inches="tight", **kw)
    return png
