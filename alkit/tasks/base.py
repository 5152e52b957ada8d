"""What every task gives the loop (:class:`Task`) and what its ``fit`` returns (:class:`Learner`).

The loop (:mod:`alkit.protocol.loop`) owns the paper's protocol; a task owns what is specific to
classification or segmentation: the pool's costs, how the initial set is drawn, training,
evaluation and turning a strategy's wishes into a ranking of the unlabelled pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class Task(Protocol):
    """What the loop needs from a task (classification or segmentation)."""

    name: str

    def pool_costs(self) -> np.ndarray:
        """Cost of labelling each pool item, ``[n_pool]`` (1 for images, clicks for masks)."""

    def initial_order(self, rng: np.random.Generator) -> np.ndarray:
        """Pool indices in the order the initial set is drawn (class-balanced / random)."""

    def fit(self, labelled: np.ndarray, seed: int, strategy: str):
        """Fresh model(s) trained on the labelled items (what the strategy needs, e.g. an ensemble)."""

    def evaluate(self, learner) -> dict[str, float]:
        """Test metric(s) of the learner, e.g. ``{"accuracy": 0.9}`` or ``{"miou": 0.5}``."""

    def rank(self, learner, strategy: str, labelled: np.ndarray, unlabelled: np.ndarray,
             budget: float, rng: np.random.Generator) -> np.ndarray:
        """Unlabelled pool indices, most wanted first (at least enough to cover ``budget``)."""


@dataclass
class Learner:
    """Trained network(s) of one cycle: ``models[0]`` is the one evaluated and reported; an ensemble
    strategy gets ``ensemble_size`` members, Learning Loss a ``lossnet`` (loss-prediction module)."""

    models: list
    lossnet: object = None
    info: dict = field(default_factory=dict)
