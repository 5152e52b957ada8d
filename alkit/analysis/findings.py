"""The paper's claims, tested on this run's results: one small function per claim.

Each function takes the tidy results a notebook produced (one row per strategy, trial and cycle;
see :mod:`alkit.analysis.stats`) and returns a :class:`Finding`: the claim in a few words with its section
and figure, the evidence computed from this run (effects with their confidence intervals) and a
verdict that is exactly one of

- ``"replicated in this run"``
- ``"not replicated in this run"``
- ``"not tested in this run (<reason>)"``
- ``"no verdict: too few trials (n=<n>)"`` (fewer than :data:`alkit.analysis.stats.MIN_TRIALS` paired trials)

Verdicts come from paired t-tests over trials (:mod:`alkit.analysis.stats`, Holm-adjusted within a family
of comparisons). A claim that something is *not* better ("no strategy consistently beats Random")
is replicated when no significant advantage is found; the evidence then says how large an
advantage the intervals still allow, because with three trials the absence of evidence is not
evidence of absence. ``print(finding)`` gives the notebook's "This run shows" lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alkit.analysis import stats

REPLICATED = "replicated in this run"
NOT_REPLICATED = "not replicated in this run"


def not_tested(reason: str) -> str:
    """Verdict for a claim this run cannot test, with the reason."""
    return f"not tested in this run ({reason})"


def too_few(n: int) -> str:
    """Verdict when fewer than :data:`alkit.analysis.stats.MIN_TRIALS` paired trials are available."""
    return f"no verdict: too few trials (n={int(n)})"


@dataclass
class Finding:
    """A paper claim, the evidence from this run (lines of text) and the verdict."""

    claim: str
    evidence: list[str] = field(default_factory=list)
    verdict: str = ""

    def __str__(self) -> str:
        return "\n".join([f"Claim: {self.claim}"] + [f"  {e}" for e in self.evidence] + [f"  => {self.verdict}"])


# --------------------------------------------------------------------------- helpers


def label(strategy: str) -> str:
    """The paper's name of a strategy (``"ens-varr"`` -> ``"ENS-varR"``)."""
    from alkit.strategies import LABELS

    return LABELS.get(strategy, strategy)


def _y_name(y: str) -> str:
    return "mIoU points" if y == "miou" else "points"


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


def as_points(table: pd.DataFrame, scale: float = 100.0, digits: int = 2) -> pd.DataFrame:
    """A :func:`~alkit.analysis.stats.compare_to_reference` table for display: gaps and intervals times
    ``scale`` (fractions -> points), rounded."""
    out = table.copy()
    cols = [c for c in ("gap", "gap_sd", "ci_low", "ci_high") if c in out.columns]
    out[cols] = out[cols] * scale
    out[cols] = out[cols].round(digits)
    for c in ("p", "p_adj"):
        if c in out.columns:
            out[c] = out[c].round(4)
    return out


def _describe_rows(table: pd.DataFrame, y: str, reference_label, names=None) -> list[str]:
    """One :func:`~alkit.analysis.stats.describe` sentence per row, then the table's method line.
    ``reference_label`` and ``names`` are strings or functions of the row."""
    lines = []
    for _, row in table.iterrows():
        name = names(row) if callable(names) else (names or label(row["strategy"]))
        ref = reference_label(row) if callable(reference_label) else reference_label
        lines.append(stats.describe(row, y_name=_y_name(y), reference_label=ref, label=name))
    if (table["n"] >= stats.MIN_TRIALS).any():  # no test was made otherwise: no method to state
        lines.append("method: " + stats.describe_method(table))
    return lines


def _tested(table: pd.DataFrame) -> str | None:
    """The no-verdict verdict if ``table`` is empty or any row has too few trials, else None."""
    if table.empty:
        return not_tested("no paired results")
    n = int(table["n"].min())
    return too_few(n) if n < stats.MIN_TRIALS else None


def expect_all(table: pd.DataFrame, verdict: str) -> str:
    """Replicated iff every row of a comparison table has ``verdict`` (e.g. "above")."""
    return _tested(table) or (REPLICATED if (table["verdict"] == verdict).all() else NOT_REPLICATED)


def expect_none(table: pd.DataFrame, verdict: str) -> str:
    """Replicated iff no row of a comparison table has ``verdict``."""
    return _tested(table) or (NOT_REPLICATED if (table["verdict"] == verdict).any() else REPLICATED)


