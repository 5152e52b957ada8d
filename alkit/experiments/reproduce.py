"""Run the numbered notebooks headlessly with papermill, at a chosen scale (preset).

Presets: ``smoke`` (CI-sized, seconds), ``default`` (the notebook's own parameters: embedded
data, real curves, minutes on a laptop CPU) and ``paper`` (the paper's datasets and schedules,
for a GPU). A preset other than ``default`` is a YAML file ``notebooks/params/<stem>.<preset>.yaml``
of parameter overrides. Executed copies go to ``<outputs>/notebooks/``.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from alkit.paths import REPO_ROOT, outputs_dir

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PRESETS = ("smoke", "default", "paper")
# A smoke-preset cell runs seconds; one that runs this long is stuck (a kernel that never reports a
# cell done), and fails with papermill's timeout instead of holding CI until its hard limit.
SMOKE_CELL_TIMEOUT_S = 900


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


@contextlib.contextmanager
def _ipc_kernels():
    """A kernel manager class whose kernels talk over Unix sockets in a private temp folder, not TCP:
    nothing listens on the network, and ipykernel does not warn "Kernel is running over TCP without
    encryption" once per notebook. The folder is removed afterwards."""
    import shutil
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    folder = tempfile.mkdtemp(prefix="alkit-kernel-")

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = os.path.join(folder, "k")

    try:
        yield IPCKernelManager
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_notebook(notebook: str | Path, preset: str = "default", output_dir: str | Path | None = None,
                 parameters: dict | None = None, progress: bool = False) -> Path:
    """Execute one notebook with papermill; returns the path of the executed copy.

    The notebook runs with its own folder as working directory; ``parameters`` override the
    preset's values. papermill writes the executed copy as it goes, so it writes to a hidden temp
    name in the output folder that is renamed to ``<stem>[.<preset>].ipynb`` only when the run
    succeeds. If a cell fails (``PapermillExecutionError`` is re-raised) or the run is
    interrupted, the partial copy is kept as ``<stem>[.<preset>].failed.ipynb`` for inspection.
    """
    import papermill as pm

    from alkit.io import clean_orphans, commit_temp, temp_path

    nb = resolve_notebook(str(notebook)) if not Path(notebook).exists() else Path(notebook)
    params = preset_parameters(nb, preset)
    params.update(parameters or {})
    out_dir = Path(output_dir) if output_dir else outputs_dir() / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if preset == "default" else f".{preset}"
    out = out_dir / f"{nb.stem}{suffix}.ipynb"
    failed = out_dir / f"{nb.stem}{suffix}.failed.ipynb"
    clean_orphans(out_dir)  # partial copies of runs that were killed outright
    tmp = temp_path(out, ext=".ipynb")  # papermill warns about names not ending in .ipynb
    # the kernel inherits the preset: alkit.analysis.claims prints no verdict from the smoke preset
    previous = os.environ.get("ALKIT_PRESET")
    os.environ["ALKIT_PRESET"] = preset
    try:
        with _ipc_kernels() as manager:
            pm.execute_notebook(str(nb), str(tmp), parameters=params, cwd=str(nb.parent), kernel_name="python3",
                                progress_bar=progress, report_mode=False, kernel_manager_class=manager,
                                execution_timeout=SMOKE_CELL_TIMEOUT_S if preset == "smoke" else None)
    except BaseException:
        if tmp.exists():
            os.replace(tmp, failed)
        raise
    finally:
        if previous is None:
            os.environ.pop("ALKIT_PRESET", None)
        else:
            os.environ["ALKIT_PRESET"] = previous
    commit_temp(tmp, out)
    failed.unlink(missing_ok=True)  # an earlier failure of this notebook is now out of date
    return out


def reproduce(notebooks: list[str] | None = None, preset: str = "default", output_dir=None) -> list[Path]:
    """Run the given notebooks (default: all) in order and print one line per notebook."""
    chosen = [resolve_notebook(n) for n in notebooks] if notebooks else list_notebooks()
    for nb in chosen:
        preset_parameters(nb, preset)  # fail early on a missing preset file
    outs = []
    t_all = time.perf_counter()
    for nb in chosen:
        t0 = time.perf_counter()
        print(f"[alkit] running {nb.name} (preset {preset}) ...", flush=True)
        outs.append(run_notebook(nb, preset, output_dir, progress=True))
        print(f"[alkit] {nb.name} done in {time.perf_counter() - t0:.0f} s -> {outs[-1]}", flush=True)
    print(f"[alkit] {len(outs)} notebook(s) in {time.perf_counter() - t_all:.0f} s; figures in {outputs_dir() / 'figures'}")
    # the verdict board: every claim of every notebook run so far (alkit.analysis.board)
    from alkit.analysis.board import write_board

    md, line = write_board()
    print(f"[alkit] {line} -> {md}", flush=True)
    return outs
