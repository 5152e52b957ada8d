"""Where alkit reads data from and writes outputs to."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def outputs_dir() -> Path:
    """Root of everything alkit writes: ``$ALKIT_OUTPUTS`` if set, else ``<repo>/outputs`` for a
    source checkout, else ``./outputs``."""
    env = os.environ.get("ALKIT_OUTPUTS")
    if env:
        return Path(env)
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / "outputs"
    return Path.cwd() / "outputs"


def outputs_label() -> str:
    """How :func:`outputs_dir` was chosen, for messages: ``$ALKIT_OUTPUTS`` or the default."""
    if os.environ.get("ALKIT_OUTPUTS"):
        return "$ALKIT_OUTPUTS"
    return f"outputs folder {outputs_dir()} (set $ALKIT_OUTPUTS to write elsewhere)"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Folder holding the paper's datasets: the argument, else ``$ALKIT_DATA``, else ``~/.alkit/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("ALKIT_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".alkit" / "data"


def figures_dir() -> Path:
    return outputs_dir() / "figures"


def runs_dir() -> Path:
    return outputs_dir() / "runs"