def _room_above(table: pd.DataFrame, y: str, reference_label: str, names=None, scale: float = 100.0) -> str | None:
    """A line saying how large an advantage over the reference the intervals still allow
    (``names``: a function of the row giving the strategy's display name)."""
    tested = table[table["n"] >= stats.MIN_TRIALS]
    if tested.empty or tested["ci_high"].isna().all():
        return None
    row = tested.loc[tested["ci_high"].idxmax()]
    if not row["ci_high"] > 0:  # every interval excludes an advantage: nothing to add
        return None
    name = names(row) if names else label(row["strategy"])
    return (f"no significant advantage is not proof of none: the intervals still allow up to "
            f"{scale * row['ci_high']:+.1f} {_y_name(y)} over {reference_label} ({name})")


def _budget_of(df: pd.DataFrame, cycle: int, x: str) -> str:
    vals = df.loc[df["cycle"] == cycle, x]
    return f"{vals.mean():,.0f}" if len(vals) else "?"


def _x(df: pd.DataFrame) -> str:
    return "n_labelled" if "n_labelled" in df.columns else "budget"


def _has(df: pd.DataFrame, column: str, *values) -> bool:
    return column in df.columns and set(values) <= set(df[column].unique())


# --------------------------------------------------------------------------- no claim (notebook 00)


def versus_random(df: pd.DataFrame, y: str = "accuracy", reference: str = "random", at: str = "last") -> str:
    """Every strategy against ``reference`` at the last cycle (paired t-test, Holm): one sentence
    per strategy and the method line. No paper claim attached."""
    if reference not in set(df["strategy"]):
        return f"(no {label(reference)} runs to compare with)"
    table = stats.compare_to_reference(df, y=y, reference=reference, at=at)
    return "\n".join(_describe_rows(table, y, label(reference)))


# --------------------------------------------------------------------------- RQ1: augmentation (01)


def augmentation_lifts_every_strategy(df: pd.DataFrame, y: str = "accuracy", with_aug: str = "paper",
                                      without: str = "none", level: float = stats.DEFAULT_LEVEL) -> Finding:
    """Augmentation improves every strategy's final accuracy: per strategy the paired difference
    ``y(augment=with_aug) - y(augment=without)`` at the last cycle, Holm across strategies;
    replicated iff every strategy is significantly lifted."""
    f = Finding("with augmentation every strategy ends with a higher accuracy than without "
                "(Sec. 3.2.2, Fig. 2-3)")
    if not _has(df, "augment", with_aug, without):
        f.verdict = not_tested(f"needs runs with augment {without!r} and {with_aug!r}")
        return f
    t = stats.compare_groups(df, y, "augment", with_aug, without, at="last", level=level)
    f.evidence = _describe_rows(t, y, lambda r: f"{label(r['strategy'])}-w/o-Aug")
    f.verdict = expect_all(t, "above")
    return f


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


def augmentation_shrinks_differences(df: pd.DataFrame, y: str = "accuracy", with_aug: str = "paper",
                                     without: str = "none", level: float = stats.DEFAULT_LEVEL) -> Finding:
    """With augmentation the strategies' differences shrink: per trial the spread (best minus worst
    strategy at the last cycle) without and with augmentation; paired t-test of
    ``spread(without) - spread(with)`` over trials; replicated iff it is significantly positive."""
    f = Finding("with augmentation the differences between strategies shrink: the spread between the "
                "best and the worst strategy at the last cycle is smaller than without (Sec. 3.2.2, Fig. 2-3)")
    if not _has(df, "augment", with_aug, without):
        f.verdict = not_tested(f"needs runs with augment {without!r} and {with_aug!r}")
        return f
    spread = _final_spread(df, y)
    k = len(spread.attrs["strategies"])
    if k < 2:
        f.verdict = not_tested("fewer than two strategies in every trial")
        return f
    spread = spread[[without, with_aug]].dropna()
    res = stats.paired_test((spread[without] - spread[with_aug]).to_numpy(), level)
    n = res["n"]
    f.evidence.append(f"spread over {k} strategies at the last cycle, mean over {n} trial{'s' if n != 1 else ''}: "
                      f"{100 * spread[without].mean():.1f} points without augmentation, "
                      f"{100 * spread[with_aug].mean():.1f} with")
    if n < stats.MIN_TRIALS:
        f.verdict = too_few(n)
        return f
    alpha = round(1 - level, 12)
    f.evidence.append(f"shrinkage (without minus with): {100 * res['gap']:+.1f} points "
                      f"[{100 * level:g} % CI {100 * res['ci_low']:+.1f}, {100 * res['ci_high']:+.1f}], "
                      f"paired t-test over {n} trials, p = {res['p']:.2g}")
    f.evidence.append(f"method: per trial, max minus min of the final {y} over the strategies; paired two-sided "
                      f"t-test over trials, Student-t interval, significant at p < {alpha:g}")
    f.verdict = REPLICATED if (res["p"] < alpha and res["gap"] > 0) else NOT_REPLICATED
    return f


