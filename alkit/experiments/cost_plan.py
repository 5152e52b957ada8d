"""What a run will cost before it starts: ``alkit reproduce --plan``, ``alkit evaluate --plan``,
``alkit sweep --plan``.

For every planned run (:mod:`alkit.experiments.notebook_runs` for the notebooks, the protocol cells
of ``evaluate``, the experiments of a sweep grid) the plan counts, from the resolved settings alone
(no data loaded, nothing trained): units (strategy x trial), cycles, trainings (an ENS member is
one training) and SGD steps, with the trainers' own formulas (``train_supervised``: ``ceil(n /
batch)`` steps per epoch, at least ``min_steps``; UDA/FixMatch: ``iterations`` of ``batch + 2 x
unlabelled`` images in one pass; segmentation: ``train_steps``; s4GAN: its iterations, each
``2 x batch`` generator images and ``4 x batch`` discriminator images). Inference passes are
counted too: the test/validation set after every training and the unlabelled pool before every
query (per ensemble member; not for Random). Segmentation budgets are clicks: images = clicks /
the mean clicks per image (measured by the annotator on 40 ``shapes`` scenes; on VOC the paper's
~33 at 10 px; polygon-level runs are counted as image-level ones, an underestimate of their images).

Each network is timed by :mod:`alkit.experiments.step_probe` on this device; the estimate is
``steps x step time + inference images x time per image``, one unit after another, so it leaves out
data augmentation, pool annotation, the store and process start-up (a lower bound on a busy CPU,
close on a GPU whose step dominates). A unit another notebook also runs (the same resolved
settings, strategy and trial: the same results-store entry) is counted once, in the first notebook
that runs it. Disk: the JSON cycle files of the store (:meth:`alkit.experiments.store.RunStore.save_cycle`),
sized from their fields.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from alkit.experiments.config import KEY_FREE, RUNTIME
from alkit.experiments.step_probe import ProbeSpec, probe

PAPER_VOC = dict(pool=10582, val=1449, clicks_per_image=33.0)  # Sec. 4.3: SBD-augmented train, val; ~33 clicks at 10 px
VOC_EVAL_PIXELS = 500 * 375  # a typical VOC image (evaluation and scoring see whole images)
CIFAR = dict(pool=50000, test=10000, channels=3, side=32)


@dataclass
class Work:
    """The counted work of one planned run (``new_*``: units no earlier run in the plan has)."""

    notebook: str
    label: str
    dataset: str
    model: str
    units: int = 0
    reused: int = 0
    cycles: int = 0
    trainings: int = 0
    steps: int = 0
    train_images: dict = field(default_factory=dict)  # probe key -> images through a training step
    infer_images: dict = field(default_factory=dict)  # probe key -> images through inference
    disk: int = 0
    seconds: float = 0.0


@dataclass
class Geometry:
    """What the counts need to know about a dataset: pool and test sizes, input, classes, and for
    segmentation the training crop, the evaluation pixels per image and the clicks per image."""

    pool: int
    test: int
    channels: int
    side: int
    classes: int
    eval_pixels: int = 0
    clicks_per_image: float = 1.0
    source: str = ""


def geometry(exp, s: dict, cache: dict) -> Geometry:
    """The :class:`Geometry` of ``exp``'s dataset (digits and shapes are generated here, quickly;
    CIFAR and VOC come from their published sizes, VOC's pool from its list files when present)."""
    key = (exp.dataset, json.dumps(s.get("data_options", {}), sort_keys=True), s.get("tolerance"))
    if key in cache:
        return cache[key]
    name = exp.dataset
    if name in ("cifar10", "cifar100"):
        g = Geometry(classes=10 if name == "cifar10" else 100, **CIFAR)
    elif name == "digits":
        from alkit.engine.data.digits import load_digits

        d = load_digits()
        g = Geometry(len(d.train_x), len(d.test_x), d.channels, d.image_size, d.num_classes)
    elif name == "shapes":
        import numpy as np

        from alkit.engine.data.shapes import load_shapes
        from alkit.protocol.annotation import annotate_many

        opts = dict(s.get("data_options", {}))
        d = load_shapes(n_train=40, n_val=0, **{k: v for k, v in opts.items() if k not in ("n_train", "n_val")})
        masks = [m.numpy() for m in list(d.train_masks)]
        _, clicks = annotate_many(masks, s["tolerance"], background=d.background, ignore_index=d.ignore_index)
        side = int(masks[0].shape[-1])
        g = Geometry(opts.get("n_train", 1000), opts.get("n_val", 200), 3, side, d.num_classes, side * side,
                     float(np.mean(clicks)), f"{np.mean(clicks):.1f} clicks per scene (40 scenes measured)")
    elif name == "voc":
        g = Geometry(PAPER_VOC["pool"], PAPER_VOC["val"], 3, 0, 21, VOC_EVAL_PIXELS, PAPER_VOC["clicks_per_image"],
                     "the paper's ~33 clicks per image at 10 px, 10,582 + 1,449 images")
        opts = s.get("data_options", {})
        g.pool, g.test = min(g.pool, opts.get("max_train") or g.pool), min(g.test, opts.get("max_val") or g.test)
    else:
        raise ValueError(f"the plan knows the sizes of the built-in datasets only, not {name!r}")
    cache[key] = g
    return g


