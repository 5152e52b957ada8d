"""Statistics over trials: mean and spread of curves, area under the budget curve (AUBC), and
paired tests against a reference strategy — so "no better than random" is a computed statement
with its uncertainty. One helper for every notebook.

Data are tidy frames with one row per (strategy, trial, cycle) and columns such as
``strategy, trial, cycle, n_labelled, accuracy`` (``miou`` and ``budget`` for segmentation), plus
optional grouping columns (``augment``, ``ssl``, ``regime``). Trials with the same index share
their initial labelled set (it is seeded by the trial), so every comparison is *paired by trial*:
the per-trial differences are formed first and then tested.

The paper ("Parting with Illusions about Deep Active Learning") reports means over 3 trials
(2 for the ensemble methods). With so few trials the test is the paired t-test over trials, with
a Student-t interval on the mean difference; below :data:`MIN_TRIALS` paired trials no verdict is
given at all. When several strategies are compared with one reference, the p-values of that family
are Holm-adjusted before a verdict is read off. :func:`penalty_matrix` summarises all pairwise
comparisons the way Lüth et al. 2023 ("Navigating the pitfalls of active learning evaluation")
do, after Ash et al. 2020 (BADGE); by default an entry is the share of all comparisons won (alkit's
normalisation), ``normalise="settings"`` gives Ash et al.'s published sum of wins / checkpoints
per setting (see its docstring).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats as sps

GROUP = ["strategy"]

#: Fewest paired trials for which a test (and so a verdict) is made.
MIN_TRIALS = 3
#: Default confidence level of the intervals; the test level is ``1 - DEFAULT_LEVEL``.
DEFAULT_LEVEL = 0.95

_AT = ("last", "cycle", "aubc")
# Differences that vary by less than this across trials count as equal: metrics stored as float32
# (k / n_test) differ from one another by ~1e-8 when the number of test items is the same.
_FLAT = 1e-7


def _groups(df: pd.DataFrame, by) -> list[str]:
    by = [by] if isinstance(by, str) else list(by or GROUP)
    return [c for c in by if c in df.columns]


def _by_list(df: pd.DataFrame, by, exclude=()) -> list[str]:
    """``by`` as a list of columns (strict: a named column must exist)."""
    by = [by] if isinstance(by, str) else list(by or [])
    missing = [c for c in by if c not in df.columns]
    if missing:
        raise ValueError(f"grouping columns {missing} are not in the frame")
    return [c for c in by if c not in exclude]


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return level


def _default_x(df: pd.DataFrame, x) -> str:
    if x is not None:
        return x
    for c in ("n_labelled", "budget", "cycle"):
        if c in df.columns:
            return c
    raise ValueError("no budget column (n_labelled, budget or cycle) to integrate over")


# --------------------------------------------------------------------------- curves and AUBC


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
    ``x`` range, i.e. the average performance across the budget (same units as ``y``).

    Columns: ``*by, trial, aubc`` (one row per group and trial)."""
    g = _groups(df, by) + ["trial"]
    rows = []
    for key, part in df.groupby(g):
        part = part.sort_values(x)
        xs, ys = part[x].to_numpy(float), part[y].to_numpy(float)
        width = xs[-1] - xs[0]
        area = float(np.trapezoid(ys, xs) / width) if width > 0 else float(ys.mean())
        rows.append(dict(zip(g, key if isinstance(key, tuple) else (key,)), aubc=area))
    return pd.DataFrame(rows, columns=g + ["aubc"])


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
    ``strategy`` (e.g. ``augment`` or ``ssl``); the reference is matched within each of them.

    Columns: ``*by, strategy, at, gap, gap_std, n, gap_sem`` (descriptive only; for a test use
    :func:`compare_to_reference`)."""
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
    """Gap to the reference at each group's last cycle (see :func:`gap_to_reference`).

    Deprecated: descriptive only (mean, std, sem); use ``compare_to_reference(df, at="last")``,
    which adds the paired t-test, the t-interval and a verdict."""
    gaps = gap_to_reference(df, y, reference, by)
    last = gaps.groupby([c for c in gaps.columns if c not in ("cycle", "gap", "gap_std", "n", "gap_sem")])["cycle"].transform("max")
    return gaps[gaps["cycle"] == last].reset_index(drop=True)


def verdict(gap: float, sem: float, k: float = 2.0, n: int | None = None) -> str:
    """Words for a gap with its standard error: 'above', 'below' or 'indistinguishable from'
    the reference, using a +-``k`` sem band; with ``n`` < :data:`MIN_TRIALS` trials it returns
    ``"too few trials (n=...) for a verdict"``.

    Deprecated: a +-2 sem band is not a 95 % interval with 3 trials (the t quantile with 2 degrees
    of freedom is 4.3), and it does not correct for several strategies. Use
    :func:`compare_to_reference` (paired t-test, Holm adjustment) and :func:`verdict_words`."""
    if n is not None and n < MIN_TRIALS:
        return _too_few(n)
    if gap - k * sem > 0:
        return "above"
    if gap + k * sem < 0:
        return "below"
    return "indistinguishable from"


# --------------------------------------------------------------------------- tests


def _alpha(level: float) -> float:
    """Test level ``1 - level``, rounded so that 1 - 0.95 is exactly 0.05 (not 0.05000000000000004)."""
    return round(1.0 - level, 12)


def _too_few(n) -> str:
    return f"too few trials (n={int(n)}) for a verdict"


def _t_summary(n, mean, sd, level):
    """Vectorised paired t-test from per-group ``n``, mean and sd of the differences.

    Returns ``(ci_low, ci_high, p)`` arrays; NaN where ``n < MIN_TRIALS``, and NaN where
    ``sd == 0`` (no spread to test against: see :func:`paired_test`)."""
    n = np.asarray(n, float)
    mean = np.asarray(mean, float)
    sd = np.asarray(sd, float)
    ok = n >= MIN_TRIALS
    df_ = np.where(ok, n - 1, 1.0)
    se = np.where(ok, sd / np.sqrt(np.where(ok, n, 1.0)), np.nan)
    q = sps.t.ppf(0.5 + level / 2, df_)
    low = np.where(ok, mean - q * se, np.nan)
    high = np.where(ok, mean + q * se, np.nan)
    degenerate = ok & (sd <= _FLAT)
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = np.where(ok & ~degenerate, mean / np.where(degenerate | ~ok, 1.0, se), 0.0)
    p = 2 * sps.t.sf(np.abs(tstat), df_)
    p = np.where(ok & ~degenerate, p, np.nan)
    low = np.where(degenerate, np.nan, low)
    high = np.where(degenerate, np.nan, high)
    return low, high, p


def paired_test(gaps, level: float = DEFAULT_LEVEL) -> dict:
    """Paired two-sided one-sample t-test of per-trial differences against 0.

    ``gaps``: 1-D array of paired differences, one per trial (NaNs are dropped). Returns a dict
    with ``n``, ``gap`` (mean), ``gap_sd`` (sample sd, ddof=1; NaN for n=1), ``ci_low``,
    ``ci_high`` (Student-t interval at ``level`` with n-1 degrees of freedom: mean +- t * sd/sqrt(n))
    and ``p`` (two-sided; equal to ``scipy.stats.ttest_1samp(gaps, 0).pvalue``).

    For n < :data:`MIN_TRIALS` the interval and p are NaN (no verdict). If all differences are
    equal (sd = 0) the t statistic is undefined, and the interval and p are NaN too (no warning):
    metrics are discrete (one test image is 1/540 of digits' accuracy), so three equal gaps happen
    by chance and a zero spread is not a zero uncertainty. :func:`verdict_words` then says
    "indistinguishable from": never "above"/"below" without a measured spread.
    """
    level = _check_level(level)
    g = np.asarray(gaps, float).ravel()
    g = g[~np.isnan(g)]
    n = g.size
    mean = float(g.mean()) if n else np.nan
    if n >= 2:
        sd = 0.0 if np.ptp(g) <= _FLAT else float(g.std(ddof=1))
    else:
        sd = np.nan
    low, high, p = _t_summary([n], [mean], [sd], level)
    return dict(n=n, gap=mean, gap_sd=sd, ci_low=float(low[0]), ci_high=float(high[0]), p=float(p[0]))


def holm(p) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (Holm 1979).

    ``p``: 1-D array; NaNs take no part in the family and stay NaN. With the m finite p-values
    sorted ascending, ``p_adj[(i)] = max_{k<=i} min(1, (m - k) * p[(k)])`` (k from 0). Rejecting
    where ``p_adj < alpha`` controls the family-wise error rate at alpha."""
    p = np.asarray(p, float).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        m = order.size
        adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
        out[order] = np.minimum(adj, 1.0)
    return out


def _holm_by_family(table: pd.DataFrame, family: list[str]) -> np.ndarray:
    """Holm-adjusted ``table.p`` within each family (vectorised over many families)."""
    p = table["p"].to_numpy(float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    t = table.loc[ok, family].copy()
    t["_p"] = p[ok]
    t["_i"] = np.flatnonzero(ok)
    t = t.sort_values(family + ["_p"], kind="stable") if family else t.sort_values("_p", kind="stable")
    if family:
        grp = t.groupby(family, sort=False, dropna=False)
        m = grp["_p"].transform("size").to_numpy()
        rank = grp.cumcount().to_numpy()
        t["_a"] = (m - rank) * t["_p"].to_numpy()
        adj = t.groupby(family, sort=False, dropna=False)["_a"].cummax().to_numpy()
    else:
        m = len(t)
        adj = np.maximum.accumulate((m - np.arange(m)) * t["_p"].to_numpy())
    out[t["_i"].to_numpy()] = np.minimum(adj, 1.0)
    return out


def verdict_words(gap: float, p_adj: float, n: int, level: float = DEFAULT_LEVEL) -> str:
    """The verdict of a (possibly adjusted) paired test: exactly one of ``"above"``, ``"below"``,
    ``"indistinguishable from"`` or ``"too few trials (n=N) for a verdict"`` (when
    n < :data:`MIN_TRIALS`). Above/below only if ``p_adj < 1 - level``; the sign of ``gap`` picks
    which."""
    if n is None or np.isnan(n) or n < MIN_TRIALS:
        return _too_few(0 if n is None or np.isnan(n) else n)
    if p_adj is not None and not np.isnan(p_adj) and p_adj < _alpha(level) and gap != 0:
        return "above" if gap > 0 else "below"
    return "indistinguishable from"


def _per_trial_values(df, y, units, at, x):
    """Per-trial values of ``y`` with the unit columns ``units`` (which include ``trial``) and,
    unless ``at == 'aubc'``, ``cycle``. One row per unit is required."""
    if at not in _AT:
        raise ValueError(f"at must be one of {_AT}, got {at!r}")
    if at == "aubc":
        per = aubc_per_trial(df, y, _default_x(df, x), by=[c for c in units if c != "trial"])
        return per.rename(columns={"aubc": y})
    keys = units + ["cycle"]
    vals = df[keys + [y]]
    dup = vals.duplicated(keys)
    if dup.any():
        raise ValueError(f"more than one row per {keys}; e.g. {vals[dup].iloc[0][keys].to_dict()}")
    return vals


def _paired_table(pairs, group, family, at, level, adjust, family_label):
    """Test every group of the paired differences ``pairs._d``; Holm within ``family``."""
    level = _check_level(level)
    if adjust not in ("holm", None):
        raise ValueError(f"adjust must be 'holm' or None, got {adjust!r}")
    if at == "last" and len(pairs):
        last = pairs.groupby(group, dropna=False)["cycle"].transform("max")
        pairs = pairs[pairs["cycle"] == last]
    cols = group + (["cycle"] if at != "aubc" else [])
    agg = pairs.groupby(cols, dropna=False)["_d"].agg(["count", "mean", "std", "min", "max"]).reset_index()
    n = agg["count"].to_numpy(float)
    sd = np.where(agg["min"].to_numpy() == agg["max"].to_numpy(), np.where(n >= 2, 0.0, np.nan), agg["std"].to_numpy(float))
    low, high, p = _t_summary(n, agg["mean"], sd, level)
    out = agg[cols].copy()
    out["n"] = agg["count"].astype(int)
    out["gap"] = agg["mean"].astype(float)
    out["gap_sd"] = sd
    out["ci_low"], out["ci_high"], out["p"] = low, high, p
    fam = family + (["cycle"] if at == "cycle" else [])
    out["p_adj"] = _holm_by_family(out, fam) if adjust == "holm" else out["p"]
    out["verdict"] = [verdict_words(g, pa, k, level) for g, pa, k in zip(out["gap"], out["p_adj"], out["n"])]
    out = out.reset_index(drop=True)
    # the family sizes that actually entered the adjustment
    tested = out[out["n"] >= MIN_TRIALS]
    sizes = tested.groupby(fam, dropna=False).size() if fam else pd.Series([len(tested)])
    out.attrs.update(level=level, adjust=adjust, at=at,
                     method=_method_line(level, adjust, at, sizes, family, family_label))
    return out


def _method_line(level, adjust, at, sizes, family, family_label):
    pct = f"{level * 100:g} %"
    where = {"last": "at the last cycle", "cycle": "at every cycle", "aubc": "of the per-trial AUBC"}[at]
    alpha = f"{_alpha(level):g}"
    head = (f"paired t-test over trials ({where}), {pct} t-interval (unadjusted), "
            f"no verdict below {MIN_TRIALS} paired trials")
    if adjust is None or len(sizes) == 0:
        return head + f", verdict at unadjusted p < {alpha}"
    lo, hi = int(sizes.min()), int(sizes.max())
    k = f"{hi}" if lo == hi else f"up to {hi}"
    if hi == 1:
        family_label = family_label[:-3] + "y" if family_label.endswith("ies") else family_label[:-1]
    per = " x ".join(family + (["cycle"] if at == "cycle" else []))
    return head + (f", verdict at Holm-adjusted p < {alpha} across {k} {family_label}"
                   + (f" per {per}" if per else ""))


def compare_to_reference(df: pd.DataFrame, y: str = "accuracy", reference: str = "random", by=None,
                         at: str = "last", level: float = DEFAULT_LEVEL, adjust: str | None = "holm",
                         x: str | None = None) -> pd.DataFrame:
    """Paired t-test of every strategy against the ``reference`` strategy.

    ``df``: tidy results, one row per (``*by``, strategy, trial, cycle) with column ``y``. Per trial
    (matched within the ``by`` columns and the cycle) the difference ``y(strategy) - y(reference)``
    is formed; :func:`paired_test` is applied per (``*by``, strategy[, cycle]).

    ``at``: ``"last"`` — each (``*by``, strategy)'s last cycle that has a paired reference row;
    ``"cycle"`` — every cycle; ``"aubc"`` — the per-trial AUBC (:func:`aubc_per_trial`, over ``x``,
    default ``n_labelled`` or ``budget``) instead of one cycle.

    ``adjust="holm"`` Holm-adjusts the p-values across the strategies within each (``*by``[, cycle])
    family; rows with n < :data:`MIN_TRIALS` take no part and get the "too few trials" verdict.
    ``adjust=None`` uses the raw p. The verdict is "above"/"below" only if ``p_adj < 1 - level``.

    Returns columns ``*by, strategy, [cycle], n, gap, gap_sd, ci_low, ci_high, p, p_adj, verdict``
    (gap in the units of ``y``; reference rows excluded; strategies without any paired trial are
    absent). ``attrs["method"]`` describes the procedure in one line (see :func:`describe_method`).
    """
    extra = _by_list(df, by, exclude=("strategy",))
    units = extra + ["strategy", "trial"]
    vals = _per_trial_values(df, y, units, at, x)
    match = [c for c in vals.columns if c not in ("strategy", y)]
    ref = vals[vals["strategy"] == reference].drop(columns="strategy").rename(columns={y: "_ref"})
    if ref.empty:
        raise ValueError(f"no rows for the reference strategy {reference!r}")
    pairs = vals[vals["strategy"] != reference].merge(ref, on=match, how="inner")
    pairs["_d"] = pairs[y] - pairs["_ref"]
    out = _paired_table(pairs, extra + ["strategy"], extra, at, level, adjust, "strategies")
    out.attrs.update(reference=reference, y=y)
    return out


def compare_groups(df: pd.DataFrame, y: str, column: str, a, b, by=None, at: str = "last",
                   level: float = DEFAULT_LEVEL, adjust: str | None = "holm",
                   x: str | None = None) -> pd.DataFrame:
    """Paired t-test of ``y`` between the rows where ``column == a`` and those where ``column == b``,
    per strategy — e.g. ``column="augment", a="paper", b="none"`` gives the augmentation lift of
    every strategy, ``column="ssl", a="uda", b="none"`` the gain from semi-supervised training.

    Rows are paired by trial, strategy, cycle and the other ``by`` columns; the difference is
    ``y(a) - y(b)``. ``at``, ``level``, ``adjust`` and ``x`` as in :func:`compare_to_reference`; Holm
    runs across the strategies within each (``*by``[, cycle]) family.

    Returns the columns of :func:`compare_to_reference`: ``*by, strategy, [cycle], n, gap, gap_sd,
    ci_low, ci_high, p, p_adj, verdict`` (``verdict`` reads "a is <verdict> b")."""
    if column not in df.columns:
        raise ValueError(f"column {column!r} is not in the frame")
    extra = _by_list(df, by, exclude=(column, "strategy"))
    group = extra + (["strategy"] if column != "strategy" else [])
    vals = _per_trial_values(df, y, group + [column, "trial"], at, x)
    match = [c for c in vals.columns if c not in (column, y)]
    left = vals[vals[column] == a].drop(columns=column)
    right = vals[vals[column] == b].drop(columns=column).rename(columns={y: "_b"})
    if left.empty or right.empty:
        raise ValueError(f"no rows with {column} == {a!r}" if left.empty else f"no rows with {column} == {b!r}")
    pairs = left.merge(right, on=match, how="inner")
    pairs["_d"] = pairs[y] - pairs["_b"]
    label = "strategies" if column != "strategy" else "comparisons"
    out = _paired_table(pairs, group, extra, at, level, adjust, label)
    out.attrs.update(reference=b, compared=a, column=column, y=y)
    return out


def describe_method(table: pd.DataFrame) -> str:
    """The one-line method description of a :func:`compare_to_reference`, :func:`compare_groups`
    or :func:`penalty_matrix` result (its ``attrs["method"]``)."""
    try:
        return table.attrs["method"]
    except KeyError:
        raise ValueError("this table carries no method description (attrs['method'])") from None


def _fmt_p(p: float, alpha: float) -> str:
    """p with 2 significant digits, more if rounding would cross ``alpha``."""
    if p < 0.001:
        return "< 0.001"
    for digits in range(2, 8):
        s = f"{p:.{digits}g}"
        if (float(s) < alpha) == (p < alpha):
            return "= " + s
    return f"= {p!r}"


def describe(row: pd.Series, y_name: str = "points", scale: float = 100.0, reference_label: str = "Random",
             label: str | None = None, level: float | None = None, adjust: str | None | bool = False) -> str:
    """One sentence for a row of :func:`compare_to_reference` / :func:`compare_groups`, e.g.
    ``"Entropy: +1.2 points [95 % CI -0.3, +2.7] vs Random over 3 paired trials (Holm p = 0.41):
    indistinguishable from Random"``; with n < 3 no interval or p is printed and the verdict is
    "too few trials (n=2) for a verdict".

    ``scale`` multiplies gap and interval (100: fractions to points). ``label`` defaults to the
    row's strategy. ``level`` and ``adjust`` are read from the table's ``attrs`` (which pandas
    carries onto rows taken with ``iloc``/``loc``/``iterrows``); pass them for rows without attrs
    (defaults then: :data:`DEFAULT_LEVEL`, Holm)."""
    attrs = getattr(row, "attrs", {}) or {}
    level = _check_level(level if level is not None else attrs.get("level", DEFAULT_LEVEL))
    if adjust is False:
        adjust = attrs.get("adjust", "holm")
    name = label if label is not None else str(row["strategy"])
    n = int(row["n"])
    gap = float(row["gap"]) * scale
    trials = f"{n} paired trial{'s' if n != 1 else ''}"
    words = verdict_words(float(row["gap"]), float(row["p_adj"]), n, level)
    if n < MIN_TRIALS:
        return f"{name}: {gap:+.1f} {y_name} vs {reference_label} over {trials}: {words}"
    if np.isnan(float(row["ci_low"])):  # equal gaps in every trial: nothing to test against
        return (f"{name}: {gap:+.1f} {y_name} vs {reference_label} over {trials}, the same in every trial "
                f"(no spread, no test): {words if words != 'indistinguishable from' else 'no verdict'}")
    ci = f"[{level * 100:g} % CI {float(row['ci_low']) * scale:+.1f}, {float(row['ci_high']) * scale:+.1f}]"
    which = "Holm p" if adjust == "holm" else "p"
    p = _fmt_p(float(row["p_adj"]), _alpha(level))
    tail = words if words not in ("above", "below", "indistinguishable from") else f"{words} {reference_label}"
    return f"{name}: {gap:+.1f} {y_name} {ci} vs {reference_label} over {trials} ({which} {p}): {tail}"


# --------------------------------------------------------------------------- penalty matrix


def penalty_matrix(df: pd.DataFrame, y: str = "accuracy", settings=None, at: str = "cycle",
                   level: float = DEFAULT_LEVEL, x: str | None = None, normalise: str = "comparisons") -> pd.DataFrame:
    """Pairwise penalty matrix (Ash et al. 2020, BADGE; as used by Lüth et al. 2023, "Navigating
    the pitfalls of active learning evaluation").

    For every setting (each combination of the ``settings`` columns, e.g. ``["augment"]``) and
    every cycle (``at="cycle"``), each setting's last cycle (``"last"``) or the per-trial AUBC
    (``"aubc"``), a paired two-sided t-test (:func:`paired_test`, paired by trial) is run between
    every pair of strategies. Entry ``[i, j]`` = (number of comparisons in which strategy ``i`` is
    significantly better than ``j``, p < 1 - level) / (number of comparisons made for that pair),
    so it lies in [0, 1]. Comparisons with fewer than :data:`MIN_TRIALS` paired trials are skipped;
    an entry with no comparison left is NaN. The diagonal is NaN (a strategy is not compared with
    itself). No multiplicity adjustment (as in the original).

    **Normalisation** (``normalise``). alkit's default, ``"comparisons"``, pools every comparison
    of every setting and divides the wins by their number: each comparison weighs the same, so a
    setting with more cycles weighs more, and an entry is a share in [0, 1]. Ash et al.'s published
    code (JordanAsh/badge, ``scripts/agg_results.py``, ``plot_matrix``) adds ``1 / L_s`` per win,
    where ``L_s`` is the number of checkpoints of setting ``s``, and never divides by the number of
    settings: an entry is ``sum_s wins_s / L_s`` in [0, number of settings], each setting weighing
    the same; ``normalise="settings"`` computes that (``L_s`` = the setting's cycles with
    ``at="cycle"``, 1 with ``"last"``/``"aubc"``; pairs never compared and the diagonal 0, and
    ``"beaten"`` the column mean over all ``k`` rows, diagonal included, as the original's
    ``col_avg``). What alkit does not reproduce from that script: its checkpoints are the
    labelled-set sizes 100 + 2^j x batch up to where Random reaches 99 % of its final accuracy
    (alkit: every cycle), its t-test uses the first min(n, 5) trials and p < 0.05 (alkit: all
    paired trials, p < 1 - ``level``), and it compares pairs with 2 trials (alkit: >= ``MIN_TRIALS``).

    Returns a strategies x strategies DataFrame (rows: winner, columns: loser). ``attrs``:
    ``"comparisons"`` (DataFrame, the number of comparisons per pair), ``"beaten"`` (Series, the
    column mean: how often each strategy is beaten on average), ``"method"``, ``"normalise"``.
    """
    level = _check_level(level)
    if at not in _AT:
        raise ValueError(f"at must be one of {_AT}, got {at!r}")
    if normalise not in ("comparisons", "settings"):
        raise ValueError(f"normalise must be 'comparisons' or 'settings', got {normalise!r}")
    sett = _by_list(df, settings, exclude=("strategy",))
    vals = _per_trial_values(df, y, sett + ["strategy", "trial"], at, x)
    if at == "last":
        last = vals.groupby(sett, dropna=False)["cycle"].transform("max") if sett else vals["cycle"].max()
        vals = vals[vals["cycle"] == last]
    unit = sett + (["cycle"] if at != "aubc" else [])
    names = sorted(vals["strategy"].unique())
    k = len(names)
    wins = np.zeros((k, k))
    count = np.zeros((k, k), dtype=int)
    alpha = _alpha(level)
    parts = vals.groupby(unit, dropna=False) if unit else [((), vals)]
    checkpoints = {}  # L_s per setting (a tuple of the settings' values): its cycles
    if normalise == "settings" and at == "cycle":
        for key, part in (vals.groupby(sett, dropna=False) if sett else [((), vals)]):
            checkpoints[tuple(key) if isinstance(key, tuple) else (key,)] = part["cycle"].nunique()
    for key, part in parts:
        key = tuple(key) if isinstance(key, tuple) else (key,)
        weight = 1.0 / checkpoints[key[:len(sett)]] if checkpoints else 1.0
        wide = part.pivot(index="trial", columns="strategy", values=y).reindex(columns=names)
        v = wide.to_numpy(float)
        for i, j in itertools.combinations(range(k), 2):
            d = v[:, i] - v[:, j]
            d = d[~np.isnan(d)]
            if d.size < MIN_TRIALS:
                continue
            res = paired_test(d, level)
            count[i, j] += 1
            count[j, i] += 1
            if res["p"] < alpha:
                if res["gap"] > 0:
                    wins[i, j] += weight
                elif res["gap"] < 0:
                    wins[j, i] += weight
    if normalise == "settings":  # Ash et al.: sum over settings of wins / L_s, zeros where none
        P = wins
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            P = np.where(count > 0, wins / np.maximum(count, 1), np.nan)
        np.fill_diagonal(P, np.nan)
    out = pd.DataFrame(P, index=pd.Index(names, name="better"), columns=pd.Index(names, name="worse"))
    where = {"last": "the last cycle", "cycle": "every cycle", "aubc": "the per-trial AUBC"}[at]
    per = " x ".join(sett) if sett else "the single setting"
    out.attrs.update(
        comparisons=pd.DataFrame(count, index=out.index, columns=out.columns),
        beaten=out.mean(axis=0, skipna=True),
        level=level, at=at, normalise=normalise,
        method=(f"pairwise penalty matrix: paired two-sided t-test over trials between every pair of "
                f"strategies at {where} per {per}, significant at unadjusted p < {alpha:.3g}; entry = "
                + (f"share of the comparisons with >= {MIN_TRIALS} paired trials that the row strategy wins"
                   if normalise == "comparisons" else
                   "sum over settings of the row strategy's wins / the setting's checkpoints (Ash et al. 2020)")))
    return out


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


# --------------------------------------------------------------------------- power and trials


def _one_sided_alpha(level: float) -> float:
    """The one-sided error of each end of a two-sided ``level`` interval: ``(1 - level) / 2``."""
    return _alpha(_check_level(level)) / 2


def min_detectable(sd: float, n: int, level: float = DEFAULT_LEVEL, power: float = 0.8) -> float:
    """Smallest true gap (in the units of ``sd``) that ``n`` paired trials with per-trial sd ``sd``
    detect with probability ``power``: the gap mu at which the lower end of the two-sided ``level``
    Student-t interval lies above 0 with probability ``power``.

    The interval's lower end exceeds 0 iff ``t = mean / (sd / sqrt(n)) > t_{1-a, n-1}`` with
    ``a = (1 - level) / 2``; under a true gap mu, t follows the noncentral t with n-1 degrees of
    freedom and noncentrality ``mu * sqrt(n) / sd`` (``scipy.stats.nct``). The noncentrality at which
    ``nct.sf(t_{1-a}) == power`` is found with ``scipy.optimize.brentq``. NaN for n < 2 or a
    non-finite sd; 0 for sd == 0. Scalar in, scalar out."""
    from scipy.optimize import brentq

    n = int(n)
    sd = float(sd)
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 0.0
    if not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power}")
    dof = n - 1
    crit = sps.t.ppf(1 - _one_sided_alpha(level), dof)
    f = lambda nc: sps.nct.sf(crit, dof, nc) - power  # noqa: E731
    hi = crit + 10.0
    while f(hi) < 0:
        hi *= 2
    nc = brentq(f, 0.0, hi, xtol=1e-10)
    return float(nc * sd / np.sqrt(n))


def half_width(sd: float, n: int, level: float = DEFAULT_LEVEL) -> float:
    """Half-width ``t_{1-a, n-1} * sd / sqrt(n)`` (``a = (1 - level) / 2``) of the Student-t interval
    of a mean over ``n`` trials with sd ``sd``; NaN for n < 2."""
    n = int(n)
    if n < 2:
        return float("nan")
    return float(sps.t.ppf(1 - _one_sided_alpha(level), n - 1) * float(sd) / np.sqrt(n))


def trials_needed(sd: float, delta: float, level: float = DEFAULT_LEVEL, n_max: int = 1000) -> int | None:
    """Trials that decide a claim with margin ``delta`` whatever the true gap: the smallest n >= 2
    with ``t_{1-a, n-1} * sd / sqrt(n) < delta / 2`` (``a = (1 - level) / 2``), i.e. a ``level``
    interval narrower than ``delta``. Such an interval cannot contain both 0 and ``delta``, so it lies
    above 0 or below ``delta``: the claim (either direction) is replicated or contradicted.

    This is the "always decides" rule, not a power rule: with ``sd`` the true per-trial sd it decides
    every claim; with the observed sd (an estimate) it is the planning number. ``sd`` and ``delta``
    in the same units. None if not reached by ``n_max``; 2 when ``sd == 0``."""
    sd, delta = float(sd), float(delta)
    if delta <= 0:
        raise ValueError(f"delta must be positive, got {delta}")
    if not np.isfinite(sd):
        return None
    ns = np.arange(2, int(n_max) + 1)
    hw = sps.t.ppf(1 - _one_sided_alpha(level), ns - 1) * sd / np.sqrt(ns)
    ok = np.flatnonzero(hw < delta / 2)
    return int(ns[ok[0]]) if ok.size else None


def ssl_random_gaps(raw: pd.DataFrame, ssl: pd.DataFrame, y: str = "accuracy", scale: float = 100.0,
                    level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """SSL-Random against two supervised references at every cycle both frames have (the panel of
    notebook 02 that checks the paper's Sec. 3.2.3 conclusion per SSL method).

    ``raw``: supervised runs (``strategy, trial, cycle, n_labelled, y``), Random and AL strategies;
    ``ssl``: the runs of one SSL method (only its ``random`` rows are used). At each cycle the
    per-trial differences SSL-Random minus the reference are formed (paired by trial, missing
    trials dropped), scaled by ``scale`` (100: points) and tested with :func:`paired_test`. The
    references: ``"best raw AL"``, the non-Random raw strategy with the highest mean ``y`` at that
    cycle (picked after the fact, which favours AL; no row when ``raw`` has no AL strategy), and
    ``"supervised Random"``.

    Returns one row per (reference, cycle): ``reference, against`` (the strategy compared with),
    ``cycle, n_labelled`` (SSL-Random's), ``n, gap, ci_low, ci_high, p`` (points when
    ``scale=100``; NaN interval below :data:`MIN_TRIALS` trials)."""
    s_r = ssl[ssl.strategy == "random"]
    al = raw[raw.strategy != "random"]
    rows = []
    for ref_name in ("best raw AL", "supervised Random"):
        for c in sorted(set(s_r.cycle) & set(raw.cycle)):
            at = raw[raw.cycle == c]
            if ref_name == "best raw AL":
                candidates = al[al.cycle == c]
                if candidates.empty:
                    continue
                against = candidates.groupby("strategy")[y].mean().idxmax()
            else:
                against = "random"
            ref = at[at.strategy == against]
            mine = s_r[s_r.cycle == c]
            d = (mine.set_index("trial")[y] - ref.set_index("trial")[y]).dropna() * scale
            t = paired_test(d.to_numpy(), level)
            rows.append(dict(reference=ref_name, against=against, cycle=c, n_labelled=int(mine.n_labelled.iloc[0]),
                             n=t["n"], gap=t["gap"], ci_low=t["ci_low"], ci_high=t["ci_high"], p=t["p"]))
    return pd.DataFrame(rows, columns=["reference", "against", "cycle", "n_labelled", "n", "gap", "ci_low",
                                       "ci_high", "p"])


def gap_line(a, b, what: str, scale: float = 100.0, unit: str = "points", over: str = "seeds",
             level: float = DEFAULT_LEVEL) -> str:
    """One printed line: the paired gap ``a - b`` (per-seed values of two recipes, same order),
    its mean and Student-t interval from :func:`paired_test`, in ``unit`` after multiplying by
    ``scale``; below :data:`MIN_TRIALS` seeds the mean only, saying that an interval needs more.
    Used by the solution notebooks that train a few models by hand, one per seed."""
    t = paired_test(scale * (np.asarray(a, float) - np.asarray(b, float)), level)
    if t["n"] < MIN_TRIALS:
        return (f"{what}: {t['gap']:+.1f} {unit} over {t['n']} seed(s): too few {over} for an interval "
                f"(need {MIN_TRIALS})")
    return (f"{what}: {t['gap']:+.1f} {unit}, {100 * level:.0f} % interval [{t['ci_low']:+.1f}, "
            f"{t['ci_high']:+.1f}] over {t['n']} {over}")
