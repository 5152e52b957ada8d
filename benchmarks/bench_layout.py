"""Channels-last vs the plain (NCHW) memory layout for alkit's CPU training steps, side by side.

``alkit.engine.train.common.CPU_CHANNELS_LAST`` chooses the layout of every image batch and network
the trainers build on the CPU. oneDNN picks different convolution kernels for the two layouts, and
which is faster depends on the CPU's vector unit. This script times, through the library's own
trainers on one torch thread (what a worker of ``make reproduce`` gets), one training step of:

* ``digits``: supervised, the small CNN, 100 labels, paper augmentation, batch 64 (``digits-high``);
* ``digits-uda``: UDA, the same network, 20 labels + 200 unlabelled, batches 64 + 2 x 64
  (``digits-low``'s SSL step);
* ``digits-ens``: the 3-member ensemble trained as one stacked network (ENS-varR, grouped convs);
* ``shapes``: the small segmentation network, the ``shapes`` recipe (48-px crops, batch 10);
* ``s4gan``: s4GAN with the ``shapes`` recipe's discriminator.

Layouts alternate run by run in one process (so a load change hits both) and the median ms per step
of each is printed with the ratio channels-last / plain (> 1: the plain layout is faster). The
layout changes float rounding only (the same arithmetic in another order).

    python benchmarks/bench_layout.py [--repeats 5] [--steps 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alkit.engine.train import common  # noqa: E402
from benchmarks.step_runs import training_runs  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100, help="training steps per timed run")
    ap.add_argument("--verbose", action="store_true", help="print every run's ms per step too")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    runs = training_runs(a.steps)
    layouts = {"channels-last": True, "plain": False}
    before = common.CPU_CHANNELS_LAST
    times = {(name, lay): [] for name in runs for lay in layouts}
    try:
        for lay, flag in layouts.items():  # warm-up: oneDNN builds its kernels on first use
            common.CPU_CHANNELS_LAST = flag
            for fn in runs.values():
                fn()
        for rep in range(a.repeats):
            for name, fn in runs.items():
                for lay in (list(layouts) if rep % 2 == 0 else list(layouts)[::-1]):
                    common.CPU_CHANNELS_LAST = layouts[lay]
                    t = time.perf_counter()
                    fn()
                    times[(name, lay)].append((time.perf_counter() - t) / a.steps * 1000)
    finally:
        common.CPU_CHANNELS_LAST = before
    print(f"ms per training step, median of {a.repeats} runs of {a.steps} steps, 1 thread")
    print(f"{'training':12s} {'channels-last':>14s} {'plain':>8s} {'channels-last/plain':>20s}")
    for name in runs:
        cl, plain = statistics.median(times[(name, 'channels-last')]), statistics.median(times[(name, 'plain')])
        print(f"{name:12s} {cl:14.2f} {plain:8.2f} {cl / plain:19.2f}x")
        if a.verbose:
            print("   ", [round(t, 1) for t in times[(name, 'channels-last')]], [round(t, 1) for t in times[(name, 'plain')]])


if __name__ == "__main__":
    main()
