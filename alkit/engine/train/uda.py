"""Unsupervised Data Augmentation (UDA; Xie et al. 2019) — the semi-supervised trainer of SSL-X.

The paper (Sec. 3.1, 3.2.1, 3.2.3) trains every SSL-X model with the UDA objective instead of
plain supervised training:

    loss = CE(labelled batch of 64, "paper" augmentation)
         + lambda_u * consistency(weak view, strong view of an unlabelled batch of 320)

with a sharpening temperature of 0.5, a confidence mask of 0.6, lambda_u = 1, SGD(0.03, 0.9, 5e-4)
and a cosine schedule over a fixed number of *iterations* (50k per AL cycle at paper scale). Like
the paper we augment online. UDA's optional Training Signal Annealing (TSA) is not used: the paper
names only the confidence mask and the sharpening temperature.

The optimiser of google-research/uda (``image/main.py``; the paper: "other hyperparameters as in
UDA") differs from alkit's defaults in three places, each an option the ``paper`` recipe sets
(:data:`alkit.experiments.recipes.PAPER_SSL`): Nesterov momentum (``nesterov``); the learning rate
``lr * cos(7 pi k / (16 K))`` (``schedule="cosine-7/16"``, :func:`~alkit.engine.train.common.lr_factor`:
it ends at ~0.195 x lr, the original's only floor, there is no separate minimum-ratio flag; its
linear warm-up, ``warmup_steps``, defaults to 0 and the CIFAR-10 script keeps it so:
``lr_warmup=0``); and an exponential moving average of the weights and BatchNorm statistics with
decay 0.9999 that the evaluation uses (``ema``, ``ema_buffers="average"``). FixMatch's originals
use the same schedule and Nesterov, with decay 0.999 over the weights only (``ema_buffers="copy"``).
With ``ema`` the returned model holds the averaged weights, so the AL queries use them too.

Everything stays on the training device: the pool is a uint8 tensor, each batch is gathered by
index, the views are produced batched by ``alkit.engine.augment`` on that device (for several steps at once,
``AUGMENT_CHUNK`` images per call, so a GPU is not starved by kernel launches), and labelled, weak and
strong images go through the network in ONE forward pass per step (so BatchNorm sees all of them, as
in the reference implementation). No DataLoader, no per-sample Python.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkit.engine.data.base import ImageDataset, normalize
from alkit.engine.train.common import ParamEMA, autocast, learning_loss_term, make_generator, sgd_cosine, to_layout

AUGMENT_CHUNK = 8192  # images (labelled + 2 x unlabelled) augmented per batched call


def consistency_loss(logits_weak: torch.Tensor, logits_strong: torch.Tensor, temperature: float = 0.5,
                     threshold: float = 0.6) -> tuple[torch.Tensor, torch.Tensor]:
    """UDA's masked, sharpened consistency loss (Xie et al. 2019, Sec. 3 and "confidence-based masking").

    ``logits_weak``, ``logits_strong``: ``[B, K]`` predictions on the weakly and strongly augmented
    view of the same unlabelled images.

    - target  = softmax(logits_weak / ``temperature``), detached (no gradient into the weak branch);
      temperature < 1 sharpens it, 1 leaves it as is.
    - mask_i  = 1 if max_k softmax(logits_weak)_ik >= ``threshold`` (on the *unsharpened*
      prediction, as in UDA), else 0.
    - loss    = (1/B) * sum_i mask_i * KL(target_i || softmax(logits_strong)_i)

    Reduction: the mean over the WHOLE batch, masked rows counting as zero (UDA's reference code
    does the same), so the loss shrinks when few predictions are confident.

    Returns ``(loss, mask_fraction)``: a scalar tensor with gradient into ``logits_strong`` only,
    and the fraction of rows kept, a 0-dim float tensor (no host sync; call ``float()`` to log it).
    """
    if logits_weak.shape != logits_strong.shape or logits_weak.ndim != 2:
        raise ValueError(f"logits must both be [B, K]; got {tuple(logits_weak.shape)} and {tuple(logits_strong.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    with torch.no_grad():
        lw = logits_weak.detach().float()
        mask = (torch.softmax(lw, dim=1).amax(dim=1) >= threshold).float()  # [B]
        target = torch.softmax(lw / temperature, dim=1)  # [B, K]
        target_entropy_term = torch.special.xlogy(target, target).sum(dim=1)  # sum t log t, 0 log 0 = 0
    log_p = torch.log_softmax(logits_strong.float(), dim=1)  # [B, K]
    kl = target_entropy_term - (target * log_p).sum(dim=1)  # [B]
    return (kl * mask).mean(), mask.mean()


class _IndexStream:
    """Endless stream of positions ``0..n-1``: consecutive random permutations cut into batches.

    Every position is visited once per pass (so an unlabelled batch sweeps the whole pool and a
    tiny labelled set is repeated evenly); lives on the generator's device, no host syncs.
    """

    def __init__(self, n: int, generator: torch.Generator):
        if n <= 0:
            raise ValueError("cannot draw batches from an empty set of pool indices")
        self.n, self.gen = n, generator
        self.buf = torch.randperm(n, generator=generator, device=generator.device)
        self.pos = 0

    def take(self, k: int) -> torch.Tensor:
        parts, need = [], k
        while need > 0:
            if self.pos >= self.n:
                self.buf = torch.randperm(self.n, generator=self.gen, device=self.gen.device)
                self.pos = 0
            chunk = self.buf[self.pos:self.pos + need]
            parts.append(chunk)
            self.pos += len(chunk)
            need -= len(chunk)
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def _progress_bar(progress, total: int):
    """``progress``: True -> a new tqdm bar (closed by us); False/None -> none; else an object
    with ``update(n)`` (e.g. a caller's tqdm bar)."""
    if progress is True:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="SSL", leave=False), True
    if not progress:
        return None, False
    return progress, False


