"""Bias meters over a whole run: alkit's bias_table vs the plain full-matrix numpy way.

alkit:  alkit.analysis.bias.bias_table -- the pool-only terms once per table (each pool point's mean
        distance to the pool, kNN typicality ranks), then per (strategy, trial) run one
        (new picks x pool) block of exact float64 distances per cycle, updating running sums
        (nearest labelled distance, energy-distance sums, class histogram). Memory chunk x n.
plain:  for every (strategy, trial, cycle) row, from scratch: the labelled set as the union of the
        picks, numpy distance matrices labelled x pool, labelled x labelled and pool x pool (the last
        shared by the row's energy distance and kNN typicality, rows sorted in full), the batch's
        b x b cosine matrix. What one writes from the meters' definitions.
per-row meters (with --per-row, for reference): alkit's public meters called row by row (no running
        sums: every call recomputes its pool x pool terms with exact distances; slow, ~30x bias_table).

The run is fabricated: 8 strategies x 5 trials x 4 cycles (100 random initial picks, then 50 per
cycle, the digits high-budget regime) on a 1,257 x 64 pool of 10 Gaussian clusters (the digits
pool's size; classes = clusters). The strategies pick with different biases (random, one class
first, outliers first, dense points first, ...), so the summary shows the meters telling them apart.
The variants alternate, --repeats times, on one thread each (BLAS and torch), and the median is
reported; the script checks that alkit and plain agree.

Usage: python benchmarks/bench_bias.py [--repeats 3] [--n 1257] [--dim 64] [--per-row]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: single-threaded, side by side

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from alkit.analysis import bias  # noqa: E402

STRATEGIES = ("random", "class-0-first", "outliers", "densest", "near-centre", "far-from-centre", "low-index",
              "mixed")
NUM_CLASSES, K = 10, 20


def make_pool(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 features [n, dim] of 10 Gaussian clusters, and the cluster of each point as its class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, n)
    centres = rng.normal(0, 2.0, (NUM_CLASSES, dim))
    spread = rng.uniform(0.5, 1.5, (n, 1))  # some points far out of their cluster
    return (centres[labels] + spread * rng.normal(0, 1, (n, dim))).astype(np.float32), labels


def preference(name: str, feats: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A score per pool point; a biased strategy picks the highest scores first (plus a little noise)."""
    n = len(feats)
    centre_distance = np.linalg.norm(feats - feats.mean(0), axis=1)
    own_centre = np.stack([feats[labels == c].mean(0) for c in range(NUM_CLASSES)])[labels]
    scores = {
        "random": np.zeros(n),
        "class-0-first": (labels == 0).astype(float),
        "outliers": np.linalg.norm(feats - own_centre, axis=1),
        "densest": -np.linalg.norm(feats - own_centre, axis=1),
        "near-centre": -centre_distance,
        "far-from-centre": centre_distance,
        "low-index": -np.arange(n) / n,
        "mixed": (labels % 3 == 0) + 0.1 * centre_distance,
    }[name]
    return scores / (scores.std() + 1e-9) + rng.normal(0, 0.3, n)


def fabricated_run(feats: np.ndarray, labels: np.ndarray, trials: int = 5, cycles: int = 3, seed: int = 0):
    """The run frame (strategy, trial, cycle, n_labelled, accuracy, selected): cycle 0 = 100 random
    points, then 50 per cycle, each strategy by its preference among the unlabelled points."""
    rng = np.random.default_rng(seed)
    rows = []
    for name in STRATEGIES:
        for t in range(trials):
            labelled = rng.choice(len(feats), 100, replace=False)
            rows.append(dict(strategy=name, trial=t, cycle=0, n_labelled=100, accuracy=0.0, selected=labelled.tolist()))
            for c in range(1, cycles + 1):
                score = preference(name, feats, labels, rng)
                score[labelled] = -np.inf
                batch = np.argsort(-score, kind="stable")[:50]
                labelled = np.concatenate([labelled, batch])
                rows.append(dict(strategy=name, trial=t, cycle=c, n_labelled=len(labelled), accuracy=0.0,
                                 selected=batch.tolist()))
    return pd.DataFrame(rows)


# -- the plain way ------------------------------------------------------------------------------------


