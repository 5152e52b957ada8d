"""Which code made an output: the git commit of the checkout alkit runs from.

``alkit reproduce`` records it, with the preset, in each executed notebook's metadata
(``metadata["alkit"]``), and the book (:mod:`alkit.book`) prints it on the notebook's page.
"""

from __future__ import annotations

import subprocess

from alkit.paths import REPO_ROOT


def git(*args) -> str:
    """``git ARGS`` in the repository alkit runs from; its output stripped, "" when git or the
    repository is not there (an installed package)."""
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def source_commit() -> str:
    """Short HEAD commit, with ``+changes`` when tracked files differ from it; ``"unknown"``
    outside a git checkout."""
    c = git("rev-parse", "--short", "HEAD") or "unknown"
    return c + ("+changes" if c != "unknown" and git("status", "--porcelain", "--untracked-files=no") else "")
