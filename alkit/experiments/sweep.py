"""``alkit sweep``: a grid of experiments fanned out over a Dask cluster (local, remote or SLURM).

A grid file (YAML) has two sections::

    fixed:            # Experiment settings shared by every experiment of the grid
      dataset: digits
      initial: 20
      step: 20
      cycles: 2
      trials: 2
    axes:             # lists; the grid's experiments are the product of the axes
      augment: [none, paper]
      strategies: [random, entropy]   # each entry a strategy or a list of strategies

Keys are :class:`~alkit.experiments.config.Experiment` settings (``workers`` and ``download`` are
not: the sweep sets the first, the data must be present before it starts). Every setting is checked
(:func:`load_grid`) before anything runs; a bad one is one :class:`~alkit.checks.UsageError` line
naming the key.

The sweep is ``run``'s plan / execute / collect with another executor: every experiment is planned
by :func:`alkit.experiments.config.plan` (the same units, store keys and budget checks as
``alkit.run``), the units are executed on Dask, and the records are collected by
:func:`alkit.experiments.config.collect`. This process loads the data and builds each
experiment's task (on the CPU) once; the task goes to the workers as plain-pickle bytes, with the
user strategies it carries, and each unit runs :func:`alkit.experiments.runner.run_unit` on it
(:func:`run_cell`; the trials of a strategy in bundles of 2-3, in lockstep, where the task trains
them as one stack: :func:`alkit.experiments.runner.run_bundle`, the same records), writing every
finished cycle to the per-cycle results store. Every worker thus
trains on the very data this process fingerprinted for the store key. A worker on a GPU
builds the task again from that data on its device. Units whose cycles are all stored already are
loaded here and never submitted (a finished sweep starts no cluster at all).

Faults: a worker that dies (SIGKILL, a lost node) has its unit rescheduled by Dask (up to the
scheduler's ``distributed.scheduler.allowed-failures``, 3 by default); the unit resumes from its
last stored cycle, so nothing finished is recomputed. A unit that raises is reported in one line
with its settings and the rest of the grid goes on (:attr:`SweepResult.failures`).

The records are then loaded from the store (:func:`alkit.protocol.loop.load_stored`, the loop's
own validated loading) and collected as ``run`` collects them, so ``results.csv`` equals running
the experiments one by one (:func:`results_frame` adds each experiment's settings as columns).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import pickle
import shlex
import signal
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
import yaml
from tqdm.auto import tqdm

from alkit import checks as C
from alkit.engine.data import load_dataset
from alkit.engine.train.common import pick_device, torch_threads
from alkit.experiments.config import RUNTIME, Experiment, collect, plan, run
from alkit.experiments.runner import available_cores, bundles, finished, run_bundle
from alkit.experiments.settings import SETTINGS, SettingError, validate
from alkit.experiments.store import RunStore
from alkit.paths import data_root as resolve_data_root, runs_dir
from alkit.protocol.loop import load_stored

# Settings a grid may not hold, and why (the others: alkit.experiments.settings.SETTINGS).
NOT_IN_GRID = {
    "workers": "the sweep's workers are set by --workers",
    "download": "download the data before the sweep (alkit run --download), not from every worker",
}
POLL_S = 0.5
# Where a cluster started by the sweep serves its dashboard unless --dashboard says otherwise: a
# free port on loopback (Dask's own default, ":8787", listens on every interface).
LOOPBACK_DASHBOARD = "127.0.0.1:0"


# -- the grid ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One experiment of the grid: its checked settings and a label naming it in messages."""

    index: int
    settings: dict
    label: str

    def experiment(self, **runtime):
        """The :class:`~alkit.experiments.config.Experiment` of this cell (``runtime``: data_root,
        device, workers, ...)."""
        return Experiment(**self.settings, **runtime)


def _setting_names() -> list[str]:
    return list(SETTINGS)


