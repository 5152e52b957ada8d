"""Query scores for semantic segmentation (paper Sec. 4.2): one number per image, higher = query first.

All functions are pure and batched; they accept torch tensors (any device) or numpy arrays and
return the same kind. ``K`` = number of classes.

* **Entropy** (the paper's heuristic, after comparing mean and max aggregation): the number of
  pixels whose softmax entropy, normalised to [0, 1] by ``log K``, exceeds a threshold (0.6).
* **ENS-ent**: the same count on an ensemble. The paper says "the average entropy over the
  predictions from all members": by default its literal reading, the mean of the members'
  normalised entropies, ``reduce="mean-entropy"``; the entropy of the members' *mean* prediction
  (the ensemble's predictive entropy, as in Beluch et al. 2018) is ``reduce="mean-prob"``.
* **SSL-D-score** (with s4GAN only, Sec. 4.3): the s4GAN discriminator's score of the image with
  the network's prediction (its mean over the image via D's global pooling); the *lowest* first.
* **Learning Loss** (Yoo & Kweon 2019, adapted): the loss-prediction module's estimate of the
  image's mean pixel cross-entropy; the score is that prediction.
* **Random**: a seeded permutation (no score).

Each is registered in :mod:`alkit.strategies.base` with ``task="segmentation"``; a user's
segmentation strategy registers the same way and reads ``inputs.probs_iter`` etc.

Pixels marked ``ignore`` (e.g. padding) can be excluded from the counts.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from alkit.strategies import base
from alkit.strategies.base import (Batches, CarriesStrategies, RegistryView, SegQueryInputs, check_strategy, get_strategy,  # noqa: F401
                   per_image, register_strategy)

# The paper's four (Sec. 4.2), the default list for segmentation runs; every registered
# segmentation strategy is in ``strategy_names("segmentation")``.
SEG_STRATEGIES = ("random", "entropy", "ens-ent", "ll")
SEG_LABELS = RegistryView(("segmentation",), lambda spec: spec.label)  # live view of the registry


def _as_tensor(x):
    return (torch.from_numpy(np.asarray(x)), True) if not isinstance(x, torch.Tensor) else (x, False)


def normalized_entropy(probs, dim: int = 1):
    """Per-pixel softmax entropy divided by ``log K`` (so it lies in [0, 1]); ``0 log 0 = 0``.

    probs: ``[B, K, H, W]`` (class axis ``dim``) -> ``[B, H, W]``.
    """
    p, was_np = _as_tensor(probs)
    k = p.shape[dim]
    # -sum p log p with 0 log 0 = 0; one temporary (clamp), log and multiply in place
    h = p.float().clamp_min(1e-12).log_().mul_(p).sum(dim).neg_() / math.log(k)
    return h.numpy() if was_np else h


def count_above(values, threshold: float, ignore=None):
    """Number of pixels per image with ``values > threshold``. values ``[B, H, W]`` -> int64 ``[B]``.
    ``ignore``: optional bool ``[B, H, W]`` of pixels not to count."""
    v, was_np = _as_tensor(values)
    hit = v > threshold
    if ignore is not None:
        hit &= ~_as_tensor(ignore)[0].to(hit.device).bool()
    c = hit.flatten(1).sum(1)
    return c.numpy() if was_np else c


def entropy_count(probs, threshold: float = 0.6, ignore=None):
    """Entropy heuristic of the paper: count of pixels with normalised entropy > ``threshold``.

    probs ``[B, K, H, W]`` -> int64 ``[B]``. On the CPU the entropy is computed image by image so
    the ``[K, H, W]`` temporary stays in cache (the computation is memory-bound)."""
    p, was_np = _as_tensor(probs)
    if p.device.type == "cpu" and len(p) > 1:
        h = torch.cat([normalized_entropy(p[i:i + 1]) for i in range(len(p))])
    else:
        h = normalized_entropy(p)
    c = count_above(h, threshold, ignore)
    return c.numpy() if was_np else c


def ensemble_entropy_count(member_probs, threshold: float = 0.6, reduce: str = "mean-entropy", ignore=None):
    """ENS-ent: the entropy count on an ensemble's predictions.

    member_probs ``[M, B, K, H, W]`` -> int64 ``[B]``. ``reduce="mean-entropy"`` (default, the paper's
    literal reading): mean of the members' normalised entropies; ``"mean-prob"``: entropy of the mean prediction.
    """
    p, was_np = _as_tensor(member_probs)
    if reduce == "mean-prob":
        h = normalized_entropy(p.float().mean(0))
    elif reduce == "mean-entropy":
        h = normalized_entropy(p.flatten(0, 1), dim=1).view(p.shape[0], p.shape[1], *p.shape[3:]).mean(0)
    else:
        raise ValueError(f"unknown reduce {reduce!r}; choose from mean-prob, mean-entropy")
    c = count_above(h, threshold, ignore)
    return c.numpy() if was_np else c


def learning_loss_score(predicted_loss):
    """LL: the predicted per-image loss ``[B]`` is the score (higher predicted loss first)."""
    return predicted_loss


def order_by_score(scores, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``scores`` ``[n]`` sorted from highest to lowest; ties in random order (seeded)."""
    s = np.asarray(scores.cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
    return np.lexsort((rng.random(len(s)), -s)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The built-in segmentation strategies, registered (one score per image, higher = query first)
# ---------------------------------------------------------------------------------------------

@register_strategy("random", task="segmentation", kind="select", label="Random", color="#444444")
def seg_random(inputs, budget, rng: np.random.Generator) -> np.ndarray:
    """Random: every unlabelled image in a seeded random order (the loop spends the clicks)."""
    return rng.permutation(inputs.unlabelled)


@register_strategy("entropy", task="segmentation", needs={"probs_iter"}, label="Entropy", color="#1f77b4")
def seg_entropy(inputs) -> np.ndarray:
    """Entropy: pixels with normalised entropy above ``inputs.threshold``, per image ``[u]``."""
    return per_image(inputs.probs_iter, lambda p: entropy_count(p, inputs.threshold), len(inputs.unlabelled))


@register_strategy("ens-ent", task="segmentation", needs={"member_probs_iter"}, label="ENS-ent",
                   color="#9467bd")
def seg_ensemble_entropy(inputs) -> np.ndarray:
    """ENS-ent: the entropy count on the ensemble (``inputs.ens_reduce``), per image ``[u]``."""
    return per_image(inputs.member_probs_iter,
                     lambda m: ensemble_entropy_count(m, inputs.threshold, inputs.ens_reduce),
                     len(inputs.unlabelled))


@register_strategy("ll", task="segmentation", needs={"predicted_loss"}, label="LL", color="#d62728")
def seg_learning_loss(inputs) -> np.ndarray:
    """Learning Loss: the predicted per-image loss ``[u]``."""
    return np.asarray(learning_loss_score(inputs.predicted_loss), dtype=np.float64)


def d_score_priority(d_scores):
    """SSL-D-score: the s4GAN discriminator's scores ``[u]`` in (0, 1) turned into query priorities
    ``[u]`` (higher = query first): ``1 - score``, so the image D rates least like ground truth comes first."""
    return 1.0 - np.asarray(d_scores, dtype=np.float64)


@register_strategy("d-score", task="segmentation", needs={"d_scores"}, label="D-score", color="#17becf")
def seg_d_score(inputs) -> np.ndarray:
    """SSL-D-score (paper Sec. 4.3, valid only with ``ssl="s4gan"``): lowest discriminator score first ``[u]``."""
    return d_score_priority(inputs.d_scores)
