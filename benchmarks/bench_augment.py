"""Throughput of alkit's batched "paper" augmentation vs torchvision's per-sample pipeline.

alkit:       build_augment("paper", 32) on uint8 [256, 3, 32, 32] batches (+ float /255, to match
             ToTensor), torch intra-op threads = --workers, on --device (cpu or cuda).
torchvision: PIL images -> RandomCrop(32, 4) + RandomHorizontalFlip + AutoAugment(CIFAR10)
             + ToTensor + a simple Cutout(16), per sample, batched by a DataLoader with
             --workers worker processes (workers started by a warm-up pass).
Both sides: best of --repeats passes over the data (the machine may be shared).

Usage: python benchmarks/bench_augment.py [--n 10000] [--batch 256] [--workers 2] [--device cpu|cuda]
Prints both rates (images/s) and their ratio.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from alkit.engine.augment import build_augment  # noqa: E402


def structured_images(n: int, seed: int = 0) -> torch.Tensor:
    """uint8 [n, 3, 32, 32]: smooth random colour gradients + blobs + noise (CIFAR-like statistics,
    so histogram ops see realistic, not uniform-noise, histograms)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    a = torch.rand(n, 3, 3, 1, 1, generator=g)
    img = a[:, :, 0] * 255 * xx + a[:, :, 1] * 255 * yy + a[:, :, 2] * 80
    cy, cx = torch.rand(n, 1, 1, 1, generator=g) * 32, torch.rand(n, 1, 1, 1, generator=g) * 32
    blob = torch.exp(-(((yy * 31 - cy) ** 2 + (xx * 31 - cx) ** 2) / 40.0))
    img = img * 0.6 + blob * torch.rand(n, 3, 1, 1, generator=g) * 120
    img = img + torch.randn(n, 3, 32, 32, generator=g) * 8
    return img.clamp(0, 255).to(torch.uint8)


class _Cutout:
    """Per-sample Cutout on a float [C, H, W] tensor (DeVries & Taylor 2017), numpy RNG."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        h, w = t.shape[1:]
        cy, cx = np.random.randint(h), np.random.randint(w)
        y0, y1 = max(0, cy - self.size // 2), min(h, cy - self.size // 2 + self.size)
        x0, x1 = max(0, cx - self.size // 2), min(w, cx - self.size // 2 + self.size)
        t = t.clone()
        t[:, y0:y1, x0:x1] = 0.0
        return t


class _PILDataset(torch.utils.data.Dataset):
    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i])


def bench_torchvision(x: torch.Tensor, batch: int, workers: int, repeats: int) -> float:
    from PIL import Image
    from torchvision import transforms as T

    pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in x]
    tf = T.Compose([
        T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
        T.AutoAugment(T.AutoAugmentPolicy.CIFAR10), T.ToTensor(), _Cutout(16),
    ])
    loader = torch.utils.data.DataLoader(_PILDataset(pil, tf), batch_size=batch, shuffle=True,
                                         num_workers=workers, persistent_workers=workers > 0)
    for _ in loader:  # warm-up pass: start the workers
        pass
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in loader:
            pass
        best = min(best, time.perf_counter() - t0)
    return len(x) / best


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_ops(x: torch.Tensor, batch: int, device: str, reps: int = 20) -> None:
    """Milliseconds per call of each piece on one full batch (every image transformed)."""
    from alkit.engine import autoaugment as A
    from alkit.engine.augment import cutout, random_crop_flip

    xb = x[:batch].to(device)
    g = torch.Generator(device=device).manual_seed(0)
    m = torch.rand(len(xb), device=device)
    pieces = {"crop+flip": lambda: random_crop_flip(xb, 4, True, g), "cutout": lambda: cutout(xb, 16, g)}
    pieces.update({op: (lambda fn=fn: fn(xb, m * 5)) for op, fn in A.OPS.items()})
    pieces["AutoAugment(subset)"] = lambda: A.BatchedAutoAugment(masked=False)(xb, g)
    pieces["AutoAugment(masked)"] = lambda: A.BatchedAutoAugment(masked=True)(xb, g)
    for name, f in pieces.items():
        f()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            f()
        _sync(device)
        print(f"  {name:20s} {(time.perf_counter() - t0) / reps * 1e3:8.3f} ms / batch of {len(xb)}")


def bench_alkit(x: torch.Tensor, batch: int, device: str, repeats: int) -> float:
    aug = build_augment("paper", 32)
    x = x.to(device)
    g = torch.Generator(device=device).manual_seed(0)

    def one_pass():
        out = None
        for i in range(0, len(x), batch):
            out = aug(x[i:i + batch], g).float().div_(255)
        _sync(device)
        return out

    one_pass()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        one_pass()
        best = min(best, time.perf_counter() - t0)
    return len(x) / best


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10000, help="number of 32x32x3 images")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--workers", type=int, default=2,
                   help="DataLoader workers for torchvision = torch threads for alkit")
    p.add_argument("--device", default="cpu", help="device for alkit: cpu or cuda")
    p.add_argument("--repeats", type=int, default=3, help="timed passes; the fastest is reported")
    p.add_argument("--skip-torchvision", action="store_true")
    p.add_argument("--ops", action="store_true", help="also time each op on one full batch")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device} requested but CUDA is not available")

    torch.set_num_threads(max(1, args.workers))
    x = structured_images(args.n)
    ours = bench_alkit(x, args.batch, args.device, args.repeats)
    print(f"alkit batched 'paper' ({args.device}, {torch.get_num_threads()} threads): {ours:12,.0f} images/s")
    if args.ops:
        bench_ops(x, args.batch, args.device)
    if args.skip_torchvision:
        return
    theirs = bench_torchvision(x, args.batch, args.workers, args.repeats)
    print(f"torchvision per-sample PIL (DataLoader, {args.workers} workers):    {theirs:12,.0f} images/s")
    print(f"ratio alkit / torchvision: {ours / theirs:.1f}x   (n={args.n}, batch={args.batch})")


if __name__ == "__main__":
    main()
