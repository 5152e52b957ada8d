"""Supervised training and evaluation of segmentation networks (paper Sec. 4.3).

The paper's recipe (DeepLab-v2): SGD, base lr 2.5e-4 (10x on the ASPP head, as in DeepLab),
momentum 0.9, weight decay 5e-4, "poly" schedule lr * (1 - step/total)^0.9, batch 10, random
horizontal flip + random scaled crop (321x321, scale 0.5-1.5), cross-entropy that skips the ignore
index (255), 150 epochs per cycle, fresh network each cycle. The small network for the embedded
``shapes`` data trains from scratch with its own measured recipe (AdamW with warm-up and a cosine
schedule, epochs of at least 10 batches, a weight average for evaluation; see the SEGMENTATION
part of :mod:`alkit.experiments.recipes`), passed in by :mod:`alkit.tasks.segmentation`.

Augmentation is batched: one affine grid per image (scale, position, flip) and one
``grid_sample`` call for the whole batch; pixels outside the image become ``ignore_index`` in the
mask and the mean colour in the image. Lists of differently sized images (VOC) are cropped one by
one to the common crop size, then stacked.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkit.engine.metrics import miou_from_confusion
from alkit.engine.train import common
from alkit.engine.train.common import autocast, epoch_batches, learning_loss_term, make_generator, to_layout


def _norm(x_uint8: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.tensor(mean, device=x_uint8.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x_uint8.device).view(1, -1, 1, 1)
    return (x_uint8.float() / 255.0 - m) / s


def soft_dice_loss(logits: torch.Tensor, y: torch.Tensor, ignore_index: int = 255, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss (Milletari et al. 2016, V-Net), a scalar: ``1 - mean_k (2 sum p_k g_k + s) / (sum p_k
    + sum g_k + s)`` over the classes ``k``, with ``p`` the softmax of ``logits`` float ``[B, K, H, W]``,
    ``g`` the one-hot masks ``y`` int ``[B, H, W]``, sums over every valid pixel of the batch (pixels at
    ``ignore_index`` count for neither), ``s = smooth`` (a class absent from both scores 1).

    Each class weighs the same whatever its area, so a thin class the network has not learned yet
    costs as much as a large one; pixel cross-entropy alone lets a network ignore it for a long
    time (the ``shapes`` recipe's reason, :data:`alkit.experiments.recipes.SEGMENTATION`)."""
    # pixels flattened ([B, K, H W]) and sums over the last axis, then over images: one softmax, one
    # scatter for the masked one-hot; 2.1 against 3.6 ms forward + backward for a [10, 6, 48, 48] batch
    # (one thread) with the one_hot / permute / sum((0, 2, 3)) form
    b, k = logits.shape[:2]
    probs = torch.softmax(logits.float(), 1).reshape(b, k, -1)
    valid = (y != ignore_index).reshape(b, 1, -1)
    classes = torch.where(valid, y.reshape(b, 1, -1), torch.zeros_like(valid, dtype=y.dtype))
    onehot = torch.zeros_like(probs).scatter_(1, classes.long(), valid.to(probs.dtype))  # 0 at ignore pixels
    inter = (probs * onehot).sum(2).sum(0)
    total = (probs * valid).sum(2).sum(0) + onehot.sum(2).sum(0)
    return 1.0 - ((2.0 * inter + smooth) / (total + smooth)).mean()


