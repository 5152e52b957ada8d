"""FixMatch (Sohn et al. 2020, "FixMatch: Simplifying Semi-Supervised Learning with Consistency and
Confidence") — the second semi-supervised trainer of SSL-X.

    loss = CE(labelled batch, labelled augmentation)
         + lambda_u * (1/U) * sum_i 1[max_k p_weak_ik >= tau] * CE(argmax_k p_weak_ik, p_strong_i)

where ``p_weak`` is the (detached) prediction on a weakly augmented view (crop + flip) and
``p_strong`` the prediction on a strongly augmented view (the original uses RandAugment + Cutout;
alkit reuses UDA's AutoAugment + Cutout, :mod:`alkit.engine.augment`). The original settings:
tau = 0.95, lambda_u = 1, unlabelled ratio mu = 7 (unlabelled batch = 7 x labelled batch), SGD
with Nesterov momentum 0.9, lr 0.03, cosine decay. The loop (batched views on the device, one
forward pass of labelled + weak + strong images per step) is UDA's
(:func:`alkit.engine.train.uda.train_uda`); only the unlabelled loss differs.

At paper scale (:data:`alkit.experiments.recipes.PAPER_SSL`) the run follows kekmodel/FixMatch-pytorch:
the labelled batch gets the weak view (``labelled_view="weak"``, the classification task passes
``labelled_augment=weak``), the unlabelled batches are drawn from the whole training set
(``unlabelled="all"``), SGD with Nesterov momentum, the learning rate ``lr * cos(7 pi k / (16 K))``
(``schedule="cosine-7/16"``) and the weights averaged with decay 0.999 for evaluation (``ema=0.999``,
BatchNorm buffers copied, ``ema_buffers="copy"``). The embedded digits recipes keep alkit's
defaults (the labelled batch with the run's augmentation, the unlabelled pool only, plain
momentum, cosine to zero, no average). Remaining difference: the original exempts biases and
BatchNorm weights from weight decay; alkit decays every parameter.

Scaling for the embedded digits (``alkit.experiments.recipes``): the SSL-X runs pass the recipe's
unlabelled batch, the same for UDA and FixMatch (64 with a labelled batch of 64, i.e. mu = 1
instead of 7): 7 x 64 = 448 unlabelled images per step would be a third of the 1,257-image pool
twice over (two views) and triple the CPU time per step; lr 0.1 instead of 0.03 (measured: the
300-step cosine schedule is too short for 0.03). Without an explicit ``unlabelled_batch``
:func:`train_fixmatch` uses the original's ``MU`` x ``batch_size``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from alkit.engine.data.base import ImageDataset
from alkit.engine.train.uda import train_uda

THRESHOLD = 0.95  # tau of the original
MU = 7  # unlabelled batch / labelled batch in the original


def pseudo_label_loss(logits_weak: torch.Tensor, logits_strong: torch.Tensor,
                      threshold: float = THRESHOLD) -> tuple[torch.Tensor, torch.Tensor]:
    """FixMatch's masked pseudo-label loss (Sohn et al. 2020, Eq. 2).

    ``logits_weak``, ``logits_strong``: ``[U, K]`` predictions on the weak and strong view of the
    same unlabelled images. ``q = softmax(logits_weak)`` (detached), pseudo-label ``argmax_k q``,
    mask ``max_k q >= threshold``; loss = ``(1/U) * sum_i mask_i * CE(pseudo_i, logits_strong_i)``
    (mean over the whole batch, masked rows count as zero, as in the original).

    Returns ``(loss, mask_fraction)``: a scalar with gradient into ``logits_strong`` only, and the
    fraction of rows kept (0-dim tensor).
    """
    if logits_weak.shape != logits_strong.shape or logits_weak.ndim != 2:
        raise ValueError(f"logits must both be [U, K]; got {tuple(logits_weak.shape)} and {tuple(logits_strong.shape)}")
    with torch.no_grad():
        conf, pseudo = torch.softmax(logits_weak.detach().float(), dim=1).max(dim=1)
        mask = (conf >= threshold).float()
    ce = F.cross_entropy(logits_strong.float(), pseudo, reduction="none")  # [U]
    return (ce * mask).mean(), mask.mean()


def train_fixmatch(model: nn.Module, data: ImageDataset, labelled, unlabelled, *, iterations: int, weak, strong,
                   seed: int, threshold: float = THRESHOLD, lambda_u: float = 1.0, batch_size: int = 64,
                   unlabelled_batch: int | None = None, **kwargs) -> nn.Module:
    """Train ``model`` with the FixMatch objective for ``iterations`` SGD steps.

    Same arguments as :func:`alkit.engine.train.uda.train_uda` (labelled augmentation, Learning-Loss
    module, device, progress, history, warm-up); ``unlabelled_batch`` defaults to ``MU`` x
    ``batch_size`` as in the original. Returns the trained model in eval mode.
    """
    U = unlabelled_batch if unlabelled_batch is not None else MU * batch_size
    loss = functools.partial(pseudo_label_loss, threshold=threshold)
    return train_uda(model, data, labelled, unlabelled, iterations=iterations, weak=weak, strong=strong, seed=seed,
                     batch_size=batch_size, unlabelled_batch=U, lambda_u=lambda_u, unlabelled_loss=loss, **kwargs)
