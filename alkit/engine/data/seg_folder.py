"""The in-memory segmentation dataset every segmentation part of alkit works on, and a reader for
a generic folder of images + index-mask PNGs (any real dataset beyond PASCAL VOC).

Images are uint8 ``[3, H, W]`` and masks uint8 ``[H, W]`` class ids (``ignore_index`` = unlabelled).
When every image has the same size they are stacked into one tensor ``[N, 3, H, W]`` / ``[N, H, W]``
(fast batched training, e.g. the embedded ``shapes``); otherwise they are kept as lists (VOC).

Folder layouts accepted by :func:`load_seg_folder` (masks are single-channel or palette PNGs whose
pixel values are class ids; ``<stem>`` of a mask = stem of its image):

* split folders: ``root/train/images/*``, ``root/train/masks/<stem>.png``, same under ``root/val/``;
* flat: ``root/images/*`` + ``root/masks/<stem>.png`` with optional ``root/train.txt`` and
  ``root/val.txt`` (one stem per line); without them a seeded ``val_fraction`` split is used;
* SegNet / CamVid as it ships: ``root/train/*`` + ``root/trainannot/<stem>.png``, ``root/val/`` +
  ``root/valannot/``, ``root/test/`` + ``root/testannot/`` (the pool is ``train``, the validation set
  ``val``; without ``val/`` it is ``test``). CamVid's void label is 11: give ``ignore_index=11``.

Class names come from ``classes`` or ``root/classes.txt`` (one per line, index order), else
``class_0 .. class_{K-1}`` with K = 1 + the largest id found. The optional metadata file
``root/dataset.json`` may hold ``classes`` (a list), ``ignore_index`` (the void label, 0-255) and
``background``; arguments given to :func:`load_seg_folder` win over it. A mask id that is neither a
class nor the ignore index is one ``ValueError`` naming the file (when the class list is known).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@dataclass
class SegmentationDataset:
    """A segmentation dataset split into the AL pool (``train_*``) and a fixed validation set."""

    name: str
    train_images: torch.Tensor | list  # uint8 [N, 3, H, W] or list of [3, H_i, W_i]
    train_masks: torch.Tensor | list  # uint8 [N, H, W] or list of [H_i, W_i]
    val_images: torch.Tensor | list
    val_masks: torch.Tensor | list
    classes: list[str]
    ignore_index: int = 255
    background: int = 0
    mean: tuple = (0.485, 0.456, 0.406)  # per channel, [0, 1] units (ImageNet by default)
    std: tuple = (0.229, 0.224, 0.225)
    info: dict = field(default_factory=dict)  # e.g. which train list was used

    def __post_init__(self):
        if len(self.train_images) != len(self.train_masks) or len(self.val_images) != len(self.val_masks):
            raise ValueError("images and masks differ in length")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def fixed_size(self) -> bool:
        """True when images are stacked tensors of one size."""
        return isinstance(self.train_images, torch.Tensor)

    def to(self, device) -> "SegmentationDataset":
        """Stacked tensors moved to ``device`` once; list datasets stay on the CPU (moved per batch)."""
        if not self.fixed_size:
            return self
        return replace(self, train_images=self.train_images.to(device), train_masks=self.train_masks.to(device),
                       val_images=self.val_images.to(device), val_masks=self.val_masks.to(device))

    def __repr__(self) -> str:
        size = "x".join(map(str, self.train_images.shape[-2:])) if self.fixed_size else "varied"
        return (f"SegmentationDataset({self.name!r}, pool={len(self.train_images)}, val={len(self.val_images)}, "
                f"classes={self.num_classes}, size={size})")


def stack_if_same_size(images: list, masks: list):
    """Stack ``[3, H, W]`` / ``[H, W]`` tensors when they all share one size, else keep the lists."""
    if images and len({tuple(im.shape) for im in images}) == 1:
        return torch.stack(images), torch.stack(masks)
    return images, masks


def read_image(path: Path) -> torch.Tensor:
    """RGB image file -> uint8 ``[3, H, W]`` (OpenCV decode)."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1)))


