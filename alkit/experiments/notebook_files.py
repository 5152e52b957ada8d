"""The numbered notebooks on disk and their presets' parameter files (``notebooks/params/``):
what :mod:`alkit.experiments.reproduce` runs and :mod:`alkit.experiments.notebook_runs` plans."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from alkit.paths import REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PRESETS = ("smoke", "default", "paper")


def list_notebooks(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` in order."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def resolve_notebook(name: str, folder: Path = NOTEBOOKS_DIR) -> Path:
    """A notebook by path, stem (``01_augmentation``) or number (``01``); one clear error if unknown."""
    p = Path(name)
    if p.suffix == ".ipynb" and p.exists():
        return p
    for nb in list_notebooks(folder):
        if name in (nb.stem, nb.name, nb.stem.split("_")[0]):
            return nb
    known = ", ".join(nb.stem for nb in list_notebooks(folder))
    raise ValueError(f"unknown notebook {name!r}; choose from {known}")


def parameter_defaults(notebook: str | Path) -> dict:
    """The values of the notebook's cell tagged ``parameters`` (literals only, as the house rules
    require: ``name: type = literal  # comment``), in order. ``ValueError`` for a non-literal."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"])
            out = {}
            for node in ast.parse(src).body:
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                    out[node.target.id] = ast.literal_eval(node.value)
                elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    out[node.targets[0].id] = ast.literal_eval(node.value)
                else:
                    raise ValueError(f"{Path(notebook).name}: parameters cell has a statement that is not a "
                                     f"literal assignment (line {node.lineno})")
            return out
    raise ValueError(f"{Path(notebook).name} has no cell tagged 'parameters'")


def preset_parameters(notebook: Path, preset: str) -> dict:
    """Parameter overrides of ``preset`` for ``notebook`` ({} for ``default``).

    ``paper``: the notebook's ``params/NN_name.paper.yaml``. ``smoke``: the one CI-sized recipe
    (:data:`alkit.experiments.recipes.SMOKE`, of the kind of task the notebook's ``dataset`` is)
    for the parameters the notebook has, then its ``params/NN_name.smoke.yaml`` over it (what is
    particular to the notebook); a notebook without a ``dataset`` parameter takes its file alone."""
    import yaml

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if preset == "default":
        return {}
    f = notebook.parent / "params" / f"{notebook.stem}.{preset}.yaml"
    if not f.exists():
        raise FileNotFoundError(f"{notebook.name} has no {preset!r} preset: expected {f}")
    own = yaml.safe_load(f.read_text()) or {}
    if preset != "smoke":
        return own
    from alkit.engine.data import dataset_kind
    from alkit.experiments.recipes import SMOKE

    params = parameter_defaults(notebook)
    if "dataset" not in params:  # no dataset to read the kind of task from: the file alone
        return own
    kind = dataset_kind(own.get("dataset", params["dataset"]))
    return {**{k: v for k, v in SMOKE[kind].items() if k in params}, **own}
