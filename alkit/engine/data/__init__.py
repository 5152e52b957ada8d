"""Datasets, held in memory as tensors: the embedded defaults (``digits`` for classification,
``shapes`` for segmentation), the paper's CIFAR-10/100 and PASCAL VOC 2012, and any folder of
images + index-mask PNGs. :func:`load_dataset` loads any of them by name; :func:`dataset_kind`
tells which task a name belongs to.
"""

from __future__ import annotations

from pathlib import Path

from alkit.engine.data.base import ImageDataset, channel_stats, normalize
from alkit.engine.data.cifar import DatasetCorrupt, DatasetNotFound, load_cifar
from alkit.engine.data.seg_folder import SegmentationDataset

CLASSIFICATION_DATASETS = ("digits", "cifar10", "cifar100")
SEGMENTATION_DATASETS = ("shapes", "voc")


def dataset_kind(name) -> str:
    """``"classification"`` or ``"segmentation"`` for a dataset name, folder path or loaded dataset.

    A name that reads as a path (a separator, or starting with ``.``/``~``) or an existing folder
    is a segmentation folder, whether or not it exists (loading then says "folder not found")."""
    from alkit.checks import looks_like_path

    if isinstance(name, ImageDataset) or name in CLASSIFICATION_DATASETS:
        return "classification"
    if isinstance(name, SegmentationDataset) or name in SEGMENTATION_DATASETS:
        return "segmentation"
    if looks_like_path(str(name)) or Path(str(name)).expanduser().is_dir():
        return "segmentation"
    from alkit.checks import did_you_mean

    known = CLASSIFICATION_DATASETS + SEGMENTATION_DATASETS
    raise ValueError(f"unknown dataset {name!r}{did_you_mean(str(name), known)}; "
                     f"choose from {', '.join(known)}, or a folder path")


def load_dataset(name, root=None, download: bool = False, **options):
    """Load a dataset by name: an :class:`ImageDataset` for ``digits``/``cifar10``/``cifar100``, a
    :class:`SegmentationDataset` for ``shapes`` (options: n_train, n_val, size, seed), ``voc``
    (options: max_train, max_val, prefer_aug; read from ``<root>/VOCdevkit``) or a folder path
    (options of :func:`alkit.engine.data.seg_folder.load_seg_folder`). A loaded dataset is
    returned as it is.

    ``root`` (or ``$ALKIT_DATA``, default ``~/.alkit/data``) is where the paper's datasets live;
    ``download=True`` fetches a missing CIFAR/VOC folder through torchvision.
    """
    from alkit.paths import data_root

    if isinstance(name, (ImageDataset, SegmentationDataset)):
        return name
    kind = dataset_kind(name)
    if kind == "classification" and options:
        raise ValueError(f"options {sorted(options)} do not apply to the classification dataset {name!r}")
    if name == "digits":
        from alkit.engine.data.digits import load_digits

        return load_digits()
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, data_root(root), download=download)
    if name == "shapes":
        from alkit.engine.data.shapes import load_shapes

        return load_shapes(**options)
    if name == "voc":
        from alkit.engine.data.voc import load_voc

        return load_voc(data_root(root), download=download, **options)
    from alkit.engine.data.seg_folder import load_seg_folder

    return load_seg_folder(name, **options)  # "folder not found: <name>" when it does not exist


__all__ = ["ImageDataset", "SegmentationDataset", "normalize", "channel_stats", "load_dataset", "dataset_kind",
           "DatasetNotFound", "DatasetCorrupt", "CLASSIFICATION_DATASETS", "SEGMENTATION_DATASETS"]
