"""``alkit sweep`` on Dask (loopback only): a 2-worker LocalCluster equals a sequential run; a worker
SIGKILLed mid-unit loses and recomputes nothing; a unit that raises is one line and the grid goes
on; a bad grid is one error line before anything runs; a finished sweep re-runs without writing."""

import logging
import os
import re
import signal
import threading
import time
from collections import defaultdict

import pandas as pd
import pytest
import yaml

pytest.importorskip("distributed")

from alkit import cli  # noqa: E402
from alkit.experiments.config import run  # noqa: E402
from alkit.experiments.sweep import load_grid, parse_grid, results_frame, slurm_options, sweep  # noqa: E402

SMALL = {"fixed": dict(dataset="digits", initial=20, step=20, cycles=2, epochs=2, min_steps=0, trials=2, seed=1),
         "axes": dict(augment=["none", "paper"], strategies=["random", "entropy"])}


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as c:
        yield c


def sequential(cells, root):
    """The same experiments one after another with alkit.run, as results.csv holds them."""
    frames = []
    for cell in cells:
        exp = cell.experiment()
        task = exp.build_task()
        df = run(exp, task=task, store_root=root, workers=1, progress=False, with_selected=True)
        frames.append(results_frame(exp, df, task))
    return pd.concat(frames, ignore_index=True)


def identities(root):
    """{cycle file: (inode, mtime)}: a rewritten file (atomic rename) gets another inode and mtime."""
    out = {}
    for p in root.rglob("cycle*.json"):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        out[p] = (st.st_ino, st.st_mtime_ns)
    return out


def test_grid_equals_sequential_and_rerun_writes_nothing(client, tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(SMALL))
    cells = load_grid(grid)
    assert [c.label for c in cells] == ["dataset=digits augment=none strategies=random",
                                        "dataset=digits augment=none strategies=entropy",
                                        "dataset=digits augment=paper strategies=random",
                                        "dataset=digits augment=paper strategies=entropy"]
    root = tmp_path / "runs"
    res = sweep(cells, store_root=root, client=client, progress=False)
    assert not res.failures and res.computed == 8 and res.stored == 0
    seq = sequential(cells, tmp_path / "seq")
    assert len(seq) == 2 * 2 * 2 * 3
    pd.testing.assert_frame_equal(res.frame.drop(columns="seconds"), seq.drop(columns="seconds"))
    assert {"epochs", "initial", "cycles", "model", "selected"} <= set(res.frame.columns)
    assert len(list(root.rglob("cycle*.json"))) == len(seq)

    # the same command again: everything is loaded here, no cluster, no cycle file written
    before = identities(root)
    out = tmp_path / "out"
    capsys.readouterr()
    code = cli.main(["sweep", "--grid", str(grid), "--out", str(out), "--runs-dir", str(root)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "0 units run, 8 loaded from the store" in captured.out and "dashboard" not in captured.err
    assert identities(root) == before
    csv = pd.read_csv(out / "results.csv")
    expected = pd.read_csv(pd.io.common.StringIO(res.frame.to_csv(index=False)))
    pd.testing.assert_frame_equal(csv, expected)


def test_worker_killed_mid_unit_resumes_without_recomputing(client, tmp_path):
    cells = parse_grid({"fixed": dict(dataset="digits", augment="none", strategies=["random", "entropy"], trials=1,
                                      initial=40, step=40, cycles=6, epochs=30, min_steps=0)})
    root = tmp_path / "runs"
    box, lines = {}, []
    th = threading.Thread(target=lambda: box.update(r=sweep(cells, store_root=root, client=client, progress=False,
                                                             log=lines.append)))
    th.start()
    seen = defaultdict(set)  # every (inode, mtime) each cycle file ever had

    def scan():
        for p, ident in identities(root).items():
            seen[p].add(ident)

    killed, deadline = None, time.time() + 120
    while th.is_alive() and killed is None and time.time() < deadline:
        scan()
        pids = client.run(os.getpid)
        for addr, keys in client.processing().items():
            for key in map(str, keys):
                m = re.match(r"alkit-unit-(.+)-t(\d+)-e\d+-", key)
                if not m or addr not in pids:
                    continue
                unit_files = list(root.glob(f"digits-{m[1]}-none-*/trial{m[2]}/cycle*.json"))
                if 1 <= len(unit_files) <= 4:  # mid-unit: some cycles stored, at least two to go
                    os.kill(pids[addr], signal.SIGKILL)
                    killed = (m[1], len(unit_files), identities(root))
                    break
            if killed:
                break
        time.sleep(0.05)
    while th.is_alive():
        scan()
        time.sleep(0.05)
    th.join()
    scan()
    assert killed is not None, "no unit was caught mid-run"
    strategy, stored_at_kill, at_kill = killed
    print(f"SIGKILLed the worker running {strategy} with {stored_at_kill} of 7 cycles stored")
    res = box["r"]
    assert not res.failures, lines
    after = identities(root)
    assert len(after) == 2 * 7
    # nothing finished before the kill was written again, and no file was ever written twice
    assert {p: after[p] for p in at_kill} == at_kill
    assert all(len(v) == 1 for v in seen.values()), {p: v for p, v in seen.items() if len(v) > 1}
    # the killed unit was resumed: it had stored_at_kill cycles, it has all 7 now
    assert len(list(root.glob(f"digits-{strategy}-none-*/trial0/cycle*.json"))) == 7 > stored_at_kill
    assert not list(root.rglob("*.bad*")) and not list(root.rglob(".*.tmp*"))
    seq = sequential(cells, tmp_path / "seq")
    pd.testing.assert_frame_equal(res.frame.drop(columns="seconds"), seq.drop(columns="seconds"))


BOOM = """
import alkit


@alkit.register_strategy("sweep-boom", needs={"probs"})
def boom(inputs):
    raise RuntimeError("boom from a strategy")
"""


@pytest.fixture
def boom_file(tmp_path):
    from alkit.strategies import find_strategy, unregister_strategy

    f = tmp_path / "boom.py"
    f.write_text(BOOM)
    yield f
    if find_strategy("sweep-boom") is not None:
        unregister_strategy("sweep-boom")


def test_a_failing_unit_is_one_line_and_the_grid_goes_on(client, tmp_path, boom_file, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"fixed": dict(dataset="digits", augment="none", trials=1, initial=20, step=20,
                                                  cycles=1, epochs=2, min_steps=0),
                                    "axes": dict(strategies=[["random", "sweep-boom"]], seed=[0, 1])},
                                   sort_keys=False))
    out = tmp_path / "out"
    code = cli.main(["sweep", "--grid", str(grid), "--out", str(out), "--runs-dir", str(tmp_path / "runs"),
                     "--scheduler", client.scheduler.address, "--strategy-file", str(boom_file)])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    failed = sorted(ln for ln in captured.err.splitlines() if "unit failed" in ln)
    assert failed == [f"alkit: sweep: unit failed (dataset=digits strategies=random,sweep-boom seed={s} "
                      f"strategy=sweep-boom trial=0): RuntimeError: boom from a strategy" for s in (0, 1)]
    df = pd.read_csv(out / "results.csv")  # what finished is written
    assert set(df.strategy) == {"random"} and sorted(df.seed) == [0, 0, 1, 1]