def _members(strategy: str, s: dict) -> int:
    """Networks trained per cycle by ``strategy`` (an unknown name, e.g. a notebook's own: one)."""
    from alkit.strategies import get_strategy

    try:
        spec = get_strategy(strategy)
    except (KeyError, ValueError):
        return 1
    return int(s.get("ensemble_size") or 1) if spec.members == "ensemble" else 1


def _trains_plainly(strategy: str) -> bool:
    """Whether ``strategy``'s (first) network is a plain training, which the strategies of a run
    share at cycle 0 (:mod:`alkit.tasks.fit_cache`): not Learning Loss's, not BALD's dropout one."""
    from alkit.strategies import get_strategy

    try:
        return get_strategy(strategy).trains is None
    except (KeyError, ValueError):
        return True


def _train_device():
    """The device the runs train on (:func:`alkit.engine.train.common.pick_device`)."""
    from alkit.engine.train.common import pick_device

    return pick_device(None)


def _stacked(kind: str, ssl, g: "Geometry") -> bool:
    """Whether a classification ensemble of this geometry trains its members as one stacked
    network on the device the runs train on (``STACKED_MEMBERS``; supervised training only)."""
    if kind != "classification" or ssl:
        return False
    from alkit.engine.train.stacked import stacking_wanted

    return stacking_wanted(_train_device(), g.side)


def _unit_key(run, s: dict, strategy: str, trial: int) -> str:
    """The results-store entry of a unit, up to the data fingerprint (the same dataset gives the
    same one): the resolved settings that reach it (as ``Experiment.store_config`` prunes them)."""
    cfg = {k: v for k, v in s.items() if k not in RUNTIME + KEY_FREE}
    if run.exp.kind == "classification":
        for k in (("epochs", "min_steps") if cfg.get("ssl") else ("iterations", "unlabelled_batch")):
            cfg.pop(k, None)
    if _members(strategy, s) == 1:
        cfg.pop("ensemble_size", None)
    return json.dumps(dict(cfg, strategy=strategy, trial=trial, model=run.model), sort_keys=True, default=str)


def _cycle_bytes(pool: int, labelled: int, cycle: int, picked: int, g: Geometry, s: dict) -> int:
    """Size of one JSON cycle file: ``labelled_at`` (one int per pool item), ``selected`` and
    ``queried`` (pool indices), the record (about 300 bytes; segmentation adds per-class IoU and
    the base64 previews of ``preview`` 64x64 masks)."""
    digits = len(str(max(pool - 1, 1))) + 2
    size = (pool - labelled) * 4 + labelled * (len(str(cycle)) + 2) + 2 * picked * digits + 300
    if g.eval_pixels:
        size += g.classes * 22 + int(s.get("preview") or 0) * 64 * 64 * 4 // 3
    return size


