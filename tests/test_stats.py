import numpy as np
import pandas as pd
import pytest

from alkit.analysis import stats


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


# --------------------------------------------------------------------------- honest statistics

import warnings

from scipy import stats as sps


def synthetic(offsets, n_trials, cycles=(0, 1, 2), noise=0.0, seed=0, extra=None):
    """Tidy frame: random ~ N(0.8, 0.02) per trial (shared by all strategies of the trial), each
    strategy = random + offset + N(0, noise); ``offsets`` maps strategy -> offset."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_trials):
        base = rng.normal(0.8, 0.02)
        for c in cycles:
            rows.append(dict(strategy="random", trial=t, cycle=c, n_labelled=100 * (c + 1), accuracy=base + 0.01 * c))
            for s, off in offsets.items():
                rows.append(dict(strategy=s, trial=t, cycle=c, n_labelled=100 * (c + 1),
                                 accuracy=base + 0.01 * c + off + rng.normal(0, noise)))
    df = pd.DataFrame(rows)
    for k, v in (extra or {}).items():
        df[k] = v
    return df


def test_paired_test_matches_hand_t_interval_and_scipy():
    g = np.array([0.012, 0.031, -0.004, 0.020])
    r = stats.paired_test(g, level=0.95)
    n, m, sd = 4, g.mean(), g.std(ddof=1)
    half = sps.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    assert r["n"] == 4 and r["gap"] == pytest.approx(m) and r["gap_sd"] == pytest.approx(sd)
    assert r["ci_low"] == pytest.approx(m - half) and r["ci_high"] == pytest.approx(m + half)
    assert r["p"] == pytest.approx(sps.ttest_1samp(g, 0.0).pvalue)
    r90 = stats.paired_test(g, level=0.90)
    assert r90["ci_high"] - r90["gap"] == pytest.approx(sps.t.ppf(0.95, 3) * sd / 2)
    assert r90["p"] == pytest.approx(r["p"])  # level changes the interval, not the p-value


def test_paired_test_needs_three_trials_and_handles_constant_differences():
    for g in ([0.3], [0.3, 0.5]):
        r = stats.paired_test(g)
        assert r["n"] == len(g) and np.isnan(r["ci_low"]) and np.isnan(r["ci_high"]) and np.isnan(r["p"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = stats.paired_test([0.1, 0.1, 0.1])
        z = stats.paired_test([0.0, 0.0, 0.0, 0.0])
    # equal gaps in every trial: no spread to test against, so no interval, no p and never above/below
    assert c["gap_sd"] == 0 and np.isnan(c["p"]) and np.isnan(c["ci_low"]) and np.isnan(c["ci_high"])
    assert np.isnan(z["p"]) and c["gap"] == pytest.approx(0.1)
    assert stats.verdict_words(c["gap"], c["p"], c["n"]) == "indistinguishable from"
    assert stats.verdict_words(z["gap"], z["p"], z["n"]) == "indistinguishable from"


def test_holm_on_a_known_vector():
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = stats.holm([0.2, np.nan, 0.5, 0.01])  # NaN takes no part: m = 3
    assert np.isnan(out[1]) and out[[0, 2, 3]] == pytest.approx([0.4, 0.5, 0.03])
    assert stats.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_verdict_words():
    assert stats.verdict_words(0.02, 0.049, 3) == "above"
    assert stats.verdict_words(-0.02, 0.049, 3) == "below"
    assert stats.verdict_words(0.02, 0.05, 3) == "indistinguishable from"
    assert stats.verdict_words(0.02, 0.09, 3, level=0.90) == "above"
    assert stats.verdict_words(0.5, 0.0, 2) == "too few trials (n=2) for a verdict"


def test_too_few_trials_never_give_a_verdict():
    two = frame()  # 2 trials, entropy +0.1 / +0.3: the old +-2 sem rule called this "above"
    one = two[two.trial == 0]
    for df, n in ((one, 1), (two, 2)):
        for at in ("last", "cycle", "aubc"):
            tab = stats.compare_to_reference(df, at=at)
            assert list(tab.strategy.unique()) == ["entropy"]
            assert (tab.n == n).all() and tab.ci_low.isna().all() and tab.p.isna().all() and tab.p_adj.isna().all()
            assert (tab.verdict == f"too few trials (n={n}) for a verdict").all()
    row = stats.compare_to_reference(two).iloc[0]
    assert stats.describe(row, label="LL") == \
        "LL: +20.0 points vs Random over 2 paired trials: too few trials (n=2) for a verdict"
    row1 = stats.compare_to_reference(one).iloc[0]
    assert stats.describe(row1) == "entropy: +10.0 points vs Random over 1 paired trial: too few trials (n=1) for a verdict"
    assert stats.verdict(0.2, 0.05, n=2) == "too few trials (n=2) for a verdict"


def test_compare_to_reference_columns_and_at_modes():
    df = synthetic({"entropy": 0.02, "badge": -0.01}, n_trials=4, noise=0.01, seed=3)
    last = stats.compare_to_reference(df)
    assert list(last.columns) == ["strategy", "cycle", "n", "gap", "gap_sd", "ci_low", "ci_high", "p", "p_adj", "verdict"]
    assert set(last.strategy) == {"entropy", "badge"} and (last.cycle == 2).all()
    e = last.set_index("strategy").loc["entropy"]
    hand = (df[(df.strategy == "entropy") & (df.cycle == 2)].sort_values("trial").accuracy.to_numpy()
            - df[(df.strategy == "random") & (df.cycle == 2)].sort_values("trial").accuracy.to_numpy())
    assert e.gap == pytest.approx(hand.mean()) and e.p == pytest.approx(sps.ttest_1samp(hand, 0).pvalue)
    assert last.p_adj.to_numpy() == pytest.approx(stats.holm(last.p.to_numpy()))
    assert (stats.compare_to_reference(df, adjust=None).eval("p == p_adj")).all()

    cyc = stats.compare_to_reference(df, at="cycle")
    assert len(cyc) == 6 and sorted(cyc.cycle.unique()) == [0, 1, 2]
    for _, fam in cyc.groupby("cycle"):  # Holm within each cycle's family of 2 strategies
        assert fam.p_adj.to_numpy() == pytest.approx(stats.holm(fam.p.to_numpy()))

    au = stats.compare_to_reference(df, at="aubc")
    assert "cycle" not in au.columns
    per = stats.aubc_per_trial(df).pivot(index="trial", columns="strategy", values="aubc")
    d = (per["badge"] - per["random"]).to_numpy()
    b = au.set_index("strategy").loc["badge"]
    assert b.gap == pytest.approx(d.mean()) and b.p == pytest.approx(sps.ttest_1samp(d, 0).pvalue)


def test_reference_matched_within_by_columns_and_holm_per_family():
    a = synthetic({"entropy": 0.03, "badge": 0.0}, n_trials=3, noise=0.01, seed=1, extra={"augment": "paper"})
    b = synthetic({"entropy": 0.0, "badge": 0.0}, n_trials=3, noise=0.01, seed=2, extra={"augment": "none"})
    df = pd.concat([a, b], ignore_index=True)
    tab = stats.compare_to_reference(df, by=["augment"])
    assert list(tab.columns[:2]) == ["augment", "strategy"] and len(tab) == 4
    for aug, part in (("paper", a), ("none", b)):
        r = tab[(tab.augment == aug) & (tab.strategy == "entropy")].iloc[0]
        hand = (part[(part.strategy == "entropy") & (part.cycle == 2)].accuracy.to_numpy()
                - part[(part.strategy == "random") & (part.cycle == 2)].accuracy.to_numpy())
        assert r.gap == pytest.approx(hand.mean())
        fam = tab[tab.augment == aug]
        assert fam.p_adj.to_numpy() == pytest.approx(stats.holm(fam.p.to_numpy()))
    assert "Holm-adjusted p < 0.05 across 2 strategies per augment" in stats.describe_method(tab)
    with pytest.raises(ValueError):
        stats.compare_to_reference(df, by=["no_such_column"])


def _null_experiments(n_exp, n_strategies, n_trials, seed):
    """Many independent null experiments in one frame (column ``exp``), one cycle each."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.8, 0.02, size=(n_exp, n_trials))
    frames = [pd.DataFrame(dict(exp=np.repeat(np.arange(n_exp), n_trials), trial=np.tile(np.arange(n_trials), n_exp),
                                strategy="random", cycle=0, accuracy=base.ravel()))]
    for s in range(n_strategies):
        acc = base + rng.normal(0.0, 0.01, size=base.shape)
        frames.append(frames[0].assign(strategy=f"s{s}", accuracy=acc.ravel()))
    return pd.concat(frames, ignore_index=True)


