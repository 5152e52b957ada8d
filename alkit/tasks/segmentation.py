"""The semantic-segmentation task of the paper (Sec. 4): budgets in clicks, not images.

:class:`SegmentationTask` implements the :class:`alkit.protocol.loop.Task` protocol:

* ``pool_costs``: clicks the simulated annotator (:mod:`alkit.protocol.annotation`) needs for each pool
  image at the chosen polygon tolerance (at least 1: confirming an empty image is a click);
* ``initial_order``: a random order (the paper labels random whole images until B_i is spent);
* ``fit``: fresh network(s) trained on the **approximated** masks of the labelled images —
  ``ensemble_size`` members for ENS-ent, a network + loss-prediction module for LL;
* ``evaluate``: ``{"miou": ...}`` on the **true** validation masks;
* ``rank``: every unlabelled image, best first, by the strategy's score
  (:mod:`alkit.strategies.segmentation`); the loop then takes images in that order until the
  step budget in clicks is spent (overshooting by less than the last image's cost).

Every training setting comes in the ``recipe`` the task is given (the dataset's recipe,
:data:`alkit.experiments.recipes.SEGMENTATION`, with the experiment's settings over it, as
:meth:`alkit.experiments.config.Experiment.build_task` assembles it): ``shapes`` trains the small
network from scratch; ``voc`` and folders use the paper's DeepLab-v2.
"""

from __future__ import annotations

import base64

import numpy as np
import torch

from alkit.protocol.annotation import annotate_many
from alkit.tasks.base import Learner
from alkit.engine.data.seg_folder import SegmentationDataset
from alkit.strategies import segmentation as seg_scores
from alkit.engine.train.common import pick_device, prepare_model
from alkit.engine.train.segmentation import evaluate_segmentation, iterate_predictions, train_segmentation

def per_class_iou(cm: np.ndarray) -> np.ndarray:
    """IoU of each class ``[K]`` from a confusion matrix ``[K, K]`` (rows = truth); NaN for a class
    absent from both truth and prediction."""
    cm = np.asarray(cm, dtype=np.float64)
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)


def encode_preview(masks: np.ndarray) -> str:
    """uint8 ``[P, h, w]`` -> compact JSON-able string ``"P,h,w:<base64>"``."""
    return ",".join(map(str, masks.shape)) + ":" + base64.b64encode(np.ascontiguousarray(masks, np.uint8).tobytes()).decode()


def decode_preview(text: str) -> np.ndarray:
    """Inverse of :func:`encode_preview`."""
    shape, blob = text.split(":", 1)
    return np.frombuffer(base64.b64decode(blob), np.uint8).reshape(tuple(int(s) for s in shape.split(",")))


SEG_SSL_METHODS = (None, "s4gan")
# recipe keys passed to the trainers as they are (see alkit.engine.train.segmentation.train_segmentation)
TRAIN_OPTIONS = ("optimizer", "schedule", "warmup", "min_epoch_steps", "ema", "weight_decay", "dice_weight")
# the settings every SegmentationTask recipe must hold
RECIPE_KEYS = ("tolerance", "model", "pretrained", "epochs", "lr", "batch_size", "crop_size", "scale_range",
               "head_lr_mult", "threshold", "ensemble_size", "ll_weight", "iterations", "s4gan")