def count_run(run, notebook: str, seen: dict, cache: dict) -> tuple[Work, list[ProbeSpec]]:
    """The :class:`Work` of one planned run and the networks it needs timed (see the module docstring)."""
    exp = run.exp
    s = exp.resolved()
    kind = exp.kind
    g = geometry(exp, s, cache)
    specs = _specs(run, s, g, kind)
    main, disc = specs[0].key, specs[1].key if len(specs) > 1 else None
    w = Work(notebook, run.label, exp.dataset, main)
    ssl = s.get("ssl")
    seg_recipe = exp.recipe("segmentation") if kind == "segmentation" else {}
    first_trained = set()  # trials whose plain cycle-0 network a computed unit of this run trains
    for strategy in run.strategies or s["strategies"]:
        members = _members(strategy, s)
        # a stacked ensemble on CUDA (alkit.engine.train.stacked, cached whole) trains all its members
        # at cycle 0 too; on the CPU its first member is the plain network (ClassificationTask._stacks_plain)
        plain = _trains_plainly(strategy) and not (members > 1 and _stacked(kind, ssl, g) and _train_device().type != "cpu")
        scores = strategy != "random" or s.get("polygon_strategy") == "entropy"
        for trial in range(int(s["trials"])):
            last = 0 if run.first_cycle_only else int(s["cycles"])
            first = 0
            if run.stored:  # a stored run of the same key covers its cycles (the key has no cycle count)
                key = _unit_key(run, s, strategy, trial)
                done = seen.get(key, -1)
                seen[key] = max(done, last)
                if done >= last:
                    w.reused += 1
                    continue
                # a shorter run's last cycle is trained again to query from it (run_trial)
                first = max(0, done)
            w.units += 1
            for c in range(first, last + 1):
                budget = s["initial"] + c * s["step"]
                n = max(1, round(budget / g.clicks_per_image)) if kind == "segmentation" else int(budget)
                n = min(n, g.pool)
                steps, per_step, d_per_step = _steps(kind, ssl, s, seg_recipe, n)
                w.cycles += 1
                trained = members
                if c == 0 and plain and run.stored:  # loaded from the run's FitCache after its first training
                    trained -= 1 if trial in first_trained else 0
                    first_trained.add(trial)
                w.trainings += trained
                w.steps += steps * trained
                w.train_images[main] = w.train_images.get(main, 0) + steps * per_step * trained
                if disc and d_per_step:
                    w.train_images[disc] = w.train_images.get(disc, 0) + steps * d_per_step * trained
                ratio = g.eval_pixels / specs[0].side ** 2 if g.eval_pixels else 1.0
                infer = g.test + (g.pool - n if scores and c < s["cycles"] else 0)
                w.infer_images[main] = w.infer_images.get(main, 0) + infer * members * ratio
                if run.stored:
                    picked = 0 if c == s["cycles"] else int(s["step"] if kind == "classification" else
                                                           s["step"] / g.clicks_per_image)
                    w.disk += _cycle_bytes(g.pool, n, c, picked, g, s)
    return w, specs


def _steps(kind: str, ssl, s: dict, r: dict, n: int) -> tuple[int, int, int]:
    """(SGD steps, training images per step, discriminator images per step) of one training on
    ``n`` labelled images, as the trainers count them."""
    b = int(s["batch_size"])
    if kind == "classification":
        if ssl:
            return int(s["iterations"]), b + 2 * int(s["unlabelled_batch"] or 7 * b), 0
        spe = math.ceil(n / b)
        return spe * max(int(s["epochs"]), math.ceil(int(s["min_steps"] or 0) / spe)), b, 0
    from alkit.engine.train.segmentation import train_steps

    mes = int(r.get("min_epoch_steps", 0))
    if ssl == "s4gan":
        gb = int(r["s4gan"]["batch_size"])
        it = s.get("iterations") or train_steps(n, gb, s["epochs"], mes)
        return int(it), 2 * gb, 4 * gb
    return train_steps(n, b, s["epochs"], mes), b, 0


def _specs(run, s: dict, g: Geometry, kind: str) -> list[ProbeSpec]:
    """The networks of a run: its model (and the s4GAN discriminator) with their inputs."""
    if kind == "classification":
        b = int(s["batch_size"])
        if run.model and run.model.startswith("imagenet-resnet18@"):
            from alkit.engine.models.pretrained import ImageNetResNet18

            side = int(run.model.split("@")[1])
            build = lambda size, k=g.classes: ImageNetResNet18(k, 3, input_size=size)  # noqa: E731
            return [ProbeSpec(f"ResNet-18 (ImageNet) at {side}px", build, 3, g.classes, side, b)]
        from alkit.engine.models import build_model

        name = s.get("model") or run.model or ("wrn-28-2" if g.side >= 32 else "small-cnn")
        build = lambda size, name=name, k=g.classes, c=g.channels: build_model(name, k, c, size)  # noqa: E731
        return [ProbeSpec(f"{name} {g.side}px", build, g.channels, g.classes, g.side, b)]
    from alkit.engine.models.discriminator import S4GANDiscriminator
    from alkit.engine.models.segmentation import build_segmentation_model

    r = run.exp.recipe("segmentation")
    name, crop = s["model"], int(r["crop_size"])
    build = lambda size, name=name, k=g.classes: build_segmentation_model(name, k, None)  # noqa: E731
    out = [ProbeSpec(f"{name} {crop}px crops", build, 3, g.classes, crop, int(s["batch_size"]), "pixel")]
    if s.get("ssl") == "s4gan":
        width, db = int(r["s4gan"]["d_width"]), int(r["s4gan"]["batch_size"])
        dbuild = lambda size, k=g.classes, w=width: S4GANDiscriminator(k, w)  # noqa: E731
        out.append(ProbeSpec(f"s4GAN D (width {width}) {crop}px", dbuild, 3 + g.classes, 1, crop, db, "disc"))
    return out


