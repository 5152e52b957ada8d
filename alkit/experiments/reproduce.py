"""Run the numbered notebooks headlessly with papermill, at a chosen scale (preset).

Presets: ``smoke`` (CI-sized, seconds), ``default`` (the notebook's own parameters: embedded
data, real curves, 21 to 63 minutes for all ten notebooks on the 2-core CPUs measured, see the
README) and ``paper`` (the paper's datasets and schedules, for a GPU). A preset other than
``default`` is a YAML file ``notebooks/params/<stem>.<preset>.yaml`` of parameter overrides.
Executed copies go to ``<outputs>/notebooks/``.

Before the first notebook starts, every dataset the chosen notebooks read at the preset is checked
(:func:`check_data`; :class:`MissingData` lists each missing one), and :func:`plan` prices the run
without training it (``alkit reproduce --plan``, :mod:`alkit.experiments.cost_plan`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from alkit.experiments.notebook_files import (NOTEBOOKS_DIR, PRESETS, list_notebooks,  # noqa: F401  (re-exported)
                                             preset_parameters, resolve_notebook)
from alkit.paths import outputs_dir
from alkit.provenance import source_commit

# Notebooks executed side by side after the prefetch (each mostly one core: kernel start, imports,
# loading runs, figures; a notebook that computes its own strategy uses the cores it finds free).
# Measured on the 2-core machine, the ten notebooks' reading phase took 200 s one after another.
NOTEBOOK_SLOTS = 2
_LIVE_KERNELS: set = set()  # kernel managers of the notebooks running now (killed on Ctrl-C)
_LIVE_LOCK = threading.Lock()

# A smoke-preset cell runs seconds; one that runs this long is stuck (a kernel that never reports a
# cell done), and fails with papermill's timeout instead of holding CI until its hard limit.
# A cell that gives no reply for this long is taken as hung, not slow: the kernel sits idle while
# the client waits for a message it never gets (seen at random, about once in a few hundred notebook
# runs, e.g. a clean-clone CI run of 8905082 where notebook 05's smoke copy waited with its kernel
# idle; ipython/ipykernel#1471 is the same symptom). run_notebook then runs the notebook once more
# with a fresh kernel (finished cycles are read from the results store). Smoke cells take seconds;
# the default preset's longest cell (notebook 08's protocol run) about 2 minutes on the 2-core
# machine; the paper preset has no limit (a cell there trains for hours).
# A different stall is fixed, not retried: a reply that had arrived but whose wake-up the client
# missed was found only when the timeout fired, so the cell took exactly the timeout and then
# completed (notebook 01's widget cell, 300.0 s, in two clean-clone CI runs of 2026-12-06); the
# kernel clients now wait in short slices (alkit.experiments.kernel_client).
SMOKE_CELL_TIMEOUT_S = 300
DEFAULT_CELL_TIMEOUT_S = 1800
CELL_TIMEOUTS = {"smoke": SMOKE_CELL_TIMEOUT_S, "default": DEFAULT_CELL_TIMEOUT_S, "paper": None}


@contextlib.contextmanager
def _ipc_kernels():
    """A kernel manager class whose kernels talk over Unix sockets in a private temp folder, not TCP:
    nothing listens on the network, and ipykernel does not warn "Kernel is running over TCP without
    encryption" once per notebook. The folder is removed afterwards. Its clients wait for messages in
    short slices (:mod:`alkit.experiments.kernel_client`)."""
    import shutil
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    from alkit.experiments.kernel_client import SlicedPollClient

    folder = tempfile.mkdtemp(prefix="alkit-kernel-")

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = os.path.join(folder, "k")
            self.client_factory = SlicedPollClient  # waits that cannot miss an arrived reply
            with _LIVE_LOCK:
                _LIVE_KERNELS.add(self)

    try:
        yield IPCKernelManager
    finally:
        with _LIVE_LOCK:
            _LIVE_KERNELS.difference_update([k for k in _LIVE_KERNELS if isinstance(k, IPCKernelManager)])
        shutil.rmtree(folder, ignore_errors=True)


def _kill_live_kernels() -> None:
    """Kill the kernel process of every notebook still running (they run in a session of their
    own, so a Ctrl-C at the terminal does not reach them); their papermill calls then fail and keep
    the partial copies as ``*.failed.ipynb``."""
    import signal

    with _LIVE_LOCK:
        live = list(_LIVE_KERNELS)
    for km in live:
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


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
    commit = source_commit()  # the code this run executes, recorded in the copy's metadata
    # the kernel inherits the preset: alkit.analysis.claims prints no verdict from the smoke preset
    try:
        for attempt in (1, 2):
            try:
                with _env("ALKIT_PRESET", preset), _ipc_kernels() as manager:
                    # the kernel starts in the notebook's folder (nbclient's resources path); papermill's
                    # own cwd= would chdir this whole process, which races between notebooks run side by
                    # side in threads (nteract/papermill#473)
                    pm.execute_notebook(str(nb), str(tmp), parameters=params, resources={"metadata": {"path": str(nb.parent)}},
                                        kernel_name="python3", progress_bar=progress, report_mode=False,
                                        kernel_manager_class=manager, execution_timeout=CELL_TIMEOUTS.get(preset))
                break
            except TimeoutError:  # nbclient's CellTimeoutError: a cell gave no reply (see CELL_TIMEOUTS)
                if attempt == 2:
                    raise
                print(f"[alkit] {nb.name}: a cell gave no reply in {CELL_TIMEOUTS.get(preset)} s (a lost kernel "
                      f"message); running the notebook once more with a fresh kernel", flush=True)
    except BaseException:
        if tmp.exists():
            os.replace(tmp, failed)
        raise
    _record_provenance(tmp, preset, commit)
    commit_temp(tmp, out)
    failed.unlink(missing_ok=True)  # an earlier failure of this notebook is now out of date
    return out


def _record_provenance(path: Path, preset: str, commit: str) -> None:
    """Write ``{"preset", "commit"}`` into the executed notebook's ``metadata["alkit"]``."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["alkit"] = {"preset": preset, "commit": commit}
    nbformat.write(nb, str(path))


