"""Command line: ``python -m alkit {run,evaluate,sweep,reproduce,clicks,student-copies}`` (``alkit/__main__.py`` calls :func:`_script`).

Every argument is checked before any data is loaded or anything is trained (the checks live in
:mod:`alkit.checks`). Bad input exits with status 2 and one line on stderr,
``alkit: error: <message>``, naming the flag, environment variable or file, no traceback:

* unknown names, with the closest valid one suggested: strategies, dataset, augmentation, ssl
  method, regime, model, device, preset, notebook, flags; an empty or repeated strategy list;
* numbers that are not numbers, not finite, or out of range (``--epochs 0``, ``--initial nan``,
  ``--seed -1``, ``--workers 0``, ``--tolerance 5,abc``, ...), and a bad ``$ALKIT_WORKERS``;
* flags that do not apply: ``--regime``/``--augment``/``--ssl``/``--iterations``/``--min-steps``
  on a segmentation dataset, ``--tolerance`` on a classification dataset, ``--iterations``
  without ``--ssl uda``, ``--epochs``/``--min-steps`` with it, ``--initial``/``--step``
  with ``--regime`` (which sets them), ``--labeling``/``--polygon-strategy`` on a classification
  dataset, ``--polygon-strategy`` without ``--labeling polygon``, a strategy other than ``random``
  with it (polygon-level labelling picks images at random, paper Sec. 4.4.2);
* ``--device cuda`` on a machine without a CUDA GPU;
* an output folder (``--out``, ``--runs-dir``, ``--output-dir``, ``$ALKIT_OUTPUTS``) that is a
  file or cannot be created or written (checked by writing a probe file);
* a dataset folder that is missing (``--dataset ./my_folder``: "folder not found") or has no
  images/masks; a missing CIFAR folder (the message names ``--download``); an empty, corrupt or
  truncated data file, or labels outside the class list (the message names the file);
* a budget larger than the pool (found once the data is loaded, before training).

Ctrl-C at any moment (start-up included) prints one line and exits with status 130; cycles that
finished are in the results store and are reused by the next identical ``run``.

Imports sit inside the functions here, on purpose (start-up time): ``python -m alkit --help`` and
most bad-input checks answer without importing torch, pandas or Dask (seconds on a laptop), and a
Ctrl-C during start-up meets only the few light imports below.
"""

try:  # Ctrl-C during the (few, light) start-up imports: one line, no traceback
    import argparse
    import os
    import signal
    import sys
    import threading
except KeyboardInterrupt:  # pragma: no cover - a window of microseconds
    print("alkit: interrupted", file=__import__("sys").stderr)
    raise SystemExit(130) from None

# Defaults of ``run``: the parser keeps ``None`` so that the checks can tell what the user gave.
# Budgets and training settings left out here come from the recipes (alkit.experiments.recipes),
# resolved by the Experiment for the chosen dataset and regime: the command line keeps no copy.
RUN_DEFAULTS = dict(dataset="digits", augment="paper", ssl="none", trials="3", seed="0")
CLICKS_DEFAULTS = dict(dataset="shapes", tolerance="5,10,20,40", images="200")
INTERRUPTED_RUN = "interrupted; finished cycles are saved and will be reused on the next run"


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C with a message saying what was kept."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`alkit.checks.UsageError` (one line) instead of printing usage."""

    def error(self, message):
        import re

        from alkit.checks import UsageError, did_you_mean

        m = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)", message)
        if m:  # a mistyped sub-command
            message += did_you_mean(m.group(1), re.findall(r"'(.*?)'", m.group(2)))
        raise UsageError(message)


def _recipe_default(key: str) -> str:
    """Help text for a setting the recipes hold: its value per recipe (alkit.experiments.recipes)."""
    from alkit.experiments.recipes import recipe

    cells = (("digits", "classification", "digits", "custom"), ("digits --regime high", "classification", "digits", "high"),
             ("cifar", "classification", "cifar10", "high"), ("shapes", "segmentation", "shapes", "custom"),
             ("voc", "segmentation", "voc", "custom"))
    seen = [f"{label} {recipe(kind, ds, regime)[key]}" for label, kind, ds, regime in cells
            if key in recipe(kind, ds, regime)]
    return "the recipe's: " + ", ".join(seen)