def al_beats_random_without_augmentation(df: pd.DataFrame, y: str = "accuracy", without: str = "none",
                                         reference: str = "random", level: float = stats.DEFAULT_LEVEL) -> Finding:
    """Without augmentation every AL strategy beats Random at the last cycle (paired t-test,
    Holm across strategies); replicated iff every strategy is significantly above."""
    f = Finding("without augmentation every AL strategy clearly beats Random (Sec. 3.2.2, Fig. 2)")
    part = df[df["augment"] == without] if "augment" in df.columns else df.iloc[0:0]
    if part.empty or reference not in set(part["strategy"]) or part["strategy"].nunique() < 2:
        f.verdict = not_tested(f"needs {label(reference)} and another strategy run with augment {without!r}")
        return f
    t = stats.compare_to_reference(part, y=y, reference=reference, at="last", level=level)
    f.evidence = _describe_rows(t, y, label(reference))
    f.verdict = expect_all(t, "above")
    return f


# --------------------------------------------------------------------------- RQ2/3: SSL vs AL (02, 03)


def ssl_lifts_every_strategy(df: pd.DataFrame, y: str = "accuracy", ssl: str = "uda", raw: str = "none",
                             level: float = stats.DEFAULT_LEVEL) -> Finding:
    """SSL-X beats X for every strategy X: paired difference ``y(ssl) - y(raw)`` per strategy at the
    last cycle both ran (paired by trial and budget), Holm across strategies; replicated iff every
    strategy is significantly lifted."""
    f = Finding("SSL-X beats raw X for every strategy X (Sec. 3.2.3, Fig. 4-5; Sec. 3.2.4, Fig. 6-7)")
    if not _has(df, "ssl", ssl, raw):
        f.verdict = not_tested(f"needs runs with ssl {raw!r} and {ssl!r}")
        return f
    t = stats.compare_groups(df, y, "ssl", ssl, raw, at="last", level=level)
    x = _x(df)
    f.evidence = _describe_rows(t, y, lambda r: label(r["strategy"]),
                                names=lambda r: f"SSL-{label(r['strategy'])} at {_budget_of(df, r['cycle'], x)} labels")
    f.verdict = expect_all(t, "above")
    return f


def _best_raw_gap(df, y, ssl, raw, reference, cycles_of):
    """Per cycle: SSL-<reference> minus the raw AL strategy with the best mean at that cycle, per
    trial. Returns rows (cycle, best strategy, per-trial differences)."""
    ssl_ref = df[(df["ssl"] == ssl) & (df["strategy"] == reference)]
    al = df[(df["ssl"] == raw) & (df["strategy"] != reference)]
    rows = []
    for c in cycles_of:
        at = al[al["cycle"] == c]
        best = at.groupby("strategy")[y].mean().idxmax()
        a = ssl_ref[ssl_ref["cycle"] == c].set_index("trial")[y]
        b = at[at["strategy"] == best].set_index("trial")[y]
        rows.append((c, best, (a - b).dropna().to_numpy()))
    return rows


def _test_table(rows, level) -> pd.DataFrame:
    """A compare_to_reference-shaped table from ``(cycle, strategy, differences)`` rows: a paired
    t-test per row, Holm across the rows."""
    recs = [dict(cycle=c, strategy=s, **stats.paired_test(d, level)) for c, s, d in rows]
    t = pd.DataFrame(recs, columns=["cycle", "strategy", "n", "gap", "gap_sd", "ci_low", "ci_high", "p"])
    t["p_adj"] = stats.holm(t["p"].to_numpy(float))
    t["verdict"] = [stats.verdict_words(g, p, n, level) for g, p, n in zip(t["gap"], t["p_adj"], t["n"])]
    t.attrs.update(level=level, adjust="holm")
    return t


