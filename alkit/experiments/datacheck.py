"""Is the data there? One check of every dataset a command will read, before anything starts.

``alkit reproduce`` (any preset), ``alkit evaluate`` and ``alkit sweep`` call
:func:`missing_datasets` on every dataset their notebooks, protocol cells or grid experiments read
and stop with one line per missing dataset (:meth:`Missing.line`: the dataset, the folder looked
in, ``--download``) and exit status 2 before the first notebook or unit starts;
``--download`` fetches them first (:func:`fetch`). The check only looks at folders and file names
(it reads no data): a folder that is present but damaged is still reported by the loader, naming
the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alkit.paths import data_root as resolve_root

EMBEDDED = ("digits", "shapes")  # generated or shipped with alkit: never missing
DOWNLOADABLE = ("cifar10", "cifar100", "voc")


@dataclass(frozen=True)
class Missing:
    """A dataset that is not where it will be read from: ``expected`` is the folder looked for."""

    dataset: str
    expected: Path
    downloadable: bool

    def line(self) -> str:
        """One line naming the dataset, the folder looked in and how to get it."""
        if self.downloadable:
            how = "pass --download to fetch it, or point --data-root / $ALKIT_DATA at a copy"
        else:
            how = "no download exists for it: create the folder or fix the path"
        return f"{self.dataset}: not found: expected {self.expected}; {how}"


def _cifar_files(name: str) -> list[str]:
    """The files :func:`alkit.engine.data.cifar.load_cifar` reads (its layout table)."""
    from alkit.engine.data.cifar import _LAYOUT

    layout = _LAYOUT[name]
    return layout["train"] + layout["test"] + [layout["meta"][0]]


def missing_dataset(name: str, root=None) -> Missing | None:
    """``None`` if ``name`` can be read under ``root`` (default ``$ALKIT_DATA``, else
    ``~/.alkit/data``), else what is missing. Embedded datasets and datasets registered by a
    plug-in (their loader knows where they live) are never reported; a folder path is reported
    when the folder does not exist."""
    from alkit.engine.data import dataset_spec

    root = resolve_root(root)
    if name in EMBEDDED:
        return None
    if name in ("cifar10", "cifar100"):
        from alkit.engine.data.cifar import cifar_folder

        folder = cifar_folder(name, root)
        ok = folder.is_dir() and all((folder / f).is_file() for f in _cifar_files(name))
        return None if ok else Missing(name, folder, True)
    if name == "voc":
        from alkit.engine.data.voc import find_voc2012

        return None if find_voc2012(root) is not None else Missing(name, Path(root) / "VOCdevkit" / "VOC2012", True)
    spec = dataset_spec(name)
    if spec is not None:
        return None
    folder = Path(str(name)).expanduser()
    return None if folder.is_dir() else Missing(str(name), folder, False)


def missing_datasets(names, root=None) -> list[Missing]:
    """:func:`missing_dataset` of each name (each once, in order); ``[]`` when all are there."""
    out = []
    for name in dict.fromkeys(names):
        m = missing_dataset(name, root)
        if m is not None:
            out.append(m)
    return out


def fetch(missing: list[Missing], root=None, log=print) -> None:
    """Download every downloadable dataset of ``missing`` into ``root`` through torchvision (needs
    internet; CIFAR ~170 MB each, VOC 2012 ~2 GB; SBD's 10,582-image list must be placed by hand,
    see ``alkit.engine.data.voc``). ``ValueError`` for one that cannot be downloaded."""
    root = resolve_root(root)
    for m in missing:
        if not m.downloadable:
            raise ValueError(m.line())
        log(f"alkit: fetching {m.dataset} into {root} ...")
        if m.dataset in ("cifar10", "cifar100"):
            from alkit.engine.data.cifar import download_cifar

            download_cifar(m.dataset, root)
        else:
            from torchvision.datasets import VOCSegmentation

            Path(root).mkdir(parents=True, exist_ok=True)
            VOCSegmentation(str(root), year="2012", image_set="trainval", download=True)
