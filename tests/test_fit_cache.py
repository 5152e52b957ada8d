"""Trainings shared between the strategies of a run (alkit.tasks.fit_cache): the records are
exactly those of training every network again, each shared network is trained once, the cache
folder is gone after the run, and a cache file is data only."""

import contextlib
import pickle

import numpy as np
import pytest
import pandas as pd
import torch

import alkit.experiments.config as config
from alkit.experiments.config import Experiment, run
from alkit.tasks.classification import ClassificationTask
from alkit.tasks.fit_cache import FitCache
from alkit.tasks.segmentation import SegmentationTask
from task_settings import seg_recipe


def _counting(monkeypatch, cls):
    """A list that gets one entry per network trained: a task's ``_train_fresh`` calls, and each
    member of a stacked training (``alkit.engine.train.stacked.train_stacked_supervised``)."""
    from alkit.engine.train import stacked

    calls = []
    fresh, together = cls._train_fresh, stacked.train_stacked_supervised

    def counted(self, labelled, seed, *args, **kwargs):
        calls.append((len(labelled), seed))
        return fresh(self, labelled, seed, *args, **kwargs)

    def counted_stack(models, data, labelled, **kwargs):
        calls.extend((len(labelled), s) for s in kwargs["seeds"])
        return together(models, data, labelled, **kwargs)

    monkeypatch.setattr(cls, "_train_fresh", counted)
    monkeypatch.setattr(stacked, "train_stacked_supervised", counted_stack)
    return calls


def _without_cache(monkeypatch):
    monkeypatch.setattr(config, "shared_fits", lambda *a, **k: contextlib.nullcontext())


def _strip(df):
    return df.drop(columns="seconds").reset_index(drop=True)


@pytest.mark.parametrize("stacked", [False, True])
def test_classification_strategies_share_cycle_zero_and_records_are_unchanged(tmp_path, monkeypatch, stacked):
    from alkit.engine.train import common

    monkeypatch.setattr(common, "STACKED_MEMBERS", stacked)
    exp = Experiment(strategies=("random", "entropy", "coreset", "ens-varr", "ll"), initial=20, step=10, cycles=1,
                     trials=1, epochs=1, min_steps=5, ensemble_size=2, seed=4, workers=1)
    calls = _counting(monkeypatch, ClassificationTask)
    shared = run(exp, store_root=tmp_path / "shared", progress=False, with_selected=True)
    # cycle 0: one network for Random, Entropy, Core-Set and ENS-varR's first member,
    # ENS-varR's second member, Learning Loss; cycle 1: 1 + 1 + 1 + 2 + 1 (every labelled set differs).
    # Stacked or not alike: a stacked network is the same bit for bit however it was stacked, so
    # ENS-varR's first member is Random's network either way.
    assert len(calls) == 3 + 6
    assert not list((tmp_path / "shared").glob(".fits-*"))  # the run's cache folder is removed
    calls.clear()
    with monkeypatch.context() as m:
        _without_cache(m)
        alone = run(exp, store_root=tmp_path / "alone", progress=False, with_selected=True)
    assert len(calls) == 2 * (1 + 1 + 1 + 2 + 1)
    pd.testing.assert_frame_equal(_strip(shared), _strip(alone))


def test_s4gan_random_and_d_score_share_cycle_zero(tmp_path, monkeypatch):
    exp = Experiment(dataset="shapes", ssl="s4gan", strategies=("random", "d-score"), trials=1, cycles=1,
                     iterations=2, initial=300, step=300, data_options=dict(n_train=60, n_val=16), workers=1)
    calls = _counting(monkeypatch, SegmentationTask)
    shared = run(exp, store_root=tmp_path / "shared", progress=False, with_selected=True)
    assert len(calls) == 3  # cycle 0 once (generator and discriminator), cycle 1 per strategy
    calls.clear()
    with monkeypatch.context() as m:
        _without_cache(m)
        alone = run(exp, store_root=tmp_path / "alone", progress=False, with_selected=True)
    assert len(calls) == 4
    pd.testing.assert_frame_equal(_strip(shared), _strip(alone))


def test_runs_share_through_one_folder_only_trainings_on_the_same_masks(tmp_path, monkeypatch):
    """`alkit reproduce` gives every run one fit-cache folder ($ALKIT_FIT_CACHE): an image-level and a
    polygon-level run differ in their store keys but train the same cycle-0 network (whole images of
    the same initial set), which is trained once; their cycle-1 trainings read different masks and are
    both trained. The records are those of separate runs, and the given folder is left in place."""
    from alkit.tasks.polygon_segmentation import PolygonSegmentationTask

    common = dict(dataset="shapes", strategies=("random",), trials=1, cycles=1, epochs=1, initial=300, step=300,
                  data_options=dict(n_train=60, n_val=16), workers=1)
    image = Experiment(**common)
    polygon = Experiment(**common, labeling="polygon", polygon_strategy="random")
    calls = _counting(monkeypatch, SegmentationTask)
    folder = tmp_path / "fits"
    monkeypatch.setenv(config.FIT_CACHE_ENV, str(folder))
    shared = [run(e, store_root=tmp_path / "shared", progress=False) for e in (image, polygon)]
    assert issubclass(PolygonSegmentationTask, SegmentationTask)
    assert len(calls) == 3  # cycle 0 once for both runs, cycle 1 once each
    assert folder.is_dir() and list(folder.glob("*.pt"))
    monkeypatch.delenv(config.FIT_CACHE_ENV)
    calls.clear()
    with monkeypatch.context() as m:
        _without_cache(m)
        alone = [run(e, store_root=tmp_path / "alone", progress=False) for e in (image, polygon)]
    assert len(calls) == 4
    for a, b in zip(shared, alone):
        pd.testing.assert_frame_equal(_strip(a), _strip(b))


def test_the_targets_digest_follows_the_masks():
    from alkit.engine.data import load_dataset

    task = SegmentationTask(load_dataset("shapes", n_train=12, n_val=4), recipe=seg_recipe(epochs=1))
    lab = np.array([3, 1, 5])
    assert task.targets_digest(lab) == task.targets_digest(lab[::-1])  # a set, not a sequence
    before = task.targets_digest(lab)
    task.approx_masks[1][0, 0] = (int(task.approx_masks[1][0, 0]) + 1) % 3
    assert task.targets_digest(lab) != before
    assert task.targets_digest(np.array([0, 2])) == task.targets_digest(np.array([2, 0]))


def test_cache_keys_and_unreadable_files(tmp_path):
    cache = FitCache(tmp_path, "settings-a")
    lab = np.array([5, 1, 3])
    state = {"model": {"w": torch.arange(3.0)}}
    cache.save(lab, 7, state)
    assert torch.equal(cache.load(np.array([1, 3, 5]), 7)["model"]["w"], torch.arange(3.0))  # any order
    assert cache.load(lab, 8) is None and cache.load(lab[:2], 7) is None
    assert FitCache(tmp_path, "settings-b").load(lab, 7) is None
    cache.path(lab, 7).write_bytes(b"not a torch file")
    assert cache.load(lab, 7) is None  # trained again, not an error


class _Evil:
    def __reduce__(self):
        return (open, ("/tmp/alkit-fit-cache-pwned", "w"))


def test_a_cache_file_never_runs_code(tmp_path):
    import os

    cache = FitCache(tmp_path, "s")
    target = "/tmp/alkit-fit-cache-pwned"
    if os.path.exists(target):
        os.unlink(target)
    cache.path(np.arange(3), 0).write_bytes(pickle.dumps({"model": _Evil()}))
    assert cache.load(np.arange(3), 0) is None
    assert not os.path.exists(target)
