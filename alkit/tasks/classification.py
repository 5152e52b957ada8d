"""The classification task of the paper (Sec. 3): what the AL loop trains, evaluates and queries.

One :class:`ClassificationTask` holds a dataset on the training device and the training recipe
(model, augmentation, supervised epochs or UDA iterations). ``fit`` trains fresh model(s) for a
labelled set — 5 independently initialised members for ENS-varR, a model plus its loss-prediction
module for LL — and ``rank`` asks the strategy for the unlabelled items it wants.
"""

from __future__ import annotations

import numpy as np
import torch

from alkit import strategies
from alkit.engine.augment import build_augment
from alkit.engine.data.base import ImageDataset
from alkit.engine.models import LossPredictionModule, build_model
from alkit.engine.models.mc_dropout import BALD_DROPOUT, add_penultimate_dropout
from alkit.protocol.pool import class_balanced_order
from alkit.tasks.base import Learner
from alkit.engine.train.common import pick_device, prepare_model
from alkit.engine.train.supervised import accuracy, predict, train_supervised

SSL_METHODS = (None, "uda", "fixmatch")
# The most plain networks :meth:`ClassificationTask._train_plain` trains in one stack (the trials of a
# strategy times an ensemble's members; memory grows with it, the speed-up stops growing well below).
MAX_STACK = 32
PRETRAINED = (None, "glyphs")


def default_model(data: ImageDataset) -> str:
    """The network the paper uses (WRN-28-2) for 32x32 data; the small CNN for tiny images."""
    return "wrn-28-2" if data.image_size >= 32 else "small-cnn"


def mirrors(data: ImageDataset) -> bool:
    """Whether horizontal flips belong in ``data``'s augmentation (not for digits: a mirrored
    digit is another glyph)."""
    return data.name != "digits"


def ssl_views(data: ImageDataset) -> tuple:
    """``(weak, strong)``: the two augmentations of an unlabelled image in UDA (Xie et al. 2019)
    and FixMatch (Sohn et al. 2020), for ``data``'s image size (``alkit.engine.augment``)."""
    return (build_augment("weak", data.image_size, hflip=mirrors(data)),
            build_augment("strong", data.image_size, hflip=mirrors(data)))


