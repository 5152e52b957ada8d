"""PASCAL VOC 2012 segmentation (Everingham et al. 2010), the paper's dataset (Sec. 4.3).

On-disk layout (the standard VOCdevkit, as torchvision's ``VOCSegmentation`` downloads it)::

    <root>/VOCdevkit/VOC2012/JPEGImages/<id>.jpg
    <root>/VOCdevkit/VOC2012/SegmentationClass/<id>.png          palette PNGs, 255 = border/ignore
    <root>/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val}.txt   1,464 / 1,449 ids

SBD-augmented training set (Hariharan et al. 2011; 10,582 images, what the paper uses): accepted
in the common "SegmentationClassAug" form, placed next to the above::

    <root>/VOCdevkit/VOC2012/SegmentationClassAug/<id>.png        single-channel class-id PNGs
    <root>/VOCdevkit/VOC2012/ImageSets/Segmentation/train_aug.txt 10,582 ids

When both are present the pool is ``train_aug`` (masks from SegmentationClassAug), else ``train``
(1,464). ``info["train_list"]`` records which. Validation is always ``val`` with the original
masks. ``<root>`` may also be the ``VOCdevkit`` or ``VOC2012`` folder itself. ``download=True``
fetches VOC 2012 (not SBD) through torchvision; nothing is downloaded otherwise.
"""

from __future__ import annotations

from pathlib import Path

from alkit.engine.data.seg_folder import SegmentationDataset, read_pairs, stack_if_same_size

VOC_CLASSES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]


def find_voc2012(root) -> Path | None:
    """The ``VOC2012`` folder under ``root`` (``root``, ``root/VOC2012`` or ``root/VOCdevkit/VOC2012``)."""
    root = Path(root).expanduser()
    for cand in (root / "VOCdevkit" / "VOC2012", root / "VOC2012", root):
        if (cand / "JPEGImages").is_dir() and (cand / "ImageSets" / "Segmentation").is_dir():
            return cand
    return None


def _ids(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text().splitlines() if s.strip()]


def voc_split_files(voc: Path, split: str, prefer_aug: bool = True) -> tuple[list[Path], list[Path], str]:
    """(image paths, mask paths, list name) of a split; ``train`` uses SBD's ``train_aug`` if present."""
    sets = voc / "ImageSets" / "Segmentation"
    if split == "train" and prefer_aug and (sets / "train_aug.txt").exists() and (voc / "SegmentationClassAug").is_dir():
        ids, mask_dir, list_name = _ids(sets / "train_aug.txt"), voc / "SegmentationClassAug", "train_aug"
    elif split in ("train", "val"):
        if not (sets / f"{split}.txt").exists():
            raise FileNotFoundError(f"PASCAL VOC split list missing: {sets / f'{split}.txt'}")
        ids, mask_dir, list_name = _ids(sets / f"{split}.txt"), voc / "SegmentationClass", split
    else:
        raise ValueError(f"unknown VOC split {split!r}; choose from train, val")
    if not ids:
        raise ValueError(f"PASCAL VOC split list is empty: {sets / (list_name + '.txt')}")
    images = [voc / "JPEGImages" / f"{i}.jpg" for i in ids]
    masks = [mask_dir / f"{i}.png" for i in ids]
    for p in (images[0], masks[0]) if ids else ():
        if not p.exists():
            raise FileNotFoundError(f"PASCAL VOC file missing: {p}")
    return images, masks, list_name


def load_voc(root, *, download: bool = False, max_train: int | None = None, max_val: int | None = None,
             prefer_aug: bool = True) -> SegmentationDataset:
    """PASCAL VOC 2012 into memory: pool = train (10,582 with SBD, else 1,464), val = 1,449.

    ``max_train`` / ``max_val`` keep only the first images of each list (quick looks; the paper uses
    all). Images keep their own sizes (lists of tensors). A missing folder raises
    ``FileNotFoundError`` naming the path and the ``--download`` flag; a mask with ids other than
    0..20 and 255 raises ``ValueError`` naming the file.
    """
    root = Path(root).expanduser()
    voc = find_voc2012(root)
    if voc is None and download:
        from torchvision.datasets import VOCSegmentation

        root.mkdir(parents=True, exist_ok=True)
        VOCSegmentation(str(root), year="2012", image_set="trainval", download=True)
        voc = find_voc2012(root)
    if voc is None:
        raise FileNotFoundError(f"PASCAL VOC 2012 not found under {root} (expected VOCdevkit/VOC2012); "
                                f"pass --download (download=True) to fetch it")
    tr_img, tr_mask, train_list = voc_split_files(voc, "train", prefer_aug)
    va_img, va_mask, _ = voc_split_files(voc, "val")
    tr_img, tr_mask = tr_img[:max_train], tr_mask[:max_train]
    va_img, va_mask = va_img[:max_val], va_mask[:max_val]
    n = len(VOC_CLASSES)  # mask ids must be 0..20 or 255 (border); a file with others is named
    tr = stack_if_same_size(*read_pairs(tr_img, tr_mask, desc="VOC train", num_classes=n, ignore_index=255))
    va = stack_if_same_size(*read_pairs(va_img, va_mask, desc="VOC val", num_classes=n, ignore_index=255))
    return SegmentationDataset("voc", tr[0], tr[1], va[0], va[1], list(VOC_CLASSES), ignore_index=255,
                               info=dict(root=str(voc), train_list=train_list))
