"""s4GAN step time vs a supervised segmentation step (paper Sec. 4.3; Mittal et al. 2019).

One supervised step = a labelled batch (random scaled crop + flip), forward/backward of the
segmentation network, SGD (:func:`alkit.engine.train.segmentation.train_segmentation`). One s4GAN
step (:func:`alkit.engine.train.s4gan.train_s4gan`) = a labelled and an unlabelled batch of the same
size, one generator forward/backward on both, the discriminator on real and fake maps (generator
step: feature matching + self-training), then a discriminator step. Both are timed through the
library functions themselves on the ``shapes`` data (64x64) with the ``shapes`` recipe, and on
request with the original discriminator width (64) as well. Prints ms per step side by side and
the ratio.

    python benchmarks/bench_s4gan.py [--steps 20] [--batch 10] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alkit.engine.data import load_dataset  # noqa: E402
from alkit.engine.models.segmentation import build_segmentation_model  # noqa: E402
from alkit.engine.train.s4gan import train_s4gan  # noqa: E402
from alkit.engine.train.segmentation import train_segmentation  # noqa: E402
from alkit.experiments.recipes import recipe  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--widths", default="16,64", help="discriminator widths to time (16: shapes recipe, 64: original)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    r = recipe("segmentation", "shapes")
    n_lab = a.batch * a.steps  # one supervised epoch = `steps` steps
    d = load_dataset("shapes", n_train=n_lab + 100, n_val=8).to(a.device)
    common = dict(mean=d.mean, std=d.std, num_classes=d.num_classes, crop_size=r["crop_size"],
                  scale_range=r["scale_range"], lr=r["lr"], head_lr_mult=r["head_lr_mult"], device=a.device)
    lab, unl = np.arange(n_lab), np.arange(n_lab, n_lab + 100)

    def timed(fn):
        fn(2)  # warm-up
        t = time.perf_counter()
        fn(a.steps)
        return (time.perf_counter() - t) / a.steps * 1000

    def sup(n):
        m = build_segmentation_model("small-seg", d.num_classes, None).to(a.device)
        train_segmentation(m, d.train_images, d.train_masks, lab[: a.batch * n], epochs=1, seed=0,
                           batch_size=a.batch, **common)

    rows = [("supervised step", timed(sup))]
    for w in (int(x) for x in a.widths.split(",")):
        def s4(n, w=w):
            m = build_segmentation_model("small-seg", d.num_classes, None).to(a.device)
            train_s4gan(m, d.train_images, d.train_masks, lab, unl, iterations=n, batch_size=a.batch, seed=0,
                        d_width=w, **common)
        rows.append((f"s4GAN step (D width {w})", timed(s4)))
    base = rows[0][1]
    print(f"shapes 64x64, batch {a.batch} labelled (+ {a.batch} unlabelled for s4GAN), {a.threads} thread(s), {a.device}")
    for name, ms in rows:
        print(f"{name:28s} {ms:8.1f} ms/step   x{ms / base:5.2f}")


if __name__ == "__main__":
    main()
