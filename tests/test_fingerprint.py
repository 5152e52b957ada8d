"""Data fingerprints: equal content -> equal hash, one pixel / one label / one field -> another hash,
computed once per loaded object (and again after an in-place change)."""

import pytest
import torch

from alkit.experiments import fingerprint as fp_mod
from alkit.engine.data.base import ImageDataset
from alkit.engine.data.seg_folder import SegmentationDataset
from alkit.experiments.fingerprint import data_fingerprint


def image_ds(seed=0, **over):
    g = torch.Generator().manual_seed(seed)
    fields = dict(
        name="tiny",
        train_x=torch.randint(0, 256, (6, 3, 4, 4), dtype=torch.uint8, generator=g),
        train_y=torch.arange(6) % 2,
        test_x=torch.randint(0, 256, (4, 3, 4, 4), dtype=torch.uint8, generator=g),
        test_y=torch.arange(4) % 2,
        classes=["a", "b"], mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
    )
    fields.update(over)
    return ImageDataset(**fields)


def seg_ds(stacked=True, seed=0, **over):
    g = torch.Generator().manual_seed(seed)
    sizes = [(5, 6), (5, 6), (5, 6)] if stacked else [(5, 6), (7, 4), (3, 3)]
    ims = [torch.randint(0, 256, (3, *s), dtype=torch.uint8, generator=g) for s in sizes]
    ms = [torch.randint(0, 3, s, dtype=torch.uint8, generator=g) for s in sizes]
    if stacked:
        tr_i, tr_m, va_i, va_m = torch.stack(ims[:2]), torch.stack(ms[:2]), torch.stack(ims[2:]), torch.stack(ms[2:])
    else:
        tr_i, tr_m, va_i, va_m = ims[:2], ms[:2], ims[2:], ms[2:]
    fields = dict(name="segtiny", train_images=tr_i, train_masks=tr_m, val_images=va_i, val_masks=va_m,
                  classes=["bg", "x", "y"])
    fields.update(over)
    return SegmentationDataset(**fields)


def clone_fields(ds, names):
    """Same content, new tensor objects (a fresh load of the same files)."""
    def cl(v):
        return [t.clone() for t in v] if isinstance(v, list) else v.clone()
    return {n: cl(getattr(ds, n)) for n in names}


def test_image_fingerprint_is_16_hex_and_content_based():
    a, b = image_ds(), image_ds()
    fa = data_fingerprint(a)
    assert len(fa) == 16 and int(fa, 16) >= 0
    assert a.train_x is not b.train_x and data_fingerprint(b) == fa


@pytest.mark.parametrize("change", ["train_pixel", "test_pixel", "train_label", "test_label", "name", "classes",
                                    "label_dtype", "shape"])
def test_image_fingerprint_sees_one_change(change):
    base = image_ds()
    f = clone_fields(base, ["train_x", "train_y", "test_x", "test_y"])
    over = {}
    if change == "train_pixel":
        f["train_x"][3, 1, 2, 2] ^= 1
    elif change == "test_pixel":
        f["test_x"][0, 0, 0, 0] ^= 1
    elif change == "train_label":
        f["train_y"][5] = 1 - f["train_y"][5]
    elif change == "test_label":
        f["test_y"][0] = 1 - f["test_y"][0]
    elif change == "name":
        over["name"] = "tiny2"
    elif change == "classes":
        over["classes"] = ["a", "c"]
    elif change == "label_dtype":
        f["train_y"] = f["train_y"].to(torch.int32)
    elif change == "shape":  # same bytes, other layout
        f["train_x"] = f["train_x"].reshape(6, 3, 2, 8)
    other = image_ds(**{**f, **over})
    assert data_fingerprint(other) != data_fingerprint(base)


@pytest.mark.parametrize("stacked", [True, False], ids=["stacked", "list"])
@pytest.mark.parametrize("change", ["train_pixel", "train_mask", "val_pixel", "val_mask", "ignore_index", "classes",
                                    None])
def test_segmentation_fingerprint(stacked, change):
    base = seg_ds(stacked)
    f = clone_fields(base, ["train_images", "train_masks", "val_images", "val_masks"])
    over = {}
    if change == "train_pixel":
        f["train_images"][1][2, 1, 1] ^= 1
    elif change == "train_mask":
        f["train_masks"][0][0, 0] = (int(f["train_masks"][0][0, 0]) + 1) % 3
    elif change == "val_pixel":
        f["val_images"][0][0, 2, 2] ^= 1
    elif change == "val_mask":
        f["val_masks"][0][1, 1] = (int(f["val_masks"][0][1, 1]) + 1) % 3
    elif change == "ignore_index":
        over["ignore_index"] = 254
    elif change == "classes":
        over["classes"] = ["bg", "x", "z"]
    other = seg_ds(stacked, **{**f, **over})
    if change is None:
        assert data_fingerprint(other) == data_fingerprint(base)
    else:
        assert data_fingerprint(other) != data_fingerprint(base)


def test_list_and_order_matter():
    base = seg_ds(stacked=False)
    swapped = seg_ds(stacked=False, train_images=base.train_images[::-1], train_masks=base.train_masks[::-1])
    assert data_fingerprint(swapped) != data_fingerprint(base)


def test_fingerprint_computed_once_per_object(monkeypatch):
    calls = []
    real = fp_mod._hasher

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(fp_mod, "_hasher", counting)
    ds = image_ds()
    first = data_fingerprint(ds)
    assert data_fingerprint(ds) == first and data_fingerprint(ds) == first
    assert len(calls) == 1
    # an in-place edit (or a reassigned field) invalidates the cached value
    ds.train_x[0, 0, 0, 0] ^= 1
    changed = data_fingerprint(ds)
    assert len(calls) == 2 and changed != first
    ds.train_y = ds.train_y.clone()
    assert data_fingerprint(ds) == changed and len(calls) == 3
    seg = seg_ds(stacked=False)
    data_fingerprint(seg), data_fingerprint(seg)
    assert len(calls) == 4
    seg.train_masks[0][0, 0] = 9  # in place, inside a list
    data_fingerprint(seg)
    assert len(calls) == 5


def test_unsupported_object_is_a_clear_error():
    with pytest.raises(TypeError, match="ImageDataset or SegmentationDataset"):
        data_fingerprint({"x": 1})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_tensors_hash_like_cpu_ones():
    ds = image_ds()
    assert data_fingerprint(ds.to("cuda")) == data_fingerprint(ds)
    seg = seg_ds(stacked=True)
    assert data_fingerprint(seg.to("cuda")) == data_fingerprint(seg)