def _check_value(label: str, key: str, value, kind: str | None = None, settings: dict | None = None):
    """One setting's value checked and normalised by :func:`alkit.experiments.settings.validate`
    (``UsageError`` labelled ``label``, the same text as the command line's and Python's)."""
    try:
        return validate(key, value, kind, settings)
    except SettingError as e:
        raise C.UsageError(e.at(label)) from None


def _first_check(label: str, key: str, value):
    """A value normalised before its experiment's kind of task is known; a value that is bad for
    both kinds is left for the check of each experiment (:func:`parse_grid`), whose message names
    the kind's choices, as ``alkit run`` and ``Experiment`` do."""
    try:
        return validate(key, value)
    except SettingError:
        if not isinstance(value, (str, int, float, bool, list, tuple, dict, type(None))):
            raise C.UsageError(f"{label} must be a plain YAML value, got {value!r}") from None
        return value


def _check_key(label: str, key: str, names: list[str]) -> None:
    if key in NOT_IN_GRID:
        raise C.UsageError(f"{label}: {key} cannot be a grid setting ({NOT_IN_GRID[key]})")
    if key not in names:
        allowed = [n for n in names if n not in NOT_IN_GRID]
        raise C.UsageError(f"{label}: unknown setting {key!r}{C.did_you_mean(key, allowed)}; "
                           f"choose from {', '.join(allowed)}")


def parse_grid(grid, source: str = "grid") -> list[Cell]:
    """The cells of a parsed grid (``{"fixed": {...}, "axes": {...}}``), every setting checked.

    Raises :class:`~alkit.checks.UsageError` (one line naming the key, e.g. ``grid axes.augment[1]:
    unknown augmentation 'nnone' (did you mean 'none'?)``) before anything is loaded or run."""
    if grid is None:
        raise C.UsageError(f"{source} is empty; it needs 'fixed:' and/or 'axes:' sections")
    if not isinstance(grid, dict):
        raise C.UsageError(f"{source} must be a mapping with 'fixed:' and 'axes:' sections")
    for section in grid:
        if section not in ("fixed", "axes"):
            raise C.UsageError(f"{source}: unknown section {section!r}{C.did_you_mean(str(section), ['fixed', 'axes'])}; "
                               "a grid has 'fixed:' and 'axes:'")
    fixed, axes = grid.get("fixed") or {}, grid.get("axes") or {}
    for section, part in (("fixed", fixed), ("axes", axes)):
        if not isinstance(part, dict):
            raise C.UsageError(f"{source} {section}: must be a mapping of settings, got {part!r}")
    names = _setting_names()
    values, where = {}, {}
    for key, value in fixed.items():
        label = f"{source} fixed.{key}"
        _check_key(label, key, names)
        values[key], where[key] = _first_check(label, key, value), label
    axis_values = {}
    for key, value in axes.items():
        label = f"{source} axes.{key}"
        _check_key(label, key, names)
        if key in fixed:
            raise C.UsageError(f"{label}: {key} is both fixed and an axis; keep one")
        if not isinstance(value, list) or not value:
            raise C.UsageError(f"{label} must be a non-empty list of values, got {value!r}")
        checked = []
        for i, v in enumerate(value):
            c = _first_check(f"{label}[{i}]", key, v)
            if c in checked:
                raise C.UsageError(f"{label}: value {v!r} is listed twice")
            checked.append(c)
        axis_values[key], where[key] = checked, label

    cells = []
    keys = list(axis_values)
    for combo in itertools.product(*(list(enumerate(axis_values[k])) for k in keys)):
        s = dict(values, **{k: v for k, (_, v) in zip(keys, combo)})
        at = dict(where, **{k: f"{where[k]}[{i}]" for k, (i, _) in zip(keys, combo)})
        shown = {"dataset": s.get("dataset", "digits"), **{k: s[k] for k in keys if k != "dataset"}}
        if isinstance(shown.get("strategies"), tuple):
            shown["strategies"] = ",".join(shown["strategies"])
        label = " ".join(f"{k}={'none' if v is None else v}" for k, v in shown.items())
        if "dataset" in s:  # first: the kind of task follows from it
            s["dataset"] = _check_value(at["dataset"], "dataset", s["dataset"])
        kind = Cell(len(cells), s, label).experiment().kind
        for k in s:
            if kind not in SETTINGS[k].kinds:
                raise C.UsageError(f"{where[k]}: {k} does not apply to {kind} datasets ({label})")
        context = {"dataset": s.get("dataset", "digits")}
        for k in s:  # the choices of this cell's kind of task (models, ssl methods, strategies, regimes)
            s[k] = _check_value(at[k], k, s[k], kind, context)
        if s.get("regime", "custom") != "custom":
            for k in ("initial", "step"):
                if k in s:
                    raise C.UsageError(f"{at[k]}: {k} cannot be combined with regime {s['regime']} "
                                       f"(the regime sets the budgets) ({label})")
        try:
            Cell(len(cells), s, label).experiment().resolved()
        except SettingError as e:
            raise C.UsageError(e.at(at.get(e.key, f"{source} {e.key}"))) from None
        except (ValueError, KeyError, TypeError) as e:
            raise C.UsageError(f"{source} ({label}): {_one_line(e)}") from None
        cells.append(Cell(len(cells), s, label))
    return cells


