"""Pieces every trainer shares: device choice, mixed precision, SGD + cosine, batch sampling,
and the Learning-Loss term with its ranking loss (Yoo & Kweon 2019)."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when present, else CPU."""
    if device is not None and str(device) != "auto":
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``torch.set_num_threads(n)``; restore the previous count afterwards."""
    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# bfloat16 mixed precision (autocast) of every trainer's forward pass: "auto" = on CUDA only (on this
# project's CPU bf16 gained nothing for the small networks: 3.7 vs 3.8 s per shapes fit, measured
# 2026-12-05); True = on any device (the CPU agreement test uses it); False = float32 everywhere.
AMP: bool | str = "auto"
# Channels-last memory layout on CUDA: "auto"/True = on, False = off (the plain NCHW path).
CUDA_CHANNELS_LAST: bool | str = "auto"


def amp_on(device: torch.device) -> bool:
    """Whether the trainers run bf16 autocast on ``device`` (:data:`AMP`)."""
    if AMP == "auto":
        return device.type == "cuda"
    return bool(AMP)


def autocast(device: torch.device):
    """bfloat16 mixed precision where :func:`amp_on` says so (CUDA by default); else a no-op."""
    if amp_on(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# Channels-last memory layout on the CPU too (oneDNN convolutions, 1 thread): measured 1.1x per
# training step of the small segmentation network (benchmarks/bench_trial_seg.py) and of the digits
# network (benchmarks/bench_trial.py). False restores the previous path. Measured again on an AVX2
# machine (AMD EPYC family 25, 2026-12-07, `python benchmarks/bench_layout.py --repeats 6`, channels-last
# / plain ms per step): digits 0.98x, digits UDA 1.04x, the stacked 3-member ensemble 0.90x, shapes
# 1.11x, s4GAN 1.20x, within the run-to-run spread of that shared machine (a step's time varied 1.5x
# between runs of one layout): no layout is a lever there, so the default stays.
CPU_CHANNELS_LAST = True
# Multi-tensor (foreach) optimiser updates; None restores torch's choice (the path before foreach).
FOREACH: bool | None = True
# Fused optimiser kernels (one kernel per step for all of a network's tensors, torch's ``fused=True``,
# CPU and CUDA): measured per step on one thread (benchmarks/bench_step_kernels.py, 2026-12-06)
# SGD 117 -> 50 us (digits CNN, 11 tensors), AdamW 707 -> 214 us (small segmentation net, 34
# tensors), the s4GAN discriminator's Adam 954 -> 233 us. The same update up to float rounding.
# False restores the foreach path (FOREACH).
FUSED: bool = True


def optimizer_impl() -> dict:
    """The implementation keywords every alkit optimiser is built with: ``{"fused": True}`` when
    :data:`FUSED`, else ``{"foreach": FOREACH}`` (read at call time, so benchmarks can switch)."""
    return {"fused": True} if FUSED else {"foreach": FOREACH}
# ENS-varR's members trained as ONE stacked network of grouped convolutions
# (alkit.engine.train.stacked; the same function as one after another, up to float rounding).
# "auto": on CUDA, and on the CPU for tiny images (side <= 16), where benchmarks/bench_paper_step.py
# measured per ensemble step (1 thread, 2-core machine under load): small-cnn 8x8 1.3x-1.6x faster
# for 2-5 members, but WRN-28-2 32x32 0.86x-0.94x (slower: oneDNN's grouped convolutions on large
# maps). CUDA is not measured yet (no GPU was lent); rerun the benchmark there.
# On the CPU every plain training then goes through the stacked trainer (a member is the same bit for
# bit in a stack of any size there), and the trials of a strategy train as one stack at each cycle
# (alkit.experiments.runner.bundles; benchmarks/bench_trial_bundle.py).
# True: stack wherever the network allows; False: members one after another, every network trained
# alone (the previous path). A task's ``stacked_members`` option overrides it.
STACKED_MEMBERS: bool | str = "auto"


def use_channels_last(device: torch.device) -> bool:
    """Whether images and networks on ``device`` use the channels-last layout (CUDA unless
    :data:`CUDA_CHANNELS_LAST` is False, CPU when :data:`CPU_CHANNELS_LAST`)."""
    if device.type == "cuda":
        return CUDA_CHANNELS_LAST is not False
    return device.type == "cpu" and bool(CPU_CHANNELS_LAST)


def to_layout(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` in the layout :func:`use_channels_last` chooses for ``device``."""
    return x.contiguous(memory_format=torch.channels_last) if use_channels_last(device) else x


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move to ``device``, in the memory layout :func:`use_channels_last` chooses."""
    model = model.to(device)
    if use_channels_last(device):
        model = model.to(memory_format=torch.channels_last)
    return model


SCHEDULES = ("cosine", "cosine-7/16")


def lr_factor(step: int, total: int, schedule: str = "cosine", warmup: int = 0) -> float:
    """The learning-rate multiplier at optimiser step ``step`` (0-based) of ``total``.

    ``"cosine"`` (alkit's, to zero): ``0.5 * (1 + cos(pi * k / K))``. ``"cosine-7/16"`` (FixMatch,
    kekmodel/FixMatch-pytorch ``get_cosine_schedule_with_warmup``; UDA, google-research/uda
    ``image/main.py``: ``cos(lrate * 7/8 * pi/2)``): ``max(0, cos(7 * pi * p / 16))`` with
    ``p = (k - W) / (K - W)``, which ends at ``cos(7 pi / 16) ~ 0.195`` of the rate, not 0. With
    ``warmup`` W > 0 both rise linearly as ``k / W`` over the first W steps (the originals' warm-up;
    alkit's "cosine" then runs over the remaining ``K - W`` steps too).
    """
    total, warmup = max(1, int(total)), max(0, int(warmup))
    if step < warmup:
        return step / warmup
    p = min(max(step - warmup, 0), total - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    if schedule == "cosine-7/16":
        return max(0.0, math.cos(7.0 * math.pi * p / 16.0))
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


def sgd_cosine(params, total_steps: int, lr: float = 0.03, momentum: float = 0.9,
               weight_decay: float = 5e-4, *, nesterov: bool = False, schedule: str = "cosine", warmup: int = 0):
    """The paper's optimiser (Sec. 3.2.1): SGD(lr 0.03, momentum 0.9, wd 5e-4, Nesterov off) with a
    cosine schedule over ``total_steps`` optimiser steps. Returns ``(optimizer, scheduler)``.
    ``nesterov``, ``schedule``, ``warmup`` (steps): the SSL originals' choices (FixMatch and UDA
    use Nesterov momentum and the 7/16 cosine, :func:`lr_factor`); the defaults are alkit's."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=bool(nesterov),
                          **optimizer_impl())
    total = max(1, int(total_steps))
    if schedule == "cosine" and not warmup:  # the earlier closed form, bit for bit
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total)))
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, schedule, warmup))
    return opt, sched


