"""Two runs' verdict boards side by side (alkit.analysis.board_compare, board --compare, reproduce's last line)."""

import pytest

from alkit.analysis import board
from alkit.analysis import board_compare as B


def _row(notebook, claim, verdict, effect=1.0, lo=0.2, hi=1.8, n=5, preset="default", metric="accuracy"):
    return dict(notebook=notebook, claim=claim, section="Sec. 3", effect=effect, ci_low=lo, ci_high=hi, margin=1.0,
                verdict=verdict, min_detectable=1.5, trials_needed=None, n=n, preset=preset, metric=metric)


def _board_file(path, rows):
    """Write ``rows`` as a run's verdicts.md (the board table board.write_board writes) and return it."""
    folder = path.parent / (path.stem + "-rows")
    board.write_rows("xx", rows, folder=folder)
    path.write_text("# Verdict board\n\n" + board.board_markdown(board.load_rows(folder)) + "\n\nsummary\n")
    return path


def test_pair_kind_sorts_every_pair_of_verdicts():
    assert B.pair_kind("replicated", "replicated") == "agree"
    assert B.pair_kind("inconclusive", "inconclusive") == "agree"
    assert B.pair_kind("replicated", "inconclusive") == "decided vs inconclusive"
    assert B.pair_kind("inconclusive", "contradicted") == "decided vs inconclusive"
    assert B.pair_kind("replicated", "contradicted") == "opposite"
    assert B.pair_kind("contradicted", "replicated") == "opposite"
    assert B.pair_kind("not tested (no weights)", "replicated") == "tested in one only"
    assert B.pair_kind("inconclusive", "too few trials") == "tested in one only"
    assert B.pair_kind("not tested (no weights)", "not tested (no weights)") == "agree"


def test_a_written_board_reads_back_to_the_same_rows(tmp_path):
    """read_board(board_markdown(rows)) == board_rows(rows): the effect cell (interval, mIoU), the
    verdict (an untested one with its reason), n and preset survive the Markdown; a comparison table
    above the board (it also starts with notebook | claim) is passed over."""
    rows = [_row("01", "a", "replicated", 1.94, 0.31, 3.42, n=7),
            _row("06", "b", "inconclusive", -0.5, -2.25, 1.25, metric="miou"),
            _row("04", "c", "not tested (no weights)", None, None, None, n=0)]
    board.write_rows("01", rows, folder=tmp_path)
    df = board.load_rows(tmp_path)
    comparison_first = ("| notebook | claim | this run | theirs | how they differ |\n|---|---|---|---|---|\n"
                        "| 01 | a | replicated | inconclusive | decided vs inconclusive |\n\n")
    back = B.read_board(comparison_first + "some text\n\n" + board.board_markdown(df) + "\n\nafter the table\n")
    assert back.to_dict("records") == B.board_rows(df).to_dict("records")
    assert back["effect_cell"].tolist() == ["+1.9 [+0.3, +3.4]", "-0.5 [-2.2, +1.2] mIoU", ""]
    assert back["verdict"].tolist() == ["replicated", "inconclusive", "not tested (no weights)"]
    assert back["n"].tolist() == ["7", "5", "0"]


def test_read_board_names_the_source_of_a_text_without_a_board_or_with_a_broken_row():
    with pytest.raises(ValueError, match="notes.md holds no verdict board"):
        B.read_board("# notes\n| a | b |\n", source="notes.md")
    broken = ("| notebook | claim | paper | effect [95 % CI] | margin | verdict | smallest detectable gap | "
              "trials to decide | n | preset |\n|---|---|---|---|---|---|---|---|---|---|\n| 01 | a | s | +1.0 |\n")
    with pytest.raises(ValueError, match="x.md: a board row has 4 cells, the header 10"):
        B.read_board(broken, source="x.md")
    with pytest.raises(ValueError, match="lacks the column"):
        B.read_board("| notebook | claim | verdict |\n|---|---|---|\n", source="y.md")


def test_compare_counts_each_kind_and_the_claims_on_one_board_only(tmp_path):
    this = [_row("01", "same", "replicated"), _row("01", "drifted", "replicated"),
            _row("02", "flipped", "contradicted"), _row("03", "back", "inconclusive"),
            _row("04", "untested here", "not tested (no weights)"), _row("05", "only here", "replicated"),
            _row("06", "other preset", "replicated", preset="smoke")]
    other = [_row("01", "same", "replicated", 2.0), _row("01", "drifted", "inconclusive"),
             _row("02", "flipped", "replicated"), _row("03", "back", "contradicted"),
             _row("04", "untested here", "inconclusive"), _row("06", "other preset", "replicated"),
             _row("07", "only there", "inconclusive")]
    board.write_rows("a", this, folder=tmp_path / "a")
    board.write_rows("b", other, folder=tmp_path / "b")
    pairs, counts = B.compare(B.board_rows(board.load_rows(tmp_path / "a")), B.board_rows(board.load_rows(tmp_path / "b")))
    assert counts == {"agree": 1, "decided vs inconclusive": 2, "opposite": 1, "tested in one only": 1,
                      "only_this": 2, "only_other": 2}
    kinds = dict(zip(pairs["claim"], pairs["kind"]))
    assert kinds == {"same": "agree", "drifted": "decided vs inconclusive", "flipped": "opposite",
                     "back": "decided vs inconclusive", "untested here": "tested in one only"}
    md = B.comparison_markdown(pairs, counts, "run A", "run B")
    table = [ln for ln in md.splitlines() if ln.startswith("| 0")]
    assert [ln.split(" | ")[1] for ln in table] == ["drifted", "flipped", "back", "untested here"]  # agreeing ones left out
    assert "| 02 | flipped | contradicted +1.0 [+0.2, +1.8] (n = 5) | replicated +1.0 [+0.2, +1.8] (n = 5) | opposite |" in md
    assert md.splitlines()[-1] == ("against run B: 1 of 5 claims on both boards have the same verdict, 2 decided in one "
                                   "run and inconclusive in the other, 1 replicated in one and contradicted in the "
                                   "other, 1 tested in one run only.")
    _, none = B.compare(B.board_rows(board.load_rows(tmp_path / "a")).iloc[6:], B.board_rows(board.load_rows(tmp_path / "b")).iloc[:5])
    assert B.summary(none, "X") == "no claim of this run is on X (another preset?)"


