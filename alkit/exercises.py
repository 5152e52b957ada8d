"""A bench for the solution notebooks that train a few models by hand (solutions 02 and 04): the
embedded digits data, the paper's augmentation and the weak/strong views of UDA and FixMatch, the
class-balanced initial labelled set of a seed, and a fresh small CNN per seed. The statistics those
notebooks print come from :func:`alkit.analysis.stats.gap_line`."""

from __future__ import annotations

import numpy as np
import torch

from alkit.engine.augment import build_augment
from alkit.engine.data.digits import load_digits
from alkit.engine.models import build_model
from alkit.protocol.pool import class_balanced_order


class DigitsBench:
    """Digits (8x8 grey images, 10 classes) ready for hand-written training loops.

    Attributes: ``data`` (:func:`alkit.engine.data.digits.load_digits`), ``labels`` (``[N]`` pool
    labels, numpy), ``aug`` (the paper's augmentation: crop + flip off), ``weak`` and ``strong``
    (UDA's / FixMatch's two views of an unlabelled image), ``n_labels`` (default size of the
    labelled set). Creating a bench sets torch to one thread: on tiny 8x8 convolutions one thread
    is the fastest."""

    def __init__(self, n_labels: int = 20, threads: int | None = 1):
        if threads:
            torch.set_num_threads(threads)
        self.n_labels = int(n_labels)
        self.data = load_digits()
        self.labels = self.data.train_y.numpy()
        self.aug, self.weak, self.strong = (build_augment(n, 8, hflip=False) for n in ("paper", "weak", "strong"))

    def labelled_set(self, seed: int, n: int | None = None):
        """``(labelled, rest)``: the class-balanced initial labelled set of trial ``seed`` (``n``
        pool indices, default ``n_labels``; the order the AL loop uses, alkit.protocol.pool) and
        the remaining pool indices, both 1-D integer arrays."""
        n = self.n_labels if n is None else int(n)
        lab = class_balanced_order(self.labels, np.random.default_rng(seed))[:n]
        return lab, np.setdiff1d(np.arange(len(self.labels)), lab)

    def fresh(self, seed: int) -> torch.nn.Module:
        """A newly initialised small CNN for digits (10 classes, 1 channel, 8x8), seeded by ``seed``."""
        torch.manual_seed(seed)
        return build_model("small-cnn", 10, in_channels=1, image_size=8)