# ---------------------------------------------------------------------------------------------
# the plan: counted, priced, rendered
# ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """A priced plan: ``works`` (one per planned run), ``timings`` (per network), ``groups`` (name
    -> notes: a notebook, or the command's name), the missing datasets (``missing``: lines that stop
    the run; ``skipped``: lines about optional ones), the fetch command, the device and the number
    of ``workers`` that share it (one per core on a CPU, one on a GPU): device-hours are the
    workers' summed time, wall-clock hours that divided by ``workers``."""

    title: str
    works: list
    timings: dict
    groups: dict
    missing: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    fetch_command: str = ""
    device: str = ""
    probe_seconds: float = 0.0
    workers: int = 1  # units trained side by side on this device (the runner's default)

    def seconds(self, group: str | None = None) -> float:
        """Estimated device-seconds of one group (or all)."""
        return sum(w.seconds for w in self.works if group is None or w.notebook == group)

    def disk(self) -> int:
        """Bytes of new store cycle files."""
        return sum(w.disk for w in self.works)


def build_plan(title: str, groups: list, *, missing=(), skipped=(), fetch_command: str = "", device=None) -> Plan:
    """Count every run of ``groups`` (``[(name, [PlannedRun, ...], [note, ...]), ...]``, in order:
    a unit counts in the first group that runs it), time the networks they need on ``device`` and
    price each run."""
    import time

    import torch

    from alkit.engine.train.common import pick_device

    seen, cache, works, specs = {}, {}, [], []
    for name, runs, _ in groups:
        for run in runs:
            w, ss = count_run(run, name, seen, cache)
            works.append(w)
            specs += [sp for sp in ss if any(sp.key in d for d in (w.train_images, w.infer_images))]
    dev = pick_device(device)
    t0 = time.perf_counter()
    timings = probe(specs, dev)
    probe_s = time.perf_counter() - t0
    for w in works:
        w.seconds = sum(n * timings[k].train for k, n in w.train_images.items()) + \
            sum(n * timings[k].infer for k, n in w.infer_images.items())
    if dev.type == "cuda":
        workers, where = 1, f"{dev} ({torch.cuda.get_device_name(dev)})"
    else:
        from alkit.experiments.runner import available_cores
        from alkit.experiments.step_probe import cpu_threads

        workers = available_cores()
        where = f"cpu ({workers} cores; {cpu_threads(workers)} thread per worker, as the runner's workers train)"
    return Plan(title, works, timings, {name: notes for name, _, notes in groups}, list(missing), list(skipped),
                fetch_command, where, probe_s, workers)


def _n(x: float) -> str:
    """A count, compact: 1,234 / 12.3k / 4.56M."""
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    return f"{int(round(x)):,}"


def _hours(s: float) -> str:
    h = s / 3600
    return f"{h:,.0f}" if h >= 100 else f"{h:.2g}" if h >= 0.01 else "<0.01"