def test_simulation_false_verdict_rate_is_nominal_with_three_trials():
    df = _null_experiments(2000, 1, 3, seed=12345)
    tab = stats.compare_to_reference(df, by=["exp"], adjust=None)
    assert len(tab) == 2000 and (tab.n == 3).all()
    rate = tab.verdict.isin(["above", "below"]).mean()
    print(f"single-strategy false-verdict rate: {rate:.4f}")
    assert abs(rate - 0.05) <= 0.02
    # the t-interval must agree with the verdict (CI excludes 0 <=> p < 0.05)
    assert ((tab.ci_low > 0) | (tab.ci_high < 0)).eq(tab.p < 0.05).all()
    # the replaced +-2 sem rule is far too liberal with 2 degrees of freedom
    old = [stats.verdict(g, s / np.sqrt(3)) for g, s in zip(tab.gap, tab.gap_sd)]
    assert np.isin(old, ["above", "below"]).mean() > 0.12


def test_simulation_holm_keeps_the_family_wise_rate():
    df = _null_experiments(2000, 4, 3, seed=777)
    holm = stats.compare_to_reference(df, by=["exp"])
    assert len(holm) == 8000
    fwer = holm.groupby("exp").verdict.agg(lambda v: v.isin(["above", "below"]).any()).mean()
    raw = stats.compare_to_reference(df, by=["exp"], adjust=None)
    fwer_raw = raw.groupby("exp").verdict.agg(lambda v: v.isin(["above", "below"]).any()).mean()
    print(f"4-strategy family-wise false-verdict rate: Holm {fwer:.4f}, unadjusted {fwer_raw:.4f}")
    assert fwer <= 0.05 + 0.02
    assert fwer_raw > 0.10  # without the adjustment the family errs far more often
    assert "across 4 strategies per exp" in holm.attrs["method"]


