"""A small CNN for the embedded 8x8 grey-scale digits (fast on a laptop CPU).

Not from the paper: the stand-in for WRN-28-2 when alkit runs on scikit-learn's 8x8 digits, so the
notebooks' default runs take minutes on a CPU. Three stages of one ``conv3x3-BN-ReLU`` each (16, 32,
64 channels), the second and third with stride 2 (8x8 -> 4x4 -> 2x2), then global average pooling
(64-d embedding) and a linear layer. About 24k parameters.

One convolution per stage (it had two in the first two stages, ~35k parameters): on 8x8 images a
training step is dominated by per-layer overhead, and the shorter network trains about 2x faster
per step at the same accuracy (paper augmentation, 800 SGD steps, 3 seeds: 94.9 vs 95.2 % at 100
labels, 96.5 vs 96.7 % at 200), which buys the trials that make the default runs decisive.

``forward_features`` exposes the three stage outputs as Learning-Loss taps.
"""
from __future__ import annotations

import torch
from torch import nn

from alkit.engine.models.wrn import kaiming_init


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """``conv3x3(stride, padding 1) -> BN -> ReLU``: ``[B, c_in, H, W] -> [B, c_out, H/stride, W/stride]``."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """``forward(x [B, C, H, W]) -> logits [B, K]``; ``forward_features`` also returns the
    embedding ``[B, 64]`` and taps ``[B, 16, H, W], [B, 32, H/2, W/2], [B, 64, H/4, W/4]``."""

    def __init__(self, num_classes: int, in_channels: int = 1, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__()
        w1, w2, w3 = widths
        self.stages = nn.ModuleList([
            conv_bn_relu(in_channels, w1),
            conv_bn_relu(w1, w2, stride=2),
            conv_bn_relu(w2, w3, stride=2),
        ])
        self.fc = nn.Linear(w3, num_classes)
        self.tap_channels = list(widths)
        self.embedding_dim = w3
        kaiming_init(self)

    def forward_features(self, x: torch.Tensor):
        taps = []
        h = x
        for stage in self.stages:
            h = stage(h)
            taps.append(h)
        emb = h.mean(dim=(2, 3))
        return self.fc(emb), emb, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]