def build_parser() -> argparse.ArgumentParser:
    d = RUN_DEFAULTS
    for key in ("initial", "step", "cycles", "epochs", "min_steps", "iterations"):
        d = {**d, key: _recipe_default(key)}
    p = _Parser(prog="python -m alkit", description="alkit: deep active learning, reproduced")
    sub = p.add_subparsers(dest="command", required=True, metavar="{run,evaluate,sweep,reproduce,clicks,student-copies,grade}")

    r = sub.add_parser("run", help="run an active-learning experiment and write DIR/results.csv",
                       description="Run an active-learning experiment (strategies x trials) and write "
                                   "OUT/results.csv. Classification: digits, cifar10, cifar100; "
                                   "segmentation (budgets in clicks): shapes, voc or a folder path.")
    _generated_flags(r, d)  # every Experiment setting, from its declaration (alkit.experiments.settings)
    _setting_flag(r, "device", "auto = cuda when present, else cpu")
    _setting_flag(r, "workers", "$ALKIT_WORKERS, else one per CPU core, one on a GPU")
    _setting_flag(r, "data_root", "$ALKIT_DATA, else ~/.alkit/data")
    r.add_argument("--download", action="store_true", help="download a missing CIFAR/VOC dataset (needs internet)")
    _ignore_index_flag(r)
    r.add_argument("--pretrained", metavar="NAME",
                   help="classification: none | glyphs; glyphs = start every model from the small CNN "
                        "pre-trained once on the synthetic glyph set (offline analogue of the paper's ImageNet "
                        "transfer, Sec. 3.2.5; small-cnn only) (default: none)")
    r.add_argument("--runs-dir", metavar="DIR",
                   help="results store, reused by identical runs (default: $ALKIT_OUTPUTS/runs, else outputs/runs)")
    _plugin_flag(r, "")
    r.add_argument("--out", required=True, metavar="DIR", help="folder for results.csv (required)")

    e = sub.add_parser("evaluate", help="the paper's protocol (Sec. 5) for your strategies: a report card",
                       description="Run the named strategies against Random on every available dataset, with and "
                                   "without augmentation, in the high- and low-budget regime, and against "
                                   "SSL-Random; write OUT/report.html, OUT/report.md and OUT/results.csv.")
    e.add_argument("--strategies", metavar="A,B,...", required=True,
                   help="classification strategies to evaluate (Random is added) (required)")
    _plugin_flag(e, "")
    e.add_argument("--preset", metavar="NAME",
                   help="smoke (seconds, CI) | default (embedded digits, minutes) | paper (CIFAR, GPU) "
                        "(default: default)")
    _setting_flag(e, "trials", "the preset's", minimum=3)
    _setting_flag(e, "max_trials", "10")
    _setting_flag(e, "device", "auto")
    _setting_flag(e, "workers", "one per CPU core, one on a GPU")
    _setting_flag(e, "data_root", "$ALKIT_DATA, else ~/.alkit/data", note=" (CIFAR for --preset paper)")
    e.add_argument("--runs-dir", metavar="DIR",
                   help="results store, shared with the notebooks (default: $ALKIT_OUTPUTS/runs, else outputs/runs)")
    e.add_argument("--out", metavar="DIR", help="folder for the report (required unless --plan)")
    _plan_flags(e, "evaluate")

    sw = sub.add_parser("sweep", help="a grid of experiments on Dask (local, a cluster, SLURM): DIR/results.csv",
                        description="Run every experiment of a grid file (fixed settings x the product of the axes) "
                                    "as (strategy, trial) units on Dask, with one progress bar; units resume from "
                                    "the results store, so a lost worker loses no finished cycle and a re-run "
                                    "recomputes nothing. Writes OUT/results.csv.")
    sw.add_argument("--grid", required=True, metavar="GRID.yaml",
                    help="YAML with 'fixed:' (settings of every experiment) and 'axes:' (lists; their product) "
                         "(required; example: examples/grid_digits.yaml)")
    sw.add_argument("--out", metavar="DIR", help="folder for results.csv (required unless --plan)")
    sw.add_argument("--scheduler", metavar="ADDRESS",
                    help="an existing Dask scheduler, e.g. tcp://HOST:8786 (default: a local cluster)")
    sw.add_argument("--slurm", metavar="OPTIONS",
                    help="start Dask workers as SLURM jobs, e.g. \"queue=gpu cores=8 memory=32GB gpus=1 "
                         "walltime=04:00:00\" (keys: queue, account, cores, memory, processes, walltime, gpus, "
                         "extra, prologue, interface, local_directory, python; default: none)")
    _setting_flag(sw, "trials", "the grid's", note="; overrides the grid's")
    _setting_flag(sw, "max_trials", "10")
    sw.add_argument("--dashboard", metavar="HOST:PORT",
                    help="serve the Dask dashboard of the cluster the sweep starts at HOST:PORT, e.g. 0.0.0.0:8787 "
                         "to let other machines open it (default: a free port on 127.0.0.1, printed at the start; "
                         "not with --scheduler)")
    sw.add_argument("--workers", metavar="N",
                    help="local: worker processes (default: one per CPU core, one on a GPU); --slurm: jobs "
                         "(default: 1); not with --scheduler")
    sw.add_argument("--runs-dir", metavar="DIR",
                    help="results store, on a filesystem every worker sees (default: $ALKIT_OUTPUTS/runs, "
                         "else outputs/runs)")
    _plugin_flag(sw, ", on a path every worker sees")
    _plan_flags(sw, "sweep")

    rp = sub.add_parser("reproduce", help="run notebooks through papermill into outputs/")
    rp.add_argument("--preset", metavar="NAME", default=None, help="smoke | default | paper (default: default)")
    rp.add_argument("--output-dir", metavar="DIR", default=None,
                    help="folder for the executed notebooks (default: $ALKIT_OUTPUTS/notebooks, "
                         "else outputs/notebooks)")
    rp.add_argument("notebooks", nargs="*", help="stems or numbers, e.g. 01 or 01_augmentation (default: all)")
    _plan_flags(rp, "reproduce")

    c = sub.add_parser("clicks", help="click cost and label quality of the polygon annotator per tolerance")
    c.add_argument("--dataset", metavar="NAME",
                   help=f"shapes | voc | PATH of a segmentation folder (default: {CLICKS_DEFAULTS['dataset']})")
    c.add_argument("--tolerance", metavar="A,B,...",
                   help=f"comma-separated pixel tolerances, each >= 0 (default: {CLICKS_DEFAULTS['tolerance']})")
    c.add_argument("--images", metavar="N",
                   help=f"how many pool images to annotate, >= 1 (default: {CLICKS_DEFAULTS['images']})")
    c.add_argument("--data-root", metavar="DIR", help="folder with the datasets (default: $ALKIT_DATA, else ~/.alkit/data)")
    c.add_argument("--download", action="store_true", help="download VOC if missing (needs internet)")
    _ignore_index_flag(c)

    sc = sub.add_parser("student-copies", help="write the notebooks with the solution cells blanked to DIR",
                        description="Write every notebook and solution notebook to DIR with the cells tagged "
                                    "'solution' blanked and outputs cleared, plus a short README: ready to hand out.")
    sc.add_argument("dir", metavar="DIR", help="output folder (created if missing)")

    g = sub.add_parser("grade", help="run the exercise checks (public + hidden) over submitted notebooks: a CSV",
                       description="Execute every submitted notebook under DIR (the solution notebooks' student "
                                   "copies, filled in) and run the public and hidden checks of its exercises "
                                   "(alkit.grading); write one row per submission to OUT (default DIR/grades.csv).")
    g.add_argument("dir", metavar="DIR", help="folder of submitted notebooks (searched recursively)")
    g.add_argument("--out", metavar="CSV", help="scores file (default: DIR/grades.csv; details beside it)")
    g.add_argument("--preset", metavar="NAME", default="smoke",
                   help="parameters the submissions run with: smoke | default | paper (default: smoke)")
    return p