def test_clear_gaps_are_found_and_described():
    df = synthetic({"entropy": 0.05, "coreset": -0.05}, n_trials=5, noise=0.005, seed=4)
    tab = stats.compare_to_reference(df).set_index("strategy")
    assert tab.loc["entropy", "verdict"] == "above" and tab.loc["coreset", "verdict"] == "below"
    assert tab.loc["entropy", "ci_low"] > 0 and tab.loc["coreset", "ci_high"] < 0
    row = stats.compare_to_reference(df).query("strategy == 'entropy'").iloc[0]
    text = stats.describe(row, label="Entropy")
    lo, hi = row.ci_low * 100, row.ci_high * 100
    assert text.startswith(f"Entropy: {row.gap * 100:+.1f} points [95 % CI {lo:+.1f}, {hi:+.1f}] vs Random over 5 paired trials (Holm p ")
    assert text.endswith("): above Random")
    unadj = stats.compare_to_reference(df, adjust=None).iloc[0]
    assert "(p " in stats.describe(unadj) and "Holm" not in stats.describe(unadj)
    null = stats.compare_to_reference(synthetic({"lc": 0.0}, 3, noise=0.01, seed=5)).iloc[0]
    assert stats.describe(null, reference_label="Random").endswith("indistinguishable from Random")


def test_compare_groups_augmentation_lift_is_the_paired_difference():
    rows = []
    lift = {"entropy": (0.05, 0.06, 0.04, 0.05), "random": (0.01, -0.01, 0.02, 0.0)}
    rng = np.random.default_rng(0)
    for t in range(4):
        base = rng.normal(0.8, 0.03)
        for s in ("random", "entropy"):
            for c in (0, 1):
                acc = base + 0.02 * c + (0.01 if s == "entropy" else 0.0)
                rows.append(dict(strategy=s, trial=t, cycle=c, n_labelled=50 * (c + 1), augment="none", accuracy=acc))
                rows.append(dict(strategy=s, trial=t, cycle=c, n_labelled=50 * (c + 1), augment="paper",
                                 accuracy=acc + lift[s][t] + 0.001 * c))
    df = pd.DataFrame(rows)
    tab = stats.compare_groups(df, "accuracy", "augment", "paper", "none")
    assert list(tab.columns) == ["strategy", "cycle", "n", "gap", "gap_sd", "ci_low", "ci_high", "p", "p_adj", "verdict"]
    t = tab.set_index("strategy")
    for s in ("entropy", "random"):
        hand = np.array(lift[s]) + 0.001  # last cycle (1)
        assert t.loc[s, "n"] == 4 and t.loc[s, "cycle"] == 1
        assert t.loc[s, "gap"] == pytest.approx(hand.mean())
        assert t.loc[s, "gap_sd"] == pytest.approx(hand.std(ddof=1))
        assert t.loc[s, "p"] == pytest.approx(sps.ttest_1samp(hand, 0).pvalue)
    assert t.loc["entropy", "verdict"] == "above" and t.loc["random", "verdict"] == "indistinguishable from"
    assert tab.p_adj.to_numpy() == pytest.approx(stats.holm(tab.p.to_numpy()))
    cyc = stats.compare_groups(df, "accuracy", "augment", "paper", "none", at="cycle")
    assert cyc.set_index(["strategy", "cycle"]).loc[("entropy", 0), "gap"] == pytest.approx(np.mean(lift["entropy"]))
    assert len(stats.compare_groups(df, "accuracy", "augment", "paper", "none", at="aubc")) == 2


