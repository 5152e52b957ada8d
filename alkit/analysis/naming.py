"""The paper's names of strategies and runs, and the "This run shows" heading of the notebooks'
findings (used by :mod:`alkit.analysis.findings` and :mod:`alkit.analysis.claims` alike)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alkit.analysis import stats


def label(strategy: str) -> str:
    """The paper's name of a strategy (``"ens-varr"`` -> ``"ENS-varR"``)."""
    from alkit.strategies import LABELS

    return LABELS.get(strategy, strategy)


def trial_counts(df: pd.DataFrame) -> tuple[int, int]:
    """Fewest and most trials of any (setting, strategy) group in ``df``."""
    groups = [c for c in ("augment", "ssl", "regime", "strategy") if c in df.columns]
    n = df.groupby(groups)["trial"].nunique()
    return int(n.min()), int(n.max())


def heading(df: pd.DataFrame | None = None, what: str = "") -> str:
    """The first line of a notebook's "This run shows" output: what ran and how many trials."""
    parts = [what] if what else []
    if df is not None and len(df):
        lo, hi = trial_counts(df)
        n = f"{lo}" if lo == hi else f"{lo}-{hi}"
        parts.append(f"{n} trial{'s' if hi != 1 else ''} per strategy"
                     + ("" if lo >= stats.MIN_TRIALS else f" (verdicts need at least {stats.MIN_TRIALS})"))
    return "This run shows" + (f" ({'; '.join(parts)}):" if parts else ":")


def seg_run_label(strategy: str, ssl: str | None = "none") -> str:
    """The paper's name of a segmentation run: ``SSL-`` in front under s4GAN, polygon-level runs as
    ``Random-Image-Entropy-Polygon`` (``("random", "s4gan")`` -> ``"SSL-Random"``)."""
    from alkit.tasks.polygon_segmentation import polygon_run_label

    with_ssl = ssl not in (None, "none", "") and not (isinstance(ssl, float) and np.isnan(ssl))
    if strategy.endswith("-polygon"):
        return polygon_run_label(strategy, "s4gan" if with_ssl else None)
    return ("SSL-" if with_ssl else "") + label(strategy)


def seg_named(df: pd.DataFrame) -> pd.DataFrame:
    """Segmentation results (raw, SSL and polygon-level runs concatenated) with ``strategy`` replaced
    by the paper's run names (:func:`seg_run_label`); the ``ssl`` column is dropped."""
    out = df.copy()
    ssl = out["ssl"] if "ssl" in out.columns else pd.Series("none", index=out.index)
    out["strategy"] = [seg_run_label(s, v) for s, v in zip(out["strategy"], ssl)]
    return out.drop(columns=[c for c in ("ssl",) if c in out.columns])
