"""`papermill --help-notebook` lists every parameter of every notebook and solution notebook: its
parser reads each assignment of the `parameters` cell (a comment it cannot parse drops the line)."""

import ast
import logging
from pathlib import Path

import pytest
from papermill.inspection import _infer_parameters, load_notebook_node

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))


def _assigned(nb) -> list[str]:
    """Names assigned at top level in the cell tagged `parameters` (the notebook's own reading)."""
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = []
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.AnnAssign):
            names.append(node.target.id)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_help_notebook_lists_every_parameter(path, caplog):
    nb = load_notebook_node(str(path))  # papermill reads it this way (adds the metadata it expects)
    with caplog.at_level(logging.WARNING, logger="papermill"):
        inferred = [p.name for p in _infer_parameters(nb)]
    assert inferred == _assigned(nb), f"papermill reads {inferred}"
    unparsed = [r.getMessage() for r in caplog.records if "Unable to parse" in r.getMessage()]
    assert not unparsed, unparsed
    help_texts = {p.name: p.help for p in _infer_parameters(nb)}
    assert all(help_texts.values()), f"parameters without a comment: {[k for k, v in help_texts.items() if not v]}"
