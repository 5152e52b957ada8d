"""What a notebook runs on, in one line: the first cell of every notebook prints
:func:`banner` so that a saved run says which alkit, torch, python and device made its numbers."""

from __future__ import annotations

import platform

import torch

import alkit
from alkit.engine.train.common import pick_device


def banner(device: bool = True) -> str:
    """``"alkit 0.2.0 | torch 2.x | python 3.x.y | device cpu"``: the versions of alkit, torch and
    python and (``device=True``) the device training picks by default
    (:func:`alkit.engine.train.common.pick_device`: CUDA, else MPS, else CPU)."""
    parts = [f"alkit {alkit.__version__}", f"torch {torch.__version__}", f"python {platform.python_version()}"]
    if device:
        parts.append(f"device {pick_device()}")
    return " | ".join(parts)
