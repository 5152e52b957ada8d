"""The training runs the step benchmarks time (bench_step_kernels.py, bench_layout.py), built once.

:func:`training_runs` returns zero-argument callables, each one training through the library's own
trainer for ``steps`` optimiser steps from a fresh network (call it once before timing: oneDNN
builds its kernels on first use):

* ``digits``: :func:`alkit.engine.train.supervised.train_supervised`, the small CNN, 100 labels,
  paper augmentation, batch 64 (the ``digits-high`` recipe's step);
* ``digits-uda``: :func:`alkit.engine.train.uda.train_uda`, the same network, 20 labels + 200
  unlabelled, batches 64 + 2 x 64 at lr 0.1 (the ``digits-low`` recipe's SSL step);
* ``digits-ens``: :func:`alkit.engine.train.stacked.train_stacked_supervised`, 3 members as one
  stacked network (ENS-varR);
* ``shapes``: :func:`alkit.engine.train.segmentation.train_segmentation`, the small segmentation
  network with the ``shapes`` recipe (48-px crops, batch 10, AdamW, weight average);
* ``s4gan``: :func:`alkit.engine.train.s4gan.train_s4gan` with the ``shapes`` recipe's s4GAN.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alkit.engine.augment import build_augment  # noqa: E402
from alkit.engine.data import load_dataset  # noqa: E402
from alkit.engine.models import build_model  # noqa: E402
from alkit.engine.models import segmentation as seg_models  # noqa: E402
from alkit.engine.train.s4gan import train_s4gan  # noqa: E402
from alkit.engine.train.segmentation import train_segmentation  # noqa: E402
from alkit.engine.train.stacked import train_stacked_supervised  # noqa: E402
from alkit.engine.train.supervised import train_supervised  # noqa: E402
from alkit.engine.train.uda import train_uda  # noqa: E402
from alkit.experiments.recipes import recipe  # noqa: E402

NAMES = ("digits", "digits-uda", "digits-ens", "shapes", "s4gan")


def training_runs(steps: int, names=NAMES) -> dict[str, Callable[[], None]]:
    """``{name: run}`` for the chosen :data:`NAMES`; each ``run()`` trains ``steps`` optimiser steps
    (shapes: ``steps // 10`` epochs of 10 batches) on one fixed labelled set, seed 0."""
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise ValueError(f"unknown training run(s) {unknown}; choose from {', '.join(NAMES)}")
    digits = load_dataset("digits")
    aug = build_augment("paper", 8, hflip=False)
    weak, strong = build_augment("weak", 8, hflip=False), build_augment("strong", 8, hflip=False)
    lab_digits = np.random.default_rng(0).choice(len(digits.train_y), 100, replace=False)
    unl_digits = np.setdiff1d(np.arange(len(digits.train_y)), lab_digits)[:200]
    r = recipe("segmentation", "shapes")
    shapes = load_dataset("shapes", n_train=300, n_val=8)
    seg = dict(mean=shapes.mean, std=shapes.std, num_classes=shapes.num_classes, crop_size=r["crop_size"],
               scale_range=r["scale_range"], lr=r["lr"], head_lr_mult=r["head_lr_mult"], optimizer=r["optimizer"],
               weight_decay=r["weight_decay"], schedule=r["schedule"], warmup=r["warmup"], ema=r["ema"])
    s4 = dict(r["s4gan"])
    s4_batch = s4.pop("batch_size")
    lab_seg, unl_seg = np.arange(steps * r["batch_size"] // 10), np.arange(100, 300)

    def digits_cnn():
        return build_model("small-cnn", num_classes=10, in_channels=1)

    def seg_net():
        return seg_models.build_segmentation_model("small-seg", shapes.num_classes, None)

    runs = {
        "digits": lambda: train_supervised(digits_cnn(), digits, lab_digits, epochs=1, augment=aug, seed=0,
                                           min_steps=steps),
        "digits-uda": lambda: train_uda(digits_cnn(), digits, lab_digits[:20], unl_digits, iterations=steps,
                                        weak=weak, strong=strong, seed=0, labelled_augment=aug, batch_size=64,
                                        unlabelled_batch=64, lr=0.1, progress=False),
        "digits-ens": lambda: train_stacked_supervised([digits_cnn() for _ in range(3)], digits, lab_digits,
                                                       epochs=1, augment=aug, seeds=[0, 1000, 2000],
                                                       min_steps=steps),
        "shapes": lambda: train_segmentation(seg_net(), shapes.train_images, shapes.train_masks, lab_seg,
                                             epochs=steps // 10, seed=0, batch_size=r["batch_size"],
                                             min_epoch_steps=10, **seg),
        "s4gan": lambda: train_s4gan(seg_net(), shapes.train_images, shapes.train_masks, lab_seg, unl_seg,
                                     iterations=steps, seed=0, batch_size=s4_batch, **s4, **seg),
    }
    return {name: runs[name] for name in names}
