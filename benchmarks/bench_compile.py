"""Would a compiler speed up alkit's CPU training steps? Eager float32 vs ``torch.compile`` vs
bfloat16 autocast, side by side.

alkit's trainers run eagerly in float32 on the CPU. This script measures what ``torch.compile``
(TorchInductor: fused C++ kernels for batch norm, ReLU and the losses; convolutions stay oneDNN's)
and bfloat16 autocast (oneDNN's bf16 kernels, native on CPUs with AVX512-BF16 or AMX; emulated and
slower elsewhere) would buy on the default preset's steps, each on one torch thread (what a
``make reproduce`` worker gets):

* ``digits-64``: the small CNN (:mod:`alkit.engine.models.small_cnn`), batch 64 of 8x8 images,
  cross-entropy, fused SGD (a supervised step of the ``digits-high`` / ``digits-low`` recipes);
* ``digits-192``: the same network at batch 192 (a UDA step: 64 labelled + 2 x 64 unlabelled);
* ``shapes-10``: the small segmentation network, batch 10 of 48-px crops, pixel cross-entropy,
  fused AdamW (the ``shapes`` recipe's step).

The loss (forward + loss function) is what is compiled or autocast; backward runs through the
compiled graph's backward, the optimiser step stays eager (it is already one fused kernel). Paths
alternate repeat by repeat so all see the same CPU load. Prints the CPU's capability, the compile
time (first call, paid once per worker process and input shape), the median ms per step of each
path and the ratios eager / compiled and eager / bf16.

    python benchmarks/bench_compile.py [--steps 200] [--repeats 3] [--cases digits-64,digits-192,shapes-10]

A ratio near 1 does not pay for the compile time and a C++ compiler in every worker (compile), or
for results that differ from float32 by more than rounding (bf16). Measured figures: the README's
time section.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def _digits(batch: int):
    from alkit.engine.models.small_cnn import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(10).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, weight_decay=5e-4, fused=True)
    x = torch.randn(batch, 1, 8, 8).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    return model, opt, x, y


def _shapes(batch: int):
    from alkit.engine.models.segmentation import build_segmentation_model

    torch.manual_seed(0)
    model = build_segmentation_model("small-seg", 4).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4, fused=True)
    x = torch.randn(batch, 3, 48, 48).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 4, (batch, 48, 48))
    return model, opt, x, y


CASES = {"digits-64": lambda: _digits(64), "digits-192": lambda: _digits(192), "shapes-10": lambda: _shapes(10)}


def _step(loss_fn, opt, x, y):
    loss = loss_fn(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def measure(case: str, steps: int, repeats: int) -> dict:
    """Median ms per step, eager, compiled and bf16, and the compile time (s) of ``case``."""
    paths = {}
    compile_s = 0.0
    for name in ("eager", "compiled", "bf16"):
        model, opt, x, y = CASES[case]()
        model.train()

        def loss_fn(xb, yb, model=model, amp=name == "bf16"):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                out = model(xb)
            return F.cross_entropy(out.float(), yb)

        if name == "compiled":
            loss_fn = torch.compile(loss_fn)
            t0 = time.perf_counter()
            _step(loss_fn, opt, x, y)
            compile_s = time.perf_counter() - t0
        for _ in range(5):  # warm-up (oneDNN primitives, allocator)
            _step(loss_fn, opt, x, y)
        paths[name] = (loss_fn, opt, x, y)
    times = {name: [] for name in paths}
    for _ in range(repeats):
        for name, (loss_fn, opt, x, y) in paths.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                _step(loss_fn, opt, x, y)
            times[name].append((time.perf_counter() - t0) / steps * 1e3)
    eager, compiled, bf16 = (statistics.median(times[k]) for k in ("eager", "compiled", "bf16"))
    return dict(case=case, compile_s=compile_s, eager_ms=eager, compiled_ms=compiled, bf16_ms=bf16,
                ratio=eager / compiled, ratio_bf16=eager / bf16)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="steps per timed repeat (default 200)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats per path, interleaved (default 3)")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown or args.steps < 1 or args.repeats < 1:
        ap.error(f"--cases: unknown {', '.join(unknown)}" if unknown else "--steps and --repeats must be >= 1")
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, 1 thread; "
          f"median ms per step over {args.repeats} x {args.steps} steps")
    print(f"{'case':<12} {'compile s':>9} {'eager ms':>9} {'compiled ms':>11} {'bf16 ms':>8} "
          f"{'eager/compiled':>14} {'eager/bf16':>10}")
    for case in cases:
        r = measure(case, args.steps, args.repeats)
        print(f"{r['case']:<12} {r['compile_s']:9.1f} {r['eager_ms']:9.2f} {r['compiled_ms']:11.2f} {r['bf16_ms']:8.2f} "
              f"{r['ratio']:14.2f} {r['ratio_bf16']:10.2f}", flush=True)


if __name__ == "__main__":
    main()