class ParamEMA:
    """An exponential moving average of a model's weights with a constant decay, as the SSL
    originals keep it for evaluation: ``avg <- decay * avg + (1 - decay) * w`` after every optimiser
    step, starting from the initial weights.

    ``buffers="copy"``: floating-point buffers (BatchNorm statistics) are not averaged, the model's
    own are kept (kekmodel/FixMatch-pytorch ``ModelEMA``, decay 0.999); ``"average"``: they are
    averaged like the weights (google-research/uda: ``tf.train.ExponentialMovingAverage(0.9999)``
    over the trainable variables and the BatchNorm moving mean and variance).
    ``copy_to()`` writes the average into the model. With a constant decay the initial weights keep
    the share ``decay ** k`` after k steps (0.9999: 61 % after 5k steps, 0.7 % after 50k), so the
    average only makes sense for runs much longer than ``1 / (1 - decay)`` steps, as the originals'."""

    def __init__(self, model: nn.Module, decay: float, buffers: str = "copy"):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        if buffers not in ("copy", "average"):
            raise ValueError(f"ema buffers must be 'copy' or 'average', got {buffers!r}")
        self.decay = float(decay)
        self.live = [p for p in model.parameters()]
        if buffers == "average":
            self.live += [b for b in model.buffers() if b.is_floating_point()]
        self.avg = [t.detach().clone() for t in self.live]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.avg, [t.detach() for t in self.live], 1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self) -> None:
        for t, a in zip(self.live, self.avg):
            t.copy_(a)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A seeded generator living on ``device`` (batch sampling and augmentation draw from it)."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Positions ``0..n-1`` shuffled and cut into batches of ``batch_size`` (last one may be short)."""
    perm = torch.randperm(n, generator=generator, device=generator.device)
    return list(perm.split(batch_size))


def learning_loss_term(lossnet: nn.Module, taps: list[torch.Tensor], per_sample_loss: torch.Tensor,
                       *, stop_gradient: bool, margin: float = 1.0) -> torch.Tensor:
    """Yoo & Kweon's loss-prediction objective: the margin ranking loss between the module's
    predicted losses (from the backbone's intermediate feature maps ``taps``) and the true
    per-sample losses ``[B]`` (detached). With ``stop_gradient`` the taps are detached, so the
    module no longer shapes the backbone (the original stops it for the last part of training)."""
    if stop_gradient:
        taps = [t.detach() for t in taps]
    pred = lossnet(taps).float()
    return margin_ranking_loss(pred, per_sample_loss.detach().float(), margin=margin)


def margin_ranking_loss(pred_loss: torch.Tensor, target_loss: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Learning Loss's ranking objective (Yoo & Kweon 2019, Eq. 2): a scalar tensor.

    The batch ``[B]`` is split into the pairs ``(i, B-1-i)``, ``i < B // 2`` (for odd ``B`` the
    middle item is dropped). For each pair ``s = +1`` if ``target_i > target_j`` else ``-1``
    (targets detached; ties count as -1, as in the authors' code), and the loss is
    ``mean(max(0, -s * (pred_i - pred_j) + margin))``. So it is zero when every pair is ordered
    like the true losses with a gap of at least ``margin``. ``B < 2`` gives 0 (with a graph).
    """
    pred = pred_loss.reshape(-1)
    target = target_loss.detach().reshape(-1)
    if pred.shape != target.shape:
        raise ValueError(f"pred_loss and target_loss must have the same length, got {tuple(pred_loss.shape)} "
                         f"and {tuple(target_loss.shape)}")
    half = pred.shape[0] // 2
    if half == 0:
        return pred.sum() * 0.0
    diff_pred = pred[:half] - pred.flip(0)[:half]
    sign = torch.where(target[:half] > target.flip(0)[:half], 1.0, -1.0).to(pred.dtype)
    return torch.clamp(margin - sign * diff_pred, min=0.0).mean()