def _plan_flags(parser, command: str) -> None:
    """``--plan`` and ``--download`` of reproduce / evaluate / sweep (alkit.experiments.cost_plan, .datacheck)."""
    parser.add_argument("--plan", action="store_true",
                        help="print what the run will cost (units, cycles, trainings, SGD steps, device-hours from "
                             "a few timed steps on this device, store disk, missing data) and train nothing (default: off)")
    parser.add_argument("--download", action="store_true",
                        help=f"fetch missing CIFAR/VOC folders into the data root before {command} starts "
                             "(with --plan: fetch, then plan; needs internet) (default: off)")


def _plan_or_data(a, make_plan, missing, fetch_missing) -> int | None:
    """The shared tail of reproduce / evaluate / sweep before anything runs: with ``--download``
    fetch what is missing; with ``--plan`` print the plan (status 0); else, data still missing:
    one line per dataset on stderr, status 2. ``None``: go on and run."""
    if missing and a.download:
        fetch_missing(missing)
        missing = []
    if a.plan:
        from alkit.experiments.cost_plan import render

        print(render(make_plan()))
        return 0
    if missing:
        for m in missing:
            print(f"alkit: error: {m.line()}", file=sys.stderr)
        return 2
    return None


def _fetch_command(a, command: str) -> str:
    """The command line that fetches the missing data (and plans, training nothing)."""
    args = " ".join(x for x in getattr(a, "argv", []) if x not in ("--plan", "--download"))
    return f"python -m alkit {command} {args} --plan --download".replace("  ", " ")


def _plugin_flag(parser, where: str) -> None:
    """``--plugin PATH`` (alias ``--strategy-file``): a Python file registering strategies, datasets
    and models (alkit.register_strategy / register_dataset / register_model)."""
    parser.add_argument("--plugin", "--strategy-file", action="append", metavar="PATH", dest="plugin",
                        help=f"a Python file registering strategies, datasets or models (alkit.register_strategy, "
                             f"register_dataset, register_model){where}; its names then work in --strategies, "
                             f"--dataset, --model (may be repeated; alias --strategy-file; default: none)")


def _ignore_index_flag(parser) -> None:
    """``--ignore-index`` of every command that loads a segmentation folder (run, clicks)."""
    parser.add_argument("--ignore-index", metavar="N",
                        help="segmentation folder: the masks' void label, an integer 0..255 not used by a class "
                             "(default: the folder's dataset.json, else 255; CamVid/SegNet: 11)")


def _data_options(a, dataset: str, seg: bool) -> dict:
    """The loader options given on the command line (``--ignore-index``), checked."""
    from alkit import checks as C
    from alkit.engine.data import dataset_spec

    if a.ignore_index is None:
        return {}
    if not seg or dataset_spec(dataset) is not None:
        raise C.UsageError(f"--ignore-index does not apply to {dataset}: it sets the void label of a "
                           f"segmentation folder")
    n = C.integer("--ignore-index", a.ignore_index, minimum=0)
    if n > 255:
        raise C.UsageError(f"--ignore-index must be at most 255 (masks hold uint8 class ids), got {a.ignore_index}")
    return {"ignore_index": n}


def _setting_flag(parser, key: str, default: str, note: str = "", minimum: float | None = None) -> None:
    """The flag of one Experiment setting for a command that takes it outside the generated set
    (runtime settings, evaluate's and sweep's trials): metavar, help and bound from its declaration
    (``minimum``: the command's own, stricter bound)."""
    from alkit.experiments.settings import SETTINGS, flag

    d = SETTINGS[key]
    low = d.minimum if minimum is None else minimum
    bound = "" if low is None else f", {'>' if d.strict and minimum is None else '>='} {low:g}"
    parser.add_argument(flag(key), metavar=d.metavar, default=None, help=f"{d.help}{bound}{note} (default: {default})")


def _generated_flags(parser, defaults: dict) -> None:
    """A flag for every Experiment setting with ``cli`` set, from its declaration
    (:data:`alkit.experiments.settings.SETTINGS`: help, kinds, bounds); ``defaults``: the recipe's
    values by name, for the help text."""
    from alkit.experiments.settings import SETTINGS, flag

    for d in SETTINGS.values():
        if not d.cli:
            continue
        where = "" if len(d.kinds) > 1 else f"{d.kinds[0]}: "
        bound = "" if d.minimum is None else f", {'>' if d.strict else '>='} {d.minimum:g}"
        default = d.default or defaults.get(d.key) or "the recipe's"
        parser.add_argument(flag(d.key), metavar=d.metavar, default=None,
                            help=f"{where}{d.help}{bound} (default: {default})")


