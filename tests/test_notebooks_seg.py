"""Notebooks 05 (annotation cost) and 06 (segmentation AL) executed end to end by papermill with
the smoke preset."""

import json

import pytest

from alkit.reproduce import run_notebook

FIGURES = {
    "05_annotation_cost": ["05_fig10_shapes_clicks_vs_quality.png", "05_fig11_shapes_quality_per_tolerance.png"],
    "06_segmentation_al": ["06_fig13_shapes_raw_al.png", "06_fig12_shapes_predictions_per_cycle.png"],
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_with_smoke_preset(name, tmp_path):
    out = run_notebook(name, preset="smoke", output_dir=tmp_path / "nb")
    nb = json.loads(out.read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    figures = tmp_path / "outputs" / "figures"
    for fig in FIGURES[name]:
        assert (figures / fig).exists(), f"{name} saves {fig}"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_is_stored_without_outputs(name):
    from alkit.reproduce import resolve_notebook

    nb = json.loads(resolve_notebook(name).read_text())
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
