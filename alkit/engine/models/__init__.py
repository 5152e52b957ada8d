"""Networks: WRN-28-2 (the paper's classifier), CIFAR ResNet-18, a small CNN for 8x8 digits, and
the Learning-Loss module. Every classifier takes float normalised images ``[B, C, H, W]`` and has
``forward(x) -> logits [B, K]``, ``forward_features(x) -> (logits, embedding [B, D], taps)``,
``tap_channels`` (channels of the taps) and ``embedding_dim`` (D).
"""

from __future__ import annotations

from torch import nn

from alkit.engine.models.loss_prediction import LossPredictionModule
from alkit.engine.models.resnet import CifarResNet18
from alkit.engine.models.small_cnn import SmallCNN
from alkit.engine.models.wrn import WideResNet, kaiming_init

MODEL_NAMES = ("wrn-28-2", "resnet18", "small-cnn")

__all__ = ["MODEL_NAMES", "build_model", "count_parameters", "LossPredictionModule", "WideResNet",
           "CifarResNet18", "SmallCNN", "kaiming_init"]


def build_model(name: str, num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """A freshly (Kaiming-)initialised classifier.

    ``name``: "wrn-28-2" (Zagoruyko & Komodakis 2016, ~1.47M parameters, the paper's network),
    "resnet18" (CIFAR-style, 3x3 stem, no max-pool), "small-cnn" (for 8x8 digits).
    ``image_size``: side of the square input; all models pool globally, so it only has to be large
    enough for the down-sampling (>= 4 for small-cnn and wrn-28-2, >= 8 for resnet18).
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    if int(num_classes) < 1 or int(in_channels) < 1:
        raise ValueError(f"num_classes and in_channels must be >= 1, got {num_classes}, {in_channels}")
    min_size = 8 if name == "resnet18" else 4
    if int(image_size) < min_size:
        raise ValueError(f"image_size {image_size} too small for {name} (needs >= {min_size})")
    if name == "wrn-28-2":
        return WideResNet(num_classes, in_channels, depth=28, widen=2)
    if name == "resnet18":
        return CifarResNet18(num_classes, in_channels)
    return SmallCNN(num_classes, in_channels)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) parameter elements of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
