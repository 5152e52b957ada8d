"""The results store cannot lie: keyed by data and recipe, every cached cycle validated (a bad one
is reported, set aside and recomputed with the cycles after it), and every output written
atomically (no half files, no temp files of dead writers left behind)."""

import inspect
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from alkit import io as alkit_io
from alkit.experiments import fingerprint, store as results; from alkit.protocol import pool
from alkit.protocol.loop import run_trial
from alkit.experiments.store import (RunStore, atomic_open, atomic_write_bytes, atomic_write_csv, atomic_write_json,
                           atomic_write_text, clean_orphans, temp_path)

POOL = 60
KW = dict(initial=9, step=6, cycles=4, trial=0, seed=7)
# the lead passes ``metric`` through run_trial to load_cycle; older loops do not take it
LOOP_KW = {"metric": "accuracy"} if "metric" in inspect.signature(run_trial).parameters else {}


class FakeTask:
    """Pool of POOL unit-cost items; 'training' memorises the labelled set (fits are counted)."""

    name = "fake"

    def __init__(self):
        self.fits = 0
        self.labels = np.arange(POOL) % 3

    def pool_costs(self):
        return np.ones(POOL)

    def initial_order(self, rng):
        return pool.class_balanced_order(self.labels, rng)

    def fit(self, labelled, seed, strategy):
        self.fits += 1
        return {"labelled": np.array(labelled), "seed": seed}

    def evaluate(self, learner):
        return {"accuracy": float(len(learner["labelled"]) / POOL + (learner["seed"] % 1000) * 1e-6)}

    def rank(self, learner, strategy, labelled, unlabelled, budget, rng):
        return rng.permutation(unlabelled)


def strip(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def cfg(**over):
    return {"dataset": "fake", "strategy": "random", "data": "0123456789abcdef", **over}


# --- the key -----------------------------------------------------------------------------------


def test_key_depends_on_data_fingerprint(tmp_path):
    a = RunStore(tmp_path, cfg(data="aaaaaaaaaaaaaaaa"))
    b = RunStore(tmp_path, cfg(data="bbbbbbbbbbbbbbbb"))
    assert a.key != b.key and a.dir != b.dir
    assert RunStore(tmp_path, cfg(data="aaaaaaaaaaaaaaaa")).dir == a.dir


def test_key_depends_on_recipe_version(tmp_path, monkeypatch):
    a = RunStore(tmp_path, cfg())
    assert json.loads((a.dir / "config.json").read_text())["recipe_version"] == fingerprint.RECIPE_VERSION
    monkeypatch.setattr(fingerprint, "RECIPE_VERSION", fingerprint.RECIPE_VERSION + 1)
    b = RunStore(tmp_path, cfg())
    assert b.key != a.key
    saved = json.loads((b.dir / "config.json").read_text())
    assert saved == {**cfg(), "recipe_version": fingerprint.RECIPE_VERSION}


def test_config_without_data_fingerprint_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"store config needs the data fingerprint \('data'\)"):
        RunStore(tmp_path, {"dataset": "fake", "strategy": "random"})


def test_recipe_version_is_an_int():
    assert isinstance(fingerprint.RECIPE_VERSION, int)


# --- validation of cached cycles ---------------------------------------------------------------


def corrupt_truncated(p):
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])


def corrupt_not_json(p):
    p.write_text("this is not json\n")


def corrupt_empty(p):
    p.write_text("")


def edit(fn):
    def corrupt(p):
        blob = json.loads(p.read_text())
        fn(blob)
        p.write_text(json.dumps(blob))
    return corrupt


CORRUPTIONS = {
    "truncated": (corrupt_truncated, "invalid JSON"),
    "not_json": (corrupt_not_json, "invalid JSON"),
    "empty": (corrupt_empty, "empty file"),
    "missing_key": (edit(lambda b: b.pop("queried")), "missing key 'queried'"),
    "missing_metric": (edit(lambda b: b["record"].pop("accuracy")), "record has no 'accuracy'"),
    "nan_metric": (edit(lambda b: b["record"].update(accuracy=float("nan"))), "accuracy is NaN"),
    "inf_metric": (edit(lambda b: b["record"].update(accuracy=float("inf"))), "accuracy is infinite"),
    "metric_above_range": (edit(lambda b: b["record"].update(accuracy=7.0)), "accuracy is 7.0, outside its range [0, 1]"),
    "metric_below_range": (edit(lambda b: b["record"].update(accuracy=-0.1)), "outside its range"),
    "pool_size": (edit(lambda b: b["labelled_at"].append(-1)), f"the pool has {POOL}"),
    "out_of_range": (edit(lambda b: b["queried"].__setitem__(0, POOL)), "out of range"),
    "negative_index": (edit(lambda b: b["queried"].__setitem__(0, -1)), "out of range"),
    "duplicate": (edit(lambda b: b["queried"].__setitem__(1, b["queried"][0])), "duplicate"),
    "wrong_trial": (edit(lambda b: b["record"].update(trial=1)), "trial 1, expected 0"),
    "wrong_cycle": (edit(lambda b: b["record"].update(cycle=3)), "cycle 3, expected 2"),
    "labelled_value": (edit(lambda b: b["labelled_at"].__setitem__(0, 7)), "outside [-1, 3]"),
    "float_value": (edit(lambda b: b["labelled_at"].__setitem__(0, 0.5)), "non-integer"),
    "queried_not_marked": (edit(lambda b: b["labelled_at"].__setitem__(b["queried"][0], -1)), "queried differs"),
    "n_labelled": (edit(lambda b: b["record"].update(n_labelled=b["record"]["n_labelled"] + 1)), "n_labelled"),
    "record_not_object": (edit(lambda b: b.update(record=[1, 2])), "record is not an object"),
}