def train_uda(model: nn.Module, data: ImageDataset, labelled, unlabelled, *, iterations: int,
              weak, strong, seed: int, labelled_augment=None, batch_size: int = 64,
              unlabelled_batch: int = 320, lr: float = 0.03, momentum: float = 0.9,
              weight_decay: float = 5e-4, temperature: float = 0.5, threshold: float = 0.6,
              lambda_u: float = 1.0, lossnet: nn.Module | None = None, ll_weight: float = 1.0,
              ll_margin: float = 1.0, ll_stop_fraction: float = 0.6, device=None,
              progress=True, history: list | None = None, warmup: float = 0.0,
              unlabelled_loss=None, nesterov: bool = False, schedule: str = "cosine", lr_warmup: int = 0,
              ema: float = 0.0, ema_buffers: str = "copy") -> nn.Module:
    """Train ``model`` with the UDA objective for ``iterations`` SGD steps (see module docstring).

    Args:
        model: a classifier (``forward`` and, with ``lossnet``, ``forward_features``) taking
            normalised float ``[B, C, H, W]``.
        data: the :class:`ImageDataset` (uint8 pool ``train_x [N, C, H, W]``, labels ``train_y``).
        labelled, unlabelled: int arrays of pool indices. Unlabelled batches are drawn from all of
            ``unlabelled`` (labels of those items are never read).
        weak, strong: batched augmentations uint8 -> uint8 (``alkit.engine.augment``: "weak" = crop + flip,
            "strong" = AutoAugment + Cutout + crop + flip) for the two unlabelled views.
        labelled_augment: augmentation of the labelled batch; default ``strong`` (the paper keeps
            the Sec. 3.2.2 "paper" augmentation for the labelled loss).
        batch_size, unlabelled_batch: 64 and 320 in the paper.
        temperature, threshold, lambda_u: UDA's sharpening, confidence mask and loss weight.
        lossnet: Learning-Loss module (Yoo & Kweon 2019), trained with the margin-ranking loss on
            the *labelled* per-sample CE only (SSL-LL); its gradient into the backbone stops after
            ``ll_stop_fraction`` of the iterations, as in ``train_supervised``.
        device: where to train; default ``data``'s device (data and model are moved there once).
        progress: True (own tqdm bar), False, or a bar-like object with ``update``.
        history: optional list; every 50 steps (and at the end) a dict with step, loss_l, loss_u and
            mask fraction is appended (this forces one host sync per 50 steps).
        warmup: fraction of ``iterations`` over which the weight of the unlabelled loss ramps
            linearly from 0 to ``lambda_u`` (0 = none, the paper's setting).
        unlabelled_loss: ``f(logits_weak [U, K], logits_strong [U, K]) -> (loss, mask_fraction)``;
            default UDA's :func:`consistency_loss` with ``temperature`` and ``threshold``
            (FixMatch passes its pseudo-label loss, :mod:`alkit.engine.train.fixmatch`).
        nesterov, schedule, lr_warmup: SGD's Nesterov momentum, ``"cosine"`` (alkit, to zero) or
            ``"cosine-7/16"`` (the originals), linear learning-rate warm-up in steps
            (:func:`alkit.engine.train.common.sgd_cosine`); defaults alkit's.
        ema, ema_buffers: decay of a constant-decay moving average of the weights written into the
            model at the end (0 = off; FixMatch 0.999 with ``"copy"``, UDA 0.9999 with
            ``"average"``; :class:`alkit.engine.train.common.ParamEMA`).

    Returns the trained model (and ``lossnet``, trained in place) in eval mode.
    """
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    device = torch.device(device) if device is not None else data.device
    if data.device != device:
        data = data.to(device)
    model.to(device)
    if lossnet is not None:
        lossnet.to(device)
    labelled_augment = labelled_augment if labelled_augment is not None else strong
    lab = torch.as_tensor(np.asarray(labelled, dtype=np.int64), device=device)
    unl = torch.as_tensor(np.asarray(unlabelled, dtype=np.int64), device=device)
    gen = make_generator(seed, device)
    lab_stream = _IndexStream(len(lab), gen)
    unl_stream = _IndexStream(len(unl), gen) if len(unl) > 0 and lambda_u > 0 else None

    params = list(model.parameters()) + (list(lossnet.parameters()) if lossnet is not None else [])
    opt, sched = sgd_cosine(params, iterations, lr=lr, momentum=momentum, weight_decay=weight_decay,
                            nesterov=nesterov, schedule=schedule, warmup=lr_warmup)
    average = ParamEMA(model, ema, ema_buffers) if ema > 0 else None
    if average is not None and iterations < 1.0 / (1.0 - ema):
        warnings.warn(f"train_uda: a weight average with decay {ema} over {iterations} iterations (its time "
                      f"constant is {1.0 / (1.0 - ema):.0f} steps) is mostly the initial weights; the originals "
                      f"run 50k+ steps (ema=0 turns it off)", stacklevel=2)
    bar, own_bar = _progress_bar(progress, iterations)
    model.train()
    if lossnet is not None:
        lossnet.train()
    mean, std = data.mean, data.std
    B, U = batch_size, (unlabelled_batch if unl_stream is not None else 0)
    per_chunk = max(1, AUGMENT_CHUNK // (B + 2 * U))  # steps whose views are made in one call
    views = None
    for step in range(iterations):
        j = step % per_chunk
        if j == 0:  # augment the next `per_chunk` steps at once (few large batched calls)
            n = min(per_chunk, iterations - step)
            li = lab[lab_stream.take(n * B)]
            views = [labelled_augment(data.train_x[li], generator=gen).unflatten(0, (n, B))]
            labels = data.train_y[li].view(n, B)
            if U:
                raw = data.train_x[unl[unl_stream.take(n * U)]]
                views += [weak(raw, generator=gen).unflatten(0, (n, U)),
                          strong(raw, generator=gen).unflatten(0, (n, U))]
        x = normalize(torch.cat([v[j] for v in views]), mean, std)  # [B + 2U, C, H, W], one forward pass
        x = to_layout(x, device)
        y = labels[j]
        with autocast(device):
            if lossnet is None:
                logits, taps = model(x), None
            else:
                logits, _, taps = model.forward_features(x)
        logits = logits.float()
        per_sample = F.cross_entropy(logits[:B], y, reduction="none")
        loss_l = per_sample.mean()
        loss = loss_l
        if unl_stream is not None:
            lw, ls = logits[B:].chunk(2)
            if unlabelled_loss is None:
                loss_u, mask_frac = consistency_loss(lw, ls, temperature, threshold)
            else:
                loss_u, mask_frac = unlabelled_loss(lw, ls)
            ramp = min(1.0, (step + 1) / (warmup * iterations)) if warmup > 0 else 1.0
            loss = loss + (lambda_u * ramp) * loss_u
        else:
            loss_u = mask_frac = torch.zeros((), device=device)
        if lossnet is not None:
            with autocast(device):
                ll = learning_loss_term(lossnet, [t[:B] for t in taps], per_sample,
                                        stop_gradient=step >= ll_stop_fraction * iterations, margin=ll_margin)
            loss = loss + ll_weight * ll
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if average is not None:
            average.update()
        if bar is not None:
            bar.update(1)
        if (step + 1) % 50 == 0 or step + 1 == iterations:
            if history is not None or own_bar:
                stats = dict(step=step + 1, loss_l=float(loss_l.detach()), loss_u=float(loss_u.detach()),
                             mask=float(mask_frac))
                if history is not None:
                    history.append(stats)
                if own_bar:
                    bar.set_postfix(loss_l=f"{stats['loss_l']:.3f}", loss_u=f"{stats['loss_u']:.3f}",
                                    mask=f"{stats['mask']:.2f}")
    if own_bar:
        bar.close()
    if average is not None:
        average.copy_to()
    model.eval()
    if lossnet is not None:
        lossnet.eval()
    return model
