"""s4GAN semi-supervised training of a segmentation network (Mittal et al. 2019, s4GAN branch) —
the trainer of the paper's SSL-X segmentation runs (Sec. 4.3, Fig. 13 dashed lines).

The segmentation network is the generator G, :class:`~alkit.engine.models.discriminator.S4GANDiscriminator`
the discriminator D. One iteration takes a labelled batch (image x_l, mask y_l) and an unlabelled
batch x_u (both with the supervised recipe's random scaled crop):

* generator loss  = CE(G(x_l), y_l)                                   (ignore pixels skipped)
                  + lambda_fm * | mean_b f(x_g ⊕ onehot(y_g)) - mean_b f(x_u ⊕ softmax G(x_u)) |_1 / d
                  + lambda_st * CE(G(x_u_i), argmax G(x_u_i)) over unlabelled images i with
                    sigmoid D(x_u_i ⊕ softmax G(x_u_i)) > st_threshold          (self-training)
  where f is D's pooled penultimate feature (feature matching; mean absolute difference) and
  (x_g, y_g) the "real" batch (see ``real_batch`` below);
* discriminator loss = BCE(D(x_g ⊕ onehot(y_g)), 1) and BCE(D(x_u ⊕ softmax G(x_u)).detach(), 0),
  summed (``d_loss="sum"``) or averaged (``d_loss="mean"``, the original's ``(fake + real) / 2``).

Original hyperparameters: lambda_fm 0.1, lambda_st 1.0, st_threshold 0.6, D: Adam(lr 1e-4,
betas (0.9, 0.99)); G keeps its supervised recipe (SGD, poly schedule); paper scale 10k iterations
per AL cycle with batch 8 (Sec. 4.3).

**Fidelity options** (sud0301/semisup-semseg ``train_s4GAN.py`` and ``model/discriminator.py``;
each default keeps alkit's earlier behaviour, which the small ``shapes`` recipe's stored results
were computed with; the ``paper`` recipe, :mod:`alkit.experiments.recipes`, sets the original's):

=====================  =====================================  ======================================
option                 alkit default                           original (``paper`` recipe)
=====================  =====================================  ======================================
``d_dropout_layers``   4: dropout after every D convolution    3: after conv1-3, none after conv4
``lr_d_schedule``      ``"constant"``: Adam at ``lr_d``         ``"poly"``: ``lr_d (1 - k/K)^0.9`` at
                                                               iteration k of K, like G's
``d_loss``             ``"sum"``: real + fake                  ``"mean"``: (real + fake) / 2
``d_input``            ``"normalised"``: G's input (mean/std)  ``"minmax"``: ``(x - min x) / (max x -
                                                               min x)`` over the batch, in [0, 1]
``real_batch``         ``"same"``: the labelled batch of CE    ``"separate"``: its own labelled
                                                               batch (the original's ``trainloader_gt``)
``ignore_fill``        ``"prediction"`` (below)                ``"zeros"``: an all-zero one-hot
``sampling``           ``"replacement"``: each batch drawn     ``"passes"``: shuffled passes over
                       uniformly with replacement              the set (``SubsetRandomSampler``)
=====================  =====================================  ======================================

Remaining differences from the original: its ``"minmax"`` scaling divides the ground-truth batch by
the *labelled* batch's range (``(images_gt - min(images_gt)) / (max(images) - min(images))``, a slip
of the original); alkit uses each batch's own range. The original's G input is caffe-style BGR with
the mean subtracted, alkit's is RGB normalised by mean and std, so min-max scaled images differ by a
per-channel affine map. Its loaders end a pass with a short batch; alkit's ``"passes"`` streams run
on into the next pass so every batch is full. The original skips self-training at iteration 0.

**Ignore pixels in the "real" maps.** Masks may hold ``ignore_index`` (crop padding, void labels,
the unlabelled pixels of a partially labelled image in polygon-level labelling). With
``ignore_fill="prediction"`` the real map takes the generator's own (detached) softmax at those
pixels: D then judges only the labelled pixels' agreement with the image, and a partially labelled
image still contributes as a real example (a labelled batch with no valid pixel at all is then a
copy of the prediction, harmless for D on average). ``ignore_fill="zeros"`` is the original's
``one_hot``: every class channel 0 at an ignore pixel.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkit.engine.models.discriminator import S4GANDiscriminator
from alkit.engine.train.common import autocast, learning_loss_term, make_generator, optimizer_impl
from alkit.engine.train.segmentation import (WeightAverage, _batch, _norm, param_groups, seg_optimizer, soft_dice_loss,
                                             to_layout)

# Mittal et al. 2019 (s4GAN branch), paper-scale settings; see the module docstring.
S4GAN_DEFAULTS = dict(lambda_fm=0.1, lambda_st=1.0, st_threshold=0.6, lr_d=1e-4, betas_d=(0.9, 0.99), d_width=64)
# The original's choices for the fidelity options (module docstring); the paper recipe sets them.
S4GAN_ORIGINAL = dict(d_dropout_layers=3, lr_d_schedule="poly", d_loss="mean", d_input="minmax",
                      real_batch="separate", ignore_fill="zeros", sampling="passes")
_CHOICES = dict(lr_d_schedule=("constant", "poly"), d_loss=("sum", "mean"), d_input=("normalised", "minmax"),
                real_batch=("same", "separate"), ignore_fill=("prediction", "zeros"),
                sampling=("replacement", "passes"))


def real_maps(y: torch.Tensor, probs: torch.Tensor | None, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """One-hot "real" class maps ``[B, K, H, W]`` from masks ``y`` int ``[B, H, W]``; at ``ignore_index``
    pixels the (detached) predicted probabilities ``probs`` ``[B, K, H, W]`` fill in, or, with
    ``probs=None``, zeros in every channel (the original's ``one_hot``)."""
    valid = y != ignore_index
    onehot = F.one_hot(torch.where(valid, y, torch.zeros_like(y)), num_classes).permute(0, 3, 1, 2).float()
    fill = torch.zeros_like(onehot) if probs is None else probs.detach().float()
    return torch.where(valid.unsqueeze(1), onehot, fill)


def d_image(x: torch.Tensor, how: str = "normalised") -> torch.Tensor:
    """The image channels D sees for G's input batch ``x`` float ``[B, 3, H, W]``: ``x`` itself
    (``"normalised"``) or the original's ``(x - x.min()) / (x.max() - x.min())`` with min and max
    over the whole batch (``"minmax"``, values in [0, 1]; a constant batch gives zeros)."""
    if how == "normalised":
        return x
    if how != "minmax":
        raise ValueError(f"d_input must be 'normalised' or 'minmax', got {how!r}")
    lo, hi = x.amin(), x.amax()
    return (x - lo) / (hi - lo).clamp_min(1e-12)


def poly_factor(step: int, total: int, power: float = 0.9) -> float:
    """The original's ``lr_poly`` factor ``(1 - step / total) ** power`` (``step`` 0-based)."""
    return (1.0 - float(step) / max(1, int(total))) ** power


@contextlib.contextmanager
def _frozen(module: nn.Module):
    """``module``'s parameters without ``requires_grad`` for the block, each flag restored after it.

    The generator step backpropagates through D only to reach G: with D's parameters frozen, autograd
    computes D's input gradients (what G needs, the same kernels and the same numbers) and skips D's
    weight gradients, which the step discarded anyway (D's gradients are cleared before its own step)."""
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def _sample(pool: np.ndarray, n: int, gen: torch.Generator) -> np.ndarray:
    """``n`` items of ``pool`` drawn uniformly with replacement (seeded by ``gen``)."""
    return pool[torch.randint(len(pool), (n,), generator=gen, device=gen.device).cpu().numpy()]


class _Passes:
    """``n`` items at a time from consecutive shuffled passes over ``pool`` (each item once per
    pass; a batch that crosses the end of a pass continues in the next one)."""

    def __init__(self, pool: np.ndarray, gen: torch.Generator):
        self.pool, self.gen, self.order, self.pos = pool, gen, np.zeros(0, np.int64), 0

    def __call__(self, n: int) -> np.ndarray:
        out = []
        while n > 0:
            if self.pos >= len(self.order):
                self.order = torch.randperm(len(self.pool), generator=self.gen, device=self.gen.device).cpu().numpy()
                self.pos = 0
            take = self.order[self.pos:self.pos + n]
            out.append(self.pool[take])
            self.pos += len(take)
            n -= len(take)
        return np.concatenate(out)


def _sampler(pool: np.ndarray, how: str, gen: torch.Generator):
    """A function ``n -> n items of pool`` drawn as ``how`` says (``"replacement"`` / ``"passes"``)."""
    return _Passes(pool, gen) if how == "passes" else (lambda n: _sample(pool, n, gen))


def train_s4gan(model: nn.Module, images, masks, labelled, unlabelled, *, iterations: int, batch_size: int = 8,
                lr: float = 2.5e-4, seed: int = 0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                num_classes: int | None = None, crop_size: int = 321, scale_range=(0.5, 1.5), hflip: bool = True,
                momentum: float = 0.9, weight_decay: float = 5e-4, poly_power: float = 0.9,
                head_lr_mult: float = 10.0, ignore_index: int = 255, lambda_fm: float = 0.1, lambda_st: float = 1.0,
                st_threshold: float = 0.6, lr_d: float = 1e-4, betas_d=(0.9, 0.99), d_width: int = 64,
                discriminator: nn.Module | None = None, lossnet: nn.Module | None = None, ll_weight: float = 1.0,
                ll_stop_fraction: float = 0.6, optimizer: str = "sgd", schedule: str = "poly", warmup: int = 0,
                ema: float = 0.0, d_dropout_layers: int = 4, lr_d_schedule: str = "constant", d_loss: str = "sum",
                d_input: str = "normalised", real_batch: str = "same", ignore_fill: str = "prediction",
                sampling: str = "replacement", d_pool: int = 1, dice_weight: float = 0.0, device=None, progress: bool = False,
                stats: dict | None = None):
    """Train segmentation network ``model`` (the generator) with s4GAN; returns ``(model, discriminator)``
    both in eval mode.

    images: uint8 ``[N, 3, H, W]`` or a list of ``[3, H_i, W_i]``; masks: integer ``[N, H, W]`` / list
    (the approximated masks; ``ignore_index`` pixels add nothing to the CE, see the module docstring
    for the discriminator). ``labelled`` / ``unlabelled``: int arrays of image indices (they may
    overlap: a partially labelled image is both). ``iterations`` G/D update pairs of ``batch_size``
    labelled + ``batch_size`` unlabelled images. With an empty ``unlabelled`` the unlabelled batch
    is the labelled images (feature matching / self-training on their predictions). ``lossnet``:
    Learning Loss module trained with the generator (CE + ``ll_weight`` x ranking loss), as in
    :func:`alkit.engine.train.segmentation.train_segmentation`. ``stats``: optional dict that
    receives the mean losses and the fraction of unlabelled images that passed the threshold.
    ``optimizer``, ``schedule``, ``warmup``, ``ema``, ``dice_weight``: the generator's optimiser, weight
    averaging and labelled loss (cross-entropy + ``dice_weight`` x soft Dice) as in the supervised
    recipe (:func:`alkit.engine.train.segmentation.train_segmentation`).
    ``d_dropout_layers``, ``lr_d_schedule``, ``d_loss``, ``d_input``, ``real_batch``, ``ignore_fill``,
    ``sampling``: alkit's choice or the original's (:data:`S4GAN_ORIGINAL`), see the module
    docstring. ``d_pool``: D sees its input average-pooled ``d_pool`` x ``d_pool`` (1 = the original;
    the small ``shapes`` recipe's cheaper D). The returned discriminator remembers ``d_input`` (``D.image_input``) for
    :func:`discriminator_scores`.
    """
    from tqdm.auto import tqdm

    for name, value in (("lr_d_schedule", lr_d_schedule), ("d_loss", d_loss), ("d_input", d_input),
                        ("real_batch", real_batch), ("ignore_fill", ignore_fill), ("sampling", sampling)):
        if value not in _CHOICES[name]:
            raise ValueError(f"train_s4gan: {name} must be one of {', '.join(_CHOICES[name])}, got {value!r}")

    device = torch.device(device) if device is not None else next(model.parameters()).device
    labelled = np.asarray(labelled, dtype=np.int64).reshape(-1)
    unlabelled = np.asarray(unlabelled, dtype=np.int64).reshape(-1)
    if len(labelled) == 0:
        raise ValueError("train_s4gan needs at least one labelled image")
    if len(unlabelled) == 0:
        unlabelled = labelled
    if num_classes is None:
        num_classes = int(model.classifier.out_channels) if hasattr(model, "classifier") else None
        if num_classes is None:
            raise ValueError("train_s4gan: give num_classes")
    gen = make_generator(seed, device)
    if discriminator is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 4242)
            discriminator = S4GANDiscriminator(num_classes, width=d_width, dropout_layers=d_dropout_layers,
                                               input_pool=d_pool)
    D = discriminator.to(device)
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()):
        raise ValueError("train_s4gan passes real and fake maps through the discriminator as one batch: "
                         "a discriminator with batch norm would mix their statistics")
    D.image_input = d_input
    iterations = max(1, int(iterations))
    groups = param_groups(model, lr, head_lr_mult)
    if lossnet is not None:
        groups.append({"params": list(lossnet.parameters()), "lr": groups[-1]["lr"]})
    opt, sched = seg_optimizer(groups, iterations, optimizer=optimizer, lr=lr, momentum=momentum,
                               weight_decay=weight_decay, schedule=schedule, poly_power=poly_power, warmup=warmup)
    average = WeightAverage(model, lossnet, decay=ema)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=tuple(betas_d), **optimizer_impl())
    draw_l, draw_u = _sampler(labelled, sampling, gen), _sampler(unlabelled, sampling, gen)
    draw_g = _sampler(labelled, sampling, gen) if real_batch == "separate" else None
    model.train(), D.train()
    if lossnet is not None:
        lossnet.train()
    sums = dict(ce=0.0, fm=0.0, st=0.0, d=0.0, passed=0.0)
    bar = tqdm(total=iterations, desc="s4gan", unit="step", leave=False, disable=not progress)
    for step in range(iterations):
        if lr_d_schedule == "poly":  # the original's adjust_learning_rate_D, before the step
            for group in opt_d.param_groups:
                group["lr"] = lr_d * poly_factor(step, iterations, poly_power)
        il, iu = draw_l(batch_size), draw_u(batch_size)
        xl, yl = _batch(images, masks, il, device, mean, std, crop_size, scale_range, hflip, ignore_index, gen)
        xu, _ = _batch(images, masks, iu, device, mean, std, crop_size, scale_range, hflip, ignore_index, gen)
        xl, xu = to_layout(xl, device), to_layout(xu, device)
        if draw_g is not None:  # the "real" pair from its own labelled batch (the original's trainloader_gt)
            xg, yg = _batch(images, masks, draw_g(batch_size), device, mean, std, crop_size, scale_range, hflip,
                            ignore_index, gen)
            xg = to_layout(xg, device)
        # two forward passes, as the original code does (batch-norm statistics per batch kind)
        with autocast(device):
            logits_l, taps = model.forward_features(xl)
            logits_u = model.forward_features(xu)[0]
        logits_l, logits_u = logits_l.float(), logits_u.float()
        pix = F.cross_entropy(logits_l, yl, ignore_index=ignore_index, reduction="none")
        valid = (yl != ignore_index).sum((1, 2)).clamp_min(1)
        ce = pix.sum() / valid.sum()
        loss = ce
        if dice_weight:  # as train_segmentation adds it
            loss = loss + dice_weight * soft_dice_loss(logits_l, yl, ignore_index)
        if lossnet is not None:
            with autocast(device):
                loss = loss + ll_weight * learning_loss_term(lossnet, taps, pix.sum((1, 2)) / valid,
                                                             stop_gradient=step >= ll_stop_fraction * iterations)
        probs_l, probs_u = torch.softmax(logits_l, 1), torch.softmax(logits_u, 1)
        if draw_g is None:
            xg, yg, probs_g = xl, yl, probs_l
        elif ignore_fill == "prediction":
            with torch.no_grad(), autocast(device):
                probs_g = torch.softmax(model(xg).float(), 1)
        fill = probs_g if ignore_fill == "prediction" else None
        # D's input pooling (``d_pool``) once per batch, not inside each D pass below
        real = D.pool(torch.cat([real_maps(yg, fill, num_classes, ignore_index), d_image(xg, d_input)], 1))
        fake = D.pool(torch.cat([probs_u, d_image(xu, d_input)], 1))
        # generator step: D's parameters get no update here, so they are frozen for it (no weight
        # gradients computed, :func:`_frozen`). D has no batch norm, so fake and real go through it as
        # one batch (one call per layer instead of two; dropout draws its masks per image either way);
        # the real half's features are detached.
        n_fake = len(fake)
        with _frozen(D):
            logit_both, feat_both = D(torch.cat([fake, real]), pooled=True)
            logit_fake, feat_fake, feat_real = logit_both[:n_fake], feat_both[:n_fake], feat_both[n_fake:].detach()
            fm = (feat_real.mean(0) - feat_fake.mean(0)).abs().mean()
            passed = torch.sigmoid(logit_fake.detach()) > st_threshold
            if passed.any():
                pseudo = probs_u.detach().argmax(1)
                st = F.cross_entropy(logits_u[passed], pseudo[passed])
            else:
                st = logits_u.sum() * 0.0
            loss = loss + lambda_fm * fm + lambda_st * st
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()
        sched.step()
        average.update()
        # discriminator step: real = image + one-hot GT of labelled images, fake = image + prediction
        opt_d.zero_grad(set_to_none=True)
        logit_both, _ = D(torch.cat([real.detach(), fake.detach()]), pooled=True)  # one batch, as above
        lr_, lf_ = logit_both[:len(real)], logit_both[len(real):]
        loss_d = (F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_))
                  + F.binary_cross_entropy_with_logits(lf_, torch.zeros_like(lf_)))
        if d_loss == "mean":
            loss_d = loss_d / 2.0
        loss_d.backward()
        opt_d.step()
        for k, v in (("ce", ce), ("fm", fm), ("st", st), ("d", loss_d), ("passed", passed.float().mean())):
            sums[k] += float(v.detach())
        bar.update(1)
    bar.close()
    average.copy_to()
    model.eval(), D.eval()
    if lossnet is not None:
        lossnet.eval()
    if stats is not None:
        stats.update({k: v / iterations for k, v in sums.items()})
    return model, D


