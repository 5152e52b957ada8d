"""The embedded default dataset: scikit-learn's bundled handwritten digits.

1,797 real 8x8 grey-level images of the digits 0-9 (the UCI "optical recognition of handwritten
digits" test set, shipped inside scikit-learn, so it works offline). Pixel values 0..16 are
rescaled to uint8 0..255. A fixed stratified split (seeded, 30 % test) gives a 1,257-image pool
and a 540-image test set, the same on every machine.
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.engine.data.base import ImageDataset, channel_stats

TEST_FRACTION = 0.3
SPLIT_SEED = 0


def load_digits() -> ImageDataset:
    """scikit-learn's digits as an :class:`ImageDataset` with uint8 images ``[N, 1, 8, 8]``."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # [1797, 1, 8, 8]
    labels = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
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
