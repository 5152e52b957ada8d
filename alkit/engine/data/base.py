"""The in-memory image dataset every classification part of alkit works on.

Images are uint8 tensors ``[N, C, H, W]`` held in memory and moved once to the training device;
batches are gathered by indexing, never through per-sample PIL decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass
class ImageDataset:
    """A classification dataset split into the AL pool (``train_*``) and a fixed test set."""

    name: str
    train_x: torch.Tensor  # uint8 [N, C, H, W] — the active-learning pool
    train_y: torch.Tensor  # int64 [N]
    test_x: torch.Tensor  # uint8 [M, C, H, W]
    test_y: torch.Tensor  # int64 [M]
    classes: list[str]
    mean: tuple[float, ...]  # per channel, in [0, 1] units
    std: tuple[float, ...]

    def __post_init__(self):
        for field in ("train_x", "test_x"):
            t = getattr(self, field)
            if t.dtype != torch.uint8 or t.ndim != 4:
                raise ValueError(f"{field} must be uint8 [N, C, H, W], got {t.dtype} {tuple(t.shape)}")
        if len(self.train_x) != len(self.train_y) or len(self.test_x) != len(self.test_y):
            raise ValueError("images and labels differ in length")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[2])

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def to(self, device: torch.device | str) -> "ImageDataset":
        """The same dataset with all four tensors on ``device`` (one copy, done once)."""
        return replace(
            self,
            train_x=self.train_x.to(device),
            train_y=self.train_y.to(device),
            test_x=self.test_x.to(device),
            test_y=self.test_y.to(device),
        )

    def __repr__(self) -> str:
        return (
            f"ImageDataset({self.name!r}, pool={len(self.train_x)}, test={len(self.test_x)}, "
            f"classes={self.num_classes}, image={self.channels}x{self.image_size}x{self.image_size}, "
            f"device={self.device})"
        )


def normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` -> float ``[B, C, H, W]`` = (x / 255 - mean) / std, per channel."""
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
    return (x.float().div_(255.0) - m) / s


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images ``[N, C, H, W]`` in [0, 1] units.

    Computed in float64 by numpy and rounded to 6 decimals, so the result does not depend on
    torch's thread count (float32 reductions with 1 and 2 threads differed in the last bit, which
    changed the data fingerprint and so the results-store key between processes)."""
    import numpy as np

    f = x.detach().cpu().numpy().astype(np.float64) / 255.0
    mean = np.round(f.mean(axis=(0, 2, 3)), 6)
    std = np.round(np.maximum(f.std(axis=(0, 2, 3), ddof=1), 1e-3), 6)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
