"""s4GAN's generator step with the discriminator frozen vs trainable, side by side (paper Sec. 4.3).

The generator step backpropagates through the discriminator D only to reach the generator; D's weight
gradients from it were computed and then thrown away (they are cleared before D's own step).
:func:`alkit.engine.train.s4gan.train_s4gan` now freezes D for that step (``s4gan._frozen``), so
autograd computes D's input gradients only. This script times both ways through the library's own
trainer (``benchmarks/step_runs.py``'s ``s4gan`` run: the ``shapes`` recipe's s4GAN, one torch thread,
what a ``make reproduce`` worker gets), repeats interleaved so both see the same CPU load:

* ``trainable``: D's parameters keep ``requires_grad`` in the generator step (the plain way, before);
* ``frozen``: the trainer as it is.

Prints the median ms per s4GAN step of each, the ratio trainable / frozen, and whether both ended with
the same generator and discriminator weights, bit for bit (they should: the same kernels compute the
gradients that reach the generator).

    python benchmarks/bench_s4gan_frozen_d.py [--steps 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alkit import checks  # noqa: E402
from alkit.engine.train import s4gan  # noqa: E402
from benchmarks.step_runs import training_runs  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="100", help="s4GAN steps per timed run (default 100)")
    ap.add_argument("--repeats", default="5", help="timed runs per way, interleaved (default 5)")
    a = ap.parse_args(argv)
    try:  # one line and exit 2 for a bad flag, before any training
        a.steps, a.repeats = checks.integer("--steps", a.steps, minimum=1), checks.integer("--repeats", a.repeats, minimum=1)
    except checks.UsageError as e:
        ap.error(str(e))
    torch.set_num_threads(1)
    run = training_runs(a.steps, names=("s4gan",))["s4gan"]
    frozen = s4gan._frozen
    ways = {"trainable": lambda module: contextlib.nullcontext(), "frozen": frozen}
    times = {name: [] for name in ways}
    weights = {}
    try:
        for name, switch in ways.items():  # warm-up: oneDNN builds its kernels on first use
            s4gan._frozen = switch
            run()
        for _ in range(a.repeats):
            for name, switch in ways.items():
                s4gan._frozen = switch
                torch.manual_seed(0)
                t0 = time.perf_counter()
                G, D = run()
                times[name].append((time.perf_counter() - t0) / a.steps * 1000)
                weights[name] = [t.detach().clone() for t in (*G.state_dict().values(), *D.state_dict().values())]
    finally:
        s4gan._frozen = frozen
    ms = {name: statistics.median(v) for name, v in times.items()}
    same = all(torch.equal(x, y) for x, y in zip(weights["trainable"], weights["frozen"]))
    print(f"s4GAN steps of the shapes recipe, 1 thread; median ms per step over {a.repeats} x {a.steps} steps")
    print(f"D trainable in the generator step {ms['trainable']:8.2f} ms")
    print(f"D frozen in the generator step    {ms['frozen']:8.2f} ms")
    print(f"trainable / frozen                {ms['trainable'] / ms['frozen']:8.2f}x")
    print(f"same generator and discriminator weights at the end, bit for bit: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
