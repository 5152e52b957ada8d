"""Notebooks 00 and 01 executed end to end by papermill with the smoke preset."""

import json

import pytest

from alkit.reproduce import run_notebook


@pytest.mark.parametrize("name", ["00_quickstart", "01_augmentation"])
def test_notebook_runs_with_smoke_preset(name, tmp_path):
    out = run_notebook(name, preset="smoke", output_dir=tmp_path / "nb")
    nb = json.loads(out.read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert list((tmp_path / "outputs" / "figures").glob("*.png")), "the notebook saves its figures"
