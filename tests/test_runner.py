"""Parallel (strategy, trial) units: the same records as a sequential run, in the same order;
errors and external executors; the in-process path leaves torch's thread count as it was."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from alkit.experiments.config import Experiment, run
from alkit.experiments.runner import InlineExecutor, Unit, default_workers, run_units, threads_per_worker

EXP = dict(strategies=("random", "entropy", "ens-varr"), initial=20, step=20, cycles=2, trials=2, epochs=2, min_steps=0,
           ensemble_size=2, seed=3)


def strip(df):
    return df.drop(columns="seconds").reset_index(drop=True)


def test_two_workers_equal_one_worker(tmp_path):
    exp = Experiment(**EXP)
    seq = run(exp, store_root=tmp_path / "seq", progress=False, with_selected=True, workers=1)
    par = run(exp, store_root=tmp_path / "par", progress=False, with_selected=True, workers=2)
    assert len(seq) == 3 * 2 * 3
    assert list(zip(par.strategy, par.trial, par.cycle)) == list(zip(seq.strategy, seq.trial, seq.cycle))
    import pandas as pd

    pd.testing.assert_frame_equal(strip(seq), strip(par))
    # every cycle of every unit went to the store
    assert len(list((tmp_path / "par").rglob("cycle*.json"))) == len(par)


def test_external_executor_and_resume(tmp_path):
    exp = Experiment(**EXP)
    a = run(exp, store_root=tmp_path, progress=False, executor=ThreadPoolExecutor(2))
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("cycle*.json")}
    b = run(exp, store_root=tmp_path, progress=False, executor=InlineExecutor())
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("cycle*.json")}
    assert before == after  # nothing recomputed or rewritten
    import pandas as pd

    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


class Boom:
    """A task whose fit fails for one strategy."""

    name = "boom"
    device = torch.device("cpu")
    preferred_threads = 1

    def pool_costs(self):
        return np.ones(30)

    def initial_order(self, rng):
        return rng.permutation(30)

    def fit(self, labelled, seed, strategy):
        if strategy == "bad":
            raise RuntimeError("fit exploded")
        return len(labelled)

    def evaluate(self, learner):
        return {"accuracy": learner / 30}

    def rank(self, learner, strategy, labelled, unlabelled, budget, rng):
        return rng.permutation(unlabelled)


def units(*strategies):
    return [Unit(strategy=s, trial=0, initial=5, step=5, cycles=2, seed=0, metric="accuracy") for s in strategies]


def test_a_failing_unit_raises_its_error():
    with pytest.raises(RuntimeError, match="fit exploded"):
        run_units(Boom(), units("ok", "bad"), workers=1, progress=False)
    with pytest.raises(RuntimeError, match="fit exploded"):
        run_units(Boom(), units("ok", "bad"), executor=ThreadPoolExecutor(2), progress=False)


def test_in_process_path_restores_threads():
    before = torch.get_num_threads()
    seen = []

    class Spy(Boom):
        def fit(self, labelled, seed, strategy):
            seen.append(torch.get_num_threads())
            return len(labelled)

    out = run_units(Spy(), units("a"), workers=1, progress=False)
    assert [r["n_labelled"] for r in out[0]] == [5, 10, 15]
    assert seen and set(seen) == {1}  # the task's preferred single thread while it ran
    assert torch.get_num_threads() == before


def test_worker_counts(monkeypatch):
    monkeypatch.delenv("ALKIT_WORKERS", raising=False)
    monkeypatch.setattr("alkit.experiments.runner.available_cores", lambda: 4)
    assert default_workers(Boom(), 10) == 4
    assert default_workers(Boom(), 3) == 3  # never more workers than units
    gpu = Boom()
    gpu.device = torch.device("cuda")
    assert default_workers(gpu, 10) == 1
    monkeypatch.setenv("ALKIT_WORKERS", "2")
    assert default_workers(Boom(), 10) == 2
    big = Boom()
    big.preferred_threads = None
    assert threads_per_worker(big, 2) == 2 and threads_per_worker(Boom(), 2) == 1
    assert threading.current_thread() is threading.main_thread()


def test_swapped_data_under_one_store_recomputes(tmp_path):
    """Same settings, same outputs folder, different data (one pool image changed): nothing of the
    first run is reused; the first data again: everything is reused."""
    from alkit.engine.data import load_dataset
    
    exp = Experiment(strategies=("random",), initial=20, step=20, cycles=1, trials=1, epochs=1, min_steps=0, seed=0)
    first = run(exp, store_root=tmp_path, progress=False, workers=1)
    other = load_dataset("digits")
    x = other.train_x.clone()
    x[0, 0, 0, 0] = 255 - x[0, 0, 0, 0]
    other.train_x = x
    calls = []
    task = exp.build_task(data=other)
    fit = task.fit
    task.fit = lambda *a, **k: calls.append(1) or fit(*a, **k)
    run(exp, task=task, store_root=tmp_path, progress=False, workers=1)
    assert len(calls) == 2  # both cycles recomputed on the swapped data
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2  # two keys side by side
    again = exp.build_task()
    calls.clear()
    fit2 = again.fit
    again.fit = lambda *a, **k: calls.append(1) or fit2(*a, **k)
    same = run(exp, task=again, store_root=tmp_path, progress=False, workers=1)
    assert calls == []
    import pandas as pd

    pd.testing.assert_frame_equal(first, same)


@pytest.mark.parametrize("delay", [0.5, 3.0])
def test_ctrl_c_to_the_process_group_with_workers(tmp_path, delay):
    """A terminal's Ctrl-C reaches the parent and every worker: one line, exit 130, no traceback
    from any process, nothing left running."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    env = dict(os.environ, ALKIT_OUTPUTS=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-m", "alkit", "run", "--strategies", "random,entropy", "--initial", "20",
                          "--step", "20", "--cycles", "3", "--trials", "2", "--epochs", "30", "--min-steps", "0", "--workers", "2",
                          "--out", str(tmp_path / "o")], cwd=Path(__file__).resolve().parents[1],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True, env=env)
    time.sleep(delay)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("alkit: interrupted")
    deadline = time.time() + 10
    while time.time() < deadline:  # no process of the group survives (workers, manager, tracker)
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        left = subprocess.run(["ps", "-o", "pid,args", "-g", str(p.pid)], capture_output=True, text=True).stdout
        pytest.fail(f"processes left running after Ctrl-C:\n{left}")


