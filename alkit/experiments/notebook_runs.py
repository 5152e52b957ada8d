"""What each numbered notebook runs, as data: its parameters (the ``parameters`` cell under a
preset) and the :class:`~alkit.experiments.config.Experiment` objects its code cells build.

Used by ``alkit reproduce --plan`` (the cost of a run before it starts, :mod:`alkit.experiments.cost_plan`)
and by the data check of ``alkit reproduce`` (every dataset a notebook reads, checked before any
notebook starts). Nothing here loads data or trains.

The builders below mirror the notebooks' code cells line for line (the cell ids are named in each
docstring); ``tests/test_plan.py`` executes those cells with :func:`alkit.experiments.config.run`
replaced by a recorder and checks that the notebook builds exactly the experiments listed here.
A notebook whose runs change must change its builder here too (that test then says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alkit.experiments.config import Experiment
from alkit.experiments.notebook_files import parameter_defaults, preset_parameters, resolve_notebook  # noqa: F401 (re-exported)
from alkit.experiments.recipes import DIGITS_CYCLES, classification_settings, regime_budget


@dataclass
class PlannedRun:
    """One ``run(...)`` of a notebook (or one extra training outside ``run``): ``exp`` holds its
    settings; ``strategies`` the names it runs (``exp.strategies`` unless a strategy is defined in
    the notebook itself); ``model`` overrides the network for costing (a pre-trained network
    registered inside the notebook); ``stored``: its cycles go to the results store (False: a
    demonstration fit whose result is not kept); ``first_cycle_only``: one training on the initial
    set, no queries."""

    label: str
    exp: Experiment
    strategies: tuple = ()
    model: str | None = None
    stored: bool = True
    first_cycle_only: bool = False

    def __post_init__(self):
        if not self.strategies:
            self.strategies = tuple(self.exp.strategies or ())


@dataclass
class NotebookRuns:
    """Everything one notebook runs at one preset: its ``runs``, the datasets it reads
    (``datasets``: every one needed; ``any_of``: at least one of these, the rest skipped),
    the data root it reads them from, and notes (work that is not SGD, e.g. annotation)."""

    stem: str
    preset: str
    params: dict
    runs: list = field(default_factory=list)
    datasets: list = field(default_factory=list)
    any_of: list = field(default_factory=list)
    data_root: str | None = None
    notes: list = field(default_factory=list)


def notebook_parameters(notebook: str | Path, preset: str, overrides: dict | None = None) -> dict:
    """The parameters a notebook runs with under ``preset``: its defaults, then the preset file's
    values, then ``overrides`` (what papermill's ``-p`` would set)."""
    params = parameter_defaults(notebook)
    params.update(preset_parameters(Path(notebook), preset))
    params.update(overrides or {})
    return params


def notebook_runs(notebook: str | Path, preset: str = "default", overrides: dict | None = None) -> NotebookRuns:
    """The runs, datasets and notes of one notebook at ``preset`` (see the module docstring)."""
    nb = resolve_notebook(str(notebook)) if not Path(notebook).exists() else Path(notebook)
    p = notebook_parameters(nb, preset, overrides)
    number = nb.stem.split("_")[0]
    out = NotebookRuns(stem=nb.stem, preset=preset, params=p, data_root=p.get("data_root") or None)
    BUILDERS[number](p, out)
    if not out.datasets and not out.any_of:
        out.datasets = _unique(r.exp.dataset for r in out.runs)
    return out


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _regime_budget(p: dict, ssl_cycles: bool = False):
    """(initial, step, cycles) as cell-03 of notebooks 01/02 computes them."""
    initial, step, cycles = p["initial"], p["step"], p["cycles"]
    if p["regime"] != "custom":
        initial, step, _ = regime_budget(p["dataset"], p["regime"])
        cycles = classification_settings(p["dataset"], p["regime"])["cycles"] if cycles is None else cycles
    return initial, step, cycles


def _nb00(p: dict, out: NotebookRuns) -> None:
    """00_quickstart cells cell-10 (one demonstration fit of Entropy on the initial set) and cell-15."""
    exp = Experiment(dataset=p["dataset"], strategies=tuple(p["strategies"]), augment=p["augment"],
                     initial=p["initial"], step=p["step"], cycles=p["cycles"], trials=p["trials"],
                     epochs=p["epochs"], min_steps=p["min_steps"], seed=p["seed"], data_root=p["data_root"] or None)
    demo = Experiment(**{**_fields(exp), "strategies": ("entropy",), "trials": 1})
    out.runs += [PlannedRun("demonstration fit (cell-10)", demo, stored=False, first_cycle_only=True),
                 PlannedRun("strategies", exp)]


def _nb01(p: dict, out: NotebookRuns) -> None:
    """01_augmentation cells cell-03, cell-07 (one run per augmentation) and h2-train-code (an
    undertrained Random/Entropy run with paper augmentation)."""
    initial, step, cycles = _regime_budget(p)
    common = dict(dataset=p["dataset"], initial=initial, step=step, cycles=cycles, trials=p["trials"],
                  ensemble_size=p["ensemble_size"], model=p["model"] or None, seed=p["seed"], regime=p["regime"],
                  data_root=p["data_root"] or None, download=p["download"])
    for a in p["augments"]:
        out.runs.append(PlannedRun(f"augment={a}", Experiment(strategies=tuple(p["strategies"]), augment=a,
                                                              epochs=p["epochs"], min_steps=p["min_steps"], **common)))
    if "paper" in p["augments"] and {"random", "entropy"} <= set(p["strategies"]):
        undertrained = dict(epochs=30 if p["dataset"] == "digits" else max(1, p["epochs"] // 5), min_steps=0)
        out.runs.append(PlannedRun("undertrained Random/Entropy", Experiment(
            strategies=("random", "entropy"), augment="paper", **undertrained, **common)))


def _nb02(p: dict, out: NotebookRuns) -> None:
    """02_ssl_vs_al cells cell-03 and cell-07: raw X, then SSL-X per SSL method (the first method
    runs ``ssl_strategies``, the others those of them in ``other_ssl_strategies``)."""
    initial, step, cycles = _regime_budget(p)
    ssl_cycles = cycles if p["ssl_cycles"] is None else p["ssl_cycles"]
    strategies = p["strategies"]

    def family(names=None, **fields):
        return Experiment(dataset=p["dataset"], strategies=tuple(names or strategies), trials=p["trials"],
                          model=p["model"] or None, seed=p["seed"], regime=p["regime"], initial=initial, step=step,
                          data_root=p["data_root"] or None, download=p["download"], **fields)

    out.runs.append(PlannedRun("raw X", family(augment="paper", cycles=cycles, epochs=p["epochs"],
                                               min_steps=p["min_steps"], ensemble_size=p["ensemble_size"])))
    for i, method in enumerate(p["ssl_methods"]):
        ssl_names = p["ssl_strategies"]
        names = ssl_names if i == 0 else [s for s in ssl_names if s in p["other_ssl_strategies"]]
        out.runs.append(PlannedRun(f"SSL-X ({method})", family(
            names, augment="paper", ssl=method, cycles=ssl_cycles, iterations=p["iterations"],
            batch_size=p["ssl_batch_size"], unlabelled_batch=p["unlabelled_batch"], ensemble_size=p["ensemble_size"])))
    if p["teaser_without_aug"]:  # Fig. 1's AL without augmentation: notebook 01's runs (the store shares them)
        out.runs.append(PlannedRun("raw X, no augmentation", family(
            augment="none", cycles=cycles, epochs=p["epochs"], min_steps=p["min_steps"],
            ensemble_size=p["ensemble_size"])))


def _nb03(p: dict, out: NotebookRuns) -> None:
    """03_low_budget cells cell-03 and cell-07: ``strategies`` raw, ``ssl_strategies`` as SSL-X (UDA)."""
    initial, step, cycles = p["initial"], p["step"], p["cycles"]
    if p["regime"] != "custom":
        initial, step, regime_cycles = regime_budget(p["dataset"], p["regime"])
        cycles = regime_cycles if cycles is None else cycles
    for method in ("none", "uda"):
        fields = dict(augment="paper", cycles=cycles, initial=initial, step=step, ensemble_size=p["ensemble_size"])
        if method == "uda":
            fields.update(ssl="uda", iterations=p["iterations"], batch_size=p["ssl_batch_size"],
                          unlabelled_batch=p["unlabelled_batch"])
        else:
            fields.update(epochs=p["epochs"], min_steps=p["min_steps"])
        names = p["strategies"] if method == "none" else p["ssl_strategies"]
        exp = Experiment(dataset=p["dataset"], strategies=tuple(names), trials=p["trials"],
                         model=p["model"] or None, seed=p["seed"], regime=p["regime"],
                         data_root=p["data_root"] or None, download=p["download"], **fields)
        out.runs.append(PlannedRun("raw X" if method == "none" else "SSL-X (uda)", exp))


def _nb04(p: dict, out: NotebookRuns) -> None:
    """04_transfer_learning cells cell-03, cell-05 and cell-07, per regime: SSL-Random (UDA),
    supervised Random from scratch, the glyph-pre-trained CNN (digits) and the ImageNet ResNet-18
    (only when its weights are found or ``download_weights`` is set, as the notebook does; costed
    as ``imagenet-resnet18@<input_size>``)."""
    from alkit.engine.models.pretrained import find_weights

    dataset = p["dataset"]
    use_glyphs = p["glyph_pretraining"] and dataset == "digits"
    transfer = find_weights(p["weights_path"] or None) is not None or bool(p["download_weights"])
    for r in p["regimes"]:
        b_i, b_s = regime_budget(dataset, r)[:2]
        cycles = (DIGITS_CYCLES[r] if dataset == "digits" else 3) if p["cycles"] is None else p["cycles"]
        common = dict(dataset=dataset, strategies=("random",), augment="paper", initial=b_i, step=b_s, cycles=cycles,
                      trials=p["trials"], seed=p["seed"], regime=r, data_root=p["data_root"] or None,
                      download=p["download"])
        out.runs.append(PlannedRun(f"{r}: SSL-Random (uda)", Experiment(
            ssl="uda", iterations=p["iterations"], batch_size=p["ssl_batch_size"],
            unlabelled_batch=p["unlabelled_batch"], **common)))
        out.runs.append(PlannedRun(f"{r}: scratch", Experiment(min_steps=p["min_steps"], **common)))
        if use_glyphs:
            out.runs.append(PlannedRun(f"{r}: glyphs", Experiment(pretrained="glyphs", min_steps=p["min_steps"],
                                                                   **common)))
        if transfer:
            out.runs.append(PlannedRun(f"{r}: transfer (ImageNet ResNet-18)", Experiment(
                epochs=p["finetune_epochs"], lr=p["finetune_lr"], min_steps=p["min_steps"], **common),
                model=f"imagenet-resnet18@{p['input_size']}"))
    if use_glyphs:
        out.notes.append("glyph pre-training of the small CNN once (seconds; cached in outputs/pretrained/)")
    if not transfer:
        out.notes.append("ImageNet ResNet-18 weights not found: the notebook skips the transfer runs and so does "
                         "the plan (set weights_path, or download_weights: true, to run and count them)")


def _nb05(p: dict, out: NotebookRuns) -> None:
    """05_annotation_cost: no training; the annotator runs over ``n_images`` masks per tolerance."""
    out.datasets = [p["dataset"]]
    out.notes.append(f"no training: the polygon annotator over {p['n_images']} {p['dataset']} masks at "
                     f"{len(p['tolerances'])} tolerances")


def _seg_common(p: dict) -> tuple[dict, object]:
    """Data options and weights as cell-03 of notebooks 06/07 compute them."""
    if p["dataset"] == "shapes":
        options = dict(n_train=p["n_train"], n_val=p["n_val"])
    else:
        options = {k: v for k, v in dict(max_train=p["max_train"] or None, max_val=p["max_val"] or None).items() if v}
    weights = {"default": "default", "none": None}.get(p["pretrained"], p["pretrained"])
    return options, weights


def _imagenet_note(exp: Experiment, out: NotebookRuns) -> None:
    """A note when a DeepLab backbone's ImageNet weights are not in torchvision's cache (torchvision
    downloads them, ~170 MB, when the first model is built: that needs internet)."""
    s = exp.resolved()
    if s.get("pretrained") != "imagenet" or not str(s.get("model", "")).startswith("deeplabv2-resnet"):
        return
    import os

    import torch
    from torchvision.models import ResNet50_Weights, ResNet101_Weights

    w = ResNet101_Weights if s["model"].endswith("101") else ResNet50_Weights
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(w.IMAGENET1K_V1.url))
    if not os.path.isfile(cached):
        out.notes.append(f"ImageNet {s['model'].split('-')[1]} weights not cached ({cached}): torchvision "
                         "downloads them on first use (needs internet)")


def _nb06(p: dict, out: NotebookRuns) -> None:
    """06_segmentation_al cells cell-03 and cell-07: every strategy, image-level labels."""
    options, weights = _seg_common(p)
    out.runs.append(PlannedRun("strategies", Experiment(
        dataset=p["dataset"], strategies=tuple(p["strategies"]), initial=p["initial"], step=p["step"],
        cycles=p["cycles"], trials=p["trials"], tolerance=p["tolerance"], epochs=p["epochs"], model=p["model"] or None,
        pretrained=weights, threshold=p["threshold"], ensemble_size=p["ensemble_size"], seed=p["seed"],
        data_options=options, preview=p["preview_images"], data_root=p["data_root"] or None, download=p["download"])))
    _imagenet_note(out.runs[-1].exp, out)


def _nb07(p: dict, out: NotebookRuns) -> None:
    """07_segmentation_ssl cells 06e6e9f1 and 923970a0: ``raw_strategies`` image-level without SSL
    (notebook 06's runs), Random and D-score with s4GAN, polygon-level labelling raw (and with s4GAN
    when ``ssl_polygons``)."""
    options, weights = _seg_common(p)
    common = dict(dataset=p["dataset"], initial=p["initial"], step=p["step"], cycles=p["cycles"], trials=p["trials"],
                  tolerance=p["tolerance"], epochs=p["epochs"], model=p["model"] or None, pretrained=weights,
                  seed=p["seed"], data_options=options, data_root=p["data_root"] or None, download=p["download"])
    it = p["iterations"] or None
    out.runs.append(PlannedRun("raw image-level", Experiment(strategies=tuple(p["raw_strategies"]),
                                                             preview=p["preview_images"], **common)))
    out.runs.append(PlannedRun("SSL image-level", Experiment(strategies=("random", "d-score"), ssl="s4gan",
                                                             iterations=it, **common)))
    _imagenet_note(out.runs[0].exp, out)
    for ps in p["polygon_strategies"]:
        out.runs.append(PlannedRun(f"raw {ps} polygons", Experiment(labeling="polygon", polygon_strategy=ps, **common)))
        if p["ssl_polygons"]:
            out.runs.append(PlannedRun(f"SSL {ps} polygons", Experiment(labeling="polygon", polygon_strategy=ps,
                                                                        ssl="s4gan", iterations=it, **common)))


def _nb08(p: dict, out: NotebookRuns) -> None:
    """08_your_strategy cells fb60f1b9 and af03676b: ``alkit.evaluate``'s protocol for the
    notebook's own strategy (costed as one single-model strategy, like Margin)."""
    for r in protocol_runs([p["strategy_name"]], p["preset"], p["data_root"] or None, p["trials"]):
        out.runs.append(r)
    if p["preset"] == "paper":
        out.any_of = ["cifar10", "cifar100"]
    out.data_root = p["data_root"] or None


def protocol_runs(strategies, preset: str, data_root=None, trials=None, datasets=None) -> list[PlannedRun]:
    """The cells of ``alkit evaluate`` (:func:`alkit.experiments.evaluate.protocol_cells`) as
    planned runs. ``datasets``: the datasets to plan for (default: at ``paper`` both CIFARs, whether
    present or not, so the plan shows what fetching them would cost; else digits)."""
    from alkit.experiments import evaluate as E

    if datasets is None:
        datasets = ["cifar10", "cifar100"] if preset == "paper" else E.available_datasets(preset, data_root)
    names = tuple(s for s in strategies if s != "random")
    runs = []
    for dataset in datasets:  # the loop of protocol_cells, over the datasets given
        for regime in ("high", "low"):
            for augment in ("none", "paper"):
                st = E._scaled(classification_settings(dataset, regime, augment=augment), preset, trials)
                runs.append(PlannedRun(f"{dataset} / {regime} budget / augment={augment}",
                                       Experiment(strategies=("random",), data_root=data_root, **st),
                                       strategies=("random",) + names))
            st = E._scaled(classification_settings(dataset, regime, ssl="uda", augment="paper"), preset, trials)
            runs.append(PlannedRun(f"{dataset} / {regime} budget / SSL-Random (UDA)",
                                   Experiment(strategies=("random",), data_root=data_root, **st)))
    return runs


def _nb09(p: dict, out: NotebookRuns) -> None:
    """09_why_al_fails: the stored runs of the notebooks it measures (``notebooks``, default 01 and
    03, at ``preset_runs``; not notebook 01's undertrained run), read with their picks; then notebook
    03's raw low-budget run with Random, the ``debiased`` strategies and their debiased versions."""
    for stem in p["notebooks"]:
        for r in notebook_runs(stem, p["preset_runs"]).runs:
            if r.stored and r.model is None and "undertrained" not in r.label:
                out.runs.append(PlannedRun(f"{stem[:2]}: {r.label}", r.exp, strategies=r.strategies))
    low = next(r for r in notebook_runs("03_low_budget", p["preset_runs"]).runs if r.label == "raw X").exp
    names = ("random", *p["debiased"], *[f"debiased-{s}" for s in p["debiased"]])
    out.runs.append(PlannedRun("low budget, raw: debiased vs raw", Experiment(**{**_fields(low), "strategies": names})))
    if p.get("oracle"):
        out.notes.append(f"greedy oracle: {p['oracle']} trial(s) x {len(p['oracle_proposals'])} trainings per "
                         f"query cycle in the low-budget setting (not counted above)")


def _fields(exp: Experiment) -> dict:
    from dataclasses import fields

    return {f.name: getattr(exp, f.name) for f in fields(exp)}


BUILDERS = {"00": _nb00, "01": _nb01, "02": _nb02, "03": _nb03, "04": _nb04, "05": _nb05, "06": _nb06,
            "07": _nb07, "08": _nb08, "09": _nb09}
