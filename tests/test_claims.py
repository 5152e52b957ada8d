"""The claim tester (alkit.analysis.claims) and the stopping rule of trials="auto"
(alkit.experiments.auto): verdict rules on hand-made intervals, and error rates by simulation
(thousands of synthetic experiments, vectorised): for every claim type P(replicated | claim false)
<= 5 % and P(contradicted | claim true) <= 5 %, where "true" puts every effect at the margin in the
claimed direction and "false" at 0 the other way (the worst cases of each hypothesis)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from alkit.analysis import claims as C
from alkit.experiments import auto

DELTA, SD, N, SIMS = 1.0, 1.5, 5, 8000
A = 0.025  # each end of a 95 % interval


def simulate(mu, quantifier, n=N, sims=SIMS, seed=0):
    """Outcomes of ``sims`` experiments with per-part true gaps ``mu`` (list), n trials, sd SD."""
    rng = np.random.default_rng(seed)
    d = rng.normal(np.asarray(mu, float)[None, :, None], SD, size=(sims, len(mu), n))
    pp, pn = C.part_pvalues(d.mean(-1), d.std(-1, ddof=1), n, DELTA)
    return C.decide(quantifier, pp, pn, A)


def rate(outcomes, word):
    return float(np.mean(outcomes == word))


BIG = 50.0  # an effect so large its part is always decided
CASES = {  # claim type: (quantifier, true-case gaps, false-case gaps)
    "positive": ("all", [DELTA], [0.0]),
    "negative": ("none", [0.0], [DELTA]),
    "every-X": ("all", [DELTA] * 4, [0.0, BIG, BIG, BIG]),
    "nothing-beats-Y": ("none", [0.0] * 4, [DELTA, -BIG, -BIG, -BIG]),
    "most-X": ("most", [DELTA, DELTA, DELTA, -BIG, -BIG], [0.0, 0.0, 0.0, BIG, BIG]),
}


# The union side spends the whole 5 % (Holm at 2a over the parts): with 4 independent parts at the
# margin its exact rate is 1 - (1 - 0.0125)^4 = 4.9 %, so the estimate needs many experiments to be
# told from 5 %; the bound allows 2.6 Monte Carlo standard errors above 5 % (40,000 experiments:
# 0.05 + 0.0028), far below what an uncorrected union gives (about 9.6 %, test below).
SIMS_UNION = 40_000
MC_BOUND = 0.05 + 2.6 * np.sqrt(0.05 * 0.95 / SIMS_UNION)


@pytest.mark.parametrize("kind", list(CASES))
def test_simulated_error_rates(kind):
    q, true_mu, false_mu = CASES[kind]
    false_rep = rate(simulate(false_mu, q, seed=1), C.REPLICATED)
    true_con = rate(simulate(true_mu, q, seed=2, sims=SIMS_UNION), C.CONTRADICTED)
    print(f"{kind}: P(replicated | false) = {false_rep:.4f}, P(contradicted | true) = {true_con:.4f}")
    assert false_rep <= 0.05 and true_con <= MC_BOUND
    # and the rules are not vacuous: with a large effect the claim is decided
    big = [BIG * (1 if m > 0 else -1) if m != 0 else (-BIG if q == "none" else BIG) for m in true_mu]
    assert rate(simulate(big, q, seed=3), C.REPLICATED) > 0.95


def test_union_side_needs_holm():
    """Without a multiplicity correction the contradiction side of an every-X claim errs too often
    (the reason the tester uses Holm there): 4 parts, each exactly at the margin."""
    rng = np.random.default_rng(4)
    d = rng.normal(DELTA, SD, size=(SIMS, 4, N))
    _, pn = C.part_pvalues(d.mean(-1), d.std(-1, ddof=1), N, DELTA)
    assert np.mean(pn.min(-1) < A) > 0.05  # unadjusted: about 1 - 0.975^4 = 9.6 %
    assert rate(C.decide("all", np.ones_like(pn), pn, A), C.CONTRADICTED) <= 0.05


def test_union_side_uses_the_allowed_five_percent():
    """The union side is Holm at 2a = 5 % family-wise, each step at most a: with 4 parts at the margin
    it errs about 4.9 % of the time (Holm at a would give about 2.5 %), with one part a = 2.5 %."""
    rng = np.random.default_rng(7)
    d = rng.normal(DELTA, SD, size=(SIMS_UNION, 4, N))
    _, pn = C.part_pvalues(d.mean(-1), d.std(-1, ddof=1), N, DELTA)
    four = rate(C.decide("all", np.ones_like(pn), pn, A), C.CONTRADICTED)
    one = rate(C.decide("all", np.ones_like(pn[:, :1]), pn[:, :1], A), C.CONTRADICTED)
    exact = 1 - (1 - 2 * A / 4) ** 4  # four independent parts, each at Holm's first step 2a/4
    assert abs(four - exact) < 3 * np.sqrt(exact * (1 - exact) / SIMS_UNION) and four <= MC_BOUND
    assert abs(one - A) < 3 * np.sqrt(A * (1 - A) / SIMS_UNION)
    assert C.union_level(A, 1) == C.union_level(A, 2) == A and C.union_level(A, 4) == pytest.approx(A / 2)


@pytest.mark.parametrize("q,true_mu,false_mu", [("all", [DELTA], [0.0]), ("none", [0.0], [DELTA]),
                                                ("all", [DELTA] * 3, [0.0, BIG, BIG])])
def test_auto_stopping_error_rates(q, true_mu, false_mu):
    """trials="auto": looks at 5, 7, 10 trials with Bonferroni levels, stopping at the first decided look."""
    looks = auto.look_schedule(5, 10)
    assert looks == [5, 7, 10]
    rng = np.random.default_rng(5)
    for mu, word in ((false_mu, C.REPLICATED), (true_mu, C.CONTRADICTED)):
        d = rng.normal(np.asarray(mu)[None, :, None], SD, size=(SIMS, len(mu), looks[-1]))
        out = auto.sequential_outcomes(d, looks, DELTA, q)
        print(f"auto {q} {mu}: P({word}) = {rate(out, word):.4f}")
        assert rate(out, word) <= 0.05
    # optional stopping at an unadjusted 95 % per look would be worse than one look
    d = rng.normal(0.0, SD, size=(SIMS, 1, 10))
    naive = np.zeros(SIMS, bool)
    for n in looks:
        pp, _ = C.part_pvalues(d[..., :n].mean(-1), d[..., :n].std(-1, ddof=1), n, DELTA)
        naive |= pp[:, 0] < A
    assert naive.mean() > rate(auto.sequential_outcomes(d, looks, DELTA, "all"), C.REPLICATED)


# --------------------------------------------------------------------------- rules on hand-made intervals


def interval(mean, hw, n=N):
    """p-values of a part whose 95 % interval is mean +- hw over n trials."""
    sd = hw * np.sqrt(n) / sps.t.ppf(0.975, n - 1)
    return C.part_pvalues(mean, sd, n, DELTA)


@pytest.mark.parametrize("mean,hw,positive,negative", [
    (1.5, 1.0, C.REPLICATED, C.CONTRADICTED),     # [0.5, 2.5]
    (0.3, 1.0, C.INCONCLUSIVE, C.INCONCLUSIVE),   # [-0.7, 1.3]
    (-0.5, 1.0, C.CONTRADICTED, C.REPLICATED),    # [-1.5, 0.5]
    (0.5, 0.4, C.REPLICATED, C.REPLICATED),       # [0.1, 0.9]: above 0, below the margin
    (2.0, 0.5, C.REPLICATED, C.CONTRADICTED),     # [1.5, 2.5]
    (0.0, 0.5, C.CONTRADICTED, C.REPLICATED),     # [-0.5, 0.5]
])
def test_rules_on_intervals(mean, hw, positive, negative):
    pp, pn = interval(mean, hw)
    assert C.decide("all", np.array([pp]), np.array([pn]), A) == positive
    assert C.decide("none", np.array([pp]), np.array([pn]), A) == negative


def test_all_of_and_none_of_on_intervals():
    parts = [interval(m, h) for m, h in ((1.5, 1.0), (0.3, 1.0))]  # one above 0, one undecided
    pp, pn = np.array([p for p, _ in parts]), np.array([n for _, n in parts])
    assert C.decide("all", pp, pn, A) == C.INCONCLUSIVE
    parts = [interval(m, h) for m, h in ((1.5, 1.0), (-2.0, 0.5))]  # the second lies far below the margin
    pp, pn = np.array([p for p, _ in parts]), np.array([n for _, n in parts])
    assert C.decide("all", pp, pn, A) == C.CONTRADICTED
    assert C.decide("none", pp, pn, A) == C.CONTRADICTED  # the first lies above 0 (Holm over 2 still)
    # two parts: a part whose own 95 % interval lies below the margin contradicts an every-X claim
    # ([-0.05, 0.95]; Holm at a over the two parts needed its 97.5 % interval there)
    parts = [interval(m, h) for m, h in ((1.5, 1.0), (0.45, 0.5))]
    pp, pn = np.array([p for p, _ in parts]), np.array([n for _, n in parts])
    assert C.decide("all", pp, pn, A) == C.CONTRADICTED
    # three parts: each step of Holm at 5 % is stricter than the part's own interval
    parts = [interval(m, h) for m, h in ((1.5, 1.0), (0.45, 0.5), (2.0, 1.0))]
    pp, pn = np.array([p for p, _ in parts]), np.array([n for _, n in parts])
    assert C.decide("all", pp, pn, A) == C.INCONCLUSIVE


def test_negative_claim_never_replicated_past_its_margin():
    rng = np.random.default_rng(6)
    mean, sd = rng.normal(0, 1.5, 20000), rng.uniform(0.05, 3, 20000)
    for n in (3, 5, 10):
        pp, pn = C.part_pvalues(mean, sd, n, DELTA)
        hi = mean + sps.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
        out = C.decide("none", pp[:, None], pn[:, None], A)
        assert not np.any((out == C.REPLICATED) & (hi >= DELTA))


def frame(gaps_by_strategy, n_trials=5, dataset="digits", seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s, g in gaps_by_strategy.items():
        for t in range(n_trials):
            base = 0.9 + 0.01 * t
            rows.append(dict(dataset=dataset, augment="paper", ssl="none", regime="high", strategy=s, trial=t, cycle=1,
                             n_labelled=80, accuracy=base + g + rng.normal(0, 0.004)))
    return pd.DataFrame(rows)


def test_report_prints_effect_interval_margin_and_writes_board(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    df = frame({"random": 0.0, "entropy": 0.002, "coreset": 0.05})
    rows = C.report(df, "00", preset="default")
    out = capsys.readouterr().out
    verdicts = [ln for ln in out.splitlines() if ln.startswith("  => ")]
    assert len(verdicts) == 2 == len(rows)
    assert all("margin +1.0 points" in v and "CI" in v for v in verdicts)
    row = rows.set_index("key").loc["coreset-beats-random"]
    assert row.verdict == C.REPLICATED and row.ci_low > 0
    ent = rows.set_index("key").loc["entropy-beats-random"]
    if ent.verdict == C.INCONCLUSIVE:
        assert "smallest gap this run could detect" in out and "trials would decide" in out
    from alkit.analysis import board
    assert len(board.load_rows(tmp_path / "verdicts")) == 2
    C.report(df[df.strategy != "entropy"], "00", preset="default")  # a re-run replaces the notebook's rows
    assert len(board.load_rows(tmp_path / "verdicts")) == 1


def test_an_undecidable_claim_says_more_than_1000_trials(tmp_path, monkeypatch, capsys):
    """Gaps of +-15 points around +3 (sd ~16): trials_needed finds no count up to 1000 at the 1-point margin."""
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    df = frame({"random": 0.0, "entropy": 0.0})
    ent = df.strategy == "entropy"
    df.loc[ent, "accuracy"] = df.loc[ent, "accuracy"].to_numpy() + 0.03 + 0.15 * (-1.0) ** np.arange(ent.sum())
    rows = C.report(df, "00", preset="default")
    out = capsys.readouterr().out
    assert rows.set_index("key").loc["entropy-beats-random"].verdict == C.INCONCLUSIVE
    assert "; more than 1000 trials would decide it at its 1.0-point margin" in out
    assert "about more than" not in out


def test_negative_claim_with_wide_interval_is_not_replicated(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    rng = np.random.default_rng(1)
    rows = []
    for s, g in (("random", 0.0), ("ll", 0.0)):
        for t in range(3):
            rows.append(dict(dataset="shapes", ssl="none", strategy=s, trial=t, cycle=2, budget=1400,
                             miou=0.5 + rng.normal(0, 0.15)))
    out = C.report(pd.DataFrame(rows), "06", preset="default").set_index("key").loc["06-ll-not-above-random"]
    assert out.ci_high > out.margin and out.verdict != C.REPLICATED


def test_smoke_preset_prints_no_gap_and_no_verdict(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    monkeypatch.setenv("ALKIT_PRESET", "smoke")
    rows = C.report(frame({"random": 0.0, "coreset": 0.05}), "00")
    out = capsys.readouterr().out
    assert set(rows.verdict) == {"not tested (smoke preset: training not converged)"}
    assert "points" not in out and "CI" not in out


def test_too_few_trials_and_not_tested(tmp_path, monkeypatch):
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    rows = C.report(frame({"random": 0.0, "coreset": 0.05}, n_trials=2), "00", preset="default", show=False)
    assert rows.verdict.tolist() == ["too few trials (n=2)"]
    rows = C.report(frame({"random": 0.0, "coreset": 0.05}), "07", preset="default", show=False).set_index("key")
    assert rows.loc["07-nothing-beats-ssl-random"].verdict == "not tested (needs SSL-Random (s4GAN) runs)"


def test_missing_part_is_not_tested_not_replicated(tmp_path, monkeypatch):
    """07: without SSL polygon runs the SSL-polygon part is "not tested", never compared with raw runs."""
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path))
    rows = []
    for strat, ssl, g in (("random", "none", 0.0), ("random", "s4gan", 0.2), ("random-image-entropy-polygon", "none", 0.0)):
        for t in range(5):
            rows.append(dict(dataset="shapes", ssl=ssl, strategy=strat, trial=t, cycle=1, budget=1000,
                             miou=0.4 + g + 0.01 * t + 0.001 * (t % 2)))
    v = C.report(pd.DataFrame(rows), "07", preset="default", show=False).set_index("key")
    assert v.loc["07-ssl-image-beats-polygons"].verdict.startswith("not tested (part of the named family")



def test_run_auto_adds_trials_at_the_looks_until_decided():
    """run_auto: trials 5, 7, 10 through a run function (faked: synthetic results, no training); stops at
    the first look where every default claim is decided, and records the looks in df.attrs."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Exp:
        trials: object = "auto"
        max_trials: int | None = None

    def fake_run(exp, gap, **kw):
        calls.append(exp.trials)
        rng = np.random.default_rng(exp.trials)
        rows = [dict(dataset="digits", strategy=s, trial=t, cycle=1, n_labelled=80,
                     accuracy=0.9 + 0.01 * t + (gap if s == "entropy" else 0.0) + rng.normal(0, 0.006))
                for s in ("random", "entropy") for t in range(exp.trials)]
        return pd.DataFrame(rows)

    for gap, max_trials, expect in ((0.05, None, [5]), (0.0, 7, [5, 6, 7])):
        calls = []
        df = auto.run_auto(Exp(max_trials=max_trials), run=lambda exp, gap=gap, **kw: fake_run(exp, gap, **kw),
                           progress=False)
        a = df.attrs["auto"]
        assert calls == a["done"] == expect[: len(calls)] and a["looks"] == auto.look_schedule(5, max_trials or 10)
        assert a["level"] == pytest.approx(1 - 0.05 / len(a["looks"]))
        if gap:
            assert a["stopped"] == "decided" and a["verdicts"] == [C.REPLICATED]
        # the report reads the per-look level from the frame
        v = C.evaluate(df, "00", preset="default")[0]
        assert v.row["level"] == pytest.approx(a["level"])