class MissingData(FileNotFoundError):
    """Datasets the run needs are missing; ``missing`` holds one
    :class:`~alkit.experiments.datacheck.Missing` per dataset, the message one line each."""

    def __init__(self, missing):
        self.missing = list(missing)
        super().__init__("\n".join(m.line() for m in self.missing))


def notebook_plans(notebooks: list[str] | None, preset: str) -> list:
    """:class:`~alkit.experiments.notebook_runs.NotebookRuns` of each chosen notebook (default: all)."""
    from alkit.experiments.notebook_runs import notebook_runs

    chosen = [resolve_notebook(n) for n in notebooks] if notebooks else list_notebooks()
    return [notebook_runs(nb, preset) for nb in chosen]


def check_data(plans: list) -> tuple[list, list]:
    """(missing, skipped) over the notebooks' ``plans``: ``missing`` the datasets without which a
    notebook cannot run (:class:`~alkit.experiments.datacheck.Missing`, each once); ``skipped``
    lines about optional ones (notebook 08 at ``paper`` runs the CIFARs that are present)."""
    from alkit.experiments.datacheck import missing_datasets

    missing, skipped, seen = [], [], set()
    for p in plans:
        found = missing_datasets(p.datasets, p.data_root)
        optional = missing_datasets(p.any_of, p.data_root)
        if p.any_of and len(optional) == len(p.any_of):
            found += optional  # none of them: the notebook has nothing to run
        elif optional:
            skipped += [f"{p.stem} skips {m.dataset} (not found: {m.expected}); it runs the others" for m in optional]
        for m in found:
            if (m.dataset, str(m.expected)) not in seen:
                seen.add((m.dataset, str(m.expected)))
                missing.append(m)
    return missing, skipped


def plan(notebooks: list[str] | None = None, preset: str = "default", fetch_command: str = "", device=None):
    """The priced plan of running ``notebooks`` at ``preset`` (:func:`alkit.experiments.cost_plan.build_plan`)."""
    from alkit.experiments.cost_plan import build_plan

    plans = notebook_plans(notebooks, preset)
    missing, skipped = check_data(plans)
    groups = [(p.stem.split("_")[0], p.runs, p.notes) for p in plans]
    names = ", ".join(p.stem.split("_")[0] for p in plans)
    return build_plan(f"reproduce --preset {preset} ({names})", groups, missing=missing, skipped=skipped,
                      fetch_command=fetch_command, device=device)


def reproduce(notebooks: list[str] | None = None, preset: str = "default", output_dir=None,
              download: bool = False) -> list[Path]:
    """Run the given notebooks (default: all) in order and print one line per notebook.

    First every dataset they read is checked: :class:`MissingData` (one line per dataset) before any
    notebook starts, unless ``download`` fetches them (:func:`alkit.experiments.datacheck.fetch`)."""
    chosen = [resolve_notebook(n) for n in notebooks] if notebooks else list_notebooks()
    for nb in chosen:
        preset_parameters(nb, preset)  # fail early on a missing preset file
    plans = notebook_plans([str(nb) for nb in chosen], preset)
    missing, skipped = check_data(plans)
    if missing and download:
        from alkit.experiments.datacheck import fetch

        for p in plans:  # each notebook's data root; what one fetched, the next finds present
            fetch(check_data([p])[0], p.data_root)
        missing, skipped = check_data(plans)
    if missing:
        raise MissingData(missing)
    for line in skipped:
        print(f"[alkit] {line}", flush=True)
    t_all = time.perf_counter()
    with _outputs_for_kernels():
        return _run_all(chosen, plans, preset, output_dir, t_all)


