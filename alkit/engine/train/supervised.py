"""Supervised training on the labelled set, with or without the Learning-Loss module.

The paper's recipe (Sec. 3.2.1): SGD lr 0.03, momentum 0.9, weight decay 5e-4, cosine schedule,
batch 64, 150 epochs per cycle, fresh initialisation each cycle. Images stay uint8 on the training
device; each batch is gathered by index, augmented batched on the device, then normalised.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkit.engine.data.base import ImageDataset, normalize
from alkit.engine.train.common import autocast, learning_loss_term, make_generator, sgd_cosine, to_layout

AUGMENT_CHUNK = 4096  # images augmented per batched call


def train_supervised(model: nn.Module, data: ImageDataset, labelled: np.ndarray, *, epochs: int,
                     augment, seed: int, batch_size: int = 64, lr: float = 0.03, momentum: float = 0.9,
                     weight_decay: float = 5e-4, lossnet: nn.Module | None = None,
                     ll_weight: float = 1.0, ll_margin: float = 1.0, ll_stop_fraction: float = 0.6,
                     min_steps: int = 0, ema: float = 0.0, progress=None) -> nn.Module:
    """Train ``model`` (already on ``data``'s device) on pool items ``labelled`` for ``epochs`` passes.

    ``augment``: callable uint8 ``[B, C, H, W]`` -> uint8 (see ``alkit.engine.augment``). With ``lossnet``
    (Learning Loss, Yoo & Kweon 2019) the loss is CE + ``ll_weight`` x margin-ranking loss; after
    ``ll_stop_fraction`` of the steps the module's gradient into the backbone is stopped
    (the original: epoch 120 of 200). ``min_steps``: train at least this many optimiser steps
    (epochs are raised to ``ceil(min_steps / steps_per_epoch)``): a handful of labels at batch 64
    is one step per epoch, far too few for any network (the paper's shortest schedule, 150 epochs
    over 250 labels, is 600 steps). ``ema``: decay of an exponential moving average of the weights
    (parameters and BatchNorm statistics; 0 = off); the returned model holds the average (Polyak
    averaging for evaluation, as in FixMatch / airbench; see :class:`WeightAverage`).
    ``progress``: optional tqdm bar advanced once per step. Returns the trained model in eval mode.
    """
    device = data.device
    gen = make_generator(seed, device)
    idx = torch.as_tensor(np.asarray(labelled), dtype=torch.long, device=device)
    epochs, total = training_length(len(idx), batch_size, epochs, min_steps)
    params = list(model.parameters()) + (list(lossnet.parameters()) if lossnet is not None else [])
    opt, sched = sgd_cosine(params, total, lr=lr, momentum=momentum, weight_decay=weight_decay)
    average = WeightAverage(model, ema) if ema > 0 else None
    model.train()
    if lossnet is not None:
        lossnet.train()
    step = 0
    for views, labels, bounds in _epoch_chunks(data, idx, epochs, augment, gen, batch_size):
        # ``views``: several epochs' shuffled, augmented, normalised images in one tensor; the
        # batches are contiguous slices of it (no per-step gather, augment or normalise call).
        for a, b in bounds:
            x, y = views[a:b], labels[a:b]
            with autocast(device):
                if lossnet is None:
                    loss = F.cross_entropy(model(x), y)
                else:
                    logits, _, taps = model.forward_features(x)
                    per_sample = F.cross_entropy(logits.float(), y, reduction="none")
                    stop = step >= ll_stop_fraction * total
                    loss = per_sample.mean() + ll_weight * learning_loss_term(
                        lossnet, taps, per_sample, stop_gradient=stop, margin=ll_margin)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if average is not None:
                average.update(step)
            if progress is not None:
                progress.update(1)
    if average is not None:
        average.copy_to(model)
    model.eval()
    if lossnet is not None:
        lossnet.eval()
    return model


def training_length(n: int, batch_size: int, epochs: int, min_steps: int = 0) -> tuple[int, int]:
    """``(epochs, total optimiser steps)`` of a training on ``n`` labelled items: ``ceil(n / batch_size)``
    steps per epoch, ``epochs`` raised to ``ceil(min_steps / steps_per_epoch)`` when that is more.
    Shared by :func:`train_supervised` and the stacked ensemble trainer
    (:func:`alkit.engine.train.stacked.train_stacked_supervised`)."""
    steps_per_epoch = math.ceil(n / batch_size)
    epochs = max(epochs, math.ceil(min_steps / steps_per_epoch))
    return epochs, steps_per_epoch * epochs


def _epoch_chunks(data: ImageDataset, idx: torch.Tensor, epochs: int, augment, gen: torch.Generator,
                  batch_size: int):
    """Yield ``(views, labels, bounds)`` for groups of whole epochs of at most ``AUGMENT_CHUNK``
    images (at least one epoch): every epoch a fresh permutation of ``idx``; ``views`` float
    ``[M, C, H, W]`` augmented and normalised (channels-last on CUDA), ``labels`` ``[M]``,
    ``bounds`` the ``(start, stop)`` rows of each batch (an epoch's last batch may be short).

    The stream depends on ``gen``'s seed only (not on other trainings): the stacked ensemble
    trainer (:mod:`alkit.engine.train.stacked`) draws one such stream per member, in lockstep.

    A few hundred labels are a few batches per epoch: augmenting dozens of epochs per call instead
    of one (or one batch) removes most of the per-call cost of the batched augmentation on a CPU."""
    n = len(idx)
    per_group = max(1, AUGMENT_CHUNK // max(1, n))
    device = data.device
    for first in range(0, epochs, per_group):
        count = min(per_group, epochs - first)
        order = torch.cat([idx[torch.randperm(n, generator=gen, device=device)] for _ in range(count)])
        views = torch.cat([augment(data.train_x[c], generator=gen) for c in order.split(AUGMENT_CHUNK)])
        views = normalize(views, data.mean, data.std)
        views = to_layout(views, device)
        bounds = [(e * n + a, min(e * n + a + batch_size, (e + 1) * n))
                  for e in range(count) for a in range(0, n, batch_size)]
        yield views, data.train_y[order], bounds


class WeightAverage:
    """An exponential moving average of a model's parameters and floating-point buffers
    (BatchNorm running statistics), for evaluation (Polyak & Juditsky 1992; used by FixMatch and
    airbench). ``update(step)`` after each optimiser step uses the decay
    ``min(decay, (1 + step) / (10 + step))`` (TensorFlow's warm-up, so early steps are not frozen
    into the average); ``copy_to(model)`` writes the average into the model."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.live = [t for t in _float_state(model)]
        self.shadow = [t.detach().clone() for t in self.live]

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        torch._foreach_lerp_(self.shadow, [t.detach() for t in self.live], 1.0 - d)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        for live, avg in zip(_float_state(model), self.shadow):
            live.copy_(avg)


def _float_state(model: nn.Module) -> list[torch.Tensor]:
    """The model's parameters and floating-point buffers, in a fixed order."""
    return [t for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()]


@torch.inference_mode()
def predict(model: nn.Module, x_uint8: torch.Tensor, mean, std, *, batch_size: int = 1024,
            lossnet: nn.Module | None = None, features: bool = False) -> dict[str, torch.Tensor]:
    """Batched inference on uint8 images ``[N, C, H, W]``.

    Returns ``{"probs": [N, K]}`` plus ``"embedding": [N, D]`` when ``features`` and
    ``"predicted_loss": [N]`` when a ``lossnet`` is given (all float32, on the images' device).
    """
    model.eval()
    device = x_uint8.device
    out: dict[str, list] = {"probs": [], "embedding": [], "predicted_loss": []}
    for chunk in x_uint8.split(batch_size):
        x = normalize(chunk, mean, std)
        x = to_layout(x, device)
        with autocast(device):
            if features or lossnet is not None:
                logits, emb, taps = model.forward_features(x)
                if features:
                    out["embedding"].append(emb.float())
                if lossnet is not None:
                    out["predicted_loss"].append(lossnet(taps).float())
            else:
                logits = model(x)
        out["probs"].append(torch.softmax(logits.float(), dim=1))
    return {k: torch.cat(v) for k, v in out.items() if v}


def accuracy(model: nn.Module, data: ImageDataset, batch_size: int = 1024) -> float:
    """Top-1 accuracy on the test set, in [0, 1]."""
    probs = predict(model, data.test_x, data.mean, data.std, batch_size=batch_size)["probs"]
    return float((probs.argmax(1) == data.test_y).float().mean())