@torch.inference_mode()
def discriminator_scores(model: nn.Module, discriminator: nn.Module, images, indices, mean, std, *,
                         batch_size: int = 64, device=None) -> np.ndarray:
    """s4GAN confidence of each image ``images[indices]``: ``sigmoid(D(image ⊕ softmax G(image)))``,
    float64 ``[len(indices)]`` in (0, 1) (D's global pooling makes it the mean over the image).
    The image channels are scaled as D saw them in training (``discriminator.image_input``, see
    :func:`d_image`; ``"minmax"`` over each scoring batch). SSL-D-score queries the lowest first."""
    from alkit.engine.train.segmentation import iterate_predictions

    device = torch.device(device) if device is not None else next(model.parameters()).device
    discriminator.eval()
    indices = np.asarray(indices, dtype=np.int64)
    out = np.zeros(len(indices), dtype=np.float64)
    for pos, probs, _ in iterate_predictions(model, images, indices, mean, std, batch_size=batch_size, device=device):
        out[pos] = d_score_of(discriminator, probs, images, indices[pos], mean, std, device).cpu().numpy()
    return out


def d_score_of(discriminator: nn.Module, probs: torch.Tensor, images, idx, mean, std, device) -> torch.Tensor:
    """``sigmoid(D(image ⊕ probs))`` ``[b]`` for softmax maps ``probs`` ``[b, K, H, W]`` of images ``images[idx]``
    (image channels as ``discriminator.image_input`` says, :func:`d_image`)."""
    if isinstance(images, torch.Tensor):
        x = images[torch.as_tensor(np.asarray(idx), device=images.device)].to(device)
    else:
        x = torch.stack([images[int(i)] for i in np.asarray(idx).reshape(-1)]).to(device)
    x = d_image(_norm(x, mean, std), getattr(discriminator, "image_input", "normalised"))
    logit, _ = discriminator(torch.cat([probs.float().to(device), x], 1))
    return torch.sigmoid(logit.float())


def s4gan_iterations(n_labelled: int, epochs: int, batch_size: int, min_epoch_steps: int = 0) -> int:
    """Iterations that give s4GAN as many labelled batches as ``epochs`` supervised epochs on
    ``n_labelled`` images, an epoch being at least ``min_epoch_steps`` batches (as in the supervised
    recipe, :func:`alkit.engine.train.segmentation.train_steps`; what the ``shapes`` recipe uses
    when no iteration count is set)."""
    from alkit.engine.train.segmentation import train_steps

    return train_steps(n_labelled, batch_size, epochs, min_epoch_steps)
