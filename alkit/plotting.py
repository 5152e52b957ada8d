"""Plots from saved results: performance curves with mean +- spread over trials, and one
``savefig`` that writes every figure as PNG and PDF under ``outputs/figures/``."""

from __future__ import annotations

from pathlib import Path

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "nbagg", "widget", "ipympl"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .paths import figures_dir  # noqa: E402
from .stats import curve_summary  # noqa: E402

STRATEGY_COLORS = {
    "random": "#444444", "entropy": "#1f77b4", "ens-varr": "#2ca02c", "coreset": "#ff7f0e",
    "ll": "#d62728", "ens-ent": "#9467bd", "transfer": "#8c564b",
}


def strategy_label(name: str) -> str:
    from .strategies import LABELS

    return LABELS.get(name, name)


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
    from .results import atomic_open

    folder = Path(folder) if folder else figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    for path, kw in ((png, {"dpi": 130}), (folder / f"{name}.pdf", {})):
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format=path.suffix[1:], bbox_inches="tight", **kw)
    return png
