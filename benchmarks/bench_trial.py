"""Seconds per (strategy, trial) unit on digits, the current trainer vs the previous one, side by side.

One unit = one trial of one strategy over the cycles the notebooks run (digits high regime:
100 + 2 x 50 labels, the recipe's steps, paper augmentation, one torch thread as the runner gives
each worker). Both paths train the same steps on the same budgets; they differ only in the
supervised trainer:

  previous  ``alkit.engine.train.supervised.train_supervised`` before the grouped-epoch change (reconstructed
            below as :func:`previous_train_supervised`): one augmentation call per epoch (a few
            batches on a few hundred labels), a gather and a normalisation per step;
  current   the trainer now in alkit: dozens of epochs augmented and normalised per call, batches
            as contiguous slices.

The machine may be shared: the two paths alternate unit by unit in one process, so a load change
hits both; the ratio is the number to read.

    python benchmarks/bench_trial.py [--strategies random,entropy] [--repeats 2] [--min-steps 800]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from alkit.engine.data.base import normalize
from alkit.engine.train.common import autocast, make_generator, sgd_cosine


def previous_train_supervised(model, data, labelled, *, epochs, augment, seed, batch_size=64, lr=0.03,
                              momentum=0.9, weight_decay=5e-4, min_steps=0, **_):
    """The trainer as it was (supervised runs without Learning Loss): per epoch one augmentation
    call on the shuffled labelled set, per step a gather and a normalisation."""
    device = data.device
    gen = make_generator(seed, device)
    idx = torch.as_tensor(np.asarray(labelled), dtype=torch.long, device=device)
    steps_per_epoch = math.ceil(len(idx) / batch_size)
    epochs = max(epochs, math.ceil(min_steps / steps_per_epoch))
    opt, sched = sgd_cosine(list(model.parameters()), steps_per_epoch * epochs, lr=lr, momentum=momentum,
                            weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        order = idx[torch.randperm(len(idx), generator=gen, device=device)]
        views = torch.cat([augment(data.train_x[c], generator=gen) for c in order.split(4096)])
        labels = data.train_y[order]
        for pos in torch.arange(len(order), device=device).split(batch_size):
            x = normalize(views[pos], data.mean, data.std)
            with autocast(device):
                loss = F.cross_entropy(model(x), labels[pos])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strategies", default="random,entropy")
    ap.add_argument("--repeats", type=int, default=2, help="units per (path, strategy)")
    ap.add_argument("--min-steps", type=int, default=None, help="default: the digits-high recipe's")
    a = ap.parse_args()
    torch.set_num_threads(1)
    import alkit.tasks.classification as C
    from alkit.engine.data import load_dataset
    from alkit.experiments.recipes import classification_settings
    from alkit.protocol.loop import run_trial

    s = classification_settings("digits", "high")
    steps = a.min_steps if a.min_steps is not None else s["min_steps"]
    data = load_dataset("digits")
    task = C.ClassificationTask(data, augment="paper", epochs=s["epochs"], min_steps=steps, iterations=s["iterations"],
                                batch_size=s["batch_size"], unlabelled_batch=s["unlabelled_batch"], lr=s["lr"],
                                ensemble_size=s["ensemble_size"])
    current = C.train_supervised
    times = {"previous": {}, "current": {}}
    print(f"digits high: {s['initial']} + {s['cycles']} x {s['step']} labels, >= {steps} steps per cycle, "
          f"1 torch thread")
    for rep in range(a.repeats):
        for strategy in a.strategies.split(","):
            for path, fn in (("previous", previous_train_supervised), ("current", current)):
                C.train_supervised = fn
                t0 = time.perf_counter()
                run_trial(task, strategy, initial=s["initial"], step=s["step"], cycles=s["cycles"], trial=rep,
                          seed=0)
                times[path].setdefault(strategy, []).append(time.perf_counter() - t0)
    C.train_supervised = current
    print(f"{'strategy':10s} {'previous s/unit':>16s} {'current s/unit':>15s} {'ratio':>7s}")
    for strategy in a.strategies.split(","):
        p, c = np.mean(times["previous"][strategy]), np.mean(times["current"][strategy])
        print(f"{strategy:10s} {p:16.2f} {c:15.2f} {p / c:6.2f}x")


if __name__ == "__main__":
    main()
