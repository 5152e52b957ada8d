"""alkit.analysis.findings on synthetic results: a clear effect is "replicated", a reversed one "not
replicated", two trials give no verdict, and a claim the data cannot test says why."""

import numpy as np
import pandas as pd
import pytest

from alkit.analysis import findings
from alkit.analysis.findings import NOT_REPLICATED, REPLICATED

STRATS = ("random", "entropy", "coreset")


def frame(effects, n_trials=4, cycles=(0, 1, 2), noise=0.003, seed=0, y="accuracy", x="n_labelled", **const):
    """Tidy results: per trial a shared base accuracy (so comparisons are paired), plus
    ``effects[strategy]`` (a number, or a function of the cycle) and a little noise."""
    rng = np.random.default_rng(seed)
    rows = []
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


def check(f, verdict):
    text = str(f)
    assert text.startswith("Claim: ") and text.splitlines()[-1] == f"  => {verdict}", text
    assert f.verdict == verdict
    return text


# --------------------------------------------------------------------------- RQ1


def test_augmentation_lift_clear_reversed_and_too_few():
    flat = dict.fromkeys(STRATS, 0.0)
    lifted = dict.fromkeys(STRATS, 0.08)
    text = check(findings.augmentation_lifts_every_strategy(two(lifted, flat, "augment", "paper", "none")), REPLICATED)
    assert "Entropy-w/o-Aug" in text and "95 % CI" in text and "method:" in text
    check(findings.augmentation_lifts_every_strategy(two(flat, lifted, "augment", "paper", "none")), NOT_REPLICATED)
    text = check(findings.augmentation_lifts_every_strategy(two(lifted, flat, "augment", "paper", "none", n_trials=2)),
                 "no verdict: too few trials (n=2)")
    assert "CI" not in text and "too few trials (n=2) for a verdict" in text


def test_augmentation_lift_not_tested_without_both_recipes():
    f = findings.augmentation_lifts_every_strategy(frame(dict.fromkeys(STRATS, 0.0), augment="paper"))
    assert f.verdict.startswith("not tested in this run (")


def test_augmentation_shrinks_differences():
    wide = {"random": 0.0, "entropy": 0.05, "coreset": 0.10}
    narrow = {"random": 0.0, "entropy": 0.003, "coreset": 0.006}
    text = check(findings.augmentation_shrinks_differences(two(narrow, wide, "augment", "paper", "none")), REPLICATED)
    assert "points without augmentation" in text and "95 % CI" in text
    check(findings.augmentation_shrinks_differences(two(wide, narrow, "augment", "paper", "none")), NOT_REPLICATED)
    check(findings.augmentation_shrinks_differences(two(narrow, wide, "augment", "paper", "none", n_trials=2)),
          "no verdict: too few trials (n=2)")


def test_augmentation_shrinks_needs_two_strategies():
    one = {"random": 0.0}
    f = findings.augmentation_shrinks_differences(two(one, one, "augment", "paper", "none"))
    assert f.verdict == "not tested in this run (fewer than two strategies in every trial)"


def test_al_beats_random_without_augmentation():
    better = {"random": 0.0, "entropy": 0.05, "coreset": 0.04}
    mixed = {"random": 0.0, "entropy": 0.05, "coreset": -0.04}
    flat = dict.fromkeys(STRATS, 0.0)
    check(findings.al_beats_random_without_augmentation(two(flat, better, "augment", "paper", "none")), REPLICATED)
    check(findings.al_beats_random_without_augmentation(two(flat, mixed, "augment", "paper", "none")), NOT_REPLICATED)
    check(findings.al_beats_random_without_augmentation(two(flat, better, "augment", "paper", "none", n_trials=2)),
          "no verdict: too few trials (n=2)")


# --------------------------------------------------------------------------- RQ2 / RQ3


def test_ssl_lifts_every_strategy():
    flat = dict.fromkeys(STRATS, 0.0)
    lifted = dict.fromkeys(STRATS, 0.1)
    text = check(findings.ssl_lifts_every_strategy(two(lifted, flat, "ssl", "uda", "none")), REPLICATED)
    assert "SSL-Entropy" in text and "at 200 labels" in text
    check(findings.ssl_lifts_every_strategy(two(flat, lifted, "ssl", "uda", "none")), NOT_REPLICATED)
    check(findings.ssl_lifts_every_strategy(two(lifted, flat, "ssl", "uda", "none", n_trials=2)),
          "no verdict: too few trials (n=2)")


