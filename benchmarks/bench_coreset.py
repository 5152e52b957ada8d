"""Core-set selection: alkit's k-center greedy vs the dense pairwise-distance way.

alkit:  alkit.strategies.scores.k_center_greedy -- a running min-distance vector, distances to the
        labelled set in chunk x chunk blocks, lazy (exact) greedy steps. Memory linear in n.
dense:  torch.cdist(X, X) -> the full n x n matrix, then the textbook greedy on its rows
        (what many AL codebases do). Run at --dense-n (it needs n^2 * 4 bytes); the 50k figures
        are extrapolated (memory and time ~ n^2).
plain:  the linear-memory greedy without the lazy trick (update all n distances every step), timed
        on its first --plain-steps steps at --n and extrapolated to the whole budget.

Each variant runs in its own subprocess. Peak extra memory = the process's peak resident memory
(Linux VmHWM, reset via /proc/self/clear_refs once the features are made) minus its resident
memory before the call; on CUDA, torch's peak allocated memory.
Features: --data clusters (10 Gaussian blobs, like class-structured embeddings; default) or
gaussian (i.i.d. N(0, 1)), float32, seeded. Labelled: a seeded random --labelled / --n share of
each pool, budget likewise. On a GPU, --dense-n 50000 runs the dense way at full size.

Usage: python benchmarks/bench_coreset.py [--n 50000] [--dim 512] [--labelled 5000] [--budget 2500]
           [--dense-n 20000] [--data clusters|gaussian] [--device cpu|cuda] [--plain-steps 100]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from alkit.strategies.scores import _min_sq_dist, k_center_greedy  # noqa: E402


def make_features(n: int, dim: int, kind: str, seed: int = 0) -> np.ndarray:
    """float32 [n, dim] without temporaries larger than a few MB (so they do not raise the peak)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    if kind == "clusters":
        centres = rng.standard_normal((10, dim), dtype=np.float32) * 3.0
        labels = rng.integers(0, 10, n)
        for a in range(0, n, 4096):
            x[a:a + 4096] += centres[labels[a:a + 4096]]
    return x


def make_mask(n: int, labelled: int, seed: int = 1) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, labelled, replace=False)] = True
    return mask


def dense_greedy(x: torch.Tensor, mask: torch.Tensor, budget: int) -> np.ndarray:
    """The n x n way: full distance matrix, then greedy on its rows."""
    d = torch.cdist(x, x)  # [n, n]
    min_d = d[:, mask].amin(dim=1) if bool(mask.any()) else d[0].clone()
    min_d[mask] = float("-inf")
    picks = []
    for _ in range(budget):
        p = int(torch.argmax(min_d))
        picks.append(p)
        torch.minimum(min_d, d[p], out=min_d)
        min_d[p] = float("-inf")
    return np.array(picks)


def plain_greedy_steps(x: torch.Tensor, mask: torch.Tensor, steps: int) -> tuple[np.ndarray, float]:
    """Linear memory, no lazy refresh: every step updates all n min-distances (x @ c).
    Returns the picks and the seconds of the initial pass (distances to the labelled set)."""
    t0 = time.perf_counter()
    sq = torch.linalg.vector_norm(x, dim=1).square()
    unl, lab = torch.nonzero(~mask).squeeze(1), torch.nonzero(mask).squeeze(1)
    u = torch.full((len(x),), float("-inf"), dtype=x.dtype, device=x.device)
    u[unl] = _min_sq_dist(x, sq, unl, lab, 2048)
    if x.is_cuda:
        torch.cuda.synchronize()
    t_init = time.perf_counter() - t0
    picks = []
    for _ in range(steps):
        p = int(torch.argmax(u))
        picks.append(p)
        torch.minimum(u, sq - 2.0 * (x @ x[p]) + sq[p], out=u)
        u[mask] = float("-inf")
        u[picks] = float("-inf")
    return np.array(picks), t_init


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> dict:
    """Run one variant in this (fresh) process and return its time, peak extra memory and picks."""
    torch.manual_seed(0)
    n, lab, budget = args.child_n, args.child_labelled, args.child_budget
    x_np = make_features(n, args.dim, args.data)
    mask_np = make_mask(n, lab)
    dev = torch.device(args.device)
    x, mask = torch.from_numpy(x_np).to(dev), torch.from_numpy(mask_np).to(dev)
    # warm up kernels / thread pools on a tiny problem so they are not counted
    k_center_greedy(x[:64], mask[:64] & False, 4)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current RSS
        except OSError:
            pass
        base = _rss_mb()
    t, t_init = time.perf_counter(), 0.0
    if args.child == "alkit":
        picks = k_center_greedy(x, mask, budget)
    elif args.child == "dense":
        picks = dense_greedy(x, mask, budget)
    else:
        picks, t_init = plain_greedy_steps(x, mask, args.plain_steps)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if cuda else _hwm_mb() - base
    return {"seconds": seconds, "init_seconds": t_init, "peak_mb": peak, "picks": picks[:200].tolist()}