def _bytes(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if b < 1000 or unit == "TB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1000


def render(plan: Plan) -> str:
    """The plan as text: the runs, the timed networks, one line per group and the total, then the
    missing data and how to fetch it."""
    from tabulate import tabulate

    lines = [f"{plan.title} - a plan: nothing was trained; networks timed on {plan.device} in "
             f"{plan.probe_seconds:.0f} s", ""]
    rows = [[w.notebook, w.label, w.dataset, w.model, w.units, w.reused or "", _n(w.cycles), _n(w.trainings),
             _n(w.steps), _hours(w.seconds)] for w in plan.works]
    lines.append(tabulate(rows, headers=["", "run", "dataset", "network", "units", "reused", "cycles", "trainings",
                                         "SGD steps", "device-h"], tablefmt="simple"))
    lines += ["", "Measured step times (random tensors; scaled from the probe's batch and side, per image and pixel):"]
    rows = [[t.key, f"{t.probe_batch} x {t.probe_side}px" + (f", x{t.scale:.3g} pixels" if t.scale != 1 else ""),
             f"{1e3 * t.train:.3g}", f"{1e3 * t.infer:.3g}", f"{t.step:.3g}"] for t in plan.timings.values()]
    lines.append(tabulate(rows, headers=["network", "probe", "train ms/image", "infer ms/image",
                                         "s per step (recipe batch)"], tablefmt="simple"))
    rows = []
    for g, notes in plan.groups.items():
        ws = [w for w in plan.works if w.notebook == g]
        rows.append([g, sum(w.units for w in ws), sum(w.reused for w in ws), _n(sum(w.cycles for w in ws)),
                     _n(sum(w.trainings for w in ws)), _n(sum(w.steps for w in ws)), _hours(plan.seconds(g)),
                     _bytes(sum(w.disk for w in ws))])
    ws = plan.works
    rows.append(["total", sum(w.units for w in ws), sum(w.reused for w in ws), _n(sum(w.cycles for w in ws)),
                 _n(sum(w.trainings for w in ws)), _n(sum(w.steps for w in ws)), _hours(plan.seconds()),
                 _bytes(plan.disk())])
    lines += ["", tabulate(rows, headers=["", "units", "reused", "cycles", "trainings", "SGD steps", "device-h",
                                          "store disk"], tablefmt="simple")]
    lines += [f"  {g}: {note}" for g, notes in plan.groups.items() for note in notes]
    total = plan.seconds()
    wall = total / plan.workers
    lines += ["", f"Estimate on {plan.device}: {_hours(total)} device-hours; with {plan.workers} worker(s) side "
                  f"by side about {_hours(wall)} hours ({wall / 86400:,.1f} days) of wall-clock time. SGD and "
                  "inference only: augmentation, annotation, the store and start-up come on top. Units marked "
                  "reused are run by an earlier group (the same store entry); a cycle-0 network the strategies of "
                  "a run share is counted once."]
    if plan.missing:
        lines += ["", "Missing data (the run stops before it starts until it is there):"]
        lines += [f"  {m.line()}" for m in plan.missing]
    lines += [f"  {s}" for s in plan.skipped]
    if plan.missing and plan.fetch_command:
        lines.append(f"  fetch: {plan.fetch_command}")
    if not plan.missing:
        lines += ["", "Data: every dataset the plan reads is present."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the data and the plan of `alkit evaluate` and `alkit sweep` (reproduce's: alkit.experiments.reproduce)
# ---------------------------------------------------------------------------------------------


def evaluate_data(preset: str, data_root=None) -> tuple[list, list]:
    """(missing, skipped) of ``alkit evaluate`` at ``preset``: at ``paper`` it runs the CIFARs that
    are present, so both are missing only when neither is (else a line says which is skipped)."""
    from alkit.experiments.datacheck import missing_datasets

    if preset != "paper":
        return [], []
    missing = missing_datasets(["cifar10", "cifar100"], data_root)
    if len(missing) == 2:
        return missing, []
    return [], [f"evaluate skips {m.dataset} (not found: {m.expected}); it runs the other" for m in missing]


def plan_evaluate(strategies, preset: str, data_root=None, trials=None, fetch_command: str = "", device=None) -> Plan:
    """The priced plan of ``alkit evaluate`` (at ``paper``: both CIFARs, whether present or not)."""
    from alkit.experiments.notebook_runs import protocol_runs

    from alkit.experiments.datacheck import missing_datasets

    missing, skipped = evaluate_data(preset, data_root)
    runs = protocol_runs(strategies, preset, data_root, trials)
    if skipped:  # the run will skip the absent one: so does the plan
        absent = {m.dataset for m in missing_datasets(["cifar10", "cifar100"], data_root)}
        runs = [r for r in runs if r.exp.dataset not in absent]
    return build_plan(f"evaluate --preset {preset} ({', '.join(strategies)})", [("evaluate", runs, [])],
                      missing=missing, skipped=skipped, fetch_command=fetch_command, device=device)


def sweep_data(cells) -> list:
    """The missing datasets of a sweep grid's experiments (each under its ``data_root``)."""
    from alkit.experiments.datacheck import missing_dataset

    out, seen = [], set()
    for c in cells:
        m = missing_dataset(c.settings["dataset"], c.settings.get("data_root"))
        if m is not None and (m.dataset, str(m.expected)) not in seen:
            seen.add((m.dataset, str(m.expected)))
            out.append(m)
    return out


def plan_sweep(cells, grid: str = "", fetch_command: str = "", device=None) -> Plan:
    """The priced plan of ``alkit sweep`` over the grid's ``cells`` (whole numbers of trials)."""
    from alkit.experiments.notebook_runs import PlannedRun

    runs = [PlannedRun(c.label, c.experiment()) for c in cells]
    return build_plan(f"sweep --grid {grid} ({len(cells)} experiments)", [("sweep", runs, [])],
                      missing=sweep_data(cells), fetch_command=fetch_command, device=device)
