"""How right is `make reproduce`'s estimate of the time left? Previous vs new unit weights, replayed.

`alkit reproduce` computes every stored unit on one pool, longest first, behind a bar that counts
percent of the work, each unit weighted by a static cost (alkit.experiments.prefetch); tqdm's time
left is elapsed x (100 - done) / done, so it is right only when the weights are proportional to
the units' times. This script replays a finished default run: it plans the notebooks' units again
(against an empty store), reads each unit's measured per-cycle seconds from the run's results
store, schedules the units on ``--workers`` workers in each weighting's order (a shared cycle-0
training costs its measured time in the first unit of its group that starts, and a file read in
the others), and prints, at several points of the replayed run, the total time the bar predicts
against the true total:

* ``previous``: each unit's own cost (the sum of its cycle costs, as ``prefetch.unit_cost`` counted it before this
  change: the discriminator's pixels unpooled, every shared cycle-0 training counted whole in
  each unit);
* ``new``: :func:`alkit.experiments.prefetch.work_weights`.

    python benchmarks/bench_progress_eta.py [--outputs DIR] [--preset default] [--workers 2]

``DIR``: the ``outputs`` folder of a finished ``make reproduce`` with this preset and commit (its
``runs``; default: alkit's outputs folder). Without one it says so in one line and exits 0, so
``make benchmarks`` before a ``make reproduce`` skips it.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def previous_unit_cost(p, unit) -> float:
    """The weight before: pixels of every image a step sees (the discriminator's at full size)."""
    from alkit.experiments.cost_plan import _steps

    s, task, kind = p.settings, p.task, p.exp.kind
    recipe = p.exp.recipe("segmentation") if kind == "segmentation" else {}
    if kind == "segmentation":
        per_image, side = float(task.pool_costs().mean()), int(recipe.get("crop_size", 48))
    else:
        per_image, side = 1.0, int(getattr(task.data, "image_size", 32))
    total = 0.0
    for c in range(unit.cycles + 1):
        n = max(1, round((unit.initial + c * unit.step) / per_image))
        steps, images, d_images = _steps(kind, s.get("ssl"), s, recipe, n)
        total += steps * (images + d_images) * side * side
    return total * task.unit_cost(unit.strategy)


def measured_seconds(runs: Path, unit) -> list[float] | None:
    """Per-cycle ``seconds`` of ``unit`` in the finished results store ``runs`` (None: not all there)."""
    from alkit.experiments import fingerprint
    from alkit.experiments.store import config_key

    key = config_key({**unit.store_config, "recipe_version": fingerprint.RECIPE_VERSION})
    found = glob.glob(str(runs / f"*-{key}"))
    if not found:
        return None
    out = []
    for c in range(unit.cycles + 1):
        f = Path(found[0]) / f"trial{unit.trial}" / f"cycle{c:02d}.json"
        if not f.is_file():
            return None
        out.append(float(json.loads(f.read_text())["record"]["seconds"]))
    return out


def replay(order, weights, seconds, groups, workers: int):
    """Cycle-end times of the units started in ``order`` on ``workers`` workers, each cycle with its
    unit's share of the bar: ``[(time, percent), ...]`` sorted by time."""
    total_w = sum(weights)
    free = [0.0] * workers
    started, events = set(), []
    for i in order:
        k = min(range(workers), key=lambda w: free[w])
        t, s = free[k], list(seconds[i])
        g = groups[i]
        if g is not None:  # a shared cycle 0: trained by the first unit of the group, read by the others
            s[0] = g[1] if g[0] not in started else g[2]
            started.add(g[0])
        for d in s:
            t += d
            events.append((t, 100.0 * weights[i] / total_w / len(s)))
        free[k] = t
    return sorted(events)


def predictions(events, marks=(0.05, 0.10, 0.25, 0.50, 0.75, 0.90)):
    """``[(fraction of the time, bar percent, predicted total / true total - 1)]`` at ``marks``."""
    total = events[-1][0]
    done, out, marks = 0.0, [], list(marks)
    for t, share in events:
        done += share
        while marks and t >= marks[0] * total:
            out.append((marks.pop(0), done, t * 100.0 / max(done, 1e-9) / total - 1.0))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", default=None, help="outputs folder of a finished make reproduce (default: alkit's)")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    if a.outputs is None:
        from alkit.paths import outputs_dir

        a.outputs = str(outputs_dir())
    runs = Path(a.outputs) / "runs"
    os.environ["ALKIT_OUTPUTS"] = tempfile.mkdtemp(prefix="eta-")  # an empty store: every unit is planned
    from alkit.experiments.config import fit_signature
    from alkit.experiments.prefetch import stored_jobs, work_weights
    from alkit.experiments.reproduce import notebook_plans

    plans = notebook_plans([p.stem[:2] for p in sorted((ROOT / "notebooks").glob("0*.ipynb"))], a.preset)
    jobs = stored_jobs(plans)
    seconds = [measured_seconds(runs, u) for _, u in jobs]
    missing = sum(s is None for s in seconds)
    if missing:
        print(f"bench_progress_eta: skipped: {missing} of the {len(jobs)} units of a finished {a.preset} run are not in "
              f"{runs} (run `make reproduce` first, or give --outputs)")
        return
    firsts = collections.defaultdict(list)  # units with the same training settings, trial and budget
    keys = [(fit_signature(u.store_config), u.trial, u.initial) for _, u in jobs]
    for k, s in zip(keys, seconds):
        firsts[k].append(s[0])
    groups = []
    for k in keys:
        f = firsts[k]
        shared = len(f) > 1 and max(f) > 3 * min(f)  # one trained it, the others read it
        groups.append((k, max(f), min(f)) if shared else None)
    rows = {}
    previous = [previous_unit_cost(p, u) for p, u in jobs]
    before = sorted(range(len(jobs)), key=lambda i: -previous[i])  # jobs come in the new order already
    after = list(range(len(jobs)))
    new = work_weights(jobs)
    for name, order, weights in (("previous", before, previous), ("new", after, new)):
        events = replay(order, weights, seconds, groups, a.workers)
        rows[name] = predictions(events)
        print(f"{name}: replayed units phase {events[-1][0]:.0f} s on {a.workers} workers ({len(jobs)} units)")
    print(f"{'time':>6s} {'bar previous':>13s} {'error':>7s} {'bar new':>9s} {'error':>7s}")
    for (m, bp, ep), (_, bn, en) in zip(rows["previous"], rows["new"]):
        print(f"{100 * m:5.0f}% {bp:12.1f}% {100 * ep:+6.0f}% {bn:8.1f}% {100 * en:+6.0f}%")
    med = {k: sorted(abs(e) for _, _, e in v)[len(v) // 2] for k, v in rows.items()}
    print(f"median |error| of the predicted total: previous {100 * med['previous']:.0f} %, new {100 * med['new']:.0f} %"
          f" (ratio {med['previous'] / max(med['new'], 1e-9):.1f}x)")


if __name__ == "__main__":
    main()