def random_scaled_crop(x: torch.Tensor, y: torch.Tensor, size: int, scale_range=(0.5, 1.5), hflip: bool = True,
                       ignore_index: int = 255, generator: torch.Generator | None = None):
    """Batched random scale + crop (+ horizontal flip) of images and masks.

    x: float normalised ``[B, 3, H, W]``; y: integer ``[B, H, W]``. Returns float ``[B, 3, size, size]``
    and int64 ``[B, size, size]``. Each image is rescaled by a factor in ``scale_range`` and a
    ``size x size`` window is cut at a random position (padding with ignore where it leaves the image).
    """
    B, _, H, W = x.shape
    dev = x.device
    u = torch.rand(B, 4, generator=generator, device=dev)
    s = scale_range[0] + (scale_range[1] - scale_range[0]) * u[:, 0]
    ax, ay = size / s / W, size / s / H  # half window size in normalised input coordinates
    tx = (2 * u[:, 1] - 1) * (1 - ax).abs()
    ty = (2 * u[:, 2] - 1) * (1 - ay).abs()
    flip = torch.where((u[:, 3] < 0.5) & hflip, -1.0, 1.0)
    theta = torch.zeros(B, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = ax * flip, tx, ay, ty
    grid = F.affine_grid(theta, (B, 1, size, size), align_corners=False)
    xo = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    yo = F.grid_sample(y.unsqueeze(1).float() + 1, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    yo = yo.squeeze(1).long() - 1
    yo[yo < 0] = ignore_index
    return xo, yo


def _batch(images, masks, idx: np.ndarray, device, mean, std, crop: int, scale_range, hflip, ignore_index, gen):
    """Gather + augment one training batch from stacked tensors or lists of tensors."""
    if isinstance(images, torch.Tensor):
        t = torch.as_tensor(idx, device=images.device)
        x, y = _norm(images[t].to(device), mean, std), masks[t].to(device)
        return random_scaled_crop(x, y, crop, scale_range, hflip, ignore_index, gen)
    parts = [random_scaled_crop(_norm(images[i][None].to(device), mean, std), masks[i][None].to(device), crop,
                                scale_range, hflip, ignore_index, gen) for i in idx]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def param_groups(model: nn.Module, lr: float, head_lr_mult: float = 10.0):
    """DeepLab convention: the ASPP head (``model.head``) learns ``head_lr_mult`` x faster."""
    head = getattr(model, "head", None)
    if head is None or head_lr_mult == 1:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]
    head_ids = {id(p) for p in head.parameters()}
    body = [p for p in model.parameters() if id(p) not in head_ids and p.requires_grad]
    return [{"params": body, "lr": lr}, {"params": list(head.parameters()), "lr": lr * head_lr_mult}]


def seg_optimizer(groups, total: int, *, optimizer: str = "sgd", lr: float, momentum: float = 0.9,
                  weight_decay: float = 5e-4, schedule: str = "poly", poly_power: float = 0.9, warmup: int = 0):
    """(optimizer, scheduler) of a segmentation run of ``total`` steps over param ``groups``.

    ``optimizer="sgd"`` (the paper's: momentum, weight decay) or ``"adamw"`` (decoupled weight
    decay, betas (0.9, 0.999)); ``schedule="poly"`` (DeepLab: ``(1 - s/total)^poly_power``) or
    ``"cosine"``; the first ``warmup`` steps ramp the lr linearly from ``1/warmup`` of it."""
    # foreach: one multi-tensor update per step (torch picks the per-tensor loop on the CPU; for the
    # small network's ~40 tensors that loop was 12 % of a training step)
    if optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, **common.optimizer_impl())
    elif optimizer == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, **common.optimizer_impl())
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from sgd, adamw")
    if schedule not in ("poly", "cosine"):
        raise ValueError(f"unknown schedule {schedule!r}; choose from poly, cosine")
    warmup = max(0, min(int(warmup), total - 1))

    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        frac = min(s - warmup, total - warmup) / max(1, total - warmup)
        return max(0.0, 1 - frac) ** poly_power if schedule == "poly" else 0.5 * (1 + math.cos(math.pi * frac))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


