"""Every claim of the claims table (alkit.analysis.claims.CLAIMS) on synthetic results: a clear
effect is "replicated", a reversed one "contradicted", two trials give "too few trials", and a claim
the data cannot test says why; plus the naming helpers of alkit.analysis.findings."""

import numpy as np
import pandas as pd
import pytest

from alkit.analysis import claims as C
from alkit.analysis import findings

STRATS = ("random", "entropy", "coreset")
REP, CON, INC = C.REPLICATED, C.CONTRADICTED, C.INCONCLUSIVE
FEW = "too few trials (n=2)"


@pytest.fixture(autouse=True)
def _outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    monkeypatch.delenv("ALKIT_PRESET", raising=False)


def frame(effects, n_trials=4, cycles=(0, 1, 2), noise=0.003, seed=0, y="accuracy", x="n_labelled", **const):
    """Tidy results: per trial a shared base accuracy (so comparisons are paired), plus
    ``effects[strategy]`` (a number, or a function of the cycle) and a little noise."""
    rng = np.random.default_rng(seed)
    rows = []
    const.setdefault("dataset", "digits" if y == "accuracy" else "shapes")
    for t in range(n_trials):
        base = 0.6 + 0.03 * np.random.default_rng(1000 + t).normal()  # shared by every run of trial t
        for s, e in effects.items():
            for c in cycles:
                eff = e(c) if callable(e) else e
                rows.append(dict(strategy=s, trial=t, cycle=c, **{x: 100 + 50 * c},
                                 **{y: base + 0.05 * c + eff + noise * rng.normal()}, **const))
    return pd.DataFrame(rows)


def two(a_effects, b_effects, column, a, b, **kw):
    return pd.concat([frame(a_effects, **{column: a}, **kw), frame(b_effects, seed=1, **{column: b}, **kw)],
                     ignore_index=True)


def judge(df, key, **ctx):
    """The Verdict of claim ``key`` (the first expansion)."""
    spec = next(c for c in C.CLAIMS if c.key == key)
    return C.evaluate(df, spec.notebook, claims=[spec], preset="default", **ctx)[0]


def check(df, key, verdict, **ctx):
    v = judge(df, key, **ctx)
    text = str(v)
    assert text.startswith("Claim: ") and text.splitlines()[-1].startswith(f"  => {verdict}"), text
    assert v.row["verdict"] == verdict, text
    return text


def test_augmentation_lift():
    flat, lifted = dict.fromkeys(STRATS, 0.0), dict.fromkeys(STRATS, 0.08)
    text = check(two(lifted, flat, "augment", "paper", "none"), "01-aug-lifts", REP)
    assert "Entropy-w/o-Aug" in text and "95 % CI" in text and "margin +1.0 points" in text
    check(two(flat, lifted, "augment", "paper", "none"), "01-aug-lifts", CON)
    text = check(two(lifted, flat, "augment", "paper", "none", n_trials=2), "01-aug-lifts", FEW)
    assert check(frame(flat, augment="paper"), "01-aug-lifts", "not tested (needs runs with augment 'none' and 'paper')")


def test_augmentation_shrinks_differences():
    wide = {"random": 0.0, "entropy": 0.05, "coreset": 0.10}
    narrow = {"random": 0.0, "entropy": 0.003, "coreset": 0.006}
    check(two(narrow, wide, "augment", "paper", "none"), "01-aug-shrinks", REP)
    check(two(wide, narrow, "augment", "paper", "none"), "01-aug-shrinks", CON)
    check(two(narrow, wide, "augment", "paper", "none", n_trials=2), "01-aug-shrinks", FEW)
    one = {"random": 0.0}
    check(two(one, one, "augment", "paper", "none"), "01-aug-shrinks", "not tested (fewer than two strategies in every trial)")


