"""Parallel (strategy, trial) units vs one after another, side by side in one run.

Runs the same small digits grid (strategies x trials, fresh results store each time) with one
worker (in this process) and with N worker processes, checks the records are identical, and
prints both times and their ratio. The plain way is the sequential loop every AL library uses.

    python benchmarks/bench_workers.py [--workers 2] [--trials 3] [--epochs 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    from alkit.experiments.config import Experiment, run
    from alkit.experiments.runner import available_cores

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=available_cores())
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    a = p.parse_args()
    exp = Experiment(strategies=("random", "entropy", "coreset"), initial=40, step=40, cycles=2, trials=a.trials,
                     epochs=a.epochs, min_steps=100)
    times, frames = {}, {}
    for workers in (1, a.workers):
        with tempfile.TemporaryDirectory() as root:
            t0 = time.perf_counter()
            frames[workers] = run(exp, store_root=root, progress=False, workers=workers).drop(columns="seconds")
            times[workers] = time.perf_counter() - t0
    same = frames[1].equals(frames[a.workers])
    units = len(exp.resolved()["strategies"]) * a.trials
    print(f"digits grid, {units} units x {exp.resolved()['cycles'] + 1} cycles")
    print(f"1 worker (sequential): {times[1]:.1f} s")
    print(f"{a.workers} workers:            {times[a.workers]:.1f} s")
    print(f"speed-up: {times[1] / times[a.workers]:.2f}x; identical records: {same}")


if __name__ == "__main__":
    main()