class WeightAverage:
    """Exponential moving average of modules' parameters and buffers (BatchNorm statistics
    included) for evaluation; decay ``min(decay, (1 + t) / (10 + t))`` at update ``t``, so short
    runs are not dominated by the initial weights. ``decay=0`` disables it (``copy_to`` is a no-op).
    ``None`` modules are skipped (e.g. no Learning-Loss module)."""

    def __init__(self, *modules: nn.Module | None, decay: float):
        self.decay, self.t = float(decay), 0
        self.tensors = [v for m in modules if m is not None for v in m.state_dict().values()
                        if v.dtype.is_floating_point] if decay > 0 else []
        self.avg = [v.detach().clone() for v in self.tensors]

    @torch.no_grad()
    def update(self) -> None:
        if not self.avg:
            return
        d = min(self.decay, (1 + self.t) / (10 + self.t))
        torch._foreach_lerp_(self.avg, [v.detach() for v in self.tensors], 1 - d)
        self.t += 1

    @torch.no_grad()
    def copy_to(self) -> None:
        """Write the averaged values into the model (its parameters and buffers)."""
        for v, a in zip(self.tensors, self.avg):
            v.copy_(a)


def train_steps(n_labelled: int, batch_size: int, epochs: int, min_epoch_steps: int = 0) -> int:
    """Optimiser steps of ``epochs`` epochs over ``n_labelled`` images in batches of ``batch_size``,
    where an epoch is at least ``min_epoch_steps`` batches (a few labels are a few steps per epoch;
    the labelled images are then drawn again, in fresh shuffled passes)."""
    return max(1, int(epochs) * max(math.ceil(n_labelled / batch_size), int(min_epoch_steps)))


