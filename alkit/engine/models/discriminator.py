"""The s4GAN discriminator (Mittal, Tatarchenko & Brox 2019, "Semi-supervised semantic segmentation
with high- and low-level consistency", s4GAN branch; used by the paper's SSL-X in Sec. 4.3).

Input: an image concatenated with a class map — the segmentation network's softmax (a "fake") or
the one-hot ground truth (a "real") — so ``3 + K`` channels. Four 4x4 stride-2 convolutions
(64-128-256-512 channels at the original width), each followed by leaky ReLU 0.2; 2-D dropout 0.5
after the first ``dropout_layers`` of them (the original, sud0301/semisup-semseg
``model/discriminator.py``: after the first three only, none after the fourth; alkit's default 4 =
after every one, kept for the small recipes' stored results; the ``paper`` recipe sets 3), global
average pooling, one linear layer to one logit. The pooled 512-d vector is the feature the
generator's feature-matching loss compares; ``sigmoid(logit)`` is the confidence score that gates
self-training (threshold 0.6) and that SSL-D-score ranks images by (lowest first).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class S4GANDiscriminator(nn.Module):
    """s4GAN's image-level discriminator.

    ``num_classes`` K, ``width`` the first layer's channels (64 in the original; layers double it:
    64-128-256-512), ``dropout`` the 2-D dropout rate after the first ``dropout_layers`` convolutions
    (0-4; the original: 3). ``input_pool`` p > 1: D sees its input average-pooled p x p (not in the
    original; the small ``shapes`` recipe's choice, a p^2 cheaper D, see alkit.experiments.recipes).
    ``forward(x)`` with ``x`` float ``[B, 3 + K, H, W]`` returns
    ``(logit [B], features [B, 8 * width])``; ``forward(self.pool(x), pooled=True)`` is the same.
    """

    def __init__(self, num_classes: int, width: int = 64, in_image_channels: int = 3, dropout: float = 0.5,
                 dropout_layers: int = 4, input_pool: int = 1):
        super().__init__()
        if int(input_pool) < 1:
            raise ValueError(f"input_pool must be >= 1, got {input_pool}")
        self.input_pool = int(input_pool)
        self.in_channels = in_image_channels + num_classes
        chans = [self.in_channels, width, 2 * width, 4 * width, 8 * width]
        self.convs = nn.ModuleList([nn.Conv2d(a, b, 4, stride=2, padding=1) for a, b in zip(chans, chans[1:])])
        self.drop = nn.Dropout2d(dropout)
        if not 0 <= int(dropout_layers) <= len(self.convs):
            raise ValueError(f"dropout_layers must be in 0..{len(self.convs)}, got {dropout_layers}")
        self.dropout_layers = int(dropout_layers)
        self.fc = nn.Linear(8 * width, 1)
        self.feature_dim = 8 * width

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """D's input ``[B, 3 + K, H, W]`` average-pooled ``input_pool`` x ``input_pool`` (ceil mode;
        ``x`` itself when ``input_pool`` is 1): what :meth:`forward` sees first."""
        return F.avg_pool2d(x, self.input_pool, ceil_mode=True) if self.input_pool > 1 else x

    def forward(self, x: torch.Tensor, pooled: bool = False):
        if x.shape[1] != self.in_channels:
            raise ValueError(f"discriminator expects {self.in_channels} channels (image + class map), got {x.shape[1]}")
        h = x if pooled else self.pool(x)  # pooled=True: x is already self.pool(...) (a trainer pooling once per batch)
        for i, conv in enumerate(self.convs):
            h = F.leaky_relu(conv(h), 0.2)
            if i < self.dropout_layers:
                h = self.drop(h)
        feat = h.mean((2, 3))
        return self.fc(feat).squeeze(1), feat
