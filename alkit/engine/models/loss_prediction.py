"""Loss-prediction module of Learning Loss (Yoo & Kweon, "Learning Loss for Active Learning", CVPR 2019).

Attached to a backbone's intermediate feature maps ("taps"): each tap is global-average-pooled,
passed through its own ``Linear(C_i, hidden) -> ReLU``; the pieces are concatenated and a final
``Linear(len(taps) * hidden, 1)`` predicts the backbone's loss on that sample. It is trained with
:func:`alkit.engine.train.common.margin_ranking_loss`; the LL strategy queries the unlabelled items
with the highest predicted loss (paper Sec. 3.1, "Learning Loss (LL)").
"""

from __future__ import annotations

import torch
from torch import nn


class LossPredictionModule(nn.Module):
    """``forward(taps: list of [B, C_i, H_i, W_i]) -> predicted loss [B]``.

    ``tap_channels``: the ``C_i`` of the taps, in order (a model's ``tap_channels``);
    ``hidden``: width of each per-tap layer (128 in Yoo & Kweon).
    """

    def __init__(self, tap_channels: list[int], hidden: int = 128):
        super().__init__()
        tap_channels = [int(c) for c in tap_channels]
        if not tap_channels or min(tap_channels) < 1 or hidden < 1:
            raise ValueError(f"need >= 1 tap with >= 1 channel and hidden >= 1, got "
                             f"tap_channels={tap_channels}, hidden={hidden}")
        self.tap_channels = tap_channels
        self.branches = nn.ModuleList(nn.Sequential(nn.Linear(c, hidden), nn.ReLU(inplace=True))
                                      for c in tap_channels)
        self.head = nn.Linear(hidden * len(tap_channels), 1)

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        if len(taps) != len(self.branches):
            raise ValueError(f"expected {len(self.branches)} taps (channels {self.tap_channels}), got {len(taps)}")
        pooled = [branch(t.mean(dim=(2, 3)) if t.dim() == 4 else t) for branch, t in zip(self.branches, taps)]
        return self.head(torch.cat(pooled, dim=1)).squeeze(1)
