"""Runs and notebooks on a Dask cluster given by its scheduler address (loopback only): the same
records as a run on this process, and a notebook's ``scheduler`` parameter takes that path."""

import json
import logging

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from alkit.experiments.config import Experiment, run  # noqa: E402
from alkit.experiments.runner import cluster_executor  # noqa: E402


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def test_no_address_means_local_workers():
    assert cluster_executor("") is None and cluster_executor(None) is None


def test_run_on_a_cluster_equals_a_local_run(scheduler, tmp_path):
    exp = Experiment(strategies=("random", "entropy"), initial=20, step=20, cycles=1, trials=2, epochs=2, min_steps=0, seed=1)
    local = run(exp, store_root=tmp_path / "local", progress=False, workers=1, with_selected=True)
    executor = cluster_executor(scheduler)
    try:
        remote = run(exp, store_root=tmp_path / "cluster", progress=False, executor=executor, with_selected=True)
    finally:
        executor.client.close()
    pd.testing.assert_frame_equal(local.drop(columns="seconds"), remote.drop(columns="seconds"))
    assert len(list((tmp_path / "cluster").rglob("cycle*.json"))) == len(remote)


def test_notebook_scheduler_parameter(scheduler, tmp_path, monkeypatch):
    from alkit.experiments.reproduce import run_notebook

    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path / "outputs"))
    out = run_notebook("00_quickstart", preset="smoke", output_dir=tmp_path / "nb", parameters={"scheduler": scheduler})
    nb = json.loads(out.read_text())
    assert not any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
    assert list((tmp_path / "outputs" / "runs").rglob("cycle*.json"))
