"""Helpers shared by the notebooks' findings: tables in points (and, re-exported from
:mod:`alkit.analysis.naming`, the paper's names of strategies and runs and the "This run shows"
heading). The claims themselves, their tester and the verdict
words live in :mod:`alkit.analysis.claims` (one table of claims, one tester:
replicated / contradicted / inconclusive, with margins).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alkit.analysis import stats
from alkit.analysis.claims import SMOKE, not_tested, preset_now
from alkit.analysis.naming import heading, label, seg_named, seg_run_label, trial_counts  # noqa: F401  (re-exported)


def as_points(table: pd.DataFrame, scale: float = 100.0, digits: int = 2, preset: str | None = None) -> pd.DataFrame:
    """A :func:`~alkit.analysis.stats.compare_to_reference` table for display: gaps and intervals times
    ``scale`` (fractions -> points), rounded. Under the CI-only smoke preset (``preset`` or
    ``$ALKIT_PRESET``) the gaps, intervals and p-values are blanked and the verdict reads "not tested
    (smoke preset: training not converged)": unconverged training shows no gap."""
    out = table.copy()
    cols = [c for c in ("gap", "gap_sd", "ci_low", "ci_high") if c in out.columns]
    out[cols] = out[cols] * scale
    out[cols] = out[cols].round(digits)
    for c in ("p", "p_adj"):
        if c in out.columns:
            out[c] = out[c].round(4)
    if preset_now(preset) == "smoke":
        out[cols + [c for c in ("p", "p_adj") if c in out.columns]] = np.nan
        if "verdict" in out.columns:
            out["verdict"] = not_tested(SMOKE)
    return out


