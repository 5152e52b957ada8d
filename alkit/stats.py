"""Statistics over trials: mean and spread of curves, area under the budget curve (AUBC), and
gaps to the Random baseline — so "no better than random" is a computed statement with its
uncertainty. One helper for every notebook.

Trials with the same index share their initial labelled set (it is seeded by the trial), so gaps
to Random are computed per trial (paired) before averaging.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUP = ["strategy"]


def _groups(df: pd.DataFrame, by) -> list[str]:
    by = [by] if isinstance(by, str) else list(by or GROUP)
    return [c for c in by if c in df.columns]


def curve_summary(df: pd.DataFrame, y: str = "accuracy", x: str = "n_labelled", by=None) -> pd.DataFrame:
    """Mean, standard deviation and count over trials of ``y`` at each ``x``, per group.

    Columns: ``*by, x, mean, std, n, sem`` (std and sem are 0 for a single trial).
    """
    g = _groups(df, by)
    out = df.groupby(g + [x])[y].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"count": "n"})
    out["std"] = out["std"].fillna(0.0)
    out["sem"] = out["std"] / np.sqrt(out["n"])
    return out


def aubc_per_trial(df: pd.DataFrame, y: str = "accuracy", x: str = "n_labelled", by=None) -> pd.DataFrame:
    """Area under the budget curve of each trial: trapezoid of ``y`` over ``x`` divided by the
    ``x`` range, i.e. the average performance across the budget (same units as ``y``)."""
    g = _groups(df, by) + ["trial"]
    rows = []
    for key, part in df.groupby(g):
        part = part.sort_values(x)
        xs, ys = part[x].to_numpy(float), part[y].to_numpy(float)
        width = xs[-1] - xs[0]
        area = float(np.trapezoid(ys, xs) / width) if width > 0 else float(ys.mean())
        rows.append(dict(zip(g, key if isinstance(key, tuple) else (key,)), aubc=area))
    return pd.DataFrame(rows)


def aubc(df: pd.DataFrame, y: str = "accuracy", x: str = "n_labelled", by=None) -> pd.DataFrame:
    """AUBC per group: mean, std and sem over trials (columns ``*by, aubc, aubc_std, aubc_sem, n``)."""
    per = aubc_per_trial(df, y, x, by)
    g = _groups(df, by)
    out = per.groupby(g)["aubc"].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"mean": "aubc", "std": "aubc_std", "count": "n"})
    out["aubc_std"] = out["aubc_std"].fillna(0.0)
    out["aubc_sem"] = out["aubc_std"] / np.sqrt(out["n"])
    return out.sort_values("aubc", ascending=False).reset_index(drop=True)


def gap_to_reference(df: pd.DataFrame, y: str = "accuracy", reference: str = "random",
                     by=None, at: str = "cycle") -> pd.DataFrame:
    """Paired per-trial difference ``y(strategy) - y(reference)`` at each ``at`` value, then mean,
    std, sem and the number of trials, per group. ``by`` holds grouping columns besides
    ``strategy`` (e.g. ``augment`` or ``ssl``); the reference is matched within each of them."""
    extra = [c for c in _groups(df, by) if c != "strategy"]
    keys = extra + ["trial", at]
    ref = df[df["strategy"] == reference][keys + [y]].rename(columns={y: "_ref"})
    if ref.empty:
        raise ValueError(f"no rows for the reference strategy {reference!r}")
    merged = df.merge(ref, on=keys, how="inner")
    merged["gap"] = merged[y] - merged["_ref"]
    out = merged.groupby(extra + ["strategy", at])["gap"].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"mean": "gap", "std": "gap_std", "count": "n"})
    out["gap_std"] = out["gap_std"].fillna(0.0)
    out["gap_sem"] = out["gap_std"] / np.sqrt(out["n"])
    return out


def final_gap(df: pd.DataFrame, y: str = "accuracy", reference: str = "random", by=None) -> pd.DataFrame:
    """Gap to the reference at each group's last cycle (see :func:`gap_to_reference`)."""
    gaps = gap_to_reference(df, y, reference, by)
    last = gaps.groupby([c for c in gaps.columns if c not in ("cycle", "gap", "gap_std", "n", "gap_sem")])["cycle"].transform("max")
    return gaps[gaps["cycle"] == last].reset_index(drop=True)


def verdict(gap: float, sem: float, k: float = 2.0) -> str:
    """Words for a gap with its standard error: 'above', 'below' or 'indistinguishable from'
    the reference, using a +-``k`` sem band (k=2 ~ a 95 % interval)."""
    if gap - k * sem > 0:
        return "above"
    if gap + k * sem < 0:
        return "below"
    return "indistinguishable from"


def labels_to_reach(df: pd.DataFrame, target: float, y: str = "accuracy", x: str = "n_labelled") -> float | None:
    """Smallest ``x`` at which the mean curve in ``df`` (one group) reaches ``target``, linearly
    interpolated; None if it never does."""
    s = df.groupby(x)[y].mean().sort_index()
    xs, ys = s.index.to_numpy(float), s.to_numpy(float)
    if len(ys) == 0 or ys.max() < target:
        return None
    i = int(np.argmax(ys >= target))
    if i == 0:
        return float(xs[0])
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0)) if y1 != y0 else float(x1)
