"""alkit.analysis.bias_association: the paired gaps by hand, the slope against least squares with
an intercept per setting, and the verdict's error rates by simulation (thousands of synthetic
studies at the default notebook's shape: 3 settings x 5 trials x 6 strategies x 2 cycles)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alkit.analysis.bias_association import association, association_table, paired_to_reference, verdict


def _table():
    rows = []
    for regime, base in (("high", 0.9), ("low", 0.6)):
        for trial in range(2):
            for cycle in range(3):
                rows.append(dict(dataset="digits", regime=regime, strategy="random", trial=trial, cycle=cycle,
                                 accuracy=base + 0.01 * cycle, tv=0.1))
                rows.append(dict(dataset="digits", regime=regime, strategy="entropy", trial=trial, cycle=cycle,
                                 accuracy=base + 0.01 * cycle - 0.02 * trial, tv=0.1 + 0.05 * (trial + 1)))
    return pd.DataFrame(rows)


def test_paired_gaps_by_hand():
    p = paired_to_reference(_table(), "tv", "accuracy")
    assert len(p) == 2 * 2 * 2  # two regimes x two trials x cycles 1-2, Entropy only
    assert set(p["strategy"]) == {"entropy"}
    t1 = p[p["trial"] == 1]
    assert np.allclose(t1["gap"], -2.0) and np.allclose(t1["dbias"], 0.10)
    assert np.allclose(p[p["trial"] == 0]["gap"], 0.0) and np.allclose(p[p["trial"] == 0]["dbias"], 0.05)
    assert p["cluster"].nunique() == 4  # (regime, trial)


def _synthetic(rng, beta, settings=3, trials=5, strategies=6, cycles=2, cluster_sd=1.0, noise=1.0):
    rows = []
    for s in range(settings):
        for t in range(trials):
            u = rng.normal(0, cluster_sd)  # what a trial's Random run and initial set share
            for k in range(strategies):
                for c in range(cycles):
                    x = rng.normal(0.3 * k, 1.0)
                    rows.append(dict(setting=f"s{s}", strategy=f"x{k}", trial=t, cycle=c + 1, dbias=x,
                                     gap=beta * x + 2.0 * s + u + rng.normal(0, noise)))
    df = pd.DataFrame(rows)
    df["cluster"] = df.groupby(["setting", "trial"]).ngroup()
    return df


def test_slope_is_least_squares_with_an_intercept_per_setting():
    df = _synthetic(np.random.default_rng(0), beta=-1.5)
    est = association(df)
    dummies = pd.get_dummies(df["setting"]).to_numpy(float)
    coef = np.linalg.lstsq(np.column_stack([df["dbias"], dummies]), df["gap"], rcond=None)[0][0]
    sd = np.std(df["dbias"] - df.groupby("setting")["dbias"].transform("mean"), ddof=1)
    assert est["slope"] == pytest.approx(coef * sd, rel=1e-9)
    assert est["lo"] < est["slope"] < est["hi"] and est["clusters"] == 15 and est["n"] == len(df)


def test_verdict_rules():
    assert verdict(dict(lo=-3.0, hi=-1.5), 1.0) == "replicated"
    assert verdict(dict(lo=-0.8, hi=-0.1), 1.0).startswith("replicated (a loss smaller")
    assert verdict(dict(lo=-0.5, hi=0.4), 1.0) == "contradicted"
    assert verdict(dict(lo=-2.0, hi=0.4), 1.0) == "inconclusive"
    with pytest.raises(ValueError, match="delta"):
        verdict(dict(lo=0, hi=0), 0)


def test_bad_input_is_one_line():
    df = _synthetic(np.random.default_rng(1), beta=0.0, settings=1, trials=2)
    with pytest.raises(ValueError, match="at least 3"):
        association(df)
    flat = _synthetic(np.random.default_rng(1), beta=0.0).assign(dbias=0.0)
    with pytest.raises(ValueError, match="no spread"):
        association(flat)
    with pytest.raises(ValueError, match="no column 'nope'"):
        paired_to_reference(_table(), "nope", "accuracy")
    tab = association_table(_table().query("regime == 'high'"), ["tv"], "accuracy", delta=1.0)  # 2 clusters
    assert tab["verdict"].iloc[0].startswith("not tested (association needs at least 3")


@pytest.mark.parametrize("truth", ["no association", "a loss at the margin"])
def test_error_rates_by_simulation(truth):
    """P(replicated | slope 0) and P(contradicted | slope = -margin per sd) stay <= 5 % (the
    claims' bound), over 2000 synthetic studies each."""
    rng = np.random.default_rng(11)
    delta, sims, wrong = 1.0, 2000, 0
    for _ in range(sims):
        if truth == "no association":
            df = _synthetic(rng, beta=0.0)
            wrong += verdict(association(df), delta).startswith("repl")
        else:
            df = _synthetic(rng, beta=0.0)
            sd = np.std(df["dbias"] - df.groupby("setting")["dbias"].transform("mean"), ddof=1)
            df["gap"] += (-delta / sd) * df["dbias"]
            wrong += verdict(association(df), delta) == "contradicted"
    rate = wrong / sims
    assert rate <= 0.05, f"{truth}: wrong verdict in {rate:.1%} of {sims} simulated studies"
