"""Command line: ``python -m alkit {run,reproduce,clicks}``.

Bad input (unknown strategy or dataset, budget larger than the pool, missing data folder) exits
with status 2 and one line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m alkit", description="alkit: deep active learning, reproduced")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run an active-learning experiment and write DIR/results.csv")
    r.add_argument("--dataset", default="digits", help="digits | cifar10 | cifar100 | shapes | voc")
    r.add_argument("--strategies", default=None,
                   help="comma-separated (default: random,entropy,ens-varr,coreset,ll; segmentation: random,entropy,ens-ent,ll)")
    r.add_argument("--augment", default="paper", help="none | paper")
    r.add_argument("--ssl", default="none", help="none | uda (semi-supervised training, paper Sec. 3.2.3)")
    r.add_argument("--regime", default=None, help="high | low: the paper's budgets (overrides --initial/--step/--cycles)")
    r.add_argument("--initial", type=float, default=40, help="initial budget B_i (images; clicks for segmentation)")
    r.add_argument("--step", type=float, default=40, help="budget per cycle B_s")
    r.add_argument("--cycles", type=int, default=4, help="query cycles after the initial set")
    r.add_argument("--trials", type=int, default=3)
    r.add_argument("--epochs", type=int, default=30, help="supervised epochs per cycle (paper: 150)")
    r.add_argument("--min-steps", type=int, default=0, help="at least this many optimiser steps per cycle")
    r.add_argument("--iterations", type=int, default=500, help="UDA iterations per cycle (paper: 50000)")
    r.add_argument("--model", default=None, help="wrn-28-2 | resnet18 | small-cnn (default by dataset)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")
    r.add_argument("--data-root", default=None, help="folder with the datasets (default $ALKIT_DATA or ~/.alkit/data)")
    r.add_argument("--download", action="store_true", help="download a missing dataset (needs internet)")
    r.add_argument("--tolerance", type=float, default=None,
                   help="segmentation: polygon tolerance in px (default: 2 on shapes, 10 on VOC/folders)")
    r.add_argument("--runs-dir", default=None, help="results store (default outputs/runs)")
    r.add_argument("--out", required=True, help="folder for results.csv")

    rp = sub.add_parser("reproduce", help="run notebooks through papermill into outputs/")
    rp.add_argument("--preset", default="default", help="smoke | default | paper")
    rp.add_argument("--output-dir", default=None)
    rp.add_argument("notebooks", nargs="*", help="stems or numbers (default: all)")

    c = sub.add_parser("clicks", help="click cost and label quality of the polygon annotator per tolerance")
    c.add_argument("--dataset", default="shapes", help="shapes | voc | a folder dataset path")
    c.add_argument("--tolerance", default="5,10,20,40", help="comma-separated pixel tolerances")
    c.add_argument("--images", type=int, default=200, help="how many images to annotate")
    c.add_argument("--data-root", default=None)
    c.add_argument("--download", action="store_true")
    return p


def cmd_run(a) -> int:
    from .experiment import Experiment, regime_budget, run_experiment
    from .segmentation_cli import default_strategies, is_segmentation_dataset, run_segmentation

    segmentation = is_segmentation_dataset(a.dataset)
    strategies = tuple(_csv_list(a.strategies or default_strategies(segmentation)))
    ssl = None if a.ssl in ("none", "", None) else a.ssl
    if segmentation:
        df = run_segmentation(a, strategies)
    else:
        initial, step, cycles = a.initial, a.step, a.cycles
        if a.regime:
            initial, step, cycles = regime_budget(a.dataset, a.regime)
        exp = Experiment(dataset=a.dataset, strategies=strategies, augment=a.augment, ssl=ssl,
                         initial=int(initial), step=int(step), cycles=cycles, trials=a.trials, epochs=a.epochs,
                         min_steps=a.min_steps,
                         iterations=a.iterations, model=a.model, seed=a.seed, regime=a.regime or "custom",
                         data_root=a.data_root, download=a.download, device=a.device)
        df = run_experiment(exp, store_root=a.runs_dir, with_selected=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if "selected" in df:
        df["selected"] = df["selected"].map(lambda s: " ".join(map(str, s)))
    df.to_csv(out / "results.csv", index=False)
    metric = "accuracy" if "accuracy" in df else "miou"
    summary = df.groupby(["strategy", "cycle"])[metric].mean().unstack("cycle")
    print(summary.round(4).to_string())
    print(f"wrote {out / 'results.csv'} ({len(df)} rows)")
    return 0


def cmd_reproduce(a) -> int:
    from .reproduce import reproduce

    reproduce(a.notebooks, preset=a.preset, output_dir=a.output_dir)
    return 0


def cmd_clicks(a) -> int:
    from .segmentation_cli import clicks_table

    tolerances = [float(t) for t in _csv_list(a.tolerance)]
    table = clicks_table(a.dataset, tolerances, n_images=a.images, data_root=a.data_root, download=a.download)
    print(table.to_string(index=False))
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"run": cmd_run, "reproduce": cmd_reproduce, "clicks": cmd_clicks}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError, KeyError) as e:
        msg = e.args[0] if e.args else str(e)
        print(f"alkit: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alkit: interrupted; finished cycles are saved and will be reused on the next run", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
