"""Seconds per training step with alkit's step kernels vs the previous ones, side by side.

Three trainings through the library's own trainers, each on one torch thread (what a worker gets):

* ``digits``: :func:`alkit.engine.train.supervised.train_supervised`, the small CNN, 100 labels,
  paper augmentation, batch 64 (the ``digits-high`` recipe's step);
* ``shapes``: :func:`alkit.engine.train.segmentation.train_segmentation`, the small segmentation
  network with the ``shapes`` recipe (48-px crops, batch 10, AdamW, weight average);
* ``s4gan``: :func:`alkit.engine.train.s4gan.train_s4gan` with the ``shapes`` recipe's s4GAN.

Paths, interleaved repeat by repeat so both see the same CPU load:

* ``previous``: multi-tensor (foreach) optimiser updates (``common.FUSED = False``) and
  ``F.interpolate`` for the logits' upsampling (``CPU_MATMUL_UPSAMPLE = False``);
* ``new``: fused optimiser kernels and the upsampling as two matrix products.

(s4GAN's discriminator now pools its input once per batch instead of once per discriminator pass,
and sees the real and the fake maps as one batch: two discriminator calls per step instead of four.
Those changes have no switch and are in both paths, so the s4GAN ratio understates the change; the
commit that made them measured 36-43 -> 29-35 ms per s4GAN step with both.) Prints the median ms
per step of each path and the ratio previous / new.

    python benchmarks/bench_step_kernels.py [--repeats 5] [--steps 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alkit.engine.models import segmentation as seg_models  # noqa: E402
from alkit.engine.train import common  # noqa: E402
from benchmarks.step_runs import training_runs  # noqa: E402


def set_path(path: str) -> None:
    common.FUSED = path == "new"
    seg_models.CPU_MATMUL_UPSAMPLE = path == "new"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100, help="training steps per timed run")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    runs = training_runs(a.steps, ("digits", "shapes", "s4gan"))
    times = {(name, path): [] for name in runs for path in ("previous", "new")}
    for path in ("previous", "new"):  # warm-up
        set_path(path)
        for fn in runs.values():
            fn()
    for rep in range(a.repeats):
        for name, fn in runs.items():
            for path in ("previous", "new") if rep % 2 == 0 else ("new", "previous"):
                set_path(path)
                t = time.perf_counter()
                fn()
                times[(name, path)].append((time.perf_counter() - t) / a.steps * 1000)
    set_path("new")
    print(f"ms per training step, median of {a.repeats} runs of {a.steps} steps, 1 thread")
    print(f"{'training':10s} {'previous':>10s} {'new':>10s} {'previous/new':>13s}")
    for name in runs:
        prev, new = statistics.median(times[(name, 'previous')]), statistics.median(times[(name, 'new')])
        print(f"{name:10s} {prev:10.2f} {new:10.2f} {prev / new:12.2f}x")


if __name__ == "__main__":
    main()
