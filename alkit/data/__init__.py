"""Datasets: the embedded default (``digits``) and the paper's CIFAR-10/100.

Segmentation datasets (``shapes``, ``voc``, generic folders) live in ``alkit.data.shapes``,
``alkit.data.voc`` and ``alkit.data.seg_folder``.
"""

from __future__ import annotations

from .base import ImageDataset, channel_stats, normalize
from .cifar import DatasetCorrupt, DatasetNotFound, load_cifar

CLASSIFICATION_DATASETS = ("digits", "cifar10", "cifar100")


def load_dataset(name: str, root=None, download: bool = False) -> ImageDataset:
    """Load a classification dataset by name (``digits``, ``cifar10``, ``cifar100``).

    ``root`` (or ``$ALKIT_DATA``, default ``~/.alkit/data``) is where CIFAR folders live;
    ``download=True`` fetches a missing CIFAR folder through torchvision.
    """
    from ..paths import data_root

    if name == "digits":
        from .digits import load_digits

        return load_digits()
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, data_root(root), download=download)
    from ..checks import did_you_mean

    raise ValueError(f"unknown dataset {name!r}{did_you_mean(name, CLASSIFICATION_DATASETS)}; "
                     f"choose from {', '.join(CLASSIFICATION_DATASETS)}")


__all__ = ["ImageDataset", "normalize", "channel_stats", "load_dataset", "DatasetNotFound", "DatasetCorrupt",
           "CLASSIFICATION_DATASETS"]