class ClassificationTask(strategies.CarriesStrategies):
    """Classification AL on an :class:`ImageDataset` (see module docstring).

    ``ssl=None`` trains supervised for ``epochs`` per cycle (at least ``min_steps`` optimiser
    steps); ``ssl="uda"`` trains UDA (``alkit.engine.train.uda``), ``ssl="fixmatch"`` FixMatch
    (``alkit.engine.train.fixmatch``) for ``iterations`` per cycle, and every strategy queries with
    that model. ``pretrained="glyphs"`` starts every model from the small CNN pre-trained on the
    synthetic glyph set (``alkit.engine.train.pretrain``; the offline analogue of the paper's
    ImageNet pre-training, Sec. 3.2.5) with a fresh head.
    ``ssl_options``: the SSL trainer's fidelity options (the ``paper`` recipe's,
    :data:`alkit.experiments.recipes.PAPER_SSL`; empty = alkit's defaults): ``labelled_view``
    ``"recipe"`` (the labelled batch gets ``augment``) or ``"weak"`` (crop + flip, FixMatch's),
    ``unlabelled`` ``"rest"`` (the unlabelled items) or ``"all"`` (the whole training set, labelled
    items included, as FixMatch's and UDA's originals draw it); the rest go to the trainer
    (``nesterov``, ``schedule``, ``lr_warmup``, ``ema``, ``ema_buffers``, :func:`alkit.engine.train.uda.train_uda`).
    ``ensemble_size`` members are trained only for strategies registered with
    ``members="ensemble"`` (ENS-varR; the paper uses 5). Pickling the task (for worker processes)
    takes the user strategies of this process along (:class:`~alkit.strategies.CarriesStrategies`).
    The training settings (``epochs``, ``min_steps``, ``iterations``, ``batch_size``,
    ``unlabelled_batch``, ``lr``, ``ensemble_size``) are required: their defaults live in one place,
    the recipes (:mod:`alkit.experiments.recipes`), filled in by
    :meth:`alkit.experiments.config.Experiment.resolved`; ``Experiment(...).build_task()`` is the
    way to get a task with them.
    ``stacked_members``: train a supervised ensemble's members as one stacked network
    (:mod:`alkit.engine.train.stacked`; same function up to float rounding): True, False or "auto"
    (see :data:`alkit.engine.train.common.STACKED_MEMBERS`, which None follows).
    """

    def __init__(self, data: ImageDataset, *, epochs: int, min_steps: int, iterations: int, batch_size: int,
                 unlabelled_batch: int, lr: float, ensemble_size: int, model: str | None = None,
                 augment: str = "paper", ssl: str | None = None, device=None, model_factory=None,
                 pretrained: str | None = None, ssl_options: dict | None = None,
                 stacked_members: bool | str | None = None):
        if ssl not in SSL_METHODS:
            raise ValueError(f"unknown ssl method {ssl!r}; choose from none, uda, fixmatch")
        if pretrained not in PRETRAINED:
            raise ValueError(f"unknown pretrained source {pretrained!r}; choose from none, glyphs")
        self.device = pick_device(device)
        # Tiny convolutions do not parallelise: one thread is faster than two fighting over small
        # kernels (measured 5x faster on 8x8 digits on a 2-core machine). The runner
        # (alkit.experiments.runner) reads this hint; the task itself never changes process-wide settings.
        self.preferred_threads = 1 if self.device.type == "cpu" and data.image_size <= 16 else None
        self.data = data.to(self.device)
        self.name = data.name
        self.model_name = model or default_model(data)
        self.augment_name = augment
        hflip = mirrors(data)
        self.augment = build_augment(augment, data.image_size, hflip=hflip)
        self.hflip = hflip
        if ssl in ("uda", "fixmatch"):  # the two views of an unlabelled image
            self.weak, self.strong = ssl_views(data)
        self.ssl = ssl
        self.ssl_options = dict(ssl_options or {})
        self.fit_cache = None  # an alkit.tasks.fit_cache.FitCache: plain trainings shared by the strategies of a run
        if self.ssl_options.get("labelled_view", "recipe") not in ("recipe", "weak"):
            raise ValueError(f"ssl_options: labelled_view must be 'recipe' or 'weak', "
                             f"got {self.ssl_options['labelled_view']!r}")
        if self.ssl_options.get("unlabelled", "rest") not in ("rest", "all"):
            raise ValueError(f"ssl_options: unlabelled must be 'rest' or 'all', got {self.ssl_options['unlabelled']!r}")
        self.epochs = epochs
        self.min_steps = min_steps
        self.iterations = iterations
        self.batch_size = batch_size
        self.unlabelled_batch = unlabelled_batch
        self.lr = lr
        self.ensemble_size = ensemble_size
        self.model_factory = model_factory  # optional callable() -> fresh classifier (e.g. pretrained)
        self.pretrained = pretrained
        if pretrained == "glyphs" and model_factory is None and self.model_name != "small-cnn":
            raise ValueError(f"pretrained='glyphs' exists for the small-cnn only, not {self.model_name!r}")
        self.labels = data.train_y.cpu().numpy().copy()  # own memory, not a view of a tensor
        self.stacked_members = stacked_members  # None: follow alkit.engine.train.common.STACKED_MEMBERS

    def unit_cost(self, strategy: str) -> int:
        """Models trained per cycle by ``strategy`` (for scheduling parallel units)."""
        return self.ensemble_size if strategies.get_strategy(strategy).members == "ensemble" else 1

    def first_fit_shared(self, strategy: str) -> bool:
        """Whether the first network ``strategy`` trains in a cycle is a plain training that other
        strategies of the run with the same labelled set and seed share through the fit cache
        (:meth:`fit`: not Learning Loss's, not BALD's dropout network; an ensemble's first member
        is the plain network of the cycle's seed, except in a stacked ensemble on CUDA, which is
        cached whole)."""
        spec = strategies.get_strategy(strategy)
        if spec.trains in ("lossnet", "dropout"):
            return False
        whole = spec.members == "ensemble" and self.ensemble_size > 1 and self._stacks_members()
        return not whole or self._stacks_plain()

    def batches_fits(self, strategy: str) -> bool:
        """Whether :meth:`fit_many` trains ``strategy``'s networks for several labelled sets as one
        stacked network: its trainings are plain and this task stacks them (:meth:`_stacks_plain`)."""
        spec = strategies.get_strategy(strategy)
        return spec.trains not in ("lossnet", "dropout") and self._stacks_plain()

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
            if self.pretrained == "glyphs":
                if not hasattr(self, "_backbone"):  # trained once (cached on disk), then kept here
                    from alkit.engine.train.pretrain import glyph_backbone

                    self._backbone = glyph_backbone(self.model_name)
                missing, unexpected = model.load_state_dict(self._backbone, strict=False)
                if unexpected or any(not k.startswith("fc.") for k in missing):
                    raise ValueError(f"glyph backbone does not fit {self.model_name}: {missing} {unexpected}")
        return prepare_model(model, self.device)

    def _train_one(self, labelled: np.ndarray, seed: int, lossnet=None, dropout: float = 0.0):
        if lossnet is None and not dropout and self._stacks_plain():
            return self._train_plain([(labelled, seed)])[0]
        cache = getattr(self, "fit_cache", None) if lossnet is None and not dropout else None
        stored = cache.load(labelled, seed) if cache is not None else None
        if stored is not None:  # the same training, done by another strategy of this run
            torch.manual_seed(seed)
            model = self.new_model()
            model.load_state_dict(stored["model"])
            return model.eval()
        model = self._train_fresh(labelled, seed, lossnet, dropout)
        if cache is not None:
            cache.save(labelled, seed, {"model": model.state_dict()})
        return model

    def _train_fresh(self, labelled: np.ndarray, seed: int, lossnet=None, dropout: float = 0.0):
        torch.manual_seed(seed)
        model = self.new_model()
        if dropout:
            add_penultimate_dropout(model, dropout)
        if lossnet is not None:
            lossnet = lossnet.to(self.device)
        if self.ssl is not None:
            from alkit.engine.train.fixmatch import train_fixmatch
            from alkit.engine.train.uda import train_uda

            opts = dict(self.ssl_options)
            weak_labelled = opts.pop("labelled_view", "recipe") == "weak"
            if opts.pop("unlabelled", "rest") == "all":
                unl = np.arange(len(self.labels))
            else:
                unl = np.setdiff1d(np.arange(len(self.labels)), labelled)
            trainer = train_uda if self.ssl == "uda" else train_fixmatch
            return trainer(model, self.data, labelled, unl, iterations=self.iterations,
                           batch_size=self.batch_size, unlabelled_batch=self.unlabelled_batch,
                           lr=self.lr, weak=self.weak, strong=self.strong,
                           labelled_augment=self.weak if weak_labelled else self.augment,
                           seed=seed, lossnet=lossnet, progress=False, **opts)
        return train_supervised(model, self.data, labelled, epochs=self.epochs, augment=self.augment,
                                seed=seed, batch_size=self.batch_size, lr=self.lr, lossnet=lossnet,
                                min_steps=self.min_steps)

    def fit(self, labelled: np.ndarray, seed: int, strategy: str) -> Learner:
        """Fresh model(s) on ``labelled``: ``ensemble_size`` members for strategies registered with
        ``members="ensemble"``, model + loss-prediction module for ``trains="lossnet"``, one model
        trained with dropout on its penultimate features for ``trains="dropout"`` (BALD), else one."""
        return self.fit_many([(labelled, seed, strategy)])[0]

    def fit_many(self, requests: list) -> list[Learner]:
        """:meth:`fit` for each ``(labelled, seed, strategy)`` of ``requests`` (e.g. the trials of
        one strategy at one cycle, :func:`alkit.protocol.loop.run_trials`), in that order. Where the
        task stacks plain trainings (:meth:`batches_fits`), every plain network the requests need
        (an ensemble's members included) trains in one stacked network per labelled-set size; each
        comes out the same bit for bit as trained alone (:mod:`alkit.engine.train.stacked`), so the
        records do not depend on which requests travel together."""
        plain: list = []  # (labelled, seed) of every stacked plain training, in request order
        shapes: list = []
        for labelled, seed, strategy in requests:
            spec = strategies.get_strategy(strategy)
            members = self.ensemble_size if spec.members == "ensemble" else 1
            if self.batches_fits(strategy):
                shapes.append(("plain", len(plain), members))
                plain.extend((labelled, seed + 1000 * m) for m in range(members))
            else:
                shapes.append(("alone", labelled, seed, strategy))
        models = self._train_plain(plain) if plain else []
        out = []
        for shape in shapes:
            if shape[0] == "plain":
                out.append(Learner(models[shape[1]:shape[1] + shape[2]]))
            else:
                out.append(self._fit_alone(*shape[1:]))
        return out

    def _fit_alone(self, labelled: np.ndarray, seed: int, strategy: str) -> Learner:
        """One request of :meth:`fit_many` trained on its own (Learning Loss, BALD, SSL, or a task
        that does not stack)."""
        spec = strategies.get_strategy(strategy)
        if spec.trains == "lossnet":
            if not hasattr(self, "_tap_channels"):  # read once from a throw-away instance
                self._tap_channels = list(self.new_model().tap_channels)
            torch.manual_seed(seed + 7)
            lossnet = LossPredictionModule(self._tap_channels)
            model = self._train_one(labelled, seed, lossnet=lossnet)
            return Learner([model], lossnet=lossnet)
        if spec.trains == "dropout":  # BALD: trained with the dropout its MC samples use
            return Learner([self._train_one(labelled, seed, dropout=BALD_DROPOUT)])
        members = self.ensemble_size if spec.members == "ensemble" else 1
        seeds = [seed + 1000 * m for m in range(members)]
        if members > 1 and self._stacks_members():
            return Learner(self._train_stacked(labelled, seeds))
        return Learner([self._train_one(labelled, s) for s in seeds])

    def _stacks_members(self) -> bool:
        """Whether an ensemble's members train as one stacked network (and, on the CPU, every plain
        network: :meth:`_stacks_plain`): supervised training, a network
        :func:`~alkit.engine.train.stacked.can_stack` takes, and the switch (``stacked_members``, else
        ``STACKED_MEMBERS``) on for this device and image size.

        SSL trainings never stack. Measured (2026-12-08, Intel Xeon with AVX-512, one thread): a
        stacked UDA trainer built like the supervised one (row-wise consistency loss, bit for bit
        the same network in stacks of 1 to 21) trained the 7 trials of digits SSL-Random and
        SSL-Entropy (high regime, 600 iterations of 64 + 2 x 64 images) at 10.47 / 10.43 s per unit
        against 10.22 / 10.22 s one network at a time (0.98x): a step of 192 images is
        compute-bound (torch.profiler: convolution backward 2.1 of its 5.5 ms), so stacking saves nothing, and
        a lone network beside its twin would cost 2x."""
        from alkit.engine.train.stacked import can_stack, stacking_wanted

        if self.ssl is not None or not stacking_wanted(self.device, self.data.image_size,
                                                       getattr(self, "stacked_members", None)):
            return False
        if not hasattr(self, "_stackable"):  # read once from a throw-away instance
            self._stackable = can_stack(self.new_model())
        return self._stackable

    def _stacks_plain(self) -> bool:
        """Whether every plain training (not only an ensemble's) trains stacked, one request or many
        (:meth:`fit_many`): where the ensemble stacks (:meth:`_stacks_members`) and on the CPU, where
        a stacked member is measured to be the same bit for bit in a stack of any size
        (tests/test_stacked_members.py; on CUDA that is not measured, so there only ensembles stack,
        each cached whole: :meth:`_train_stacked`)."""
        return self.device.type == "cpu" and self._stacks_members()

    def _train_stacked(self, labelled: np.ndarray, seeds: list[int]) -> list:
        """The members ``seeds`` of an ensemble (member m initialised under ``torch.manual_seed(seeds[m])``
        and fed the data stream of ``seeds[m]``, as :meth:`_train_one` would) trained as one stacked
        network (ENS-varR, Beluch et al. 2018) where plain trainings do not stack (CUDA). The fit
        cache keeps the whole ensemble as one entry: there a stacked member equals its lone training
        only up to float rounding, so it never stands in for one (nor the reverse), and a run's
        records do not depend on which strategy trained first. On the CPU: :meth:`_train_plain`."""
        if self._stacks_plain():
            return self._train_plain([(labelled, s) for s in seeds])
        from alkit.engine.train.stacked import train_stacked_supervised

        cache, part = getattr(self, "fit_cache", None), f"stacked{len(seeds)}"
        stored = cache.load(labelled, seeds[0], part) if cache is not None else None
        models = []
        for s in seeds:
            torch.manual_seed(s)
            models.append(self.new_model())
        if stored is not None and len(stored) == len(models):
            for m, model in enumerate(models):
                model.load_state_dict(stored[f"member{m}"])
            return [model.eval() for model in models]
        train_stacked_supervised(models, self.data, labelled, epochs=self.epochs, augment=self.augment, seeds=seeds,
                                 batch_size=self.batch_size, lr=self.lr, min_steps=self.min_steps)
        if cache is not None:
            cache.save(labelled, seeds[0], {f"member{m}": model.state_dict() for m, model in enumerate(models)}, part)
        return models

    def _train_plain(self, requests: list) -> list:
        """Plain networks for ``requests`` ``[(labelled, seed), ...]`` (model initialised under
        ``torch.manual_seed(seed)``, fed the data stream of ``seed``, as :meth:`_train_fresh` would),
        trained as stacked networks (:func:`~alkit.engine.train.stacked.train_stacked_supervised`,
        one per labelled-set size, at most :data:`MAX_STACK` members each) and returned in order, in
        eval mode. Each is the same bit for bit whatever it is stacked with, so the fit cache keeps
        one entry per network and any strategy or trial of the run may load it."""
        from alkit.engine.train.stacked import train_stacked_supervised

        cache = getattr(self, "fit_cache", None)
        models: list = [None] * len(requests)
        todo: dict = {}
        for i, (labelled, seed) in enumerate(requests):
            torch.manual_seed(seed)
            model = self.new_model()
            stored = cache.load(labelled, seed) if cache is not None else None
            if stored is not None:
                model.load_state_dict(stored["model"])
                models[i] = model.eval()
            else:
                models[i] = model
                todo.setdefault(len(labelled), []).append(i)
        for group in todo.values():
            for first in range(0, len(group), MAX_STACK):
                part = group[first:first + MAX_STACK]
                train_stacked_supervised([models[i] for i in part], self.data, [requests[i][0] for i in part],
                                         epochs=self.epochs, augment=self.augment,
                                         seeds=[requests[i][1] for i in part], batch_size=self.batch_size,
                                         lr=self.lr, min_steps=self.min_steps)
                if cache is not None:
                    for i in part:
                        cache.save(requests[i][0], requests[i][1], {"model": models[i].state_dict()})
        return models

    def evaluate(self, learner: Learner) -> dict[str, float]:
        return {"accuracy": accuracy(learner.models[0], self.data)}

    def predict_labels(self, learner: Learner, indices) -> np.ndarray:
        """int ``[n]``: the (first) model's predicted class of pool items ``indices`` (the greedy
        oracle, :mod:`alkit.protocol.oracle`, scores its candidates with these on a validation split)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.data.train_x.device)
        probs = predict(learner.models[0], self.data.train_x[idx], self.data.mean, self.data.std)["probs"]
        return probs.argmax(1).cpu().numpy()

    def rank(self, learner: Learner, strategy: str, labelled: np.ndarray, unlabelled: np.ndarray,
             budget: float, rng: np.random.Generator) -> np.ndarray:
        """Pool indices of at most ``budget`` unlabelled items, best first, chosen by ``strategy``.

        The strategy gets a :class:`~alkit.strategies.QueryInputs` whose needs are computed here
        on first access (``probs``, ``member_probs``/``member_preds``, ``features`` of the whole
        pool, ``predicted_loss``, ``mc_probs`` (``mc_samples`` = 20 passes, dropout 0.5 on the
        penultimate features), ``mc_bald`` (their BALD scores, chunked), ``grad_embedding``, ``labelled_labels``). The providers hold the
        models and the images, never the task or its labels.
        """
        spec = strategies.get_strategy(strategy)
        models, lossnet = learner.models, learner.lossnet
        images, mean, std = self.data.train_x, self.data.mean, self.data.std
        unl = torch.as_tensor(np.asarray(unlabelled, dtype=np.int64), device=self.device)
        memo: dict = {}

        def once(key, compute):
            if key not in memo:
                memo[key] = compute()
            return memo[key]

        def probs_of(m: int):  # [u, K] softmax of member m
            return once(("probs", m), lambda: predict(models[m], images[unl], mean, std)["probs"])

        def features():  # [n_pool, D] on the device
            return once("features", lambda: predict(models[0], images, mean, std, features=True)["embedding"])

        def unl_features():  # [u, D] on the device
            if "features" in memo:
                return memo["features"][unl]
            return once("unl_features", lambda: predict(models[0], images[unl], mean, std, features=True)["embedding"])

        def mc_probs():  # [T, u, K]
            fc = getattr(models[0], "fc", None)
            if not isinstance(fc, torch.nn.Linear):
                raise ValueError("mc_probs needs the classifier's last layer as a torch.nn.Linear named 'fc'")
            return strategies.scores.mc_dropout_probs(unl_features(), fc.weight, fc.bias, samples=20, p=BALD_DROPOUT,
                                                      seed=int(rng.integers(2**31 - 1)))

        def mc_bald():  # [u], chunked over the pool
            fc = getattr(models[0], "fc", None)
            if not isinstance(fc, torch.nn.Linear):
                raise ValueError("mc_bald needs the classifier's last layer as a torch.nn.Linear named 'fc'")
            return strategies.scores.mc_dropout_bald(unl_features(), fc.weight, fc.bias, samples=20, p=BALD_DROPOUT,
                                                     seed=int(rng.integers(2**31 - 1)))

        providers = {
            "probs": lambda: probs_of(0).cpu().numpy(),
            "member_probs": lambda: torch.stack([probs_of(m) for m in range(len(models))]).cpu().numpy(),
            "member_preds": lambda: torch.stack([probs_of(m).argmax(1) for m in range(len(models))]).cpu().numpy(),
            "features": lambda: features().cpu().numpy(),
            "predicted_loss": lambda: predict(models[0], images[unl], mean, std,
                                              lossnet=lossnet)["predicted_loss"].cpu().numpy(),
            "mc_probs": mc_probs,
            "mc_bald": mc_bald,
            "grad_embedding": lambda: strategies.scores.grad_embedding(probs_of(0).cpu().numpy(),
                                                                       unl_features().cpu().numpy()),
        }
        if "labelled_labels" in spec.needs:  # only the labelled items' labels, copied
            labelled_labels = self.labels[np.asarray(labelled, dtype=np.int64)].copy()
            providers["labelled_labels"] = lambda: labelled_labels
        inputs = strategies.QueryInputs(unlabelled, labelled=labelled, num_classes=self.data.num_classes,
                                        pool_size=len(self.labels), device=self.device, providers=providers,
                                        needs=spec.needs, strategy=strategy)
        return strategies.rank(strategy, inputs, int(budget), rng)
