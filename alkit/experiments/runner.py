"""Run the independent (strategy, trial) units of an experiment, in parallel worker processes.

A *unit* is one trial of one strategy: :func:`run_unit` is a pure function of its arguments (the
task, a :class:`Unit` describing the budgets, seed and store, and an optional progress queue); it
writes every finished cycle to the per-cycle results store (:class:`alkit.experiments.store.RunStore`) and
returns the cycle records. Nothing in a unit reads or writes module-level state, so any engine with
a ``concurrent.futures``-style ``submit(fn, *args) -> Future`` can run units: this module uses a
:class:`~concurrent.futures.ProcessPoolExecutor` (``spawn`` start method, one worker per core by
default) or, with one worker, runs them in the calling process. A distributed engine (e.g. a Dask
``Client``, whose ``submit`` returns futures with ``.result()``) can be passed as ``executor``.
Where a task trains several trials' networks as one stack (digits on the CPU), a worker gets the
trials of one strategy as a *bundle* (:func:`bundles`, :func:`run_bundle`) and runs them in lockstep;
the records are those of the units run one by one.

Threads: each worker process runs ``threads`` torch threads (the cores divided among the workers,
and never more than the task asks for: tiny 8x8 or 64x64 convolutions are fastest on one thread).
The in-process path sets the same thread count for the duration of the run and restores it after.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import multiprocessing as mp
import os
import pickle
import queue as queue_mod
import signal
from multiprocessing import resource_tracker
from multiprocessing.managers import SyncManager
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

# No heavy imports (torch, and alkit modules that import it) at module level: a spawned worker imports
# this module while it unpickles its start-up arguments, before its initializer has set SIGINT
# aside. They are imported inside the functions that need them.


@dataclass(frozen=True)
class Unit:
    """One (strategy, trial) of an experiment: everything :func:`run_unit` needs besides the task.

    ``store_config`` is the results-store key config of the strategy (``None``: no store);
    ``meta`` the fields copied into every record (dataset, augment, ...); ``metric`` the record
    field shown on the progress bar and validated when cached cycles are loaded."""

    strategy: str
    trial: int
    initial: float
    step: float
    cycles: int
    seed: int
    metric: str
    store_root: str | None = None
    store_config: dict | None = None
    meta: dict = field(default_factory=dict)


def available_cores() -> int:
    """CPU cores this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(task, n_units: int) -> int:
    """One worker per core on the CPU (``$ALKIT_WORKERS`` overrides), one when the task trains on
    a GPU (one device is shared, not multiplied); never more workers than units."""
    env = os.environ.get("ALKIT_WORKERS")
    if env:
        n = int(env)
    else:
        device = getattr(task, "device", None)
        n = 1 if getattr(device, "type", "cpu") != "cpu" else available_cores()
    return max(1, min(n, n_units))