def read_mask(path: Path) -> torch.Tensor:
    """Index PNG (palette 'P' or grey 'L') -> uint8 ``[H, W]`` class ids (PIL keeps palette indices)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode not in ("P", "L", "I", "I;16"):
                raise ValueError(f"{path}: masks must be single-channel or palette PNGs of class ids, got mode {im.mode}")
            return torch.from_numpy(np.array(im, dtype=np.uint8))
    except OSError as e:  # not an image, truncated, unreadable
        raise ValueError(f"cannot read mask {path}: {e}") from None


def check_mask_ids(mask: torch.Tensor, path, num_classes: int, ignore_index: int) -> None:
    """``ValueError`` naming ``path`` if the mask holds a class id ``>= num_classes`` other than ``ignore_index``."""
    ids = torch.unique(mask)
    bad = ids[(ids >= num_classes) & (ids != ignore_index)]
    if len(bad):
        raise ValueError(f"{path}: mask holds class id(s) {', '.join(str(int(b)) for b in bad[:5])} outside the "
                         f"{num_classes} classes (0..{num_classes - 1}; {ignore_index} = ignore)")


def read_pairs(image_paths: list[Path], mask_paths: list[Path], workers: int = 8, desc: str = "reading",
               num_classes: int | None = None, ignore_index: int = 255):
    """Decode image/mask pairs in a thread pool (decoders release the GIL); checks sizes agree and,
    when ``num_classes`` is given, that every mask id is a class or ``ignore_index``."""
    from tqdm.auto import tqdm

    def one(pair):
        im, m = read_image(pair[0]), read_mask(pair[1])
        if tuple(im.shape[1:]) != tuple(m.shape):
            raise ValueError(f"{pair[1]}: mask size {tuple(m.shape)} differs from image {tuple(im.shape[1:])}")
        if num_classes is not None:
            check_mask_ids(m, pair[1], num_classes, ignore_index)
        return im, m

    with ThreadPoolExecutor(workers) as ex:
        out = list(tqdm(ex.map(one, zip(image_paths, mask_paths)), total=len(image_paths), desc=desc,
                        unit="img", leave=False, disable=len(image_paths) < 200))
    return [o[0] for o in out], [o[1] for o in out]


def _index_images(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    images = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not images:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return images


def _split_files(img_dir: Path, mask_dir: Path, stems: list[str] | None, split: str = ""):
    images = _index_images(img_dir)
    if not mask_dir.is_dir():
        raise FileNotFoundError(f"mask folder not found: {mask_dir} (expected <stem>.png for every image)")
    stems = sorted(images) if stems is None else stems
    if not stems:
        raise ValueError(f"no {split + ' ' if split else ''}images listed for {img_dir}")
    missing = [s for s in stems if s not in images or not (mask_dir / f"{s}.png").exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image/mask pair(s) missing, e.g. {missing[0]!r} "
                                f"(expected {img_dir}/<stem>.* and {mask_dir}/<stem>.png)")
    return [images[s] for s in stems], [mask_dir / f"{s}.png" for s in stems]


METADATA_FILE = "dataset.json"


def read_metadata(root: Path) -> dict:
    """The folder's ``dataset.json`` (``classes``, ``ignore_index``, ``background``), checked; ``{}`` if absent."""
    import json

    path = root / METADATA_FILE
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a JSON object ({e})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: not a JSON object")
    unknown = sorted(set(meta) - {"classes", "ignore_index", "background"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: classes, ignore_index, background")
    for key in ("ignore_index", "background"):
        if key in meta:
            check_label_value(meta[key], f"{path}: {key}")
    if "classes" in meta and (not isinstance(meta["classes"], list) or not meta["classes"]):
        raise ValueError(f"{path}: classes must be a non-empty list of names")
    return meta


def check_label_value(value, what: str) -> int:
    """An integer label value 0..255 (masks are uint8), else ``ValueError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) <= 255:
        raise ValueError(f"{what} must be an integer 0..255 (masks hold uint8 class ids), got {value!r}")
    return int(value)


def load_seg_folder(root, *, classes: list[str] | None = None, ignore_index: int | None = None,
                    background: int | None = None, val_fraction: float = 0.2, seed: int = 0,
                    name: str | None = None) -> SegmentationDataset:
    """Read a segmentation folder (layouts in the module docstring) into memory.

    ``ignore_index``: the void label (default: ``dataset.json``'s, else 255); ``background``: the
    annotator's background class (default: ``dataset.json``'s, else 0)."""
    typed = str(root)
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"folder not found: {typed}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {typed}")
    meta = read_metadata(root)
    ignore_index = check_label_value(meta.get("ignore_index", 255) if ignore_index is None else ignore_index,
                                     "ignore_index")
    background = int(meta.get("background", 0) if background is None else background)
    if classes is None and "classes" in meta:
        classes = [str(c) for c in meta["classes"]]
    if classes is None and (root / "classes.txt").exists():
        classes = [c.strip() for c in (root / "classes.txt").read_text().splitlines() if c.strip()]
        if not classes:
            raise ValueError(f"{root / 'classes.txt'} is empty (one class name per line expected)")
    if (root / "trainannot").is_dir():  # SegNet / CamVid
        val = "val" if (root / "val").is_dir() else "test"
        tr = _split_files(root / "train", root / "trainannot", None, "train")
        va = _split_files(root / val, root / f"{val}annot", None, val)
    elif (root / "train" / "images").is_dir():
        tr = _split_files(root / "train" / "images", root / "train" / "masks", None, "train")
        va = _split_files(root / "val" / "images", root / "val" / "masks", None, "val")
    elif (root / "images").is_dir():
        lists = [root / "train.txt", root / "val.txt"]
        if all(f.exists() for f in lists):
            tr_s, va_s = ([s.strip() for s in f.read_text().split() if s.strip()] for f in lists)
            for f, ids in zip(lists, (tr_s, va_s)):
                if not ids:
                    raise ValueError(f"{f} lists no images (one stem per line expected)")
        else:
            stems = sorted(_index_images(root / "images"))
            if len(stems) < 2:
                raise ValueError(f"{root / 'images'}: {len(stems)} image(s); a train/val split needs at least 2")
            perm = np.random.default_rng(seed).permutation(len(stems))
            n_val = min(len(stems) - 1, max(1, int(round(val_fraction * len(stems)))))
            va_s = sorted(stems[i] for i in perm[:n_val])
            tr_s = sorted(stems[i] for i in perm[n_val:])
        tr = _split_files(root / "images", root / "masks", tr_s, "train")
        va = _split_files(root / "images", root / "masks", va_s, "val")
    else:
        raise FileNotFoundError(f"{typed}: no images/ + masks/, train/images + val/images or train/ + trainannot/ folders "
                                f"(a segmentation folder dataset; see alkit.engine.data.seg_folder)")
    if classes is not None and ignore_index < len(classes):
        raise ValueError(f"ignore_index {ignore_index} is also a class id (classes 0..{len(classes) - 1}); "
                         f"give the void label, e.g. {len(classes)} or 255")
    n_cls = None if classes is None else len(classes)
    tr_im, tr_m = stack_if_same_size(*read_pairs(*tr, desc="train", num_classes=n_cls, ignore_index=ignore_index))
    va_im, va_m = stack_if_same_size(*read_pairs(*va, desc="val", num_classes=n_cls, ignore_index=ignore_index))
    if classes is None:
        top = max(int(m[m != ignore_index].max()) if (m != ignore_index).any() else 0 for m in list(tr_m) + list(va_m))
        classes = [f"class_{i}" for i in range(top + 1)]
    return SegmentationDataset(name or root.name, tr_im, tr_m, va_im, va_m, list(classes), ignore_index=ignore_index,
                               background=background)