def ssl_random_beats_best_al(df: pd.DataFrame, y: str = "accuracy", ssl: str = "uda", raw: str = "none",
                             reference: str = "random", level: float = stats.DEFAULT_LEVEL) -> Finding:
    """SSL-Random beats the best raw AL strategy at every budget both ran: per budget, SSL-Random
    minus the raw AL strategy with the best mean there (chosen after the fact, which favours AL),
    paired by trial; Holm across budgets; replicated iff SSL-Random is significantly above at every
    budget."""
    f = Finding("at every budget SSL-Random beats the best raw AL strategy (the paper: by a large gap; "
                "Sec. 3.2.3, Fig. 4-5)")
    if not _has(df, "ssl", ssl, raw) or reference not in set(df.loc[df["ssl"] == ssl, "strategy"]):
        f.verdict = not_tested(f"needs SSL-{label(reference)} and raw AL runs")
        return f
    al = df[(df["ssl"] == raw) & (df["strategy"] != reference)]
    if al.empty:
        f.verdict = not_tested("no raw AL strategy besides Random")
        return f
    ssl_ref = df[(df["ssl"] == ssl) & (df["strategy"] == reference)]
    cycles = sorted(set(ssl_ref["cycle"]) & set(al["cycle"]))
    t = _test_table(_best_raw_gap(df, y, ssl, raw, reference, cycles), level)
    x = _x(df)
    for _, row in t.iterrows():
        f.evidence.append(stats.describe(row, y_name=_y_name(y), reference_label=f"raw {label(row['strategy'])}",
                                         label=f"SSL-{label(reference)} at {_budget_of(df, row['cycle'], x)} labels"))
    f.evidence.append(f"method: per budget, the raw AL strategy with the best mean there (picked after the fact, "
                      f"which favours AL); paired two-sided t-test over trials, {100 * level:g} % Student-t interval, "
                      f"Holm across the {len(t)} budgets")
    f.verdict = expect_all(t, "above")
    return f


def ssl_random_with_fewer_labels(df: pd.DataFrame, y: str = "accuracy", ssl: str = "uda", raw: str = "none",
                                 reference: str = "random", level: float = stats.DEFAULT_LEVEL) -> Finding:
    """SSL-Random with only the initial labels vs the best raw AL strategy with the largest raw
    budget (the paper: 5k vs 20k labels). Reported with its interval; no verdict, because the
    paper's "almost reaches" names no margin."""
    f = Finding("SSL-Random with the initial labels almost reaches what AL reaches with the largest budget "
                "(5k vs 20k labels on CIFAR; Sec. 3.2.3, Fig. 4-5)")
    if not _has(df, "ssl", ssl, raw) or reference not in set(df.loc[df["ssl"] == ssl, "strategy"]):
        f.verdict = not_tested(f"needs SSL-{label(reference)} and raw AL runs")
        return f
    ssl_ref = df[(df["ssl"] == ssl) & (df["strategy"] == reference)]
    al = df[(df["ssl"] == raw) & (df["strategy"] != reference)]
    if al.empty:
        f.verdict = not_tested("no raw AL strategy besides Random")
        return f
    x = _x(df)
    c0, cmax = int(ssl_ref["cycle"].min()), int(al["cycle"].max())
    at = al[al["cycle"] == cmax]
    best = at.groupby("strategy")[y].mean().idxmax()
    d = (ssl_ref[ssl_ref["cycle"] == c0].set_index("trial")[y]
         - at[at["strategy"] == best].set_index("trial")[y]).dropna().to_numpy()
    res = stats.paired_test(d, level)
    n0, m, n = _budget_of(ssl_ref, c0, x), _budget_of(al, cmax, x), res["n"]
    line = (f"SSL-{label(reference)} with {n0} labels minus raw {label(best)} (the best AL strategy there) with {m} "
            f"labels: {100 * res['gap']:+.1f} {_y_name(y)}")
    if n >= stats.MIN_TRIALS:
        line += (f" [{100 * level:g} % CI {100 * res['ci_low']:+.1f}, {100 * res['ci_high']:+.1f}] over {n} paired "
                 "trials (Student-t interval)")
    else:
        line += f" over {n} paired trial{'s' if n != 1 else ''} (too few for an interval)"
    f.evidence.append(line)
    f.verdict = not_tested("'almost reaches' names no margin to test; the difference and its interval are shown above")
    return f


# --------------------------------------------------------------------------- RQ3: low budget (03)


