"""Seconds per (strategy, trial) unit on digits: the trials of a strategy run in lockstep, their
plain networks trained as one stacked network, vs each trial on its own (the previous path), side
by side in one process.

One unit = one trial of one strategy over the cycles the notebooks run (digits high regime, the
recipe's steps, paper augmentation, one torch thread as the runner gives each worker).

  previous  every unit on its own, every network trained alone (``train_supervised``; the path of
            ``STACKED_MEMBERS = False``, and alkit's path for plain trainings before trial bundles);
  bundled   the units of a strategy as one bundle (``alkit.experiments.runner.run_bundle``): at
            each cycle the trials' networks (an ensemble's members too) train as one stacked
            network (``ClassificationTask.fit_many``);
  alone     (``--alone``) every unit on its own on the stacked path: a lone network trains beside a
            throw-away twin (the stacked kernels, so that it equals its bundled self bit for bit).

The records of ``bundled`` and ``alone`` are compared (every field but ``seconds``): they must be
the same. The two timed paths alternate strategy by strategy, so a load change hits both; the
ratio previous / bundled is the number to read.

ENS-varR (``--strategies ens-varr``): before trial bundles its members already trained as one stack
of their own (the ratio here, against members one after another, is larger than its gain over that).

    python benchmarks/bench_trial_bundle.py [--strategies random,entropy] [--trials 7] [--alone]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from alkit.checks import UsageError, integer
from alkit.engine.train import common
from alkit.experiments.config import Experiment, plan
from alkit.experiments.runner import run_bundle, run_unit


def _strip(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def _arguments():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategies", default="random,entropy", help="comma-separated strategies (default: random,entropy)")
    ap.add_argument("--trials", default="7", help="trials per strategy, as the notebooks run (default 7)")
    ap.add_argument("--alone", action="store_true", help="also time every unit alone on the stacked path")
    args = ap.parse_args()
    try:
        args.trials = integer("--trials", args.trials, minimum=2)
    except UsageError as e:
        ap.error(str(e))
    args.strategies = tuple(s for s in args.strategies.split(",") if s)
    return args


def main() -> None:
    args = _arguments()
    torch.set_num_threads(1)
    exp = Experiment(dataset="digits", strategies=args.strategies, trials=args.trials, regime="high", cycles=2)
    try:
        p = plan(exp)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if not all(p.task.batches_fits(s) for s in args.strategies):
        raise SystemExit("error: --strategies: every strategy must train plain networks (not ll, bald)")
    print(f"digits high regime, {args.trials} trials per strategy, cycles 0-2, 1 thread | torch {torch.__version__}")
    print(f"{'strategy':10} {'previous s/unit':>16} {'bundled s/unit':>15} {'ratio':>7}"
          + (f" {'alone s/unit':>13}" if args.alone else "") + "  records")
    totals = [0.0, 0.0]
    for strategy in args.strategies:
        # no results store: every path computes every cycle
        units = [dataclasses.replace(u, store_root=None, store_config=None) for u in p.units if u.strategy == strategy]
        saved = common.STACKED_MEMBERS
        common.STACKED_MEMBERS = False
        t0 = time.perf_counter()
        try:
            for u in units:
                run_unit(p.task, u)
        finally:
            common.STACKED_MEMBERS = saved
        previous = (time.perf_counter() - t0) / len(units)
        t0 = time.perf_counter()
        bundled_records = run_bundle(p.task, units)
        bundled = (time.perf_counter() - t0) / len(units)
        totals[0] += previous * len(units)
        totals[1] += bundled * len(units)
        row = f"{strategy:10} {previous:16.2f} {bundled:15.2f} {previous / bundled:6.2f}x"
        if args.alone:
            t0 = time.perf_counter()
            alone_records = [run_unit(p.task, u) for u in units]
            row += f" {(time.perf_counter() - t0) / len(units):13.2f}"
            same = [_strip(r) for r in alone_records] == [_strip(r) for r in bundled_records]
            row += "  bundled == alone" if same else "  bundled != alone (a bug: they must be equal)"
        print(row, flush=True)
    print(f"{'all':10} {totals[0]:15.1f}s {totals[1]:14.1f}s {totals[0] / totals[1]:6.2f}x")


if __name__ == "__main__":
    main()