def test_al_beats_random_without_augmentation():
    better = {"random": 0.0, "entropy": 0.05, "coreset": 0.04}
    mixed = {"random": 0.0, "entropy": 0.05, "coreset": -0.04}
    flat = dict.fromkeys(STRATS, 0.0)
    check(two(flat, better, "augment", "paper", "none"), "01-al-beats-random", REP)
    text = check(two(flat, mixed, "augment", "paper", "none"), "01-al-beats-random", CON)
    assert "Holm over the 2 parts" in text
    check(two(flat, better, "augment", "paper", "none", n_trials=2), "01-al-beats-random", FEW)


def test_ssl_lifts_every_strategy_and_most():
    flat, lifted = dict.fromkeys(STRATS, 0.0), dict.fromkeys(STRATS, 0.1)
    text = check(two(lifted, flat, "ssl", "uda", "none"), "02-ssl-lifts-every", REP)
    assert "SSL-Entropy minus Entropy" in text
    check(two(flat, lifted, "ssl", "uda", "none"), "02-ssl-lifts-every", CON)
    check(two(lifted, flat, "ssl", "uda", "none", n_trials=2), "02-ssl-lifts-every", FEW)
    text = check(two(lifted, flat, "ssl", "uda", "none"), "03-ssl-lifts-most", REP)
    assert "SSL-Random minus" not in text  # "SSL-AL methods": the AL strategies only
    most = {"random": 0.1, "entropy": 0.1, "coreset": -0.1, "ll": 0.1}
    check(two(most, dict.fromkeys(most, 0.0), "ssl", "uda", "none"), "03-ssl-lifts-most", REP)  # 2 of 3
    few = {"random": 0.0, "entropy": 0.1, "coreset": -0.1, "ll": -0.1}
    check(two(few, dict.fromkeys(few, 0.0), "ssl", "uda", "none"), "03-ssl-lifts-most", CON)


def test_ssl_random_beats_random_and_best_al():
    raw = {"random": 0.0, "entropy": 0.02, "coreset": 0.01}
    good, bad = {"random": 0.15, "entropy": 0.15}, {"random": -0.05, "entropy": 0.0}
    text = check(two(good, raw, "ssl", "uda", "none"), "02-ssl-random-beats-best-al", REP, ssl="uda")
    assert "raw Entropy" in text and "Holm over the 3 parts" in text
    check(two(bad, raw, "ssl", "uda", "none"), "02-ssl-random-beats-best-al", CON, ssl="uda")
    check(two(good, raw, "ssl", "uda", "none", n_trials=2), "02-ssl-random-beats-best-al", FEW, ssl="uda")
    text = check(two(good, raw, "ssl", "uda", "none"), "02-ssl-random-beats-random", REP, ssl="uda")
    assert "at 200 labels" in text
    # one claim per SSL method present in the frame
    df = pd.concat([two(good, raw, "ssl", "uda", "none"), frame(good, seed=3, ssl="fixmatch")], ignore_index=True)
    vs = C.evaluate(df, "02", preset="default")
    assert sum("FixMatch" in v.row["claim"] for v in vs) == 3 and sum("UDA" in v.row["claim"] for v in vs) == 3


def test_ssl_random_with_fewer_labels_has_no_margin():
    raw = {"random": 0.0, "entropy": 0.02}
    text = check(two({"random": 0.15}, raw, "ssl", "uda", "none"), "02-ssl-fewer-labels",
                 "not tested (no margin: the paper names none; the interval is shown above)", ssl="uda")
    assert "with 100 labels minus raw Entropy with 200" in text and "95 % CI" in text
    # no margin anywhere: not in the part line, not on the board row, no trials planned against one
    assert "margin" not in text.replace("no margin", "") and "below the margin" not in text
    row = judge(two({"random": 0.15}, raw, "ssl", "uda", "none"), "02-ssl-fewer-labels", ssl="uda").row
    assert np.isnan(row["margin"]) and row["trials_needed"] is None and np.isfinite(row["ci_low"])