def no_strategy_consistently_beats_random(df: pd.DataFrame, y: str = "accuracy", reference: str = "random",
                                          level: float = stats.DEFAULT_LEVEL) -> Finding:
    """No strategy consistently beats Random: per query cycle (cycle > 0; cycle 0 is the shared
    random initial set) a paired t-test of every strategy against Random within its training recipe
    (``ssl``), Holm across strategies per cycle. A strategy "consistently beats" Random if it is
    significantly above at every query cycle; replicated iff none does."""
    f = Finding("no AL strategy consistently beats Random with few labels, raw or with SSL (Sec. 3.2.4, Fig. 6-7)")
    by = ["ssl"] if "ssl" in df.columns else None
    q = df[df["cycle"] > 0]
    if q.empty or reference not in set(df["strategy"]) or df["strategy"].nunique() < 2:
        f.verdict = not_tested("needs Random, another strategy and at least one query cycle")
        return f
    t = stats.compare_to_reference(df, y=y, reference=reference, by=by, at="cycle", level=level)
    t = t[t["cycle"] > 0]
    keys = (by or []) + ["strategy"]
    for key, g in t.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        ssl_val = dict(zip(keys, key)).get("ssl", "none")
        name = ("SSL-" if ssl_val != "none" else "") + label(key[-1])
        counts = g["verdict"].value_counts()
        if int(g["n"].min()) < stats.MIN_TRIALS:
            f.evidence.append(f"{name}: mean gap to {label(reference)} {100 * g['gap'].mean():+.1f} {_y_name(y)} over "
                              f"{len(g)} query cycles; too few trials (n={int(g['n'].min())}) for a verdict")
            continue
        f.evidence.append(f"{name}: above {'SSL-' if ssl_val != 'none' else ''}{label(reference)} in "
                          f"{counts.get('above', 0)}, below in {counts.get('below', 0)}, indistinguishable in "
                          f"{counts.get('indistinguishable from', 0)} of {len(g)} query cycles "
                          f"(mean gap {100 * g['gap'].mean():+.1f} {_y_name(y)})")
    if (t["n"] >= stats.MIN_TRIALS).any():
        f.evidence.append("method: " + stats.describe_method(t) + "; query cycles only (cycle 0 is the shared initial set)")
    verdict = _tested(t)
    if verdict is None:
        always = t.groupby(keys)["verdict"].agg(lambda v: (v == "above").all())
        verdict = NOT_REPLICATED if always.any() else REPLICATED
        room = _room_above(t, y, label(reference) + " of the same recipe",
                           names=lambda r: ("SSL-" if r.get("ssl", "none") != "none" else "") + label(r["strategy"]))
        if verdict == REPLICATED and room:
            f.evidence.append(room)
    f.verdict = verdict
    return f


def _ssl_named(df: pd.DataFrame, ssl: str) -> pd.DataFrame:
    """``df`` with raw and SSL runs as separate strategies named "X" and "SSL-X" (no ``ssl`` column)."""
    out = df.copy()
    prefix = np.where(out["ssl"] == ssl, "SSL-", "")
    out["strategy"] = [p + label(s) for p, s in zip(prefix, out["strategy"])]
    return out.drop(columns="ssl")


def nothing_beats_ssl_random(df: pd.DataFrame, y: str = "accuracy", ssl: str = "uda", reference: str = "random",
                             level: float = stats.DEFAULT_LEVEL) -> Finding:
    """Nothing beats SSL-Random: every raw X and SSL-X against SSL-Random at the last cycle (paired
    by trial, Holm across all of them); replicated iff none is significantly above SSL-Random."""
    f = Finding("nothing beats SSL-Random with few labels, neither raw AL nor SSL-AL (Sec. 3.2.4, Fig. 6-7)")
    if "ssl" not in df.columns or reference not in set(df.loc[df["ssl"] == ssl, "strategy"]):
        f.verdict = not_tested(f"needs SSL-{label(reference)} runs")
        return f
    named = _ssl_named(df, ssl)
    ref = "SSL-" + label(reference)
    if named["strategy"].nunique() < 2:
        f.verdict = not_tested("nothing to compare SSL-Random with")
        return f
    t = stats.compare_to_reference(named, y=y, reference=ref, at="last", level=level)
    f.evidence = _describe_rows(t, y, ref, names=lambda r: r["strategy"])
    f.verdict = expect_none(t, "above")
    room = _room_above(t, y, ref, names=lambda r: r["strategy"])
    if f.verdict == REPLICATED and room:
        f.evidence.append(room)
    return f


# --------------------------------------------------------------------------- RQ2 continued: transfer (04)


def ssl_random_beats_transfer(df: pd.DataFrame | None, y: str = "accuracy", transfer: str = "transfer",
                              ssl_random: str = "random", by: str = "regime",
                              level: float = stats.DEFAULT_LEVEL) -> Finding:
    """SSL-Random beats the fine-tuned ImageNet network in every budget regime: per regime a paired
    t-test of the per-trial AUBC (mean accuracy across the budget) of SSL-Random minus the
    fine-tuned network; replicated iff SSL-Random is significantly above in every regime."""
    f = Finding("SSL-Random clearly beats a fine-tuned ImageNet ResNet-18 in both budget regimes "
                "(Sec. 3.2.5, Fig. 8-9)")
    if df is None or transfer not in set(df["strategy"]):
        f.verdict = not_tested("no pretrained weights offline")
        return f
    part = df[df["strategy"].isin([transfer, ssl_random])]
    t = stats.compare_to_reference(part, y=y, reference=transfer, by=[by] if by in df.columns else None,
                                   at="aubc", level=level)
    names = (lambda r: f"SSL-Random, {r[by]} budget") if by in t.columns else (lambda r: "SSL-Random")
    f.evidence = _describe_rows(t, y, "fine-tuned ImageNet ResNet-18", names=names)
    f.verdict = expect_all(t, "above")
    return f