def test_cli_prints_the_differing_claims_and_writes_them_between_the_readme_markers(tmp_path, capsys):
    _board_file(tmp_path / "other.md", [_row("01", "a", "replicated"), _row("02", "b", "inconclusive")])
    board.write_rows("01", [_row("01", "a", "replicated"), _row("02", "b", "contradicted", -0.2, -0.9, 0.5)],
                     folder=tmp_path / "mine")
    assert board.main(["--verdicts", str(tmp_path / "mine"), "--compare", str(tmp_path / "other.md"),
                       "--labels", "mine", "theirs"]) == 0
    out = capsys.readouterr().out
    assert "| 02 | b | contradicted -0.2 [-0.9, +0.5] (n = 5) | inconclusive +1.0 [+0.2, +1.8] (n = 5) | decided vs inconclusive |" in out
    assert "| 01 | a |" not in out and "against theirs: 1 of 2 claims" in out
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{board.COMPARE_START}\nold\n{board.COMPARE_END}\nrest\n")
    assert board.main(["--verdicts", str(tmp_path / "mine"), "--compare", str(tmp_path / "other.md"),
                       "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(f"intro\n{board.COMPARE_START}\n| notebook | claim | this run | the board in ")
    assert "old" not in text and text.endswith(f"\n{board.COMPARE_END}\nrest\n") and "| 02 | b |" in text


@pytest.mark.parametrize("case", ["missing file", "no board", "no folder", "no markers", "no readme", "labels alone"])
def test_cli_bad_input_is_one_line_and_exit_2_before_anything_is_written(tmp_path, capsys, case):
    other = _board_file(tmp_path / "other.md", [_row("01", "a", "replicated")])
    board.write_rows("01", [_row("01", "a", "replicated")], folder=tmp_path / "mine")
    (tmp_path / "notes.md").write_text("no table here\n")
    (tmp_path / "README.md").write_text("no markers\n")
    args = {"missing file": ["--compare", str(tmp_path / "gone.md")],
            "no board": ["--compare", str(tmp_path / "notes.md")],
            "no folder": ["--verdicts", str(tmp_path / "nowhere"), "--compare", str(other)],
            "no markers": ["--compare", str(other), "--readme", str(tmp_path / "README.md")],
            "no readme": ["--compare", str(other), "--readme", str(tmp_path / "GONE.md")],
            "labels alone": ["--labels", "a", "b", "--readme", str(tmp_path / "README.md")]}[case]
    if "--verdicts" not in args:
        args = ["--verdicts", str(tmp_path / "mine")] + args
    assert board.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    named = {"missing file": "gone.md", "no board": "notes.md", "no folder": "--verdicts",
             "no markers": "README.md", "no readme": "GONE.md", "labels alone": "--labels"}[case]
    assert named in err
    assert (tmp_path / "README.md").read_text() == "no markers\n"


def test_reproduce_ends_with_the_comparison_against_the_readme_board(tmp_path):
    """readme_comparison writes outputs/verdicts-vs-README.md for claims on both boards and stays
    silent for another preset and without a README (an installed package)."""
    readme = tmp_path / "README.md"
    readme.write_text(f"text\n{board.START}\n" + _board_file(tmp_path / "x.md", [
        _row("01", "a", "replicated"), _row("02", "b", "replicated")]).read_text() + f"{board.END}\n")
    board.write_rows("01", [_row("01", "a", "replicated"), _row("02", "b", "inconclusive")], folder=tmp_path / "v")
    path, line = board.readme_comparison(tmp_path / "v", tmp_path / "out", readme)
    assert path == tmp_path / "out" / "verdicts-vs-README.md"
    assert line.startswith("against the README's board (a measured run, maybe on another machine): 1 of 2 claims")
    assert "| 02 | b | inconclusive" in path.read_text()
    board.write_rows("01", [_row("01", "a", "replicated", preset="smoke")], folder=tmp_path / "s")
    assert board.readme_comparison(tmp_path / "s", tmp_path / "out2", readme) is None
    assert board.readme_comparison(tmp_path / "v", tmp_path / "out3", tmp_path / "GONE.md") is None
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out3").exists()
