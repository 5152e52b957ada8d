"""The command line: bad input is one clear line and a non-zero exit, no traceback (every kind of
bad input: tests/test_bad_input.py); a small run writes results.csv; a run killed mid-way resumes
to the same results."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def alkit(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "alkit", *args], capture_output=True, text=True,
                          cwd=REPO, env=env or os.environ.copy(), timeout=timeout)


@pytest.mark.parametrize("args, needle", [
    (["--strategies", "random,qbc"], "unknown strategy 'qbc'"),
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--initial", "1000", "--step", "500", "--cycles", "2"], "exceeds the pool"),
    (["--dataset", "cifar10", "--data-root", "/nonexistent/place"], "--download"),
    (["--augment", "fancy"], "fancy"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, args, needle):
    # In-process (fast); tests/test_bad_input.py covers every kind of bad input the same way.
    from alkit.cli import main

    assert main(["run", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "Traceback" not in err
    assert len(err.splitlines()) == 1, err


def test_unknown_notebook_and_preset():
    # A real process: exit status 2 and exactly one line on stderr.
    r = alkit("reproduce", "99_nothing")
    assert r.returncode == 2 and "unknown notebook" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = alkit("reproduce", "--preset", "huge", "00")
    assert r.returncode == 2 and "unknown preset" in r.stderr
    r = alkit("clicks", "--images", "0")
    assert r.returncode == 2 and r.stderr == "alkit: error: --images must be a positive integer, got 0\n"


RUN = ["run", "--dataset", "digits", "--strategies", "random,entropy", "--augment", "paper",
       "--initial", "20", "--step", "20", "--cycles", "3", "--trials", "1", "--epochs", "8", "--min-steps", "0"]


def test_run_writes_results_csv(tmp_path):
    r = alkit(*RUN, "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    for col in ("dataset", "augment", "strategy", "trial", "cycle", "n_labelled", "accuracy", "selected"):
        assert col in df.columns
    assert len(df) == 2 * 4 and sorted(df.n_labelled.unique()) == [20, 40, 60, 80]
    assert df.accuracy.between(0, 1).all()


def saved_cycles(root) -> int:
    """Cycle files under ``root`` while a run may be creating and removing folders there (``os.walk``
    skips a folder that vanishes between listing and reading; ``Path.rglob`` raises: the run's
    writability check makes and removes ``runs`` itself when it had to create it)."""
    return sum(f.startswith("cycle") and f.endswith(".json") for _, _, files in os.walk(root) for f in files)


def test_killed_run_resumes_to_the_same_results(tmp_path):
    env = os.environ.copy()
    env["ALKIT_OUTPUTS"] = str(tmp_path / "killed")
    ref_env = os.environ.copy()
    ref_env["ALKIT_OUTPUTS"] = str(tmp_path / "reference")
    ref = alkit(*RUN, "--out", str(tmp_path / "ref"), env=ref_env)
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen([sys.executable, "-m", "alkit", *RUN, "--out", str(tmp_path / "k")], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = tmp_path / "killed" / "runs"
    deadline = time.time() + 240
    while time.time() < deadline and saved_cycles(runs) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_saved = saved_cycles(runs)
    assert 2 <= n_saved < 8, "the kill should land mid-run"
    again = alkit(*RUN, "--out", str(tmp_path / "k"), env=env)
    assert again.returncode == 0, again.stderr
    a = pd.read_csv(tmp_path / "ref" / "results.csv").drop(columns="seconds")
    b = pd.read_csv(tmp_path / "k" / "results.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)


def test_notebook_kernels_talk_over_unix_sockets_without_the_tcp_warning(tmp_path, capfd):
    """``alkit reproduce`` runs each notebook's kernel over IPC: no TCP port, and no "Kernel is
    running over TCP without encryption" warning per notebook."""
    import nbformat

    from alkit.experiments.reproduce import run_notebook

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print(x + 1)")]
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    out = run_notebook(path, output_dir=tmp_path / "out", progress=False, parameters={"x": 41})
    assert nbformat.read(out, 4).cells[-1].outputs[0]["text"] == "42\n"
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out


def test_clicks_measures_a_camvid_folder_with_its_void_label(tmp_path, capsys):
    """``alkit clicks --dataset FOLDER --ignore-index 11``: CamVid as it ships (void id 11) is
    measured by the command that measures annotation cost."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_seg_folder_layouts import camvid

    from alkit import cli

    root = camvid(tmp_path / "CamVid")
    assert cli.main(["clicks", "--dataset", str(root), "--ignore-index", "11", "--images", "3",
                     "--tolerance", "1,4"]) == 0
    out = capsys.readouterr().out
    assert "tolerance" in out.lower() and len(out.strip().splitlines()) == 3, out
    assert cli.main(["clicks", "--ignore-index", "11"]) == 2
    assert "--ignore-index does not apply to shapes" in capsys.readouterr().err
