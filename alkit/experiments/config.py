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

from dataclasses import dataclass, field, fields

import pandas as pd

from alkit.experiments.recipes import REGIMES, recipe, regime_budget  # noqa: F401  (re-exported)

# Settings that say where and how a run executes, never what it computes (not in the store key).
RUNTIME = ("data_root", "download", "device", "workers")
# Settings that only one kind of task reads.
CLASSIFICATION_ONLY = ("augment", "ssl", "min_steps", "iterations", "unlabelled_batch", "regime")
SEGMENTATION_ONLY = ("tolerance", "threshold", "data_options", "preview")


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
    trials: int = 3
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
    ssl: str | None = None  # None | "uda" | "fixmatch"
    min_steps: int | None = None
    iterations: int | None = None  # UDA iterations per cycle
    unlabelled_batch: int | None = None
    # segmentation
    tolerance: float | None = None  # polygon tolerance of the annotator, px
    # segmentation: the backbone's weights ("default" = the recipe's); classification: None or "glyphs"
    # (the small CNN pre-trained on the synthetic glyph set, alkit.engine.train.pretrain)
    pretrained: str | None = "default"
    threshold: float | None = None  # normalised-entropy threshold of Entropy / ENS-ent
    data_options: dict = field(default_factory=dict)
    preview: int = 0
    # runtime only
    data_root: str | None = field(default=None, compare=False)
    download: bool = field(default=False, compare=False)
    device: str | None = field(default=None, compare=False)
    workers: int | None = field(default=None, compare=False)  # parallel units (None: one per core)

    @property
    def kind(self) -> str:
        """``"classification"`` or ``"segmentation"`` (from the dataset)."""
        from alkit.engine.data import dataset_kind

        return dataset_kind(self.dataset)

    def resolved(self) -> dict:
        """Every setting of this experiment with the recipe's values filled in, the ones that do
        not apply to its kind of task dropped."""
        kind = self.kind
        r = recipe(kind, self.dataset, self.regime if kind == "classification" else "custom")
        out = {}
        for f in fields(self):
            if f.name in (SEGMENTATION_ONLY if kind == "classification" else CLASSIFICATION_ONLY):
                continue
            value = getattr(self, f.name)
            if f.name == "pretrained" and kind == "classification":
                if value not in (None, "default"):  # in the key only when set: older runs keep their keys
                    out[f.name] = value
                continue
            if f.name == "lr" and value is None and kind == "classification" and self.ssl:
                value = r.get("ssl_lr", r["lr"])  # SSL has its own learning rate in the digits recipes
            if value is None and f.name in r:
                value = r[f.name]
            out[f.name] = value
        if kind == "classification" and self.regime != "custom" and self.initial is None:
            out["initial"], out["step"], budget_cycles = regime_budget(self.dataset, self.regime)
            out["cycles"] = self.cycles if self.cycles is not None else budget_cycles
        if out["strategies"] is None:
            from alkit.strategies import default_strategies

            out["strategies"] = default_strategies(kind)
        out["strategies"] = tuple(out["strategies"])
        if kind == "segmentation":
            out["data_options"] = dict(sorted(self.data_options.items()))
        return out

    def build_task(self, data=None, progress: bool = False):
        """The task this experiment runs (loads the data unless ``data`` is given; segmentation
        also annotates the pool at the resolved tolerance)."""
        from alkit.engine.data import load_dataset

        s = self.resolved()
        options = s.get("data_options", {})
        data = data if data is not None else load_dataset(self.dataset, self.data_root, self.download, **options)
        if self.kind == "classification":
            from alkit.tasks.classification import ClassificationTask

            return ClassificationTask(data, model=s["model"], augment=s["augment"], ssl=s["ssl"], epochs=s["epochs"],
                                      min_steps=s["min_steps"], iterations=s["iterations"],
                                      batch_size=s["batch_size"], unlabelled_batch=s["unlabelled_batch"], lr=s["lr"],
                                      ensemble_size=s["ensemble_size"], device=self.device,
                                      pretrained=s.get("pretrained"))
        from alkit.tasks.segmentation import SegmentationTask

        return SegmentationTask(data, tolerance=s["tolerance"], model=s["model"], pretrained=s["pretrained"],
                                epochs=s["epochs"], lr=s["lr"], batch_size=s["batch_size"],
                                threshold=s["threshold"], ensemble_size=s["ensemble_size"], preview=s["preview"],
                                device=self.device, progress=progress)

    def store_config(self, strategy: str, task) -> dict:
        """What determines one strategy's results (its results-store key): the resolved settings
        that reach the task, the content fingerprint of the task's data and, for a user strategy,
        the hash of its code. Settings a strategy cannot read are left out (e.g. the ensemble size
        for single-model strategies), so changing them reuses its cycles."""
        from alkit.experiments.fingerprint import data_fingerprint
        from alkit.strategies import get_strategy

        kind = self.kind
        spec = get_strategy(strategy, task=kind)
        cfg = {k: v for k, v in self.resolved().items() if k not in RUNTIME + ("strategies", "trials")}
        # the experiment's model name when it names one (e.g. a pre-trained network built by a factory)
        cfg.update(task=kind, strategy=strategy, data=data_fingerprint(task.data), model=self.model or task.model_name)
        if kind == "classification":
            for k in (("epochs", "min_steps") if self.ssl else ("iterations", "unlabelled_batch")):
                cfg.pop(k)
        else:
            cfg.update(tolerance=task.tolerance, pretrained=task.pretrained, lr=task.lr, epochs=task.epochs,
                       crop=task.crop_size, scale=list(task.scale_range), head_lr_mult=task.head_lr_mult)
            if strategy == "random":
                cfg.pop("threshold")
            if spec.trains == "lossnet":
                cfg["ll_weight"] = task.ll_weight
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

    The (strategy, trial) units run in ``workers`` parallel processes (default ``exp.workers``,
    else one per core on the CPU); a ``task`` that cannot be pickled (one holding a closure, or a
    strategy defined in a notebook cell) runs them in this process. ``executor``: any
    ``submit``-style executor to run the units on instead; ``bar``: a tqdm bar to count cycles into
    (see :func:`alkit.experiments.runner.run_units`). A tqdm bar counts cycles.
    """
    from alkit.experiments.runner import picklable
    from alkit.experiments.store import records_frame
    from alkit.paths import runs_dir
    from alkit.protocol.loop import run_grid
    from alkit.strategies import check_strategy

    s = exp.resolved()
    kind = exp.kind
    strategies = [check_strategy(name, task=kind) for name in s["strategies"]]
    task = task if task is not None else exp.build_task()
    workers = workers if workers is not None else exp.workers
    if (executor is not None or workers != 1) and not picklable(task):
        executor, workers = None, 1  # a closure cannot travel: run in this process
    configs = {name: exp.store_config(name, task) for name in strategies}
    if kind == "classification":
        meta = dict(dataset=exp.dataset, augment=s["augment"], ssl=s["ssl"] or "none", regime=s["regime"])
        metric, desc = "accuracy", f"{exp.dataset}/{s['augment']}{'/' + s['ssl'] if s['ssl'] else ''}"
    else:
        meta = dict(dataset=exp.dataset, tolerance=task.tolerance)
        metric, desc = "miou", f"{exp.dataset} (clicks)"
    records = run_grid(task, strategies, trials=s["trials"], initial=s["initial"], step=s["step"],
                       cycles=s["cycles"], seed=s["seed"],
                       store_root=store_root if store_root is not None else runs_dir(),
                       store_config_for=configs.get, meta=meta, metric=metric, desc=desc, progress=progress,
                       workers=workers, executor=executor, bar=bar)
    df = records_frame(records, with_selected=with_selected)
    if kind == "segmentation":
        df = df.rename(columns={"n_labelled": "n_images", "cost": "n_clicks"})
        df.insert(df.columns.get_loc("n_clicks"), "budget", s["initial"] + s["step"] * df["cycle"])
    return df

