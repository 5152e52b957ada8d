"""Segmentation metrics: the pixel confusion matrix and the mean IoU of the paper's curves (Sec. 4,
Fig. 10-14), in numpy. The engine's training loop, the annotator's label-quality table
(:mod:`alkit.protocol.annotation`) and the explorers all read them from here.
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = 255  # the void label of VOC-style masks


def confusion(true: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Confusion matrix int64 ``[K, K]`` (rows = true class) over pixels not ignored in ``true``.
    Predicted ``ignore_index`` pixels (where the truth is labelled) count as background (0)."""
    t = np.asarray(true).ravel().astype(np.int64)
    p = np.asarray(pred).ravel().astype(np.int64)
    keep = t != ignore_index
    t, p = t[keep], p[keep]
    p = np.where(p >= num_classes, 0, p)
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def miou_from_confusion(cm: np.ndarray) -> float:
    """Mean intersection-over-union over the classes that occur (true or predicted) in ``cm``."""
    cm = np.asarray(cm, dtype=np.float64)
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    present = union > 0
    return float(np.mean(inter[present] / union[present])) if present.any() else float("nan")


__all__ = ["confusion", "miou_from_confusion", "IGNORE_INDEX"]
