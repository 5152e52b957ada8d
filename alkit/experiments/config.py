"""One :class:`Experiment` = one dataset and recipe, several strategies x trials: the single source of
truth for a run's settings, for classification (paper Sec. 3) and segmentation (Sec. 4) alike.

Settings left at ``None`` take the recipe of the dataset and regime
(:func:`alkit.experiments.recipes.recipe`); :meth:`Experiment.resolved` returns them all filled in.
The experiment builds its task (:meth:`Experiment.build_task`) and computes the results-store key
of each strategy from the resolved settings, the content fingerprint of the data actually loaded
and the recipe version (:meth:`Experiment.store_config`). :func:`run` runs every (strategy, trial)
as an independent unit (:mod:`alkit.experiments.runner`: parallel worker processes, one per core
by default) through :func:`alkit.protocol.loop.run_trial`: a re-run on the same data with the same
recipe reuses finished cycles, an interrupted run resumes, and anything else recomputes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from alkit.experiments.recipes import REGIMES, recipe, regime_budget, ssl_options  # noqa: F401  (re-exported)
from alkit.experiments.runner import Unit, picklable, run_units
from alkit.engine.data import dataset_kind, dataset_spec, load_dataset
from alkit.engine.models.mc_dropout import BALD_DROPOUT
from alkit.experiments.fingerprint import data_fingerprint
from alkit.experiments.settings import SETTINGS, SSL_BY_KIND, recipe_dataset, validate  # noqa: F401
from alkit.experiments.store import records_frame
from alkit.paths import runs_dir
from alkit.protocol.loop import check_budget
from alkit.strategies import check_strategy, default_strategies, get_strategy
from alkit.tasks.classification import ClassificationTask
from alkit.tasks.fit_cache import FitCache
from alkit.tasks.polygon_segmentation import LABELINGS, POLYGON_STRATEGIES, PolygonSegmentationTask, polygon_run_name
from alkit.tasks.segmentation import SegmentationTask

# Settings that say where and how a run executes, never what it computes (not in the store key).
RUNTIME = ("data_root", "download", "device", "workers")
# Settings left out of the store key: what to run, not what one trial computes. The regime only
# names budgets and a recipe, whose resolved values are in the key; a run with more cycles extends
# a shorter one of the same settings (cycle c trains with a seed of (trial, c) and queries from
# that model: alkit.protocol.loop.run_trial), so notebooks asking for 2 or 3 cycles share runs.
KEY_FREE = ("strategies", "trials", "max_trials", "regime", "cycles")
# Settings that only one kind of task reads.
CLASSIFICATION_ONLY = ("augment", "min_steps", "unlabelled_batch", "regime")
SEGMENTATION_ONLY = ("tolerance", "threshold", "data_options", "preview", "labeling", "polygon_strategy", "ens_reduce")


@dataclass
class Experiment:
    """The settings of one AL experiment. ``None`` = the dataset's recipe (see the module docstring).

    Budgets are in images for classification and in clicks for segmentation. ``strategies`` default
    to the paper's for the dataset's task. ``data_options`` go to the dataset loader (``shapes``:
    n_train/n_val; VOC: max_train/max_val). ``preview`` > 0 stores the predictions of that many
    validation images with every segmentation cycle (paper Fig. 12).
    """

    dataset: str = "digits"
    strategies: tuple | None = None
    trials: int | str = 3  # an integer >= 1, or "auto": add trials until the claims are decided (run_auto)
    max_trials: int = 10  # with trials="auto": at most this many trials per strategy (>= 3)
    seed: int = 0
    regime: str = "custom"  # classification: "high" | "low" set the paper's budgets for the dataset
    initial: float | None = None  # B_i
    step: float | None = None  # B_s
    cycles: int | None = None  # query cycles after the initial set
    model: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    ensemble_size: int | None = None
    # classification
    augment: str = "paper"  # "none" | "paper" (| "weak" | "strong")
    ssl: str | None = None  # None | "uda" | "fixmatch" (classification) | "s4gan" (segmentation)
    min_steps: int | None = None
    iterations: int | None = None  # UDA / s4GAN iterations per cycle
    unlabelled_batch: int | None = None
    # segmentation
    tolerance: float | None = None  # polygon tolerance of the annotator, px
    # segmentation: the backbone's weights ("default" = the recipe's); classification: None or "glyphs"
    # (the small CNN pre-trained on the synthetic glyph set, alkit.engine.train.pretrain)
    pretrained: str | None = "default"
    threshold: float | None = None  # normalised-entropy threshold of Entropy / ENS-ent
    data_options: dict = field(default_factory=dict)
    preview: int = 0
    labeling: str = "image"  # "image" | "polygon" (Sec. 4.4.2: random images, single polygons)
    polygon_strategy: str | None = None  # with labeling="polygon": "entropy" (default) | "random"
    ens_reduce: str | None = None  # ENS-ent: "mean-entropy" (default, paper's literal reading) | "mean-prob"
    # runtime only
    data_root: str | None = field(default=None, compare=False)
    download: bool = field(default=False, compare=False)
    device: str | None = field(default=None, compare=False)
    workers: int | None = field(default=None, compare=False)  # parallel units (None: one per core)

    @property
    def kind(self) -> str:
        """``"classification"`` or ``"segmentation"`` (from the dataset)."""
        return dataset_kind(self.dataset)

    def resolved(self) -> dict:
        """Every setting of this experiment with the recipe's values filled in, the ones that do
        not apply to its kind of task dropped."""
        validate("dataset", self.dataset)  # first: the kind of task follows from it
        kind = self.kind
        given = self._validated(kind)
        r = self.recipe(kind)
        out = {}
        for f in fields(self):
            if f.name in (SEGMENTATION_ONLY if kind == "classification" else CLASSIFICATION_ONLY):
                continue
            value = given[f.name]
            if f.name == "pretrained" and kind == "classification":
                if value not in (None, "default"):  # in the key only when set: older runs keep their keys
                    out[f.name] = value
                continue
            if f.name == "lr" and value is None and kind == "classification" and given["ssl"]:
                value = r.get("ssl_lr", r["lr"])  # SSL has its own learning rate in the digits recipes
            if f.name == "pretrained" and value == "default":  # the recipe's weights, for the recipe's kind of network
                model = given["model"] or r["model"]
                value = r["pretrained"] if str(model).startswith("deeplab") else None
            if f.name == "min_steps" and value is None and given["augment"] == "none":
                value = r.get("min_steps_none")  # unaugmented runs converge in fewer steps (recipes.py)
            if value is None and f.name in r:
                value = r[f.name]
            out[f.name] = value
        if kind == "classification" and self.regime != "custom" and self.initial is None:
            out["initial"], out["step"], budget_cycles = regime_budget(recipe_dataset(self.dataset), self.regime)
            out["cycles"] = self.cycles if self.cycles is not None else budget_cycles
        if out["strategies"] is None:
            polygons = kind == "segmentation" and self.labeling == "polygon"
            out["strategies"] = ("random",) if polygons else default_strategies(kind)
        out["strategies"] = tuple(out["strategies"])
        _check_ssl(kind, given["ssl"], out["strategies"])
        if kind == "segmentation":
            out["ens_reduce"] = self.ens_reduce or "mean-entropy"
            out["data_options"] = dict(sorted(self.data_options.items()))
            _check_labeling(self.labeling, self.polygon_strategy)
            if self.labeling == "polygon" and out["strategies"] != ("random",):
                raise ValueError(f"labeling='polygon' picks images at random: strategies must be ('random',), "
                                 f"got {out['strategies']}")
            if self.labeling == "polygon" and out["polygon_strategy"] is None:
                out["polygon_strategy"] = "entropy"
        elif self.labeling != "image" or self.polygon_strategy is not None:
            raise ValueError("labeling and polygon_strategy apply only to segmentation datasets")
        return out

    def recipe(self, kind: str) -> dict:
        """The recipe this experiment's unset settings come from: its dataset's (a plug-in dataset:
        the built-in's it names, or the paper's with its dict of settings over it; its default
        model when it registered one)."""
        r = recipe(kind, recipe_dataset(self.dataset), self.regime if kind == "classification" else "custom")
        spec = dataset_spec(self.dataset)
        if spec is not None and not spec.builtin:
            r.update(spec.recipe if isinstance(spec.recipe, dict) else {})
            if spec.model is not None:
                r["model"] = spec.model
        return r

    def _validated(self, kind: str) -> dict:
        """Every setting checked by :func:`alkit.experiments.settings.validate` (the checks of the
        command line and of a sweep grid; :class:`~alkit.experiments.settings.SettingError` names
        the field). Returns the settings with ``ssl="none"`` read as ``None``; other values as given
        (the store key keeps ``20`` and ``20.0`` apart, as it always did)."""
        out = {}
        context = {"dataset": self.dataset}
        for f in fields(self):
            value = getattr(self, f.name)
            d = SETTINGS.get(f.name)
            if d is not None and kind in d.kinds:
                checked = validate(f.name, value, kind, context)
                if f.name == "ssl":
                    value = checked
            out[f.name] = value
        return out

    def build_task(self, data=None, progress: bool = False):
        """The task this experiment runs (loads the data unless ``data`` is given; segmentation
        also annotates the pool at the resolved tolerance)."""
        s = self.resolved()
        options = s.get("data_options", {})
        data = data if data is not None else load_dataset(self.dataset, self.data_root, self.download, **options)
        if self.kind == "classification":
            return ClassificationTask(data, model=s["model"], augment=s["augment"], ssl=s["ssl"], epochs=s["epochs"],
                                      min_steps=s["min_steps"], iterations=s["iterations"],
                                      batch_size=s["batch_size"], unlabelled_batch=s["unlabelled_batch"], lr=s["lr"],
                                      ensemble_size=s["ensemble_size"], device=self.device,
                                      pretrained=s.get("pretrained"),
                                      ssl_options=ssl_options(recipe_dataset(self.dataset), s["ssl"]))
        # the dataset's recipe with this experiment's settings over it: every training setting the task reads
        training = {**self.recipe("segmentation"), **{k: s[k] for k in ("tolerance", "model", "pretrained", "epochs",
                                                                        "lr", "batch_size", "threshold",
                                                                        "ensemble_size", "iterations")}}
        kw = dict(recipe=training, preview=s["preview"], ens_reduce=s["ens_reduce"], ssl=s["ssl"], device=self.device,
                  progress=progress)
        if s["labeling"] == "polygon":
            return PolygonSegmentationTask(data, polygon_strategy=s["polygon_strategy"], **kw)
        return SegmentationTask(data, **kw)

    def store_config(self, strategy: str, task) -> dict:
        """What determines one strategy's results (its results-store key): the resolved settings
        that reach the task, the content fingerprint of the task's data and, for a user strategy,
        the hash of its code. Settings a strategy cannot read are left out (e.g. the ensemble size
        for single-model strategies), so changing them reuses its cycles."""
        kind = self.kind
        spec = get_strategy(strategy, task=kind)
        cfg = {k: v for k, v in self.resolved().items() if k not in RUNTIME + KEY_FREE}
        # the experiment's model name when it names one (e.g. a pre-trained network built by a factory)
        cfg.update(task=kind, strategy=strategy, data=data_fingerprint(task.data), model=self.model or task.model_name)
        if kind == "classification":
            for k in (("epochs", "min_steps") if cfg["ssl"] else ("iterations", "unlabelled_batch")):
                cfg.pop(k)
            if getattr(task, "ssl_options", None) and cfg["ssl"]:  # the paper recipe's SSL options
                cfg["ssl_options"] = dict(sorted(task.ssl_options.items()))
        else:
            cfg.update(tolerance=task.tolerance, pretrained=task.pretrained, lr=task.lr, epochs=task.epochs,
                       crop=task.crop_size, scale=list(task.scale_range), head_lr_mult=task.head_lr_mult)
            if cfg["labeling"] == "image":  # image-level keys as before polygon-level labelling existed
                cfg.pop("labeling"), cfg.pop("polygon_strategy")
            cfg.pop("ens_reduce")  # only ensemble strategies read it (added below)
            if cfg["ssl"] is None:  # supervised keys as before s4GAN existed
                cfg.pop("ssl"), cfg.pop("iterations")
            else:
                cfg.update(iterations=task.iterations, s4gan=dict(sorted(task.s4gan.items())))
                cfg.pop("batch_size")  # s4GAN trains with its own batch size
                if task.iterations is not None:  # else the iterations follow the epochs
                    cfg.pop("epochs")
            if strategy == "random" and cfg.get("polygon_strategy") != "entropy":
                cfg.pop("threshold")
            if spec.trains == "lossnet":
                cfg["ll_weight"] = task.ll_weight
        if kind == "classification" and spec.trains == "dropout":  # BALD trains with dropout
            cfg["train_dropout"] = BALD_DROPOUT
        if spec.members == "ensemble":
            if kind == "segmentation":
                cfg["ens_reduce"] = task.ens_reduce
        else:
            cfg.pop("ensemble_size")
        if not spec.builtin:
            cfg["strategy_code"] = spec.code_hash
        return cfg


def run(exp: Experiment, *, task=None, store_root=None, progress: bool = True, with_selected: bool = False,
        workers: int | None = None, executor=None, bar=None) -> pd.DataFrame:
    """Run (or load) every strategy x trial of ``exp``; one row per (strategy, trial, cycle).

    Classification columns: dataset, augment, ssl, regime, strategy, trial, cycle, n_labelled,
    cost, accuracy, seconds. Segmentation: dataset, tolerance, strategy, trial, cycle, n_images,
    budget (nominal clicks B_i + cycle x B_s, the x axis of the paper's curves), n_clicks (clicks
    spent, at most one image's cost above the budget), miou, seconds (and ``preview``). With
    ``with_selected`` also ``selected`` (pool indices labelled for that cycle, in pick order).
    Polygon-level runs (``labeling="polygon"``, :mod:`alkit.tasks.polygon_segmentation`) add
    labeling, polygon_strategy, n_items (whole images of cycle 0 + single polygons) in place of
    n_images, which then counts the images with any labelled pixel, and n_complete; their strategy
    reads ``random-image-entropy-polygon`` / ``random-image-random-polygon``.

    The (strategy, trial) units run in ``workers`` parallel processes (default ``exp.workers``,
    else one per core on the CPU); a ``task`` that cannot be pickled (one holding a closure, or a
    strategy defined in a notebook cell) runs them in this process. ``executor``: any
    ``submit``-style executor to run the units on instead; ``bar``: a tqdm bar to count cycles into
    (see :func:`alkit.experiments.runner.run_units`). A tqdm bar counts cycles.

    ``exp.trials == "auto"``: trials are added until the claims are decided, at most
    ``exp.max_trials`` per strategy (:func:`alkit.experiments.auto.run_auto`, which calls this
    function with whole numbers of trials).
    """
    if exp.trials == "auto":
        return _run_auto(exp, task=task, store_root=store_root, progress=progress, with_selected=with_selected,
                         workers=workers, executor=executor, bar=bar)
    p = plan(exp, task=task, store_root=store_root)
    workers = workers if workers is not None else exp.workers
    if (executor is not None or workers != 1) and not picklable(p.task):
        executor, workers = None, 1  # a closure cannot travel: run in this process
    with shared_fits(exp, p, local=executor is None or isinstance(executor, ProcessPoolExecutor)):
        per_unit = run_units(p.task, p.units, workers=workers, executor=executor, progress=progress, desc=p.desc,
                             bar=bar)
    return collect(p, per_unit, with_selected=with_selected)


# Settings that change what a strategy scores or records but not a plain training: left out of the
# fit-cache signature so runs that differ only there share their trainings (the segmentation task
# keys each training by its target masks as well, so polygon-level labelling shares only the
# trainings whose masks are the same: cycle 0's whole images).
NOT_TRAINING = ("preview", "threshold", "ens_reduce", "labeling", "polygon_strategy")
# A fit-cache folder to use instead of one per run (``alkit reproduce`` sets it for the prefetch and
# the notebooks' kernels, so a notebook's own run finds the cycle-0 networks the prefetch trained).
FIT_CACHE_ENV = "ALKIT_FIT_CACHE"


def fit_signature(store_config: dict) -> str:
    """The training settings of a results-store config, as the fit cache keys them: without the
    strategy, the settings that do not change a training (:data:`NOT_TRAINING`) and an ensemble's
    size (its first member trains as a single model does). Two units whose signatures, trial and
    initial budget agree train the same plain cycle-0 network."""
    return json.dumps({k: v for k, v in store_config.items() if k not in ("strategy", "ensemble_size", *NOT_TRAINING)},
                      sort_keys=True, default=str)


@contextmanager
def shared_fits(exp: Experiment, p: "Plan", *, local: bool = True, folder: str | os.PathLike | None = None):
    """While the units of ``p`` run, its task keeps plain trainings in a :class:`FitCache`, so the
    strategies of the run train each shared network once (cycle 0: every strategy starts from the
    same initial set and seed). The folder is ``folder``, else ``$ALKIT_FIT_CACHE``, else a fresh
    one in the results store removed afterwards (a given folder is left for its owner to remove).
    Only for workers that see this machine's disk (``local``: worker processes here)."""
    if not local or not hasattr(p.task, "fit_cache") or not p.units:
        yield
        return
    given = folder or os.environ.get(FIT_CACHE_ENV) or None
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(p.units[0].store_root)
        root.mkdir(parents=True, exist_ok=True)
        folder = tempfile.mkdtemp(prefix=".fits-", dir=root)
    p.task.fit_cache = FitCache(folder, fit_signature(exp.store_config("random", p.task)))
    try:
        yield
    finally:
        p.task.fit_cache = None
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Plan:
    """The units of one experiment (:func:`plan`): ``units`` in (strategy, trial) order, each with
    its results-store key; ``task`` runs them; ``settings`` are the resolved settings; ``desc``
    names the experiment on a progress bar."""

    exp: Experiment
    settings: dict
    task: object
    units: list
    desc: str


def plan(exp: Experiment, *, task=None, store_root=None) -> Plan:
    """Plan ``exp``: its resolved settings, its task (built unless given) and one
    :class:`~alkit.experiments.runner.Unit` per (strategy, trial), with its store key under
    ``store_root`` (default :func:`alkit.paths.runs_dir`). Checks the budget against the pool
    (``ValueError``) before anything runs. Execute the units with
    :func:`alkit.experiments.runner.run_units` (any executor) and turn their records into a frame
    with :func:`collect`: :func:`run` is these three calls."""
    s = exp.resolved()
    kind = exp.kind
    strategies = [check_strategy(name, task=kind) for name in s["strategies"]]
    task = task if task is not None else exp.build_task()
    if kind == "classification":
        meta = dict(dataset=exp.dataset, augment=s["augment"], ssl=s["ssl"] or "none", regime=s["regime"])
        metric, desc = "accuracy", f"{exp.dataset}/{s['augment']}{'/' + s['ssl'] if s['ssl'] else ''}"
    else:
        meta = dict(dataset=exp.dataset, tolerance=task.tolerance, ssl=s["ssl"] or "none")
        metric, desc = "miou", f"{exp.dataset} (clicks{', ' + s['ssl'] if s['ssl'] else ''})"
        if s["labeling"] == "polygon":
            _check_polygon_run(s, task)
            meta.update(labeling="polygon", polygon_strategy=s["polygon_strategy"])
            desc = f"{exp.dataset} (clicks, {s['polygon_strategy']} polygons)"
    check_budget(task, s["initial"], s["step"], s["cycles"])
    root = str(store_root if store_root is not None else runs_dir())
    units = [Unit(strategy=name, trial=t, initial=s["initial"], step=s["step"], cycles=s["cycles"], seed=s["seed"],
                  metric=metric, store_root=root, store_config=exp.store_config(name, task), meta=dict(meta))
             for name in strategies for t in range(s["trials"])]
    return Plan(exp=exp, settings=s, task=task, units=units, desc=desc)


def collect(p: Plan, per_unit: list[list[dict]], *, with_selected: bool = False) -> pd.DataFrame:
    """The frame of :func:`run` from the records of each unit of ``p`` (in the order of
    ``p.units``): budgets in clicks and polygon-level names for segmentation."""
    s, kind = p.settings, p.exp.kind
    df = records_frame([rec for recs in per_unit for rec in recs], with_selected=with_selected)
    if kind == "segmentation" and s["labeling"] == "polygon":
        # items = whole images (cycle 0) + single polygons; n_images (images with any label) comes from the task
        df = df.rename(columns={"n_labelled": "n_items", "cost": "n_clicks"})
        df["strategy"] = [polygon_run_name(name, s["polygon_strategy"]) for name in df["strategy"]]
        df.insert(df.columns.get_loc("n_clicks"), "budget", s["initial"] + s["step"] * df["cycle"])
    elif kind == "segmentation":
        df = df.rename(columns={"n_labelled": "n_images", "cost": "n_clicks"})
        df.insert(df.columns.get_loc("n_clicks"), "budget", s["initial"] + s["step"] * df["cycle"])
    return df


def _run_auto(exp: Experiment, *, executor=None, progress: bool = True, **run_kwargs) -> pd.DataFrame:
    """``trials="auto"``: hand the experiment to :func:`alkit.experiments.auto.run_auto` (imported
    here: an optional piece), which runs its rounds through :func:`run`."""
    try:
        from alkit.experiments.auto import run_auto
    except ImportError as e:
        if getattr(e, "name", None) != "alkit.experiments.auto":
            raise
        raise ValueError("trials='auto' needs alkit.experiments.auto (adaptive trials), which this "
                         "installation lacks; give a whole number of trials") from None
    return run_auto(exp, run=run, max_trials=exp.max_trials, executor=executor, progress=progress, **run_kwargs)


def _check_labeling(labeling: str, polygon_strategy: str | None) -> None:
    """``ValueError`` for a labelling regime or polygon strategy alkit does not know, or a polygon
    strategy without polygon-level labelling."""
    if labeling not in LABELINGS:
        raise ValueError(f"unknown labeling {labeling!r}; choose from {', '.join(LABELINGS)}")
    if polygon_strategy is not None:
        if labeling != "polygon":
            raise ValueError("polygon_strategy applies only to labeling='polygon'")
        if polygon_strategy not in POLYGON_STRATEGIES:
            raise ValueError(f"unknown polygon_strategy {polygon_strategy!r}; "
                             f"choose from {', '.join(POLYGON_STRATEGIES)}")


def _check_polygon_run(s: dict, task) -> None:
    """A polygon-level run cannot spend more clicks than labelling every pool image once."""
    if not hasattr(task, "max_spend"):
        raise ValueError("labeling='polygon' needs the experiment's polygon-level task (exp.build_task())")
    need = s["initial"] + s["step"] * s["cycles"]
    if need > task.max_spend():
        raise ValueError(f"budget {s['initial']:g} + {s['cycles']} x {s['step']:g} = {need:g} exceeds the pool of "
                         f"{task.name} (total cost {task.max_spend():g})")


def _check_ssl(kind: str, ssl: str | None, strategies) -> None:
    """``ValueError`` for an ssl method the kind of task has no trainer for (s4GAN is segmentation's,
    UDA classification's) or SSL-D-score without s4GAN (it ranks by the s4GAN discriminator)."""
    if ssl is not None and ssl not in SSL_BY_KIND[kind]:
        other = [k for k, v in SSL_BY_KIND.items() if ssl in v]
        where = f" ({ssl} is for {other[0]} datasets)" if other else ""
        raise ValueError(f"unknown ssl method {ssl!r} for {kind}{where}; choose from none, {', '.join(SSL_BY_KIND[kind])}")
    if "d-score" in strategies and ssl != "s4gan":
        raise ValueError("strategy 'd-score' ranks by the s4GAN discriminator: it needs ssl='s4gan'")
