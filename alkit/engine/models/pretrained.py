"""ImageNet-pretrained ResNet-18 for the transfer-learning comparison (paper Sec. 3.2.5, Fig. 8-9).

The paper fine-tunes an ImageNet-pretrained ResNet-18 on the labelled samples only and compares it
with SSL-Random. This module wraps torchvision's ResNet-18 in alkit's classifier interface
(``forward``, ``forward_features`` -> (logits, embedding, taps), ``tap_channels``,
``embedding_dim``) with a fresh ``num_classes`` head.

Where the weights come from, in this order:
1. ``weights_path``: a local file with a torchvision ResNet-18 ``state_dict`` (a checkpoint dict
   holding it under "state_dict" or "model" also works);
2. torch hub's cache (``torch.hub.get_dir()/checkpoints/resnet18-f37072fd.pth``), where
   torchvision's weights API (``ResNet18_Weights.IMAGENET1K_V1``) stores its download;
3. only when ``download=True``: that API's download (needs internet).
If none works, :class:`PretrainedWeightsUnavailable` is raised with one clear line. Random weights
are never returned in place of pretrained ones.

Inputs: the classifier receives the dataset-normalised images like every alkit model. Grey images
are repeated to 3 channels (what the ImageNet stem expects), and images are resized bilinearly to
``input_size`` (default 224, the resolution the weights were trained at; CIFAR's 32x32 would
leave a 1x1 map after the 32x down-sampling of ResNet-18). Smaller values (e.g. 32 or 64) trade
fidelity for speed on a CPU. ``input_size=None`` keeps the input as is.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

RESNET18_URL_FILE = "resnet18-f37072fd.pth"  # file name of ResNet18_Weights.IMAGENET1K_V1


class PretrainedWeightsUnavailable(FileNotFoundError):
    """The ImageNet weights are neither in a given file, nor in torch hub's cache, nor downloadable."""


def hub_cache_file() -> Path:
    """Where torchvision's weights API caches the ImageNet ResNet-18 weights."""
    try:
        from torchvision.models import ResNet18_Weights

        name = os.path.basename(ResNet18_Weights.IMAGENET1K_V1.url)
    except Exception:  # very old torchvision: fall back to the known file name
        name = RESNET18_URL_FILE
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def find_weights(weights_path: str | os.PathLike | None = None) -> Path | None:
    """The file the weights would be read from (``weights_path`` if it exists, else the hub cache
    file if it exists), or None. Never touches the network."""
    if weights_path is not None:
        p = Path(weights_path).expanduser()
        return p if p.is_file() else None
    p = hub_cache_file()
    return p if p.is_file() else None


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(blob, dict):
        for key in ("state_dict", "model"):
            if key in blob and isinstance(blob[key], dict):
                blob = blob[key]
                break
    if not isinstance(blob, dict) or not blob:
        raise PretrainedWeightsUnavailable(f"{path} does not hold a ResNet-18 state_dict")
    return {k.removeprefix("module."): v for k, v in blob.items()}


def imagenet_resnet18_state_dict(weights_path: str | os.PathLike | None = None,
                                 download: bool = False) -> dict[str, torch.Tensor]:
    """The ImageNet ResNet-18 ``state_dict`` (see module docstring for the search order)."""
    if weights_path is not None:
        p = Path(weights_path).expanduser()
        if not p.is_file():
            raise PretrainedWeightsUnavailable(f"pretrained weights file not found: {p}")
        return _read_state_dict(p)
    cached = hub_cache_file()
    if cached.is_file():
        return _read_state_dict(cached)
    if download:
        from torchvision.models import ResNet18_Weights

        try:
            return ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
        except Exception as err:  # no internet, proxy, ...
            raise PretrainedWeightsUnavailable(
                f"could not download ImageNet ResNet-18 weights ({type(err).__name__}: {err}); "
                f"pass weights_path= a local file") from None
    raise PretrainedWeightsUnavailable(
        f"ImageNet ResNet-18 weights unavailable: no weights_path given and {cached} is not cached "
        f"(pass weights_path=<file> or download=True when online)")


class ImageNetResNet18(nn.Module):
    """torchvision ResNet-18 (ImageNet stem: 7x7 conv, max-pool) in alkit's classifier interface.

    ``forward(x [B, C, H, W]) -> logits [B, K]``; ``forward_features`` also returns the 512-d
    pooled embedding and the four stage outputs (taps for Learning Loss).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, input_size: int | None = 224):
        super().__init__()
        from torchvision.models import resnet18

        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3 for ImageNet weights, got {in_channels}")
        net = resnet18(weights=None)
        self.in_channels = in_channels
        self.input_size = input_size
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.avgpool = net.avgpool
        self.fc = nn.Linear(net.fc.in_features, num_classes)
        self.tap_channels = [64, 128, 256, 512]
        self.embedding_dim = net.fc.in_features

    def backbone_state_dict(self) -> dict[str, torch.Tensor]:
        """Parameters and buffers except the classification head (keys as in torchvision)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("fc.")}

    def load_backbone(self, state: dict[str, torch.Tensor]) -> None:
        """Load a torchvision ResNet-18 ``state_dict``; its ``fc.*`` entries are ignored (our head
        has ``num_classes`` outputs). Raises if any backbone tensor is missing or mismatched."""
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("fc.")]
        if missing or unexpected:
            raise PretrainedWeightsUnavailable(
                f"not a ResNet-18 state_dict: missing {missing[:3]}, unexpected {unexpected[:3]}")

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.input_size is not None and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return x

    def forward_features(self, x: torch.Tensor):
        h = self.maxpool(self.relu(self.bn1(self.conv1(self._prepare(x)))))
        t1 = self.layer1(h)
        t2 = self.layer2(t1)
        t3 = self.layer3(t2)
        t4 = self.layer4(t3)
        emb = torch.flatten(self.avgpool(t4), 1)
        return self.fc(emb), emb, [t1, t2, t3, t4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


def load_imagenet_resnet18(num_classes: int, weights_path: str | os.PathLike | None = None, *,
                           in_channels: int = 3, input_size: int | None = 224, download: bool = False,
                           state_dict: dict | None = None) -> ImageNetResNet18:
    """An :class:`ImageNetResNet18` with ImageNet weights and a fresh ``num_classes`` head.

    ``state_dict``: already-loaded weights (skips the file search; see :func:`imagenet_resnet18_factory`).
    Raises :class:`PretrainedWeightsUnavailable` (a ``FileNotFoundError``) if no weights can be had.
    """
    state = state_dict if state_dict is not None else imagenet_resnet18_state_dict(weights_path, download)
    model = ImageNetResNet18(num_classes, in_channels=in_channels, input_size=input_size)
    model.load_backbone(state)
    return model


def imagenet_resnet18_factory(num_classes: int, weights_path=None, *, in_channels: int = 3,
                              input_size: int | None = 224, download: bool = False):
    """A zero-argument callable returning a fresh pretrained model each call (the weights file is
    read once, here — so a missing file fails now, not in the middle of an AL run). Fits
    ``ClassificationTask(model_factory=...)``. The new head is initialised from torch's global RNG."""
    state = imagenet_resnet18_state_dict(weights_path, download)

    def make() -> ImageNetResNet18:
        return load_imagenet_resnet18(num_classes, in_channels=in_channels, input_size=input_size,
                                      state_dict=state)

    return make
