"""Supervised training throughput at paper scale: WRN-28-2 on 32x32 images, batch 64, the
paper's augmentation (AutoAugment + Cutout + flip + crop), SGD step included.

Side by side in one run:
  alkit        ``alkit.engine.train.supervised.train_supervised`` for one epoch of steps x batch images:
               uint8 images held on the training device, the epoch augmented in large batched
               calls on the device, bf16 autocast + channels-last on CUDA;
  torchvision  PIL images through a DataLoader (per-sample AutoAugment/crop/flip/cutout in
               worker processes), then copied to the device; same model, optimiser, precision.
Prints images/s for both and the ratio, plus the implied minutes per paper cycle
(150 epochs over 20,000 labelled images, the largest labelled set of the high-budget regime).

    python benchmarks/bench_train_step.py [--device cuda] [--steps 50] [--workers 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F


def make_images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    return F.interpolate(base.float(), size=32, mode="bilinear").round().clamp(0, 255).to(torch.uint8)


def time_alkit(model, x_dev, y_dev, steps, batch, device):
    """alkit's own trainer (``train_supervised``): whole epochs, augmentation batched per epoch."""
    from alkit.engine.augment import build_augment
    from alkit.engine.data.base import ImageDataset
    from alkit.engine.train.supervised import train_supervised

    data = ImageDataset("bench", x_dev, y_dev, x_dev[:10], y_dev[:10], [str(i) for i in range(10)],
                        (0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
    aug = build_augment("paper", 32)
    n = min(len(x_dev), steps * batch)
    labelled = np.arange(n)
    train_supervised(model, data, labelled[: 4 * batch], epochs=1, augment=aug, seed=1, batch_size=batch)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    train_supervised(model, data, labelled, epochs=1, augment=aug, seed=0, batch_size=batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


class Cutout:
    def __init__(self, size=16):
        self.size = size

    def __call__(self, t):
        _, h, w = t.shape
        cy, cx = np.random.randint(h), np.random.randint(w)
        t = t.clone()
        t[:, max(0, cy - self.size // 2):cy + self.size // 2, max(0, cx - self.size // 2):cx + self.size // 2] = 0
        return t


def time_torchvision(model, x_cpu, y_cpu, steps, batch, device, workers):
    import torchvision.transforms as T
    from PIL import Image

    from alkit.engine.train.common import autocast, sgd_cosine

    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                    T.AutoAugment(T.AutoAugmentPolicy.CIFAR10), T.ToTensor(), Cutout(16),
                    T.Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))])
    pil = [Image.fromarray(im.permute(1, 2, 0).numpy()) for im in x_cpu]

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(pil)

        def __getitem__(self, i):
            return tf(pil[i]), int(y_cpu[i])

    loader = torch.utils.data.DataLoader(DS(), batch_size=batch, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=workers > 0,
                                         pin_memory=device.type == "cuda")
    opt, sched = sgd_cosine(model.parameters(), steps)
    it = iter(loader)

    def step():
        nonlocal it
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 200 on CUDA, 10 on CPU)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--n", type=int, default=5000, help="pool images")
    a = p.parse_args()
    from alkit.engine.models import build_model
    from alkit.engine.train.common import prepare_model

    device = torch.device(a.device)
    steps = a.steps or (200 if device.type == "cuda" else 10)
    x = make_images(a.n)
    y = torch.randint(0, 10, (a.n,))
    torch.manual_seed(0)
    m1 = prepare_model(build_model("wrn-28-2", 10), device).train()
    torch.manual_seed(0)
    m2 = prepare_model(build_model("wrn-28-2", 10), device).train()
    ours = time_alkit(m1, x.to(device), y.to(device), steps, a.batch, device)
    theirs = time_torchvision(m2, x, y, steps, a.batch, device, a.workers)
    print(f"device {device} | WRN-28-2 | batch {a.batch} | {steps} steps | DataLoader workers {a.workers}")
    print(f"alkit batched pipeline   : {ours:9.0f} images/s")
    print(f"torchvision DataLoader   : {theirs:9.0f} images/s")
    print(f"ratio alkit / torchvision: {ours / theirs:9.2f}x")
    per_cycle = 150 * 20_000 / ours / 60
    print(f"implied paper cycle (150 epochs x 20k labels) with alkit: {per_cycle:.1f} min")


if __name__ == "__main__":
    main()