# Generated flags the checks of ``run`` pass to the Experiment as they are, when given.
GENERATED = ("batch_size", "lr", "ensemble_size", "unlabelled_batch", "threshold", "preview", "ens_reduce",
             "max_trials")


# -- checks ------------------------------------------------------------------------------------------


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def dataset_kind(flag: str, name: str) -> str:
    """``"classification"`` or ``"segmentation"`` for a dataset name or folder path (checked)."""
    from alkit import checks
    from alkit.engine.data import dataset_names, dataset_spec

    spec = dataset_spec(name)
    if spec is not None:
        return spec.kind
    if checks.looks_like_path(name) or os.path.isdir(name):
        checks.existing_folder(flag, name)
        return "segmentation"
    checks.choice(flag, "dataset", name, dataset_names(), ", or a folder path")
    raise AssertionError  # choice() raised


def _strategy_names(task: str) -> tuple:
    """Every registered strategy of ``task`` (``classification`` or ``segmentation``)."""
    from alkit.strategies import strategy_names

    return tuple(strategy_names(task))


def _check_outputs(label_flag: str, path, default) -> None:
    """``path`` (given with ``label_flag``) or the default under the outputs root must be writable."""
    from alkit import checks
    from alkit.paths import outputs_label

    if path is not None:
        checks.writable_dir(label_flag, path)
    else:
        checks.writable_dir(outputs_label(), default)


def load_strategy_files(paths) -> None:
    """Import the user's plug-in files (``--plugin``/``--strategy-file``); a bad file is one line
    naming it."""
    from alkit import checks as C
    from alkit.strategies import StrategyFileError, load_strategies

    for path in paths or ():
        try:
            load_strategies(path)
        except StrategyFileError as e:
            raise C.UsageError(f"--plugin/--strategy-file: {_one_line(e)}") from None


def _flag(key: str) -> str:
    from alkit.experiments.settings import flag

    return flag(key)


def _setting(key: str, text, kind: str | None, dataset: str | None = None):
    """A setting given on the command line, checked by its declaration (one line naming the flag)."""
    from alkit.checks import UsageError
    from alkit.experiments.settings import SettingError, validate

    try:
        return validate(key, text, kind, {"dataset": dataset}, text=True)
    except SettingError as e:
        raise UsageError(e.at(_flag(key))) from None


def check_run(a) -> argparse.Namespace:
    """The ``run`` arguments checked and with defaults filled in (raises ``UsageError``)."""
    from alkit import checks as C

    load_strategy_files(a.plugin)

    dataset = a.dataset if a.dataset is not None else RUN_DEFAULTS["dataset"]
    seg = dataset_kind("--dataset", dataset) == "segmentation"
    if seg:
        C.not_given({"--regime": a.regime, "--augment": a.augment, "--min-steps": a.min_steps},
                    f"to segmentation datasets ({dataset}): AL with click budgets")
        C.not_given({"--pretrained": a.pretrained},
                    f"to segmentation datasets ({dataset}): the segmentation recipe sets the backbone's weights")
    else:
        C.not_given({"--tolerance": a.tolerance},
                    f"to classification datasets ({dataset}): it is the segmentation annotator's tolerance")
        C.not_given({"--labeling": a.labeling, "--polygon-strategy": a.polygon_strategy},
                    f"to classification datasets ({dataset}): polygon-level labelling is for segmentation")
    labeling = polygon_strategy = None
    if seg:  # polygon-level labelling (paper Sec. 4.4.2)
        labeling = _setting("labeling", a.labeling if a.labeling is not None else "image", "segmentation")
        if labeling == "polygon":
            polygon_strategy = _setting("polygon_strategy", a.polygon_strategy or "entropy", "segmentation")
            if a.strategies is not None and [t.strip() for t in a.strategies.split(",")] != ["random"]:
                raise C.UsageError("--strategies: --labeling polygon picks images at random; give --strategies "
                                   "random or leave it out")
        else:
            C.not_given({"--polygon-strategy": a.polygon_strategy}, "without --labeling polygon")
    v = dict(vars(a))
    for k, default in RUN_DEFAULTS.items():
        if v.get(k) is None:
            v[k] = default
    v["dataset"] = dataset

    from alkit.strategies import default_strategies

    task, other = ("segmentation", "classification") if seg else ("classification", "segmentation")
    kind = task
    names, other_names = _strategy_names(task), _strategy_names(other)
    text = a.strategies if a.strategies is not None else ",".join(default_strategies(task))
    if labeling == "polygon":
        text = "random"
    for n in (t.strip() for t in text.split(",")):
        if n and n not in names and n in other_names:
            raise C.UsageError(f"--strategies: {n!r} is a {other} strategy; choose from {', '.join(names)} "
                               f"for {task} datasets")
    v["strategies"] = tuple(C.csv_names("--strategies", text, "strategy", names, f" for {task} datasets"))

    v["ssl"] = _setting("ssl", v["ssl"], kind)  # SSL-X: UDA/FixMatch (Sec. 3.2.3), s4GAN (Sec. 4.3)
    if seg:
        if v["ssl"] is None:
            C.not_given({"--iterations": a.iterations}, "without --ssl s4gan (it counts s4GAN iterations)")
            if "d-score" in v["strategies"]:
                raise C.UsageError("--strategies: d-score ranks by the s4GAN discriminator; it needs --ssl s4gan")
        v["regime"] = None
    else:
        _setting("augment", v["augment"], kind)
        if v["ssl"] is None:
            C.not_given({"--iterations": a.iterations}, "without --ssl uda|fixmatch (it counts SSL iterations)")
        else:
            C.not_given({"--epochs": a.epochs, "--min-steps": a.min_steps},
                        f"with --ssl {v['ssl']} (SSL trains --iterations per cycle)")
        if a.regime is not None:
            _setting("regime", a.regime, kind, dataset=dataset)
            C.not_given({"--initial": a.initial, "--step": a.step},
                        f"with --regime {a.regime} (the regime sets --initial/--step; --cycles may shorten it)")
    v["regime"] = a.regime or "custom"

    # budgets (images or clicks) and training: checked when given; None leaves them to the recipe
    for key in ("initial", "step", "tolerance", "cycles", "epochs", "min_steps", "iterations"):
        v[key] = None if getattr(a, key) is None else _setting(key, getattr(a, key), kind, dataset=dataset)
    v["trials"] = _setting("trials", v["trials"], kind)
    for key in GENERATED:  # the generated flags: the declaration's checks, for this kind of task
        value = getattr(a, key, None)
        if value is not None:
            from alkit.experiments.settings import SETTINGS

            if kind not in SETTINGS[key].kinds:
                raise C.UsageError(f"{_flag(key)} does not apply to {kind} datasets ({dataset})")
        v[key] = None if value is None else _setting(key, value, kind, dataset=dataset)
    v["seed"] = _setting("seed", v["seed"], kind)
    if a.workers is not None:
        v["workers"] = C.integer("--workers", a.workers, minimum=1)
    else:
        C.env_workers(os.environ.get("ALKIT_WORKERS"))  # checked here; the library reads it
        v["workers"] = None

    if a.model is not None:
        _setting("model", a.model, kind)
    d = a.device
    v["device"] = C.device(d, _cuda_count() if d is not None and d.strip().lower().startswith("cuda") else 0)

    C.writable_dir("--out", a.out)
    from alkit.paths import runs_dir

    _check_outputs("--runs-dir", a.runs_dir, runs_dir())
    v["data_options"] = _data_options(a, dataset, seg)
    v["pretrained"] = None
    if not seg and a.pretrained is not None:
        source = C.choice("--pretrained", "pretrained source", a.pretrained, ("none", "glyphs"))
        # the default network follows the image size: small-cnn for digits, wrn-28-2 for CIFAR
        # (an image folder's is known once loaded; the task checks it then)
        model = a.model or {"digits": "small-cnn", "cifar10": "wrn-28-2", "cifar100": "wrn-28-2"}.get(dataset)
        if source == "glyphs" and model not in (None, "small-cnn"):
            raise C.UsageError(f"--pretrained: glyphs pre-trains the small-cnn only; {dataset} uses {model} "
                               f"(give --model small-cnn, or --pretrained none)")
        v["pretrained"] = None if source == "none" else source
    v["segmentation"] = seg
    v["labeling"], v["polygon_strategy"] = labeling, polygon_strategy
    return argparse.Namespace(**v)


