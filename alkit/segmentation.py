"""The semantic-segmentation task of the paper (Sec. 4): budgets in clicks, not images.

:class:`SegmentationTask` implements the :class:`alkit.loop.Task` protocol:

* ``pool_costs``: clicks the simulated annotator (:mod:`alkit.annotation`) needs for each pool
  image at the chosen polygon tolerance (at least 1: confirming an empty image is a click);
* ``initial_order``: a random order (the paper labels random whole images until B_i is spent);
* ``fit``: fresh network(s) trained on the **approximated** masks of the labelled images —
  ``ensemble_size`` members for ENS-ent, a network + loss-prediction module for LL;
* ``evaluate``: ``{"miou": ...}`` on the **true** validation masks;
* ``rank``: every unlabelled image, best first, by the strategy's score
  (:mod:`alkit.strategies.segmentation`); the loop then takes images in that order until the
  step budget in clicks is spent (overshooting by less than the last image's cost).

Recipes per dataset (``DATASET_DEFAULTS``): ``shapes`` trains the small network from scratch at
lr 0.05 with 64x64 crops and tolerance 2 px (the tolerance that keeps ~95 % mIoU on 64 px scenes,
as 10 px does on VOC); ``voc`` and folder datasets use the paper's DeepLab-v2 recipe.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np
import torch

from .annotation import annotate_many, tolerance_sweep
from .data.seg_folder import SegmentationDataset
from .strategies import segmentation as seg_scores
from .train.common import pick_device, prepare_model
from .train.segmentation import evaluate_segmentation, iterate_predictions, train_segmentation

DATASET_DEFAULTS = {
    "shapes": dict(model="small-seg", pretrained=None, lr=0.05, head_lr_mult=1.0, crop_size=64,
                   scale_range=(0.75, 1.25), epochs=30, tolerance=2.0),
    "paper": dict(model="deeplabv2-resnet101", pretrained="imagenet", lr=2.5e-4, head_lr_mult=10.0,
                  crop_size=321, scale_range=(0.5, 1.5), epochs=150, tolerance=10.0),
}


def recipe(dataset_name: str) -> dict:
    """Training/annotation defaults for a dataset: ``shapes`` or the paper's (VOC, folders)."""
    return dict(DATASET_DEFAULTS["shapes" if dataset_name == "shapes" else "paper"])


def load_segmentation_dataset(name, data_root=None, download: bool = False, **options) -> SegmentationDataset:
    """``"shapes"`` (options: n_train, n_val, size, seed), ``"voc"`` (options: max_train, max_val,
    prefer_aug; read from ``<data_root>/VOCdevkit``) or a path to a generic folder (options of
    :func:`alkit.data.seg_folder.load_seg_folder`)."""
    from pathlib import Path

    from .paths import data_root as resolve_root

    if isinstance(name, SegmentationDataset):
        return name
    if name == "shapes":
        from .data.shapes import load_shapes

        return load_shapes(**options)
    if name == "voc":
        from .data.voc import load_voc

        return load_voc(resolve_root(data_root), download=download, **options)
    from .checks import did_you_mean, looks_like_path

    if looks_like_path(name) or Path(str(name)).expanduser().is_dir():
        from .data.seg_folder import load_seg_folder

        return load_seg_folder(name, **options)  # "folder not found: <name>" when it does not exist
    raise ValueError(f"unknown segmentation dataset {name!r}{did_you_mean(name, ('shapes', 'voc'))}; "
                     f"choose from shapes, voc, or a folder path")


@dataclass
class SegLearner:
    """Trained network(s) of one cycle: ``models[0]`` is evaluated; ``lossnet`` only for LL."""

    models: list
    lossnet: object = None
    info: dict = field(default_factory=dict)


def encode_preview(masks: np.ndarray) -> str:
    """uint8 ``[P, h, w]`` -> compact JSON-able string ``"P,h,w:<base64>"``."""
    return ",".join(map(str, masks.shape)) + ":" + base64.b64encode(np.ascontiguousarray(masks, np.uint8).tobytes()).decode()


def decode_preview(text: str) -> np.ndarray:
    """Inverse of :func:`encode_preview`."""
    shape, blob = text.split(":", 1)
    return np.frombuffer(base64.b64decode(blob), np.uint8).reshape(tuple(int(s) for s in shape.split(",")))


