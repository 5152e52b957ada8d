"""Trainings shared between the strategies of a run: one network trained once, reused by all.

A plain training (no loss-prediction module, no dropout) is a function of the task's training
settings, the labelled set and the seed only: the AL loop seeds cycle ``c`` of trial ``t`` with
:func:`alkit.protocol.loop.cycle_seed` ``(seed, t, c)`` whatever the strategy, and every strategy of
a trial starts from the same initial set. So Random, Entropy, Core-Set and ENS-varR's first member
train the very same cycle-0 network (the paper's protocol, Sec. 3.2.1: the same initial set for
every method), and so do s4GAN's SSL-Random and SSL-D-score. A :class:`FitCache` stores each plain
training's weights under a hash of (training settings, labelled set, seed) so the second strategy
loads what the first trained: the records are identical to training again (tests/test_fit_cache.py),
only faster.

The files hold tensors only and are read with ``torch.load(weights_only=True)`` (a data file never
runs code). Writes are atomic; a file that cannot be read is trained again. The runner gives each
run its own folder and removes it when the run ends (:func:`alkit.experiments.config.run`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import torch


class FitCache:
    """Weights of plain trainings, keyed by ``signature`` (the task's training settings, e.g. the
    results-store config without the strategy), the labelled pool indices and the seed."""

    def __init__(self, folder: str | os.PathLike, signature: str):
        self.folder = Path(folder)
        self.signature = str(signature)

    def path(self, labelled: np.ndarray, seed: int, part: str = "") -> Path:
        """The file of one training: ``labelled`` pool indices (any order), ``seed``, and ``part``
        naming a variant of the training (e.g. the SSL method) the signature does not hold."""
        h = hashlib.sha256(self.signature.encode())
        h.update(np.sort(np.asarray(labelled, dtype=np.int64)).tobytes())
        h.update(f"|{int(seed)}|{part}".encode())
        return self.folder / f"{h.hexdigest()[:32]}.pt"

    def load(self, labelled: np.ndarray, seed: int, part: str = "") -> dict | None:
        """The stored ``{name: state_dict}`` of a training, or None (absent or unreadable)."""
        p = self.path(labelled, seed, part)
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError):
            return None

    def save(self, labelled: np.ndarray, seed: int, states: dict, part: str = "") -> None:
        """Store ``{name: state_dict}`` atomically; a failed write (full disk, a read-only or
        vanished folder on a cluster worker) only costs the saving."""
        p, tmp = self.path(labelled, seed, part), None
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                torch.save({k: {n: t.detach().cpu() for n, t in v.items()} for k, v in states.items()}, f)
            os.replace(tmp, p)
        except OSError:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
