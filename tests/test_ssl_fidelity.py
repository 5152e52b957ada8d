"""FixMatch and UDA at paper scale against hand computations of the originals
(kekmodel/FixMatch-pytorch, google-research/uda): the 7/16 cosine with warm-up, Nesterov, the
constant-decay weight average used for evaluation, FixMatch's weak labelled view and whole-set
unlabelled draw; the ``paper`` recipe sets them, the digits recipes keep alkit's defaults."""

import math

import numpy as np
import pytest
import torch

from alkit.engine.augment import build_augment
from alkit.engine.models import build_model
from alkit.engine.train.common import ParamEMA, lr_factor, sgd_cosine
from alkit.experiments.recipes import PAPER_SSL, ssl_options
from task_settings import training


def _tiny_data(n=40, size=8):
    from alkit.engine.data import ImageDataset

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=g)
    y = torch.arange(n) % 4
    return ImageDataset("tiny", x, y, x[:8], y[:8], list("abcd"), (0.5,), (0.25,))


def test_cosine_7_16_and_warmup_by_hand():
    K = 16
    for k in range(K + 2):
        assert lr_factor(k, K, "cosine-7/16") == pytest.approx(math.cos(7 * math.pi * min(k, K) / (16 * K)))
        assert lr_factor(k, K, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * min(k, K) / K)))
    assert lr_factor(K, K, "cosine-7/16") == pytest.approx(0.19509, abs=1e-5)  # the originals' floor
    # warm-up W = 4 (kekmodel's get_cosine_schedule_with_warmup, UDA's warmup_steps): k / W, then the cosine
    assert [lr_factor(k, K, "cosine-7/16", warmup=4) for k in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert lr_factor(10, K, "cosine-7/16", warmup=4) == pytest.approx(math.cos(7 * math.pi * 6 / (16 * 12)))
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(0, K, "linear")


def test_sgd_cosine_options_reach_the_optimiser():
    p = torch.nn.Parameter(torch.zeros(2))
    opt, sched = sgd_cosine([p], 8, lr=0.1, nesterov=True, schedule="cosine-7/16", warmup=2)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert opt.param_groups[0]["nesterov"] is True
    assert lrs == pytest.approx([0.0, 0.05] + [0.1 * math.cos(7 * math.pi * j / (16 * 6)) for j in range(6)])
    opt, _ = sgd_cosine([p], 8)
    assert opt.param_groups[0]["nesterov"] is False  # alkit's default


@pytest.mark.parametrize("buffers", ["copy", "average"])
def test_param_ema_by_hand(buffers):
    model = torch.nn.BatchNorm1d(2)
    ema = ParamEMA(model, 0.9, buffers)
    w0, m0 = model.weight.detach().clone(), model.running_mean.clone()
    steps = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, -1.0])]
    for w in steps:
        with torch.no_grad():
            model.weight.copy_(w)
            model.running_mean.copy_(w * 10)
        ema.update()
    ema.copy_to()
    expect_w = 0.9 * (0.9 * w0 + 0.1 * steps[0]) + 0.1 * steps[1]
    assert torch.allclose(model.weight, expect_w)
    if buffers == "copy":  # kekmodel's ModelEMA: buffers are the live model's
        assert torch.allclose(model.running_mean, steps[1] * 10)
    else:  # UDA's ExponentialMovingAverage over the BatchNorm moving statistics too
        assert torch.allclose(model.running_mean, 0.9 * (0.9 * m0 + 0.1 * steps[0] * 10) + 0.1 * steps[1] * 10)


def _run_uda(**kw):
    from alkit.engine.train.uda import train_uda

    data = _tiny_data()
    torch.manual_seed(0)
    model = build_model("small-cnn", 4, in_channels=1, image_size=8)
    return train_uda(model, data, np.arange(6), np.arange(6, 40), iterations=5, batch_size=4, unlabelled_batch=8,
                     weak=build_augment("weak", 8), strong=build_augment("strong", 8), seed=0, progress=False, **kw)


