"""Every numbered notebook executed end to end by papermill with the smoke preset, and stored
the way the repo wants it (no outputs, one ``parameters`` cell, presets present). The executed
notebook must print its "This run shows" findings, each ending in one of the allowed verdicts, and
never a verdict from fewer than 3 trials."""

import json
import re

import pytest

from alkit.experiments.reproduce import list_notebooks, preset_parameters, resolve_notebook, run_notebook

NOTEBOOKS = [nb.stem for nb in list_notebooks()]

# the smoke notebooks run their units in the kernel (conftest.one_worker_per_notebook)
pytestmark = pytest.mark.usefixtures("one_worker_per_notebook")


# figures some notebooks must save (names are part of the README's promise)
FIGURES = {
    "02_ssl_vs_al": ["02_fig1_digits_teaser.png", "02_fig4-5_digits_ssl_vs_al.png", "02_ssl_methods_digits.png"],
    "03_low_budget": ["03_fig6-7_digits_low_budget.png", "03_fig6-7_digits_gap_to_random.png"],
    "04_transfer_learning": ["04_fig8_digits_transfer.png"],
    "05_annotation_cost": ["05_fig10_shapes_clicks_vs_quality.png", "05_fig11_shapes_quality_per_tolerance.png"],
    "06_segmentation_al": ["06_fig13_shapes_raw_al.png", "06_fig12_shapes_predictions_per_cycle.png"],
    "07_segmentation_ssl": ["07_fig13_shapes_ssl.png", "07_fig14_shapes_polygon_query.png", "07_fig15_shapes_polygons.png"],
}


def test_all_notebooks_found():
    assert {"00_quickstart", "01_augmentation", "05_annotation_cost", "06_segmentation_al"} <= set(NOTEBOOKS)


# the only ways a claim may end (alkit.analysis.claims); the smoke preset gives no verdict at all
VERDICT = re.compile(r"  => (replicated|contradicted|inconclusive|not tested \(.+\)|too few trials \(n=\d+\))(: .*| \(.*)?")
# a verdict against Random (or SSL-Random) as alkit.analysis.stats.describe words it
RANDOM_VERDICT = re.compile(r"\b(above|below) (SSL-)?Random\b(?!-)")


def parameters_source(name: str) -> str:
    """The source of a stored notebook's ``parameters`` cell."""
    nb = json.loads(resolve_notebook(name).read_text())
    return "".join(next(c["source"] for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])))


def smoke_trials(name: str) -> int | None:
    """Trials per strategy under the smoke preset (the preset's, else the notebook's default;
    None for a notebook without trials)."""
    params = preset_parameters(resolve_notebook(name), "smoke")
    if "trials" in params:
        return int(params["trials"])
    m = re.search(r"^trials: int = (\d+)", parameters_source(name), re.M)
    return int(m.group(1)) if m else None


def printed(nb: dict) -> str:
    """Everything the notebook's code cells printed."""
    return "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_with_smoke_preset(name, tmp_path):
    out = run_notebook(name, preset="smoke", output_dir=tmp_path / "nb")
    nb = json.loads(out.read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    figures = tmp_path / "outputs" / "figures"
    assert list(figures.glob("*.png")), f"{name} saves its figures"
    for fig in FIGURES.get(name, []):
        assert (figures / fig).exists(), f"{name} saves {fig}"

    text = printed(nb)
    assert "This run shows" in text, f"{name} prints its findings"
    verdicts = [line for line in text.splitlines() if line.startswith("  => ")]
    assert verdicts or name.startswith("00"), f"{name} states a verdict for each paper claim"
    assert all(VERDICT.fullmatch(v) for v in verdicts), verdicts
    assert all(v.startswith("  => not tested (") or v.startswith("  => too few trials") for v in verdicts), \
        f"{name}: the smoke preset prints no verdict: {verdicts}"
    trials = smoke_trials(name)
    if trials is not None and trials < 3:
        assert not RANDOM_VERDICT.search(text), f"{name} gives a verdict from {trials} trial(s)"
        assert all("too few trials" in v or "not tested" in v for v in verdicts), verdicts
        if not verdicts or any("not tested" not in v for v in verdicts):
            assert "too few trials" in text
    elif trials is not None:
        assert "too few trials" not in text, f"{name}: every comparison should have its {trials} paired trials"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_clean_with_presets(name):
    from alkit.experiments.reproduce import resolve_notebook

    path = resolve_notebook(name)
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and not c.get("execution_count") for c in code)
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    source = "".join(tagged[0]["source"])
    assert "ensemble_trials" not in source, "one `trials` for every strategy, ensembles included"
    if "trials:" in source:
        assert int(re.search(r"^trials: int = (\d+)", source, re.M).group(1)) >= 3, "defaults give verdicts"
    markdown = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
    headings = ["".join(c["source"]) for c in markdown]
    assert any("### The paper reports" in h for h in headings) and any("### This run shows" in h for h in headings)
    assert not any("## What this run shows" in h for h in headings)
    for preset in ("smoke", "paper"):
        assert (path.parent / "params" / f"{name}.{preset}.yaml").exists()


def test_two_trials_give_no_verdict(tmp_path):
    """The quickstart with 2 trials (the paper's count for ensembles): numbers, but no verdict."""
    out = run_notebook("00_quickstart", preset="smoke", output_dir=tmp_path / "nb", parameters={"trials": 2})
    text = printed(json.loads(out.read_text()))
    assert "This run shows" in text and "2 trials per strategy (verdicts need at least 3)" in text
    # the smoke preset prints neither a gap nor a verdict (alkit.analysis.claims; the too-few-trials
    # verdict itself is tested in tests/test_claims.py)
    assert "  => not tested (smoke preset: training not converged)" in text
    assert not RANDOM_VERDICT.search(text) and "CI" not in text