@pytest.fixture
def filled(tmp_path):
    """A store holding a finished 5-cycle trial, and that trial's records."""
    store = RunStore(tmp_path / "runs", cfg())
    recs = run_trial(FakeTask(), "random", store=store, **KW, **LOOP_KW)
    return store, recs


def test_valid_cycles_load_silently(filled, capsys):
    store, recs = filled
    for c in range(5):
        rec, lab, q = store.load_cycle(0, c, pool_size=POOL, metric="accuracy")
        assert rec == recs[c] and lab.dtype == np.int64 and len(lab) == POOL
        assert q.tolist() == (recs[c + 1]["selected"] if c < 4 else [])
    assert store.load_cycle(0, 5, pool_size=POOL, metric="accuracy") is None  # missing: silent
    assert store.load_cycle(3, 0, pool_size=POOL, metric="accuracy") is None
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_cycle_reported_moved_aside_and_recomputed(filled, capsys, kind):
    store, recs = filled
    corrupt, reason = CORRUPTIONS[kind]
    path = store.dir / "trial0" / "cycle02.json"
    corrupt(path)
    capsys.readouterr()

    assert store.load_cycle(0, 2, pool_size=POOL, metric="accuracy") is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # exactly one line
    assert err.startswith(f"alkit: ignoring corrupt cache file {path} (") and reason in err, err
    assert f"moved to {path}.bad" in err and "recomputing" in err
    assert not path.exists() and (store.dir / "trial0" / "cycle02.json.bad").exists()
    assert store.load_cycle(0, 1, pool_size=POOL, metric="accuracy") is not None  # neighbours untouched

    if kind in ("nan_metric", "inf_metric", "missing_metric", "pool_size") and not LOOP_KW:
        return  # an old loop cannot pass pool_size/metric; the direct check above still ran
    task = FakeTask()
    again = run_trial(task, "random", store=store, **KW, **LOOP_KW)
    assert task.fits == 3  # cycles 2, 3, 4 recomputed; 0 and 1 reused
    assert strip(again) == strip(recs)
    assert store.load_cycle(0, 2, pool_size=POOL, metric="accuracy")[0] == again[2]
    assert "ignoring" not in capsys.readouterr().err  # the recomputed file is valid


def test_loop_recomputes_from_the_bad_cycle_on(filled, capsys):
    store, recs = filled
    (store.dir / "trial0" / "cycle03.json").write_text('{"record": {"trial": 0')
    task = FakeTask()
    again = run_trial(task, "random", store=store, **KW, **LOOP_KW)
    assert task.fits == 2 and strip(again) == strip(recs)
    assert capsys.readouterr().err.count("alkit: ignoring corrupt cache file") == 1


def test_bad_names_get_numeric_suffixes(filled, capsys):
    store, _ = filled
    path = store.dir / "trial0" / "cycle01.json"
    for i in range(3):
        path.write_text("garbage")
        assert store.load_cycle(0, 1, pool_size=POOL, metric="accuracy") is None
    names = sorted(p.name for p in path.parent.glob("cycle01.json.bad*"))
    assert names == ["cycle01.json.bad", "cycle01.json.bad.1", "cycle01.json.bad.2"]
    assert capsys.readouterr().err.count("\n") == 3


def test_checks_without_pool_size_and_metric_still_validate_the_rest(filled, capsys):
    store, _ = filled
    path = store.dir / "trial0" / "cycle00.json"
    edit(lambda b: b["record"].update(cycle=1))(path)
    assert store.load_cycle(0, 0) is None
    assert "cycle 1, expected 0" in capsys.readouterr().err


