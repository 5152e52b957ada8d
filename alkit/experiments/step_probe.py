"""A short timing probe: seconds per training image and per inference image of each network a plan
needs, measured on this device with random tensors (no data, no store, a few steps).

A :class:`ProbeSpec` names a network and its input (WRN-28-2 on 32x32, the ImageNet ResNet-18 at
224 px, DeepLab-v2 on 321x321 crops, the s4GAN discriminator, ...). :func:`probe` builds each one
(random initialisation), runs two warm-up steps (oneDNN and cuDNN pick their kernels over the
first steps) and up to ``steps`` timed SGD steps (forward, cross-entropy, backward, momentum SGD,
in the layout and precision the trainers use: channels-last, bf16 autocast on CUDA; on the CPU
it stops after ``CPU_BUDGET_S`` seconds of timed steps) and two timed inference passes, and
returns the time per image of the fastest step: on a machine shared with other jobs the slower
steps measure their time, not this network's. On a GPU it runs at the
recipe's batch; on a CPU at the recipe's batch up to ``CPU_MAX_BATCH`` (one image for inputs
above 64 px) and, for inputs larger than ``CPU_MAX_SIDE`` pixels, a smaller side, scaled to the
recipe's batch and side linearly (per image, per pixel), so the probe stays within seconds. Small
networks gain a lot from batching on a CPU: probed at batch 8, the digits CNN's step looked 8x
dearer per image than at its batch of 64 and the plan of ``make reproduce`` said 9.7 device-hours
for runs that take about 0.6 (measured 2026-12-05); at batch 64 it says about 0.5 before
augmentation, annotation and start-up. On a CPU the probe runs with the torch threads each worker
process of :mod:`alkit.experiments.runner` gets (one per worker when a worker runs on every core,
the default), so the time per image is that of one worker; the workers run units side by side.
``ALKIT_PLAN_PROBE=tiny`` (tests) shrinks every probe to two
images of at most 32 px and one step.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable

CPU_MAX_BATCH = 64  # images per probe step on the CPU (inputs up to 64 px)
CPU_MAX_SIDE = 129  # larger inputs are probed at this side on the CPU (DeepLab-v2's 321 crops: 1/6 the pixels)
CPU_BUDGET_S = 6.0  # seconds of timed steps per network on the CPU (at least one step)
WARMUP = 2


@dataclass(frozen=True)
class ProbeSpec:
    """One network to time: ``key`` names it in the plan; ``build(side)`` returns a fresh module
    for inputs of ``side`` px; ``channels`` of the input, ``classes`` of the output; ``side`` and
    ``batch`` as the recipe trains it; ``output``: "class" (logits ``[B, K]``), "pixel" (``[B, K,
    H, W]``) or "disc" (the s4GAN discriminator: ``(logit [B], features)``)."""

    key: str
    build: Callable
    channels: int
    classes: int
    side: int
    batch: int
    output: str = "class"


@dataclass(frozen=True)
class Timing:
    """Seconds per image (``train``: one SGD step's share; ``infer``: one forward pass without
    gradients) at the recipe's side, measured at ``probe_batch`` x ``probe_side`` px (``scale``:
    the pixel ratio applied); ``step``: seconds of one step at the recipe's batch."""

    key: str
    train: float
    infer: float
    probe_batch: int
    probe_side: int
    scale: float
    step: float


def probe_mode() -> str:
    """``"tiny"`` when ``$ALKIT_PLAN_PROBE`` says so (tests), else ``"full"``."""
    mode = os.environ.get("ALKIT_PLAN_PROBE", "full").strip().lower()
    if mode not in ("tiny", "full"):
        raise ValueError(f"ALKIT_PLAN_PROBE must be 'tiny' or 'full', got {mode!r}")
    return mode


def probe(specs: list[ProbeSpec], device=None, steps: int = 4) -> dict[str, Timing]:
    """:class:`Timing` of every spec on ``device`` (default: the trainers' choice, CUDA if present).
    See the module docstring for the batch and side actually run."""
    import torch

    from alkit.engine.train.common import pick_device

    device = pick_device(device)
    tiny = probe_mode() == "tiny"
    if device.type == "cpu":
        from alkit.experiments.runner import available_cores

        threads = torch.get_num_threads()
        torch.set_num_threads(cpu_threads(available_cores()))
        try:
            return _probe_all(specs, device, steps, tiny)
        finally:
            torch.set_num_threads(threads)
    return _probe_all(specs, device, steps, tiny)


def cpu_threads(workers: int) -> int:
    """Torch threads per worker process when ``workers`` share the CPU (the runner's rule)."""
    from alkit.experiments.runner import available_cores

    return max(1, available_cores() // max(1, workers))


def _probe_all(specs, device, steps: int, tiny: bool) -> dict:
    import torch

    out = {}
    for spec in specs:
        if spec.key in out:
            continue
        if tiny:
            b, side, n = 2, min(spec.side, 32), 1  # 2: BatchNorm needs two values per channel
        elif device.type == "cuda":
            b, side, n = spec.batch, spec.side, steps
        else:
            b = min(spec.batch, CPU_MAX_BATCH) if spec.side <= 64 else 1
            side, n = min(spec.side, CPU_MAX_SIDE), steps
        step_s, infer_s = _time_one(spec, device, b, side, n, warmup=1 if tiny else WARMUP,
                                    budget=None if device.type == "cuda" else CPU_BUDGET_S)
        scale = (spec.side / side) ** 2
        train = step_s / b * scale
        out[spec.key] = Timing(spec.key, train, infer_s / b * scale, b, side, scale, train * spec.batch)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def _time_one(spec: ProbeSpec, device, b: int, side: int, n: int, warmup: int = WARMUP,
              budget: float | None = None) -> tuple[float, float]:
    """(seconds of the fastest of up to ``n`` timed training steps, of the faster of two inference
    passes) at batch ``b``, ``side`` px, after ``warmup`` untimed steps; the timed steps stop once
    they took ``budget`` seconds."""
    import torch
    import torch.nn.functional as F

    from alkit.engine.train.common import autocast, prepare_model, to_layout

    torch.manual_seed(0)
    model = prepare_model(spec.build(side), device)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = to_layout(torch.randn(b, spec.channels, side, side, device=device), device)
    if spec.output == "pixel":
        y = torch.randint(0, spec.classes, (b, side, side), device=device)
    elif spec.output == "disc":
        y = torch.ones(b, device=device)
    else:
        y = torch.randint(0, spec.classes, (b,), device=device)

    def loss_of(out):
        if spec.output == "disc":
            return F.binary_cross_entropy_with_logits(out[0].float(), y)
        out = out[0] if isinstance(out, tuple) else out
        return F.cross_entropy(out.float(), y)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    for i in range(warmup + n):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(device):
            loss = loss_of(model(x))
        loss.backward()
        opt.step()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            if budget is not None and sum(times) > budget:
                break
    model.eval()
    infer = []
    with torch.inference_mode(), autocast(device):
        for _ in range(2):
            sync()
            t0 = time.perf_counter()
            model(x)
            sync()
            infer.append(time.perf_counter() - t0)
    return min(times), min(infer)
