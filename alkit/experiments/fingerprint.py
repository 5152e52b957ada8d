"""What a cached result was computed from: a content hash of the loaded data and a recipe version.

The results store (:class:`alkit.experiments.store.RunStore`) keys every run by its config. A config alone
cannot tell two versions of a dataset apart (a re-downloaded CIFAR, a segmentation folder with
one mask fixed) or two versions of alkit's training code, so it also holds

* ``data``: :func:`data_fingerprint` of the dataset object actually loaded, and
* ``recipe_version``: :data:`RECIPE_VERSION`, added by the store itself.

Change either and the key changes, so old cycles are never silently reused.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

# ---------------------------------------------------------------------------------------------
# RECIPE_VERSION: the version of *what one active-learning cycle computes*.
#
# Bump it (1 -> 2 -> ...) in the same commit as any change that alters the numbers a cycle would
# produce for an unchanged config and unchanged data, for example:
#   * training: models, initialisation, optimiser / schedule, augmentation, loss, SSL recipe,
#     number of steps, how seeds are derived (alkit.protocol.loop.cycle_seed) ...;
#   * evaluation: the test metric, how predictions are made;
#   * querying: a strategy's scores, tie-breaking, the budget rule (alkit.protocol.pool), the initial set;
#   * the meaning or layout of a stored record.
# Every stored run carries it in its config ("recipe_version"), so after a bump all cycles are
# recomputed instead of mixing old and new numbers in one curve. Refactors that provably leave
# every number unchanged need no bump.
# (A changed *default* whose setting is in the store key needs none either: ENS-ent's default
# ens_reduce became "mean-entropy", and ens_reduce is in every ensemble strategy's key.)
# ---------------------------------------------------------------------------------------------
# 2: train_supervised augments/normalises whole groups of epochs per call (other random draws)
#    and the digits recipes train 400-800 steps.
# 3: the digits network (small-cnn) has one convolution per stage; channels-last + foreach SGD on the CPU.
# 4: the small segmentation network at width 16 (was 24), shapes 40 epochs (was 20); ENS-varR members
#    trained as one stacked network on the CPU for tiny images (alkit.engine.train.stacked).
# 5: fused optimiser kernels; the segmentation logits upsampled by matrix products on the CPU (float
#    rounding); s4GAN's discriminator sees real and fake maps as one batch (other dropout draws).
# 6: the shapes recipe's loss adds soft Dice (``dice_weight``, not in the store key) at 60 epochs.
# 7: the soft Dice sums in another order (float rounding).
RECIPE_VERSION = 7

_CACHE_ATTR = "_alkit_fingerprint"


def _hasher():
    """A fresh hash object (blake2b, 8-byte digest = 16 hex chars)."""
    return hashlib.blake2b(digest_size=8)


def _update_value(h, key: str, value) -> None:
    """Feed a small JSON-able value (name, class list, an int) under ``key``; JSON escapes newlines,
    so the newline delimiter keeps fields unambiguous."""
    h.update(f"{key}={json.dumps(value, sort_keys=True, default=str)}\n".encode())


def _update_array(h, key: str, a) -> None:
    """Feed one tensor / array: a header with kind, dtype and shape, then its raw bytes.

    CUDA tensors are copied to the CPU; the bytes are hashed straight from a contiguous buffer
    (no per-element Python work), so 150 MB take a fraction of a second.
    """
    if isinstance(a, torch.Tensor):
        t = a.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        h.update(f"{key}:tensor:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    elif isinstance(a, np.ndarray):
        arr = np.ascontiguousarray(a)
        h.update(f"{key}:ndarray:{arr.dtype.str}:{arr.shape}\n".encode())
        h.update(memoryview(arr.reshape(-1).view(np.uint8)))
    else:
        raise TypeError(f"cannot fingerprint {key}: expected a tensor or array, got {type(a).__name__}")


def _update_images(h, key: str, x) -> None:
    """A stacked tensor, or a list/tuple of tensors (variable-size segmentation data)."""
    if isinstance(x, (list, tuple)):
        h.update(f"{key}:list:{len(x)}\n".encode())
        for i, item in enumerate(x):
            _update_array(h, f"{key}[{i}]", item)
    else:
        _update_array(h, key, x)


def _layout(data):
    """(kind, array fields, small fields) of a supported dataset object, by duck typing."""
    if hasattr(data, "train_x"):  # alkit.engine.data.base.ImageDataset
        return ("image", ("train_x", "train_y", "test_x", "test_y"), ("name", "classes", "mean", "std"))
    if hasattr(data, "train_images"):  # alkit.engine.data.seg_folder.SegmentationDataset
        return ("segmentation", ("train_images", "train_masks", "val_images", "val_masks"),
                ("classes", "ignore_index", "background", "mean", "std"))
    raise TypeError(f"data_fingerprint needs an ImageDataset or SegmentationDataset, got {type(data).__name__}")


def _stamp(data, arrays, small):
    """Cheap identity of the object's current content: which tensors it holds (id) and how often
    each was modified in place (torch's version counter), plus the small fields' values. A cached
    fingerprint is reused only while the stamp is unchanged."""
    def ident(x):
        if isinstance(x, (list, tuple)):
            return (id(x), len(x), tuple(ident(i) for i in x))
        return (id(x), getattr(x, "_version", None))

    return (tuple(ident(getattr(data, f)) for f in arrays),
            json.dumps([getattr(data, f, None) for f in small], default=str))


def data_fingerprint(data) -> str:
    """16-hex-digit content hash of a loaded dataset: what the results store keys runs by ("data").

    * :class:`~alkit.engine.data.base.ImageDataset`: name, classes, mean/std and the bytes, dtype and
      shape of ``train_x``, ``train_y``, ``test_x``, ``test_y``;
    * :class:`~alkit.engine.data.seg_folder.SegmentationDataset`: ``train_images``, ``train_masks``,
      ``val_images``, ``val_masks`` (stacked tensors or lists of tensors), classes,
      ``ignore_index``, ``background`` and mean/std.

    Tensors may live on the CPU or a GPU (they are copied to the CPU to hash). The result is
    cached on the object, so it is computed once per loaded object (a 50k x 3 x 32 x 32 uint8
    pool hashes in about 0.2 s); the cache is dropped if a field is reassigned or a tensor is
    modified in place. ``dataset.to(device)`` returns a new object, whose first call hashes again.
    """
    kind, arrays, small = _layout(data)
    stamp = _stamp(data, arrays, small)
    cached = getattr(data, _CACHE_ATTR, None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    h = _hasher()
    _update_value(h, "kind", kind)
    for f in small:
        _update_value(h, f, getattr(data, f, None))
    for f in arrays:
        _update_images(h, f, getattr(data, f))
    fp = h.hexdigest()
    try:
        object.__setattr__(data, _CACHE_ATTR, (stamp, fp))
    except (AttributeError, TypeError):  # objects with __slots__: no cache, still correct
        pass
    return fp
