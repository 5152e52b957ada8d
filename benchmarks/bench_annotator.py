"""Speed of the segmentation side: the simulated annotator and the Entropy query score.

1. Annotator throughput (images/s) on VOC-sized label masks (500x375, 3-5 objects incl. rings,
   VOC-style 5 px ignore borders) at the paper's 10 px tolerance: ``alkit.protocol.annotation.annotate``
   (one contour pass per class with the RETR_CCOMP hierarchy) vs the naive way — label every
   connected component with scipy, trace each component on its own full-size mask, simplify,
   fill (and no hole handling at all).
2. Entropy-heuristic scoring throughput (images/s) on batches of VOC-sized probability maps
   ``[B, 21, 375, 500]``: ``alkit.strategies.segmentation.entropy_count`` (batched torch) vs a
   per-image numpy loop. On CUDA as well when present.

Run: ``python benchmarks/bench_annotator.py`` (prints figures; not a pass/fail test).
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch
from scipy import ndimage

from alkit.protocol.annotation import annotate
from alkit.strategies.segmentation import entropy_count

H, W, K = 375, 500, 21


def voc_like_masks(n: int, seed: int = 0) -> list[np.ndarray]:
    """Masks with 3-5 objects (discs, rings, rotated boxes, blobs) of random VOC classes + 255 borders."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = np.zeros((H, W), np.uint8)
        for _ in range(rng.integers(3, 6)):
            c = int(rng.integers(1, K))
            cx, cy, r = int(rng.integers(50, W - 50)), int(rng.integers(50, H - 50)), int(rng.integers(20, 110))
            kind = rng.integers(4)
            if kind == 0:
                cv2.circle(m, (cx, cy), r, c, -1)
            elif kind == 1:
                cv2.circle(m, (cx, cy), r, c, -1)
                cv2.circle(m, (cx, cy), r // 2, 0, -1)
            elif kind == 2:
                box = cv2.boxPoints(((cx, cy), (2 * r, r), float(rng.uniform(0, 180))))
                cv2.fillPoly(m, [box.astype(np.int32)], c)
            else:
                pts = np.stack([cx + r * rng.uniform(0.5, 1, 12) * np.cos(np.linspace(0, 6.28, 12, endpoint=False)),
                                cy + r * rng.uniform(0.5, 1, 12) * np.sin(np.linspace(0, 6.28, 12, endpoint=False))], 1)
                cv2.fillPoly(m, [pts.astype(np.int32)], c)
        edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0
        m[edge] = 255
        out.append(m)
    return out


def naive_annotate(mask: np.ndarray, tol: float) -> tuple[np.ndarray, int]:
    """Per connected component: its own full-size binary mask, outer contour, RDP, fill."""
    approx = np.zeros_like(mask)
    clicks = 0
    for c in np.unique(mask):
        if c in (0, 255):
            continue
        comps, n = ndimage.label(mask == c, structure=np.ones((3, 3)))
        for i in range(1, n + 1):
            cont, _ = cv2.findContours((comps == i).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            poly = cv2.approxPolyDP(cont[0], tol, True)
            clicks += len(poly)
            cv2.fillPoly(approx, [poly], int(c))
    approx[mask == 255] = 255
    return approx, clicks


def rate(fn, items, repeat: int = 1) -> float:
    fn(items[0])  # warm-up
    t = time.perf_counter()
    for _ in range(repeat):
        for it in items:
            fn(it)
    return repeat * len(items) / (time.perf_counter() - t)


def bench_annotator(n: int = 200) -> None:
    masks = voc_like_masks(n)
    fast = rate(lambda m: annotate(m, 10), masks)
    slow = rate(lambda m: naive_annotate(m, 10), masks)
    clicks = np.mean([annotate(m, 10)[1] for m in masks])
    print(f"annotator, {n} masks {W}x{H}, tolerance 10 px ({clicks:.1f} clicks/image):")
    print(f"  alkit.protocol.annotation.annotate        {fast:8.1f} images/s")
    print(f"  naive per-component full masks   {slow:8.1f} images/s   -> alkit is {fast / slow:.1f}x faster")
    print(f"  (a 10,582-image VOC pool is annotated in {10582 / fast:.0f} s on one core)")


def naive_entropy_count(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Per image: numpy entropy over classes, normalise, count."""
    out = np.empty(len(probs), np.int64)
    for i, p in enumerate(probs):
        h = -(p * np.log(np.clip(p, 1e-12, None))).sum(0) / np.log(p.shape[0])
        out[i] = int((h > threshold).sum())
    return out


def bench_scoring(batch: int = 8, rounds: int = 3) -> None:
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(batch, K, H, W, generator=g), 1)
    p_np = probs.numpy()
    assert np.array_equal(naive_entropy_count(p_np, 0.6), entropy_count(probs, 0.6).numpy())
    fast = rate(lambda p: entropy_count(p, 0.6), [probs] * rounds) * batch
    slow = rate(lambda p: naive_entropy_count(p, 0.6), [p_np] * rounds) * batch
    print(f"entropy heuristic on probability maps [{batch}, {K}, {H}, {W}] (threshold 0.6):")
    print(f"  alkit entropy_count (torch, CPU, {torch.get_num_threads()} threads) {fast:8.1f} images/s")
    print(f"  naive per-image numpy loop                 {slow:8.1f} images/s   -> alkit is {fast / slow:.1f}x faster")
    if torch.cuda.is_available():
        pc = probs.cuda()
        entropy_count(pc, 0.6)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(20):
            entropy_count(pc, 0.6)
        torch.cuda.synchronize()
        gpu = 20 * batch / (time.perf_counter() - t)
        print(f"  alkit entropy_count on CUDA                 {gpu:8.1f} images/s   -> {gpu / slow:.0f}x the numpy loop")


if __name__ == "__main__":
    bench_annotator()
    bench_scoring()
