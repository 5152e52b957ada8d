"""CIFAR-10 and CIFAR-100 read from their standard python-pickle folders.

These are the folders torchvision downloads (``cifar-10-batches-py/`` and ``cifar-100-python/``)
under a data root. Reading does not go through torchvision (no md5 check), so a small folder
fabricated in the same format reads just as well. Download happens only when asked.

The batches are Python pickles, and a plain ``pickle.load`` runs whatever a file asks it to (a
"CIFAR" folder from an untrusted mirror could execute commands). They are read with
:class:`SafeUnpickler`, which admits only what the real files contain: dicts, lists, bytes, str,
numbers and numpy arrays (their reconstructor, ``ndarray`` and ``dtype``); any other global is
refused with one line naming the file, before anything from it is called.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import numpy as np
import torch

from alkit.engine.data.base import ImageDataset

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


class DatasetCorrupt(ValueError):
    """A dataset file is empty, truncated, not in the expected format or has impossible labels; the
    message names the file."""


_REFETCH = "delete the folder and fetch it again (--download)"

# The only globals a real CIFAR batch (or one re-saved by numpy 1.x/2.x, protocols 2-5) refers to.
_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
_ALLOWED_GLOBALS = {("_codecs", "encode"), ("numpy", "ndarray"), ("numpy", "dtype")} | {
    (m, n) for m in _NUMPY_CORE for n in ("_reconstruct", "_frombuffer", "scalar")}


class UnsafePickle(pickle.UnpicklingError):
    """A pickle asked for a global that a CIFAR batch never holds (it could run code)."""


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`_ALLOWED_GLOBALS` (numpy arrays and dtypes,
    ``_codecs.encode`` for protocol-2 bytes); everything else raises :class:`UnsafePickle` before the
    global is imported, let alone called."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickle(f"refers to {module}.{name}, which a CIFAR batch never holds")
        if module.startswith("numpy.core"):  # numpy >= 2 keeps these in numpy._core (numpy.core warns)
            module = module.replace("numpy.core", "numpy._core", 1)
            try:
                return getattr(importlib.import_module(module), name)
            except ImportError:  # numpy 1.x
                module = module.replace("numpy._core", "numpy.core", 1)
        return getattr(importlib.import_module(module), name)


def _unpickle(path: Path) -> dict:
    """A CIFAR pickle as a dict with str keys; :class:`DatasetCorrupt` naming ``path`` if it is not one."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DatasetNotFound(f"cannot read {path}: {e.strerror or e}") from None
    if size == 0:
        raise DatasetCorrupt(f"{path} is empty; {_REFETCH}")
    try:
        with open(path, "rb") as f:
            raw = SafeUnpickler(f, encoding="bytes").load()
    except UnsafePickle as e:
        raise DatasetCorrupt(f"{path} is refused: it {e} (a pickle like this can run code when loaded); "
                             f"{_REFETCH} from a trusted source") from None
    except EOFError:
        raise DatasetCorrupt(f"{path} is truncated (ends inside the pickle); {_REFETCH}") from None
    except OSError as e:
        raise DatasetCorrupt(f"cannot read {path}: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - unpickling garbage raises almost anything
        what = "truncated" if "truncated" in str(e) else "not a CIFAR pickle"
        raise DatasetCorrupt(f"{path} is {what} ({type(e).__name__}: {e}); {_REFETCH}") from None
    if not isinstance(raw, dict):
        raise DatasetCorrupt(f"{path} is not a CIFAR pickle (holds a {type(raw).__name__}, not a dict); {_REFETCH}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _read_split(folder: Path, files: list[str], label_key: str,
                num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, 3, 32, 32]`` and labels ``[N]`` of the batch files; each file checked (keys,
    N x 3072 bytes of data, N labels in ``0 .. num_classes - 1``)."""
    xs, ys = [], []
    for name in files:
        path = folder / name
        d = _unpickle(path)
        for key in ("data", label_key):
            if key not in d:
                raise DatasetCorrupt(f"{path} has no {key!r} entry (keys: {', '.join(map(str, d))}); {_REFETCH}")
        try:
            data = np.asarray(d["data"])
            labels = np.asarray(d[label_key])
        except Exception as e:  # noqa: BLE001 - ragged or odd objects
            raise DatasetCorrupt(f"{path}: unreadable data or labels ({e}); {_REFETCH}") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
            raise DatasetCorrupt(f"{path}: 'data' must be N x 3072 bytes (32x32 RGB), got {data.dtype} "
                                 f"{tuple(data.shape)}; {_REFETCH}")
        if labels.ndim != 1 or len(labels) != len(data) or (len(labels) and labels.dtype.kind not in "iu"):
            raise DatasetCorrupt(f"{path}: {len(data)} images but {label_key!r} holds "
                                 f"{labels.dtype} {tuple(labels.shape)}; {_REFETCH}")
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            bad = labels[(labels < 0) | (labels >= num_classes)][0]
            raise DatasetCorrupt(f"{path}: label {int(bad)} outside the {num_classes} classes of the meta file "
                                 f"(0..{num_classes - 1}); {_REFETCH}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels.astype(np.int64))
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

    Raises :class:`DatasetNotFound` naming the folder and the ``--download`` flag when it is absent,
    :class:`DatasetCorrupt` naming the file when one is empty, truncated, not a CIFAR pickle, has
    data that is not N x 3072 bytes, a label count that differs from the image count, or labels
    outside the meta file's class list.
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
    meta_file, meta_key = layout["meta"]
    meta = _unpickle(folder / meta_file)
    if meta_key not in meta or not len(meta[meta_key]):
        raise DatasetCorrupt(f"{folder / meta_file} has no class names ({meta_key!r}); {_REFETCH}")
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta[meta_key]]
    train_x, train_y = _read_split(folder, layout["train"], layout["label_key"], len(classes))
    test_x, test_y = _read_split(folder, layout["test"], layout["label_key"], len(classes))
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