@pytest.mark.parametrize("grid, needle", [
    ({"fixed": {"dataset": "digits"}, "axes": {"augmnt": ["none"]}},
     "grid grid.yaml axes.augmnt: unknown setting 'augmnt' (did you mean 'augment'?)"),
    ({"axes": {"augment": ["none", "nope"]}}, "grid grid.yaml axes.augment[1]: unknown augmentation 'nope'"),
    ({"axes": {"strategies": ["random", "entrpy"]}},
     "grid grid.yaml axes.strategies[1]: unknown strategy 'entrpy' (did you mean 'entropy'?)"),
    ({"fixed": {"epochs": 0}}, "grid grid.yaml fixed.epochs must be a positive integer, got 0"),
    ({"fixed": {"workers": 2}}, "grid grid.yaml fixed.workers: workers cannot be a grid setting"),
    ({"fixd": {"epochs": 1}}, "grid grid.yaml: unknown section 'fixd' (did you mean 'fixed'?)"),
    ({"axes": {"augment": "none"}}, "grid grid.yaml axes.augment must be a non-empty list of values"),
    ({"fixed": {"dataset": "shapes"}, "axes": {"augment": ["none"]}},
     "grid grid.yaml axes.augment: augment does not apply to segmentation datasets"),
])
def test_bad_grid_is_one_line_before_anything_runs(tmp_path, capsys, grid, needle):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    code = cli.main(["sweep", "--grid", str(path), "--out", str(tmp_path / "out"),
                     "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("alkit: error: ") and needle in err, err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def test_bad_flags(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(SMALL))
    base = ["sweep", "--grid", str(grid), "--out", str(tmp_path / "out")]
    for extra, needle in ((["--slurm", "cores=4 memory=8GB queu=gpu"], "unknown option 'queu' (did you mean 'queue'?)"),
                          (["--slurm", "queue=gpu"], "--slurm: give cores=..."),
                          (["--scheduler", "tcp://h:1", "--workers", "2"], "--workers does not apply with --scheduler"),
                          (["--scheduler", "tcp://h:1", "--slurm", "cores=1"], "exclude each other")):
        assert cli.main(base + extra) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, err
    assert cli.main(["sweep", "--grid", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "--grid: file not found" in capsys.readouterr().err


def test_slurm_options_reach_the_job_script():
    kw = slurm_options("queue=gpu account=lab cores=8 memory=32GB gpus=1 walltime=04:00:00 "
                       "extra=--constraint=a100 prologue='module load cuda'")
    assert kw["job_extra_directives"] == ["--gres=gpu:1", "--constraint=a100"] and kw["cores"] == 8
    from dask_jobqueue import SLURMCluster

    with SLURMCluster(**kw) as cluster:
        script = cluster.job_script()
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH --gres=gpu:1", "#SBATCH --constraint=a100",
                 "#SBATCH -t 04:00:00", "module load cuda"):
        assert line in script, script


def _listening(pids) -> list:
    """(pid, address, port) of every listening TCP socket of ``pids``."""
    import psutil

    out = []
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        out += [(pid, c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    return out


@pytest.mark.parametrize("dashboard", [None, "0.0.0.0:0"])
def test_a_local_sweep_listens_on_loopback_only_unless_asked(tmp_path, dashboard):
    """While a local sweep runs, every listening socket of this process and its children
    (scheduler, nanny, worker, dashboard) is on 127.0.0.1; the dashboard's address is printed.
    ``--dashboard 0.0.0.0:PORT`` opens the dashboard (and only it) to other machines."""
    import psutil

    cells = parse_grid({"fixed": dict(dataset="digits", augment="none", strategies=["random"], trials=1,
                                      initial=20, step=20, cycles=1, epochs=1, min_steps=0)})
    seen, lines = [], []

    def tree():
        me = psutil.Process()
        return _listening([me.pid] + [c.pid for c in me.children(recursive=True)])

    before = set(tree())  # e.g. another test's cluster in this process: not the sweep's

    def log(line):  # called once the cluster is up, with the dashboard's address
        lines.append(line)
        seen.extend(x for x in tree() if x not in before)

    result = sweep(cells, store_root=tmp_path / "runs", workers=1, progress=False, log=log, dashboard=dashboard)
    assert len(result.frame) == 2 and not result.failures
    assert seen and any("Dask dashboard: http://" in line for line in lines), lines
    link = re.search(r"Dask dashboard: http://([^:/]+):(\d+)", " ".join(lines))
    port = int(link.group(2))
    assert port in {p for _, _, p in seen}  # the printed address is the one it listens on
    outside = {(ip, p) for _, ip, p in seen if ip not in ("127.0.0.1", "::1")}
    if dashboard is None:
        assert link.group(1) == "127.0.0.1" and outside == set(), seen
    else:
        assert outside == {("0.0.0.0", port)}, seen


def test_dashboard_flag_checks(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(SMALL))
    base = ["sweep", "--grid", str(grid), "--out", str(tmp_path / "out")]
    assert cli.main(base + ["--dashboard", "8787"]) == 2
    assert "--dashboard: expected HOST:PORT" in capsys.readouterr().err
    assert cli.main(base + ["--dashboard", "127.0.0.1:99999"]) == 2
    assert "--dashboard port must be at most 65535" in capsys.readouterr().err
    assert cli.main(base + ["--scheduler", "tcp://h:8786", "--dashboard", "127.0.0.1:1"]) == 2
    assert "--dashboard does not apply with --scheduler" in capsys.readouterr().err


def test_sweep_with_trials_auto_adds_trials_through_run(tmp_path, capsys):
    """``--trials auto``: the experiment runs through alkit.run's trials='auto' (rounds of units on the
    cluster); results.csv holds every trial it ran."""
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"fixed": dict(dataset="digits", strategies=["random", "entropy"], initial=20,
                                                  step=20, cycles=1, epochs=1, min_steps=0, augment="none")}))
    out = tmp_path / "out"
    code = cli.main(["sweep", "--grid", str(grid), "--trials", "auto", "--max-trials", "5", "--workers", "2",
                     "--out", str(out), "--runs-dir", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1 with trials auto" in captured.out
    df = pd.read_csv(out / "results.csv")
    n = df.groupby("strategy").trial.nunique()
    assert set(n.index) == {"random", "entropy"} and (n >= 3).all() and (n <= 5).all()
    assert len(df) == 2 * n.iloc[0] * 2 and df.accuracy.between(0, 1).all()
