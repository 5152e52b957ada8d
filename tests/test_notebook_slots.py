"""`alkit reproduce` executes the notebooks side by side (alkit.experiments.reproduce.run_notebooks):
every executed copy comes back in the notebooks' order, the notebooks that compute runs themselves
start first, and one failing notebook stops the others instead of leaving them running."""

from __future__ import annotations

import time
from types import SimpleNamespace

import nbformat
import pytest


def write_notebook(path, source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def no_runs():
    return SimpleNamespace(runs=[])


def test_notebooks_side_by_side_come_back_in_order(tmp_path):
    from alkit.experiments.reproduce import run_notebooks

    a = write_notebook(tmp_path / "11_a.ipynb", "a = 1")
    b = write_notebook(tmp_path / "12_b.ipynb", "b = 2")
    outs = run_notebooks([a, b], [no_runs(), no_runs()], "default", tmp_path / "out", slots=2)
    assert outs == [tmp_path / "out" / "11_a.ipynb", tmp_path / "out" / "12_b.ipynb"]
    assert all(p.exists() for p in outs)


def test_a_notebook_that_computes_its_own_runs_starts_first(monkeypatch):
    from alkit.experiments import prefetch, reproduce

    monkeypatch.setattr(prefetch, "left_to_notebook", lambda p: p.left)
    plans = [SimpleNamespace(left=0), SimpleNamespace(left=0), SimpleNamespace(left=3), SimpleNamespace(left=1)]
    assert reproduce.notebook_order(["00", "01", "08", "09"], plans) == [2, 3, 0, 1]


def test_one_failing_notebook_stops_the_one_beside_it(tmp_path):
    from papermill.exceptions import PapermillExecutionError

    from alkit.experiments.reproduce import run_notebooks

    slow = write_notebook(tmp_path / "11_slow.ipynb", "import time\ntime.sleep(300)")
    bad = write_notebook(tmp_path / "12_bad.ipynb", "raise ValueError('boom')")
    t0 = time.perf_counter()
    with pytest.raises(PapermillExecutionError, match="boom"):
        run_notebooks([slow, bad], [no_runs(), no_runs()], "default", tmp_path / "out", slots=2)
    # the slow notebook's kernel was killed, not waited for (it would sleep 300 s)
    assert time.perf_counter() - t0 < 200
    assert (tmp_path / "out" / "11_slow.failed.ipynb").exists()
    assert not (tmp_path / "out" / "11_slow.ipynb").exists()


def test_side_by_side_kernels_train_on_one_thread(tmp_path, monkeypatch):
    """Two notebooks side by side: each kernel starts with OMP_NUM_THREADS=1 (a kernel training with
    one thread per core beside another notebook's workers was 40x slower), and it is restored after."""
    from alkit.experiments.reproduce import run_notebooks

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    check = "import os\nassert os.environ.get('OMP_NUM_THREADS') == '1', os.environ.get('OMP_NUM_THREADS')"
    a = write_notebook(tmp_path / "11_a.ipynb", check)
    b = write_notebook(tmp_path / "12_b.ipynb", check)
    run_notebooks([a, b], [no_runs(), no_runs()], "default", tmp_path / "out", slots=2)
    import os

    assert "OMP_NUM_THREADS" not in os.environ