def load_grid(path) -> list[Cell]:
    """The cells of the grid file ``path`` (YAML), checked (see :func:`parse_grid`)."""
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise C.UsageError(f"--grid: file not found: {path}" if not p.exists() else f"--grid: not a file: {path}")
    try:
        grid = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise C.UsageError(f"--grid: cannot read {path}: {_one_line(e)}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise C.UsageError(f"--grid: {path} is not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    return parse_grid(grid, source=f"grid {p.name}")


# -- SLURM options --------------------------------------------------------------------------------------

SLURM_KEYS = {
    "queue": "partition (#SBATCH -p)",
    "account": "account to charge (#SBATCH -A)",
    "cores": "CPU cores per job",
    "memory": "memory per job, e.g. 32GB",
    "processes": "Dask worker processes per job (default 1)",
    "walltime": "time limit per job, e.g. 04:00:00",
    "gpus": "GPUs per job (#SBATCH --gres=gpu:N)",
    "extra": "any other #SBATCH directive, e.g. extra=--constraint=a100 (may be repeated)",
    "prologue": "a shell line run before the worker starts, e.g. prologue='module load cuda' (may be repeated)",
    "interface": "network interface of the workers, e.g. ib0",
    "local_directory": "worker scratch folder on the node, e.g. /tmp",
    "python": "the Python that runs the workers (default: this one)",
}


def slurm_options(text: str) -> dict:
    """``dask_jobqueue.SLURMCluster`` keyword arguments from ``--slurm "key=value ..."``
    (:data:`SLURM_KEYS`); ``UsageError`` naming a bad key or value."""
    try:
        parts = shlex.split(text or "")
    except ValueError as e:
        raise C.UsageError(f"--slurm: {e}") from None
    kw: dict = {"job_extra_directives": [], "job_script_prologue": []}
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or not value:
            raise C.UsageError(f"--slurm: expected key=value, got {part!r}; keys: {', '.join(SLURM_KEYS)}")
        if key not in SLURM_KEYS:
            raise C.UsageError(f"--slurm: unknown option {key!r}{C.did_you_mean(key, SLURM_KEYS)}; "
                               f"choose from {', '.join(SLURM_KEYS)}")
        if key in ("cores", "processes", "gpus"):
            n = C.integer(f"--slurm {key}", value, minimum=1)
            if key == "gpus":
                kw["job_extra_directives"].append(f"--gres=gpu:{n}")
            else:
                kw[key] = n
        elif key == "memory":
            from dask.utils import parse_bytes

            try:
                parse_bytes(value)
            except (ValueError, TypeError):
                raise C.UsageError(f"--slurm memory: {value!r} is not an amount of memory (e.g. 32GB)") from None
            kw[key] = value
        elif key == "extra":
            kw["job_extra_directives"].append(value)
        elif key == "prologue":
            kw["job_script_prologue"].append(value)
        else:
            kw[key] = value
    import dask

    for key in ("cores", "memory"):
        if key not in kw and dask.config.get(f"jobqueue.slurm.{key}", None) is None:
            raise C.UsageError(f"--slurm: give {key}=... (per job), e.g. --slurm \"cores=8 memory=32GB\"")
    for key in ("job_extra_directives", "job_script_prologue"):
        if not kw[key]:
            kw.pop(key)
    kw.setdefault("python", sys.executable)
    return kw


# -- running ----------------------------------------------------------------------------------------------


def stored_records(unit, pool_size: int) -> list[dict]:
    """The records of ``unit``'s consecutive stored cycles (validated like any cached cycle, by the
    loop's own :func:`alkit.protocol.loop.load_stored`)."""
    store = RunStore(unit.store_root, unit.store_config)
    records = load_stored(store, unit.trial, unit.cycles, pool_size=pool_size, metric=unit.metric)[0]
    return [dict(r, **(unit.meta or {})) for r in records]  # labelled as this cell (a run may be shared)


def _unit_id(unit) -> tuple:
    return json.dumps(unit.store_config, sort_keys=True, default=str), unit.trial, unit.cycles


def task_payload(task_bytes: bytes) -> bytes:
    """A Dask task holding an experiment's pickled task: the units depend on it, so the bytes cross
    the network once per worker, and the scheduler can recompute it when the worker holding it dies."""
    return task_bytes


def run_cell(task_bytes: bytes, settings: dict, unit, threads: int | None = None) -> int:
    """(On a worker) one (strategy, trial) unit, or a list of them (a bundle of one strategy's trials,
    :func:`alkit.experiments.runner.bundles`, run in lockstep by :func:`~alkit.experiments.runner.run_bundle`),
    as :func:`alkit.experiments.runner.run_pickled_unit`:
    the task arrives as plain-pickle bytes (with the user strategies it carries), built on the CPU by
    the process that planned the sweep. A worker that trains on a GPU (``settings["device"]``, else
    auto) builds the task again from the same data on its device. Torch runs the task's
    ``preferred_threads`` (else ``threads``, else the worker's share of the cores): Dask starts the
    workers, not alkit, so the thread count is set here. The cycles go to the store; returns how
    many the unit has."""
    task = pickle.loads(task_bytes)
    device = pick_device(settings.get("device"))
    if device.type != task.device.type:
        task = Experiment(**settings).build_task(data=task.data)
    if threads is None:
        try:
            from distributed import get_worker

            threads = max(1, available_cores() // max(1, get_worker().state.nthreads))
        except (ImportError, ValueError):
            threads = available_cores()
    hint = getattr(task, "preferred_threads", None)
    units = list(unit) if isinstance(unit, (list, tuple)) else [unit]
    with torch_threads(max(1, min(hint, threads)) if hint else threads):
        return sum(len(r) for r in run_bundle(task, units))


@dataclass
class SweepResult:
    """What :func:`sweep` gives back: the results frame, one line per failure, and counts."""

    frame: pd.DataFrame
    failures: list = field(default_factory=list)
    computed: int = 0  # units submitted to the cluster
    stored: int = 0  # units that were finished before the sweep started
    auto: int = 0  # experiments with trials: auto (run round by round through alkit.run)
    dashboard: str | None = None


def results_frame(exp, df: pd.DataFrame, task=None) -> pd.DataFrame:
    """The rows of one experiment as ``results.csv`` holds them: ``run``'s columns (``selected``
    as space-separated pool indices, no ``preview``), then every resolved setting of ``exp`` that
    is not a column yet and that its runs read (runtime settings, the strategy list and the
    training settings of the other kind of training left out; ``model``: the task's when the
    recipe leaves it to the dataset)."""
    df = df.drop(columns=[c for c in ("preview",) if c in df]).copy()
    if "selected" in df:
        df["selected"] = df["selected"].map(lambda s: " ".join(map(str, s)))
    settings = exp.resolved()
    skip = set(RUNTIME) | {"strategies"}
    if exp.kind == "classification":
        skip |= {"epochs", "min_steps"} if settings.get("ssl") else {"iterations", "unlabelled_batch"}
    if settings.get("model") is None and task is not None:
        settings["model"] = getattr(task, "model_name", None)
    for k, v in settings.items():
        if k in skip or k in df:
            continue
        df[k] = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list, tuple)) else v
    return df