# --------------------------------------------------------------------------- RQ4: annotation (05)


def tolerance_tradeoff(table: pd.DataFrame) -> Finding:
    """A larger polygon tolerance costs fewer clicks and gives lower label quality: over the
    tolerance sweep (``table`` from :func:`alkit.protocol.annotation.clicks_table`), clicks per image and
    label mIoU never rise with the tolerance and both fall from the smallest to the largest.
    Deterministic measurements on fixed images (no trials)."""
    f = Finding("a larger polygon tolerance trades label quality for fewer clicks (Sec. 4.1, Fig. 10-11)")
    t = table.sort_values("tolerance")
    if len(t) < 2:
        f.verdict = not_tested("fewer than two tolerances")
        return f
    clicks, miou = t["clicks_per_image"].to_numpy(float), t["miou"].to_numpy(float)
    f.evidence.append(f"tolerance {t['tolerance'].iloc[0]:g} -> {t['tolerance'].iloc[-1]:g} px: clicks per image "
                      f"{clicks[0]:.1f} -> {clicks[-1]:.1f}, label mIoU {miou[0]:.2f} -> {miou[-1]:.2f} %")
    rises = [f"{a:g}->{b:g} px" for a, b, c0, c1, m0, m1 in zip(t["tolerance"], t["tolerance"][1:], clicks, clicks[1:],
                                                              miou, miou[1:]) if c1 > c0 or m1 > m0]
    if rises:
        f.evidence.append("clicks or mIoU rise with the tolerance at " + ", ".join(rises))
    f.evidence.append("deterministic measurements of one annotator on fixed images: no trials, no sampling interval")
    ok = not rises and clicks[-1] < clicks[0] and miou[-1] < miou[0]
    f.verdict = REPLICATED if ok else NOT_REPLICATED
    return f


def annotation_cost(table: pd.DataFrame, clicks, tolerance: float, dataset: str, *,
                    paper_tolerance: float = 10.0, paper_miou: float = 95.06, paper_clicks: float = 33.0,
                    miou_margin: float = 1.0, clicks_margin: float = 0.10) -> Finding:
    """The paper's measurement at 10 px on PASCAL VOC (95.06 % label mIoU, ~33 clicks per image) next
    to this run's at ``tolerance``: label mIoU over all pixels (``table``) and clicks per image as
    mean +- sd over images (``clicks``). Only comparable on VOC at 10 px; there it is replicated iff
    within ``miou_margin`` points and ``clicks_margin`` (relative) of the paper's numbers."""
    f = Finding(f"at {paper_tolerance:g} px on PASCAL VOC the polygon labels keep {paper_miou} % mIoU for about "
                f"{paper_clicks:g} clicks per image (Sec. 4.1, Fig. 10)")
    clicks = np.asarray(clicks, float)
    row = table[np.isclose(table["tolerance"].astype(float), float(tolerance))]
    if len(clicks):
        f.evidence.append(f"this run ({dataset}, {len(clicks)} images, {tolerance:g} px): clicks per image "
                          f"{clicks.mean():.1f} +- {clicks.std(ddof=1) if len(clicks) > 1 else 0.0:.1f} (mean +- sd over "
                          f"images), median {np.median(clicks):.0f}, 10-90th percentile "
                          f"{np.percentile(clicks, 10):.0f}-{np.percentile(clicks, 90):.0f}")
    if len(row):
        f.evidence.append(f"label mIoU of the polygons vs the true masks: {float(row['miou'].iloc[0]):.2f} % "
                          "(over all pixels of these images)")
    f.evidence.append("a deterministic annotator on fixed images: these are measurements, not estimates over trials")
    if dataset != "voc" or not np.isclose(float(tolerance), paper_tolerance):
        f.verdict = not_tested(f"{dataset} at {tolerance:g} px, not PASCAL VOC at {paper_tolerance:g} px")
    elif not len(row) or not len(clicks):
        f.verdict = not_tested(f"{tolerance:g} px is not in the tolerance sweep")
    else:
        miou = float(row["miou"].iloc[0])
        close = abs(miou - paper_miou) <= miou_margin and abs(clicks.mean() - paper_clicks) <= clicks_margin * paper_clicks
        f.evidence.append(f"replication margin: within {miou_margin:g} mIoU points and {100 * clicks_margin:g} % of the clicks")
        f.verdict = REPLICATED if close else NOT_REPLICATED
    return f


# --------------------------------------------------------------------------- RQ4: segmentation AL (06)