def test_penalty_matrix_counts_significant_wins():
    df = synthetic({"a": 0.06, "b": 0.03, "c": 0.0}, n_trials=4, cycles=(0, 1, 2, 3), noise=0.003, seed=9)
    df = df[df.strategy != "random"]
    P = stats.penalty_matrix(df)
    assert list(P.index) == ["a", "b", "c"] and list(P.columns) == ["a", "b", "c"]
    assert P.loc["a", "b"] == 1 and P.loc["a", "c"] == 1 and P.loc["b", "c"] == 1
    assert P.loc["b", "a"] == 0 and P.loc["c", "a"] == 0 and P.loc["c", "b"] == 0
    assert np.isnan(np.diag(P.to_numpy())).all()  # diagonal: NaN, not compared
    assert (P.attrs["comparisons"].loc["a", "b"] == 4) and P.attrs["beaten"]["c"] == 1.0
    # two settings: 8 comparisons per pair; at="aubc": one per setting
    two = pd.concat([df.assign(augment="none"), df.assign(augment="paper")])
    assert stats.penalty_matrix(two, settings=["augment"]).attrs["comparisons"].loc["a", "c"] == 8
    au = stats.penalty_matrix(two, settings=["augment"], at="aubc")
    assert au.attrs["comparisons"].loc["a", "c"] == 2 and au.loc["a", "c"] == 1
    # a null pair is rarely "significant": entries are fractions in [0, 1]
    mixed = synthetic({"a": 0.0, "b": 0.0}, n_trials=3, cycles=range(20), noise=0.01, seed=2)
    Pm = stats.penalty_matrix(mixed)
    off = Pm.to_numpy()[~np.eye(3, dtype=bool)]
    assert ((off >= 0) & (off <= 1)).all() and off.max() < 0.5
    few = stats.penalty_matrix(df[df.trial < 2])
    assert few.isna().all().all() and (few.attrs["comparisons"].to_numpy() == 0).all()


def test_method_line_and_deprecated_helpers_still_work():
    df = synthetic({"entropy": 0.0}, n_trials=3, noise=0.01, seed=6)
    tab = stats.compare_to_reference(df, at="aubc", level=0.9)
    line = stats.describe_method(tab)
    assert "paired t-test" in line and "90 % t-interval" in line and "p < 0.1" in line and "AUBC" in line
    assert "across 1 strategy" in line
    assert stats.describe(tab.iloc[0]).startswith("entropy: ") and "[90 % CI" in stats.describe(tab.iloc[0])
    assert stats.final_gap(df).query("strategy == 'entropy'").cycle.item() == 2
    with pytest.raises(ValueError):
        stats.describe_method(pd.DataFrame())


def test_equal_gaps_in_every_trial_give_no_verdict():
    """Accuracy is discrete: three trials can differ from Random by exactly the same amount. That is
    no evidence of a certain gap: no interval, no p, never above/below."""
    rows = []
    for t in range(3):
        # float32 accuracies, as the tasks store them: the same 5 test images apart in every trial
        base = float(np.float32((486 + 3 * t) / 540))
        for s, acc in (("random", base), ("entropy", float(np.float32((491 + 3 * t) / 540)))):
            rows.append(dict(strategy=s, trial=t, cycle=0, n_labelled=10, accuracy=acc))
    table = stats.compare_to_reference(pd.DataFrame(rows))
    row = table.iloc[0]
    assert row["verdict"] == "indistinguishable from" and np.isnan(row["p"]) and np.isnan(row["ci_low"])
    text = stats.describe(row)
    assert "no spread" in text and "above" not in text


# --------------------------------------------------------------------------- power and trials


