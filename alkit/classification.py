"""The classification task of the paper (Sec. 3): what the AL loop trains, evaluates and queries.

One :class:`ClassificationTask` holds a dataset on the training device and the training recipe
(model, augmentation, supervised epochs or UDA iterations). ``fit`` trains fresh model(s) for a
labelled set — 5 independently initialised members for ENS-varR, a model plus its loss-prediction
module for LL — and ``rank`` asks the strategy for the unlabelled items it wants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import strategies
from .augment import build_augment
from .data.base import ImageDataset
from .models import LossPredictionModule, build_model
from .pool import class_balanced_order
from .train.common import pick_device, prepare_model
from .train.supervised import accuracy, predict, train_supervised

SSL_METHODS = (None, "uda")


def default_model(data: ImageDataset) -> str:
    """The network the paper uses (WRN-28-2) for 32x32 data; the small CNN for tiny images."""
    return "wrn-28-2" if data.image_size >= 32 else "small-cnn"


@dataclass
class Learner:
    """Trained model(s) of one cycle: ``models[0]`` is the one whose accuracy is reported."""

    models: list
    lossnet: object = None
    info: dict = field(default_factory=dict)


class ClassificationTask:
    """Classification AL on an :class:`ImageDataset` (see module docstring).

    ``ssl=None`` trains supervised for ``epochs`` per cycle (at least ``min_steps`` optimiser
    steps); ``ssl="uda"`` trains UDA
    (``alkit.train.uda``) for ``iterations`` per cycle, and every strategy queries with that model.
    ``ensemble_size`` members are trained only for ENS-varR (the paper uses 5).
    """

    def __init__(self, data: ImageDataset, *, model: str | None = None, augment: str = "paper",
                 ssl: str | None = None, epochs: int = 150, min_steps: int = 0, iterations: int = 50_000,
                 batch_size: int = 64, unlabelled_batch: int = 320, lr: float = 0.03,
                 ensemble_size: int = 5, device=None, model_factory=None):
        if ssl not in SSL_METHODS:
            raise ValueError(f"unknown ssl method {ssl!r}; choose from none, uda")
        self.device = pick_device(device)
        # Tiny convolutions do not parallelise: one thread is faster than two fighting over small
        # kernels (measured 5x faster on 8x8 digits on a 2-core machine). The runner
        # (alkit.runner) reads this hint; the task itself never changes process-wide settings.
        self.preferred_threads = 1 if self.device.type == "cpu" and data.image_size <= 16 else None
        self.data = data.to(self.device)
        self.name = data.name
        self.model_name = model or default_model(data)
        self.augment_name = augment
        hflip = data.name != "digits"  # digits are not mirror-symmetric
        self.augment = build_augment(augment, data.image_size, hflip=hflip)
        self.hflip = hflip
        if ssl == "uda":  # UDA's two views of an unlabelled image (Xie et al. 2019)
            self.weak = build_augment("weak", data.image_size, hflip=hflip)
            self.strong = build_augment("strong", data.image_size, hflip=hflip)
        self.ssl = ssl
        self.epochs = epochs
        self.min_steps = min_steps
        self.iterations = iterations
        self.batch_size = batch_size
        self.unlabelled_batch = unlabelled_batch
        self.lr = lr
        self.ensemble_size = ensemble_size
        self.model_factory = model_factory  # optional callable() -> fresh classifier (e.g. pretrained)
        self.labels = data.train_y.cpu().numpy().copy()  # own memory, not a view of a tensor

    def unit_cost(self, strategy: str) -> int:
        """Models trained per cycle by ``strategy`` (for scheduling parallel units)."""
        return self.ensemble_size if strategy == "ens-varr" else 1

    # -- Task protocol -------------------------------------------------------------------------
    def pool_costs(self) -> np.ndarray:
        return np.ones(len(self.labels), dtype=np.float64)

    def initial_order(self, rng: np.random.Generator) -> np.ndarray:
        return class_balanced_order(self.labels, rng)

    def new_model(self):
        if self.model_factory is not None:
            model = self.model_factory()
        else:
            model = build_model(self.model_name, self.data.num_classes, in_channels=self.data.channels,
                                image_size=self.data.image_size)
        return prepare_model(model, self.device)

    def _train_one(self, labelled: np.ndarray, seed: int, lossnet=None):
        torch.manual_seed(seed)
        model = self.new_model()
        if lossnet is not None:
            lossnet = lossnet.to(self.device)
        if self.ssl == "uda":
            from .train.uda import train_uda

            unl = np.setdiff1d(np.arange(len(self.labels)), labelled)
            return train_uda(model, self.data, labelled, unl, iterations=self.iterations,
                             batch_size=self.batch_size, unlabelled_batch=self.unlabelled_batch,
                             lr=self.lr, weak=self.weak, strong=self.strong, labelled_augment=self.augment,
                             seed=seed, lossnet=lossnet, progress=False)
        return train_supervised(model, self.data, labelled, epochs=self.epochs, augment=self.augment,
                                seed=seed, batch_size=self.batch_size, lr=self.lr, lossnet=lossnet,
                                min_steps=self.min_steps)

    def fit(self, labelled: np.ndarray, seed: int, strategy: str) -> Learner:
        strategies.check_strategy(strategy)
        if strategy == "ll":
            if not hasattr(self, "_tap_channels"):  # read once from a throw-away instance
                self._tap_channels = list(self.new_model().tap_channels)
            torch.manual_seed(seed + 7)
            lossnet = LossPredictionModule(self._tap_channels)
            model = self._train_one(labelled, seed, lossnet=lossnet)
            return Learner([model], lossnet=lossnet)
        members = self.ensemble_size if strategy == "ens-varr" else 1
        return Learner([self._train_one(labelled, seed + 1000 * m) for m in range(members)])

    def evaluate(self, learner: Learner) -> dict[str, float]:
        return {"accuracy": accuracy(learner.models[0], self.data)}

    def rank(self, learner: Learner, strategy: str, labelled: np.ndarray, unlabelled: np.ndarray,
             budget: float, rng: np.random.Generator) -> np.ndarray:
        needs = strategies.NEEDS[strategy]
        d = self.data
        inputs = strategies.QueryInputs(unlabelled=unlabelled, num_classes=d.num_classes)
        unl = torch.as_tensor(unlabelled, device=self.device)
        if "probs" in needs:
            inputs.probs = predict(learner.models[0], d.train_x[unl], d.mean, d.std)["probs"].cpu().numpy()
        if "member_preds" in needs:
            preds = [predict(m, d.train_x[unl], d.mean, d.std)["probs"].argmax(1) for m in learner.models]
            inputs.member_preds = torch.stack(preds).cpu().numpy()
        if "predicted_loss" in needs:
            out = predict(learner.models[0], d.train_x[unl], d.mean, d.std, lossnet=learner.lossnet)
            inputs.predicted_loss = out["predicted_loss"].cpu().numpy()
        if "features" in needs:
            emb = predict(learner.models[0], d.train_x, d.mean, d.std, features=True)["embedding"]
            inputs.features = emb  # stays on the device: k-center greedy runs there
            mask = np.zeros(len(self.labels), dtype=bool)
            mask[labelled] = True
            inputs.labelled_mask = mask
        return strategies.rank(strategy, inputs, int(budget), rng)
