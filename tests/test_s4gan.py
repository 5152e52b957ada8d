"""s4GAN (Mittal et al. 2019) and SSL-D-score (paper Sec. 4.3): discriminator input, real/fake
separation on a toy problem, self-training gate, D-score ranking, SSL-X runs and their checks."""

import numpy as np
import pytest
import torch

from alkit.engine.models.discriminator import S4GANDiscriminator
from alkit.engine.models.segmentation import build_segmentation_model
from alkit.engine.train.s4gan import d_score_of, real_maps, train_s4gan
from alkit.strategies.segmentation import d_score_priority

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def toy(n=24, size=32, seed=0):
    """Images with one bright rectangle (class 1) on a dark background (class 0)."""
    g = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), np.int64)
    for i in range(n):
        y, x = g.integers(0, size - 12, 2)
        h, w = g.integers(6, 12, 2)
        masks[i, y:y + h, x:x + w] = 1
    images = (masks[:, None] * 180 + g.integers(0, 60, (n, 3, size, size))).astype(np.uint8)
    return torch.from_numpy(images), torch.from_numpy(masks)


def onehot(masks, k=2):
    return torch.nn.functional.one_hot(masks, k).permute(0, 3, 1, 2).float()


def test_discriminator_channels():
    d = S4GANDiscriminator(num_classes=5, width=8)
    logit, feat = d(torch.zeros(2, 8, 32, 32))
    assert logit.shape == (2,) and feat.shape == (2, 64)
    with pytest.raises(ValueError, match="8 channels"):
        d(torch.zeros(2, 5, 32, 32))  # a class map without its image


def test_real_maps_fill_ignore_with_prediction():
    y = torch.tensor([[[0, 1], [255, 1]]])
    probs = torch.full((1, 3, 2, 2), 1 / 3)
    out = real_maps(y, probs, 3)
    assert torch.equal(out[0, :, 0, 0], torch.tensor([1.0, 0, 0]))
    assert torch.equal(out[0, :, 0, 1], torch.tensor([0.0, 1, 0]))
    assert torch.allclose(out[0, :, 1, 0], torch.full((3,), 1 / 3))  # ignore pixel: the prediction


@pytest.fixture(scope="module")
def trained():
    images, masks = toy()
    torch.manual_seed(0)
    model = build_segmentation_model("small-seg", 2, None)
    seen, stats = [], {}
    d = S4GANDiscriminator(2, width=8)
    d.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
    model, d = train_s4gan(model, images, masks, np.arange(8), np.arange(8, 24), iterations=40, batch_size=4,
                           lr=0.0, seed=0, mean=MEAN, std=STD, num_classes=2, crop_size=32,
                           scale_range=(1.0, 1.0), head_lr_mult=1.0, lr_d=2e-3, discriminator=d, stats=stats)
    return images, masks, model, d, seen, stats


def test_discriminator_sees_image_plus_class_map(trained):
    *_, seen, _ = trained
    assert seen and set(seen) == {3 + 2}


def test_discriminator_separates_real_from_fake(trained):
    images, masks, model, d, _, _ = trained
    idx = np.arange(8, 24)
    with torch.no_grad():
        fake = torch.softmax(model((images[idx].float() / 255 - 0.5) / 0.25), 1)
        s_fake = d_score_of(d, fake, images, idx, MEAN, STD, "cpu")
        s_real = d_score_of(d, onehot(masks[idx]), images, idx, MEAN, STD, "cpu")
    assert s_real.min() > s_fake.max()


def test_d_score_ranks_corrupted_prediction_first(trained):
    images, masks, _, d, _, _ = trained
    idx = np.arange(8, 16)
    good = onehot(masks[idx])
    good[3] = onehot(1 - masks[idx[3]][None])[0]  # image 3: every pixel's class flipped
    good[5] = torch.full_like(good[5], 0.5)  # image 5: no idea at all
    with torch.no_grad():
        scores = d_score_of(d, good, images, idx, MEAN, STD, "cpu").numpy()
    order = np.argsort(-d_score_priority(scores))
    assert set(order[:2]) == {3, 5}


def test_self_training_gate(trained):
    images, masks, *_ = trained
    for thr, expect in ((1.0, 0.0), (0.0, 1.0)):
        stats = {}
        torch.manual_seed(0)
        model = build_segmentation_model("small-seg", 2, None)
        train_s4gan(model, images, masks, np.arange(4), np.arange(4, 24), iterations=2, batch_size=4, lr=0.01,
                    seed=1, mean=MEAN, std=STD, num_classes=2, crop_size=32, head_lr_mult=1.0, d_width=4,
                    st_threshold=thr, stats=stats)
        assert stats["passed"] == expect
        assert (stats["st"] == 0.0) == (expect == 0.0)


