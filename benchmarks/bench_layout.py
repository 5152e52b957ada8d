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

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alkit.engine.augment import build_augment  # noqa: E402
from alkit.engine.data import load_dataset  # noqa: E402
from alkit.engine.models import build_model  # noqa: E402
from alkit.engine.models import segmentation as seg_models  # noqa: E402
from alkit.engine.train import common  # noqa: E402
from alkit.engine.train.s4gan import train_s4gan  # noqa: E402
from alkit.engine.train.segmentation import train_segmentation  # noqa: E402
from alkit.engine.train.stacked import train_stacked_supervised  # noqa: E402
from alkit.engine.train.supervised import train_supervised  # noqa: E402
from alkit.engine.train.uda import train_uda  # noqa: E402
from alkit.experiments.recipes import recipe  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100, help="training steps per timed run")
    ap.add_argument("--verbose", action="store_true", help="print every run's ms per step too")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    digits = load_dataset("digits")
    aug = build_augment("paper", 8, hflip=False)
    weak, strong = build_augment("weak", 8, hflip=False), build_augment("strong", 8, hflip=False)
    rng = np.random.default_rng(0)
    lab_digits = rng.choice(len(digits.train_y), 100, replace=False)
    unl_digits = np.setdiff1d(np.arange(len(digits.train_y)), lab_digits)[:200]
    r = recipe("segmentation", "shapes")
    shapes = load_dataset("shapes", n_train=300, n_val=8)
    seg = dict(mean=shapes.mean, std=shapes.std, num_classes=shapes.num_classes, crop_size=r["crop_size"],
               scale_range=r["scale_range"], lr=r["lr"], head_lr_mult=r["head_lr_mult"], optimizer=r["optimizer"],
               weight_decay=r["weight_decay"], schedule=r["schedule"], warmup=r["warmup"], ema=r["ema"])
    s4 = dict(r["s4gan"])
    s4_batch = s4.pop("batch_size")
    lab_seg, unl_seg = np.arange(100), np.arange(100, 300)

    def run_digits():
        m = build_model("small-cnn", num_classes=10, in_channels=1)
        train_supervised(m, digits, lab_digits, epochs=1, augment=aug, seed=0, min_steps=a.steps)

    def run_uda():
        m = build_model("small-cnn", num_classes=10, in_channels=1)
        train_uda(m, digits, lab_digits[:20], unl_digits, iterations=a.steps, weak=weak, strong=strong, seed=0,
                  labelled_augment=aug, batch_size=64, unlabelled_batch=64, lr=0.1, progress=False)

    def run_ensemble():
        members = [build_model("small-cnn", num_classes=10, in_channels=1) for _ in range(3)]
        train_stacked_supervised(members, digits, lab_digits, epochs=1, augment=aug, seeds=[0, 1000, 2000], min_steps=a.steps)

    def run_shapes():  # `steps` steps: epochs of at least 10 batches
        m = seg_models.build_segmentation_model("small-seg", shapes.num_classes, None)
        train_segmentation(m, shapes.train_images, shapes.train_masks, lab_seg, epochs=a.steps // 10, seed=0,
                           batch_size=r["batch_size"], min_epoch_steps=10, **seg)

    def run_s4gan():
        m = seg_models.build_segmentation_model("small-seg", shapes.num_classes, None)
        train_s4gan(m, shapes.train_images, shapes.train_masks, lab_seg, unl_seg, iterations=a.steps, seed=0,
                    batch_size=s4_batch, **s4, **seg)

    runs = {"digits": run_digits, "digits-uda": run_uda, "digits-ens": run_ensemble, "shapes": run_shapes,
            "s4gan": run_s4gan}
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
