"""Networks: WRN-28-2 (the paper's classifier), CIFAR ResNet-18, a small CNN for 8x8 digits, and
the Learning-Loss module. Every classifier takes float normalised images ``[B, C, H, W]`` and has
``forward(x) -> logits [B, K]``, ``forward_features(x) -> (logits, embedding [B, D], taps)``,
``tap_channels`` (channels of the taps) and ``embedding_dim`` (D). Every network is registered
(:func:`register_model`), the built-ins as a user's plug-in would be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from alkit.engine.models.loss_prediction import LossPredictionModule
from alkit.engine.models.resnet import CifarResNet18
from alkit.engine.models.small_cnn import SmallCNN
from alkit.engine.models.wrn import WideResNet, kaiming_init

KINDS = ("classification", "segmentation")


@dataclass(frozen=True)
class ModelSpec:
    """A registered network. Classification: ``factory(num_classes, in_channels, image_size) ->
    nn.Module`` with the interface of the module docstring; segmentation: ``factory(num_classes,
    pretrained) -> nn.Module`` with the interface of :mod:`alkit.engine.models.segmentation`
    (``pretrained`` is None or a weights name such as "imagenet"; refuse what you do not have).
    ``min_image_size``: the smallest input side a classifier takes; ``builtin``: shipped with alkit."""

    name: str
    factory: Callable
    min_image_size: int = 4
    builtin: bool = False
    kind: str = "classification"


_MODELS: dict[str, ModelSpec] = {}  # classification networks by name
_SEGMENTATION: dict[str, ModelSpec] = {}  # segmentation networks by name


def register_model(name: str, factory: Callable, *, kind: str = "classification", min_image_size: int = 4,
                   builtin: bool = False) -> ModelSpec:
    """Make ``name`` a network every entry point knows (``--model``, a grid, an
    ``Experiment(model=...)``, ``register_dataset(..., model=...)``).

    ``kind="classification"``: ``factory(num_classes, in_channels, image_size)`` returns a freshly
    initialised ``nn.Module`` with ``forward(x) -> logits [B, K]``, ``forward_features(x) ->
    (logits, embedding [B, D], taps)``, ``tap_channels`` and ``embedding_dim`` (the strategies read
    the embedding; LL reads the taps). ``kind="segmentation"``: ``factory(num_classes, pretrained)``
    returns a network with ``forward(x) -> logits [B, K, H, W]`` at the input's size,
    ``forward_features(x) -> (logits, taps)`` and ``tap_channels`` (as
    :mod:`alkit.engine.models.segmentation`'s). A built-in's name cannot be taken; a user's may be
    registered again (its plug-in file loaded again)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of model {kind!r}; choose from {', '.join(KINDS)}")
    registry = _MODELS if kind == "classification" else _SEGMENTATION
    old = registry.get(name)
    if old is not None and old.builtin:
        raise ValueError(f"model {name!r} is built in; register yours under another name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a model name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ValueError(f"the factory of model {name!r} must be callable, got {factory!r}")
    spec = ModelSpec(name, factory, int(min_image_size), builtin, kind)
    registry[name] = spec
    return spec


def unregister_model(name: str, kind: str = "classification") -> None:
    """Forget a user's model (a built-in stays)."""
    registry = _SEGMENTATION if kind == "segmentation" else _MODELS
    spec = registry.get(name)
    if spec is not None and not spec.builtin:
        del registry[name]


def model_spec(name: str, kind: str = "classification") -> ModelSpec | None:
    """The registration of a model name (None when unknown)."""
    return (_SEGMENTATION if kind == "segmentation" else _MODELS).get(name)


def model_names(kind: str = "classification") -> tuple:
    """The registered networks of a kind of task, built-ins first."""
    return tuple(_SEGMENTATION if kind == "segmentation" else _MODELS)


def build_model(name: str, num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """A freshly (Kaiming-)initialised classifier of the registry.

    Built in: "wrn-28-2" (Zagoruyko & Komodakis 2016, ~1.47M parameters, the paper's network),
    "resnet18" (CIFAR-style, 3x3 stem, no max-pool), "small-cnn" (for 8x8 digits).
    ``image_size``: side of the square input; all models pool globally, so it only has to be large
    enough for the down-sampling (>= 4 for small-cnn and wrn-28-2, >= 8 for resnet18).
    """
    spec = _MODELS.get(name)
    if spec is None:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(_MODELS)}")
    if int(num_classes) < 1 or int(in_channels) < 1:
        raise ValueError(f"num_classes and in_channels must be >= 1, got {num_classes}, {in_channels}")
    if int(image_size) < spec.min_image_size:
        raise ValueError(f"image_size {image_size} too small for {name} (needs >= {spec.min_image_size})")
    return spec.factory(num_classes, in_channels, image_size)


register_model("wrn-28-2", lambda k, c, size: WideResNet(k, c, depth=28, widen=2), builtin=True)
register_model("resnet18", lambda k, c, size: CifarResNet18(k, c), min_image_size=8, builtin=True)
register_model("small-cnn", lambda k, c, size: SmallCNN(k, c), builtin=True)

# The built-in names (the registry, model_names(), also holds the models of plug-ins).
MODEL_NAMES = model_names()

from alkit.engine.models import segmentation as _segmentation  # noqa: E402,F401  (registers the segmentation built-ins)

__all__ = ["MODEL_NAMES", "build_model", "count_parameters", "register_model", "unregister_model", "model_names", "model_spec",
           "ModelSpec", "LossPredictionModule", "WideResNet", "CifarResNet18", "SmallCNN", "kaiming_init"]


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) parameter elements of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