def test_ssl_run_and_d_score_budget(tmp_path):
    from alkit.experiments.config import Experiment, run

    exp = Experiment(dataset="shapes", ssl="s4gan", strategies=("random", "d-score"), trials=1, cycles=1,
                     iterations=2, initial=300, step=300, data_options=dict(n_train=60, n_val=16), workers=1)
    task = exp.build_task()
    df = run(exp, task=task, store_root=tmp_path, progress=False)
    assert set(df.strategy) == {"random", "d-score"} and set(df.ssl) == {"s4gan"}
    assert len(df.iou_per_class.iloc[-1]) == task.data.num_classes
    worst = task.clicks.max()
    assert (df.n_clicks <= df.budget + worst).all()
    key = exp.store_config("d-score", task)
    assert key["ssl"] == "s4gan" and key["s4gan"]["lambda_fm"] == 0.1
    sup = Experiment(dataset="shapes", strategies=("random",), data_options=dict(n_train=60, n_val=16))
    assert "ssl" not in sup.store_config("random", task)  # supervised keys as before s4GAN


@pytest.mark.parametrize("kw, match", [
    (dict(dataset="shapes", strategies=("d-score",)), "needs ssl='s4gan'"),
    (dict(dataset="digits", ssl="s4gan"), "s4gan is for segmentation"),
    (dict(dataset="shapes", ssl="uda"), "uda is for classification"),
])
def test_ssl_misuse_is_one_value_error(kw, match):
    from alkit.experiments.config import Experiment

    with pytest.raises(ValueError, match=match):
        Experiment(**kw).resolved()


def test_seg_findings_names_and_verdicts():
    """The 07 findings name runs as the paper does and test them paired by trial."""
    import pandas as pd

    from alkit.analysis import findings as F

    assert F.seg_run_label("random", "s4gan") == "SSL-Random" and F.seg_run_label("random", "none") == "Random"
    assert F.seg_run_label("d-score", "s4gan") == "SSL-D-score"
    assert F.seg_run_label("random-image-entropy-polygon", "s4gan") == "SSL-Random-Image-Entropy-Polygon"
    rows = []
    for t, (raw, ssl, dsc) in enumerate([(0.40, 0.50, 0.49), (0.42, 0.55, 0.53), (0.41, 0.52, 0.52)]):
        rows += [dict(strategy="random", ssl="none", trial=t, cycle=1, budget=2, miou=raw),
                 dict(strategy="random", ssl="s4gan", trial=t, cycle=1, budget=2, miou=ssl),
                 dict(strategy="d-score", ssl="s4gan", trial=t, cycle=1, budget=2, miou=dsc)]
    df = pd.DataFrame(rows)
    from alkit.analysis import claims as C

    def verdict(frame, key):
        spec = next(c for c in C.CLAIMS if c.key == key)
        return C.evaluate(frame, "07", claims=[spec], preset="default")[0].row["verdict"]

    assert verdict(df, "07-s4gan-lifts-random") == C.REPLICATED  # +10, +13, +11 points
    assert verdict(df, "07-dscore-not-above") == C.REPLICATED  # -1, -2, 0: interval below the 2-point margin
    assert verdict(df, "07-entropy-polygon").startswith("not tested")
    assert verdict(df[df.trial < 2], "07-s4gan-lifts-random").startswith("too few trials")


def test_epoch_matched_iterations_follow_the_supervised_step_floor():
    """Without an iteration count, s4GAN trains as many labelled batches as the supervised recipe."""
    from alkit.engine.train.s4gan import s4gan_iterations
    from alkit.engine.train.segmentation import train_steps

    assert s4gan_iterations(31, 12, 10) == 4 * 12
    assert s4gan_iterations(31, 12, 10, min_epoch_steps=10) == train_steps(31, 10, 12, 10) == 120
    assert s4gan_iterations(300, 12, 10, min_epoch_steps=10) == 30 * 12


def test_s4gan_generator_uses_the_recipe_optimiser_and_weight_average():
    from alkit.engine.models.segmentation import SmallSegNet
    from alkit.engine.train.s4gan import train_s4gan

    torch.manual_seed(0)
    images = torch.randint(0, 255, (12, 3, 32, 32), dtype=torch.uint8)
    masks = torch.randint(0, 3, (12, 32, 32), dtype=torch.uint8)
    kw = dict(iterations=6, batch_size=4, lr=0.003, num_classes=3, crop_size=32, d_width=8, head_lr_mult=1.0,
              mean=(0.5,) * 3, std=(0.25,) * 3)
    runs = []
    for ema in (0.0, 0.9):
        torch.manual_seed(1)
        model = SmallSegNet(3, width=8)
        model, _ = train_s4gan(model, images, masks, np.arange(4), np.arange(4, 12), optimizer="adamw",
                               schedule="cosine", warmup=2, ema=ema, **kw)
        runs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.isfinite(runs[1]).all() and not torch.allclose(runs[0], runs[1])  # the average is what comes back



