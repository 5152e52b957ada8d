"""The teaching layer: every solution notebook (notebooks/solutions/*_solutions.ipynb) executes with
its smoke preset, and every numbered notebook follows the course conventions (What to expect with
navigation, exercises with a hint and a "you should see" line, at most one GPU pointer)."""

import json
import re
from pathlib import Path

import pytest

from alkit.experiments.reproduce import NOTEBOOKS_DIR, list_notebooks, run_notebook

# the smoke notebooks run their units in the kernel (conftest.one_worker_per_notebook)
pytestmark = pytest.mark.usefixtures("one_worker_per_notebook")


SOLUTIONS = sorted((NOTEBOOKS_DIR / "solutions").glob("*_solutions.ipynb"))
# notebooks of this helper's issue (#10); 02/04/07 follow the same conventions from their own branches
COURSE = [nb for nb in list_notebooks() if nb.stem[:2] in ("00", "01", "03", "05", "06", "08", "09")]


def cells(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text())["cells"]


def source(cell) -> str:
    return "".join(cell["source"])


def tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def test_solutions_exist_for_the_course_notebooks():
    have = {p.name.removesuffix("_solutions.ipynb") for p in SOLUTIONS}
    assert {nb.stem for nb in COURSE} <= have
    for nb in COURSE:  # this branch's solutions come with a smoke preset
        assert (NOTEBOOKS_DIR / "solutions" / "params" / f"{nb.stem}_solutions.smoke.yaml").exists()


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_notebook_is_stored_clean_and_answers_every_exercise(path):
    cs = cells(path)
    assert sum("parameters" in tags(c) for c in cs) == 1
    assert all(not c.get("outputs") for c in cs if c["cell_type"] == "code"), "stored without outputs"
    exercises = [i for i, c in enumerate(cs) if c["cell_type"] == "markdown" and source(c).startswith("### Exercise")]
    assert exercises
    for start, end in zip(exercises, exercises[1:] + [len(cs)]):
        assert any("solution" in tags(c) for c in cs[start + 1:end]), source(cs[start]).splitlines()[0]


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_notebook_runs_with_smoke_preset(path, tmp_path):
    # the smoke preset (notebooks/solutions/params/<stem>.smoke.yaml) where there is one, else the
    # notebook's own parameters, which must then be small
    preset = "smoke" if (path.parent / "params" / f"{path.stem}.smoke.yaml").exists() else "default"
    out = run_notebook(path, preset=preset, output_dir=tmp_path / "nb")
    nb = json.loads(out.read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] if "solution" in tags(c)
                      for o in c.get("outputs", []) if o.get("output_type") == "stream")
    code_solutions = [c for c in nb["cells"] if c["cell_type"] == "code" and "solution" in tags(c)]
    assert not code_solutions or printed.strip(), "solutions print what they computed"


@pytest.mark.parametrize("nb", COURSE, ids=[nb.stem for nb in COURSE])
def test_course_conventions(nb):
    cs = cells(nb)
    expect = source(cs[1])
    assert expect.startswith("## What to expect") and "2-core laptop CPU" in expect
    stems = [p.stem for p in list_notebooks()] + ["02_ssl_vs_al", "04_transfer_learning", "07_segmentation_ssl"]
    links = re.findall(r"\]\(([0-9][0-9]_\w+)\.ipynb\)", expect)
    assert links and all(link in stems for link in links), links
    assert ("Previous:" in expect) == (nb.stem != stems[0])
    assert ("Next:" in expect) == (nb.stem != list_notebooks()[-1].stem)
    ex = [i for i, c in enumerate(cs) if c["cell_type"] == "markdown" and source(c).startswith("### Exercise")]
    assert len(ex) >= 2
    for i in ex:
        text = source(cs[i])
        assert "**Hint:**" in text and "**You should see:**" in text, text
        assert not re.search(r"You should see:\*\*[^\n]*\d+(\.\d+)? ?%", text), "no hard-coded result"
        assert cs[i + 1]["cell_type"] == "code" and source(cs[i + 1]).strip() == "# your turn"
    gpu = [i for i in ex if re.search(r"\bGPU\b", source(cs[i]))]
    assert len(gpu) <= 1, "at most one GPU pointer"
