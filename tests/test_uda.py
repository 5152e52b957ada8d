"""UDA (Xie et al. 2019), the SSL trainer of SSL-X (paper Sec. 3.2.3): the consistency loss on
hand-made logits, and an SSL run on digits that learns from unlabelled images."""

import math

import numpy as np
import pytest
import torch

from alkit.engine.train.uda import _IndexStream, consistency_loss


def test_mask_excludes_low_confidence_rows():
    # row 0: confident (p_max ~ 0.98); row 1: flat (p_max = 1/3)
    weak = torch.tensor([[5.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    strong = torch.tensor([[0.0, 2.0, 0.0], [3.0, -3.0, 0.0]])
    loss, frac = consistency_loss(weak, strong, temperature=0.5, threshold=0.6)
    assert float(frac) == pytest.approx(0.5)
    # the same loss as row 0 alone, divided by the whole batch (mean over B, masked rows = 0)
    only0, _ = consistency_loss(weak[:1], strong[:1], temperature=0.5, threshold=0.6)
    assert float(loss) == pytest.approx(float(only0) / 2, rel=1e-5)
    # changing the masked row's strong logits changes nothing
    strong2 = strong.clone()
    strong2[1] = torch.tensor([-9.0, 9.0, 4.0])
    assert float(consistency_loss(weak, strong2)[0]) == pytest.approx(float(loss), rel=1e-6)
    # threshold 0 keeps both rows, threshold 1 none
    assert float(consistency_loss(weak, strong, threshold=0.0)[1]) == 1.0
    l1, f1 = consistency_loss(weak, strong, threshold=1.0)
    assert float(f1) == 0.0 and float(l1) == 0.0


def test_mask_uses_unsharpened_prediction():
    # p_max = softmax([1, 0]) = 0.73 < threshold 0.8 < sharpened softmax([2, 0]) = 0.88:
    weak = torch.tensor([[1.0, 0.0]])
    strong = torch.zeros(1, 2)
    assert float(consistency_loss(weak, strong, temperature=0.5, threshold=0.8)[1]) == 0.0
    assert float(consistency_loss(weak, strong, temperature=0.5, threshold=0.7)[1]) == 1.0


def test_temperature_sharpens_target():
    weak = torch.tensor([[2.0, 1.0, 0.0]])
    strong = torch.zeros(1, 3)  # uniform prediction: KL(t || u) = log K - H(t)
    for temp in (1.0, 0.5, 0.1):
        loss, _ = consistency_loss(weak, strong, temperature=temp, threshold=0.0)
        t = torch.softmax(weak / temp, 1)
        expected = math.log(3) + float((t * t.log()).sum())
        assert float(loss) == pytest.approx(expected, rel=1e-5)
    losses = [float(consistency_loss(weak, strong, temperature=t, threshold=0.0)[0]) for t in (1.0, 0.5, 0.1)]
    assert losses[0] < losses[1] < losses[2]  # sharper target -> further from uniform
    # T -> 0: target is one-hot, loss is the cross-entropy of the argmax class
    l0, _ = consistency_loss(weak, torch.tensor([[0.0, 3.0, 0.0]]), temperature=1e-3, threshold=0.0)
    assert float(l0) == pytest.approx(float(torch.nn.functional.cross_entropy(torch.tensor([[0.0, 3.0, 0.0]]),
                                                                             torch.tensor([0]))), rel=1e-4)


def test_zero_when_views_agree_and_no_sharpening():
    torch.manual_seed(0)
    logits = torch.randn(16, 10) * 3
    loss, _ = consistency_loss(logits, logits.clone(), temperature=1.0, threshold=0.0)
    assert abs(float(loss)) < 1e-6
    assert float(consistency_loss(logits, logits.clone(), temperature=0.5, threshold=0.0)[0]) > 1e-3


def test_gradient_only_into_strong_branch():
    torch.manual_seed(1)
    weak = (torch.randn(8, 5) * 4).requires_grad_()
    strong = torch.randn(8, 5).requires_grad_()
    loss, _ = consistency_loss(weak, strong, threshold=0.0)
    loss.backward()
    assert weak.grad is None
    assert strong.grad is not None and strong.grad.abs().sum() > 0


def test_bad_shapes_rejected():
    with pytest.raises(ValueError, match="logits"):
        consistency_loss(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="temperature"):
        consistency_loss(torch.zeros(4, 3), torch.zeros(4, 3), temperature=0)


def test_index_stream_sweeps_every_item():
    g = torch.Generator().manual_seed(0)
    s = _IndexStream(7, g)
    drawn = torch.cat([s.take(5) for _ in range(7)])  # 35 = 5 full passes
    counts = torch.bincount(drawn, minlength=7)
    assert torch.equal(counts, torch.full((7,), 5))


def _tiny_data(n=40, size=8):
    from alkit.engine.data import ImageDataset

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=g)
    y = torch.arange(n) % 4
    return ImageDataset("tiny", x, y, x[:8], y[:8], list("abcd"), (0.5,), (0.25,))


def test_train_uda_with_learning_loss_module():
    """SSL-LL: the loss-prediction module is trained (on the labelled part of the batch) with the
    backbone; both come back in eval mode."""
    from alkit.engine.augment import build_augment
    from alkit.engine.models import LossPredictionModule, build_model
    from alkit.engine.train.uda import train_uda

    data = _tiny_data()
    torch.manual_seed(0)
    model = build_model("small-cnn", 4, in_channels=1, image_size=8)
    lossnet = LossPredictionModule(model.tap_channels)
    before = [p.detach().clone() for p in lossnet.parameters()]
    history = []
    out = train_uda(model, data, np.arange(6), np.arange(6, 40), iterations=4, batch_size=4,
                    unlabelled_batch=8, weak=build_augment("weak", 8), strong=build_augment("strong", 8),
                    seed=0, lossnet=lossnet, progress=False, history=history)
    assert out is model and not model.training and not lossnet.training
    assert any(not torch.equal(a, b) for a, b in zip(before, lossnet.parameters()))
    assert history[-1]["step"] == 4 and 0.0 <= history[-1]["mask"] <= 1.0


def test_train_uda_rejects_bad_input():
    from alkit.engine.augment import build_augment
    from alkit.engine.models import build_model
    from alkit.engine.train.uda import train_uda

    data, model, aug = _tiny_data(), build_model("small-cnn", 4, in_channels=1, image_size=8), build_augment("weak", 8)
    with pytest.raises(ValueError, match="empty"):
        train_uda(model, data, np.array([], dtype=int), np.arange(40), iterations=2, weak=aug, strong=aug, seed=0,
                  progress=False)
    with pytest.raises(ValueError, match="iterations"):
        train_uda(model, data, np.arange(4), np.arange(4, 40), iterations=-1, weak=aug, strong=aug, seed=0,
                  progress=False)


# -------------------------------------------------------------------- an SSL run on digits
SEEDS = (0, 1, 2)
ITERATIONS = 600  # the same number of SGD steps with and without the unlabelled term


def _digits_run(seed: int, lambda_u: float) -> float:
    from alkit.engine.augment import build_augment
    from alkit.engine.data import load_dataset
    from alkit.engine.models import build_model
    from alkit.engine.train.supervised import accuracy
    from alkit.engine.train.uda import train_uda

    data = load_dataset("digits")
    y = data.train_y.numpy()
    rng = np.random.default_rng(seed)
    labelled = np.concatenate([rng.choice(np.flatnonzero(y == c), 2, replace=False) for c in range(10)])
    unlabelled = np.setdiff1d(np.arange(len(y)), labelled)
    torch.manual_seed(seed)
    model = build_model("small-cnn", 10, in_channels=1, image_size=8)
    train_uda(model, data, labelled, unlabelled, iterations=ITERATIONS, batch_size=32, unlabelled_batch=64,
              weak=build_augment("weak", 8, hflip=False), strong=build_augment("strong", 8, hflip=False),
              labelled_augment=build_augment("paper", 8, hflip=False), seed=seed, lambda_u=lambda_u,
              progress=False)
    return accuracy(model, data)


def test_uda_learns_from_unlabelled_digits():
    """20 labels (2 per class) of the 1,257-image digits pool: UDA (lambda_u = 1, the rest of the
    pool unlabelled) against the identical run without the consistency term (lambda_u = 0: same
    labelled batches, augmentation, steps and schedule). Paired over seeds; the numbers are printed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny 8x8 convolutions: one thread is fastest (see classification.py)
    try:
        sup = np.array([_digits_run(s, 0.0) for s in SEEDS])
        uda = np.array([_digits_run(s, 1.0) for s in SEEDS])
    finally:
        torch.set_num_threads(threads)
    print(f"\ndigits, 20 labels, {ITERATIONS} iterations, seeds {SEEDS}: "
          f"supervised {np.round(100 * sup, 1)} mean {100 * sup.mean():.1f} % | "
          f"UDA {np.round(100 * uda, 1)} mean {100 * uda.mean():.1f} % | "
          f"gain {100 * (uda - sup).mean():+.1f} points")
    assert uda.mean() > sup.mean() + 0.01
    assert (uda >= sup - 0.02).all()  # no seed is clearly hurt
