"""Learning curve on the embedded digits: supervised vs UDA vs FixMatch (vs glyph pre-training) at
20/50/100 labels, with the default recipes (alkit.experiments.recipes).

Per (method, labels, seed): a class-balanced labelled set (the AL loop's initial set for that seed),
the small CNN, and
- supervised: the digits-high recipe (40 epochs, >= 400 SGD steps, lr 0.03, "paper" augmentation);
- glyphs: the same, starting from the glyph-pre-trained backbone (alkit.engine.train.pretrain);
- uda / fixmatch: the digits-high SSL recipe (iterations, unlabelled batch, ssl_lr) with the rest
  of the pool unlabelled.
Prints mean accuracy and the 95 % Student-t interval over seeds, and each SSL method's paired gap to
supervised (alkit.analysis.stats.paired_test). One thread (tiny convolutions).

    python benchmarks/bench_ssl_curve.py [--labels 20,50,100] [--seeds 3] [--methods supervised,uda,fixmatch,glyphs]
                                         [--iterations N] [--unlabelled-batch N] [--lr X]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alkit.analysis.stats import paired_test  # noqa: E402
from alkit.engine.augment import build_augment  # noqa: E402
from alkit.engine.data.digits import load_digits  # noqa: E402
from alkit.engine.models import build_model  # noqa: E402
from alkit.engine.train.fixmatch import train_fixmatch  # noqa: E402
from alkit.engine.train.supervised import accuracy, train_supervised  # noqa: E402
from alkit.engine.train.uda import train_uda  # noqa: E402
from alkit.experiments.recipes import recipe  # noqa: E402
from alkit.protocol.pool import class_balanced_order  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--labels", default="20,50,100")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--methods", default="supervised,uda,fixmatch,glyphs")
    r = recipe("classification", "digits", "high")
    p.add_argument("--iterations", type=int, default=r["iterations"])
    p.add_argument("--unlabelled-batch", type=int, default=r["unlabelled_batch"])
    p.add_argument("--lr", type=float, default=r["ssl_lr"])
    a = p.parse_args()
    torch.set_num_threads(1)
    data = load_digits()
    labels = data.train_y.numpy()
    aug, weak, strong = (build_augment(n, 8, hflip=False) for n in ("paper", "weak", "strong"))
    methods = a.methods.split(",")
    backbone = None
    if "glyphs" in methods:
        from alkit.engine.train.pretrain import glyph_backbone

        t = time.perf_counter()
        backbone = glyph_backbone()
        print(f"glyph backbone ready in {time.perf_counter() - t:.1f} s (cached after the first run)")
    print(f"SSL: {a.iterations} iterations, unlabelled batch {a.unlabelled_batch}, lr {a.lr}; supervised: "
          f"{r['epochs']} epochs, >= {r['min_steps']} steps, lr {r['lr']}; seeds 0..{a.seeds - 1}")
    for n in (int(x) for x in a.labels.split(",")):
        acc, secs = {}, {}
        for m in methods:
            acc[m], t0 = [], time.perf_counter()
            for seed in range(a.seeds):
                lab = class_balanced_order(labels, np.random.default_rng(seed))[:n]
                unl = np.setdiff1d(np.arange(len(labels)), lab)
                torch.manual_seed(seed)
                net = build_model("small-cnn", 10, in_channels=1, image_size=8)
                if m in ("supervised", "glyphs"):
                    if m == "glyphs":
                        net.load_state_dict(backbone, strict=False)
                    train_supervised(net, data, lab, epochs=r["epochs"], min_steps=r["min_steps"], augment=aug,
                                     seed=seed, lr=r["lr"])
                else:
                    trainer = train_uda if m == "uda" else train_fixmatch
                    trainer(net, data, lab, unl, iterations=a.iterations, weak=weak, strong=strong,
                            labelled_augment=aug, seed=seed, lr=a.lr, unlabelled_batch=a.unlabelled_batch,
                            progress=False)
                acc[m].append(accuracy(net, data))
            secs[m] = (time.perf_counter() - t0) / a.seeds
        for m in methods:
            v = np.array(acc[m]) * 100
            half = paired_test(v)  # interval of the mean (test against 0, only the interval is used)
            line = (f"{n:4d} labels  {m:>10}: {v.mean():5.1f} % [{half['ci_low']:5.1f}, {half['ci_high']:5.1f}]"
                    f"  ({secs[m]:.1f} s/model)")
            if m != "supervised" and "supervised" in acc:
                g = paired_test(v - np.array(acc["supervised"]) * 100)
                line += f"  vs supervised {g['gap']:+5.1f} points [{g['ci_low']:+.1f}, {g['ci_high']:+.1f}]"
            print(line, flush=True)


if __name__ == "__main__":
    main()