@pytest.mark.parametrize("first,cap,expect", [(5, 10, [5, 7, 10]), (5, 5, [5]), (5, 3, [3]), (3, 6, [3, 4, 6])])
def test_look_schedule_never_passes_the_cap(first, cap, expect):
    assert auto.look_schedule(first, cap) == expect
    assert max(auto.look_schedule(first, cap)) <= cap


@pytest.mark.parametrize("first,cap", [(2, 10), (5, 2)])
def test_look_schedule_needs_three_trials(first, cap):
    with pytest.raises(ValueError, match="at least 3 trials"):
        auto.look_schedule(first, cap)


def test_board_shows_the_trials_that_would_decide_each_inconclusive_claim(tmp_path):
    """Only inconclusive rows get a count (a decided or untested claim has nothing to plan); a claim
    with an interval but no count up to the cap reads "> 1000"; the summary names the fewest."""
    from alkit.analysis import board
    rows = [dict(notebook="01", claim="a", section="s", effect=0.6, ci_low=-0.4, ci_high=1.6, margin=1.0,
                 verdict=C.INCONCLUSIVE, min_detectable=1.4, trials_needed=21, n=7, preset="default", metric="accuracy"),
            dict(notebook="02", claim="b", section="s", effect=1.0, ci_low=0.1, ci_high=1.9, margin=1.0,
                 verdict=C.REPLICATED, min_detectable=2.3, trials_needed=81, n=7, preset="default", metric="accuracy"),
            dict(notebook="03", claim="c", section="s", effect=5.0, ci_low=1.5, ci_high=8.4, margin=1.0,
                 verdict=C.INCONCLUSIVE, min_detectable=10.1, trials_needed=None, n=5, preset="default", metric="accuracy"),
            dict(notebook="04", claim="d", section="s", effect=None, ci_low=None, ci_high=None, margin=1.0,
                 verdict="not tested (no weights)", min_detectable=None, trials_needed=None, n=0, preset="default")]
    board.write_rows("01", rows, folder=tmp_path)
    df = board.load_rows(tmp_path)
    cells = {ln.split(" | ")[1]: ln.split(" | ")[7] for ln in board.board_markdown(df).splitlines()[2:]}
    assert cells == {"a": "21", "b": "", "c": "> 1000", "d": ""}
    line = board.summary_line(df)
    assert "2 of 3 tested claims decided" not in line and "1 of 3 tested claims decided" in line
    assert "the fewest trials that would decide an inconclusive one: 21 (this run: 5-7)" in line
    assert "would decide" not in board.summary_line(df[df.verdict != C.INCONCLUSIVE])