def test_sigkill_of_the_parent_leaves_no_worker_running(tmp_path):
    """A run killed with SIGKILL cannot clean up; its workers and queue manager end with it."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    env = dict(os.environ, ALKIT_OUTPUTS=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-m", "alkit", "run", "--strategies", "random,entropy", "--initial", "20",
                          "--step", "20", "--cycles", "3", "--trials", "2", "--epochs", "30", "--min-steps", "0", "--workers", "2",
                          "--out", str(tmp_path / "o")], cwd=Path(__file__).resolve().parents[1],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not any(f.startswith("cycle") for _, _, fs in os.walk(tmp_path) for f in fs):  # not rglob: folders come and go
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        left = subprocess.run(["ps", "-o", "pid,args", "-g", str(p.pid)], capture_output=True, text=True).stdout
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail(f"processes left running after the parent was killed:\n{left}")


def test_processes_started_under_the_sigint_block_keep_it(tmp_path):
    """In a fresh interpreter (no resource tracker yet), a process spawned inside
    ``_sigint_blocked`` starts with SIGINT blocked. Python 3.11's resource tracker unblocks SIGINT
    in the calling thread when it first starts, which once let a Ctrl-C during worker start-up
    print a child's traceback (about one run in twenty of the test above)."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "probe.py"
    script.write_text(
        "import multiprocessing as mp, signal\n"
        "def report(q):\n"
        "    q.put(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))\n"
        "if __name__ == '__main__':\n"
        "    from alkit.experiments.runner import _sigint_blocked\n"
        "    ctx = mp.get_context('spawn')\n"
        "    with _sigint_blocked():\n"
        "        q = ctx.SimpleQueue()\n"
        "        p = ctx.Process(target=report, args=(q,))\n"
        "        p.start()\n"
        "    print('child blocked' if q.get() else 'child NOT blocked')\n"
        "    p.join()\n"
        "    print('parent blocked' if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []) else 'parent free')\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["child blocked", "parent free"]


@pytest.mark.parametrize("where", ["pool", "manager-start"])
def test_ctrl_c_while_starting_leaves_no_process(tmp_path, monkeypatch, where):
    """A Ctrl-C can reach Python's main thread while the workers start (the kernel hands SIGINT to
    another thread). Whatever was started is stopped: no child process is left for the
    interpreter's exit to wait on (an orphaned manager once hung ``alkit run`` at exit)."""
    import multiprocessing as mp
    from multiprocessing.managers import SyncManager

    import alkit.experiments.runner as runner

    if where == "pool":  # the manager is up, the pool not yet
        def pool(*a, **k):
            raise KeyboardInterrupt
        monkeypatch.setattr(runner, "process_pool", pool)
    else:  # the manager's process runs but start() has not returned (no shutdown handle yet)
        start = SyncManager.start

        def interrupted_start(self, *a, **k):
            start(self, *a, **k)
            self.shutdown.cancel()
            del self.shutdown
            raise KeyboardInterrupt
        monkeypatch.setattr(SyncManager, "start", interrupted_start)
    exp = Experiment(**EXP)
    with pytest.raises(KeyboardInterrupt):
        run(exp, store_root=tmp_path, progress=False, workers=2)
    assert mp.active_children() == []


def _lone(p, units, tmp):
    """Each unit run on its own (``run_unit``, its plain trainings alone beside a throw-away twin)."""
    import dataclasses

    from alkit.experiments.runner import run_unit

    return [run_unit(p.task, dataclasses.replace(u, store_root=str(tmp))) for u in units]


def test_trials_in_lockstep_give_the_records_of_trials_alone(tmp_path):
    """A bundle (the trials of a strategy in lockstep, their plain networks trained as one stack)
    writes the records each trial writes alone, and so does a bundle resumed from a store in which
    the trials stopped at different cycles (one finished, one after cycle 0, one not started)."""
    import dataclasses

    from alkit.experiments.config import plan
    from alkit.experiments.runner import bundles, run_bundle

    p = plan(Experiment(**dict(EXP, trials=3, strategies=("random", "ens-varr", "ll"), epochs=1, min_steps=12)))
    units = list(p.units)
    groups = bundles([p.task] * len(units), units)
    by_strategy = {units[g[0]].strategy: sorted(units[i].trial for i in g) for g in groups if len(g) > 1}
    assert by_strategy == {"random": [0, 1, 2], "ens-varr": [0, 1, 2]}  # Learning Loss trains alone
    assert sum(len(g) for g in groups) == len(units) and sorted(i for g in groups for i in g) == list(range(len(units)))
    alone = _lone(p, units, tmp_path / "alone")
    together = [None] * len(units)
    for g in groups:
        for i, recs in zip(g, run_bundle(p.task, [dataclasses.replace(units[i], store_root=str(tmp_path / "b"))
                                                 for i in g])):
            together[i] = recs
    strip_s = lambda recs: [{k: v for k, v in r.items() if k != "seconds"} for r in recs]  # noqa: E731
    assert [strip_s(r) for r in together] == [strip_s(r) for r in alone]
    # resume: trial 0 finished, trial 1 stopped after cycle 0, trial 2 not started
    rnd = [dataclasses.replace(u, store_root=str(tmp_path / "r")) for u in units if u.strategy == "random"]
    from alkit.experiments.runner import run_unit

    run_unit(p.task, rnd[0])
    run_unit(p.task, dataclasses.replace(rnd[1], cycles=0))
    resumed = run_bundle(p.task, rnd)
    assert [strip_s(r) for r in resumed] == [strip_s(r) for r, u in zip(alone, units) if u.strategy == "random"]


def test_bundles_split_by_size_and_for_idle_workers():
    """More than MAX_BUNDLE trials split evenly; with fewer bundles than workers a group splits
    (never below 2 units); units of different runs or settings never share a bundle."""
    from alkit.experiments.config import plan
    from alkit.experiments.runner import MAX_BUNDLE, bundles

    p = plan(Experiment(**dict(EXP, trials=MAX_BUNDLE + 3, strategies=("random",))))
    units = list(p.units)
    sizes = sorted(len(g) for g in bundles([p.task] * len(units), units))
    assert sizes == [(MAX_BUNDLE + 3) // 2, (MAX_BUNDLE + 4) // 2]
    assert sorted(len(g) for g in bundles([p.task] * 5, units[:5], workers=2)) == [2, 3]
    assert sorted(len(g) for g in bundles([p.task] * 3, units[:3], workers=8)) == [3]  # no lone parts
    other = plan(Experiment(**dict(EXP, trials=2, strategies=("random",))))
    mixed = bundles([p.task, p.task, other.task, other.task], units[:2] + list(other.units))
    assert sorted(map(sorted, mixed)) == [[0, 1], [2, 3]]