class SegmentationTask(seg_scores.CarriesStrategies):
    """Click-budget AL on a :class:`SegmentationDataset` (see the module docstring).

    ``recipe``: every training setting (required; its defaults live in one place, the recipes,
    filled in by :meth:`alkit.experiments.config.Experiment.resolved`): the keys of
    :data:`RECIPE_KEYS` (``tolerance`` of the simulated annotator in pixels, ``model``,
    ``pretrained`` — ``None``/``"none"``/``"imagenet"`` — ``epochs``, ``lr``, ``batch_size``,
    ``crop_size``, ``scale_range``, ``head_lr_mult``, ``threshold``, ``ensemble_size``, ``ll_weight``,
    ``iterations``, ``s4gan``) and optionally the trainer's :data:`TRAIN_OPTIONS`.
    ``ll_weight`` is Learning Loss's lambda (Yoo & Kweon scale it per task; the recipes say why
    ``shapes`` uses 0.1). ``preview`` > 0 stores the predictions for
    the first ``preview`` validation images (resized to ``preview_size``) with every evaluation,
    as ``record["preview"]`` (Fig. 12 reads them back with :func:`decode_preview`).
    ``ssl="s4gan"`` trains every network of a cycle with s4GAN (SSL-X, :mod:`alkit.engine.train.s4gan`)
    for ``iterations`` iterations (``None``: as many as ``epochs`` supervised epochs take) with the
    recipe's ``s4gan`` settings; the images without a complete label are its unlabelled images.
    ``ens_reduce``: how ENS-ent combines its members (``"mean-entropy"``, the paper's literal
    reading, or ``"mean-prob"``).
    """

    def __init__(self, data: SegmentationDataset, *, recipe: dict, ens_reduce: str = "mean-entropy",
                 ssl: str | None = None, preview: int = 0, preview_size: int = 64, eval_batch: int = 64,
                 device=None, progress: bool = False):
        missing = [k for k in RECIPE_KEYS if k not in recipe]
        if missing:
            raise ValueError(f"SegmentationTask: the recipe lacks {', '.join(missing)} "
                             f"(Experiment(...).build_task() fills every setting)")
        r = recipe
        self.device = pick_device(device)
        # Small convolutions do not parallelise: one thread trains the small net on 64x64 scenes
        # at ~8 ms/image on a 2-core machine, two threads 8-20x slower once anything else runs.
        # A hint for the runner (alkit.experiments.runner); the task never changes process-wide settings.
        small = self.device.type == "cpu" and data.fixed_size and max(data.train_images.shape[-2:]) <= 128
        self.preferred_threads = 1 if small else None
        self.data = data.to(self.device)
        self.name = data.name
        self.tolerance = float(r["tolerance"])
        self.model_name = r["model"]
        self.pretrained = None if r["pretrained"] == "none" else r["pretrained"]  # "none" as the CLI says it
        self.epochs = int(r["epochs"])
        self.lr = float(r["lr"])
        self.head_lr_mult = float(r["head_lr_mult"])
        self.crop_size = int(r["crop_size"])
        self.scale_range = tuple(r["scale_range"])
        self.batch_size = int(r["batch_size"])
        self.threshold = float(r["threshold"])
        self.ensemble_size = int(r["ensemble_size"])
        self.ens_reduce, self.eval_batch, self.progress = ens_reduce, eval_batch, progress
        self.fit_cache = None  # an alkit.tasks.fit_cache.FitCache: plain trainings shared by the strategies of a run
        self.ll_weight = float(r["ll_weight"])
        if ssl not in SEG_SSL_METHODS:
            raise ValueError(f"unknown ssl method {ssl!r} for segmentation; choose from none, s4gan")
        if ens_reduce not in ("mean-entropy", "mean-prob"):
            raise ValueError(f"unknown ens_reduce {ens_reduce!r}; choose from mean-entropy, mean-prob")
        self.ssl = ssl
        it = r["iterations"]
        self.iterations = None if it is None else int(it)  # None: matched to the supervised epochs
        self.s4gan = dict(r["s4gan"])  # s4GAN's settings
        # the recipe's optimiser settings (not Experiment options; RECIPE_VERSION covers them)
        self.train_options = {k: r[k] for k in TRAIN_OPTIONS if k in r}
        self._last_discriminator = None
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

    def first_fit_shared(self, strategy: str) -> bool:
        """Whether the first network ``strategy`` trains in a cycle is a plain training that other
        strategies of the run with the same labelled set and seed share through the fit cache
        (:meth:`fit`: every network but Learning Loss's)."""
        return seg_scores.get_strategy(strategy, "segmentation").trains != "lossnet"

    # -- Task protocol -------------------------------------------------------------------------
    def pool_costs(self) -> np.ndarray:
        return self.clicks

    def initial_order(self, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(len(self.clicks)).astype(np.int64)

    def new_model(self):
        from alkit.engine.models.segmentation import build_segmentation_model

        return prepare_model(build_segmentation_model(self.model_name, self.data.num_classes, self.pretrained),
                             self.device)

    def targets_digest(self, labelled: np.ndarray) -> str:
        """A hash of what a training on ``labelled`` reads besides the settings: the (approximated,
        possibly partial) masks of those images and the partially labelled set s4GAN adds to its
        unlabelled images. The fit cache keys trainings by it, so runs whose labelling differs
        (image- vs polygon-level) share a training only when its masks are the same."""
        import hashlib

        h = hashlib.sha256()
        for i in np.sort(np.asarray(labelled, dtype=np.int64)):
            h.update(np.ascontiguousarray(self.approx_masks[int(i)].cpu().numpy()).tobytes())
        h.update(np.asarray(getattr(self, "_partial", ()), dtype=np.int64).tobytes())
        return h.hexdigest()[:16]

    def _train(self, labelled: np.ndarray, seed: int, lossnet=None):
        cache = getattr(self, "fit_cache", None) if lossnet is None else None
        part = self.targets_digest(labelled) if cache is not None else ""
        stored = cache.load(labelled, seed, part) if cache is not None else None
        if stored is not None:  # the same training, done by another strategy of this run
            torch.manual_seed(seed)
            model = self.new_model()
            model.load_state_dict(stored["model"])
            if "discriminator" in stored:
                self._last_discriminator = self._stored_discriminator(stored["discriminator"])
            return model.eval()
        model = self._train_fresh(labelled, seed, lossnet)
        if cache is not None:
            states = {"model": model.state_dict()}
            if self.ssl == "s4gan":
                states["discriminator"] = self._last_discriminator.state_dict()
            cache.save(labelled, seed, states, part)
        return model

    def _stored_discriminator(self, state: dict):
        """s4GAN's discriminator as :func:`alkit.engine.train.s4gan.train_s4gan` builds it (this task's
        s4GAN options over the function's defaults), with stored weights, in eval mode."""
        import inspect

        from alkit.engine.models.discriminator import S4GANDiscriminator
        from alkit.engine.train.s4gan import train_s4gan

        opts = {k: v.default for k, v in inspect.signature(train_s4gan).parameters.items()}
        opts.update(self.s4gan)
        d = S4GANDiscriminator(self.data.num_classes, width=int(opts["d_width"]),
                               dropout_layers=int(opts["d_dropout_layers"]), input_pool=int(opts["d_pool"]))
        d.load_state_dict(state)
        d.image_input = opts["d_input"]
        return d.to(self.device).eval()

    def _train_fresh(self, labelled: np.ndarray, seed: int, lossnet=None):
        torch.manual_seed(seed)
        model = self.new_model()
        d = self.data
        if self.ssl == "s4gan":
            from alkit.engine.train.s4gan import s4gan_iterations, train_s4gan

            # unlabelled: images outside `labelled` plus partially labelled ones (polygon-level labelling)
            unl = np.setdiff1d(np.arange(len(self.clicks)), labelled)
            unl = np.union1d(unl, getattr(self, "_partial", np.zeros(0, np.int64))).astype(np.int64)
            s = dict(self.s4gan)
            model, self._last_discriminator = train_s4gan(
                model, d.train_images, self.approx_masks, labelled, unl,
                iterations=self.iterations or s4gan_iterations(len(labelled), self.epochs, int(s["batch_size"]),
                                                               int(self.train_options.get("min_epoch_steps", 0))),
                batch_size=int(s.pop("batch_size")), lr=self.lr, seed=seed, mean=d.mean, std=d.std,
                num_classes=d.num_classes, crop_size=self.crop_size, scale_range=self.scale_range,
                head_lr_mult=self.head_lr_mult, ignore_index=d.ignore_index, lossnet=lossnet,
                ll_weight=self.ll_weight, device=self.device, progress=self.progress,
                **{k: v for k, v in self.train_options.items() if k != "min_epoch_steps"}, **s)
            return model
        return train_segmentation(model, d.train_images, self.approx_masks, labelled, epochs=self.epochs, seed=seed,
                                  mean=d.mean, std=d.std, num_classes=d.num_classes, crop_size=self.crop_size,
                                  scale_range=self.scale_range, batch_size=self.batch_size, lr=self.lr,
                                  head_lr_mult=self.head_lr_mult, ignore_index=d.ignore_index, lossnet=lossnet,
                                  ll_weight=self.ll_weight, device=self.device, progress=self.progress,
                                  **self.train_options)

    def fit(self, labelled: np.ndarray, seed: int, strategy: str = "random") -> Learner:
        """Fresh network(s) on ``labelled``: ``ensemble_size`` members for strategies registered with
        ``members="ensemble"``, network + loss-prediction module for ``trains="lossnet"``, else one."""
        spec = seg_scores.get_strategy(strategy, "segmentation")
        if spec.trains == "lossnet":
            from alkit.engine.models import LossPredictionModule

            torch.manual_seed(seed + 7)
            lossnet = LossPredictionModule(self.new_model().tap_channels).to(self.device)
            return self._with_discriminator(Learner([self._train(labelled, seed, lossnet)], lossnet=lossnet))
        members = self.ensemble_size if spec.members == "ensemble" else 1
        models = []
        for m in range(members):
            models.append(self._train(labelled, seed + 1000 * m))
            if m == 0:
                first_d = self._last_discriminator
        self._last_discriminator = first_d
        return self._with_discriminator(Learner(models))

    def _with_discriminator(self, learner: Learner) -> Learner:
        """Under s4GAN, the discriminator trained with ``models[0]`` goes to ``learner.info["discriminator"]``."""
        if self.ssl == "s4gan":
            learner.info["discriminator"] = self._last_discriminator
        self._last_discriminator = None
        return learner

    def evaluate(self, learner: Learner) -> dict:
        d = self.data
        m, cm = evaluate_segmentation(learner.models[0], d.val_images, d.val_masks, d.num_classes, d.mean, d.std,
                                     ignore_index=d.ignore_index, batch_size=self.eval_batch, device=self.device)
        out = {"miou": m, "iou_per_class": [round(float(v), 6) for v in per_class_iou(cm)]}
        if self.preview:
            out["preview"] = encode_preview(self.predict_masks(learner, range(self.preview)))
        return out

    def predict_masks(self, learner: Learner, val_indices) -> np.ndarray:
        """Predicted class maps of validation images, resized (nearest) to ``preview_size``: uint8 ``[P, s, s]``."""
        import torch.nn.functional as F

        s, out = self.preview_size, []
        for _, probs, _ in iterate_predictions(learner.models[0], self.data.val_images, list(val_indices), self.data.mean,
                                               self.data.std, batch_size=self.eval_batch, device=self.device):
            pred = probs.argmax(1, keepdim=True).float()
            out.append(F.interpolate(pred, size=(s, s), mode="nearest")[:, 0].to(torch.uint8).cpu())
        return torch.cat(out).numpy()

    def _query_inputs(self, learner: Learner, strategy: str, labelled, indices) -> seg_scores.SegQueryInputs:
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

        def d_scores():  # [u]
            from alkit.engine.train.s4gan import discriminator_scores

            disc = learner.info.get("discriminator")
            if disc is None:
                raise ValueError(f"strategy {strategy!r} needs the s4GAN discriminator: run it with ssl='s4gan'")
            return discriminator_scores(models[0], disc, images, indices, mean, std, **kw)

        providers = {"probs_iter": lambda: seg_scores.Batches(probs_batches),
                     "d_scores": d_scores,
                     "member_probs_iter": lambda: seg_scores.Batches(member_batches),
                     "predicted_loss": predicted_loss}
        return seg_scores.SegQueryInputs(indices, labelled=labelled, costs=self.clicks[indices],
                                         threshold=self.threshold, ens_reduce=self.ens_reduce,
                                         num_classes=d.num_classes, pool_size=len(self.clicks), device=self.device,
                                         providers=providers, needs=spec.needs, strategy=strategy)

    def scores(self, learner: Learner, strategy: str, indices: np.ndarray) -> np.ndarray:
        """The score strategy's score ``[len(indices)]`` for pool images ``indices`` (higher = query first)."""
        inputs = self._query_inputs(learner, strategy, None, indices)
        return seg_scores.base.scores(strategy, inputs, task="segmentation")

    def rank(self, learner: Learner, strategy: str, labelled: np.ndarray, unlabelled: np.ndarray,
             budget: float, rng: np.random.Generator) -> np.ndarray:
        """Unlabelled images, best first: every one by score (score strategies), or the strategy's
        own ordering (select strategies, ``budget`` in clicks); the loop spends the budget."""
        inputs = self._query_inputs(learner, strategy, labelled, unlabelled)
        return seg_scores.base.rank(strategy, inputs, budget, rng, task="segmentation")