def test_trials_needed_by_hand():
    # sd 1, delta 2: need t_{0.975, n-1} / sqrt(n) < 1; n=6: 2.5706/2.4495 = 1.049 (no), n=7: 2.4469/2.6458 = 0.925
    assert stats.trials_needed(1.0, 2.0) == 7
    # sd 2, delta 1: need t/sqrt(n) < 0.25; n=64: 1.9983/8 = 0.2498 (yes), n=63: 1.9990/7.937 = 0.2519 (no)
    assert stats.trials_needed(2.0, 1.0) == 64
    assert stats.trials_needed(0.0, 1.0) == 2
    assert stats.trials_needed(100.0, 0.01, n_max=50) is None
    hw = stats.half_width(1.0, 7)
    assert abs(hw - 2.4469 / np.sqrt(7)) < 1e-3 and hw < 1.0


def test_min_detectable_by_hand_and_by_simulation():
    # large n: the normal approximation (z_0.975 + z_0.8) * sd / sqrt(n) = 2.8016 / sqrt(200)
    assert abs(stats.min_detectable(1.0, 200) - 2.8016 / np.sqrt(200)) < 0.003
    assert stats.min_detectable(0.0, 5) == 0.0 and np.isnan(stats.min_detectable(1.0, 1))
    mu = stats.min_detectable(1.5, 5)
    rng = np.random.default_rng(0)
    d = rng.normal(mu, 1.5, size=(40000, 5))
    lo = d.mean(1) - 2.7764 * d.std(1, ddof=1) / np.sqrt(5)
    assert abs((lo > 0).mean() - 0.8) < 0.01  # power 80 % at the printed gap


def _penalty_example():
    """Two settings, strategies a, b, c, 4 trials: A has cycles 0-1, B cycles 0-3. a beats b at
    A/0, B/0, B/1, B/2; c beats a at B/3; so c (= a + noise elsewhere) beats b wherever a does and
    at B/3 (c - b = win + noise there); at A/1 every pair differs by noise only."""
    win, none = [1.0, 1.1, 0.9, 1.05], [0.02, -0.02, 0.01, -0.01]
    rows = []
    for setting, cycles in (("A", 2), ("B", 4)):
        for cycle in range(cycles):
            for t in range(4):
                a = 80.0
                b = a - (win if (setting, cycle) in {("A", 0), ("B", 0), ("B", 1), ("B", 2)} else none)[t]
                c = a + (win if (setting, cycle) == ("B", 3) else none)[t] + 0.001 * t
                for s, v in (("a", a), ("b", b), ("c", c)):
                    rows.append(dict(setting=setting, strategy=s, trial=t, cycle=cycle, n_labelled=10 * (cycle + 1),
                                     accuracy=v))
    return pd.DataFrame(rows)


def test_penalty_matrix_normalisation_by_hand():
    """alkit: wins / comparisons pooled over settings; Ash et al.'s code: sum over settings of
    wins / checkpoints of that setting (scripts/agg_results.py, 1/nCheckpoints per win)."""
    df = _penalty_example()
    P = stats.penalty_matrix(df, settings=["setting"])
    assert P.attrs["comparisons"].loc["a", "b"] == 6
    assert P.loc["a", "b"] == pytest.approx(4 / 6) and P.loc["c", "a"] == pytest.approx(1 / 6)
    assert P.loc["c", "b"] == pytest.approx(5 / 6)
    assert P.loc["b", "a"] == 0 and P.loc["b", "c"] == 0 and P.loc["a", "c"] == 0
    ash = stats.penalty_matrix(df, settings=["setting"], normalise="settings")
    assert ash.loc["a", "b"] == pytest.approx(1 / 2 + 3 / 4)  # A: 1 of 2 checkpoints, B: 3 of 4
    assert ash.loc["c", "a"] == pytest.approx(1 / 4) and ash.loc["c", "b"] == pytest.approx(1 / 2 + 4 / 4)
    assert np.diag(ash.to_numpy()).tolist() == [0, 0, 0] and ash.loc["b", "a"] == 0
    # the original's column average: over all k rows, the diagonal's 0 included
    assert ash.attrs["beaten"]["b"] == pytest.approx((1 / 2 + 3 / 4 + 1 / 2 + 4 / 4) / 3)
    assert ash.attrs["beaten"]["a"] == pytest.approx((1 / 4) / 3)
    assert P.attrs["normalise"] == "comparisons" and "Ash" in ash.attrs["method"]
    with pytest.raises(ValueError, match="normalise"):
        stats.penalty_matrix(df, normalise="trials")
