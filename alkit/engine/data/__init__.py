"""Datasets, held in memory as tensors: the embedded defaults (``digits`` for classification,
``shapes`` for segmentation), the paper's CIFAR-10/100 and PASCAL VOC 2012, and any folder of
images + index-mask PNGs. :func:`load_dataset` loads any of them by name; :func:`dataset_kind`
tells which task a name belongs to. Every named dataset is registered (:func:`register_dataset`),
the built-ins as a user's plug-in would be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alkit.checks import did_you_mean, looks_like_path
from alkit.engine.data.base import ImageDataset, channel_stats, normalize
from alkit.engine.data.cifar import DatasetCorrupt, DatasetNotFound, load_cifar
from alkit.engine.data.seg_folder import SegmentationDataset
from alkit.paths import data_root

KINDS = ("classification", "segmentation")


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: ``loader(root, download, **options)`` returns an :class:`ImageDataset`
    (classification) or a :class:`SegmentationDataset` (segmentation); ``recipe``: the built-in
    dataset whose training recipe and budget regimes it takes (alkit.experiments.recipes), or a
    dict of settings over the paper's recipe of its kind; ``model``: its default network (None: the
    kind's default); ``builtin``: shipped with alkit."""

    name: str
    loader: Callable
    kind: str
    recipe: str | dict | None = None
    model: str | None = None
    builtin: bool = False


_DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(name: str, loader: Callable, *, kind: str, recipe: str | dict | None = None,
                     model: str | None = None, builtin: bool = False) -> DatasetSpec:
    """Make ``name`` a dataset every entry point knows (``alkit run --dataset``, a grid, an
    ``Experiment``). ``loader(root, download, **options)``: ``root`` is the data folder
    (``--data-root``/``$ALKIT_DATA``), ``options`` the Experiment's ``data_options``. ``kind``:
    "classification" or "segmentation". ``recipe``: a built-in dataset name whose recipe (training
    and budgets) it uses, or a dict of settings over the paper's recipe of its kind (default: the
    paper's, i.e. ``cifar10``'s / ``voc``'s). Registering a built-in's name again is an error; a
    user's name may be registered again (its plug-in file loaded again)."""
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose from {', '.join(KINDS)}")
    if not isinstance(name, str) or not name or looks_like_path(name):
        raise ValueError(f"a dataset name must be a plain name (not a path), got {name!r}")
    old = _DATASETS.get(name)
    if old is not None and old.builtin:
        raise ValueError(f"dataset {name!r} is built in; register yours under another name")
    if not callable(loader):
        raise ValueError(f"the loader of dataset {name!r} must be callable, got {loader!r}")
    spec = DatasetSpec(name, loader, kind, recipe, model, builtin)
    _DATASETS[name] = spec
    return spec


def unregister_dataset(name: str) -> None:
    """Forget a user's dataset (a built-in stays)."""
    spec = _DATASETS.get(name)
    if spec is not None and not spec.builtin:
        del _DATASETS[name]


def dataset_names(kind: str | None = None) -> tuple:
    """The registered dataset names (of ``kind``), built-ins first, in registration order."""
    return tuple(n for n, s in _DATASETS.items() if kind is None or s.kind == kind)


def dataset_spec(name: str) -> DatasetSpec | None:
    """The registration of a dataset name (None for a folder path or an unknown name)."""
    return _DATASETS.get(name) if isinstance(name, str) else None


def dataset_kind(name) -> str:
    """``"classification"`` or ``"segmentation"`` for a dataset name, folder path or loaded dataset.

    A name that reads as a path (a separator, or starting with ``.``/``~``) or an existing folder
    is a segmentation folder, whether or not it exists (loading then says "folder not found")."""
    if isinstance(name, ImageDataset):
        return "classification"
    if isinstance(name, SegmentationDataset):
        return "segmentation"
    spec = dataset_spec(name)
    if spec is not None:
        return spec.kind
    if looks_like_path(str(name)) or Path(str(name)).expanduser().is_dir():
        return "segmentation"
    known = dataset_names()
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
    if isinstance(name, (ImageDataset, SegmentationDataset)):
        return name
    spec = dataset_spec(name)
    if spec is None:
        dataset_kind(name)  # an unknown name: one line naming the choices
        from alkit.engine.data.seg_folder import load_seg_folder

        return load_seg_folder(name, **options)  # "folder not found: <name>" when it does not exist
    return spec.loader(data_root(root), download, **options)


# -- the built-in datasets, registered like a user's (their modules load on first use) -------------


def _no_options(name: str, options: dict) -> None:
    if options:
        raise ValueError(f"options {sorted(options)} do not apply to the classification dataset {name!r}")


def _load_digits(root, download, **options):
    """sklearn's 8x8 digits, embedded (no download)."""
    from alkit.engine.data.digits import load_digits

    _no_options("digits", options)
    return load_digits()


def _cifar(name):
    def load(root, download, **options):
        _no_options(name, options)
        return load_cifar(name, root, download=download)

    load.__doc__ = f"{name} from ``<root>`` (paper Sec. 3)."
    return load


def _load_shapes(root, download, **options):
    """The embedded 64x64 scenes of polygons (options: n_train, n_val, size, seed)."""
    from alkit.engine.data.shapes import load_shapes

    return load_shapes(**options)


def _load_voc(root, download, **options):
    """PASCAL VOC 2012 from ``<root>/VOCdevkit`` (options: max_train, max_val, prefer_aug)."""
    from alkit.engine.data.voc import load_voc

    return load_voc(root, download=download, **options)


register_dataset("digits", _load_digits, kind="classification", recipe="digits", builtin=True)
register_dataset("cifar10", _cifar("cifar10"), kind="classification", recipe="cifar10", builtin=True)
register_dataset("cifar100", _cifar("cifar100"), kind="classification", recipe="cifar100", builtin=True)
register_dataset("shapes", _load_shapes, kind="segmentation", recipe="shapes", builtin=True)
register_dataset("voc", _load_voc, kind="segmentation", recipe="voc", builtin=True)

# The built-in names (the registry, dataset_names(), also holds the datasets of plug-ins).
CLASSIFICATION_DATASETS = dataset_names("classification")
SEGMENTATION_DATASETS = dataset_names("segmentation")


__all__ = ["ImageDataset", "SegmentationDataset", "normalize", "channel_stats", "load_dataset", "dataset_kind",
           "register_dataset", "unregister_dataset", "dataset_names", "dataset_spec", "DatasetSpec",
           "DatasetNotFound", "DatasetCorrupt", "CLASSIFICATION_DATASETS", "SEGMENTATION_DATASETS"]