def train_segmentation(model: nn.Module, images, masks, labelled: np.ndarray, *, epochs: int, seed: int,
                       mean, std, num_classes: int, crop_size: int, scale_range=(0.5, 1.5), hflip: bool = True,
                       batch_size: int = 10, lr: float = 2.5e-4, momentum: float = 0.9, weight_decay: float = 5e-4,
                       poly_power: float = 0.9, head_lr_mult: float = 10.0, ignore_index: int = 255,
                       lossnet: nn.Module | None = None, ll_weight: float = 1.0, ll_stop_fraction: float = 0.6,
                       optimizer: str = "sgd", schedule: str = "poly", warmup: int = 0, min_epoch_steps: int = 0,
                       ema: float = 0.0, dice_weight: float = 0.0, device=None, progress: bool = False) -> nn.Module:
    """Train ``model`` on pool items ``labelled`` of ``images`` / ``masks`` for ``epochs`` passes.

    images: uint8 ``[N, 3, H, W]`` or list of ``[3, H_i, W_i]``; masks: uint8 ``[N, H, W]`` / list
    (the *approximated* masks in AL). With ``lossnet`` (Learning Loss, Yoo & Kweon 2019, adapted to
    segmentation by predicting each image's mean pixel cross-entropy) the loss is CE +
    ``ll_weight`` x margin ranking loss, the module's gradient into the backbone is stopped after
    ``ll_stop_fraction`` of the steps. The defaults are the paper's (SGD, poly); ``optimizer``,
    ``schedule``, ``warmup`` (:func:`seg_optimizer`), ``min_epoch_steps`` (:func:`train_steps`) and
    ``ema`` (:class:`WeightAverage`: the averaged weights are the returned model's) and ``dice_weight``
    (the loss adds ``dice_weight`` x :func:`soft_dice_loss` of each batch; 0 = cross-entropy alone, the
    paper's) serve the small network's recipe (:data:`alkit.experiments.recipes.SEGMENTATION`).
    Returns the model in eval mode.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    gen = make_generator(seed, device)
    labelled = np.asarray(labelled, dtype=np.int64)
    total = train_steps(len(labelled), batch_size, epochs, min_epoch_steps)
    groups = param_groups(model, lr, head_lr_mult)
    if lossnet is not None:
        groups.append({"params": list(lossnet.parameters()), "lr": groups[-1]["lr"]})
    opt, sched = seg_optimizer(groups, total, optimizer=optimizer, lr=lr, momentum=momentum,
                               weight_decay=weight_decay, schedule=schedule, poly_power=poly_power, warmup=warmup)
    average = WeightAverage(model, lossnet, decay=ema)
    model.train()
    if lossnet is not None:
        lossnet.train()
    step = 0
    bar = tqdm(total=total, desc="train", unit="step", leave=False, disable=not progress)
    while step < total:
        for pos in epoch_batches(len(labelled), batch_size, gen):
            if step >= total:
                break
            idx = labelled[pos.cpu().numpy()]
            x, y = _batch(images, masks, idx, device, mean, std, crop_size, scale_range, hflip, ignore_index, gen)
            x = to_layout(x, device)
            with autocast(device):
                logits, taps = model.forward_features(x)
            pix = F.cross_entropy(logits.float(), y, ignore_index=ignore_index, reduction="none")
            valid = (y != ignore_index).sum((1, 2)).clamp_min(1)
            per_image = pix.sum((1, 2)) / valid  # [B] mean CE over each image's labelled pixels
            loss = pix.sum() / valid.sum()
            if dice_weight:
                loss = loss + dice_weight * soft_dice_loss(logits, y, ignore_index)
            if lossnet is not None:
                with autocast(device):
                    loss = loss + ll_weight * learning_loss_term(lossnet, taps, per_image,
                                                                 stop_gradient=step >= ll_stop_fraction * total)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            average.update()
            step += 1
            bar.update(1)
    bar.close()
    average.copy_to()
    model.eval()
    if lossnet is not None:
        lossnet.eval()
    return model


@torch.inference_mode()
def iterate_predictions(model: nn.Module, images, indices, mean, std, *, batch_size: int = 64,
                        lossnet: nn.Module | None = None, device=None):
    """Yield ``(positions, probs, predicted_loss)`` over ``images[indices]`` in chunks.

    positions: int64 array into ``indices``; probs: float32 ``[b, K, H, W]`` softmax on the model's
    device; predicted_loss: ``[b]`` or None. Lists of images go one at a time (their sizes differ).
    """
    model.eval()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    indices = np.asarray(indices, dtype=np.int64)
    step = batch_size if isinstance(images, torch.Tensor) else 1
    for start in range(0, len(indices), step):
        pos = np.arange(start, min(start + step, len(indices)))
        if isinstance(images, torch.Tensor):
            x = images[torch.as_tensor(indices[pos], device=images.device)].to(device)
        else:
            x = images[int(indices[pos[0]])][None].to(device)
        x = _norm(x, mean, std)
        x = to_layout(x, device)
        with autocast(device):
            logits, taps = model.forward_features(x)
            pred_loss = lossnet(taps).float() if lossnet is not None else None
        yield pos, torch.softmax(logits.float(), 1), pred_loss


def confusion_matrix(true: torch.Tensor, pred: torch.Tensor, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """int64 ``[K, K]`` (rows = true class) over the pixels of ``true`` that are not ignored."""
    t, p = true.reshape(-1).long(), pred.reshape(-1).long()
    keep = t != ignore_index
    return torch.bincount(t[keep] * num_classes + p[keep], minlength=num_classes ** 2).view(num_classes, num_classes)


def miou(cm: torch.Tensor | np.ndarray) -> float:
    """Mean IoU over classes present in the confusion matrix (truth or prediction)."""
    return miou_from_confusion(cm.cpu().numpy() if isinstance(cm, torch.Tensor) else cm)


def evaluate_segmentation(model: nn.Module, images, masks, num_classes: int, mean, std, *,
                          ignore_index: int = 255, batch_size: int = 64, device=None) -> tuple[float, np.ndarray]:
    """(mIoU in [0, 1], confusion matrix ``[K, K]``) of ``model`` on all images vs ``masks``."""
    cm = None
    for pos, probs, _ in iterate_predictions(model, images, np.arange(len(images)), mean, std,
                                              batch_size=batch_size, device=device):
        true = masks[torch.as_tensor(pos, device=masks.device)] if isinstance(masks, torch.Tensor) else masks[int(pos[0])][None]
        part = confusion_matrix(true.to(probs.device), probs.argmax(1), num_classes, ignore_index)
        cm = part if cm is None else cm + part
    cm = cm.cpu().numpy()
    return miou(cm), cm