@pytest.mark.filterwarnings("ignore:train_uda. a weight average")
def test_train_uda_schedule_nesterov_and_ema_by_hand(monkeypatch):
    """The model that comes back holds avg_k = 0.99 avg_{k-1} + 0.01 w_k over the live weights w_k
    after each step (avg_0 the initial weights); the learning rates follow lr * cos(7 pi k / 80)."""
    trace, lrs, nesterov = [], [], []

    class SGD(torch.optim.SGD):
        def step(self, *a, **k):
            lrs.append(self.param_groups[0]["lr"])
            nesterov.append(self.param_groups[0]["nesterov"])
            out = super().step(*a, **k)
            trace.append([q.detach().clone() for q in self.param_groups[0]["params"]])
            return out

    monkeypatch.setattr(torch.optim, "SGD", SGD)
    plain = _run_uda(nesterov=True, schedule="cosine-7/16")
    assert lrs == pytest.approx([0.03 * math.cos(7 * math.pi * k / 80) for k in range(5)]) and all(nesterov)
    torch.manual_seed(0)
    expect = [q.detach().clone() for q in build_model("small-cnn", 4, in_channels=1, image_size=8).parameters()]
    for w in trace:
        expect = [0.99 * a + 0.01 * b for a, b in zip(expect, w)]
    live = [q.detach().clone() for q in plain.parameters()]
    averaged = _run_uda(nesterov=True, schedule="cosine-7/16", ema=0.99)
    for a, e, w in zip(averaged.parameters(), expect, live):
        assert torch.allclose(a, e, atol=1e-6)
    assert not all(torch.allclose(a, w) for a, w in zip(averaged.parameters(), live))


def test_fixmatch_paper_options_give_weak_labelled_view_and_whole_set(monkeypatch):
    import alkit.engine.train.fixmatch as fm
    from alkit.tasks.classification import ClassificationTask

    seen = {}

    def fake(model, data, labelled, unlabelled, **kw):
        seen.update(kw, labelled=labelled, unlabelled=unlabelled)
        return model

    monkeypatch.setattr(fm, "train_fixmatch", fake)
    data = _tiny_data()
    task = ClassificationTask(data, **training(iterations=2), ssl="fixmatch", ssl_options=PAPER_SSL["fixmatch"], device="cpu")
    task.fit(np.arange(8), seed=0, strategy="random")
    assert seen["labelled_augment"] is task.weak and task.weak.name == "weak"
    assert np.array_equal(seen["unlabelled"], np.arange(40))  # labelled images included, as x_u_split
    assert seen["nesterov"] is True and seen["schedule"] == "cosine-7/16" and seen["ema"] == 0.999
    assert "labelled_view" not in seen  # a task option, not the trainer's
    seen.clear()
    task = ClassificationTask(data, **training(iterations=2), ssl="fixmatch", device="cpu")  # alkit's defaults
    task.fit(np.arange(8), seed=0, strategy="random")
    assert seen["labelled_augment"] is task.augment and np.array_equal(seen["unlabelled"], np.arange(8, 40))
    assert "nesterov" not in seen and "ema" not in seen
    with pytest.raises(ValueError, match="labelled_view"):
        ClassificationTask(data, **training(), ssl="fixmatch", ssl_options=dict(labelled_view="strong"), device="cpu")


def test_paper_recipe_sets_the_options_and_digits_keys_stay():
    from alkit.experiments.config import Experiment

    assert ssl_options("cifar10", "fixmatch") == PAPER_SSL["fixmatch"]
    assert ssl_options("cifar100", "uda")["schedule"] == "cosine-7/16" and ssl_options("cifar100", "uda")["nesterov"]
    assert ssl_options("digits", "uda") == {} and ssl_options("cifar10", None) == {}
    data = _tiny_data()
    exp = Experiment(dataset="cifar10", ssl="uda", regime="high")
    task = exp.build_task(data=data)
    assert task.ssl_options == PAPER_SSL["uda"]
    assert exp.store_config("random", task)["ssl_options"]["ema"] == 0.9999
    digits = Experiment(dataset="digits", ssl="uda", regime="high")
    dtask = digits.build_task(data=data)
    assert dtask.ssl_options == {} and "ssl_options" not in digits.store_config("random", dtask)
    raw = Experiment(dataset="cifar10", regime="high")
    assert "ssl_options" not in raw.store_config("random", raw.build_task(data=data))


def test_short_run_with_a_long_average_warns():
    with pytest.warns(UserWarning, match="mostly the initial weights"):
        _run_uda(ema=0.9999)