def _one_line(e: BaseException) -> str:
    msg = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
    return " ".join(str(msg).split()) or type(e).__name__


def _default_local_workers(cells) -> int:
    gpu = torch.cuda.is_available() and any(c.settings.get("device") != "cpu" for c in cells)
    return 1 if gpu else available_cores()


@contextlib.contextmanager
def _cluster(cells, n_pending: int, scheduler=None, slurm=None, workers=None, dashboard=None):
    """``(client, threads per unit or None)`` for the chosen cluster; closes what it started.

    A cluster started here listens on loopback only unless asked: the local cluster's scheduler,
    workers and dashboard on 127.0.0.1, the dashboard at ``dashboard`` (``HOST:PORT``) when given,
    else on a free loopback port (:data:`LOOPBACK_DASHBOARD`). A SLURM scheduler must be reachable
    by its nodes, but its dashboard stays on loopback too unless ``dashboard`` says otherwise."""
    from distributed import Client  # Dask is optional (alkit sweep checks it is installed): imported where used

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as e:
            raise ValueError(f"--scheduler: cannot reach the Dask scheduler at {scheduler} ({_one_line(e)})") from None
        with client:
            yield client, None
        return
    if slurm is not None:
        from dask_jobqueue import SLURMCluster

        slurm = dict(slurm, scheduler_options={**slurm.get("scheduler_options", {}),
                                               "dashboard_address": dashboard or LOOPBACK_DASHBOARD})
        with SLURMCluster(**slurm) as cluster, Client(cluster) as client:
            cluster.scale(jobs=workers or 1)
            yield client, None
        return
    from distributed import LocalCluster

    n = max(1, min(workers or _default_local_workers(cells), n_pending))
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, silence_logs=logging.ERROR,
                      host="127.0.0.1", dashboard_address=dashboard or LOOPBACK_DASHBOARD,
                      preload=[__name__]) as cluster, Client(cluster) as client:
        yield client, max(1, available_cores() // n)


def dask_setup(worker) -> None:
    """Dask preload of the local cluster's workers: Ctrl-C in a terminal reaches every process of
    the group; the workers ignore it and this process stops them (one line, no traceback each)."""
    with contextlib.suppress(ValueError):  # not the main thread: nothing to change
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def sweep(cells, *, store_root=None, client=None, scheduler=None, slurm=None, workers=None, progress: bool = True,
          log=None, dashboard: str | None = None) -> SweepResult:
    """Run (or load) every experiment of the grid ``cells`` on Dask; one frame of all records.

    ``client``: an existing ``distributed.Client`` (used as is, not closed); else ``scheduler``
    (an address), ``slurm`` (:func:`slurm_options`) or a ``LocalCluster`` of ``workers`` processes
    (default: one per core; one on a GPU). ``store_root``: the results store, which every worker
    must see at the same path (default: ``alkit.paths.runs_dir()``). ``dashboard``: ``HOST:PORT`` of
    the dashboard of a cluster started here (default: a free port on 127.0.0.1, see
    :func:`_cluster`). ``log(line)`` prints the
    dashboard address and failures (default: stderr). Problems found while planning (a budget
    larger than the pool, missing data) raise ``ValueError`` naming the experiment, before
    anything is submitted.
    """
    log = log or (lambda line: tqdm.write(line, file=sys.stderr))  # above the bar, never inside it
    root = Path(store_root if store_root is not None else runs_dir()).expanduser().resolve()
    # -- plan: every experiment's task (here on the CPU) and its units, as run() plans them
    auto = [c for c in cells if c.settings.get("trials") == "auto"]  # trials added as the claims need
    plans, data_cache = [], {}
    for cell in [c for c in cells if c not in auto]:
        data_root = str(resolve_data_root(cell.settings.get("data_root")).resolve())
        exp = cell.experiment(data_root=data_root, device="cpu")
        try:
            options = exp.resolved().get("data_options", {})
            key = (exp.dataset, data_root, json.dumps(options, sort_keys=True, default=str))
            if key not in data_cache:
                data_cache[key] = load_dataset(exp.dataset, data_root, False, **options)
            p = plan(exp, task=exp.build_task(data=data_cache[key]), store_root=root)
            pickle.dumps(p.task)  # it must travel to the workers
        except (ValueError, FileNotFoundError, NotADirectoryError, KeyError, pickle.PicklingError) as e:
            raise ValueError(f"grid experiment {cell.label}: {_one_line(e)}") from None
        plans.append((cell, p, dict(cell.settings, data_root=data_root)))
    all_units = {_unit_id(u): u.cycles + 1 for _, p, _ in plans for u in p.units}

    pending: dict = {}  # unit id -> (unit, cell, plan index): the units whose cycles are not all stored
    for i, (cell, p, _) in enumerate(plans):
        pool_size = len(p.task.pool_costs())
        for u in p.units:  # cheap test first; stored cycles are validated (a damaged one is run again)
            if not finished(u) or len(stored_records(u, pool_size)) < u.cycles + 1:
                pending.setdefault(_unit_id(u), (u, cell, i))
    result = SweepResult(frame=pd.DataFrame(), computed=len(pending), stored=len(all_units) - len(pending))
    failed: dict = {}

    if pending:
        total = sum(all_units.values())
        with contextlib.ExitStack() as stack:
            if client is None:
                client, threads = stack.enter_context(_cluster(cells, len(pending), scheduler, slurm, workers,
                                                                  dashboard))
            else:
                threads = None
            result.dashboard = client.dashboard_link
            log(f"alkit: sweep: {len(pending)} of {len(all_units)} units to run; Dask dashboard: {client.dashboard_link}")
            token = uuid.uuid4().hex[:8]
            payloads, futures = {}, {}
            uids = list(pending)
            # the trials of one strategy of one experiment go out as bundles (lockstep, one stacked
            # training per cycle where the task can: the same records), split as far as the units
            # allow (bundles of 2-3), since a cluster has workers to spare
            tasks = [plans[pending[uid][2]][1].task for uid in uids]
            for group in bundles(tasks, [pending[uid][0] for uid in uids], workers=len(uids)):
                u, cell, i = pending[uids[group[0]]]
                _, p, worker_settings = plans[i]
                task = p.task
                if i not in payloads:
                    with warnings.catch_warnings():  # "large object in task graph": held once, on purpose
                        warnings.simplefilter("ignore", UserWarning)
                        payloads[i] = client.submit(task_payload, pickle.dumps(task), pure=False, priority=10,
                                                    key=f"alkit-task-e{i}-{token}")
                cost = getattr(task, "unit_cost", lambda s: 1)(u.strategy) * len(group)
                units = [pending[uids[g]][0] for g in group]
                trials = "-".join(str(x.trial) for x in units)
                f = client.submit(run_cell, payloads[i], worker_settings, units if len(units) > 1 else u, threads,
                                  pure=False, priority=cost, key=f"alkit-unit-{u.strategy}-t{trials}-e{i}-{token}")
                futures[f] = [uids[g] for g in group]
            stores = {uid: RunStore(str(u.store_root), u.store_config) for uid, (u, _, _) in pending.items()}
            seen = dict.fromkeys(pending, 0)
            bar = stack.enter_context(tqdm(total=total, desc="alkit sweep", unit="cycle", disable=not progress,
                                           smoothing=0))
            bar.update(total - sum(all_units[uid] for uid in pending))
            reported_cells = set()

            def poll():
                for uid, store in stores.items():
                    u, c = pending[uid][0], seen[uid]
                    while c <= u.cycles and store.has_cycle(u.trial, c):
                        c += 1
                    bar.update(c - seen[uid])
                    seen[uid] = c

            waiting = set(futures)
            while waiting:
                for f in [f for f in waiting if f.done()]:
                    waiting.discard(f)
                    group = futures[f]
                    u, cell, i = pending[group[0]]
                    if f.status == "finished":
                        continue
                    exc = f.exception() if f.status == "error" else None
                    for uid in group:
                        failed[uid] = pending[uid][0]
                    payload = payloads[i]
                    if payload.status == "error":
                        if i not in reported_cells:
                            reported_cells.add(i)
                            e = payload.exception()
                            line = (f"alkit: sweep: experiment {cell.label} failed: its task did not reach a "
                                    f"worker: {type(e).__name__}: {_one_line(e)}")
                            result.failures.append(line)
                            log(line)
                        continue
                    why = f"{type(exc).__name__}: {_one_line(exc)}" if exc is not None else f"Dask future {f.status}"
                    trials = ",".join(str(pending[uid][0].trial) for uid in group)
                    line = f"alkit: sweep: unit failed ({cell.label} strategy={u.strategy} trial={trials}): {why}"
                    result.failures.append(line)
                    log(line)
                poll()
                bar.set_postfix_str(f"{len(futures) - len(waiting)}/{len(futures)} units"
                                    + (f", {len(failed)} failed" if failed else ""))
                if waiting:
                    time.sleep(POLL_S)
            del payloads, futures, waiting

    # -- collect: every unit's stored cycles, into run()'s frame (a failed unit: what it stored)
    frames = []
    for _, p, _ in plans:
        pool_size = len(p.task.pool_costs())
        per_unit = [stored_records(u, pool_size) for u in p.units]
        if not any(per_unit):
            continue  # nothing of this experiment got stored (all its units failed at once)
        df = collect(p, per_unit, with_selected=True)
        frames.append(results_frame(p.exp, df, p.task))
    if auto:
        result.auto = len(auto)
        frames += _run_auto_cells(auto, root, client, scheduler, slurm, workers, dashboard, progress, log)
    result.frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return result


def _run_auto_cells(cells, root, client, scheduler, slurm, workers, dashboard, progress, log) -> list:
    """The ``trials: auto`` experiments, one after another: ``alkit.run`` adds their trials at the
    planned looks (:func:`alkit.experiments.auto.run_auto`), each round's units on the cluster."""
    frames = []
    with contextlib.ExitStack() as stack:
        if client is None:
            client, _ = stack.enter_context(_cluster(cells, 10**6, scheduler, slurm, workers, dashboard))
        log(f"alkit: sweep: {len(cells)} experiments with trials: auto; Dask dashboard: {client.dashboard_link}")
        executor = client.get_executor()
        for cell in cells:
            data_root = str(resolve_data_root(cell.settings.get("data_root")).resolve())
            exp = cell.experiment(data_root=data_root, device="cpu")
            task = exp.build_task()
            df = run(exp, task=task, store_root=root, progress=progress, with_selected=True, executor=executor)
            frames.append(results_frame(exp, df, task))
    return frames


__all__ = ["Cell", "parse_grid", "load_grid", "slurm_options", "sweep", "SweepResult", "results_frame",
           "run_cell", "task_payload", "stored_records", "SLURM_KEYS", "NOT_IN_GRID"]