def run_child(args, variant: str, n: int) -> dict:
    lab = round(args.labelled * n / args.n)
    budget = round(args.budget * n / args.n)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", variant, "--child-n", str(n),
           "--child-labelled", str(lab), "--child-budget", str(budget), "--dim", str(args.dim),
           "--data", args.data, "--device", args.device, "--plain-steps", str(args.plain_steps)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{variant} at n={n} failed:\n{out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(n=n, labelled=lab, budget=budget)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--labelled", type=int, default=5_000)
    p.add_argument("--budget", type=int, default=2_500)
    p.add_argument("--dense-n", type=int, default=20_000)
    p.add_argument("--data", choices=("clusters", "gaussian"), default="clusters")
    p.add_argument("--device", default="cpu")
    p.add_argument("--plain-steps", type=int, default=100)
    p.add_argument("--child", choices=("alkit", "dense", "plain"), help=argparse.SUPPRESS)
    p.add_argument("--child-n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child-labelled", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child-budget", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    print(f"k-center greedy, {args.data} features d={args.dim}, device {args.device}, "
          f"torch threads {torch.get_num_threads()}")
    a_small = run_child(args, "alkit", args.dense_n)
    dense = run_child(args, "dense", args.dense_n)
    a_big = a_small if args.dense_n == args.n else run_child(args, "alkit", args.n)
    plain = run_child(args, "plain", args.n)
    agree = next((j for j, (a, b) in enumerate(zip(a_small["picks"], dense["picks"])) if a != b), len(dense["picks"]))
    row = "{:<36} {:>7} {:>9} {:>10}"
    print(row.format("variant", "n", "seconds", "peak MB"))
    print(row.format(f"alkit (pick {a_small['budget']})", a_small["n"], f"{a_small['seconds']:.2f}", f"{a_small['peak_mb']:.0f}"))
    print(row.format(f"dense cdist (pick {dense['budget']})", dense["n"], f"{dense['seconds']:.2f}", f"{dense['peak_mb']:.0f}"))
    print(f"  picks identical for the first {agree} of {len(dense['picks'])} compared"
          + ("" if agree == len(dense["picks"]) else " (from there a float32 near-tie is decided differently)"))
    print(f"  ratio dense / alkit at n={args.dense_n}: time x{dense['seconds'] / a_small['seconds']:.1f}, "
          f"memory x{dense['peak_mb'] / max(a_small['peak_mb'], 1):.1f}")
    d_time, d_mem = dense["seconds"], dense["peak_mb"]
    if args.dense_n != args.n:
        scale = (args.n / args.dense_n) ** 2
        d_time, d_mem = d_time * scale, d_mem * scale
        print(row.format(f"alkit (pick {a_big['budget']})", a_big["n"], f"{a_big['seconds']:.2f}", f"{a_big['peak_mb']:.0f}"))
        print(row.format("dense cdist, extrapolated ~n^2", args.n, f"~{d_time:.1f}", f"~{d_mem:.0f}"))
    print(f"  ({args.n} x {args.n} float32 distance matrix alone = {args.n ** 2 * 4 / 1e9:.1f} GB)")
    per_step = (plain["seconds"] - plain["init_seconds"]) / args.plain_steps
    plain_total = plain["init_seconds"] + per_step * a_big["budget"]
    print(row.format(f"plain linear-memory ({args.plain_steps} steps)", args.n, f"{plain['seconds']:.2f}",
                     f"{plain['peak_mb']:.0f}"))
    print(f"  plain: initial pass {plain['init_seconds']:.2f} s + {per_step * 1000:.2f} ms/step -> "
          f"~{plain_total:.1f} s for {a_big['budget']} picks")
    print(f"  ratio at n={args.n}: dense{'' if args.dense_n == args.n else ' (extrap.)'} / alkit time "
          f"x{d_time / a_big['seconds']:.1f}, memory x{d_mem / max(a_big['peak_mb'], 1):.0f}; "
          f"plain / alkit time x{plain_total / a_big['seconds']:.1f}")
    ok = a_big["seconds"] <= 5.0 and a_big["peak_mb"] < 1024
    print(f"target (<= 5 s and < 1 GB at n={args.n}): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
