"""Background runs for the explorers: the (strategy, trial) units of an experiment run while the
notebook stays responsive; every cycle is handed back as soon as it is stored, and a unit that is
no longer wanted stops at once.

:class:`UnitRunner` keeps a set of *wanted* jobs (one job = one :class:`alkit.experiments.runner.Unit`
and its task). ``want(jobs)`` replaces that set and returns immediately: jobs already running that
are still wanted go on, the others are stopped, and the new ones are queued in the given order
(the caller puts what it wants to see first, first). Two engines:

* ``mode="process"`` (default): ``workers`` long-lived ``spawn`` processes (one per core), each
  fed one job at a time through its own pipe (no shared queue a killed process could leave
  locked). Stopping a job terminates its process: nothing of the stopped job is stored after
  ``want`` returns (the store writes through a temp file and a rename, so a killed writer leaves
  no half cycle; :func:`alkit.experiments.store.clean_orphans` removes its temp file). A
  *stand-by* process (started once the workers are up, torch and the task code imported) takes
  the freed slot at once, and a new stand-by starts behind it: a process start-up takes seconds
  on a busy 2-core machine, and it would otherwise delay the run the user just asked for.
* ``mode="thread"``: the jobs run in this process on a background thread, one at a time (torch's
  global random state is shared by the threads of a process: two units training at once would
  not repeat; no start-up cost: tests, or a task that cannot be pickled). A stopped job ends
  after the cycle it is training: its store refuses that cycle, so here too nothing more is
  stored for it once ``want`` returned; the next job starts when it has ended.
* ``executor=``: any ``submit``-style executor (e.g. a Dask cluster's): whole units are submitted,
  their records arrive when a unit ends and ``want`` cancels the futures no longer wanted (a
  cluster may finish a unit it had already started).

Every unit runs :func:`alkit.protocol.loop.run_trial` with the results store exactly as
:func:`alkit.experiments.runner.run_unit` does, so a unit gives the records ``alkit.run`` gives.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Callable

from alkit.experiments.runner import Unit

QUEUED, RUNNING, DONE, ERROR = "queued", "running", "done", "error"


@dataclass
class Job:
    """One unit to run: ``key`` identifies it across experiments (results-store folder, trial),
    ``payload`` is its task pickled (process mode), ``task`` the task itself (thread mode)."""

    key: tuple
    unit: Unit
    payload: bytes | None = None
    task: object = None
    threads: int = 1


@dataclass
class _Slot:
    """A worker (process or thread) and the job it runs."""

    process: object = None
    jobs: object = None  # parent -> worker connection (process mode)
    out: object = None  # worker -> parent connection (process mode)
    thread: object = None
    job: Job | None = None
    ready: bool = False


def _terminate(slot: _Slot) -> None:
    """Kill a worker process now and close its pipes."""
    if slot.process is not None:
        slot.process.terminate()
        slot.process.join(timeout=10)
        for conn in (slot.jobs, slot.out):
            conn.close()


class _Cancelled(Exception):
    """Raised inside a thread-mode unit whose job is no longer wanted."""


def _guarded_store(root, config, allowed: Callable[[], bool], lock=None):
    """A :class:`~alkit.experiments.store.RunStore` whose ``save_cycle`` raises :class:`_Cancelled`
    instead of writing once ``allowed()`` is false. ``lock`` (the runner's, re-entrant) is held from
    the check to the end of the write, so a ``want`` that stops the job waits for a write already
    allowed and no write starts after it: checked and written apart, a cycle could be stored just
    after ``want`` returned (seen once in a clean-clone CI run)."""
    from alkit.experiments.store import RunStore

    guard = lock if lock is not None else contextlib.nullcontext()

    class GuardedStore(RunStore):
        def save_cycle(self, *args, **kwargs):
            with guard:
                if not allowed():
                    raise _Cancelled()
                super().save_cycle(*args, **kwargs)

    return GuardedStore(root, config)


def run_job_unit(task, unit: Unit, on_cycle, allowed: Callable[[], bool] = lambda: True, lock=None) -> list[dict]:
    """One unit through :func:`alkit.protocol.loop.run_trial` (as
    :func:`alkit.experiments.runner.run_unit`), calling ``on_cycle(record)`` after every cycle,
    loaded or computed; while ``allowed()`` is false no cycle is stored (:class:`_Cancelled`;
    ``lock``: held across that check and the write, see :func:`_guarded_store`)."""
    from alkit.protocol.loop import run_trial

    store = (_guarded_store(unit.store_root, unit.store_config, allowed, lock)
             if unit.store_config is not None else None)
    return run_trial(task, unit.strategy, initial=unit.initial, step=unit.step, cycles=unit.cycles,
                     trial=unit.trial, seed=unit.seed, store=store, meta=unit.meta, metric=unit.metric,
                     on_cycle=on_cycle)


def _worker_main(jobs, out, threads: int) -> None:
    """A process-mode worker: receive ``(key, payload, unit)``, run it, send ``("cycle", key,
    record)`` per cycle and ``("done", key)`` or ``("error", key, text)`` at its end; ``None`` or a
    closed pipe ends the worker."""
    import pickle
    import signal

    from alkit.experiments.runner import _die_with_parent

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the notebook's, not the worker's
    import torch

    torch.set_num_threads(threads)
    import alkit.protocol.loop  # noqa: F401  (warm: a stand-by worker starts a unit at once)
    import alkit.tasks.classification  # noqa: F401

    out.send(("ready", None))
    tasks: dict = {}
    while True:
        try:
            msg = jobs.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        key, payload, unit = msg
        try:
            if payload not in tasks:  # the same experiment's units share one task
                tasks.clear()
                tasks[payload] = pickle.loads(payload)
            run_job_unit(tasks[payload], unit, lambda rec: out.send(("cycle", key, rec)))
            out.send(("done", key))
        except Exception as e:  # noqa: BLE001 - reported to the parent, shown by the explorer
            out.send(("error", key, f"{type(e).__name__}: {e}"))


class UnitRunner:
    """Runs wanted jobs in the background (see the module docstring).

    ``on_update()`` is called (from a background thread) after every stored cycle and every change
    of a job's state. ``records(key)`` gives ``{cycle: record}`` of a job so far, ``state(key)``
    one of ``queued | running | done | error`` (None: never wanted), ``error(key)`` its message."""

    def __init__(self, workers: int = 1, mode: str = "process", executor=None, on_update: Callable | None = None,
                 standby: bool = True):
        if mode not in ("process", "thread"):
            raise ValueError(f"mode must be 'process' or 'thread', not {mode!r}")
        self.workers, self.mode, self.executor = max(1, int(workers)) if mode == "process" else 1, mode, executor
        self._training = threading.Lock()  # thread mode: one unit trains at a time
        self.on_update = on_update
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wanted: dict = {}  # key -> Job, in the order wanted
        self._queue: list = []  # keys waiting for a worker
        self._state: dict = {}
        self._errors: dict = {}
        self._records: dict = {}  # key -> {cycle: record}
        self._futures: dict = {}  # executor mode: key -> future
        self._slots: list[_Slot] = []
        self.standby = standby
        self._standby: _Slot | None = None
        self._threads = 1
        self._collector = None
        self._closed = False

    # ------------------------------------------------------------------ public

    def want(self, jobs: list[Job]) -> None:
        """Make ``jobs`` the wanted set (see the module docstring); returns at once. Jobs whose
        records are all known already should not be passed (nothing to run)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this runner is closed")
            self._wanted = {j.key: j for j in jobs}
            for slot in list(self._slots):
                if slot.job is not None and slot.job.key not in self._wanted:
                    self._stop(slot)
            for key, fut in list(self._futures.items()):
                if key not in self._wanted:
                    fut.cancel()
                    self._futures.pop(key)
                    self._state.pop(key, None)
            running = {s.job.key for s in self._slots if s.job is not None} | set(self._futures)
            for key in list(self._state):
                if self._state[key] == QUEUED and key not in self._wanted:
                    del self._state[key]
            self._queue = [j.key for j in jobs if j.key not in running and self._state.get(j.key) != DONE]
            for key in self._queue:
                self._state[key] = QUEUED
                self._errors.pop(key, None)
            self._dispatch()
            self._changed.notify_all()
        self._notify()

    def records(self, key) -> dict:
        """``{cycle: record}`` received so far for ``key`` (a copy)."""
        with self._lock:
            return dict(self._records.get(key, {}))

    def add_records(self, key, records) -> None:
        """Records known without running (loaded from the store by the caller)."""
        with self._lock:
            self._records.setdefault(key, {}).update({r["cycle"]: r for r in records})

    def mark_done(self, key) -> None:
        """Record that every cycle of ``key`` is known (read from the store by the caller)."""
        with self._lock:
            self._state[key] = DONE
            self._changed.notify_all()

    def state(self, key) -> str | None:
        """``queued | running | done | error`` (None: not wanted now and never finished)."""
        with self._lock:
            return self._state.get(key)

    def error(self, key) -> str | None:
        """The error message of a failed job."""
        with self._lock:
            return self._errors.get(key)

    def wait(self, keys, timeout: float | None = None, count: int | None = None) -> bool:
        """Block until ``count`` (default: all) of ``keys`` are done, failed or no longer wanted (a
        later ``want`` dropped them); False on timeout."""
        import time

        keys = list(keys)
        need = len(keys) if count is None else min(int(count), len(keys))
        end = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while sum(self._state.get(k) in (DONE, ERROR, None) for k in keys) < need:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(timeout=0.5 if left is None else min(left, 0.5))
        return True

    def close(self) -> None:
        """Stop every job and worker (the runner cannot be used again)."""
        with self._lock:
            self._closed = True
            self._wanted, self._queue = {}, []
            slots, self._slots = self._slots, []
            for fut in self._futures.values():
                fut.cancel()
            self._futures = {}
            for slot in slots:
                self._stop(slot)
            if self._standby is not None:
                _terminate(self._standby)
                self._standby = None
            self._changed.notify_all()

    # ------------------------------------------------------------------ internals (under the lock)

    def _notify(self) -> None:
        if self.on_update is not None:
            try:
                self.on_update()
            except Exception:  # noqa: BLE001 - a display callback must not stop the runs
                pass

    def _dispatch(self) -> None:
        """Start queued jobs on idle workers (creating workers up to ``self.workers``)."""
        if self.executor is not None:
            self._submit_all()
            return
        while self._queue:
            slot = next((s for s in self._slots if s.job is None), None)
            if slot is None:
                if len(self._slots) >= self.workers:
                    break
                slot = self._new_slot(self._wanted[self._queue[0]])
            job = self._wanted[self._queue.pop(0)]
            slot.job = job
            self._state[job.key] = RUNNING
            if self.mode == "process":
                if slot.ready:  # a fresh worker gets its job when it says it is ready (a large task
                    slot.jobs.send((job.key, job.payload, job.unit))  # would block the pipe until then)
            else:
                slot.thread = threading.Thread(target=self._thread_main, args=(slot, job), daemon=True,
                                               name=f"alkit-unit-{job.unit.strategy}-t{job.unit.trial}")
                slot.thread.start()
        self._keep_standby()

    def _new_slot(self, job: Job) -> _Slot:
        """A worker for ``job``: in process mode the stand-by process if there is one (already
        started, so a stopped unit's slot is refilled without a process start-up), else a new one."""
        if self.mode == "process" and self._standby is not None:
            slot, self._standby = self._standby, None
        else:
            slot = self._spawn(job.threads) if self.mode == "process" else _Slot()
        self._slots.append(slot)
        return slot

    def _spawn(self, threads: int) -> _Slot:
        """Start a worker process (``spawn``) with ``threads`` torch threads."""
        import multiprocessing as mp

        from alkit.experiments.runner import _sigint_blocked

        ctx = mp.get_context("spawn")
        slot = _Slot()
        jobs_recv, jobs_send = ctx.Pipe(duplex=False)
        out_recv, out_send = ctx.Pipe(duplex=False)
        with _sigint_blocked():
            slot.process = ctx.Process(target=_worker_main, args=(jobs_recv, out_send, threads), daemon=True,
                                       name="alkit-explorer-worker")
            slot.process.start()
        jobs_recv.close()
        out_send.close()
        slot.jobs, slot.out = jobs_send, out_recv
        self._threads = threads
        self._ensure_collector()
        return slot

    def _keep_standby(self) -> None:
        """Process mode, ``standby=True``: once every worker has started, start one more that waits
        idle, to take the slot of the next stopped unit."""
        if (self.mode == "process" and self.standby and self._standby is None and not self._closed
                and self._slots and all(s.ready for s in self._slots)):
            self._standby = self._spawn(self._threads)

    def _stop(self, slot: _Slot) -> None:
        """Stop the job of ``slot``: terminate its process (a fresh one takes the slot when
        needed) or, for a thread, let its store refuse further cycles."""
        if slot.job is not None and self._state.get(slot.job.key) == RUNNING:
            del self._state[slot.job.key]
        if self.mode == "process":
            _terminate(slot)
            if slot in self._slots:
                self._slots.remove(slot)
        else:
            slot.job = None  # the thread sees it is no longer its slot's job and stops storing
            if slot in self._slots:
                self._slots.remove(slot)
        slot.job = None

    def _thread_main(self, slot: _Slot, job: Job) -> None:
        def allowed():
            with self._lock:
                return slot.job is job and not self._closed

        def on_cycle(rec):
            if allowed():
                self._got(job.key, ("cycle", job.key, rec))

        from alkit.engine.train.common import torch_threads

        try:
            with self._training, torch_threads(job.threads):  # as alkit.run's in-process path
                run_job_unit(job.task, job.unit, on_cycle, allowed, lock=self._lock)
            msg = ("done", job.key)
        except _Cancelled:
            return
        except Exception as e:  # noqa: BLE001 - kept and shown by the explorer
            msg = ("error", job.key, f"{type(e).__name__}: {e}")
        with self._lock:
            if not allowed():
                return
            self._got(job.key, msg)
            slot.job = None
            self._dispatch()

    def _got(self, key, msg) -> None:
        """Handle one message of a worker about job ``key``."""
        with self._lock:
            kind = msg[0]
            if kind == "cycle":
                self._records.setdefault(key, {})[msg[2]["cycle"]] = msg[2]
            elif key in self._wanted or kind == "done":
                self._state[key] = DONE if kind == "done" else ERROR
                if kind == "error":
                    self._errors[key] = msg[2]
            self._changed.notify_all()
        self._notify()

    # ------------------------------------------------------------------ process mode: the collector

    def _ensure_collector(self) -> None:
        if self._collector is None or not self._collector.is_alive():
            self._collector = threading.Thread(target=self._collect, daemon=True, name="alkit-unit-collector")
            self._collector.start()

    def _collect(self) -> None:
        """Read the workers' messages until the runner is closed."""
        from multiprocessing.connection import wait

        while True:
            with self._lock:
                if self._closed:
                    return
                slots = self._slots + ([self._standby] if self._standby is not None else [])
                conns = {s.out: s for s in slots if s.out is not None}
            if not conns:
                threading.Event().wait(0.1)
                continue
            try:
                ready = wait(list(conns), timeout=0.2)
            except OSError:  # a pipe closed by _stop while waiting
                continue
            for conn in ready:
                slot = conns[conn]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    self._worker_died(slot)
                    continue
                self._from_worker(slot, msg)

    def _from_worker(self, slot: _Slot, msg) -> None:
        with self._lock:
            if slot is self._standby and msg[0] == "ready":
                slot.ready = True
                return
            if slot not in self._slots:  # stopped meanwhile: its messages are no longer wanted
                return
            if msg[0] == "ready":
                slot.ready = True
                if slot.job is not None:
                    slot.jobs.send((slot.job.key, slot.job.payload, slot.job.unit))
                self._keep_standby()
                return
            self._got(msg[1], msg)
            if msg[0] in ("done", "error"):
                slot.job = None
                self._dispatch()

    def _worker_died(self, slot: _Slot) -> None:
        with self._lock:
            if slot is self._standby:
                self._standby = None
            if slot not in self._slots:
                return
            self._slots.remove(slot)
            if slot.job is not None:
                self._state[slot.job.key] = ERROR
                self._errors[slot.job.key] = f"worker process ended (exit code {slot.process.exitcode})"
            slot.job = None
            self._dispatch()
            self._changed.notify_all()
        self._notify()

    # ------------------------------------------------------------------ executor mode

    def _submit_all(self) -> None:
        from alkit.experiments.runner import run_pickled_unit

        while self._queue:
            job = self._wanted[self._queue.pop(0)]
            fut = self.executor.submit(run_pickled_unit, job.payload, job.unit, None, job.threads)
            self._futures[job.key] = fut
            self._state[job.key] = RUNNING
            fut.add_done_callback(lambda f, key=job.key: self._future_done(key, f))

    def _future_done(self, key, fut) -> None:
        with self._lock:
            if self._futures.get(key) is not fut:
                return
            self._futures.pop(key)
        if fut.cancelled():
            return
        if fut.exception() is not None:
            self._got(key, ("error", key, f"{type(fut.exception()).__name__}: {fut.exception()}"))
            return
        for rec in fut.result():
            self._got(key, ("cycle", key, rec))
        self._got(key, ("done", key))


__all__ = ["UnitRunner", "Job", "run_job_unit", "QUEUED", "RUNNING", "DONE", "ERROR"]
