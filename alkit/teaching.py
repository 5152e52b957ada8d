"""Student copies of the notebooks: every notebook and solution notebook with the cells tagged
``solution`` blanked, ready to hand out (``python -m alkit student-copies DIR``).

A blanked code cell keeps only ``# your solution here``, a blanked markdown cell only
``*Your answer here.*``; outputs and execution counts of every code cell are cleared. Untagged
cells (the exercise texts, the parameters cell) are copied as they are.
"""

from __future__ import annotations

from pathlib import Path

SOLUTION_TAG = "solution"
CODE_BLANK = "# your solution here"
MARKDOWN_BLANK = "*Your answer here.*"

README = """# alkit notebooks — student copies

These are the course notebooks of alkit (a reproduction of "Parting with Illusions about Deep Active
Learning", Mittal et al.). Each notebook ends with exercises (cells `# your turn`); `solutions/` holds
one notebook per lecture notebook with the exercises again, the worked answers blanked: cells that
read `{code}` or `{md}` are yours to fill in. After each code exercise a cell `check("NN.k")` (alkit.grading)
checks your answer and says what is still missing or wrong; your teacher grades with more (hidden) checks.

Run them from a clone of the alkit repository with `make lab` (JupyterLab), or copy them into its
`notebooks/` folder so that the relative paths (`params/`, `../outputs`) resolve.
See the course index in the repository's notebooks/README.md.
"""


def blank_solutions(nb):
    """Return a copy of the notebook ``nb`` (an ``nbformat`` node) with the ``solution``-tagged
    cells blanked and every code cell's outputs cleared."""
    import copy

    out = copy.deepcopy(nb)
    for cell in out.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if SOLUTION_TAG in tags:
            cell.source = CODE_BLANK if cell.cell_type == "code" else MARKDOWN_BLANK
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def student_copies(out_dir, notebooks_dir=None) -> list[Path]:
    """Write every numbered notebook and every ``solutions/*_solutions.ipynb`` of ``notebooks_dir``
    (default: the repository's ``notebooks/``) to ``out_dir`` (solutions under ``out_dir/solutions``),
    solution cells blanked, plus the ``params/`` presets and a README. Returns the notebook paths."""
    import shutil

    import nbformat

    from alkit.experiments.reproduce import NOTEBOOKS_DIR

    src = Path(notebooks_dir) if notebooks_dir else NOTEBOOKS_DIR
    out = Path(out_dir)
    written = []
    sources = sorted(src.glob("[0-9][0-9]_*.ipynb")) + sorted((src / "solutions").glob("*_solutions.ipynb"))
    for nb_path in sources:
        target = out / nb_path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        nb = nbformat.read(nb_path, as_version=4)
        nbformat.write(blank_solutions(nb), target)
        written.append(target)
    for params in (src / "params", src / "solutions" / "params"):
        if params.is_dir():
            shutil.copytree(params, out / params.relative_to(src), dirs_exist_ok=True)
    (out / "README.md").write_text(README.format(code=CODE_BLANK, md=MARKDOWN_BLANK))
    return written