def test_s4gan_generator_adds_the_dice_term_of_the_labelled_batch(monkeypatch):
    """dice_weight > 0 (the shapes recipe): soft Dice on G's labelled logits every iteration, never on the
    unlabelled batch; 0 (the paper's loss): never called."""
    from alkit.engine.models.segmentation import SmallSegNet
    from alkit.engine.train import s4gan

    calls = []
    real = s4gan.soft_dice_loss
    monkeypatch.setattr(s4gan, "soft_dice_loss", lambda logits, y, ignore: calls.append(y.shape) or real(logits, y, ignore))
    torch.manual_seed(0)
    images = torch.randint(0, 255, (12, 3, 32, 32), dtype=torch.uint8)
    masks = torch.randint(0, 3, (12, 32, 32), dtype=torch.uint8)
    kw = dict(iterations=3, batch_size=4, lr=0.003, num_classes=3, crop_size=32, d_width=8, head_lr_mult=1.0,
              mean=(0.5,) * 3, std=(0.25,) * 3)
    s4gan.train_s4gan(SmallSegNet(3, width=8), images, masks, np.arange(4), np.arange(4, 12), **kw)
    assert calls == []
    s4gan.train_s4gan(SmallSegNet(3, width=8), images, masks, np.arange(4), np.arange(4, 12), dice_weight=1.0, **kw)
    assert calls == [torch.Size([4, 32, 32])] * 3

def test_a_pooled_discriminator_is_the_plain_one_on_the_pooled_map():
    """``input_pool`` p: D(x) is the same network's output on x average-pooled p x p (the shapes
    recipe's cheaper D), and bad values are refused."""
    import torch.nn.functional as F

    from alkit.engine.models.discriminator import S4GANDiscriminator

    torch.manual_seed(0)
    plain = S4GANDiscriminator(4, width=8, dropout_layers=0)
    pooled = S4GANDiscriminator(4, width=8, dropout_layers=0, input_pool=2)
    pooled.load_state_dict(plain.state_dict())
    x = torch.rand(3, 7, 32, 32)
    lp, fp = pooled(x)
    lq, fq = plain(F.avg_pool2d(x, 2))
    assert torch.allclose(lp, lq) and torch.allclose(fp, fq)
    with pytest.raises(ValueError, match="input_pool"):
        S4GANDiscriminator(4, input_pool=0)


def test_generator_step_computes_no_discriminator_weight_gradients_and_trains_the_same(monkeypatch):
    """The generator step freezes D (``s4gan._frozen``): D's weight gradients are computed once per
    iteration (D's own step), not twice; G and D end exactly as with D trainable in the generator step
    (the plain way); a flag the caller set on D survives the training."""
    import contextlib

    from alkit.engine.models.segmentation import SmallSegNet
    from alkit.engine.train import s4gan

    images, masks = toy(16, 32)
    iterations = 4
    kw = dict(iterations=iterations, batch_size=4, lr=0.003, num_classes=2, crop_size=32, head_lr_mult=1.0,
              mean=MEAN, std=STD, seed=3)

    def run():
        torch.manual_seed(0)
        D = S4GANDiscriminator(2, width=8)
        held = next(D.parameters())
        held.requires_grad_(False)  # the caller's choice: this tensor is not trained
        calls = []
        for p in D.parameters():
            if p.requires_grad:
                p.register_hook(lambda g, calls=calls: calls.append(1))
        G, D = s4gan.train_s4gan(SmallSegNet(2, width=8), images, masks, np.arange(6), np.arange(6, 16),
                                 discriminator=D, **kw)
        flags = [p.requires_grad for p in D.parameters()]
        weights = [t.detach().clone() for t in (*G.state_dict().values(), *D.state_dict().values())]
        return len(calls), flags, weights

    n_trainable = len(list(S4GANDiscriminator(2, width=8).parameters())) - 1
    frozen_calls, frozen_flags, frozen_weights = run()
    monkeypatch.setattr(s4gan, "_frozen", lambda module: contextlib.nullcontext())
    plain_calls, plain_flags, plain_weights = run()
    assert frozen_calls == iterations * n_trainable  # D's own step only
    assert plain_calls > frozen_calls  # the plain generator step computed D weight gradients (all but the last layer's)
    assert frozen_flags == plain_flags == [False] + [True] * n_trainable
    assert all(torch.equal(a, b) for a, b in zip(frozen_weights, plain_weights))
