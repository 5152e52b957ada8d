"""Exercises that check themselves (alkit.grading): a check cell after every code exercise of the
solution notebooks, readable messages for a blank answer, strict mode in headless runs, and
``python -m alkit grade DIR`` over two fabricated submissions (one solved, one blank)."""

import csv
import re

import nbformat
import numpy as np
import pytest

from alkit import cli
from alkit.experiments.reproduce import NOTEBOOKS_DIR
from alkit.grading import EXERCISES, CheckFailed, check, exercises_of, notebook_number, run_checks
from alkit.teaching import CODE_BLANK, blank_solutions

SOLUTIONS = sorted((NOTEBOOKS_DIR / "solutions").glob("*_solutions.ipynb"))


def tags(cell):
    return cell.metadata.get("tags", [])


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_code_exercise_is_followed_by_its_check(path):
    nb = nbformat.read(path, as_version=4)
    number = path.name[:2]
    assert nb.metadata["alkit"]["exercises"] == number
    starts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("### Exercise")]
    checked = []
    for start, end in zip(starts, starts[1:] + [len(nb.cells)]):
        part = nb.cells[start + 1:end]
        k = re.match(r"### Exercise (\d+)", nb.cells[start].source).group(1)
        has_code = any(c.cell_type == "code" and "solution" in tags(c) for c in part)
        calls = [c for c in part if "check" in tags(c)]
        assert len(calls) == int(has_code), f"exercise {k}: {len(calls)} check cells"
        if has_code:
            assert f'check("{number}.{k}")' in calls[0].source and "solution" not in tags(calls[0])
            checked.append(f"{number}.{k}")
    assert checked == exercises_of(number) and checked, "every code exercise has checks, and only those"
    for ex in checked:
        assert EXERCISES[ex].public and EXERCISES[ex].hidden


def test_student_copy_keeps_the_check_cells_and_blanks_the_answer():
    nb = nbformat.read(SOLUTIONS[0], as_version=4)
    copy = blank_solutions(nb)
    assert [c.source for c in copy.cells if "check" in tags(c)] == [c.source for c in nb.cells if "check" in tags(c)]
    assert copy.metadata["alkit"]["exercises"] == "00"


def test_blank_answer_gets_a_readable_message_and_a_right_one_passes(capsys, monkeypatch):
    monkeypatch.setenv("ALKIT_CHECK_STRICT", "0")
    result = check("00.2", {})
    out = capsys.readouterr().out
    assert not result and "Exercise 00.2 (margin by hand): 0 of 1 checks passed" in out
    assert "not done yet: `margin`, `probs` are not defined" in out

    probs = np.random.default_rng(0).dirichlet(np.ones(10), size=50)
    wrong = {"probs": probs, "margin": lambda p: np.sort(p, 1)[:, -1] - np.sort(p, 1)[:, -2]}  # sign flipped
    assert not check("00.2", wrong)
    assert "differs from the margin score" in capsys.readouterr().out

    right = {"probs": probs, "margin": lambda p: -(np.sort(p, 1)[:, -1] - np.sort(p, 1)[:, -2])}
    assert check("00.2", right)
    assert all(o.passed for o in run_checks("00.2", right, hidden=True))


def test_strict_mode_runs_the_hidden_checks_and_raises(monkeypatch, capsys):
    monkeypatch.setenv("ALKIT_CHECK_STRICT", "1")
    probs = np.random.default_rng(1).dirichlet(np.ones(3), size=20)
    # passes the public check on these probs, fails the hidden one (hand-made rows): not a margin
    from alkit.strategies import scores

    cheat = {"probs": probs, "margin": lambda p: scores.margin(probs) if p is probs else np.zeros(len(p))}
    with pytest.raises(CheckFailed, match="hidden check"):
        check("00.2", cheat)
    monkeypatch.delenv("ALKIT_CHECK_STRICT")
    monkeypatch.setenv("ALKIT_PRESET", "smoke")  # a headless run through alkit's runner is strict
    with pytest.raises(CheckFailed):
        check("00.2", {})
    capsys.readouterr()


def test_notebook_number_from_metadata_or_file_name(tmp_path):
    nb = nbformat.v4.new_notebook()
    assert notebook_number(tmp_path / "alice_05_annotation_cost_solutions.ipynb", nb) == "05"
    nb.metadata["alkit"] = {"exercises": "03"}
    assert notebook_number(tmp_path / "homework.ipynb", nb) == "03"


def test_grade_two_fabricated_submissions(tmp_path, capsys):
    """One student hands in the worked solutions, the other the blank student copy (notebook 05:
    no training, seconds): the first gets every check, the second none, with a readable reason."""
    source = NOTEBOOKS_DIR / "solutions" / "05_annotation_cost_solutions.ipynb"
    nb = nbformat.read(source, as_version=4)
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    (tmp_path / "subs" / "bob").mkdir()
    nbformat.write(nb, tmp_path / "subs" / "alice" / source.name)
    blank = blank_solutions(nb)
    assert CODE_BLANK in [c.source for c in blank.cells]
    nbformat.write(blank, tmp_path / "subs" / "bob" / source.name)

    assert cli.main(["grade", str(tmp_path / "subs")]) == 0
    assert "graded 2 notebook(s)" in capsys.readouterr().out
    rows = {r["submission"]: r for r in csv.DictReader(open(tmp_path / "subs" / "grades.csv"))}
    n = sum(len(EXERCISES[e].public) + len(EXERCISES[e].hidden) for e in exercises_of("05"))
    alice, bob = rows[f"alice/{source.name}"], rows[f"bob/{source.name}"]
    assert (alice["score"], alice["max_score"], alice["notebook"]) == (str(n), str(n), "05")
    assert (bob["score"], bob["max_score"]) == ("0", str(n))
    assert alice["cells_with_errors"] == "0"
    detail = list(csv.DictReader(open(tmp_path / "subs" / "grades_detail.csv")))
    bob_msgs = [d["message"] for d in detail if d["submission"].startswith("bob/")]
    assert len(bob_msgs) == n and all("not done yet" in m for m in bob_msgs)
    assert (tmp_path / "subs" / "_executed" / "alice" / source.name).exists()
    # graded again: the executed copies and the CSVs are not taken for submissions
    from alkit.grading import submissions

    assert len(submissions(tmp_path / "subs")) == 2


def test_grade_command_checks_its_folder(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "missing")]) == 2
    assert "folder not found" in capsys.readouterr().err
