"""CIFAR-10 and CIFAR-100 read from their standard python-pickle folders.

These are the folders torchvision downloads (``cifar-10-batches-py/`` and ``cifar-100-python/``)
under a data root. Reading does not go through torchvision (no md5 check), so a small folder
fabricated in the same format reads just as well. Download happens only when asked.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset

# Per-channel statistics of the CIFAR training sets (standard values).
CIFAR_MEAN = {"cifar10": (0.4914, 0.4822, 0.4465), "cifar100": (0.5071, 0.4865, 0.4409)}
CIFAR_STD = {"cifar10": (0.2470, 0.2435, 0.2616), "cifar100": (0.2673, 0.2564, 0.2762)}

_LAYOUT = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": ("batches.meta", "label_names"),
        "label_key": "labels",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": ("meta", "fine_label_names"),
        "label_key": "fine_labels",
    },
}


class DatasetNotFound(FileNotFoundError):
    """A dataset folder is missing; the message says where and how to get it."""


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _read_split(folder: Path, files: list[str], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for name in files:
        d = _unpickle(folder / name)
        xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(d[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def cifar_folder(name: str, root: Path) -> Path:
    """The folder a CIFAR dataset is read from under ``root``."""
    return Path(root) / _LAYOUT[name]["folder"]


def download_cifar(name: str, root: Path) -> None:
    """Download ``cifar10``/``cifar100`` through torchvision into ``root`` (needs internet)."""
    import torchvision

    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    Path(root).mkdir(parents=True, exist_ok=True)
    cls(root=str(root), train=True, download=True)


def load_cifar(name: str, root: Path, download: bool = False) -> ImageDataset:
    """Read CIFAR-10 or CIFAR-100 into uint8 tensors: pool ``[50000, 3, 32, 32]``, test ``[10000, ...]``.

    Raises :class:`DatasetNotFound` naming the folder and the ``--download`` flag when it is absent.
    """
    if name not in _LAYOUT:
        raise ValueError(f"unknown CIFAR variant {name!r}; use 'cifar10' or 'cifar100'")
    layout = _LAYOUT[name]
    folder = cifar_folder(name, root)
    if not folder.is_dir() and download:
        download_cifar(name, root)
    missing = [f for f in layout["train"] + layout["test"] + [layout["meta"][0]] if not (folder / f).exists()]
    if missing:
        raise DatasetNotFound(
            f"{name} not found: expected {folder} (missing {', '.join(missing[:3])}); "
            f"pass --download (or download=True) to fetch it, or set ALKIT_DATA / --data-root"
        )
    train_x, train_y = _read_split(folder, layout["train"], layout["label_key"])
    test_x, test_y = _read_split(folder, layout["test"], layout["label_key"])
    meta_file, meta_key = layout["meta"]
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in _unpickle(folder / meta_file)[meta_key]]
    return ImageDataset(
        name=name,
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        classes=classes,
        mean=CIFAR_MEAN[name],
        std=CIFAR_STD[name],
    )
