"""Dropout on a classifier's penultimate features, in training as at query time: what BALD's
MC-dropout samples approximate a posterior with (Gal, Islam & Ghahramani 2017 train the network
with the dropout they sample at test time).

alkit's classifiers have no dropout inside; their last layer is ``model.fc`` (an ``nn.Linear`` on
the embedding ``[B, D]``). :func:`add_penultimate_dropout` puts inverted dropout with rate ``p``
in front of it (a forward pre-hook, active only in training mode), so a model trained for BALD
learns with the same dropout :func:`alkit.strategies.scores.mc_dropout_bald` samples from; in
evaluation mode (accuracy, features) the model is unchanged.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

BALD_DROPOUT = 0.5  # the rate BALD trains and samples with (Gal et al. 2017: 0.5 before the last layer)


class PenultimateDropout:
    """Forward pre-hook for ``model.fc``: ``F.dropout(x, p)`` while the layer is in training mode."""

    def __init__(self, p: float):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1), got {p}")
        self.p = float(p)

    def __call__(self, module: nn.Module, args):
        return (F.dropout(args[0], self.p, training=module.training),) + tuple(args[1:])


def add_penultimate_dropout(model: nn.Module, p: float = BALD_DROPOUT) -> nn.Module:
    """Register :class:`PenultimateDropout` on ``model.fc`` (an ``nn.Linear``); returns ``model``.
    ValueError for a model without such a layer."""
    fc = getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear):
        raise ValueError("training with dropout needs the classifier's last layer as a torch.nn.Linear named 'fc'")
    fc.register_forward_pre_hook(PenultimateDropout(p))
    return model
