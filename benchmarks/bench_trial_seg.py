"""Seconds per (strategy, trial) unit on ``shapes``: the new code path vs the previous, side by side.

One unit = one trial of one strategy through every cycle (train, evaluate, score the pool, query),
as notebook 06 runs it (pool 500, 150 validation images, B_i 600, B_s 400 clicks, 3 cycles), on
one torch thread (what the runner gives the small network). Two paths, interleaved per trial so
both see the same CPU load:

* ``previous``: the previous shapes recipe (64-px crops, SGD lr 0.05 with the poly schedule,
  18 epochs per cycle as notebook 06 ran it, no step floor, no weight averaging), the NCHW
  layout on the CPU (``CPU_CHANNELS_LAST = False``) and torch's per-tensor optimiser loop;
* ``new``: the current ``shapes`` recipe (:data:`alkit.experiments.recipes.SEGMENTATION`), the
  channels-last layout and multi-tensor (foreach) optimiser updates.

Prints each unit's seconds, its training steps and final mIoU, and the ratios previous / new
(per unit and per training step). ``--noise`` instead runs ``--trials`` trials of each strategy
on one path and prints the final-cycle mIoU per trial, its sd over trials, and the sd of the paired
final-cycle gaps against the first strategy (the numbers the recipe comments in ``recipes.py``
cite). ``ssl:NAME`` runs strategy NAME with s4GAN, ``poly:NAME`` a polygon-level run with polygon
strategy NAME.

    python benchmarks/bench_trial_seg.py                       # speed, entropy, 1 trial per path
    python benchmarks/bench_trial_seg.py --strategies random ssl:random --trials 2
    python benchmarks/bench_trial_seg.py --noise --trials 5 --strategies random entropy
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

PREVIOUS = dict(crop_size=64, optimizer="sgd", lr=0.05, weight_decay=5e-4, schedule="poly", warmup=0, min_epoch_steps=0,
                ema=0.0, epochs=18)


def make_task(data, path: str, spec: str):
    """A task for ``spec`` (``NAME``, ``ssl:NAME`` or ``poly:NAME``) on ``path`` (previous / new)."""
    from alkit.engine.train import common as train_common
    from alkit.experiments import recipes
    from alkit.tasks.polygon_segmentation import PolygonSegmentationTask
    from alkit.tasks.segmentation import SegmentationTask

    train_common.CPU_CHANNELS_LAST = path == "new"
    saved = dict(recipes.SEGMENTATION["shapes"])
    if path == "previous":
        recipes.SEGMENTATION["shapes"].update(PREVIOUS)
    try:
        kind, _, name = spec.rpartition(":")
        kw = dict(recipe={**recipes.recipe("segmentation", "shapes"), "ensemble_size": 2},
                  ssl="s4gan" if kind == "ssl" else None)
        if kind == "poly":
            return PolygonSegmentationTask(data, polygon_strategy=name, **kw), "random"
        return SegmentationTask(data, **kw), name
    finally:
        recipes.SEGMENTATION["shapes"].clear()
        recipes.SEGMENTATION["shapes"].update(saved)


def run_unit(data, path: str, spec: str, trial: int, args) -> tuple[float, int, list[float]]:
    """(seconds, training steps, mIoU per cycle) of one unit."""
    from alkit.engine.train import common as train_common
    from alkit.engine.train import segmentation as seg_train
    from alkit.protocol.loop import run_trial

    task, strategy = make_task(data, path, spec)
    train_common.CPU_CHANNELS_LAST = path == "new"
    train_common.FOREACH = True if path == "new" else None
    steps = [0]
    original = seg_train.seg_optimizer

    def counting(groups, total, **kw):  # count the optimiser steps each cycle schedules
        steps[0] += total
        return original(groups, total, **kw)

    seg_train.seg_optimizer = counting
    import alkit.engine.train.s4gan as s4
    s4.seg_optimizer = counting
    try:
        t0 = time.perf_counter()
        recs = run_trial(task, strategy, initial=args.initial, step=args.step, cycles=args.cycles, trial=trial,
                         seed=args.seed)
        return time.perf_counter() - t0, steps[0], [100 * r["miou"] for r in recs]
    finally:
        seg_train.seg_optimizer = original
        s4.seg_optimizer = original


def main() -> None:
    """Parse the options and print the table (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--strategies", nargs="+", default=["entropy"])
    p.add_argument("--trials", type=int, default=1)
    p.add_argument("--noise", action="store_true", help="trial-to-trial sd of the final mIoU on one path")
    p.add_argument("--path", default="new", choices=["new", "previous"], help="--noise: which path")
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-val", type=int, default=None, help="validation images (default: the recipe's)")
    p.add_argument("--initial", type=float, default=600)
    p.add_argument("--step", type=float, default=400)
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    from alkit.engine.data import load_dataset
    from alkit.experiments.recipes import SEGMENTATION

    n_val = args.n_val or SEGMENTATION["shapes"].get("n_val", 150)
    data = load_dataset("shapes", n_train=args.n_train, n_val=n_val)
    print(f"shapes: pool {args.n_train}, {n_val} validation images, B_i {args.initial:g}, B_s {args.step:g}, "
          f"{args.cycles} cycles, torch threads 1")
    if args.noise:
        finals = {}
        for spec in args.strategies:
            finals[spec] = []
            for t in range(args.trials):
                sec, steps, m = run_unit(data, args.path, spec, t, args)
                finals[spec].append(m[-1])
                print(f"{args.path:8s} {spec:14s} trial {t}: mIoU per cycle {[round(v, 1) for v in m]}  "
                      f"{sec:.1f} s, {steps} steps", flush=True)
        first = args.strategies[0]
        for spec, f in finals.items():
            f = np.array(f)
            line = f"{spec:14s} final mIoU {f.mean():.1f} sd {f.std(ddof=1):.2f}" if len(f) > 1 else f"{spec}: 1 trial"
            if spec != first and len(f) > 1:
                gap = f - np.array(finals[first])
                line += f"; gap vs {first} {gap.mean():+.1f} sd {gap.std(ddof=1):.2f}"
            print(line)
        return
    rows = []
    for spec in args.strategies:
        for t in range(args.trials):
            for path in (("previous", "new") if t % 2 == 0 else ("new", "previous")):
                sec, steps, m = run_unit(data, path, spec, t, args)
                rows.append((spec, t, path, sec, steps, m[-1]))
                print(f"{spec:14s} trial {t} {path:8s}: {sec:6.1f} s/unit, {steps:5d} steps ({1000 * sec / steps:.1f} "
                      f"ms/step incl. evaluation and scoring), final mIoU {m[-1]:.1f}", flush=True)
    for spec in args.strategies:
        old = [r for r in rows if r[0] == spec and r[2] == "previous"]
        new = [r for r in rows if r[0] == spec and r[2] == "new"]
        so, sn = sum(r[3] for r in old), sum(r[3] for r in new)
        po, pn = so / sum(r[4] for r in old), sn / sum(r[4] for r in new)
        print(f"{spec}: previous {so / len(old):.1f} s/unit, new {sn / len(new):.1f} s/unit: ratio {so / sn:.2f}x per unit; "
              f"per step {1000 * po:.1f} vs {1000 * pn:.1f} ms: {po / pn:.2f}x")


if __name__ == "__main__":
    main()