def test_ssl_lift_pairs_only_the_budgets_both_ran():
    df = pd.concat([frame(dict.fromkeys(STRATS, 0.1), cycles=(0, 1), ssl="uda"),
                    frame(dict.fromkeys(STRATS, 0.0), cycles=(0, 1, 2, 3), seed=1, ssl="none")], ignore_index=True)
    text = check(findings.ssl_lifts_every_strategy(df), REPLICATED)
    assert "at 150 labels" in text and "at 250 labels" not in text


def test_ssl_random_beats_best_al():
    raw = {"random": 0.0, "entropy": 0.02, "coreset": 0.01}
    ssl_good = {"random": 0.15, "entropy": 0.15}
    ssl_bad = {"random": -0.05, "entropy": 0.0}
    text = check(findings.ssl_random_beats_best_al(two(ssl_good, raw, "ssl", "uda", "none")), REPLICATED)
    assert "raw Entropy" in text and "Holm across the 3 budgets" in text
    check(findings.ssl_random_beats_best_al(two(ssl_bad, raw, "ssl", "uda", "none")), NOT_REPLICATED)
    check(findings.ssl_random_beats_best_al(two(ssl_good, raw, "ssl", "uda", "none", n_trials=2)),
          "no verdict: too few trials (n=2)")


def test_ssl_random_with_fewer_labels_is_reported_not_judged():
    raw = {"random": 0.0, "entropy": 0.02}
    f = findings.ssl_random_with_fewer_labels(two({"random": 0.15}, raw, "ssl", "uda", "none"))
    assert f.verdict.startswith("not tested in this run (")
    assert "with 100 labels minus raw Entropy" in str(f) and "with 200 labels" in str(f) and "95 % CI" in str(f)
    f2 = findings.ssl_random_with_fewer_labels(two({"random": 0.15}, raw, "ssl", "uda", "none", n_trials=2))
    assert "too few for an interval" in str(f2)


def test_no_strategy_consistently_beats_random():
    flat = dict.fromkeys(STRATS, 0.0)
    df = two(flat, flat, "ssl", "uda", "none", noise=0.01)
    text = check(findings.no_strategy_consistently_beats_random(df), REPLICATED)
    assert "intervals still allow" in text and "query cycles" in text
    winner = {"random": 0.0, "entropy": lambda c: 0.1 if c > 0 else 0.0, "coreset": 0.0}
    check(findings.no_strategy_consistently_beats_random(two(flat, winner, "ssl", "uda", "none")), NOT_REPLICATED)
    # a strategy above Random at only one of two query cycles does not "consistently" beat it
    once = {"random": 0.0, "entropy": lambda c: 0.1 if c == 1 else 0.0, "coreset": 0.0}
    check(findings.no_strategy_consistently_beats_random(two(flat, once, "ssl", "uda", "none")), REPLICATED)
    check(findings.no_strategy_consistently_beats_random(two(flat, winner, "ssl", "uda", "none", n_trials=2)),
          "no verdict: too few trials (n=2)")


def test_nothing_beats_ssl_random():
    raw = dict.fromkeys(STRATS, 0.0)
    ssl_top = {"random": 0.1, "entropy": 0.1, "coreset": 0.09}
    ssl_beaten = {"random": 0.1, "entropy": 0.2, "coreset": 0.1}
    text = check(findings.nothing_beats_ssl_random(two(ssl_top, raw, "ssl", "uda", "none")), REPLICATED)
    assert "vs SSL-Random" in text and "intervals still allow" in text
    check(findings.nothing_beats_ssl_random(two(ssl_beaten, raw, "ssl", "uda", "none")), NOT_REPLICATED)
    check(findings.nothing_beats_ssl_random(two(ssl_top, raw, "ssl", "uda", "none", n_trials=2)),
          "no verdict: too few trials (n=2)")


# --------------------------------------------------------------------------- transfer (04)


def transfer_frame(gap, n_trials=4):
    return pd.concat([frame({"random": gap, "transfer": 0.0}, n_trials=n_trials, regime=r, seed=i)
                      for i, r in enumerate(("low", "high"))], ignore_index=True)


def test_ssl_random_beats_transfer():
    assert findings.ssl_random_beats_transfer(None).verdict == "not tested in this run (no pretrained weights offline)"
    only_ssl = frame({"random": 0.0}, regime="low")
    assert findings.ssl_random_beats_transfer(only_ssl).verdict.startswith("not tested")
    text = check(findings.ssl_random_beats_transfer(transfer_frame(0.1)), REPLICATED)
    assert "SSL-Random, low budget" in text and "vs fine-tuned ImageNet ResNet-18" in text
    check(findings.ssl_random_beats_transfer(transfer_frame(-0.1)), NOT_REPLICATED)
    check(findings.ssl_random_beats_transfer(transfer_frame(0.1, n_trials=2)), "no verdict: too few trials (n=2)")