# -- commands ----------------------------------------------------------------------------------------


def experiment_settings(a) -> dict:
    """The :class:`~alkit.experiments.config.Experiment` settings of checked ``run`` arguments:
    every setting the user gave; the rest stay ``None`` for the recipe to fill."""
    keys = ["dataset", "strategies", "trials", "seed", *(k for k in GENERATED if getattr(a, k, None) is not None), "initial", "step", "cycles", "model", "epochs",
            "data_root", "download", "device", "workers"]
    keys += ["tolerance", "labeling", "polygon_strategy", "ssl", "iterations", "data_options"] if a.segmentation else ["regime", "augment", "ssl", "min_steps", "iterations", "pretrained"]
    return {k: getattr(a, k) for k in keys}


def cmd_run(a) -> int:
    from pathlib import Path

    a = check_run(a)
    _checkpoint()
    _STATE["interrupt_message"] = INTERRUPTED_RUN
    try:
        from alkit.experiments.config import Experiment, run

        exp = Experiment(**experiment_settings(a))
        df = run(exp, store_root=a.runs_dir, with_selected=True)
    except KeyboardInterrupt:
        raise _Interrupted(INTERRUPTED_RUN) from None
    from alkit.io import atomic_write_csv

    out = Path(a.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    df = df.drop(columns=[c for c in ("preview",) if c in df])
    if "selected" in df:
        df["selected"] = df["selected"].map(lambda s: " ".join(map(str, s)))
    atomic_write_csv(df, out / "results.csv", index=False)
    metric = "accuracy" if "accuracy" in df else "miou"
    summary = df.groupby(["strategy", "cycle"])[metric].mean().unstack("cycle")
    print(summary.round(4).to_string())
    print(f"wrote {out / 'results.csv'} ({len(df)} rows)")
    return 0


def check_reproduce(a) -> argparse.Namespace:
    from alkit import checks as C
    from alkit.paths import outputs_dir
    from alkit.experiments.reproduce import PRESETS, list_notebooks

    preset = C.choice("--preset", "preset", a.preset if a.preset is not None else "default", PRESETS)
    nbs = list_notebooks()
    names = {}
    for nb in nbs:  # number, stem, file name and the part after the number all name a notebook
        number, _, title = nb.stem.partition("_")
        for key in (number, nb.stem, nb.name, title):
            names.setdefault(key, nb.stem)
    chosen = []
    for n in a.notebooks:
        if n in names:
            chosen.append(names[n])
        elif n.endswith(".ipynb") and os.path.isfile(n):
            chosen.append(n)
        else:
            close = C.closest(n, list(names))
            hint = f" (did you mean {names[close]!r}?)" if close else ""
            raise C.UsageError(f"unknown notebook {n!r}{hint}; choose from {', '.join(nb.stem for nb in nbs)}")
    _check_outputs("--output-dir", a.output_dir, outputs_dir() / "notebooks")
    if a.output_dir is not None:  # the notebooks still write their figures under the outputs root
        _check_outputs("--output-dir", None, outputs_dir() / "figures")
    return argparse.Namespace(preset=preset, notebooks=chosen, output_dir=a.output_dir, plan=a.plan,
                              download=a.download)


def cmd_reproduce(a) -> int:
    argv = [f"--preset {a.preset}"] if a.preset else []
    a = check_reproduce(a)
    _checkpoint()
    from alkit.experiments import reproduce as R
    from alkit.experiments.datacheck import fetch

    plans = R.notebook_plans(a.notebooks, a.preset)
    a.argv = argv + list(a.notebooks)
    done = _plan_or_data(a, lambda: R.plan(a.notebooks, a.preset, fetch_command=_fetch_command(a, "reproduce")),
                         R.check_data(plans)[0], lambda missing: [fetch(R.check_data([p])[0], p.data_root)
                                                                  for p in plans])
    if done is not None:
        return done
    R.reproduce(a.notebooks, preset=a.preset, output_dir=a.output_dir)
    return 0


def check_clicks(a) -> argparse.Namespace:
    from alkit import checks as C

    dataset = a.dataset if a.dataset is not None else CLICKS_DEFAULTS["dataset"]
    if dataset_kind("--dataset", dataset) != "segmentation":
        raise C.UsageError(f"--dataset: clicks needs a segmentation dataset (shapes, voc or a folder path), "
                           f"not {dataset}")
    tolerances = C.number_list("--tolerance", a.tolerance if a.tolerance is not None
                               else CLICKS_DEFAULTS["tolerance"], minimum=0)
    images = C.integer("--images", a.images if a.images is not None else CLICKS_DEFAULTS["images"], minimum=1)
    return argparse.Namespace(dataset=dataset, tolerances=tolerances, images=images, data_root=a.data_root,
                              download=a.download, options=_data_options(a, dataset, True))


def cmd_clicks(a) -> int:
    a = check_clicks(a)
    _checkpoint()
    from alkit.engine.data import load_dataset
    from alkit.protocol.annotation import clicks_table, sweep_options

    data = load_dataset(a.dataset, a.data_root, a.download, **sweep_options(a.dataset, a.images), **a.options)
    table = clicks_table(data, a.tolerances, n_images=a.images)
    print(table.to_string(index=False))
    return 0


def check_evaluate(a) -> argparse.Namespace:
    """The ``evaluate`` arguments checked (raises ``UsageError``), before anything runs."""
    from alkit import checks as C
    from alkit.experiments.evaluate import PRESETS
    from alkit.paths import runs_dir

    load_strategy_files(a.plugin)
    names = _strategy_names("classification")
    strategies = tuple(C.csv_names("--strategies", a.strategies, "strategy", names, " for classification"))
    preset = C.choice("--preset", "preset", a.preset if a.preset is not None else "default", PRESETS)
    trials = None if a.trials is None else _setting("trials", a.trials, "classification")
    if isinstance(trials, int) and trials < 3:
        raise C.UsageError(f"--trials must be at least 3 (or auto) for the protocol's paired tests, got {trials}")
    max_trials = None if a.max_trials is None else _setting("max_trials", a.max_trials, "classification")
    workers = None if a.workers is None else C.integer("--workers", a.workers, minimum=1)
    if a.workers is None:
        C.env_workers(os.environ.get("ALKIT_WORKERS"))
    d = a.device
    device = C.device(d, _cuda_count() if d is not None and d.strip().lower().startswith("cuda") else 0)
    _check_plan(a, trials)
    if not a.plan:
        C.writable_dir("--out", a.out)
        _check_outputs("--runs-dir", a.runs_dir, runs_dir())
    return argparse.Namespace(strategies=strategies, preset=preset, trials=trials, max_trials=max_trials,
                              workers=workers, device=device, plan=a.plan, download=a.download,
                              data_root=a.data_root, runs_dir=a.runs_dir, out=a.out)


def _check_plan(a, trials) -> None:
    """``--out`` is required unless ``--plan``; ``--plan`` cannot count ``trials auto``."""
    from alkit import checks as C

    if a.out is None and not a.plan:
        raise C.UsageError("--out is required (unless --plan)")
    if a.plan and trials == "auto":
        raise C.UsageError("--plan with trials auto: the trials are decided while running; plan a number "
                           "(--trials N, e.g. the --max-trials it may reach)")


def cmd_evaluate(a) -> int:
    argv = [f"--strategies {a.strategies}"] + [f"--{k.replace('_', '-')} {getattr(a, k)}" for k in
                                                ("preset", "trials", "data_root") if getattr(a, k) is not None]
    a = check_evaluate(a)
    _checkpoint()
    from alkit.experiments import cost_plan as P
    from alkit.experiments.datacheck import fetch

    a.argv = argv
    done = _plan_or_data(a, lambda: P.plan_evaluate(a.strategies, a.preset, a.data_root, a.trials,
                                                    fetch_command=_fetch_command(a, "evaluate"), device=a.device),
                         P.evaluate_data(a.preset, a.data_root)[0], lambda missing: fetch(missing, a.data_root))
    if done is not None:
        return done
    _STATE["interrupt_message"] = INTERRUPTED_RUN
    try:
        from alkit.experiments.evaluate import evaluate

        result = evaluate(a.strategies, preset=a.preset, out=a.out, data_root=a.data_root, store_root=a.runs_dir,
                          workers=a.workers, trials=a.trials, device=a.device,
                          **({} if a.max_trials is None else {"max_trials": a.max_trials}))
    except KeyboardInterrupt:
        raise _Interrupted(INTERRUPTED_RUN) from None
    from pathlib import Path

    out = Path(a.out).expanduser()
    print(result["summary"].replace("**", ""))
    print(f"wrote {out / 'report.html'}, {out / 'report.md'} and {out / 'results.csv'}")
    return 0


def check_sweep(a) -> argparse.Namespace:
    """The ``sweep`` arguments and the grid file checked (raises ``UsageError``), before anything runs."""
    from alkit import checks as C
    from alkit.paths import runs_dir

    if a.scheduler is not None and a.slurm is not None:
        raise C.UsageError("--scheduler and --slurm exclude each other: submit to an existing cluster or start one")
    if a.scheduler is not None:
        C.not_given({"--workers": a.workers}, "with --scheduler (the cluster has its workers)")
        C.not_given({"--dashboard": a.dashboard}, "with --scheduler (the cluster serves its own dashboard)")
        if not a.scheduler.strip() or any(ch.isspace() for ch in a.scheduler.strip()):
            raise C.UsageError(f"--scheduler: expected an address like tcp://HOST:8786, got {a.scheduler!r}")
    workers = None if a.workers is None else C.integer("--workers", a.workers, minimum=1)
    load_strategy_files(a.plugin)
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise C.UsageError("sweep needs Dask: pip install distributed (see requirements.txt)") from None
    from alkit.experiments import sweep as S

    slurm = None
    if a.slurm is not None:
        try:
            import dask_jobqueue  # noqa: F401
        except ImportError:
            raise C.UsageError("--slurm needs dask-jobqueue: pip install dask-jobqueue") from None
        slurm = S.slurm_options(a.slurm)
    dashboard = None if a.dashboard is None else _host_port("--dashboard", a.dashboard)
    cells = S.load_grid(a.grid)
    override = {k: _setting(k, getattr(a, k), None) for k in ("trials", "max_trials") if getattr(a, k) is not None}
    if override:  # the flags win over the grid's values, for every experiment
        cells = [S.Cell(c.index, {**c.settings, **override}, c.label) for c in cells]
    _check_plan(a, "auto" if any(c.settings.get("trials") == "auto" for c in cells) else None)
    if not a.plan:
        C.writable_dir("--out", a.out)
        _check_outputs("--runs-dir", a.runs_dir, runs_dir())
    return argparse.Namespace(cells=cells, out=a.out, scheduler=a.scheduler.strip() if a.scheduler else None,
                              slurm=slurm, workers=workers, runs_dir=a.runs_dir, dashboard=dashboard,
                              plan=a.plan, download=a.download, grid=a.grid)


def _host_port(flag: str, text: str) -> str:
    """``HOST:PORT`` (port 0-65535; an empty host means every interface, as Dask reads it)."""
    from alkit import checks as C

    host, sep, port = text.strip().rpartition(":")
    if not sep or any(ch.isspace() for ch in host):
        raise C.UsageError(f"{flag}: expected HOST:PORT, e.g. 127.0.0.1:8787 or 0.0.0.0:8787, got {text!r}")
    n = C.integer(f"{flag} port", port, minimum=0)
    if n > 65535:
        raise C.UsageError(f"{flag} port must be at most 65535, got {n}")
    return f"{host}:{n}"


def cmd_sweep(a) -> int:
    from pathlib import Path

    a = check_sweep(a)
    _checkpoint()
    from alkit.experiments import cost_plan as P
    from alkit.experiments.datacheck import fetch

    a.argv = [f"--grid {a.grid}"]
    done = _plan_or_data(a, lambda: P.plan_sweep(a.cells, a.grid, fetch_command=_fetch_command(a, "sweep")),
                         P.sweep_data(a.cells),
                         lambda missing: [fetch(P.sweep_data([c]), c.settings.get("data_root")) for c in a.cells])
    if done is not None:
        return done
    _STATE["interrupt_message"] = INTERRUPTED_RUN
    try:
        from alkit.experiments.sweep import sweep

        result = sweep(a.cells, store_root=a.runs_dir, scheduler=a.scheduler, slurm=a.slurm, workers=a.workers,
                       dashboard=a.dashboard)
    except KeyboardInterrupt:
        raise _Interrupted(INTERRUPTED_RUN) from None
    from alkit.io import atomic_write_csv

    out = Path(a.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(result.frame, out / "results.csv", index=False)
    print(f"{len(a.cells)} experiments: {result.computed} units run, {result.stored} loaded from the store"
          + (f", {result.auto} with trials auto" if result.auto else "")
          + (f", {len(result.failures)} failed (see above)" if result.failures else ""))
    print(f"wrote {out / 'results.csv'} ({len(result.frame)} rows)")
    return 1 if result.failures else 0


def cmd_student_copies(a) -> int:
    """``student-copies DIR``: DIR checked (a folder that can be written) before anything is written."""
    from alkit import checks as C

    C.writable_dir("DIR", a.dir)
    _checkpoint()
    from alkit.teaching import student_copies

    written = student_copies(a.dir)
    print(f"wrote {len(written)} notebooks with the solution cells blanked to {a.dir}")
    return 0


def cmd_grade(a) -> int:
    """``grade DIR``: the exercise checks over a folder of submissions (alkit.grading)."""
    from alkit.checks import UsageError
    from alkit.experiments.reproduce import PRESETS
    from alkit.grading import grade

    if not os.path.isdir(a.dir):
        raise UsageError(f"DIR {a.dir!r}: folder not found")
    if a.preset not in PRESETS:
        raise UsageError(f"--preset {a.preset!r}: choose from {', '.join(PRESETS)}")
    rows = grade(a.dir, a.out, preset=a.preset)
    out = a.out or os.path.join(a.dir, "grades.csv")
    print(f"graded {len(rows)} notebook(s); scores in {out}")
    return 0


HANDLERS = {"run": cmd_run, "evaluate": cmd_evaluate, "reproduce": cmd_reproduce, "clicks": cmd_clicks,
            "sweep": cmd_sweep, "student-copies": cmd_student_copies, "grade": cmd_grade}


def _parse(parser, argv):
    from alkit import checks

    args, extra = parser.parse_known_args(argv)
    if extra:  # suggest the closest flag of the sub-command
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
        flag = next((x for x in extra if x.startswith("-")), None)
        hint = checks.did_you_mean(flag.split("=")[0], sub._option_string_actions) if flag else ""
        raise checks.UsageError(f"unrecognized arguments: {' '.join(extra)}{hint}")
    return args


def _one_line(e: BaseException) -> str:
    msg = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
    return " ".join(str(msg).split()) or type(e).__name__


class _SigintSeen:
    """While active (main thread only), remembers that SIGINT arrived and raises
    ``KeyboardInterrupt`` as Python's default handler does. A Ctrl-C that lands inside an import can
    surface as another error (``ImportError: cannot load module more than once``, a
    ``RecursionError`` in a half-initialised numpy); with the flag set, :func:`main` still reports
    it as an interruption.

    With ``exit_in_import`` (the ``python -m alkit`` process, not in-process calls), a Ctrl-C that
    lands while a module is being imported prints the line and ends the process at once instead:
    an exception raised inside a C extension's initialisation (torch) can abort the interpreter."""

    def __init__(self, exit_in_import: bool = False):
        self.seen = False
        self.exit_in_import = exit_in_import
        self._previous = None

    def _handler(self, signum, frame):
        self.seen = True
        if self.exit_in_import and _importing(frame):
            # no clean-up is safe inside an import: end an open bar's line, then the one line
            newline = "\n" if _open_bars() else ""
            os.write(2, f"{newline}alkit: {_STATE['interrupt_message']}\n".encode())
            os._exit(130)
        raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _open_bars() -> list:
    """The tqdm progress bars still on the screen, also one whose ``close`` was interrupted (tqdm
    forgets a bar at the end of ``close``; none when tqdm was never imported)."""
    std = sys.modules.get("tqdm.std")
    if std is None:
        return []
    return list(getattr(std.tqdm, "_instances", ()))


def _final_line(text: str) -> None:
    """Print ``text`` as the last line on stderr: open progress bars are closed first (their line
    ends), so the line never lands on a bar's line."""
    for bar in _open_bars():
        if getattr(bar, "disable", True):  # its close was interrupted half-way: end its line
            sys.stderr.write("\n")
            continue
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot draw any more: end its line instead
            sys.stderr.write("\n")
    print(text, file=sys.stderr, flush=True)


def _importing(frame) -> bool:
    """Whether ``frame`` or a caller is in the import machinery."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


_STATE = {"interrupt_message": "interrupted", "exit_in_import": False, "sigint": None}


def _interrupted(e: BaseException | None = None) -> int:
    msg = e.args[0] if isinstance(e, _Interrupted) and e.args else _STATE["interrupt_message"]
    _final_line(f"alkit: {msg}")
    return 130


def _checkpoint() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C arrived and some library swallowed it."""
    sigint = _STATE.get("sigint")
    if sigint is not None and sigint.seen:
        raise KeyboardInterrupt


def _main(argv, sigint: _SigintSeen) -> int:
    try:
        parser = build_parser()
        args = _parse(parser, argv)
        try:
            return HANDLERS[args.command](args)
        except (ValueError, FileNotFoundError, NotADirectoryError, KeyError) as e:
            if sigint.seen:
                return _interrupted()
            _final_line(f"alkit: error: {_one_line(e)}")
            return 2
    except ValueError as e:  # a UsageError from argument parsing
        if sigint.seen:
            return _interrupted()
        print(f"alkit: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception:
        if sigint.seen:  # Ctrl-C turned into another error inside an import
            return _interrupted()
        raise


def main(argv=None) -> int:
    """The command line; returns the exit status (0, 2 for bad input, 130 for Ctrl-C)."""
    try:
        _STATE["interrupt_message"] = "interrupted"
        with _SigintSeen(_STATE["exit_in_import"]) as sigint:
            _STATE["sigint"] = sigint
            return _main(argv, sigint)
    except KeyboardInterrupt as e:
        return _interrupted(e)
    finally:
        _STATE["sigint"] = None


def _script() -> None:
    """``python -m alkit``: :func:`main`, then exit without a traceback from a late Ctrl-C."""
    _STATE["exit_in_import"] = True
    try:
        code = main()
    except KeyboardInterrupt:  # a second Ctrl-C while the first one was being reported
        code = 130
        os.write(2, b"alkit: interrupted\n")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # shutting down: nothing left to interrupt
    if code == 130:
        # Leave now: a Ctrl-C caught inside an extension's embedded Python would otherwise make the
        # interpreter re-raise SIGINT on exit (status -2 instead of 130).
        import atexit

        atexit._run_exitfuncs()  # what exiting would run (multiprocessing's clean-up among them)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe
                pass
        os._exit(130)
    sys.exit(code)

