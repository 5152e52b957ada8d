"""A notebook whose cell gives no reply (a lost kernel message: the kernel idle, the client waiting) is
run once more with a fresh kernel; a second hang fails the run and keeps the partial copy."""

import json

import papermill
import pytest
from nbclient.exceptions import CellTimeoutError

from alkit.experiments import reproduce as R


def _fake(outcomes, calls):
    def execute_notebook(src, out, **kw):
        calls.append(kw["execution_timeout"])
        with open(out, "w") as f:
            json.dump({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, f)
        outcome = outcomes.pop(0)
        if outcome == "hang":
            raise CellTimeoutError("A cell timed out while it was being executed, after 300 seconds.")
    return execute_notebook


def test_a_hung_cell_is_run_again_once(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", _fake(["hang", "ok"], calls))
    out = R.run_notebook("05", "smoke", tmp_path)
    assert out.exists() and out.name == "05_annotation_cost.smoke.ipynb"
    assert calls == [R.SMOKE_CELL_TIMEOUT_S, R.SMOKE_CELL_TIMEOUT_S]
    assert "running the notebook once more" in capsys.readouterr().out


def test_a_second_hang_fails_and_keeps_the_partial_copy(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", _fake(["hang", "hang"], calls))
    with pytest.raises(TimeoutError):
        R.run_notebook("05", "smoke", tmp_path)
    assert len(calls) == 2
    assert (tmp_path / "05_annotation_cost.smoke.failed.ipynb").exists()
    assert not (tmp_path / "05_annotation_cost.smoke.ipynb").exists()


def test_cell_limits_per_preset():
    assert R.CELL_TIMEOUTS == {"smoke": R.SMOKE_CELL_TIMEOUT_S, "default": R.DEFAULT_CELL_TIMEOUT_S, "paper": None}


def test_the_kernel_starts_in_the_notebooks_folder_without_moving_this_process(tmp_path):
    import os

    import nbformat

    folder = tmp_path / "nbs"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(os.getcwd())")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(folder / "where.ipynb"))
    before = os.getcwd()
    out = R.run_notebook(folder / "where.ipynb", "default", tmp_path / "out")
    assert os.getcwd() == before
    printed = nbformat.read(str(out), as_version=4).cells[0].outputs[0]["text"].strip()
    assert os.path.realpath(printed) == os.path.realpath(folder)
