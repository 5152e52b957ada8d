"""Wide Residual Network WRN-28-2 (Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016).

The paper (Sec. 3.2, "Training Details") uses WRN-28-2 for every classification experiment: depth
28 = 6 * 4 + 4, so three groups of four pre-activation "wide basic" blocks (BN-ReLU-conv3x3 twice)
with widths 16 * 2, 32 * 2, 64 * 2 after a 16-channel 3x3 stem. About 1.47M parameters for 10
classes. Batch norm keeps PyTorch's default momentum (0.1); there is no dropout.

``forward_features`` exposes the three group outputs as taps for Learning Loss (Yoo & Kweon 2019);
the last one is taken after the final BN-ReLU, i.e. the map that is average-pooled into the 128-d
embedding (the input of the classification layer).
"""

from __future__ import annotations

import torch
from torch import nn


def kaiming_init(model: nn.Module) -> nn.Module:
    """He et al. 2015 ("Delving deep into rectifiers") initialisation, in place: convolutions
    ``kaiming_normal_(fan_out, relu)``; linear layers ``kaiming_normal_(fan_in, linear)``
    (std 1/sqrt(fan_in)) with zero bias; batch norm weight 1, bias 0. Shared by all alkit models."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


class WideBasicBlock(nn.Module):
    """Pre-activation block: ``BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3 + shortcut``.

    ``[B, c_in, H, W] -> [B, c_out, H / stride, W / stride]``; the shortcut is a 1x1 conv (applied
    to the pre-activated input, as in the original) when the shape changes, else the identity.
    """

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.relu(self.bn1(x))
        h = self.conv1(a)
        h = self.conv2(self.relu(self.bn2(h)))
        return h + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(nn.Module):
    """WRN-``depth``-``widen`` classifier for float normalised images ``[B, C, H, W]``.

    ``forward(x) -> logits [B, K]``; ``forward_features(x) -> (logits, embedding [B, 64 * widen],
    taps)`` with taps ``[B, 16w, H, W], [B, 32w, H/2, W/2], [B, 64w, H/4, W/4]``.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, depth: int = 28, widen: int = 2):
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"WRN depth must be 6n + 4 (e.g. 28), got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        groups = []
        c_in = widths[0]
        for c_out, stride in zip(widths[1:], (1, 2, 2)):
            blocks = [WideBasicBlock(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1) for i in range(n)]
            groups.append(nn.Sequential(*blocks))
            c_in = c_out
        self.groups = nn.ModuleList(groups)
        self.bn = nn.BatchNorm2d(c_in)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(c_in, num_classes)
        self.tap_channels = widths[1:]
        self.embedding_dim = c_in
        kaiming_init(self)

    def forward_features(self, x: torch.Tensor):
        h = self.stem(x)
        taps = []
        for group in self.groups:
            h = group(h)
            taps.append(h)
        h = self.relu(self.bn(h))
        taps[-1] = h
        emb = h.mean(dim=(2, 3))
        return self.fc(emb), emb, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]