# --------------------------------------------------------------------------- annotation (05)


def sweep(clicks, miou):
    return pd.DataFrame(dict(tolerance=[5.0, 10.0, 20.0][: len(clicks)], clicks_per_image=clicks, miou=miou))


def test_tolerance_tradeoff():
    check(findings.tolerance_tradeoff(sweep([60, 33, 20], [98.0, 95.0, 88.0])), REPLICATED)
    text = check(findings.tolerance_tradeoff(sweep([60, 70, 20], [98.0, 95.0, 88.0])), NOT_REPLICATED)
    assert "5->10 px" in text
    assert findings.tolerance_tradeoff(sweep([60], [98.0])).verdict.startswith("not tested")


def test_annotation_cost_only_comparable_on_voc_at_10px():
    table = sweep([60, 33, 20], [98.0, 95.1, 88.0])
    clicks = np.array([30, 33, 36, 33])
    f = findings.annotation_cost(table, clicks, 10.0, "shapes")
    assert f.verdict == "not tested in this run (shapes at 10 px, not PASCAL VOC at 10 px)"
    assert "33.0 +- 2.4 (mean +- sd over images)" in str(f) and "95.10 %" in str(f)
    check(findings.annotation_cost(table, clicks, 10.0, "voc"), REPLICATED)
    check(findings.annotation_cost(table, clicks + 20, 10.0, "voc"), NOT_REPLICATED)
    assert findings.annotation_cost(table, clicks, 5.0, "voc").verdict.startswith("not tested")


# --------------------------------------------------------------------------- segmentation (06)


def seg(effects, n_trials=4, noise=0.003):
    return frame(effects, n_trials=n_trials, y="miou", x="budget", noise=noise)


def test_entropy_beats_random():
    clear = {"random": 0.0, "entropy": 0.05, "ll": 0.0}
    text = check(findings.strategy_beats_random(seg(clear)), REPLICATED)
    assert "mIoU points" in text
    check(findings.strategy_beats_random(seg({"random": 0.0, "entropy": -0.05, "ll": 0.0})), NOT_REPLICATED)
    text = check(findings.strategy_beats_random(seg(clear, n_trials=2)), "no verdict: too few trials (n=2)")
    assert "method:" not in text  # no test was made
    assert findings.strategy_beats_random(seg({"random": 0.0, "ll": 0.0})).verdict.startswith("not tested")


def test_ll_not_above_random():
    text = check(findings.strategy_not_above_random(seg({"random": 0.0, "entropy": 0.0, "ll": 0.0}, noise=0.01)),
                 REPLICATED)
    assert "indistinguishable from Random" in text and "intervals still allow up to +" in text
    text = check(findings.strategy_not_above_random(seg({"random": 0.0, "entropy": 0.0, "ll": -0.05})), REPLICATED)
    assert "below Random" in text and "still allow" not in text  # the interval excludes any advantage
    check(findings.strategy_not_above_random(seg({"random": 0.0, "entropy": 0.0, "ll": 0.05})), NOT_REPLICATED)
    check(findings.strategy_not_above_random(seg({"random": 0.0, "ll": -0.05}, n_trials=2)),
          "no verdict: too few trials (n=2)")


# --------------------------------------------------------------------------- no claim (00), helpers


def test_versus_random_and_heading():
    df = frame({"random": 0.0, "entropy": 0.05}, n_trials=2)
    text = findings.versus_random(df)
    assert "too few trials (n=2) for a verdict" in text and "above Random" not in text
    assert "above Random" in findings.versus_random(frame({"random": 0.0, "entropy": 0.05}))
    assert findings.heading(df, "digits") == ("This run shows (digits; 2 trials per strategy "
                                              "(verdicts need at least 3)):")
    assert findings.heading(frame({"random": 0.0})) == "This run shows (4 trials per strategy):"


def test_as_points_scales_gaps_only():
    from alkit.analysis import stats

    t = stats.compare_to_reference(frame({"random": 0.0, "entropy": 0.05}), at="last")
    shown = findings.as_points(t)
    assert shown["gap"].iloc[0] == pytest.approx(100 * t["gap"].iloc[0], abs=0.01)
    assert shown["n"].iloc[0] == t["n"].iloc[0]