def plain_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The full [len(a), len(b)] Euclidean distance matrix, numpy."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def plain_row(labelled: np.ndarray, batch: np.ndarray, feats: np.ndarray, labels: np.ndarray) -> dict:
    """Every meter of one row from its definition, with full matrices."""
    p = np.bincount(labels[labelled], minlength=NUM_CLASSES) / len(labelled)
    q = np.bincount(labels, minlength=NUM_CLASSES) / len(labels)
    ps = (p * len(labelled) + 0.5) / (len(labelled) + 0.5 * NUM_CLASSES)
    qs = (q * len(labels) + 0.5) / (len(labels) + 0.5 * NUM_CLASSES)
    xl = feats[labelled]
    d_lp, d_ll, d_pp = plain_distances(xl, feats), plain_distances(xl, xl), plain_distances(feats, feats)
    energy = np.sqrt(max(2 * d_lp.mean() - d_ll.mean() - d_pp.mean(), 0.0))
    nearest = d_lp.min(0)
    unit = feats[batch] / np.linalg.norm(feats[batch], axis=1, keepdims=True)
    cos = unit @ unit.T
    b = len(batch)
    knn = np.sort(d_pp, axis=1)[:, 1:K + 1].mean(1)  # column 0: the point itself
    density = 1 / knn
    pct = np.array([(np.sum(density < density[i]) + 0.5 * np.sum(density == density[i])) / len(density)
                    for i in batch])
    return dict(tv=0.5 * np.abs(p - q).sum(), kl=float(np.sum(ps * np.log(ps / qs))), energy=energy,
                coverage_mean=nearest.mean(), coverage_max=nearest.max(),
                redundancy=(cos.sum() - np.trace(cos)) / (b * (b - 1)), typicality=pct.mean())


def plain_table(df: pd.DataFrame, feats: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    x = feats.astype(np.float64)
    rows = []
    for (s, t), run in df.groupby(["strategy", "trial"], sort=False):
        run = run.sort_values("cycle")
        for c in run["cycle"]:
            labelled = np.concatenate(run["selected"][run["cycle"] <= c].tolist())
            batch = np.asarray(run["selected"][run["cycle"] == c].iloc[0])
            rows.append(dict(strategy=s, trial=t, cycle=c, **plain_row(labelled, batch, x, labels)))
    return pd.DataFrame(rows)


def per_row_meters(df: pd.DataFrame, feats: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """alkit's public meters, called row by row (no running sums, pool terms recomputed)."""
    rows = []
    for (s, t), run in df.groupby(["strategy", "trial"], sort=False):
        run = run.sort_values("cycle")
        for c in run["cycle"]:
            labelled = np.concatenate(run["selected"][run["cycle"] <= c].tolist())
            batch = np.asarray(run["selected"][run["cycle"] == c].iloc[0])
            imbalance = bias.class_imbalance(labels[labelled], labels, NUM_CLASSES)
            rows.append(dict(strategy=s, trial=t, cycle=c, **imbalance,
                             energy=bias.feature_shift(feats[labelled], feats),
                             **{f"coverage_{k}": v for k, v in bias.coverage(feats[labelled], feats).items()},
                             redundancy=bias.redundancy(feats[batch]), typicality=bias.typicality(batch, feats, K)))
    return pd.DataFrame(rows)


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=1257)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--per-row", action="store_true", help="also time the public meters called row by row")
    args = ap.parse_args()
    torch.set_num_threads(1)
    feats, labels = make_pool(args.n, args.dim)
    df = fabricated_run(feats, labels)
    variants = {
        "alkit bias_table": lambda: bias.bias_table(df, labels, feats, NUM_CLASSES, k=K),
        "plain numpy": lambda: plain_table(df, feats, labels),
    }
    if args.per_row:
        variants["per-row meters"] = lambda: per_row_meters(df, feats, labels)
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs = {}
    for _ in range(args.repeats):  # side by side: the variants alternate
        for name, fn in variants.items():
            seconds, outputs[name] = timed(fn)
            times[name].append(seconds)
    meters = ["tv", "kl", "energy", "coverage_mean", "coverage_max", "redundancy", "typicality"]
    keys = ["strategy", "trial", "cycle"]
    mine = outputs["alkit bias_table"].sort_values(keys).reset_index(drop=True)
    plain = outputs["plain numpy"].sort_values(keys).reset_index(drop=True)
    gap = float(np.max(np.abs(mine[meters].to_numpy() - plain[meters].to_numpy())))

    print(f"pool {args.n} x {args.dim}, {df.strategy.nunique()} strategies x {df.trial.nunique()} trials x "
          f"{df.cycle.nunique()} cycles = {len(df)} rows; torch {torch.__version__}, 1 thread, "
          f"median of {args.repeats}")
    base = statistics.median(times["alkit bias_table"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:17s} {med:7.3f} s   ({med / len(df) * 1000:6.2f} ms/row)   x{med / base:6.1f} alkit's time")
    print(f"  speed-up of bias_table over the plain way: {statistics.median(times['plain numpy']) / base:.1f}x")
    print(f"  largest |alkit - plain| over all meters and rows: {gap:.2e}")
    last = mine[mine.cycle == mine.cycle.max()].groupby("strategy", sort=False)[meters].mean()
    print("\nlast cycle, mean over trials (random = the unbiased reference):")
    print(last.round(3).to_string())


if __name__ == "__main__":
    main()
