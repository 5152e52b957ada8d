"""Pre-training the embedded digits network on the synthetic glyph set (the offline analogue of the
paper's ImageNet pre-training, Sec. 3.2.5), cached under ``outputs/pretrained/``.

:func:`glyph_backbone` trains the digits model (``small-cnn``, a ``len(GLYPHS)``-way head) on
:func:`alkit.engine.data.glyphs.make_glyphs` with the supervised recipe below once, and caches the
state_dict without the head under ``outputs/pretrained/glyphs-<hash>.pt``, ``<hash>`` covering the
generator version, the glyph-set size and seed, the model and :data:`PRETRAIN_RECIPE` (atomic write:
a temporary file renamed into place, so parallel workers never read half a file). Fine-tuning
(:class:`alkit.tasks.classification.ClassificationTask` with ``pretrained="glyphs"``) loads it into
a fresh model whose head stays freshly initialised, then trains on the labelled digits only.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import torch

from alkit.engine.augment import build_augment
from alkit.engine.data.base import ImageDataset, channel_stats
from alkit.engine.data.glyphs import GENERATOR_VERSION, GLYPHS, make_glyphs
from alkit.engine.models import build_model
from alkit.engine.train.common import torch_threads
from alkit.engine.train.supervised import train_supervised

# 40 classes x 125 glyphs = 5,000 images; 8 epochs at batch 64 (~630 SGD steps), lr 0.05, the
# "paper" augmentation without flips (as for the digits): a few tens of seconds on one CPU core.
PRETRAIN_RECIPE = dict(n_per_class=125, data_seed=0, epochs=8, batch_size=64, lr=0.05, augment="paper", seed=0)


def cache_key(model: str = "small-cnn", recipe: dict | None = None) -> str:
    """12-hex hash of everything the pre-trained weights depend on."""
    r = dict(PRETRAIN_RECIPE if recipe is None else recipe)
    # the network's parameter shapes: weights cached for an earlier architecture of the same name
    # are not loaded into a changed one
    shapes = [list(t.shape) for t in build_model(model, 10, 1, 8).state_dict().values()]
    blob = json.dumps(dict(r, model=model, generator=GENERATOR_VERSION, glyphs="".join(GLYPHS), shapes=shapes),
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def pretrain_on_glyphs(model: str = "small-cnn", recipe: dict | None = None) -> dict[str, torch.Tensor]:
    """Train ``model`` on the glyph set (no cache); returns its state_dict without the ``fc`` head."""
    r = dict(PRETRAIN_RECIPE if recipe is None else recipe)
    x, y = make_glyphs(r["n_per_class"], seed=r["data_seed"])
    mean, std = channel_stats(x)
    data = ImageDataset("glyphs", x, y, x[:1], y[:1], list(GLYPHS), mean, std)
    torch.manual_seed(r["seed"])
    net = build_model(model, len(GLYPHS), in_channels=1, image_size=8)
    with torch.random.fork_rng(), torch_threads(1):  # tiny 8x8 convolutions: one thread is fastest
        train_supervised(net, data, np.arange(len(y)), epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"],
                         augment=build_augment(r["augment"], 8, hflip=False), seed=r["seed"])
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items() if not k.startswith("fc.")}


def glyph_backbone(model: str = "small-cnn", cache_dir=None, recipe: dict | None = None) -> dict[str, torch.Tensor]:
    """The glyph-pre-trained backbone state_dict (no head): read from the cache or trained once and
    written atomically to ``cache_dir`` (default ``$ALKIT_PRETRAINED`` if set, else ``outputs/pretrained``)."""
    from pathlib import Path

    from alkit.paths import outputs_dir

    if cache_dir is None:
        cache_dir = os.environ.get("ALKIT_PRETRAINED") or outputs_dir() / "pretrained"
    folder = Path(cache_dir)
    path = folder / f"glyphs-{model}-{cache_key(model, recipe)}.pt"
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    state = pretrain_on_glyphs(model, recipe)
    from alkit.io import atomic_open

    with atomic_open(path, "wb") as f:  # parallel workers never read half a file
        torch.save(state, f)
    return state