class SegmentationTask(seg_scores.CarriesStrategies):
    """Click-budget AL on a :class:`SegmentationDataset` (see the module docstring).

    Unset options take the dataset's :func:`recipe`. ``ll_weight`` is Learning Loss's lambda:
    Yoo & Kweon scale it per task (1 for classification, far smaller for pose estimation, whose
    loss is tiny); a per-image mean pixel CE varies little between images, and with lambda = 1 the
    ranking term (margin 1) dominates and cost the small network half its mIoU on ``shapes``
    (0.23 vs 0.40 at 31 images), while 0.1 trains as well as plain CE (0.41). ``preview`` > 0 stores the predictions for
    the first ``preview`` validation images (resized to ``preview_size``) with every evaluation,
    as ``record["preview"]`` (Fig. 12 reads them back with :func:`decode_preview`).
    """

    def __init__(self, data: SegmentationDataset, *, tolerance: float | None = None, model: str | None = None,
                 pretrained: str | None = "default", epochs: int | None = None, lr: float | None = None,
                 batch_size: int = 10, crop_size: int | None = None, scale_range=None, head_lr_mult=None,
                 threshold: float = 0.6, ensemble_size: int = 5, ens_reduce: str = "mean-prob", ll_weight: float = 0.1,
                 preview: int = 0, preview_size: int = 64, eval_batch: int = 64, device=None, progress: bool = False):
        r = recipe(data.name)
        self.device = pick_device(device)
        # Small convolutions do not parallelise: one thread trains the small net on 64x64 scenes
        # at ~8 ms/image on a 2-core machine, two threads 8-20x slower once anything else runs.
        # A hint for the runner (alkit.runner); the task never changes process-wide settings.
        small = self.device.type == "cpu" and data.fixed_size and max(data.train_images.shape[-2:]) <= 128
        self.preferred_threads = 1 if small else None
        self.data = data.to(self.device)
        self.name = data.name
        self.tolerance = float(r["tolerance"] if tolerance is None else tolerance)
        self.model_name = model or r["model"]
        if pretrained == "default":  # the recipe's weights, for the recipe's kind of network
            pretrained = r["pretrained"] if self.model_name.startswith("deeplab") else None
        self.pretrained = pretrained
        self.epochs = int(r["epochs"] if epochs is None else epochs)
        self.lr = float(r["lr"] if lr is None else lr)
        self.head_lr_mult = float(r["head_lr_mult"] if head_lr_mult is None else head_lr_mult)
        self.crop_size = int(crop_size or r["crop_size"])
        self.scale_range = tuple(scale_range or r["scale_range"])
        self.batch_size, self.threshold, self.ensemble_size = batch_size, threshold, ensemble_size
        self.ens_reduce, self.eval_batch, self.progress = ens_reduce, eval_batch, progress
        self.ll_weight = ll_weight
        self.preview, self.preview_size = preview, preview_size
        masks = data.train_masks
        approx, clicks = annotate_many(masks, self.tolerance, background=data.background,
                                       ignore_index=data.ignore_index, progress=progress)
        self.clicks = np.maximum(clicks, 1).astype(np.float64)
        approx = [torch.from_numpy(a) for a in approx]
        self.approx_masks = torch.stack(approx).to(self.device) if data.fixed_size else approx

    def unit_cost(self, strategy: str) -> int:
        """Networks trained per cycle by ``strategy`` (for scheduling parallel units)."""
        return self.ensemble_size if seg_scores.get_strategy(strategy, "segmentation").members == "ensemble" else 1

    # -- Task protocol -------------------------------------------------------------------------
    def pool_costs(self) -> np.ndarray:
        return self.clicks

    def initial_order(self, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(len(self.clicks)).astype(np.int64)

    def new_model(self):
        from .models.segmentation import build_segmentation_model

        return prepare_model(build_segmentation_model(self.model_name, self.data.num_classes, self.pretrained),
                             self.device)

    def _train(self, labelled: np.ndarray, seed: int, lossnet=None):
        torch.manual_seed(seed)
        model = self.new_model()
        d = self.data
        return train_segmentation(model, d.train_images, self.approx_masks, labelled, epochs=self.epochs, seed=seed,
                                  mean=d.mean, std=d.std, num_classes=d.num_classes, crop_size=self.crop_size,
                                  scale_range=self.scale_range, batch_size=self.batch_size, lr=self.lr,
                                  head_lr_mult=self.head_lr_mult, ignore_index=d.ignore_index, lossnet=lossnet,
                                  ll_weight=self.ll_weight, device=self.device, progress=self.progress)

    def fit(self, labelled: np.ndarray, seed: int, strategy: str = "random") -> SegLearner:
        """Fresh network(s) on ``labelled``: ``ensemble_size`` members for strategies registered with
        ``members="ensemble"``, network + loss-prediction module for ``trains="lossnet"``, else one."""
        spec = seg_scores.get_strategy(strategy, "segmentation")
        if spec.trains == "lossnet":
            from .models import LossPredictionModule

            torch.manual_seed(seed + 7)
            lossnet = LossPredictionModule(self.new_model().tap_channels).to(self.device)
            return SegLearner([self._train(labelled, seed, lossnet)], lossnet=lossnet)
        members = self.ensemble_size if spec.members == "ensemble" else 1
        return SegLearner([self._train(labelled, seed + 1000 * m) for m in range(members)])

    def evaluate(self, learner: SegLearner) -> dict:
        d = self.data
        m, _ = evaluate_segmentation(learner.models[0], d.val_images, d.val_masks, d.num_classes, d.mean, d.std,
                                     ignore_index=d.ignore_index, batch_size=self.eval_batch, device=self.device)
        out = {"miou": m}
        if self.preview:
            out["preview"] = encode_preview(self.predict_masks(learner, range(self.preview)))
        return out

    def predict_masks(self, learner: SegLearner, val_indices) -> np.ndarray:
        """Predicted class maps of validation images, resized (nearest) to ``preview_size``: uint8 ``[P, s, s]``."""
        import torch.nn.functional as F

        s, out = self.preview_size, []
        for _, probs, _ in iterate_predictions(learner.models[0], self.data.val_images, list(val_indices), self.data.mean,
                                               self.data.std, batch_size=self.eval_batch, device=self.device):
            pred = probs.argmax(1, keepdim=True).float()
            out.append(F.interpolate(pred, size=(s, s), mode="nearest")[:, 0].to(torch.uint8).cpu())
        return torch.cat(out).numpy()

    def _query_inputs(self, learner: SegLearner, strategy: str, labelled, indices) -> seg_scores.SegQueryInputs:
        """What a segmentation strategy sees for pool images ``indices`` (computed on first access).
        The providers hold the networks and the images, never the task or its masks."""
        spec = seg_scores.get_strategy(strategy, "segmentation")
        d, kw = self.data, dict(batch_size=self.eval_batch, device=self.device)
        images, mean, std, models, lossnet = d.train_images, d.mean, d.std, learner.models, learner.lossnet
        indices = np.asarray(indices, dtype=np.int64)

        def probs_batches():  # (positions, [b, K, H, W])
            for pos, probs, _ in iterate_predictions(models[0], images, indices, mean, std, **kw):
                yield pos, probs

        def member_batches():  # (positions, [M, b, K, H, W])
            streams = [iterate_predictions(m, images, indices, mean, std, **kw) for m in models]
            for parts in zip(*streams):
                yield parts[0][0], torch.stack([p[1] for p in parts])

        def predicted_loss():  # [u]
            out = np.zeros(len(indices), dtype=np.float64)
            for pos, _, pred_loss in iterate_predictions(models[0], images, indices, mean, std, lossnet=lossnet, **kw):
                out[pos] = pred_loss.cpu().numpy()
            return out

        providers = {"probs_iter": lambda: seg_scores.Batches(probs_batches),
                     "member_probs_iter": lambda: seg_scores.Batches(member_batches),
                     "predicted_loss": predicted_loss}
        return seg_scores.SegQueryInputs(indices, labelled=labelled, costs=self.clicks[indices],
                                         threshold=self.threshold, ens_reduce=self.ens_reduce,
                                         num_classes=d.num_classes, pool_size=len(self.clicks), device=self.device,
                                         providers=providers, needs=spec.needs, strategy=strategy)

    def scores(self, learner: SegLearner, strategy: str, indices: np.ndarray) -> np.ndarray:
        """The score strategy's score ``[len(indices)]`` for pool images ``indices`` (higher = query first)."""
        inputs = self._query_inputs(learner, strategy, None, indices)
        return seg_scores.base.scores(strategy, inputs, task="segmentation")

    def rank(self, learner: SegLearner, strategy: str, labelled: np.ndarray, unlabelled: np.ndarray,
             budget: float, rng: np.random.Generator) -> np.ndarray:
        """Unlabelled images, best first: every one by score (score strategies), or the strategy's
        own ordering (select strategies, ``budget`` in clicks); the loop spends the budget."""
        inputs = self._query_inputs(learner, strategy, labelled, unlabelled)
        return seg_scores.base.rank(strategy, inputs, budget, rng, task="segmentation")


def make_segmentation_task(dataset, *, data_root=None, download: bool = False, data_options: dict | None = None,
                           **options) -> SegmentationTask:
    """A :class:`SegmentationTask` for a dataset name (``shapes``, ``voc``, folder path) or object.

    ``data_options`` go to the loader (e.g. ``n_train``/``n_val`` for shapes, ``max_train`` for
    VOC); ``options`` to :class:`SegmentationTask` (tolerance, model, epochs, ...)."""
    data = load_segmentation_dataset(dataset, data_root, download, **(data_options or {}))
    return SegmentationTask(data, **options)


def clicks_table(dataset, tolerances, *, n_images: int = 200, data_root=None, download: bool = False,
                 progress: bool = True):
    """Annotation cost vs label quality (paper Fig. 10-11) on the first ``n_images`` pool images.

    Returns a DataFrame with columns ``tolerance`` (px), ``clicks_per_image``, ``clicks_std``,
    ``miou`` (approximated vs true labels, %) and ``images``."""
    if isinstance(dataset, SegmentationDataset):
        data = dataset
    elif dataset == "shapes":
        data = load_segmentation_dataset("shapes", n_train=n_images, n_val=0)
    elif dataset == "voc":
        data = load_segmentation_dataset("voc", data_root, download, max_train=n_images, max_val=0)
    else:
        data = load_segmentation_dataset(dataset, data_root, download)
    tolerances = [float(t) for t in tolerances]
    if not tolerances or min(tolerances) < 0:
        raise ValueError(f"tolerances must be a non-empty list of pixel values >= 0, got {tolerances}")
    masks = list(data.train_masks[:n_images])
    table = tolerance_sweep(masks, tolerances, data.num_classes, background=data.background,
                            ignore_index=data.ignore_index, progress=progress)
    table["miou"] = (100 * table["miou"]).round(2)
    return table.round({"clicks_per_image": 2, "clicks_std": 2})


@dataclass
class SegExperiment:
    """Everything that defines a segmentation AL experiment (defaults: a small ``shapes`` run).

    Budgets ``initial`` (B_i) and ``step`` (B_s) are in clicks; ``cycles`` query rounds follow the
    initial set. ``None`` options take the dataset's :func:`recipe`."""

    dataset: str = "shapes"
    strategies: tuple = ("random", "entropy", "ens-ent", "ll")
    initial: float = 1000
    step: float = 1000
    cycles: int = 3
    trials: int = 1
    tolerance: float | None = None
    epochs: int | None = None
    model: str | None = None
    pretrained: str | None = "default"
    lr: float | None = None
    batch_size: int = 10
    threshold: float = 0.6
    ensemble_size: int = 3
    seed: int = 0
    data_options: dict = field(default_factory=dict)  # n_train/n_val (shapes), max_train/max_val (voc)
    preview: int = 0
    data_root: str | None = field(default=None, compare=False)
    download: bool = field(default=False, compare=False)
    device: str | None = field(default=None, compare=False)
    workers: int | None = field(default=None, compare=False)  # parallel units (None: one per core)

    def store_config(self, strategy: str, task: SegmentationTask) -> dict:
        """What determines one strategy's results (the results-store key): the resolved recipe and
        the content fingerprint of the data it runs on."""
        from .fingerprint import data_fingerprint

        cfg = dict(task="segmentation", dataset=self.dataset, data=data_fingerprint(task.data),
                   strategy=strategy, initial=self.initial,
                   step=self.step, cycles=self.cycles, tolerance=task.tolerance, epochs=task.epochs,
                   model=task.model_name, pretrained=task.pretrained, lr=task.lr, batch_size=self.batch_size,
                   crop=task.crop_size, scale=list(task.scale_range), seed=self.seed,
                   data_options=dict(sorted(self.data_options.items())), preview=self.preview)
        if strategy in ("entropy", "ens-ent"):
            cfg["threshold"] = self.threshold
        if strategy == "ens-ent":
            cfg.update(ensemble_size=self.ensemble_size, ens_reduce=task.ens_reduce)
        if strategy == "ll":
            cfg["ll_weight"] = task.ll_weight
        return cfg


def make_experiment_task(exp: SegExperiment, progress: bool = False) -> SegmentationTask:
    """The task of an experiment (loads the data and annotates the pool once)."""
    return make_segmentation_task(exp.dataset, data_root=exp.data_root, download=exp.download,
                                  data_options=exp.data_options, tolerance=exp.tolerance, model=exp.model,
                                  pretrained=exp.pretrained, epochs=exp.epochs, lr=exp.lr,
                                  batch_size=exp.batch_size, threshold=exp.threshold,
                                  ensemble_size=exp.ensemble_size, preview=exp.preview, device=exp.device,
                                  progress=progress)


def run_segmentation(exp: SegExperiment, *, task: SegmentationTask | None = None, store_root=None,
                     progress: bool = True, with_selected: bool = False, workers: int | None = None,
                     executor=None):
    """Run (or load from the results store) every strategy x trial; one row per (strategy, trial, cycle).

    Columns: dataset, tolerance, strategy, trial, cycle, n_images, budget (nominal clicks,
    B_i + cycle x B_s: the x axis of the paper's curves), n_clicks (clicks actually spent, at most
    one image's cost above the budget), miou, seconds (and
    ``preview`` when ``exp.preview`` > 0, ``selected`` when asked). A tqdm bar counts cycles.
    The (strategy, trial) units run in parallel worker processes as in
    :func:`alkit.experiment.run_experiment` (``workers``, ``executor``)."""
    from .loop import run_grid
    from .paths import runs_dir
    from .results import records_frame
    from .runner import picklable

    strategies = [seg_scores.check_seg_strategy(s) for s in exp.strategies]
    task = task if task is not None else make_experiment_task(exp)
    workers = workers if workers is not None else exp.workers
    if executor is None and workers != 1 and not picklable(task):
        workers = 1
    configs = {s: exp.store_config(s, task) for s in strategies}
    meta = dict(dataset=exp.dataset, tolerance=task.tolerance)
    records = run_grid(task, strategies, trials=exp.trials, initial=exp.initial, step=exp.step, cycles=exp.cycles,
                       seed=exp.seed, store_root=store_root if store_root is not None else runs_dir(),
                       store_config_for=configs.get, meta=meta, metric="miou", desc=f"{exp.dataset} (clicks)",
                       progress=progress, workers=workers, executor=executor)
    df = records_frame(records, with_selected=with_selected)
    df = df.rename(columns={"n_labelled": "n_images", "cost": "n_clicks"})
    df.insert(df.columns.get_loc("n_clicks"), "budget", exp.initial + exp.step * df["cycle"])
    return df


def run_segmentation_experiment(args, strategies):
    """``python -m alkit run`` on a segmentation dataset (``args`` = the CLI namespace): budgets
    ``--initial``/``--step`` in clicks; returns the rows for ``results.csv`` (no previews)."""
    if getattr(args, "ssl", "none") not in (None, "none", ""):
        raise ValueError(f"--ssl {args.ssl} is not available for segmentation (raw AL only); use --ssl none")
    exp = SegExperiment(dataset=args.dataset, strategies=tuple(strategies), initial=args.initial, step=args.step,
                        cycles=args.cycles, trials=args.trials, tolerance=getattr(args, "tolerance", None),
                        epochs=args.epochs, model=args.model, seed=args.seed, data_root=args.data_root,
                        download=args.download, device=args.device, workers=getattr(args, "workers", None))
    return run_segmentation(exp, store_root=args.runs_dir, with_selected=True)
