"""Is every digits recipe converged? Accuracy at 0.5x, 1x and 2x each recipe's steps.

"Converged": doubling the SGD steps gains < 1 accuracy point (mean over seeds). For
each recipe a user meets by default (`alkit run` without flags and the sandbox: ``digits``; the
notebooks' regimes: ``digits-high``, ``digits-low``) and a few label counts in its range, a
class-balanced random labelled set per seed is trained with the paper's augmentation at 0.5x, 1x
and 2x the recipe's steps (``min_steps`` and ``epochs`` scaled together) and evaluated on the test
set. The last column is the 2x - 1x gain; ``ok`` when it is < 1 point.

    python benchmarks/bench_recipes.py [--seeds 3] [--recipes digits,digits-high,digits-low] [--augment none]
                                       [--min-steps N] [--batch-size B] [--lr LR]

``--min-steps``, ``--batch-size`` and ``--lr`` replace the recipes' values (a candidate recipe, e.g. a
larger batch for fewer steps: ``--batch-size 128 --min-steps 400 --lr 0.06``); the seconds column
is the wall time of the row's 3 x seeds trainings, for comparing candidates run the same way.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

LABELS = {"digits": (100, 200), "digits-high": (100, 200), "digits-low": (20, 80)}


def steps_of(r: dict, n: int) -> int:
    """SGD steps a recipe trains on ``n`` labels: max(epochs x steps per epoch, min_steps)."""
    return max(r["epochs"] * math.ceil(n / r["batch_size"]), r["min_steps"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--recipes", default="digits,digits-high,digits-low")
    ap.add_argument("--augment", default="paper")
    ap.add_argument("--min-steps", type=int, default=None,
                    help="check this min_steps instead of each recipe's (e.g. a candidate for a recipe change)")
    ap.add_argument("--batch-size", type=int, default=None, help="check this batch size instead of each recipe's")
    ap.add_argument("--lr", type=float, default=None, help="check this learning rate instead of each recipe's")
    a = ap.parse_args()
    from alkit import checks
    try:  # bad input: one line naming the flag, exit 2, before any training
        checks.integer("--seeds", a.seeds, minimum=1)
        for flag, value, low in (("--min-steps", a.min_steps, 0), ("--batch-size", a.batch_size, 1)):
            if value is not None:
                checks.integer(flag, value, minimum=low)
        if a.lr is not None:
            checks.number("--lr", a.lr)
        recipes = checks.csv_names("--recipes", a.recipes, "recipe", LABELS)
    except checks.UsageError as e:
        ap.error(str(e))
    torch.set_num_threads(1)
    from alkit.engine.data import load_dataset
    from alkit.engine.train.supervised import accuracy, train_supervised
    from alkit.experiments.recipes import CLASSIFICATION
    from alkit.tasks.classification import ClassificationTask

    data = load_dataset("digits")
    high = CLASSIFICATION["digits-high"]  # the task only draws labelled sets and builds networks here
    task = ClassificationTask(data, augment=a.augment, **{k: high[k] for k in (
        "epochs", "min_steps", "iterations", "batch_size", "unlabelled_batch", "lr", "ensemble_size")})
    print(f"digits, augment={a.augment}, {a.seeds} seeds, class-balanced random labelled sets; accuracy %")
    print(f"{'recipe':12s} {'labels':>6s} {'steps':>6s} {'0.5x':>6s} {'1x':>6s} {'2x':>6s} {'2x-1x':>6s}")
    for name in recipes:
        r = dict(CLASSIFICATION[name])
        if a.min_steps is not None:
            r["min_steps"] = a.min_steps
        elif a.augment == "none":
            r["min_steps"] = r.get("min_steps_none", r["min_steps"])
        if a.batch_size is not None:
            r["batch_size"] = a.batch_size
        if a.lr is not None:
            r["lr"] = a.lr
        print(f"{name}: batch {r['batch_size']}, lr {r['lr']}, min_steps {r['min_steps']}, epochs {r['epochs']}")
        for n in LABELS[name]:
            acc = {}
            t0 = time.perf_counter()
            for f in (0.5, 1.0, 2.0):
                vals = []
                for s in range(a.seeds):
                    lab = task.initial_order(np.random.default_rng(1000 + s))[:n]
                    torch.manual_seed(s)
                    model = task.new_model()
                    train_supervised(model, task.data, lab, epochs=max(1, round(f * r["epochs"])),
                                     min_steps=round(f * r["min_steps"]), augment=task.augment, seed=s,
                                     batch_size=r["batch_size"], lr=r["lr"])
                    vals.append(100 * accuracy(model, task.data))
                acc[f] = float(np.mean(vals))
            gain = acc[2.0] - acc[1.0]
            print(f"{name:12s} {n:6d} {steps_of(r, n):6d} {acc[0.5]:6.1f} {acc[1.0]:6.1f} {acc[2.0]:6.1f} "
                  f"{gain:+6.1f} {'ok' if gain < 1 else 'NOT CONVERGED'}  ({time.perf_counter() - t0:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
