"""ENS-varR's training step: M ensemble members trained one after another vs as one stacked
network of grouped convolutions (``alkit.engine.train.stacked``), side by side in one run.

For each network (small-cnn on digits-shaped 1x8x8 input, WRN-28-2 on 3x32x32, batch 64) and each
member count M, one "step" is what a cycle of ENS-varR repeats: every member does one SGD step on
its own batch (forward, cross-entropy, backward, SGD with momentum/weight decay, cosine schedule).
  sequential  M separate steps of M ordinary networks (the path of ``STACKED_MEMBERS = False``);
  stacked     one step of the stacked network on the M batches concatenated along channels.
Repetitions are interleaved (sequential, stacked, sequential, ...) so drifting machine load hits
both alike; medians over repetitions are printed with the ratio sequential / stacked (> 1: stacked
is faster). Both use alkit's layout (channels-last) and mixed precision (bf16 autocast on CUDA).
The data stream (augmentation) costs the same on both paths and is left out.

    python benchmarks/bench_paper_step.py [--device cuda] [--members 3 5] [--reps 5] [--steps 5]

On the CPU torch runs 1 thread (as each worker process of a run does); pass --threads to change.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from alkit.engine.models import build_model
from alkit.engine.train.common import autocast, prepare_model, sgd_cosine, to_layout
from alkit.engine.train.stacked import stack_members

SHAPES = {"small-cnn": (1, 8), "wrn-28-2": (3, 32)}  # (channels, side)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _step(model, opt, sched, x, y, device, count: int = 1) -> None:
    """One SGD step of ``model`` on ``x`` ``[B, count C, H, W]``, ``y`` ``[B, count]``."""
    with autocast(device):
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(len(y) * count, -1), y.reshape(-1)) * count
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()


def bench(name: str, members: int, device: torch.device, reps: int, steps: int, batch: int = 64):
    """Median seconds per ensemble step, ``(sequential, stacked)``."""
    c, side = SHAPES[name]
    nets = []
    for m in range(members):
        torch.manual_seed(m)
        nets.append(prepare_model(build_model(name, 10, in_channels=c, image_size=side), device).train())
    stacked = prepare_model(stack_members(nets), device).train()
    g = torch.Generator().manual_seed(0)
    xs = [to_layout(torch.randn(batch, c, side, side, generator=g).to(device), device) for _ in range(members)]
    ys = [torch.randint(0, 10, (batch, 1), generator=g).to(device) for _ in range(members)]
    x_st, y_st = to_layout(torch.cat(xs, dim=1), device), torch.cat(ys, dim=1)
    total = 10 ** 6  # a long schedule: the rate barely moves during the benchmark
    seq = [(net, *sgd_cosine(net.parameters(), total)) for net in nets]
    st_opt, st_sched = sgd_cosine(stacked.parameters(), total)

    def run_sequential():
        for (net, opt, sched), x, y in zip(seq, xs, ys):
            _step(net, opt, sched, x, y, device)

    def run_stacked():
        _step(stacked, st_opt, st_sched, x_st, y_st, device, members)

    for fn in (run_sequential, run_stacked):  # warm-up (oneDNN / cuDNN kernel choice)
        for _ in range(2):
            fn()
    times = {run_sequential: [], run_stacked: []}
    for _ in range(reps):
        for fn in (run_sequential, run_stacked):
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            _sync(device)
            times[fn].append((time.perf_counter() - t0) / steps)
    return statistics.median(times[run_sequential]), statistics.median(times[run_stacked])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--members", nargs="+", type=int, default=[2, 3, 5])
    p.add_argument("--reps", type=int, default=5, help="interleaved repetitions (median reported)")
    p.add_argument("--steps", type=int, default=None,
                   help="ensemble steps per repetition (default 20 on CUDA, 5 on the CPU)")
    p.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    a = p.parse_args()
    device = torch.device(a.device)
    if device.type == "cpu":
        torch.set_num_threads(a.threads)
    steps = a.steps or (20 if device.type == "cuda" else 5)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} thread(s)"
    print(f"device {where} | batch 64 per member | {a.reps} interleaved reps x {steps} steps"
          f" | torch {torch.__version__}")
    print(f"{'network':<10} {'M':>2} {'sequential ms':>14} {'stacked ms':>11} {'ratio seq/stacked':>18}")
    for name in a.models:
        for members in a.members:
            seq, st = bench(name, members, device, a.reps, steps)
            print(f"{name:<10} {members:>2} {seq * 1e3:>14.2f} {st * 1e3:>11.2f} {seq / st:>17.2f}x", flush=True)


if __name__ == "__main__":
    main()