def test_no_strategy_consistently_beats_random():
    flat = dict.fromkeys(STRATS, 0.0)
    check(two(flat, flat, "ssl", "uda", "none"), "03-no-consistent-winner", REP)
    winner = {"random": 0.0, "entropy": lambda c: 0.1 if c > 0 else 0.0, "coreset": 0.0}
    text = check(two(flat, winner, "ssl", "uda", "none"), "03-no-consistent-winner", CON)
    assert "2 of 2 cycles above 0" in text
    # above Random at one of two query cycles only, and at the other clearly not: not "consistently"
    once = {"random": 0.0, "entropy": lambda c: 0.1 if c == 1 else 0.0, "coreset": 0.0}
    check(two(flat, once, "ssl", "uda", "none"), "03-no-consistent-winner", REP)
    check(two(flat, winner, "ssl", "uda", "none", n_trials=2), "03-no-consistent-winner", FEW)
    # a wide interval: never replicated ("absence of evidence")
    check(two(flat, flat, "ssl", "uda", "none", noise=0.05), "03-no-consistent-winner", INC)


def test_nothing_beats_ssl_random():
    raw = dict.fromkeys(STRATS, 0.0)
    top, beaten = {"random": 0.1, "entropy": 0.1, "coreset": 0.09}, {"random": 0.1, "entropy": 0.2, "coreset": 0.1}
    text = check(two(top, raw, "ssl", "uda", "none"), "03-nothing-beats-ssl-random", REP)
    assert "vs SSL-Random" in text
    check(two(beaten, raw, "ssl", "uda", "none"), "03-nothing-beats-ssl-random", CON)
    check(two(top, raw, "ssl", "uda", "none", n_trials=2), "03-nothing-beats-ssl-random", FEW)


def transfer_frame(gap, n_trials=4, name="transfer"):
    return pd.concat([frame({"random": gap, name: 0.0}, n_trials=n_trials, regime=r, seed=i)
                      for i, r in enumerate(("low", "high"))], ignore_index=True)


def test_ssl_random_beats_pretrained():
    check(frame({"random": 0.0}, regime="low"), "04-beats-imagenet", "not tested (no pretrained weights offline)")
    text = check(transfer_frame(0.1), "04-beats-imagenet", REP)
    assert "low budget, AUBC" in text
    check(transfer_frame(-0.1), "04-beats-imagenet", CON)
    check(transfer_frame(0.1, n_trials=2), "04-beats-imagenet", FEW)
    check(transfer_frame(0.1, name="glyphs"), "04-beats-glyphs", REP)


def sweep(clicks, miou):
    return pd.DataFrame(dict(tolerance=[5.0, 10.0, 20.0][: len(clicks)], clicks_per_image=clicks, miou=miou))


def test_annotation_measurements():
    check(None, "05-tolerance-tradeoff", REP, table=sweep([60, 33, 20], [98.0, 95.0, 88.0]))
    text = check(None, "05-tolerance-tradeoff", CON, table=sweep([60, 70, 20], [98.0, 95.0, 88.0]))
    assert "5->10 px" in text
    check(None, "05-tolerance-tradeoff", "not tested (fewer than two tolerances)", table=sweep([60], [98.0]))
    table, clicks = sweep([60, 33, 20], [98.0, 95.1, 88.0]), np.array([30, 33, 36, 33])
    text = check(None, "05-annotation-cost", "not tested (shapes at 10 px, not PASCAL VOC at 10 px)",
                 table=table, clicks=clicks, tolerance=10.0, dataset="shapes")
    assert "33.0 +- 2.4 (mean +- sd over images)" in text and "95.10 %" in text
    check(None, "05-annotation-cost", REP, table=table, clicks=clicks, tolerance=10.0, dataset="voc")
    check(None, "05-annotation-cost", CON, table=table, clicks=clicks + 20, tolerance=10.0, dataset="voc")