def test_verdict_figure_draws_an_untested_interval_grey_and_dashed_without_a_margin():
    """A not-tested row with an interval (no margin, or part of its family not run) must not look
    decided: grey dashed bar, hollow dot, its own legend entry, and no margin mark when it has none."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from alkit.analysis.plots import plot_verdicts
    board = pd.DataFrame([
        dict(notebook="02", claim="rep", effect=1.0, ci_low=0.1, ci_high=1.9, margin=1.0, verdict=C.REPLICATED),
        dict(notebook="02", claim="describe", effect=-0.8, ci_low=-2.2, ci_high=0.5, margin=np.nan,
             verdict="not tested (no margin: the paper names none; the interval is shown above)"),
        dict(notebook="07", claim="family", effect=4.4, ci_low=3.5, ci_high=5.3, margin=2.0,
             verdict="not tested (part of the named family was not run: no SSL polygon runs)")])
    fig = plot_verdicts(board)
    ax = fig.axes[0]
    bars = [ln for ln in ax.lines if len(ln.get_xdata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1]]
    by_row = {int(ln.get_ydata()[0]): ln for ln in bars}
    assert by_row[0].get_linestyle() == "-" and by_row[1].get_linestyle() == "--" == by_row[2].get_linestyle()
    assert matplotlib.colors.to_rgb(by_row[1].get_color()) == (0.6, 0.6, 0.6)
    assert matplotlib.colors.to_rgb(by_row[0].get_color()) != (0.6, 0.6, 0.6)
    margins = sorted(float(ln.get_ydata()[0]) for ln in ax.lines if ln.get_marker() == "|")
    assert margins == [0.0, 2.0]  # row 1 has no margin
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["replicated", "contradicted", "inconclusive"] and any("no verdict" in t for t in labels)
    plt.close(fig)


def test_verdict_figure_labels_wrap_the_whole_claim_and_mark_miou_rows():
    """The figure's labels keep every word of a claim that fits two lines (wrapped at spaces, none
    longer than the width), end a longer one in "...", and say [mIoU] for an mIoU claim."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from alkit.analysis.plots import VERDICT_LABEL_WIDTH, plot_verdicts, verdict_label
    mid = "with augmentation every strategy ends with a higher accuracy than without augmentation"
    long = " ".join(["word"] * 60)
    board = pd.DataFrame([
        dict(notebook="01", claim=mid, effect=0.2, ci_low=-0.7, ci_high=1.0, margin=1.0, verdict=C.INCONCLUSIVE,
             metric="accuracy"),
        dict(notebook="06", claim="Learning Loss does not beat Random", effect=-0.1, ci_low=-1.6, ci_high=1.4,
             margin=2.0, verdict=C.REPLICATED, metric="miou"),
        dict(notebook="09", claim=long, effect=1.6, ci_low=1.2, ci_high=1.9, margin=1.0, verdict=C.REPLICATED,
             metric="accuracy")])
    labels = [verdict_label(r) for _, r in board.iterrows()]
    assert labels[0].replace("\n", " ") == "01: " + mid and labels[0].count("\n") == 1
    assert labels[1] == "06: Learning Loss does not beat Random [mIoU]"
    assert labels[2].count("\n") == 1 and labels[2].endswith(" ...") and len(labels[2]) < len(long)
    assert all(len(line) <= VERDICT_LABEL_WIDTH for lab in labels for line in lab.split("\n"))
    fig = plot_verdicts(board)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == labels
    plt.close(fig)


