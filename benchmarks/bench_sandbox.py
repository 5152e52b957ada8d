"""Response times of the AL sandbox (:class:`alkit.explorers.ALSandbox`) at its defaults, from an
empty results store: how long until a control change shows something.

Three steps, each timed from the call that changes the setting:

1. first render: ``ALSandbox()`` (defaults: the ``digits`` recipe, Entropy vs Random) starts
   its runs; times of the first stored cycle, the first finished trial run, the first paired
   trial (the strategy and Random both done) and of all trial runs;
2. a strategy change (``set(strategy="margin")``): Random's runs are cached, Margin's train;
3. the SSL switch (``set(ssl=True)``): UDA; timed until the first trial run is done (the status
   line then says how many are still running), then the runs are stopped.

Every time is wall-clock on this machine; on a machine shared with other jobs they are inflated,
so the load average is printed with them. ``--mode thread`` uses threads instead of worker
processes; ``--store DIR`` keeps the store (default: a temporary folder).

    python benchmarks/bench_sandbox.py [--strategy margin] [--mode process|thread] [--no-ssl]
                                       [--min-steps N] [--epochs N] [--early]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time


class Clock:
    """Timestamps of what the sandbox reports, from ``start()``."""

    def __init__(self, box, strategy: str):
        self.box, self.strategy = box, strategy
        self.lock = threading.Lock()
        self.t0 = time.perf_counter()
        self.events: dict = {}
        box.subscribe(self.tick)

    def start(self) -> None:
        with self.lock:
            self.t0, self.events = time.perf_counter(), {}

    def mark(self, name: str) -> None:
        self.events.setdefault(name, time.perf_counter() - self.t0)

    def tick(self) -> None:
        with self.lock:
            box, plan = self.box, self.box._plan()
            runner = box._runner
            states = {(u.strategy, u.trial): runner.state(k) for k, u in zip(plan.keys, plan.units)}
            new = [k for k, u in zip(plan.keys, plan.units) if u.strategy == self.strategy]
            if any(runner.records(k) for k in new):
                self.mark("first cycle")
            done = [k for k, v in states.items() if v == "done"]
            if any(s == self.strategy for s, _ in done):
                self.mark("first trial run")
                self.events.setdefault("status then", box.status())
            trials = {t for s, t in done if s == self.strategy} & {t for s, t in done if s == "random"}
            if trials:
                self.mark("first paired trial")
            if len(done) == len(states):
                self.mark("all trial runs")


def show(step: str, clock: Clock, returned: float | None = None) -> None:
    load = os.getloadavg()[0]
    parts = [f"set() returned in {returned * 1000:.0f} ms"] if returned is not None else []
    parts += [f"{k} {v:.1f} s" if isinstance(v, float) else f"{k}: '{v}'" for k, v in clock.events.items()]
    print(f"{step}: " + "; ".join(parts) + f" (load average {load:.1f})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategy", default="margin", help="the strategy of step 2")
    ap.add_argument("--mode", default="process", choices=["process", "thread"])
    ap.add_argument("--store", default=None, help="results store (default: an empty temporary folder)")
    ap.add_argument("--no-ssl", action="store_true", help="skip step 3")
    ap.add_argument("--early", action="store_true",
                    help="step 2 as soon as step 1 stored its first cycle (a change while runs go on)")
    ap.add_argument("--min-steps", type=int, default=None, help="override the recipe's min_steps (default: the recipe's)")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (default: the recipe's)")
    args = ap.parse_args()
    from alkit.explorers import ALSandbox

    root = args.store or tempfile.mkdtemp(prefix="bench-sandbox-")
    empty = not any(os.scandir(root)) if os.path.isdir(root) else True
    t = time.perf_counter()
    box = ALSandbox(store_root=root, mode=args.mode, min_steps=args.min_steps, epochs=args.epochs)
    s = box.experiment().resolved()
    print(f"defaults: {s['dataset']} {s['augment']}, {s['initial']} + {s['cycles']} x {s['step']} labels, "
          f"{s['trials']} trials, epochs {s['epochs']}, min_steps {s['min_steps']}; UDA {s['iterations']} iterations; "
          f"{box._get_runner(box._plan().task).workers} workers ({args.mode}); store {root}", flush=True)
    clock = Clock(box, box.strategy)
    clock.start()
    clock.t0 = t  # the first render counts the data loading and the worker start-up too
    box.status()
    if args.early:  # change the strategy while the first runs train: they are stopped, Random's go on
        while "first cycle" not in clock.events:
            time.sleep(0.05)
    else:
        box.wait()
    show(f"1. first render, {'empty' if empty else 'filled'} store", clock)
    print("   ", box.summary() if not args.early else box.status(), flush=True)

    clock.strategy = args.strategy
    clock.start()
    t = time.perf_counter()
    box.set(strategy=args.strategy)
    returned = time.perf_counter() - t
    box.wait()
    show(f"2. strategy change to {args.strategy}", clock, returned)
    print("   ", box.summary(), flush=True)

    if not args.no_ssl:
        clock.strategy = args.strategy
        clock.start()
        t = time.perf_counter()
        box.set(ssl=True)
        returned = time.perf_counter() - t
        while "first trial run" not in clock.events:
            time.sleep(0.2)
        show("3. SSL switch", clock, returned)
    box.close()


if __name__ == "__main__":
    main()
