"""The embedded default dataset: scikit-learn's bundled handwritten digits.

1,797 real 8x8 grey-level images of the digits 0-9 (the UCI "optical recognition of handwritten
digits" test set, shipped inside scikit-learn, so it works offline). Pixel values 0..16 are
rescaled to uint8 0..255. A fixed stratified split (seeded, 30 % test) gives a 1,257-image pool
and a 540-image test set, the same on every machine.

Tried 2026-12-06 and dropped: half the images for testing (898-image pool, 899 test images). On ONE
fixed labelled set of 200 images retrained with 12 seeds (digits-high recipe), a network's accuracy
on the 540 test images varies by 0.82 points (sd), mostly independent per-image flips, and on 899 by
0.64 (``benchmarks/bench_seed_noise.py``), so the notebooks' intervals should have narrowed. They did
not: in a clean-clone ``make reproduce`` with the 50 % split (commit f5e880f) the final-cycle gap sd
against Random of the 20 digits comparisons with 5 trials had a median of 1.96 points against 1.53
with this split (high budget with augmentation: 1.30 / 1.51 / 0.99 / 1.07 against 1.33 / 1.52 / 0.97
/ 1.74), and the verdict board's median half-width was 2.1 against 1.9. What varies between a
notebook's trials is mostly which labels they hold, which a larger test set does not change.
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.engine.data.base import ImageDataset, channel_stats

TEST_FRACTION = 0.3
SPLIT_SEED = 0


def load_digits(test_fraction: float = TEST_FRACTION) -> ImageDataset:
    """scikit-learn's digits as an :class:`ImageDataset` with uint8 images ``[N, 1, 8, 8]``: the
    pool (``train_x``) and the test set of a stratified split with ``test_fraction`` of the
    1,797 images for testing (the default :data:`TEST_FRACTION`; other values are for
    ``benchmarks/bench_seed_noise.py``)."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # [1797, 1, 8, 8]
    labels = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=SPLIT_SEED
    )
    idx_train.sort()
    idx_test.sort()
    train_x = torch.from_numpy(images[idx_train])
    mean, std = channel_stats(train_x)
    return ImageDataset(
        name="digits",
        train_x=train_x,
        train_y=torch.from_numpy(labels[idx_train]),
        test_x=torch.from_numpy(images[idx_test]),
        test_y=torch.from_numpy(labels[idx_test]),
        classes=[str(d) for d in range(10)],
        mean=mean,
        std=std,
    )
