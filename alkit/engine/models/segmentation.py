"""Segmentation networks: DeepLab-v2 (paper scale) and a small fast net (embedded ``shapes``).

Every network takes float normalised images ``[B, 3, H, W]`` and has

* ``forward(x)`` -> logits ``[B, K, H, W]`` (upsampled to the input size),
* ``forward_features(x)`` -> ``(logits, taps)`` where ``taps`` are 4 intermediate feature maps
  ``[B, C_i, H_i, W_i]`` for the Learning-Loss module (Yoo & Kweon 2019), and
* ``tap_channels`` (list of the ``C_i``).

DeepLab-v2 (Chen et al., TPAMI 2018), the paper's network (Sec. 4.3): a dilated ResNet (output
stride 8: layers 3 and 4 use dilation 2 and 4 instead of striding) and the v2 atrous spatial
pyramid pooling head — four 3x3 classifiers with dilation 6, 12, 18, 24 whose outputs are summed.
The paper starts from COCO-pretrained weights; torchvision ships no COCO DeepLab-v2, so
``pretrained="imagenet"`` loads torchvision's ImageNet ResNet (downloaded on first use) and
``None`` starts from scratch. With pretrained weights the backbone's BatchNorm layers are frozen
(eval mode, as DeepLab-v2 trains with batch 10).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

SEGMENTATION_MODELS = ("small-seg", "deeplabv2-resnet101", "deeplabv2-resnet50")

# The logits' bilinear upsampling (align_corners=False) on the CPU as two small matrix products,
# ``A_h @ x @ A_w^T``: the same values up to float rounding (tests/test_step_kernels.py), but torch's CPU
# bilinear kernel, and its backward most of all, is a scalar loop. Measured on one thread
# (benchmarks/bench_step_kernels.py, 2026-12-06): forward + backward of ``[10, 6, 12, 12] -> 48 x 48``
# 1.05-1.45 -> 0.5-0.7 ms, about 12 % of a small-seg training step. False: F.interpolate (the previous
# path; always on other devices).
CPU_MATMUL_UPSAMPLE = True


@functools.lru_cache(maxsize=64)
def interpolation_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """float64 ``[n_out, n_in]``: row ``o`` holds the weights with which bilinear interpolation
    (``align_corners=False``, as ``F.interpolate`` computes it for an explicit size) mixes the
    ``n_in`` input positions into output position ``o``: source ``max(0, (o + 0.5) n_in / n_out - 0.5)``,
    split between its floor and the next position (clamped at the edge)."""
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp_min(0.0)
    lo = src.floor().long().clamp_max(n_in - 1)
    hi = (lo + 1).clamp_max(n_in - 1)
    w_hi = src - lo
    a = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    a.index_put_((rows, lo), 1.0 - w_hi, accumulate=True)
    a.index_put_((rows, hi), w_hi, accumulate=True)
    return a


def upsample_bilinear(x: torch.Tensor, size) -> torch.Tensor:
    """``x`` float ``[B, K, h, w]`` resized to ``size`` ``(H, W)`` bilinearly (align_corners=False):
    matrix products on the CPU (:data:`CPU_MATMUL_UPSAMPLE`), else ``F.interpolate``."""
    size = (int(size[0]), int(size[1]))
    if x.device.type != "cpu" or not CPU_MATMUL_UPSAMPLE:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    a_h = interpolation_matrix(x.shape[-2], size[0]).to(x.dtype)
    a_w = interpolation_matrix(x.shape[-1], size[1]).to(x.dtype)
    return torch.matmul(torch.matmul(a_h, x), a_w.t())


def _cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallSegNet(nn.Module):
    """A small DeepLab-like net for 64x64 images, fast on a CPU (~33 k parameters at width 16,
    ~9 M multiply-adds per 64x64 image; ~73 k / ~20 M at width 24).

    stride-4 encoder (two strided 3x3 stages) -> dilated context block (rates 2, 4) -> a small ASPP
    (rates 1, 2, 4 + image pooling) -> 1x1 classifier -> bilinear upsampling x4.
    """

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        w = width
        self.stage1 = nn.Sequential(_cbr(3, w // 2, stride=2), _cbr(w // 2, w))  # H/2
        self.stage2 = nn.Sequential(_cbr(w, w, stride=2), _cbr(w, w))  # H/4
        self.stage3 = nn.Sequential(_cbr(w, 2 * w, dilation=2), _cbr(2 * w, 2 * w, dilation=4))  # H/4
        self.aspp = nn.ModuleList([nn.Sequential(nn.Conv2d(2 * w, w, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True))]
                                  + [_cbr(2 * w, w, dilation=r) for r in (2, 4)])
        self.pool_proj = nn.Sequential(nn.Conv2d(2 * w, w, 1), nn.ReLU(True))
        self.project = nn.Sequential(nn.Conv2d(4 * w, 2 * w, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(True))
        self.classifier = nn.Conv2d(2 * w, num_classes, 1)
        self.tap_channels = [w, w, 2 * w, 2 * w]

    def forward_features(self, x: torch.Tensor):
        size = x.shape[-2:]
        t1 = self.stage1(x)
        t2 = self.stage2(t1)
        t3 = self.stage3(t2)
        pooled = self.pool_proj(F.adaptive_avg_pool2d(t3, 1)).expand(-1, -1, *t3.shape[-2:])
        t4 = self.project(torch.cat([b(t3) for b in self.aspp] + [pooled], 1))
        logits = upsample_bilinear(self.classifier(t4), size)
        return logits, [t1, t2, t3, t4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


class ASPPv2(nn.Module):
    """DeepLab-v2 head: sum of 3x3 atrous classifiers (rates 6, 12, 18, 24) on the last features."""

    def __init__(self, cin: int, num_classes: int, rates=(6, 12, 18, 24)):
        super().__init__()
        self.branches = nn.ModuleList([nn.Conv2d(cin, num_classes, 3, padding=r, dilation=r) for r in rates])
        for b in self.branches:
            nn.init.normal_(b.weight, 0, 0.01)
            nn.init.zeros_(b.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(b(x) for b in self.branches)


class DeepLabV2(nn.Module):
    """DeepLab-v2: dilated ResNet-50/101 (output stride 8) + :class:`ASPPv2`. Taps = layer1..layer4."""

    def __init__(self, num_classes: int, depth: int = 101, pretrained: str | None = None):
        super().__init__()
        from torchvision.models import ResNet50_Weights, ResNet101_Weights, resnet50, resnet101

        if pretrained not in (None, "imagenet"):
            raise ValueError(f"unknown pretrained weights {pretrained!r}; choose from none, imagenet")
        builders = {50: (resnet50, ResNet50_Weights.IMAGENET1K_V1), 101: (resnet101, ResNet101_Weights.IMAGENET1K_V1)}
        if depth not in builders:
            raise ValueError(f"DeepLab-v2 depth must be 50 or 101, got {depth}")
        build, weights = builders[depth]
        net = build(weights=weights if pretrained else None, replace_stride_with_dilation=[False, True, True])
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layers = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.head = ASPPv2(2048, num_classes)
        self.tap_channels = [256, 512, 1024, 2048]
        self.freeze_bn = pretrained is not None

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.freeze_bn:  # keep pretrained BN statistics (batch 10 is too small to re-estimate)
            for m in [self.stem, self.layers]:
                for mod in m.modules():
                    if isinstance(mod, nn.BatchNorm2d):
                        mod.eval()
                        mod.weight.requires_grad_(False)
                        mod.bias.requires_grad_(False)
        return self

    def forward_features(self, x: torch.Tensor):
        size = x.shape[-2:]
        h = self.stem(x)
        taps = []
        for layer in self.layers:
            h = layer(h)
            taps.append(h)
        logits = upsample_bilinear(self.head(h), size)
        return logits, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


def build_segmentation_model(name: str, num_classes: int, pretrained: str | None = None) -> nn.Module:
    """A registered segmentation network by name (built in: ``small-seg``, ``deeplabv2-resnet101``,
    ``deeplabv2-resnet50``; a plug-in's through ``alkit.register_model(..., kind="segmentation")``).

    ``pretrained``: ``None`` or ``"imagenet"`` (DeepLab backbones only)."""
    from alkit.engine.models import model_names, model_spec

    spec = model_spec(name, "segmentation")
    if spec is None:
        raise ValueError(f"unknown segmentation model {name!r}; choose from {', '.join(model_names('segmentation'))}")
    return spec.factory(num_classes, pretrained)


def _small_seg(num_classes: int, pretrained: str | None = None) -> nn.Module:
    if pretrained:
        raise ValueError("small-seg has no pretrained weights; use pretrained=None")
    return SmallSegNet(num_classes)


def _register_builtins() -> None:
    from alkit.engine.models import register_model

    register_model("small-seg", _small_seg, kind="segmentation", builtin=True)
    for depth in (101, 50):
        register_model(f"deeplabv2-resnet{depth}", lambda k, pretrained, d=depth: DeepLabV2(k, depth=d, pretrained=pretrained),
                       kind="segmentation", builtin=True)


_register_builtins()
