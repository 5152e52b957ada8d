"""``python -m alkit student-copies DIR``: every notebook and solution notebook, solution cells
blanked (tag ``solution``), outputs cleared, everything else unchanged."""

import nbformat

from alkit import cli
from alkit.teaching import CODE_BLANK, MARKDOWN_BLANK, blank_solutions, student_copies


def make_notebook(path, executed=True):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("trials: int = 3", metadata={"tags": ["parameters"]})
    ex = nbformat.v4.new_markdown_cell("### Exercise 1 — predict\n**Hint:** h\n**You should see:** s")
    sol = nbformat.v4.new_code_cell("print(42)", metadata={"tags": ["solution"]})
    why = nbformat.v4.new_markdown_cell("It means ...", metadata={"tags": ["solution"]})
    plain = nbformat.v4.new_code_cell("x = 1")
    if executed:
        for c in (sol, plain):
            c.outputs = [nbformat.v4.new_output("stream", text="42\n")]
            c.execution_count = 3
    nb.cells = [params, ex, sol, why, plain]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return nb


def test_blank_solutions_blanks_only_tagged_cells_and_clears_outputs(tmp_path):
    nb = make_notebook(tmp_path / "a.ipynb")
    out = blank_solutions(nb)
    assert [c.source for c in out.cells] == ["trials: int = 3", nb.cells[1].source, CODE_BLANK, MARKDOWN_BLANK, "x = 1"]
    assert all(c.outputs == [] and c.execution_count is None for c in out.cells if c.cell_type == "code")
    assert nb.cells[2].source == "print(42)"  # the input is not modified
    assert out.cells[2].metadata["tags"] == ["solution"]  # still marked, for the teacher's diff


def test_student_copies_writes_notebooks_solutions_params_and_readme(tmp_path):
    src = tmp_path / "nbs"
    make_notebook(src / "01_x.ipynb")
    make_notebook(src / "solutions" / "01_x_solutions.ipynb")
    (src / "params").mkdir()
    (src / "params" / "01_x.smoke.yaml").write_text("trials: 1\n")
    (src / "scratch.ipynb").write_text("{}")  # not a course notebook: not copied
    written = student_copies(tmp_path / "out", src)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "01_x.ipynb", "solutions/01_x_solutions.ipynb"]
    for p in written:
        nb = nbformat.read(p, as_version=4)
        assert "print(42)" not in "".join(c.source for c in nb.cells)
        assert CODE_BLANK in [c.source for c in nb.cells]
    assert (tmp_path / "out" / "params" / "01_x.smoke.yaml").read_text() == "trials: 1\n"
    assert "solution" in (tmp_path / "out" / "README.md").read_text()
    assert not (tmp_path / "out" / "scratch.ipynb").exists()


def test_command_writes_every_repository_notebook(tmp_path, capsys):
    from alkit.experiments.reproduce import NOTEBOOKS_DIR

    assert cli.main(["student-copies", str(tmp_path / "class")]) == 0
    expected = sorted(p.name for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in (tmp_path / "class").glob("*.ipynb")) == expected
    solutions = sorted((NOTEBOOKS_DIR / "solutions").glob("*_solutions.ipynb"))
    assert len(list((tmp_path / "class" / "solutions").glob("*.ipynb"))) == len(solutions)
    for sol in solutions:  # every solution cell of the repository's solution notebooks is blanked
        nb = nbformat.read(tmp_path / "class" / "solutions" / sol.name, as_version=4)
        tagged = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        assert tagged and all(c.source in (CODE_BLANK, MARKDOWN_BLANK) for c in tagged)
    assert "wrote" in capsys.readouterr().out
