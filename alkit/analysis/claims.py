"""The paper's claims as one table, judged by one tester: replicated, contradicted or inconclusive.

Every claim of *Parting with Illusions about Deep Active Learning* that a notebook tests is one
:class:`ClaimSpec` in :data:`CLAIMS`: its text, paper section/figure, notebook, the subset of results
it reads, the comparison (``build``: the paired per-trial differences of each *part*), the
quantifier over its parts and the practical margin delta (:func:`margin`, set in ONE place per
dataset and metric in :data:`MARGINS`; a spec may name its own). :func:`report` prints a notebook's
"This run shows" lines and returns one verdict row per claim; the rows also go to the verdict board
(``outputs/verdicts/<notebook>.json``, see :mod:`alkit.analysis.board`).

The rules (paired trials, Student-t interval at ``level``, 95 % by default; ``a = (1 - level) / 2``
is the error of each end of the interval, and each rule below is equivalent to a one-sided t-test
at ``a``):

- a part "X beats Y" with gap mu: *above 0* when the interval's lower end is above 0
  (``p_pos = P(T >= t_obs)`` under mu = 0 is below a), *below the margin* when its upper end is
  below +delta (``p_neg`` under mu = delta below a).
- The union side. Deciding "some part is below the margin" (or "above 0") from m parts is a union
  of m tests: with each at a, P(it fires | no part is) could reach m * a. It is decided by Holm's
  step-down over the claim's own parts at the family level ``2 a`` (5 % with the default 95 %
  intervals: the error rate the project allows each wrong verdict), and no step at a level above a:
  step i of the sorted p-values compares with ``min(a, 2 a / (m - i))``. So a part counted on the
  union side always has its own 95 % interval below the margin (above 0), as printed; with two
  parts the first step is exactly that interval, with more parts it is stricter; one part: a.
  Before 2026-12-06 the family level was a, which spent half of the allowed 5 %.
- ``"all"`` ("every X beats Y"; one part = "X beats Y"): **replicated** if every part is above 0,
  each at a (intersection-union test: the claim is false only if some part has mu <= 0, and that
  part alone is above 0 with probability <= a, so no multiplicity correction is needed or used);
  **contradicted** if some part is below the margin on the union side (above). Otherwise
  **inconclusive**.
- ``"none"`` ("nothing beats Y" = every X does not beat Y; one part = "X does not beat Y"):
  **replicated** if every part lies below +delta (non-superiority, each at a: intersection-union);
  **contradicted** if some part lies above 0 on the union side. A negative claim is never
  replicated while an interval reaches past its margin.
- ``"most"`` ("most X beat Y", Fig. 7): **replicated** if more than half of the parts are above 0
  after Holm at a (Holm controls the chance that any part with mu <= 0 is counted at a, and a false
  claim — at most half with a real gain — needs such a part to reach a majority); **contradicted**
  if at least half (rounded up) are below the margin by the union side's Holm (a true claim — more
  than half with mu >= delta — needs a true part wrongly counted). Without Holm the count could be
  inflated by chance and the error rate would grow with the number of parts.
- A part that must hold "at every cycle" (notebook 03: "consistently") is an intersection over
  the cycles: above 0 if it is at every cycle (max of p_pos), below the margin if it is at some
  cycle after Bonferroni over the cycles.

Precedence: when the replication and the contradiction rule both fire (a gap above 0 but below
the margin), the claim's own rule wins and the line says the gap is smaller than the margin.
These error rates (P(replicated | claim false) <= a and P(contradicted | claim true) <= 2a = 5 %)
are checked by simulation in ``tests/test_claims.py``. Claims with no margin in the paper
("almost reaches") print their interval and stay "not tested (no margin)". Fewer than
:data:`alkit.analysis.stats.MIN_TRIALS` paired trials: "too few trials (n=...)". The CI-only smoke
preset prints no gap and no verdict: "not tested (smoke preset: training not converged)".

Every inconclusive line adds the smallest gap this run could have detected (80 % power,
:func:`alkit.analysis.stats.min_detectable`) and the trials that would decide the claim at its
margin (:func:`alkit.analysis.stats.trials_needed`: the interval half-width rule, at the
Bonferroni level over the claim's parts so that both sides of every part are decided).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats as sps

from alkit.analysis import stats
from alkit.analysis.naming import heading, label, seg_named, seg_run_label

REPLICATED = "replicated"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
SMOKE = "smoke preset: training not converged"
OUTCOMES = (REPLICATED, CONTRADICTED, INCONCLUSIVE)

#: The practical margin delta: the smallest gap that matters, per (dataset, metric), as a fraction
#: (0.01 = 1 point). digits: 1 accuracy point; shapes: 2 mIoU points (a noisier metric on 150
#: synthetic scenes). At paper scale the paper's own numbers: CIFAR 1 point (the paper calls the
#: 0.4 % spread of the augmented strategies insignificant, Sec. 3.2.2), VOC 1 mIoU point (its
#: smallest reported effect: Entropy +1.1 mIoU, Sec. 4.4.1).
MARGINS = {
    ("digits", "accuracy"): 0.01,
    ("cifar10", "accuracy"): 0.01,
    ("cifar100", "accuracy"): 0.01,
    ("shapes", "miou"): 0.02,
    ("voc", "miou"): 0.01,
}
DEFAULT_MARGIN = {"accuracy": 0.01, "miou": 0.02}


def margin(dataset: str | None, metric: str) -> float:
    """The practical margin delta of ``metric`` on ``dataset`` (fraction; :data:`MARGINS`, else the
    metric's default)."""
    return MARGINS.get((str(dataset), metric), DEFAULT_MARGIN.get(metric, 0.01))


def not_tested(reason: str) -> str:
    """Verdict for a claim this run cannot test, with the reason."""
    return f"not tested ({reason})"


def too_few(n: int) -> str:
    """Verdict when fewer than :data:`alkit.analysis.stats.MIN_TRIALS` paired trials are available."""
    return f"too few trials (n={int(n)})"


class NotTested(Exception):
    """Raised by a claim's ``build`` when this run cannot test it (the message is the reason)."""


# --------------------------------------------------------------------------- the vectorised core


def part_pvalues(mean, sd, n, delta):
    """One-sided p-values of paired parts (arrays broadcast together): ``p_pos`` for "gap > 0"
    (small when the interval lies above 0) and ``p_neg`` for "gap < delta" (small when it lies below
    +delta), from the Student-t distribution with n-1 degrees of freedom. NaN (no spread, n < 2)
    becomes 1: such a part decides nothing."""
    mean, sd, n = (np.asarray(v, float) for v in (mean, sd, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        se = sd / np.sqrt(n)
        dof = np.maximum(n - 1, 1)
        p_pos = sps.t.sf(mean / se, dof)
        p_neg = sps.t.cdf((mean - delta) / se, dof)
    bad = ~(np.isfinite(se) & (se > 0) & (n >= 2))
    return np.where(bad, 1.0, np.nan_to_num(p_pos, nan=1.0)), np.where(bad, 1.0, np.nan_to_num(p_neg, nan=1.0))


def _holm_count(p, a, cap=None):
    """Number of rejections of Holm's step-down at family level ``a`` along the last axis of ``p``
    (vectorised): step i of the sorted p-values rejects while ``p_(i) < min(cap, a / (m - i))``
    (``cap``: no step above this level; None: no cap)."""
    p = np.sort(np.asarray(p, float), axis=-1)
    m = p.shape[-1]
    thresholds = a / (m - np.arange(m))
    if cap is not None:
        thresholds = np.minimum(thresholds, cap)
    return np.cumprod(p < thresholds, axis=-1).sum(axis=-1)


def union_level(a: float, m: int) -> float:
    """The level at which the union side compares the smallest of ``m`` parts' p-values: Holm's first
    step at family level ``2 a``, never above ``a`` (module docstring)."""
    return min(a, 2.0 * a / max(int(m), 1))


def decide(quantifier: str, p_pos, p_neg, a: float):
    """The claim's outcome from its parts' one-sided p-values (last axis: the m parts; leading axes:
    any number of experiments). ``quantifier``: ``"all"``, ``"none"`` or ``"most"``; ``a``: the level
    of each end of the printed interval (rules in the module docstring). Returns an array of
    :data:`OUTCOMES` strings."""
    p_pos, p_neg = np.asarray(p_pos, float), np.asarray(p_neg, float)
    m = p_pos.shape[-1]
    if quantifier == "all":
        rep = p_pos.max(axis=-1) < a
        con = p_neg.min(axis=-1) < union_level(a, m)  # Holm rejects any iff its first step does
    elif quantifier == "none":
        rep = p_neg.max(axis=-1) < a
        con = p_pos.min(axis=-1) < union_level(a, m)
    elif quantifier == "most":
        rep = _holm_count(p_pos, a) > m / 2
        con = _holm_count(p_neg, 2.0 * a, cap=a) >= math.ceil(m / 2)
    else:
        raise ValueError(f"unknown quantifier {quantifier!r}")
    return np.where(rep, REPLICATED, np.where(con, CONTRADICTED, INCONCLUSIVE))


# --------------------------------------------------------------------------- parts and claims


@dataclass
class Part:
    """One comparison of a claim: per-trial paired differences ``diffs`` (fractions), or for an
    "at every cycle" part a list ``cycles`` of ``(label, diffs)``; ``missing``: why this part could
    not be formed (the claim is then at best contradicted, else not tested)."""

    name: str
    diffs: np.ndarray | None = None
    cycles: list | None = None
    missing: str | None = None


@dataclass(frozen=True)
class ClaimSpec:
    """A row of the claims table. ``build(df, **ctx) -> list[Part]`` forms the paired differences
    (raises :class:`NotTested`); ``quantifier`` in ``"all" | "none" | "most" | "describe"`` (no margin:
    the interval is shown, no verdict); ``subset``: rows of the frame the claim reads;
    ``margin``: a fraction overriding :func:`margin`; ``expand="ssl"``: one claim per SSL method in
    the frame (``{ssl}`` in the text)."""

    key: str
    notebook: str
    text: str
    section: str
    quantifier: str
    build: Callable
    subset: Callable | None = None
    margin: float | None = None
    expand: str | None = None


@dataclass
class Verdict:
    """A judged claim: the printed lines and the board row."""

    lines: list = field(default_factory=list)
    row: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return "\n".join(self.lines)


# --------------------------------------------------------------------------- building blocks


def _per_trial(d: pd.DataFrame, y: str, cycle) -> pd.Series:
    return d[d["cycle"] == cycle].groupby("trial")[y].mean()


def _diff(a: pd.DataFrame, b: pd.DataFrame, y: str, cycle=None) -> np.ndarray:
    """Per-trial ``y(a) - y(b)`` at ``cycle`` (default: the last cycle both ran), paired by trial."""
    if cycle is None:
        common = set(a["cycle"]) & set(b["cycle"])
        if not common:
            return np.array([])
        cycle = max(common)
    return (_per_trial(a, y, cycle) - _per_trial(b, y, cycle)).dropna().to_numpy(float)


def _sel(df, **eq) -> pd.DataFrame:
    mask = np.ones(len(df), bool)
    for col, val in eq.items():
        if col not in df.columns:
            return df.iloc[0:0]
        mask &= (df[col] == val).to_numpy()
    return df[mask]


def _need(cond, reason):
    if not cond:
        raise NotTested(reason)


def _ssl_methods(df) -> list[str]:
    return [m for m in dict.fromkeys(df["ssl"]) if m != "none"] if "ssl" in df.columns else []


_SSL_NAMES = {"uda": "UDA", "fixmatch": "FixMatch", "s4gan": "s4GAN"}


# ---- 00 / run_auto: each strategy vs Random


def b_vs_reference(df, y, reference="random", strategy=None, **_):
    """Each strategy (or ``strategy``) minus ``reference`` at the last cycle, within each setting."""
    _need(reference in set(df["strategy"]), f"no {label(reference)} runs")
    settings = [c for c in ("augment", "ssl", "regime") if c in df.columns and df[c].nunique() > 1]
    parts = []
    for key, part in (df.groupby(settings) if settings else [((), df)]):
        key = key if isinstance(key, tuple) else (key,)
        where = ", ".join(f"{c}={v}" for c, v in zip(settings, key))
        ref = _sel(part, strategy=reference)
        for s in dict.fromkeys(part["strategy"]):
            if s == reference or (strategy is not None and s != strategy):
                continue
            name = f"{label(s)} vs {label(reference)}" + (f" ({where})" if where else "")
            parts.append(Part(name, _diff(_sel(part, strategy=s), ref, y)))
    _need(parts, f"no strategy besides {label(reference)}")
    return parts


# ---- 01: augmentation


def b_aug_lifts(df, y, with_aug="paper", without="none", **_):
    _need({with_aug, without} <= set(df.get("augment", [])), f"needs runs with augment {without!r} and {with_aug!r}")
    return [Part(f"{label(s)} minus {label(s)}-w/o-Aug", _diff(_sel(df, augment=with_aug, strategy=s),
                                                               _sel(df, augment=without, strategy=s), y))
            for s in dict.fromkeys(df["strategy"])]


def _final_spread(df: pd.DataFrame, y: str) -> pd.DataFrame:
    """Per (augment, trial): best minus worst strategy's ``y`` at the augment's last cycle, over the
    strategies present in every (augment, trial). Columns: augment values; index: trial."""
    last = df[df["cycle"] == df.groupby("augment")["cycle"].transform("max")]
    cells = last.groupby(["augment", "trial"])["strategy"].agg(lambda s: set(s))
    common = set.intersection(*cells) if len(cells) else set()
    last = last[last["strategy"].isin(common)]
    spread = last.groupby(["augment", "trial"])[y].agg(lambda v: v.max() - v.min()).unstack("augment")
    spread.attrs["strategies"] = sorted(common)
    return spread


def b_aug_shrinks(df, y, with_aug="paper", without="none", **_):
    """Per trial the spread (best minus worst strategy at the last cycle) without minus with."""
    _need({with_aug, without} <= set(df.get("augment", [])), f"needs runs with augment {without!r} and {with_aug!r}")
    spread = _final_spread(df, y)
    k = len(spread.attrs["strategies"])
    _need(k >= 2, "fewer than two strategies in every trial")
    spread = spread[[without, with_aug]].dropna()
    return [Part(f"spread over {k} strategies without minus with augmentation",
                 (spread[without] - spread[with_aug]).to_numpy(float))]


def b_al_beats_random(df, y, augment="none", reference="random", **_):
    part = _sel(df, augment=augment)
    _need(reference in set(part["strategy"]) and part["strategy"].nunique() >= 2,
          f"needs {label(reference)} and another strategy run with augment {augment!r}")
    return b_vs_reference(part, y, reference)


# ---- 02: SSL vs AL


def b_ssl_random_beats_random(df, y, ssl=None, reference="random", **_):
    a, b = _sel(df, ssl=ssl, strategy=reference), _sel(df, ssl="none", strategy=reference)
    _need(len(a) and len(b), f"needs SSL-Random ({_SSL_NAMES.get(ssl, ssl)}) and raw Random runs")
    x = "n_labelled" if "n_labelled" in df.columns else "cycle"
    return [Part(f"SSL-Random minus Random at {int(a.loc[a.cycle == c, x].mean())} labels", _diff(a, b, y, c))
            for c in sorted(set(a["cycle"]) & set(b["cycle"]))]


def b_ssl_random_beats_best_al(df, y, ssl=None, reference="random", **_):
    ssl_ref = _sel(df, ssl=ssl, strategy=reference)
    al = df[(df.get("ssl") == "none") & (df["strategy"] != reference)] if "ssl" in df.columns else df.iloc[0:0]
    _need(len(ssl_ref) and len(al), "needs SSL-Random and raw AL runs besides Random")
    x = "n_labelled" if "n_labelled" in df.columns else "cycle"
    parts = []
    for c in sorted(set(ssl_ref["cycle"]) & set(al["cycle"])):
        at = al[al["cycle"] == c]
        best = at.groupby("strategy")[y].mean().idxmax()  # picked after the fact: favours AL
        parts.append(Part(f"SSL-Random minus raw {label(best)} (best AL there) at {int(at[x].mean())} labels",
                          _diff(ssl_ref, at[at["strategy"] == best], y, c)))
    return parts


def b_ssl_fewer_labels(df, y, ssl=None, reference="random", **_):
    ssl_ref = _sel(df, ssl=ssl, strategy=reference)
    al = df[(df.get("ssl") == "none") & (df["strategy"] != reference)] if "ssl" in df.columns else df.iloc[0:0]
    _need(len(ssl_ref) and len(al), "needs SSL-Random and raw AL runs besides Random")
    x = "n_labelled" if "n_labelled" in df.columns else "cycle"
    c0, cmax = int(ssl_ref["cycle"].min()), int(al["cycle"].max())
    at = al[al["cycle"] == cmax]
    best = at.groupby("strategy")[y].mean().idxmax()
    d = (_per_trial(ssl_ref, y, c0) - _per_trial(at[at["strategy"] == best], y, cmax)).dropna().to_numpy(float)
    return [Part(f"SSL-Random with {int(ssl_ref.loc[ssl_ref.cycle == c0, x].mean())} labels minus raw {label(best)} "
                 f"with {int(at[x].mean())}", d)]


def b_ssl_lifts(df, y, ssl=None, **_):
    ssl = ssl or (_ssl_methods(df) or [None])[0]
    _need(ssl is not None and "none" in set(df["ssl"]), "needs raw and SSL runs")
    both = set(_sel(df, ssl=ssl)["strategy"]) & set(_sel(df, ssl="none")["strategy"])
    _need(both, "no strategy run both raw and with SSL")
    return [Part(f"SSL-{label(s)} minus {label(s)}", _diff(_sel(df, ssl=ssl, strategy=s), _sel(df, ssl="none", strategy=s), y))
            for s in dict.fromkeys(df["strategy"]) if s in both]


# ---- 03: low budget


def b_consistently(df, y, reference="random", **_):
    """Per (recipe, strategy): the gap to Random of the same recipe at every query cycle (> 0)."""
    parts = []
    fams = list(dict.fromkeys(df["ssl"])) if "ssl" in df.columns else [None]
    for fam in fams:
        part = _sel(df, ssl=fam) if fam is not None else df
        ref = _sel(part, strategy=reference)
        if ref.empty:
            continue
        pre = "SSL-" if fam not in (None, "none") else ""
        for s in dict.fromkeys(part["strategy"]):
            if s == reference:
                continue
            a = _sel(part, strategy=s)
            cyc = sorted(c for c in set(a["cycle"]) & set(ref["cycle"]) if c > 0)
            if cyc:
                parts.append(Part(f"{pre}{label(s)} vs {pre}{label(reference)}",
                                  cycles=[(f"cycle {c}", _diff(a, ref, y, c)) for c in cyc]))
    _need(parts, "needs Random, another strategy and at least one query cycle")
    return parts


def b_nothing_beats_ssl_random(df, y, reference="random", **_):
    methods = _ssl_methods(df)
    _need(methods and reference in set(_sel(df, ssl=methods[0])["strategy"]), "needs SSL-Random runs")
    ref = _sel(df, ssl=methods[0], strategy=reference)
    parts = []
    for fam in dict.fromkeys(df["ssl"]):
        for s in dict.fromkeys(_sel(df, ssl=fam)["strategy"]):
            if fam == methods[0] and s == reference:
                continue
            name = ("SSL-" if fam != "none" else "") + label(s)
            parts.append(Part(f"{name} vs SSL-Random", _diff(_sel(df, ssl=fam, strategy=s), ref, y)))
    _need(parts, "nothing to compare SSL-Random with")
    return parts


def b_ssl_lifts_al(df, y, reference="random", **_):
    """SSL-X minus X for the AL strategies (Random left out: "SSL-AL methods", Fig. 7)."""
    parts = [p for p in b_ssl_lifts(df, y) if not p.name.startswith(f"SSL-{label(reference)} ")]
    _need(parts, "no AL strategy run both raw and with SSL")
    return parts


# ---- 04: transfer


def b_beats_pretrained(df, y, pretrained="glyphs", ssl_random="random", **_):
    _need(df is not None and pretrained in set(df["strategy"]) and ssl_random in set(df["strategy"]),
          "no pretrained weights offline" if pretrained == "transfer" else f"needs SSL-Random and {pretrained} runs")
    part = df[df["strategy"].isin([pretrained, ssl_random])]
    by = ["regime"] if "regime" in df.columns else []
    per = stats.aubc_per_trial(part, y, "n_labelled" if "n_labelled" in df.columns else "budget", by=by + ["strategy"])
    parts = []
    for key, g in (per.groupby(by) if by else [("", per)]):
        key = key[0] if isinstance(key, tuple) else key
        w = g.pivot(index="trial", columns="strategy", values="aubc")
        if {ssl_random, pretrained} <= set(w.columns):
            d = (w[ssl_random] - w[pretrained]).dropna().to_numpy(float)
            parts.append(Part(f"SSL-Random minus fine-tuned ({key} budget, AUBC)" if key else "SSL-Random minus fine-tuned (AUBC)", d))
    return parts


# ---- 06 / 07: segmentation (paper run names)


def b_named(a_name, b_name):
    """Part ``a_name`` minus ``b_name`` in the paper's run names (:func:`seg_named`)."""
    def build(df, y, **_):
        named = seg_named(df)
        present = set(named["strategy"])
        missing = [n for n in (b_name, a_name) if n not in present]
        _need(not missing, f"needs {', '.join(missing)} runs")
        return [Part(f"{a_name} vs {b_name}", _diff(_sel(named, strategy=a_name), _sel(named, strategy=b_name), y))]
    return build


def b_seg_nothing_beats_ssl_random(df, y, **_):
    """Every image-level run but SSL-Random (raw strategies and SSL-AL) minus SSL-Random at the last
    cycle: Fig. 13's caption, "None of the methods outperforms SSL with random sampling" (polygon-level
    runs have their own claim, Fig. 15)."""
    named = seg_named(df)
    _need("SSL-Random" in set(named["strategy"]), "needs SSL-Random (s4GAN) runs")
    ref = _sel(named, strategy="SSL-Random")
    parts = [Part(f"{n} vs SSL-Random", _diff(_sel(named, strategy=n), ref, y))
             for n in dict.fromkeys(named["strategy"]) if n != "SSL-Random" and not n.endswith("-Polygon")]
    _need(parts, "no image-level run besides SSL-Random")
    return parts


def b_ssl_image_beats_polygons(df, y, **_):
    named = seg_named(df)
    _need("SSL-Random" in set(named["strategy"]), "needs SSL-Random runs")
    raw = sorted(seg_run_label(s, "none") for s in set(df["strategy"]) if s.endswith("-polygon"))
    _need(raw, "needs polygon-level runs")
    ref = _sel(named, strategy="SSL-Random")
    parts = []
    for r in raw:
        for n in (r, "SSL-" + r):
            if n in set(named["strategy"]):
                parts.append(Part(f"SSL-Random-Image vs {n}", _diff(ref, _sel(named, strategy=n), y)))
            else:
                parts.append(Part(f"SSL-Random-Image vs {n}", missing=f"no {n} runs (ssl_polygons off)"))
    return parts


# --------------------------------------------------------------------------- 05: measurements


def _tolerance_tradeoff(table, **_):
    """Clicks per image and label mIoU never rise with the tolerance and both fall overall."""
    t = table.sort_values("tolerance")
    if len(t) < 2:
        return not_tested("fewer than two tolerances"), []
    clicks, miou = t["clicks_per_image"].to_numpy(float), t["miou"].to_numpy(float)
    lines = [f"tolerance {t['tolerance'].iloc[0]:g} -> {t['tolerance'].iloc[-1]:g} px: clicks per image "
             f"{clicks[0]:.1f} -> {clicks[-1]:.1f}, label mIoU {miou[0]:.2f} -> {miou[-1]:.2f} % "
             "(deterministic measurements of one annotator on fixed images: no trials, no interval)"]
    rises = [f"{a:g}->{b:g} px" for a, b, c0, c1, m0, m1 in zip(t["tolerance"], t["tolerance"][1:], clicks, clicks[1:],
                                                              miou, miou[1:]) if c1 > c0 or m1 > m0]
    if rises:
        lines.append("clicks or mIoU rise with the tolerance at " + ", ".join(rises))
    ok = not rises and clicks[-1] < clicks[0] and miou[-1] < miou[0]
    return (REPLICATED if ok else CONTRADICTED), lines


def _annotation_cost(table, clicks=(), tolerance=10.0, dataset="", paper_tolerance=10.0, paper_miou=95.06,
                     paper_clicks=33.0, miou_margin=1.0, clicks_margin=0.10, **_):
    clicks = np.asarray(clicks, float)
    row = table[np.isclose(table["tolerance"].astype(float), float(tolerance))]
    lines = []
    if len(clicks):
        lines.append(f"this run ({dataset}, {len(clicks)} images, {tolerance:g} px): clicks per image "
                     f"{clicks.mean():.1f} +- {clicks.std(ddof=1) if len(clicks) > 1 else 0.0:.1f} (mean +- sd over "
                     f"images), median {np.median(clicks):.0f}, 10-90th percentile "
                     f"{np.percentile(clicks, 10):.0f}-{np.percentile(clicks, 90):.0f}")
    if len(row):
        lines.append(f"label mIoU of the polygons vs the true masks: {float(row['miou'].iloc[0]):.2f} % "
                     f"(margin: within {miou_margin:g} mIoU points and {100 * clicks_margin:g} % of the clicks)")
    if dataset != "voc" or not np.isclose(float(tolerance), paper_tolerance):
        return not_tested(f"{dataset} at {tolerance:g} px, not PASCAL VOC at {paper_tolerance:g} px"), lines
    if not len(row) or not len(clicks):
        return not_tested(f"{tolerance:g} px is not in the tolerance sweep"), lines
    miou = float(row["miou"].iloc[0])
    close = abs(miou - paper_miou) <= miou_margin and abs(clicks.mean() - paper_clicks) <= clicks_margin * paper_clicks
    return (REPLICATED if close else CONTRADICTED), lines


# --------------------------------------------------------------------------- the table


def _high(df):
    return df[(df["regime"] == "high") & (df["ssl"] == "none")] if "regime" in df.columns else df


def _high_aug(df):
    return df[(df["regime"] == "high") & (df["augment"] == "paper")] if "regime" in df.columns else df


def _low_aug(df):
    return df[(df["regime"] == "low") & (df["augment"] == "paper")] if "regime" in df.columns else df


# ---- 09: the bias hypothesis (Sec. 5) as an intervention


def b_debias_lifts(df, y, **_):
    """Each ``debiased-X`` (:mod:`alkit.strategies.debias`) minus ``X`` at the last cycle."""
    present = set(df["strategy"])
    names = [s for s in dict.fromkeys(df["strategy"]) if s.startswith("debiased-") and s[9:] in present]
    _need(names, "needs debiased-X runs next to X's")
    return [Part(f"{label(s)} vs {label(s[9:])}", _diff(_sel(df, strategy=s), _sel(df, strategy=s[9:]), y))
            for s in names]


CLAIMS: list[ClaimSpec] = [
    ClaimSpec("01-aug-lifts", "01", "with augmentation every strategy ends with a higher accuracy than without",
              "Sec. 3.2.2, Fig. 2-3", "all", b_aug_lifts),
    ClaimSpec("01-aug-shrinks", "01", "with augmentation the differences between strategies shrink (spread between "
              "the best and the worst strategy at the last cycle)", "Sec. 3.2.2, Fig. 2-3", "all", b_aug_shrinks),
    ClaimSpec("01-al-beats-random", "01", "without augmentation every AL strategy clearly beats Random",
              "Sec. 3.2.2, Fig. 2", "all", b_al_beats_random),
    ClaimSpec("02-ssl-random-beats-random", "02", "SSL-Random ({ssl}) beats supervised Random at every budget",
              "Sec. 3.2.3-3.2.4", "all", b_ssl_random_beats_random, expand="ssl"),
    ClaimSpec("02-ssl-random-beats-best-al", "02", "at every budget SSL-Random ({ssl}) beats the best raw AL strategy",
              "Sec. 3.2.3, Fig. 4-5", "all", b_ssl_random_beats_best_al, expand="ssl"),
    ClaimSpec("02-ssl-fewer-labels", "02", "SSL-Random ({ssl}) with the initial labels almost reaches what AL reaches "
              "with the largest budget", "Sec. 3.2.3, Fig. 4-5", "describe", b_ssl_fewer_labels, expand="ssl"),
    ClaimSpec("02-ssl-lifts-every", "02", "SSL-X beats raw X for every strategy X", "Sec. 3.2.3, Fig. 4-5", "all",
              b_ssl_lifts),
    ClaimSpec("03-no-consistent-winner", "03", "no AL strategy consistently (at every query cycle) beats Random with "
              "few labels, raw or with SSL", "Sec. 3.2.4, Fig. 6-7", "none", b_consistently),
    ClaimSpec("03-nothing-beats-ssl-random", "03", "nothing beats SSL-Random with few labels, neither raw AL nor SSL-AL",
              "Sec. 3.2.4, Fig. 6-7", "none", b_nothing_beats_ssl_random),
    ClaimSpec("03-ssl-lifts-most", "03", "most SSL-AL methods are better than their raw counterparts",
              "Sec. 3.2.4, Fig. 7", "most", b_ssl_lifts_al),
    ClaimSpec("04-beats-glyphs", "04", "SSL-Random beats a fine-tuned pre-trained network (glyph-pre-trained CNN) in "
              "every budget regime", "Sec. 3.2.5, Fig. 8-9", "all",
              lambda df, y, **k: b_beats_pretrained(df, y, pretrained="glyphs")),
    ClaimSpec("04-beats-imagenet", "04", "SSL-Random clearly beats a fine-tuned ImageNet ResNet-18 in every budget "
              "regime", "Sec. 3.2.5, Fig. 8-9", "all", lambda df, y, **k: b_beats_pretrained(df, y, pretrained="transfer")),
    ClaimSpec("05-tolerance-tradeoff", "05", "a larger polygon tolerance trades label quality for fewer clicks",
              "Sec. 4.1, Fig. 10-11", "measure", _tolerance_tradeoff),
    ClaimSpec("05-annotation-cost", "05", "at 10 px on PASCAL VOC the polygon labels keep 95.06 % mIoU for about 33 "
              "clicks per image", "Sec. 4.1, Fig. 10", "measure", _annotation_cost),
    ClaimSpec("06-entropy-beats-random", "06", "Entropy beats Random after the last cycle (paper: about +1.1 mIoU "
              "on VOC)", "Sec. 4.4.1, Fig. 13", "all", b_named("Entropy", "Random")),
    ClaimSpec("06-ll-not-above-random", "06", "Learning Loss does not beat Random", "Sec. 4.4.1, Fig. 13", "none",
              b_named("LL", "Random")),
    ClaimSpec("07-s4gan-lifts-random", "07", "s4GAN lifts Random (paper: +4.1 mIoU after 5 cycles on VOC)",
              "Sec. 4.4.1, Fig. 13", "all", b_named("SSL-Random", "Random")),
    ClaimSpec("07-dscore-not-above", "07", "SSL-D-score does not improve on SSL-Random",
              "Sec. 4.4.1, Fig. 13, dashed lines", "none", b_named("SSL-D-score", "SSL-Random")),
    ClaimSpec("07-nothing-beats-ssl-random", "07", "none of the image-level methods run here (the raw strategies, "
              "SSL-D-score) beats SSL-Random (s4GAN)", "Sec. 4.4.1, Fig. 13 caption", "none",
              b_seg_nothing_beats_ssl_random),
    ClaimSpec("07-entropy-polygon", "07", "entropy-based polygon selection beats random polygon selection without SSL",
              "Sec. 4.4.2, Fig. 15", "all", b_named("Random-Image-Entropy-Polygon", "Random-Image-Random-Polygon")),
    ClaimSpec("07-ssl-image-beats-polygons", "07", "SSL-Random-Image outperforms all polygon-level AL methods, raw "
              "and SSL", "Sec. 4.4.2, Fig. 15", "all", b_ssl_image_beats_polygons),
    ClaimSpec("08-al-beats-random", "08", "without augmentation every AL strategy clearly beats Random (high budget)",
              "Sec. 3.2.2, Fig. 2", "all", b_al_beats_random, subset=_high),
    ClaimSpec("08-aug-shrinks", "08", "with augmentation the differences between strategies shrink (high budget)",
              "Sec. 3.2.2, Fig. 2-3", "all", b_aug_shrinks, subset=_high),
    ClaimSpec("08-ssl-random-beats-best-al", "08", "at every budget SSL-Random beats the best raw AL strategy "
              "(high budget)", "Sec. 3.2.3, Fig. 4-5", "all", b_ssl_random_beats_best_al, subset=_high_aug, expand="ssl"),
    ClaimSpec("08-no-consistent-winner", "08", "no AL strategy consistently beats Random with few labels",
              "Sec. 3.2.4, Fig. 6-7", "none", b_consistently, subset=_low_aug),
    ClaimSpec("08-nothing-beats-ssl-random", "08", "nothing beats SSL-Random with few labels",
              "Sec. 3.2.4, Fig. 6-7", "none", b_nothing_beats_ssl_random, subset=_low_aug),
    ClaimSpec("09-debias-lifts", "09", "keeping a strategy's labelled class mix near the pool's (debiased picks) "
              "lifts it with few labels, as the bias hypothesis predicts", "Sec. 5 (hypothesis)", "all",
              b_debias_lifts),
]


def default_claims(df: pd.DataFrame, reference: str = "random") -> list[ClaimSpec]:
    """The claims of a plain run (notebook 00, ``alkit run`` with ``trials="auto"``): each strategy
    beats ``reference`` at the last cycle, with the dataset's margin ("contradicted" = it does not
    beat it by the margin)."""
    out = []
    for s in dict.fromkeys(df["strategy"]):
        if s != reference:
            out.append(ClaimSpec(f"{s}-beats-{reference}", "", f"{label(s)} beats {label(reference)} at the last cycle",
                                 "no paper claim; the protocol of Sec. 3", "all",
                                 lambda d, y, _s=s, **k: b_vs_reference(d, y, reference, strategy=_s)))
    return out


# --------------------------------------------------------------------------- the tester


def _unit(y: str) -> str:
    return "mIoU points" if y == "miou" else "points"


def _fmt_ci(lo, hi, level, scale=100.0) -> str:
    if not np.isfinite(lo):
        return "(no interval)"
    return f"[{100 * level:.3g} % CI {scale * lo:+.1f}, {scale * hi:+.1f}]"


def _part_stats(p: Part, delta: float, level: float) -> dict:
    """Summary of a part: n, gap, sd, interval, p_pos, p_neg (one-sided, see :func:`part_pvalues`)."""
    if p.cycles is not None:
        subs = [dict(label=lab, **stats.paired_test(d, level)) for lab, d in p.cycles]
        pp, pn = part_pvalues([s["gap"] for s in subs], [s["gap_sd"] for s in subs], [s["n"] for s in subs], delta)
        k = len(subs)
        worst = subs[int(np.argmax(pp))]  # the cycle that most doubts "at every cycle"
        return dict(worst, n=min(s["n"] for s in subs), p_pos=float(pp.max()), p_neg=float(min(1.0, k * pn.min())),
                    sd_max=float(np.nanmax([s["gap_sd"] for s in subs])) if k else np.nan,
                    detail=f"{sum(s['ci_low'] > 0 for s in subs)} of {k} cycles above 0; weakest {worst['label']}")
    s = stats.paired_test(p.diffs, level)
    pp, pn = part_pvalues(s["gap"], s["gap_sd"], s["n"], delta)
    return dict(s, p_pos=float(pp), p_neg=float(pn), sd_max=s["gap_sd"], detail="")


def _part_word(quantifier, st, a) -> str:
    above, below = st["p_pos"] < a, st["p_neg"] < a
    if quantifier == "none":
        return ("below the margin" + (" (but above 0)" if above else "")) if below else ("above 0" if above else "undecided")
    return ("above 0" + (" (but below the margin)" if below else "")) if above else ("below the margin" if below else "undecided")


def deciding_part(quantifier: str, st: list[dict], verdict: str) -> tuple[dict, str]:
    """The part a claim's verdict line and board row show, and how to name it: ``st`` holds each
    tested part's :func:`_part_stats` (``p_pos``, ``p_neg``, ``ci_low``, ``ci_high``).

    - contradicted: the part with the strongest evidence against the claim (smallest ``p_neg`` for
      "all", smallest ``p_pos`` for "none"; for "most" the weakest of the half that contradicts it),
      so the interval shown is one that decides the verdict;
    - replicated: the weakest part ("all": largest ``p_pos``; "none": largest ``p_neg``; "most": the
      weakest of the majority that replicates it);
    - otherwise: the weakest part for the claim's direction (lowest lower end; for "none" highest
      upper end), the one that keeps the claim from being replicated.
    Before 2026-12-07 every verdict showed that last choice, so a "nothing beats Y" claim
    contradicted by one part could print another, undecided part's interval (notebook 03: "+2.8
    [-1.4, +7.0] ... contradicted", decided by SSL-Core-set's +4.0 [+1.8, +6.3])."""
    p_pos = np.array([s["p_pos"] for s in st])
    p_neg = np.array([s["p_neg"] for s in st])
    m = len(st)
    if verdict == CONTRADICTED:
        p = p_pos if quantifier == "none" else p_neg
        k = math.ceil(m / 2) if quantifier == "most" else 1
        i = int(np.argsort(p, kind="stable")[k - 1])
        return st[i], ("the weakest of the parts that contradict it" if k > 1 else "the part that contradicts it")
    if verdict == REPLICATED:
        p = p_neg if quantifier == "none" else p_pos
        if quantifier == "most":
            i = int(np.argsort(p, kind="stable")[m // 2])
            return st[i], "the weakest part of the majority"
        return st[int(np.argmax(p))], "the weakest part"
    if quantifier == "none":
        i = int(np.argmax([s["ci_high"] if np.isfinite(s["ci_high"]) else np.inf for s in st]))
    else:
        i = int(np.argmin([s["ci_low"] if np.isfinite(s["ci_low"]) else -np.inf for s in st]))
    return st[i], "the weakest part"


def judge(spec: ClaimSpec, df, *, level: float = stats.DEFAULT_LEVEL, preset: str = "default",
          notebook: str = "", dataset: str | None = None, y: str | None = None, **ctx) -> Verdict:
    """Judge one claim on ``df`` (rules in the module docstring); returns its printed lines and
    board row. ``level``: the interval level (run_auto passes its per-look level); ``preset ==
    "smoke"`` computes everything but prints no gap and no verdict."""
    text = spec.text.format(ssl=_SSL_NAMES.get(ctx.get("ssl"), ctx.get("ssl")))
    v = Verdict()
    row = dict(notebook=notebook or spec.notebook, key=spec.key, claim=text, section=spec.section, preset=preset,
               quantifier=spec.quantifier, level=level, effect=np.nan, ci_low=np.nan, ci_high=np.nan,
               margin=np.nan, n=0, min_detectable=np.nan, trials_needed=None, metric="", verdict="")
    v.row = row
    head = f"Claim: {text} ({spec.section})"
    if spec.quantifier == "measure":
        verdict, lines = spec.build(dataset=dataset or "", **ctx)
        if preset == "smoke":
            verdict, lines = not_tested(SMOKE), []
        row["verdict"] = verdict
        v.lines = [head] + [f"  {ln}" for ln in lines] + [f"  => {verdict}"]
        return v
    if df is not None and spec.subset is not None:
        df = spec.subset(df)
    y = y or ("miou" if df is not None and "miou" in df.columns else "accuracy")
    if dataset is None and df is not None and "dataset" in df.columns and len(df):
        dataset = str(df["dataset"].iloc[0])
    delta = spec.margin if spec.margin is not None else margin(dataset, y)
    describe = spec.quantifier == "describe"  # no margin: the interval is shown, no margin and no verdict
    row.update(margin=np.nan if describe else 100 * delta, metric=y)
    unit = _unit(y)
    mtxt = f"margin {100 * delta:+.1f} {unit}"
    try:
        if df is None or not len(df):
            raise NotTested("no results")
        parts = spec.build(df, y, **ctx)
    except NotTested as e:
        row["verdict"] = not_tested(str(e))
        v.lines = [head, f"  => {row['verdict']}"]
        return v
    a = stats._alpha(level) / 2
    tested = [p for p in parts if p.missing is None]
    missing = [p for p in parts if p.missing is not None]
    st = [_part_stats(p, delta, level) for p in tested]
    smoke = preset == "smoke"
    n_min = min((s["n"] for s in st), default=0)
    row["n"] = int(n_min)
    lines = [head]
    if not smoke:
        for p, s in zip(tested, st):
            ci = _fmt_ci(s["ci_low"], s["ci_high"], level)
            extra = f"; {s['detail']}" if s["detail"] else ""
            word = _part_word(spec.quantifier, s, a) if s["n"] >= stats.MIN_TRIALS else too_few(s["n"])
            judged = "" if describe else f", {mtxt}: {word}"
            lines.append(f"  {p.name}: {100 * s['gap']:+.1f} {unit} {ci} over {s['n']} paired trials{judged}{extra}")
        lines += [f"  {p.name}: not tested ({p.missing})" for p in missing]
    if not st:
        verdict = not_tested("; ".join(p.missing for p in missing) or "no paired results")
    elif n_min < stats.MIN_TRIALS:
        verdict = too_few(n_min)
    elif spec.quantifier == "describe":
        verdict = not_tested("no margin: the paper names none; the interval is shown above")
    else:
        pp = np.array([s["p_pos"] for s in st])
        pn = np.array([s["p_neg"] for s in st])
        m = len(parts)  # Holm over the whole named family, the untested parts included (conservative)
        pp_f = np.concatenate([pp, np.ones(m - len(st))])
        pn_f = np.concatenate([pn, np.ones(m - len(st))])
        verdict = str(decide(spec.quantifier, pp_f, pn_f, a))
        if verdict != CONTRADICTED and missing:
            verdict = not_tested("part of the named family was not run: " + "; ".join(p.missing for p in missing))
    if st:
        w, which = deciding_part(spec.quantifier, st, verdict)
        row.update(effect=100 * w["gap"], ci_low=100 * w["ci_low"], ci_high=100 * w["ci_high"])
        sd = float(np.nanmax([s["sd_max"] for s in st])) if any(np.isfinite(s["sd_max"]) for s in st) else np.nan
        if np.isfinite(sd) and sd > 0 and n_min >= 2:  # no spread (equal gaps): no interval, no power
            row["min_detectable"] = 100 * stats.min_detectable(sd, n_min, level)
            if not describe:  # trials to decide a margin the claim does not have: none
                row["trials_needed"] = stats.trials_needed(sd, delta, level=1 - (1 - level) / max(len(parts), 1))
    tail = ""
    if verdict == INCONCLUSIVE and np.isfinite(row["min_detectable"]):
        need = row["trials_needed"]
        tail = (f" (smallest gap this run could detect: {row['min_detectable']:.1f} {unit} at 80 % power from sd "
                f"{100 * sd:.1f} and n={n_min}; {f'about {need}' if need else 'more than 1000'} trials would decide it "
                f"at its {100 * delta:.1f}-point margin)")
    if smoke:
        verdict, tail = not_tested(SMOKE), ""
        row.update(effect=np.nan, ci_low=np.nan, ci_high=np.nan, min_detectable=np.nan, trials_needed=None)
    elif st and np.isfinite(row["effect"]) and verdict in OUTCOMES:
        tail = (f": {100 * w['gap']:+.1f} {unit} {_fmt_ci(w['ci_low'], w['ci_high'], level)}"
                + (f" ({which})" if len(st) > 1 else "") + f", {mtxt}" + tail)
    if len(parts) > 1 and not smoke and verdict in OUTCOMES:
        fam = f"{100 * 2 * a:.3g} %"
        rule = {"all": "every part at its own level (intersection-union); contradiction with Holm over the "
                       f"{len(parts)} parts at {fam} family-wise",
                "none": "every part below the margin at its own level; contradiction with Holm over the "
                        f"{len(parts)} parts at {fam} family-wise",
                "most": f"a Holm-adjusted majority of the {len(parts)} parts (contradiction: at {fam} "
                        "family-wise)"}[spec.quantifier]
        lines.append(f"  rule: {rule}")
    row["verdict"] = verdict
    lines.append(f"  => {verdict}{tail}")
    v.lines = lines
    return v


# --------------------------------------------------------------------------- notebook entry point


def preset_now(preset: str | None = None) -> str:
    """The preset of this run: the argument, else ``$ALKIT_PRESET`` (set by
    :func:`alkit.experiments.reproduce.run_notebook`), else ``"default"``."""
    return preset or os.environ.get("ALKIT_PRESET") or "default"


def claims_for(notebook: str, df: pd.DataFrame | None = None) -> list[ClaimSpec]:
    """The table's claims of ``notebook`` (``"00"``: :func:`default_claims`)."""
    if notebook == "00" or notebook == "":
        return default_claims(df) if df is not None else []
    return [c for c in CLAIMS if c.notebook == notebook]


def _expand(spec: ClaimSpec, df) -> list[dict]:
    if spec.expand == "ssl" and df is not None:
        sub = spec.subset(df) if spec.subset else df
        return [dict(ssl=m) for m in _ssl_methods(sub)] or [dict(ssl=None)]
    return [{}]


def evaluate(df, notebook: str, *, claims=None, level: float | None = None, preset: str | None = None,
             **ctx) -> list[Verdict]:
    """Judge every claim of ``notebook`` (or ``claims``) on ``df``; no printing, no board."""
    if level is None:
        level = (df.attrs.get("auto") or {}).get("level", stats.DEFAULT_LEVEL) if df is not None else stats.DEFAULT_LEVEL
    preset = preset_now(preset)
    specs = claims if claims is not None else claims_for(notebook, df)
    out = []
    for spec in specs:
        for extra in _expand(spec, df):
            out.append(judge(spec, df, level=level, preset=preset, notebook=notebook, **{**ctx, **extra}))
    return out


def report(df: pd.DataFrame | None, notebook: str, *, what: str = "", claims=None, by: str | None = None,
           level: float | None = None, preset: str | None = None, write: bool = True, show: bool = True,
           **ctx) -> pd.DataFrame:
    """A notebook's "This run shows" output: a heading, then every claim of ``notebook`` (from
    :data:`CLAIMS`) with its parts (effect, interval, margin) and its verdict line. ``by``: judge the
    claims per value of that column (e.g. ``"dataset"`` in notebook 08). ``ctx``: extra inputs of
    measurement claims (notebook 05: ``table``, ``clicks``, ``tolerance``, ``dataset``).

    Returns the verdict rows (one per claim: notebook, claim, section, effect, ci_low, ci_high,
    margin — points —, verdict, min_detectable, trials_needed, n, preset, level); with ``write``
    they replace this notebook's rows on the verdict board (``outputs/verdicts/<notebook>.json``)."""
    preset = preset_now(preset)
    groups = [(None, df)] if by is None or df is None else list(df.groupby(by))
    lines = [heading(df, what) + ("" if preset != "smoke" else " [smoke preset: no verdicts]")]
    rows = []
    for key, part in groups:
        if key is not None:
            lines.append(f"\n--- {by} {key} ---")
        for v in evaluate(part, notebook, claims=claims, level=level, preset=preset, **ctx):
            if key is not None:
                v.row["claim"] = f"{v.row['claim']} [{key}]"
            lines.append(str(v))
            lines.append("")
            rows.append(v.row)
    if show:
        print("\n".join(lines).rstrip())
    table = pd.DataFrame(rows)
    if write and notebook:
        from alkit.analysis.board import write_rows

        write_rows(notebook, rows)
    return table


def compare_line(name: str, gaps, *, reference: str = "Random", unit: str = "points", scale: float = 100.0,
                 margin_: float | None = None, level: float = stats.DEFAULT_LEVEL, preset: str | None = None) -> str:
    """One line for a paired comparison of an exercise (``gaps``: per-trial differences, in the units
    of the data): mean, Student-t interval and, with a margin ``margin_`` (same units), the claim
    "``name`` beats ``reference``" judged by the rules of this module (replicated / contradicted /
    inconclusive). Without a margin no verdict is given: the line says where the interval lies.
    Fewer than 3 trials: no interval. The smoke preset: no gap, no verdict."""
    if preset_now(preset) == "smoke":
        return f"{name} vs {reference}: not tested ({SMOKE})"
    s = stats.paired_test(np.asarray(gaps, float), level)
    head = f"{name}: {scale * s['gap']:+.2f} {unit} vs {reference}"
    if s["n"] < stats.MIN_TRIALS:
        return f"{head} over {s['n']} paired trials: {too_few(s['n'])}"
    if not np.isfinite(s["ci_low"]):
        return f"{head} over {s['n']} paired trials, the same in every trial (no spread, no interval)"
    ci = f"[{100 * level:.3g} % CI {scale * s['ci_low']:+.2f}, {scale * s['ci_high']:+.2f}]"
    if margin_ is None:
        where = ("lies above 0" if s["ci_low"] > 0 else "lies below 0" if s["ci_high"] < 0 else "contains 0")
        return f"{head} {ci} over {s['n']} paired trials: the interval {where} (no margin, no verdict)"
    pp, pn = part_pvalues(s["gap"], s["gap_sd"], s["n"], margin_)
    verdict = str(decide("all", np.array([pp]), np.array([pn]), stats._alpha(level) / 2))
    return f"{head} {ci} over {s['n']} paired trials, margin {scale * margin_:+.2f} {unit}: {verdict}"