def seg(effects, n_trials=4, noise=0.003, **const):
    return frame(effects, n_trials=n_trials, y="miou", x="budget", noise=noise, **const)


def test_segmentation_claims():
    clear = {"random": 0.0, "entropy": 0.05, "ll": 0.0}
    text = check(seg(clear), "06-entropy-beats-random", REP)
    assert "mIoU points" in text and "margin +2.0 mIoU points" in text
    check(seg({"random": 0.0, "entropy": -0.05, "ll": 0.0}), "06-entropy-beats-random", CON)
    check(seg(clear, n_trials=2), "06-entropy-beats-random", FEW)
    check(seg({"random": 0.0, "ll": 0.0}), "06-entropy-beats-random", "not tested (needs Entropy runs)")
    check(seg({"random": 0.0, "ll": -0.05}), "06-ll-not-above-random", REP)
    check(seg({"random": 0.0, "ll": 0.05}), "06-ll-not-above-random", CON)
    check(seg({"random": 0.0, "ll": 0.0}, noise=0.05), "06-ll-not-above-random", INC)  # wide: never replicated
    df = pd.concat([seg({"random": 0.0}, ssl="none"), seg({"random": 0.1, "d-score": 0.1}, ssl="s4gan")])
    check(df, "07-s4gan-lifts-random", REP)
    check(df, "07-dscore-not-above", REP)
    check(df, "07-entropy-polygon", "not tested (needs Random-Image-Random-Polygon, Random-Image-Entropy-Polygon runs)")


def test_segmentation_nothing_beats_ssl_random_covers_raw_and_ssl_runs():
    """Fig. 13's caption: every image-level run (raw strategies and SSL-AL) against SSL-Random;
    polygon-level runs are Fig. 15's claim and stay out of this family."""
    ssl = seg({"random": 0.0, "d-score": -0.005}, ssl="s4gan")
    below = pd.concat([seg({"random": 0.0, "entropy": 0.0, "ll": -0.01, "random-image-entropy-polygon": 0.1},
                           ssl="none"), ssl])
    text = check(below, "07-nothing-beats-ssl-random", REP)
    for part in ("Random vs SSL-Random", "Entropy vs SSL-Random", "LL vs SSL-Random", "SSL-D-score vs SSL-Random"):
        assert part in text, text
    assert "Polygon" not in text
    above = pd.concat([seg({"random": 0.0, "entropy": 0.08, "ll": 0.0}, ssl="none"), ssl])  # raw Entropy clearly above
    check(above, "07-nothing-beats-ssl-random", CON)
    check(seg({"random": 0.0, "entropy": 0.0}, ssl="none"), "07-nothing-beats-ssl-random",
          "not tested (needs SSL-Random (s4GAN) runs)")


def test_heading_labels_and_points():
    from alkit.analysis import stats

    df = frame({"random": 0.0, "entropy": 0.05}, n_trials=2)
    assert findings.heading(df, "digits") == ("This run shows (digits; 2 trials per strategy "
                                              "(verdicts need at least 3)):")
    assert findings.heading(frame({"random": 0.0})) == "This run shows (4 trials per strategy):"
    assert findings.label("ens-varr") == "ENS-varR"
    t = stats.compare_to_reference(frame({"random": 0.0, "entropy": 0.05}), at="last")
    shown = findings.as_points(t)
    assert shown["gap"].iloc[0] == pytest.approx(100 * t["gap"].iloc[0], abs=0.01)


def test_as_points_shows_no_gap_under_the_smoke_preset(monkeypatch):
    from alkit.analysis import stats

    t = stats.compare_to_reference(frame({"random": 0.0, "entropy": 0.05}), at="last")
    monkeypatch.setenv("ALKIT_PRESET", "smoke")
    shown = findings.as_points(t)
    assert shown["gap"].isna().all() and shown["ci_low"].isna().all()
    assert (shown["verdict"] == "not tested (smoke preset: training not converged)").all()
