"""UDA (Xie et al. 2019), the SSL trainer of SSL-X (paper Sec. 3.2.3): the consistency loss on
hand-made logits, and an SSL run on digits that learns from unlabelled images."""

import math

import numpy as np
import pytest
import torch

from alkit.train.uda import _IndexStream, consistency_loss


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
