"""The speed switches of alkit.engine.train.common agree with the plain path (issue 19, item 3):
bf16 autocast (AMP) and the channels-last layout change float rounding, not what a network learns.
Checked on the CPU (the only device CI has): the switch forced on vs off, the same seed and data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alkit.engine.augment import build_augment
from alkit.engine.data import load_dataset
from alkit.engine.models import build_model
from alkit.engine.train import common
from alkit.engine.train.supervised import predict, train_supervised


def _fit(monkeypatch, steps=10, **switches):
    for name, value in switches.items():
        monkeypatch.setattr(common, name, value)
    data = load_dataset("digits")
    torch.manual_seed(0)
    model = common.prepare_model(build_model("small-cnn", data.num_classes, data.channels, data.image_size),
                                 torch.device("cpu"))
    augment = build_augment("paper", data.image_size, hflip=False)
    train_supervised(model, data, np.arange(200), epochs=1, min_steps=steps, seed=3, augment=augment)
    return predict(model, data.test_x, data.mean, data.std)["probs"]


def _accuracy(probs) -> float:
    return float((probs.argmax(1) == load_dataset("digits").test_y).float().mean())


def test_amp_switch(monkeypatch):
    """Over 10 steps the two paths compute nearly the same function; trained longer they drift apart
    (a rounding difference changes a ReLU's sign and the trajectories part, as any rerun in another
    layout does) but learn equally well: test accuracy within 2 points after 400 steps."""
    assert not common.amp_on(torch.device("cpu")) and common.amp_on(torch.device("cuda"))  # "auto"
    for steps in (10, 400):
        with monkeypatch.context() as m:
            plain = _fit(m, steps, AMP=False)
        with monkeypatch.context() as m:
            bf16 = _fit(m, steps, AMP=True)
            assert common.amp_on(torch.device("cpu"))
        if steps == 10:
            # after 10 steps many test images sit near a tie between two classes, so a rounding
            # difference flips a few argmaxes: measured 94.6 % agreement on one torch thread, 97.6 % on two
            assert (plain.argmax(1) == bf16.argmax(1)).float().mean().item() >= 0.9
            assert (plain - bf16).abs().mean().item() < 2e-3
        else:
            assert abs(_accuracy(plain) - _accuracy(bf16)) <= 0.02, (_accuracy(plain), _accuracy(bf16))


def test_channels_last_switch(monkeypatch):
    for steps in (10, 400):
        with monkeypatch.context() as m:
            nchw = _fit(m, steps, CPU_CHANNELS_LAST=False)
            assert not common.use_channels_last(torch.device("cpu"))
        with monkeypatch.context() as m:
            last = _fit(m, steps, CPU_CHANNELS_LAST=True)
        if steps == 10:
            assert (nchw.argmax(1) == last.argmax(1)).float().mean().item() >= 0.99
            assert (nchw - last).abs().mean().item() < 1e-4
        else:
            assert abs(_accuracy(nchw) - _accuracy(last)) <= 0.02, (_accuracy(nchw), _accuracy(last))


@pytest.mark.parametrize("value, expected", [("auto", True), (True, True), (False, False)])
def test_cuda_channels_last_switch(monkeypatch, value, expected):
    monkeypatch.setattr(common, "CUDA_CHANNELS_LAST", value)
    assert common.use_channels_last(torch.device("cuda")) is expected