def _seg_vs_random(df, y, reference, level):
    return stats.compare_to_reference(df, y=y, reference=reference, at="last", level=level)


def strategy_beats_random(df: pd.DataFrame, strategy: str = "entropy", y: str = "miou", reference: str = "random",
                          claim: str = "Entropy beats Random after the last cycle (paper: about +1.1 mIoU after 5 "
                                       "cycles on VOC; Sec. 4.4.1, Fig. 13)",
                          level: float = stats.DEFAULT_LEVEL) -> Finding:
    """``strategy`` is significantly above ``reference`` at the last cycle (paired t-test, Holm across
    every strategy in ``df``)."""
    f = Finding(claim)
    if not {strategy, reference} <= set(df["strategy"]):
        f.verdict = not_tested(f"needs {label(strategy)} and {label(reference)} runs")
        return f
    t = _seg_vs_random(df, y, reference, level)
    row = t[t["strategy"] == strategy]
    f.evidence = _describe_rows(row, y, label(reference))
    f.verdict = expect_all(row, "above")
    return f


def strategy_not_above_random(df: pd.DataFrame, strategy: str = "ll", y: str = "miou", reference: str = "random",
                              claim: str = "Learning Loss does not beat Random (Sec. 4.4.1, Fig. 13)",
                              level: float = stats.DEFAULT_LEVEL) -> Finding:
    """``strategy`` is not significantly above ``reference`` at the last cycle (paired t-test, Holm
    across every strategy in ``df``); the evidence says how large an advantage the interval allows."""
    f = Finding(claim)
    if not {strategy, reference} <= set(df["strategy"]):
        f.verdict = not_tested(f"needs {label(strategy)} and {label(reference)} runs")
        return f
    t = _seg_vs_random(df, y, reference, level)
    row = t[t["strategy"] == strategy]
    f.evidence = _describe_rows(row, y, label(reference))
    f.verdict = expect_none(row, "above")
    if f.verdict == REPLICATED:
        room = _room_above(row, y, label(reference))
        if room:
            f.evidence.append(room)
    return f


def ssl_random_best_segmentation() -> Finding:
    """Fig. 13's semi-supervised claim needs s4GAN, which alkit does not implement: never tested."""
    return Finding("nothing beats SSL-Random (s4GAN) for segmentation (Sec. 4.4.1, Fig. 13, dashed lines)",
                   verdict=not_tested("alkit does not implement s4GAN"))


# --------------------------------------------------------------------------- Sec. 4.3-4.4.2 with s4GAN (07)


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


def _named_vs(df: pd.DataFrame, claim: str, names, reference: str, verdict: str, y: str = "miou",
              level: float = stats.DEFAULT_LEVEL) -> Finding:
    """Runs ``names`` against ``reference`` (paper run names) at the last cycle, paired by trial, Holm
    across ``names``; ``verdict``: "above" / "below" (every one significantly above / below the
    reference) or "not-above" (none is significantly above)."""
    f = Finding(claim)
    named = seg_named(df)
    present = set(named["strategy"])
    missing = [n for n in [reference, *names] if n not in present]
    if missing:
        f.verdict = not_tested(f"needs {', '.join(missing)} runs")
        return f
    t = stats.compare_to_reference(named[named["strategy"].isin([reference, *names])], y=y, reference=reference,
                                   at="last", level=level)
    f.evidence = _describe_rows(t, y, reference, names=lambda r: r["strategy"])
    f.verdict = expect_all(t, verdict) if verdict in ("above", "below") else expect_none(t, "above")
    if verdict == "not-above" and f.verdict == REPLICATED:
        room = _room_above(t, y, reference, names=lambda r: r["strategy"])
        if room:
            f.evidence.append(room)
    return f


def ssl_lifts_random_segmentation(df: pd.DataFrame, y: str = "miou") -> Finding:
    """SSL-Random (s4GAN) above Random at the last cycle (paper: +4.1 mIoU on VOC, Sec. 4.4.1)."""
    return _named_vs(df, "s4GAN lifts Random (paper: +4.1 mIoU after 5 cycles on VOC; Sec. 4.4.1, Fig. 13)",
                     ["SSL-Random"], "Random", "above", y)


def d_score_not_above_ssl_random(df: pd.DataFrame, y: str = "miou") -> Finding:
    """SSL-D-score is not above SSL-Random at the last cycle (Sec. 4.4.1: "comparable ... but does not
    bring any improvement over the SSL-Random baseline")."""
    return _named_vs(df, "SSL-D-score does not improve on SSL-Random (Sec. 4.4.1, Fig. 13, dashed lines)",
                     ["SSL-D-score"], "SSL-Random", "not-above", y)