def notebook_order(chosen, plans) -> list[int]:
    """Indices into ``chosen`` in the order they start: the notebooks that still compute runs
    themselves (a strategy or network defined in a cell, which the prefetch leaves to them) first,
    the most such runs first, the others in their numbered order."""
    from alkit.experiments.prefetch import left_to_notebook

    left = [left_to_notebook(p) for p in plans]
    return sorted(range(len(chosen)), key=lambda i: -left[i])


def run_notebooks(chosen, plans, preset, output_dir, slots: int | None = None) -> list[Path]:
    """Execute the notebooks ``chosen`` (their :func:`notebook_plans` ``plans``), up to ``slots``
    (default :data:`NOTEBOOK_SLOTS`, at most one per core) side by side, in :func:`notebook_order`;
    one line as each starts and ends. Returns the executed copies in the order of ``chosen``. A
    failing notebook stops the others (its error is raised); Ctrl-C kills the running kernels."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    slots = max(1, min(slots or NOTEBOOK_SLOTS, os.cpu_count() or 1, len(chosen)))

    def one(nb):
        t0 = time.perf_counter()
        print(f"[alkit] running {nb.name} (preset {preset}) ...", flush=True)
        out = run_notebook(nb, preset, output_dir, progress=slots == 1)
        print(f"[alkit] {nb.name} done in {time.perf_counter() - t0:.0f} s -> {out}", flush=True)
        return out

    order = notebook_order(chosen, plans)
    # set once for every thread: run_notebook's own set-and-restore of the same value is then a no-op.
    # Side by side, a kernel that trains in its own process (notebook 00's first network) must not
    # start one torch thread per core beside another notebook's workers: measured, notebook 00's
    # 3-s training took 141 s next to notebook 08's two workers. Workers set their own thread count.
    threads = os.environ.get("OMP_NUM_THREADS") or ("1" if slots > 1 else None)
    with _env("ALKIT_PRESET", preset), _env("OMP_NUM_THREADS", threads), ThreadPoolExecutor(max_workers=slots) as pool:
        futures = {i: pool.submit(one, chosen[i]) for i in order}
        try:
            done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
            for f in done:
                if f.exception() is not None:
                    for g in futures.values():
                        g.cancel()
                    _kill_live_kernels()
                    raise f.exception()
        except KeyboardInterrupt:
            for g in futures.values():
                g.cancel()
            _kill_live_kernels()
            raise
        return [futures[i].result() for i in range(len(chosen))]


@contextlib.contextmanager
def _env(name: str, value: str | None):
    """``$name`` set to ``value`` for the block (kernels started in it inherit it), then restored;
    ``None`` leaves it as it is."""
    if value is None:
        yield
        return
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _outputs_for_kernels():
    """The notebooks' kernels (started in the notebooks' folder) write to the outputs folder this
    process resolved (``$ALKIT_OUTPUTS`` set for them): the store :func:`prefetch` filled is the
    one they read, also for an installed package, whose default outputs folder is the working
    directory's."""
    return _env("ALKIT_OUTPUTS", str(outputs_dir().resolve()))


@contextlib.contextmanager
def _shared_fit_cache():
    """One fit-cache folder (:mod:`alkit.tasks.fit_cache`) for the prefetch and every notebook's own
    runs (``$ALKIT_FIT_CACHE``, read by :func:`alkit.experiments.config.shared_fits`): runs with the
    same training settings train each shared network once, across runs and notebooks. Removed at
    the end."""
    import shutil
    import tempfile

    from alkit.experiments.config import FIT_CACHE_ENV
    from alkit.paths import runs_dir

    root = runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=".fits-reproduce-", dir=root)
    try:
        with _env(FIT_CACHE_ENV, folder):
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_all(chosen, plans, preset, output_dir, t_all) -> list[Path]:
    from alkit.experiments.prefetch import prefetch

    print(f"[alkit] computing the stored runs of {len(chosen)} notebook(s) on one pool of workers, longest "
          f"first (the notebooks then read them from {outputs_dir() / 'runs'}) ...", flush=True)
    with _shared_fit_cache():
        n = prefetch(plans)
        print(f"[alkit] {n} (strategy, trial) unit(s) computed in {time.perf_counter() - t_all:.0f} s", flush=True)
        outs = run_notebooks(chosen, plans, preset, output_dir)
    print(f"[alkit] {len(outs)} notebook(s) in {time.perf_counter() - t_all:.0f} s; figures in {outputs_dir() / 'figures'}")
    # the verdict board: every claim of every notebook run so far (alkit.analysis.board)
    from alkit.analysis.board import readme_comparison, write_board

    md, line = write_board()
    print(f"[alkit] {line} -> {md}", flush=True)
    # the same claims in the README's measured run: which verdicts this draw repeats (alkit.analysis.board_compare)
    against = readme_comparison()
    if against is not None:
        print(f"[alkit] {against[1]} -> {against[0]}", flush=True)
    return outs