def threads_per_worker(task, workers: int) -> int:
    """Torch threads for each worker: the cores shared out, capped by the task's
    ``preferred_threads`` (e.g. 1 for tiny images, where one thread is the fastest)."""
    share = max(1, available_cores() // max(1, workers))
    hint = getattr(task, "preferred_threads", None)
    return max(1, min(share, hint)) if hint else share


def run_unit(task, unit: Unit, ticks=None) -> list[dict]:
    """Run (or resume from the store) one trial of one strategy; returns its cycle records.

    ``ticks`` (optional, a queue) receives ``(strategy, trial, cycle, metric value)`` after every
    cycle, loaded or computed, for a progress bar in another process. The one-unit case of
    :func:`run_bundle`."""
    return run_bundle(task, [unit], ticks)[0]


def run_pickled_unit(task_bytes: bytes, unit: Unit, ticks=None, threads: int | None = None) -> list[dict]:
    """:func:`run_unit` on a task sent as plain ``pickle`` bytes.

    multiprocessing's own pickler would move every torch tensor of the task into shared memory
    *in place*, which silently corrupts numpy arrays that view the same memory in the parent
    (measured: a task's label array came out scrambled). Plain pickle copies the data instead.
    ``threads``: torch threads for a worker someone else started (e.g. a Dask worker); None in a
    worker alkit started (its initializer set them). The one-unit case of :func:`run_pickled_bundle`."""
    return run_pickled_bundle(task_bytes, [unit], ticks, threads)[0]


# The most units (trials of one strategy of one run) a worker runs in lockstep (see :func:`bundles`).
MAX_BUNDLE = 8


def bundles(tasks: list, units: list[Unit], workers: int = 1) -> list[list[int]]:
    """Indices of ``units`` (``tasks[i]`` the task of ``units[i]``) grouped into bundles that one
    worker runs in lockstep (:func:`run_bundle`): the trials of one strategy of one run (the same
    task object and the same unit fields but the trial), where the task trains them together
    (``task.batches_fits(strategy)``: e.g. the small digits CNN's plain trainings as one stacked
    network); every other unit is a bundle of its own. A group of more than :data:`MAX_BUNDLE`
    trials is split evenly, and so is a group when there are fewer bundles than ``workers`` (no
    part smaller than 2: a lone stacked training is the slow case). Bundles keep the order of their
    first unit. Bundling never changes a record (:func:`alkit.protocol.loop.run_trials`)."""
    import json
    import math

    groups: dict = {}
    for i, (task, u) in enumerate(zip(tasks, units)):
        joint = getattr(task, "batches_fits", None)
        if joint is not None and joint(u.strategy):
            key = (id(task), u.strategy, u.initial, u.step, u.cycles, u.seed, u.metric, u.store_root,
                   json.dumps(u.store_config, sort_keys=True, default=str),
                   json.dumps(u.meta, sort_keys=True, default=str))
        else:
            key = ("alone", i)
        groups.setdefault(key, []).append(i)
    spread = math.ceil(max(1, workers) / len(groups))
    out = []
    for idx in groups.values():
        parts = max(math.ceil(len(idx) / MAX_BUNDLE), min(spread, len(idx) // 2), 1)
        size, extra = divmod(len(idx), parts)
        first = 0
        for p in range(parts):
            stop = first + size + (p < extra)
            out.append(idx[first:stop])
            first = stop
    return sorted(out, key=lambda b: b[0])


def run_bundle(task, units: list[Unit], ticks=None) -> list[list[dict]]:
    """Run (or resume from the store) the trials ``units`` of one strategy in lockstep
    (:func:`alkit.protocol.loop.run_trials`; units from :func:`bundles`: the same fields but the
    trial) and return each one's records, in order. ``ticks`` (optional, a queue) receives
    ``(strategy, trial, cycle, metric value)`` after every cycle, loaded or computed, for a progress
    bar in another process."""
    from alkit.protocol.loop import run_trials
    from alkit.experiments.store import RunStore

    u = units[0]
    store = RunStore(u.store_root, u.store_config) if u.store_config is not None else None

    def on_cycle(rec):
        if ticks is not None:
            ticks.put((u.strategy, rec["trial"], rec["cycle"], float(rec[u.metric])))

    return run_trials(task, u.strategy, initial=u.initial, step=u.step, cycles=u.cycles,
                      trials=[x.trial for x in units], seed=u.seed, store=store, meta=u.meta, metric=u.metric,
                      on_cycle=on_cycle)


def run_pickled_bundle(task_bytes: bytes, units: list[Unit], ticks=None, threads: int | None = None) -> list[list[dict]]:
    """:func:`run_bundle` on a task sent as plain ``pickle`` bytes (see :func:`run_pickled_unit`)."""
    task = pickle.loads(task_bytes)
    if threads is None:  # a worker alkit started: its initializer set the threads
        return run_bundle(task, units, ticks)
    from alkit.engine.train.common import torch_threads

    with torch_threads(threads):  # a worker someone else started (e.g. a Dask worker)
        return run_bundle(task, units, ticks)


def _init_worker(threads: int) -> None:
    """Worker start-up (a fresh ``spawn`` process): its own torch thread count, and Ctrl-C left to
    the parent (a terminal sends SIGINT to the whole process group; the parent stops the workers).
    SIGINT arrives blocked (see :func:`_sigint_blocked`) and is unblocked once it is ignored."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    import torch

    torch.set_num_threads(threads)


def _die_with_parent() -> None:
    """Linux: ask the kernel to SIGTERM this process when its parent dies (a SIGKILLed run must not
    leave workers training on; what they had finished is in the store)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: workers end when their queue closes
        pass


@contextlib.contextmanager
def _sigint_blocked():
    """Block SIGINT while worker processes start: they inherit the mask, so a Ctrl-C during their
    start-up cannot print a traceback from each of them; the parent gets it when it unblocks.

    multiprocessing's resource tracker is started first: its start-up (Python 3.11,
    ``resource_tracker.ensure_running``) *unblocks* SIGINT in the calling thread when it is done,
    which would silently undo this block for every process spawned after it (measured: about one
    Ctrl-C in twenty then printed a child's traceback or a leaked-semaphore warning)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def cluster_executor(address: str | None):
    """A ``concurrent.futures`` executor that runs units on the Dask cluster at ``address``
    (``tcp://HOST:PORT``; see ``alkit sweep``), or None for an empty address (local worker
    processes). Pass it as ``executor=`` to :func:`alkit.run` / :func:`alkit.evaluate`; the results
    store must be on a filesystem every worker sees."""
    if not address:
        return None
    from distributed import Client

    client = Client(address)
    executor = client.get_executor()
    executor.client = client  # close it (executor.client.close()) when done; a notebook's ends with it
    return executor


def picklable(obj) -> bool:
    """Whether ``obj`` can be sent to a worker process (a task holding a closure cannot)."""
    try:
        pickle.dumps(obj)
    except Exception:  # noqa: BLE001 - any pickling failure means "run it here"
        return False
    return True


class InlineExecutor:
    """``submit`` runs the function right away in this process and returns a finished Future."""

    def submit(self, fn, *args, **kwargs) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            if isinstance(e, KeyboardInterrupt):
                raise
            fut.set_exception(e)
        return fut

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def run_units(task, units: list[Unit], *, workers: int | None = None, executor=None, progress: bool = True,
              desc: str = "", bar=None) -> list[list[dict]]:
    """Run every unit and return their records, in the order of ``units``.

    ``workers``: parallel worker processes (default :func:`default_workers`); 1 runs the units one
    after another in this process. ``executor``: any object with ``submit(fn, *args)`` returning
    futures (then ``workers`` is ignored and the caller owns its lifetime). A tqdm bar counts
    cycles (pass ``bar``, a tqdm bar, to count into a caller's bar spanning several runs: it is
    advanced, not closed). The first unit that raises stops the run (the others are cancelled) and
    its exception is raised here; Ctrl-C stops the workers. Finished cycles are in the store
    either way.
    """
    from tqdm.auto import tqdm

    units = list(units)
    if not units:
        return []
    own_bar = bar is None
    if own_bar:
        bar = tqdm(total=sum(u.cycles + 1 for u in units), desc=desc, unit="cycle", disable=not progress,
                   smoothing=0)

    def tick(item):
        s, t, c, value = item
        bar.set_postfix_str(f"{s} t{t} c{c} {units[0].metric}={value:.3f}")
        bar.update(1)

    own = executor is None
    workers = default_workers(task, len(units)) if workers is None else max(1, int(workers))
    try:
        from alkit.engine.train.common import torch_threads

        sink = _CallbackQueue(tick)
        if own and workers == 1:
            out: list = [None] * len(units)
            with torch_threads(threads_per_worker(task, 1)):
                for b in bundles([task] * len(units), units):
                    for i, recs in zip(b, run_bundle(task, [units[i] for i in b], sink)):
                        out[i] = recs
            return out
        # Units whose every cycle is already stored are loaded here (validated like any cached
        # cycle); only the others go to worker processes, and no pool starts when none is left.
        done = [i for i, u in enumerate(units) if finished(u)]
        out: list = [None] * len(units)
        for i in done:
            out[i] = run_unit(task, units[i], sink)
        todo = [i for i, u in enumerate(units) if out[i] is None or len(out[i]) < u.cycles + 1]
        if todo:
            for i, recs in zip(todo, _run_parallel(task, [units[i] for i in todo], workers, executor, tick)):
                out[i] = recs
        return out
    finally:
        if own_bar:
            bar.close()


def finished(unit: Unit) -> bool:
    """Whether the store holds a file for every cycle of ``unit``."""
    if unit.store_config is None:
        return False
    from alkit.experiments.store import RunStore

    store = RunStore(unit.store_root, unit.store_config)
    return all(store.has_cycle(unit.trial, c) for c in range(unit.cycles + 1))


class _CallbackQueue:
    """A queue stand-in for the in-process path: ``put`` calls the callback directly."""

    def __init__(self, fn):
        self.put = fn


def process_pool(workers: int, threads: int = 1) -> ProcessPoolExecutor:
    """A pool of ``workers`` fresh (``spawn``) processes with ``threads`` torch threads each, for
    callers that run several experiments on one pool (pass it as ``executor``; close it with
    ``shutdown``)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                               initargs=(threads,))


def _run_parallel(task, units, workers, executor, tick) -> list[list[dict]]:
    # Expensive units first (ensembles train several models per cycle) so the last one to finish
    # is a cheap one; results still come back in the order of ``units``.
    order = sorted(range(len(units)), key=lambda i: -getattr(task, "unit_cost", lambda s: 1)(units[i].strategy))
    payload = pickle.dumps(task)  # once here, unpickled by each unit's worker (see run_pickled_unit)
    rank = {i: r for r, i in enumerate(order)}
    groups = sorted(bundles([task] * len(units), units, workers), key=lambda g: min(rank[i] for i in g))
    return _run_jobs([(payload, u) for u in units], groups, workers, threads_per_worker(task, workers), executor,
                     tick, None if executor is None else getattr(task, "preferred_threads", None))


class WorkShares:
    """Turns a batch's cycle ticks into shares of its work, for a progress bar whose estimate of the
    time left means something when units differ in cost (an s4GAN cycle on shapes costs ten digits
    cycles: counted in cycles, a bar that starts with the long units shows hours left for minutes).

    ``units``: the batch's :class:`Unit` objects; ``weights``: one relative cost per unit (e.g.
    :func:`alkit.experiments.prefetch.work_weights`), spread evenly over its cycles. A tick names its
    (strategy, trial) only, and several runs of a batch can have the same pair, so each pair's cycle
    shares are handed out first in, first out: a tick may take another run's share of that pair,
    but the shares add up to the whole when every cycle has ticked. :meth:`take` returns the share
    (a percentage of the batch) of one tick."""

    def __init__(self, units, weights):
        units, weights = list(units), [float(w) for w in weights]
        if len(units) != len(weights):
            raise ValueError(f"{len(weights)} weights for {len(units)} units")
        if any(not w >= 0 for w in weights):
            raise ValueError("weights must be >= 0")
        total = sum(weights)
        self._left: dict = {}  # (strategy, trial) -> deque of cycle shares, first in, first out
        for u, w in zip(units, weights):
            n = u.cycles + 1
            share = 100.0 * (w / total if total > 0 else 1.0 / len(units)) / n
            self._left.setdefault((u.strategy, u.trial), collections.deque()).extend([share] * n)

    def take(self, strategy, trial) -> float:
        """The share of one finished cycle of (``strategy``, ``trial``); 0 once that pair's cycles are spent."""
        left = self._left.get((strategy, trial))
        return left.popleft() if left else 0.0


def run_jobs(jobs: list, *, workers: int | None = None, progress: bool = True, desc: str = "",
             weights=None) -> list[list[dict]]:
    """Run ``(task, unit)`` pairs of *several* experiments on one pool of worker processes, in the
    order given (put the longest first; with ``weights``, the bundles of :func:`bundles` heaviest
    first), and return each pair's records in that order.

    One pool for every unit of a batch of experiments (``alkit reproduce``'s prefetch): no pool
    starts per experiment and no core idles at the end of one experiment while the other finishes
    its last unit. Each task is pickled once; a tqdm bar counts cycles, or with ``weights`` (one
    relative cost per pair) the share of the batch's work done (:class:`WorkShares`), so that its
    estimate of the time left holds when units differ in cost; Ctrl-C stops the workers
    and finished cycles are in the store, as with :func:`run_units`. Tasks must be picklable and
    want the same torch threads (the first task's :func:`threads_per_worker` is used)."""
    from tqdm.auto import tqdm

    jobs = list(jobs)
    if not jobs:
        return []
    workers = default_workers(jobs[0][0], len(jobs)) if workers is None else max(1, min(int(workers), len(jobs)))
    payloads: dict[int, bytes] = {}
    pairs = [(payloads.setdefault(id(task), pickle.dumps(task)), unit) for task, unit in jobs]
    cycles = sum(u.cycles + 1 for _, u in jobs)
    shares = None if weights is None else WorkShares([u for _, u in jobs], weights)
    if shares is None:
        bar = tqdm(total=cycles, desc=desc, unit="cycle", disable=not progress, smoothing=0)
    else:
        bar = tqdm(total=100.0, desc=desc, disable=not progress, smoothing=0,
                   bar_format="{l_bar}{bar}| {n:.0f}% of the work [{elapsed}<{remaining}{postfix}]")
    done = [0]

    def tick(item):
        s, t, c, value = item
        done[0] += 1
        if shares is None:
            bar.set_postfix_str(f"{s} t{t} c{c} {value:.3f}")
            bar.update(1)
        else:
            bar.set_postfix_str(f"{done[0]}/{cycles} cycles, {s} t{t} c{c} {value:.3f}")
            bar.update(min(shares.take(s, t), max(0.0, 100.0 - bar.n)))

    try:
        groups = bundles([t for t, _ in jobs], [u for _, u in jobs], workers)
        if weights is not None:  # the heaviest bundle first, so the last to finish is a light one
            groups.sort(key=lambda g: -sum(float(weights[i]) for i in g))
        return _run_jobs(pairs, groups, workers, threads_per_worker(jobs[0][0], workers), None, tick, None)
    finally:
        bar.close()


def _run_jobs(pairs, groups, workers, threads, executor, tick, outside_threads) -> list[list[dict]]:
    """Submit ``pairs`` (pickled task, unit) to ``executor`` (None: a pool of ``workers`` fresh
    processes with ``threads`` torch threads each, stopped at the end) as ``groups``, lists of pair
    indices that one worker runs in lockstep (:func:`bundles`; the pairs of a group share their
    task), in the order given, and collect the records in the order of ``pairs``;
    ``outside_threads``: the thread count a worker someone else started should use (see
    :func:`run_pickled_unit`)."""
    ctx = mp.get_context("spawn")
    own = executor is None
    manager = ticks = None
    futures = {}
    try:
        # A Ctrl-C can still raise here although SIGINT is blocked in this thread: the kernel hands
        # it to another thread and Python raises it in the main thread. So everything started here
        # is inside the try, and the finally stops whatever exists (a manager left running would
        # hang the interpreter's exit, which joins its child processes).
        with _sigint_blocked():
            if own:
                manager = SyncManager(ctx=ctx)
                manager.start(initializer=_die_with_parent)
                ticks = manager.Queue()
                executor = process_pool(workers, threads)
            for group in groups:  # the pool starts its processes on the first submits
                payload, units = pairs[group[0]][0], [pairs[i][1] for i in group]
                futures[executor.submit(run_pickled_bundle, payload, units, ticks, outside_threads)] = group
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            _drain(ticks, tick)
            for f in done:
                if f.exception() is not None:
                    raise f.exception()
                if ticks is None:  # an outside executor: count a unit's cycles when it ends
                    for i, recs in zip(futures[f], f.result()):
                        for rec in recs:
                            tick((rec["strategy"], rec["trial"], rec["cycle"], float(rec[pairs[i][1].metric])))
        _drain(ticks, tick)
        out: list = [None] * len(pairs)
        for f, group in futures.items():
            for i, recs in zip(group, f.result()):
                out[i] = recs
        return out
    except BaseException:
        for f in futures:
            f.cancel()
        if own and executor is not None:
            _stop_workers(executor)
        raise
    finally:
        if own:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
            _stop_manager(manager)


def _stop_manager(manager) -> None:
    """Shut a SyncManager down, also one whose ``start`` was interrupted (then its server process is
    terminated); None does nothing."""
    if manager is None:
        return
    if hasattr(manager, "shutdown"):  # set at the end of a completed start()
        manager.shutdown()
        return
    process = getattr(manager, "_process", None)
    if process is not None and process.is_alive():
        process.terminate()
        process.join(timeout=10)


def _drain(ticks, tick) -> None:
    if ticks is None:
        return
    while True:
        try:
            tick(ticks.get_nowait())
        except queue_mod.Empty:
            return
        except (EOFError, BrokenPipeError, ConnectionError):
            return


def _stop_workers(executor) -> None:
    """Terminate a ProcessPoolExecutor's workers now (after an error or Ctrl-C)."""
    procs = getattr(executor, "_processes", None) or {}
    for p in list(procs.values()):
        with contextlib.suppress(Exception):
            p.terminate()
    # shutdown(wait=False) forgets the pool's manager thread; join it here, or it may still be
    # closing the pool's queues (unlinking their semaphores) when the interpreter exits, and the
    # resource tracker then warns of a "leaked semaphore" (measured: ~1 Ctrl-C in 10)
    thread = getattr(executor, "_executor_manager_thread", None)
    executor.shutdown(wait=False, cancel_futures=True)
    if thread is not None:
        thread.join(timeout=30)


__all__ = ["Unit", "run_unit", "run_bundle", "bundles", "run_units", "run_jobs", "finished", "default_workers",
           "threads_per_worker", "available_cores", "InlineExecutor", "process_pool", "picklable", "cluster_executor"]
