"""CIFAR-style ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

The variant used on 32x32 images (and by Yoo & Kweon 2019 for Learning Loss): a 3x3 stride-1 stem
without max-pooling, then four stages of two basic blocks (64, 128, 256, 512 channels; strides
1, 2, 2, 2), global average pooling and a linear layer. About 11.2M parameters for 10 classes.
The paper's transfer experiment (Sec. 3.2.5) uses the ImageNet-stem version instead; that lives
in :mod:`alkit.engine.models.pretrained`.

``forward_features`` exposes the four stage outputs as Learning-Loss taps (as in Yoo & Kweon).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alkit.engine.models.wrn import kaiming_init


class BasicBlock(nn.Module):
    """``conv3x3(stride)-BN-ReLU-conv3x3-BN + shortcut``, then ReLU.

    ``[B, c_in, H, W] -> [B, c_out, H / stride, W / stride]``; the shortcut is 1x1 conv + BN when
    the shape changes.
    """

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 for small images ``[B, C, H, W]`` (any H, W >= 8).

    ``forward(x) -> logits [B, K]``; ``forward_features(x) -> (logits, embedding [B, 512], taps)``
    with taps ``[B, 64, H, W], [B, 128, H/2, W/2], [B, 256, H/4, W/4], [B, 512, H/8, W/8]``.
    """

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        widths = [64, 128, 256, 512]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True))
        stages, c_in = [], 64
        for c_out, stride in zip(widths, (1, 2, 2, 2)):
            stages.append(nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(512, num_classes)
        self.tap_channels = widths
        self.embedding_dim = 512
        kaiming_init(self)

    def forward_features(self, x: torch.Tensor):
        h = self.stem(x)
        taps = []
        for stage in self.stages:
            h = stage(h)
            taps.append(h)
        emb = h.mean(dim=(2, 3))
        return self.fc(emb), emb, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]
