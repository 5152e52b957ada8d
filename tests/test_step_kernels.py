"""The faster kernels of a training step compute what the plain ones do (up to float rounding):
bilinear upsampling as matrix products, fused optimisers, s4GAN's discriminator pooling once."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alkit.engine.models import segmentation as seg_models
from alkit.engine.models.discriminator import S4GANDiscriminator
from alkit.engine.train import common


@pytest.mark.parametrize("shape,size", [((2, 6, 12, 12), (48, 48)), ((1, 3, 13, 7), (50, 29)), ((3, 21, 41, 41), (321, 321)),
                                        ((2, 4, 5, 5), (5, 5)), ((1, 2, 9, 16), (4, 6)), ((1, 1, 1, 3), (4, 8))])
def test_matmul_upsampling_matches_interpolate_values_and_gradients(shape, size):
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    ref = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
    out = seg_models.upsample_bilinear(b, size)
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=1e-12)
    g = torch.randn_like(ref)
    ref.backward(g)
    out.backward(g)
    assert torch.allclose(b.grad, a.grad, atol=1e-12)


def test_interpolation_matrix_rows_are_convex_weights():
    for n_in, n_out in ((12, 48), (7, 29), (41, 321), (1, 5)):
        a = seg_models.interpolation_matrix(n_in, n_out)
        assert a.shape == (n_out, n_in)
        assert torch.all(a >= 0) and torch.allclose(a.sum(1), torch.ones(n_out, dtype=torch.float64))
        assert int((a > 0).sum(1).max()) <= 2  # two neighbours at most


def test_upsampling_switch_off_is_interpolate(monkeypatch):
    x = torch.randn(1, 2, 6, 6)
    monkeypatch.setattr(seg_models, "CPU_MATMUL_UPSAMPLE", False)
    assert torch.equal(seg_models.upsample_bilinear(x, (24, 24)),
                       F.interpolate(x, size=(24, 24), mode="bilinear", align_corners=False))


def test_small_seg_network_same_logits_either_path(monkeypatch):
    torch.manual_seed(0)
    net = seg_models.build_segmentation_model("small-seg", 6, None).eval()
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        fast = net(x)
        monkeypatch.setattr(seg_models, "CPU_MATMUL_UPSAMPLE", False)
        plain = net(x)
    assert torch.allclose(fast, plain, atol=1e-5)


def _train_a_bit(opt_name: str):
    # no bias before batch norm: its gradient is ~0, and Adam would amplify the rounding of ~0 / ~0
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 3))
    if opt_name == "sgd":
        opt, _ = common.sgd_cosine(net.parameters(), 20, nesterov=True)
    else:
        from alkit.engine.train.segmentation import seg_optimizer
        opt, _ = seg_optimizer([{"params": list(net.parameters()), "lr": 3e-3}], 20, optimizer="adamw", lr=3e-3,
                               schedule="cosine")
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        x, y = torch.randn(8, 1, 8, 8, generator=gen), torch.randint(0, 3, (8,), generator=gen)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return opt, torch.cat([p.detach().reshape(-1) for p in net.parameters()])


@pytest.mark.parametrize("opt_name", ["sgd", "adamw"])
def test_fused_optimiser_is_the_foreach_update(monkeypatch, opt_name):
    monkeypatch.setattr(common, "FUSED", True)
    opt, fused = _train_a_bit(opt_name)
    assert opt.defaults.get("fused") is True
    monkeypatch.setattr(common, "FUSED", False)
    opt, plain = _train_a_bit(opt_name)
    assert not opt.defaults.get("fused")
    assert torch.allclose(fused, plain, atol=1e-5)


def test_discriminator_pooled_once_is_the_same_function():
    torch.manual_seed(0)
    d = S4GANDiscriminator(6, width=8, input_pool=2).eval()
    x = torch.randn(3, 9, 48, 48)
    logit, feat = d(x)
    logit2, feat2 = d(d.pool(x), pooled=True)
    assert torch.equal(logit, logit2) and torch.equal(feat, feat2)
    assert d.pool(x).shape == (3, 9, 24, 24)
    plain = S4GANDiscriminator(6, width=8).eval()
    assert plain.pool(x) is x