def entropy_polygon_beats_random_polygon(df: pd.DataFrame, y: str = "miou") -> Finding:
    """Raw polygon-level labelling: entropy polygons above random polygons at the last cycle (Sec. 4.4.2)."""
    return _named_vs(df, "entropy-based polygon selection beats random polygon selection without SSL "
                         "(Sec. 4.4.2, Fig. 15)", ["Random-Image-Entropy-Polygon"], "Random-Image-Random-Polygon",
                     "above", y)


def ssl_random_image_beats_polygons(df: pd.DataFrame, y: str = "miou") -> Finding:
    """SSL-Random (image-level) above every polygon-level run present at the last cycle (Sec. 4.4.2)."""
    named = seg_named(df)
    polys = sorted(n for n in set(named["strategy"]) if n.endswith("-Polygon"))
    if not polys:
        return Finding("SSL-Random-Image outperforms all polygon-level AL methods (Sec. 4.4.2, Fig. 15)",
                       verdict=not_tested("needs polygon-level runs"))
    return _named_vs(df, "SSL-Random-Image outperforms all polygon-level AL methods (Sec. 4.4.2, Fig. 15)",
                     polys, "SSL-Random", "below", y)


# --------------------------------------------------------------------------- issue 12: SSL methods, glyph transfer


def ssl_random_beats_random(df: pd.DataFrame, y: str = "accuracy", ssl: str = "uda", raw: str = "none",
                            reference: str = "random", level: float = stats.DEFAULT_LEVEL) -> Finding:
    """SSL-Random (``ssl`` method) beats supervised Random at every budget both ran: per budget the
    per-trial difference (paired by trial: the same labelled images), paired t-test, Holm across
    budgets; replicated iff SSL-Random is significantly above at every budget."""
    name = {"uda": "UDA", "fixmatch": "FixMatch"}.get(ssl, ssl)
    f = Finding(f"SSL-Random ({name}) beats supervised Random at every budget (the paper: SSL makes far better "
                f"use of the unlabelled pool; Sec. 3.2.3-3.2.4)")
    if not _has(df, "ssl", ssl, raw):
        f.verdict = not_tested(f"needs SSL-{label(reference)} ({name}) and raw Random runs")
        return f
    a = df[(df["ssl"] == ssl) & (df["strategy"] == reference)]
    b = df[(df["ssl"] == raw) & (df["strategy"] == reference)]
    if a.empty or b.empty:
        f.verdict = not_tested(f"needs SSL-{label(reference)} ({name}) and raw Random runs")
        return f
    rows = []
    for c in sorted(set(a["cycle"]) & set(b["cycle"])):
        d = a[a["cycle"] == c].set_index("trial")[y] - b[b["cycle"] == c].set_index("trial")[y]
        rows.append((c, reference, d.dropna().to_numpy()))
    t = _test_table(rows, level)
    x = _x(df)
    for _, row in t.iterrows():
        f.evidence.append(stats.describe(row, y_name=_y_name(y), reference_label="supervised Random",
                                         label=f"SSL-Random ({name}) at {_budget_of(df, row['cycle'], x)} labels"))
    f.evidence.append(f"method: paired two-sided t-test over trials per budget, {100 * level:g} % Student-t "
                      f"interval, Holm across the {len(t)} budgets")
    f.verdict = expect_all(t, "above")
    return f


def pretrained_vs_ssl_random(df: pd.DataFrame, y: str = "accuracy", pretrained: str = "glyphs",
                             ssl_random: str = "random", by: str = "regime", source: str = "glyph-pre-trained CNN",
                             level: float = stats.DEFAULT_LEVEL) -> Finding:
    """The paper's transfer claim with an offline source: per budget regime, the per-trial AUBC of
    SSL-Random minus the fine-tuned pre-trained network (strategy name ``pretrained``), paired by
    trial; replicated iff SSL-Random is significantly above in every regime."""
    f = Finding(f"SSL-Random clearly beats a fine-tuned pre-trained network ({source}) in both budget "
                f"regimes (Sec. 3.2.5, Fig. 8-9)")
    if df is None or pretrained not in set(df["strategy"]) or ssl_random not in set(df["strategy"]):
        f.verdict = not_tested(f"needs SSL-Random and {source} runs")
        return f
    part = df[df["strategy"].isin([pretrained, ssl_random])]
    t = stats.compare_to_reference(part, y=y, reference=pretrained, by=[by] if by in df.columns else None,
                                   at="aubc", level=level)
    names = (lambda r: f"SSL-Random, {r[by]} budget") if by in t.columns else (lambda r: "SSL-Random")
    f.evidence = _describe_rows(t, y, f"fine-tuned {source}", names=names)
    f.verdict = expect_all(t, "above")
    return f
