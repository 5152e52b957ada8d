import numpy as np
import pandas as pd
import pytest

from alkit import stats


def frame():
    rows = []
    # two trials; random: 0.5, 0.6, 0.7 / 0.6, 0.7, 0.8 ; entropy = random + 0.1 (trial 0) / +0.3 (trial 1)
    for t, base, bonus in ((0, 0.5, 0.1), (1, 0.6, 0.3)):
        for c, n in enumerate((10, 20, 30)):
            rows.append(dict(strategy="random", trial=t, cycle=c, n_labelled=n, accuracy=base + 0.1 * c))
            rows.append(dict(strategy="entropy", trial=t, cycle=c, n_labelled=n, accuracy=base + 0.1 * c + bonus))
    return pd.DataFrame(rows)


def test_curve_summary_mean_std():
    s = stats.curve_summary(frame())
    r = s[(s.strategy == "random") & (s.n_labelled == 10)].iloc[0]
    assert r["mean"] == pytest.approx(0.55) and r["std"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert r["n"] == 2


def test_aubc_is_average_height_of_the_curve():
    per = stats.aubc_per_trial(frame())
    r0 = per[(per.strategy == "random") & (per.trial == 0)].aubc.item()
    assert r0 == pytest.approx(0.6)  # linear 0.5 -> 0.7: trapezoid / range = mean = 0.6
    agg = stats.aubc(frame())
    e = agg[agg.strategy == "entropy"].iloc[0]
    assert e.aubc == pytest.approx(np.mean([0.7, 1.0]))
    assert e.aubc_std == pytest.approx(np.std([0.7, 1.0], ddof=1))


def test_paired_gap_to_random():
    g = stats.final_gap(frame())
    e = g[g.strategy == "entropy"].iloc[0]
    assert e.cycle == 2 and e.gap == pytest.approx(0.2) and e.n == 2
    assert e.gap_std == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert g[g.strategy == "random"].gap.item() == 0


def test_verdict_and_labels_to_reach():
    assert stats.verdict(0.2, 0.05) == "above"
    assert stats.verdict(-0.2, 0.05) == "below"
    assert stats.verdict(0.05, 0.05) == "indistinguishable from"
    rnd = frame()[lambda d: d.strategy == "random"]
    assert stats.labels_to_reach(rnd, 0.60) == pytest.approx(15.0)  # mean curve 0.55, 0.65, 0.75
    assert stats.labels_to_reach(rnd, 0.9) is None
