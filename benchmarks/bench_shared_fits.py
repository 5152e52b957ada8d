"""Seconds per run with and without trainings shared between strategies, side by side.

One run = notebook 01's five strategies (Random, Entropy, ENS-varR with 3 members, Core-Set,
Learning Loss) on digits in the high regime as the notebooks run it (100 + 2 x 50 labels, the
recipe's steps, paper augmentation), one process, one torch thread. The two paths differ only in
whether the strategies share plain trainings (:class:`alkit.tasks.fit_cache.FitCache`, set up by
:func:`alkit.experiments.config.run`):

  separate  every strategy trains every network itself (the previous code path);
  shared    a network already trained in this run on the same labelled set with the same seed
            (every strategy's cycle 0 but Learning Loss's) is loaded instead.

Each path writes to a fresh results store, so nothing is read from earlier runs. The paths alternate
repeat by repeat in one process so a load change on a shared machine hits both; the ratio is the
number to read. The records of both paths are compared (they must be identical).

    python benchmarks/bench_shared_fits.py [--trials 1] [--repeats 1] [--augment paper]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time

import pandas as pd
import torch

import alkit.experiments.config as config
from alkit.experiments.config import Experiment, run
from alkit.experiments.recipes import classification_settings


def one_run(exp: Experiment, shared: bool) -> tuple[float, pd.DataFrame]:
    original = config.shared_fits
    if not shared:
        config.shared_fits = lambda *a, **k: contextlib.nullcontext()
    try:
        with tempfile.TemporaryDirectory() as store:
            t0 = time.perf_counter()
            df = run(exp, store_root=store, progress=False, workers=1)
            return time.perf_counter() - t0, df.drop(columns="seconds").reset_index(drop=True)
    finally:
        config.shared_fits = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--augment", default="paper", choices=["paper", "none"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    s = classification_settings("digits", "high", augment=args.augment)
    exp = Experiment(dataset="digits", regime="high", strategies=("random", "entropy", "ens-varr", "coreset", "ll"),
                     augment=args.augment, cycles=s["cycles"], trials=args.trials, min_steps=s["min_steps"], seed=0)
    times = {"separate": [], "shared": []}
    frames = {}
    for _ in range(args.repeats):
        for name in ("separate", "shared"):
            sec, frames[name] = one_run(exp, name == "shared")
            times[name].append(sec)
    same = frames["separate"].equals(frames["shared"])
    sep, sh = min(times["separate"]), min(times["shared"])
    print("  all repeats (s):", {k: [round(t, 1) for t in v] for k, v in times.items()})
    print(f"digits high regime, augment={args.augment}, 5 strategies x {args.trials} trial(s) x "
          f"{s['cycles'] + 1} cycles, one process, one thread; best of {args.repeats}")
    print(f"  separate trainings: {sep:7.1f} s")
    print(f"  shared trainings:   {sh:7.1f} s")
    print(f"  ratio separate / shared: {sep / sh:.2f}x; identical records: {same}")


if __name__ == "__main__":
    main()
