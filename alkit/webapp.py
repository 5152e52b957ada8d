"""The explorers as a web app (``make explore`` = ``python -m alkit.webapp``): the AL sandbox, the
pool inspector and the click explorer on one page, served by Voila on 127.0.0.1 with no code cells
visible (Voila strips the sources). The page's kernel uses the repository's results store
(``outputs/runs``, through ``ALKIT_OUTPUTS``), so an experiment already run — by ``make reproduce``,
the notebooks or an earlier visit — is read at once, and a new budget trains in the background.

The sandbox starts at notebook 00's experiment (its cycles are stored after ``make reproduce``).
Settings can be given in the page's address, e.g. ``/?initial=20&step=10&cycles=1&epochs=1&min_steps=0``
(names: ``strategy``, ``augment``, ``initial``, ``step``, ``cycles``, ``trials``, ``epochs``,
``min_steps``, ``seed``; Voila hands the query string to the kernel).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from alkit.paths import outputs_dir

INT_SETTINGS = ("initial", "step", "cycles", "trials", "epochs", "min_steps", "seed")
TEXT_SETTINGS = ("strategy", "augment")

INTRO = """# alkit explorers

Three interactive views of *Parting with Illusions about Deep Active Learning*, without code. Every
experiment is cached in the results store: a budget that was run before answers at once; a new one
trains in the background and each cycle is drawn as it finishes.

- **AL sandbox** — pick a strategy, augmentation, SSL and budgets; the accuracy curve against Random,
  the images picked in a cycle and their class histogram (notebook 00).
- **Pool inspector** — a PCA map of the pool with the picks of each strategy coloured by cycle (notebook 03).
- **Click explorer** — the tolerance of the polygon annotator: clicks against label quality (notebook 05)."""

SETTINGS = '''import os
from alkit.webapp import settings_from_query
settings = settings_from_query(os.environ.get("QUERY_STRING", ""))'''

SANDBOX = '''from alkit.explorers import ALSandbox
sandbox = ALSandbox(cycle=1, workers=1, **settings)
sandbox.widget()'''

# the page is sent once every cell has run: the inspector is filled in by a daemon thread when the
# sandbox's runs are done, so the page does not wait for their training
POOL = '''from alkit.explorers import PoolInspector, deferred_widget
def pool_view():  # the sandbox's runs are done: its results are read from the store at once
    return PoolInspector(sandbox.data(), sandbox.results(), strategy=sandbox.strategy).widget()
deferred_widget(pool_view, sandbox.wait, "the pool inspector appears when the sandbox's runs are done")'''

CLICKS = '''from alkit.engine.data import load_dataset
from alkit.explorers import ClickExplorer
ClickExplorer(load_dataset("shapes", n_train=12, n_val=0), index=1, tolerance=2.0).widget()'''


def settings_from_query(query: str) -> dict:
    """Sandbox settings from a page address's query string (unknown names and bad numbers are ignored)."""
    from urllib.parse import parse_qs

    out = {}
    for key, values in parse_qs(query.lstrip("?")).items():
        value = values[-1]
        if key in INT_SETTINGS:
            try:
                out[key] = int(value)
            except ValueError:
                continue
        elif key in TEXT_SETTINGS:
            out[key] = value
    return out


def app_notebook():
    """The page as a notebook: markdown headings and the explorers' code cells (hidden by Voila)."""
    import nbformat

    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell(INTRO), v4.new_code_cell(SETTINGS),
                v4.new_markdown_cell("## AL sandbox"), v4.new_code_cell(SANDBOX),
                v4.new_markdown_cell("## Click explorer (shapes scenes, polygon annotator)"), v4.new_code_cell(CLICKS),
                v4.new_markdown_cell("## Pool inspector (the picks of the sandbox's experiment and of Random)"),
                v4.new_code_cell(POOL)]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def write_app(folder: Path | None = None) -> Path:
    import nbformat

    folder = Path(folder) if folder else outputs_dir() / "explore"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "explore.ipynb"
    nbformat.write(app_notebook(), path)
    return path


def voila_command(app: Path, port: int, extra: list[str] | None = None) -> list[str]:
    return [sys.executable, "-m", "voila", str(app), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
            "--strip_sources=True", "--show_tracebacks=True", *(extra or [])]


def voila_env(base: dict | None = None) -> dict:
    """The server's (and so the kernel's) environment: the repository's outputs folder (results store)."""
    from alkit.paths import REPO_ROOT

    env = dict(os.environ if base is None else base)
    env["ALKIT_OUTPUTS"] = str(outputs_dir().resolve())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m alkit.webapp", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default: 8866)")
    a = p.parse_args(argv)
    app = write_app()
    print(f"[explore] serving the explorers on http://127.0.0.1:{a.port}/ (Ctrl-C stops)", flush=True)
    try:
        return subprocess.call(voila_command(app, a.port), env=voila_env())
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