# --- atomic writes and orphaned temp files -------------------------------------------------------


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_writers_round_trip(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": [1, 2]})
    atomic_write_text(tmp_path / "b.txt", "héllo\n")
    atomic_write_bytes(tmp_path / "c.bin", b"\x00\x01")
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    atomic_write_csv(df, tmp_path / "d.csv", index=False)
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": [1, 2]}
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\x01"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "d.csv"), df)
    assert leftovers(tmp_path) == ["a.json", "b.txt", "c.bin", "d.csv"]


def test_temp_name_has_pid_and_lives_next_to_target(tmp_path):
    t = temp_path(tmp_path / "x.json")
    assert t.parent == tmp_path and t.name.startswith(".x.json.") and t.name.endswith(".tmp")
    assert f".{os.getpid()}." in t.name
    assert temp_path(tmp_path / "x.json") != t


def test_csv_crash_mid_write_leaves_nothing(tmp_path, monkeypatch):
    df = pd.DataFrame({"a": range(100)})

    def half_then_crash(f, **kw):
        f.write("a\n0\n1\n2\n")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(df, "to_csv", half_then_crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write_csv(df, tmp_path / "results.csv", index=False)
    assert leftovers(tmp_path) == []  # no final file, no temp file


def test_interrupted_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "cycle00.json"
    atomic_write_json(target, {"old": True})
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target, "w") as f:
            f.write('{"new": ')
            raise KeyboardInterrupt
    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})  # fails half-way through json.dump
    assert json.loads(target.read_text()) == {"old": True}
    assert leftovers(tmp_path) == ["cycle00.json"]


def dead_pid():
    p = subprocess.Popen(["sleep", "0"])
    p.wait()
    try:
        os.kill(p.pid, 0)
    except ProcessLookupError:
        return p.pid
    pytest.skip("the finished child's PID was reused already")


def fake_tmp(folder, name, pid, host=None):
    p = folder / f".{name}.{pid}.{host or alkit_io._HOST}.abc123.tmp"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("partial")
    return p


def test_clean_orphans_removes_dead_writers_only(tmp_path):
    pid = dead_pid()
    dead = fake_tmp(tmp_path / "trial0", "cycle01.json", pid)
    live = fake_tmp(tmp_path / "trial0", "cycle02.json", os.getpid())
    other_host = fake_tmp(tmp_path, "cycle03.json", pid, host="some-other-node")
    unknown = tmp_path / "cycle04.jsonXYZ.tmp"  # not our naming: never touched
    unknown.write_text("?")
    assert clean_orphans(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and other_host.exists() and unknown.exists()
    assert clean_orphans(tmp_path / "missing") == []


def test_store_cleans_its_orphans_on_open(tmp_path):
    store = RunStore(tmp_path, cfg())
    dead = fake_tmp(store.dir / "trial0", "cycle00.json", dead_pid())
    live = fake_tmp(store.dir / "trial0", "cycle01.json", os.getpid())
    RunStore(tmp_path, cfg())
    assert not dead.exists() and live.exists()


def test_parallel_writer_processes_do_not_disturb_each_other(tmp_path):
    """Another live process's temp file survives a store opened next to it."""
    store = RunStore(tmp_path, cfg())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = fake_tmp(store.dir / "trial1", "cycle00.json", child.pid)
        RunStore(tmp_path, cfg())
        assert busy.exists()
    finally:
        child.kill()
        child.wait()
    RunStore(tmp_path, cfg())
    assert not busy.exists()


# --- figures and notebooks -----------------------------------------------------------------------


def test_savefig_writes_png_and_pdf_atomically(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from alkit.analysis.plots import savefig

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = savefig(fig, "curve", tmp_path)
    assert png == tmp_path / "curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "curve.pdf").read_bytes()[:5] == b"%PDF-"
    assert leftovers(tmp_path) == ["curve.pdf", "curve.png"]
    before = png.read_bytes()

    def crash(f, **kw):
        f.write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(fig, "savefig", crash)
    with pytest.raises(KeyboardInterrupt):
        savefig(fig, "curve", tmp_path)
    assert png.read_bytes() == before and leftovers(tmp_path) == ["curve.pdf", "curve.png"]
    plt.close(fig)


def write_notebook(path, source):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_run_notebook_renames_only_on_success(tmp_path):
    from papermill.exceptions import PapermillExecutionError

    from alkit.experiments.reproduce import run_notebook

    out_dir = tmp_path / "nb"
    bad = write_notebook(tmp_path / "99_bad.ipynb", "x = 1\nraise ValueError('boom')")
    with pytest.raises(PapermillExecutionError):
        run_notebook(bad, output_dir=out_dir)
    assert leftovers(out_dir) == ["99_bad.failed.ipynb"]  # no complete-looking 99_bad.ipynb
    assert "boom" in (out_dir / "99_bad.failed.ipynb").read_text()

    good = write_notebook(tmp_path / "99_bad.ipynb", "x = 1")
    out = run_notebook(good, output_dir=out_dir)
    assert out == out_dir / "99_bad.ipynb" and leftovers(out_dir) == ["99_bad.ipynb"]
    assert json.loads(out.read_text())["cells"][0]["outputs"] == []
    # the executed copy says which preset and which commit made it (the book prints both)
    meta = json.loads(out.read_text())["metadata"]["alkit"]
    assert meta["preset"] == "default" and meta["commit"]
