"""The numbered notebooks on disk and their presets' parameter files (``notebooks/params/``):
what :mod:`alkit.experiments.reproduce` runs and :mod:`alkit.experiments.notebook_runs` plans."""

from __future__ import annotations

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


def preset_parameters(notebook: Path, preset: str) -> dict:
    """Parameter overrides of ``preset`` for ``notebook`` ({} for ``default``)."""
    import yaml

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if preset == "default":
        return {}
    f = notebook.parent / "params" / f"{notebook.stem}.{preset}.yaml"
    if not f.exists():
        raise FileNotFoundError(f"{notebook.name} has no {preset!r} preset: expected {f}")
    return yaml.safe_load(f.read_text()) or {}
