"""s4GAN's fidelity options against hand computations of the original (sud0301/semisup-semseg,
train_s4GAN.py and model/discriminator.py): D's dropout layout, D's poly learning rate, the mean D
loss, images min-max scaled to [0, 1], a separate ground-truth batch, all-zero one-hot at ignore
pixels, shuffled passes; the ``paper`` recipe sets each of them, the ``shapes`` recipe none."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import alkit.engine.train.s4gan as s4
from alkit.engine.models.discriminator import S4GANDiscriminator
from alkit.engine.models.segmentation import build_segmentation_model

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def toy(n=12, size=32, seed=0):
    g = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), np.int64)
    for i in range(n):
        y, x = g.integers(0, size - 12, 2)
        masks[i, y:y + 8, x:x + 8] = 1
    images = (masks[:, None] * 180 + g.integers(0, 60, (n, 3, size, size))).astype(np.uint8)
    return torch.from_numpy(images), torch.from_numpy(masks)


class Double(torch.nn.Module):
    """A deterministic stand-in for dropout: multiplies by 2 (so its place in the network shows)."""

    def forward(self, x):
        return 2 * x


@pytest.mark.parametrize("layers", [3, 4])
def test_discriminator_dropout_after_the_first_layers_only(layers):
    torch.manual_seed(0)
    d = S4GANDiscriminator(num_classes=2, width=4, dropout_layers=layers)
    d.drop = Double()
    x = torch.randn(2, 5, 32, 32)
    h = x
    for i, conv in enumerate(d.convs):  # the original: conv-lrelu-drop x 3, then conv4-lrelu (no drop)
        h = F.leaky_relu(conv(h), 0.2)
        h = 2 * h if i < layers else h
    feat = h.mean((2, 3))
    logit, f = d(x)
    assert torch.allclose(f, feat) and torch.allclose(logit, d.fc(feat).squeeze(1))
    with pytest.raises(ValueError, match="dropout_layers"):
        S4GANDiscriminator(2, width=4, dropout_layers=5)


def test_real_maps_zero_one_hot_at_ignore_pixels():
    y = torch.tensor([[[0, 1], [255, 2]]])
    out = s4.real_maps(y, None, 3)
    expect = torch.tensor([[[1.0, 0], [0, 0]], [[0, 1], [0, 0]], [[0, 0], [0, 1]]])  # channel, row, column
    assert torch.equal(out[0], expect)


def test_minmax_image_is_the_batch_range_in_unit_interval():
    x = torch.tensor([-2.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2).repeat(2, 3, 1, 1)
    x[1] += 1.0  # batch range: -2 .. 3
    out = s4.d_image(x, "minmax")
    assert torch.allclose(out[0, 0].flatten(), torch.tensor([0.0, 0.4, 0.6, 0.8]))
    assert torch.allclose(out[1, 2].flatten(), torch.tensor([0.2, 0.6, 0.8, 1.0]))
    assert s4.d_image(x, "normalised") is x
    with pytest.raises(ValueError, match="d_input"):
        s4.d_image(x, "raw")


def test_passes_visit_every_item_once_per_pass():
    gen = torch.Generator().manual_seed(0)
    draw = s4._Passes(np.arange(10, 17), gen)
    got = np.concatenate([draw(3) for _ in range(7)])  # 21 items = 3 passes of 7
    for p in range(3):
        assert sorted(got[7 * p:7 * p + 7]) == list(range(10, 17))


def _train(images, masks, iterations=3, **kw):
    torch.manual_seed(0)
    model = build_segmentation_model("small-seg", 2, None)
    stats = {}
    out = s4.train_s4gan(model, images, masks, np.arange(6), np.arange(6, 12), iterations=iterations, batch_size=3,
                         lr=0.01, seed=0, mean=MEAN, std=STD, num_classes=2, crop_size=32, scale_range=(1.0, 1.0),
                         hflip=False, head_lr_mult=1.0, d_width=4, stats=stats, **kw)
    return out, stats


def test_d_loss_mean_is_half_the_sum():
    images, masks = toy()
    _, s_sum = _train(images, masks, iterations=1)
    _, s_mean = _train(images, masks, iterations=1, d_loss="mean")
    assert s_mean["d"] == pytest.approx(s_sum["d"] / 2, rel=1e-6)


def test_discriminator_lr_poly_decays_like_the_generator(monkeypatch):
    seen = []

    class Adam(torch.optim.Adam):
        def step(self, *a, **k):
            seen.append(self.param_groups[0]["lr"])
            return super().step(*a, **k)

    monkeypatch.setattr(torch.optim, "Adam", Adam)
    images, masks = toy()
    _train(images, masks, iterations=4, lr_d=1e-3, lr_d_schedule="poly")
    assert seen == pytest.approx([1e-3 * (1 - k / 4) ** 0.9 for k in range(4)])  # the original's lr_poly
    seen.clear()
    _train(images, masks, iterations=2, lr_d=1e-3)
    assert seen == pytest.approx([1e-3, 1e-3])  # alkit's default: constant


def test_real_pair_from_a_separate_batch_scaled_to_unit_range(monkeypatch):
    """The original's D step: real = one_hot(labels_gt) ⊕ min-max(images_gt) of its own batch."""
    images, masks = toy()
    batches, d_inputs = [], []
    original = s4._batch

    def recording(images_, masks_, idx, *a):
        batches.append(np.asarray(idx).copy())
        return original(images_, masks_, idx, *a)

    monkeypatch.setattr(s4, "_batch", recording)
    d = S4GANDiscriminator(2, width=4, dropout_layers=3)
    d.register_forward_pre_hook(lambda m, args: d_inputs.append(args[0].detach().clone()))
    s4.train_s4gan(build_segmentation_model("small-seg", 2, None), images, masks, np.arange(6), np.arange(6, 12),
                   iterations=2, batch_size=3, lr=0.01, seed=0, mean=MEAN, std=STD, num_classes=2, crop_size=32,
                   scale_range=(1.0, 1.0), hflip=False, head_lr_mult=1.0, discriminator=d, d_input="minmax",
                   real_batch="separate", ignore_fill="zeros", sampling="passes")
    assert len(batches) == 6  # labelled, unlabelled, ground truth per iteration
    gt = [batches[2], batches[5]]
    assert sorted(np.concatenate(gt)) == list(range(6))  # one shuffled pass over the labelled images
    for it in range(2):
        g = gt[it]
        x = (images[g].float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        expect = torch.cat([F.one_hot(masks[g], 2).permute(0, 3, 1, 2).float(),
                            (x - x.min()) / (x.max() - x.min())], 1)
        # one D call per step: D(fake ⊕ real) in G's step, D(real ⊕ fake) in D's step (batches of 3)
        g_step, d_step = d_inputs[2 * it], d_inputs[2 * it + 1]
        assert len(g_step) == len(d_step) == 6
        assert torch.allclose(d_step[:3], expect, atol=1e-5)
        assert torch.allclose(g_step[3:], expect, atol=1e-5)
        assert torch.allclose(g_step[:3], d_step[3:])  # the same fake maps in both steps
        assert 0.0 <= float(g_step[:3, 2:].min()) and float(g_step[:3, 2:].max()) <= 1.0
    assert d.image_input == "minmax"


def test_unknown_option_is_one_value_error():
    images, masks = toy()
    with pytest.raises(ValueError, match="real_batch must be one of same, separate"):
        _train(images, masks, real_batch="other")


def test_original_options_run_and_score():
    images, masks = toy()
    (model, d), stats = _train(images, masks, iterations=3, **s4.S4GAN_ORIGINAL)
    assert np.isfinite(list(stats.values())).all() and d.dropout_layers == 3
    scores = s4.discriminator_scores(model, d, images, np.arange(6, 12), MEAN, STD)
    assert scores.shape == (6,) and ((scores > 0) & (scores < 1)).all()


def test_paper_recipe_sets_the_original_and_shapes_keeps_alkit_defaults():
    from alkit.experiments.recipes import recipe

    paper = recipe("segmentation", "voc")["s4gan"]
    assert {k: paper[k] for k in s4.S4GAN_ORIGINAL} == s4.S4GAN_ORIGINAL
    shapes = recipe("segmentation", "shapes")["s4gan"]
    assert not set(s4.S4GAN_ORIGINAL) & set(shapes)