def _judge_parts(quantifier, parts):
    """Judge a claim whose parts are given as per-trial gaps (fractions), margin 1 point."""
    spec = C.ClaimSpec("t", "00", "test claim", "test", quantifier,
                       lambda df, y, **k: [C.Part(name, diffs=np.asarray(d, float)) for name, d in parts.items()],
                       margin=0.01)
    return C.judge(spec, pd.DataFrame({"accuracy": [0.0]}), preset="default", y="accuracy")


NARROW_ABOVE = [0.040, 0.042, 0.038, 0.041, 0.039]  # +4.0 points, interval about +-0.2: above 0
WIDE = [0.10, -0.05, 0.08, -0.04, 0.05]  # +2.8 points, interval about -5 .. +11: undecided, higher upper end


@pytest.mark.parametrize("quantifier, parts, verdict, shown, words", [
    # notebook 03 at d7d5035: "nothing beats SSL-Random" contradicted by one part while the row showed another's interval
    ("none", {"narrow": NARROW_ABOVE, "wide": WIDE}, C.CONTRADICTED, "narrow", "(the part that contradicts it)"),
    ("all", {"wide": WIDE, "narrow-below": [-0.040, -0.042, -0.038, -0.041, -0.039]}, C.CONTRADICTED,
     "narrow-below", "(the part that contradicts it)"),
    ("most", {"a": NARROW_ABOVE, "b": [0.030, 0.032, 0.028, 0.031, 0.029], "wide": WIDE}, C.REPLICATED, "b",
     "(the weakest part of the majority)"),
    ("all", {"a": NARROW_ABOVE, "b": [0.020, 0.032, 0.018, 0.031, 0.019]}, C.REPLICATED, "b", "(the weakest part)"),
    ("none", {"narrow": NARROW_ABOVE, "wide": WIDE, "below": [-0.04] * 4 + [-0.041]}, C.CONTRADICTED, "narrow",
     "(the part that contradicts it)"),
])
def test_the_row_shows_the_part_that_decides_the_verdict(quantifier, parts, verdict, shown, words):
    """The board row and the verdict line show an interval that decides the verdict: a contradicted
    claim the part that contradicts it (never an undecided part with a wider interval), a replicated
    "most" claim the weakest part of its majority."""
    v = _judge_parts(quantifier, parts)
    assert v.row["verdict"] == verdict
    from alkit.analysis import stats
    s = stats.paired_test(np.asarray(parts[shown], float))
    assert v.row["ci_low"] == pytest.approx(100 * s["ci_low"]) and v.row["ci_high"] == pytest.approx(100 * s["ci_high"])
    line = v.lines[-1]
    assert line.startswith(f"  => {verdict}: ") and words in line
    assert f"[95 % CI {100 * s['ci_low']:+.1f}, {100 * s['ci_high']:+.1f}]" in line
    if verdict == C.CONTRADICTED:  # the shown interval itself is on the contradicting side
        assert (v.row["ci_low"] > 0) if quantifier == "none" else (v.row["ci_high"] < 1.0)
    else:
        assert v.row["ci_low"] > 0


def test_an_inconclusive_claim_still_shows_its_weakest_part():
    v = _judge_parts("none", {"narrow-below": [-0.04] * 4 + [-0.041], "wide": WIDE})
    assert v.row["verdict"] == C.INCONCLUSIVE and "(the weakest part)" in v.lines[-1]
    assert v.row["ci_high"] > 5  # the wide part, the one that keeps the claim from being replicated
