"""Datasets: the embedded digits and CIFAR folders fabricated in the real pickle format."""

import pickle

import numpy as np
import pytest
import torch

from alkit.engine.data import DatasetNotFound, load_dataset
from alkit.engine.data.digits import load_digits


def test_digits_fixed_stratified_split():
    d = load_dataset("digits")
    assert d.train_x.dtype == torch.uint8 and d.train_x.shape[1:] == (1, 8, 8)
    assert len(d.train_x) + len(d.test_x) == 1797
    assert (len(d.train_x), len(d.test_x)) == (1257, 540)  # TEST_FRACTION 0.3
    for y, n in ((d.train_y, 1257), (d.test_y, 540)):  # stratified: each class ~10 % of either side
        counts = np.bincount(y.numpy(), minlength=10)
        assert abs(counts - n / 10).max() <= 0.015 * n
    half = load_digits(test_fraction=0.5)  # the split of benchmarks/bench_seed_noise.py
    assert (len(half.train_x), len(half.test_x)) == (898, 899)
    again = load_dataset("digits")
    assert torch.equal(d.test_x, again.test_x) and torch.equal(d.train_y, again.train_y)
    assert int(d.train_x.max()) == 255


def _write(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def fabricate_cifar10(root, per_batch=6):
    """Write a tiny cifar-10-batches-py folder in the real format (bytes keys, row-major CHW)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        _write(folder / name, {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                               b"filenames": [b"x.png"] * per_batch})
        batches[name] = (data, labels)
    _write(folder / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)],
                                     b"num_vis": 3072, b"num_cases_per_batch": per_batch})
    return batches


def test_fabricated_cifar10_reads_correctly(tmp_path):
    batches = fabricate_cifar10(tmp_path)
    d = load_dataset("cifar10", root=tmp_path)
    assert d.train_x.shape == (30, 3, 32, 32) and d.test_x.shape == (6, 3, 32, 32)
    assert d.train_x.dtype == torch.uint8 and d.classes[3] == "c3"
    data, labels = batches["data_batch_2"]
    # image 0 of batch 2 is pool item 6; channel 0 is the first 1024 bytes, row-major
    assert np.array_equal(d.train_x[6, 0].numpy().ravel(), data[0, :1024])
    assert np.array_equal(d.train_x[6, 2].numpy().ravel(), data[0, 2048:])
    assert d.train_y[6].item() == labels[0]
    assert np.array_equal(d.test_y.numpy(), np.asarray(batches["test_batch"][1]))


def test_fabricated_cifar100_reads_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("train", 8), ("test", 4)):
        _write(folder / name, {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                               b"fine_labels": list(range(90, 90 + n)), b"coarse_labels": [0] * n})
    _write(folder / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                             b"coarse_label_names": [b"c"] * 20})
    d = load_dataset("cifar100", root=tmp_path)
    assert d.num_classes == 100 and d.train_y.tolist() == list(range(90, 98))


def test_missing_cifar_folder_names_path_and_flag(tmp_path):
    with pytest.raises(DatasetNotFound) as e:
        load_dataset("cifar10", root=tmp_path / "nowhere")
    msg = str(e.value)
    assert "cifar-10-batches-py" in msg and "--download" in msg and "\n" not in msg


def test_data_root_from_environment(tmp_path, monkeypatch):
    fabricate_cifar10(tmp_path / "envroot")
    monkeypatch.setenv("ALKIT_DATA", str(tmp_path / "envroot"))
    assert len(load_dataset("cifar10").train_x) == 30


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist")
