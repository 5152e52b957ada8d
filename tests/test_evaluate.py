"""``alkit evaluate`` at the smoke preset: every cell of the protocol runs with 3 trials, the report
is written and computed from the results, and a second evaluation recomputes nothing."""

import pandas as pd
import pytest

from alkit.experiments import evaluate as ev


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    result = ev.evaluate(["entropy"], preset="smoke", out=root / "out", store_root=root / "runs", progress=False)
    return root, result


def test_protocol_cells_cover_the_four_recommendations():
    cells = ev.protocol_cells(["entropy"], "default")
    raw = [c for c in cells if c.ssl is None]
    assert {(c.regime, c.augment) for c in raw} == {("high", "none"), ("high", "paper"), ("low", "none"), ("low", "paper")}
    assert all(c.strategies == ("random", "entropy") for c in raw)
    assert all(c.settings["trials"] >= 3 for c in cells)
    ssl = [c for c in cells if c.ssl == "uda"]
    assert {c.regime for c in ssl} == {"high", "low"} and all(c.strategies == ("random",) for c in ssl)
    with pytest.raises(ValueError, match="unknown preset"):
        ev.protocol_cells(["entropy"], "huge")


def test_paper_preset_without_cifar_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="CIFAR"):
        ev.protocol_cells(["entropy"], "paper", data_root=tmp_path)


def test_report_files_and_verdicts(report):
    root, result = report
    out = root / "out"
    for name in ("results.csv", "report.md", "report.html", "figures/digits_high.png", "figures/digits_low.png"):
        assert (out / name).is_file(), name
    df = pd.read_csv(out / "results.csv")
    assert set(df.groupby("setting").trial.nunique()) == {3}
    raw = result["raw"]
    # 4 raw settings x 2 measures for the one strategy under test
    assert len(raw) == 8 and set(raw.strategy) == {"entropy"}
    assert raw.verdict.isin(["above", "below", "indistinguishable from"]).all()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    md = (out / "report.md").read_text()
    assert result["summary"] in md
    # the summary's counts are the table's counts
    last = raw[raw.measure == "last cycle"].verdict.value_counts()
    assert f"indistinguishable in {last.get('indistinguishable from', 0)} of 4 settings" in result["summary"]
    ssl = result["ssl"]
    assert set(ssl.strategy) == {"entropy", "random"} and (ssl.n == 3).all()


def test_second_evaluation_recomputes_nothing(report):
    root, first = report
    before = {p: p.stat().st_mtime_ns for p in (root / "runs").rglob("cycle*.json")}
    again = ev.evaluate(["entropy"], preset="smoke", out=root / "out2", store_root=root / "runs", progress=False)
    after = {p: p.stat().st_mtime_ns for p in (root / "runs").rglob("cycle*.json")}
    assert before == after
    cols = [c for c in first["df"].columns if c != "seconds"]
    pd.testing.assert_frame_equal(first["df"][cols], again["df"][cols])
