"""FixMatch (Sohn et al. 2020), the second SSL trainer of SSL-X: the masked pseudo-label loss against
a hand computation, and FixMatch beating supervised training on digits with 20 labels."""

import math

import numpy as np
import pytest
import torch

from alkit.engine.augment import build_augment
from alkit.engine.data.digits import load_digits
from alkit.engine.models import build_model
from alkit.engine.train.fixmatch import pseudo_label_loss, train_fixmatch
from alkit.engine.train.supervised import accuracy, train_supervised
from alkit.protocol.pool import class_balanced_order


def test_pseudo_label_loss_by_hand():
    # row 0: weak softmax([4, 0, 0]) max = e^4 / (e^4 + 2) = 0.9647 >= 0.95 -> pseudo-label 0, kept
    # row 1: weak softmax([2, 0, 0]) max = 0.787 < 0.95 -> masked
    weak = torch.tensor([[4.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    strong = torch.tensor([[1.0, 2.0, 0.0], [0.0, 5.0, 0.0]], requires_grad=True)
    loss, frac = pseudo_label_loss(weak, strong, threshold=0.95)
    ce0 = -(1.0 - math.log(math.exp(1) + math.exp(2) + 1))  # -log softmax([1, 2, 0])_0
    assert float(frac) == pytest.approx(0.5)
    assert loss.item() == pytest.approx(ce0 / 2, rel=1e-6)  # mean over the whole batch
    loss.backward()
    assert torch.all(strong.grad[1] == 0)  # the masked row gets no gradient
    p = torch.softmax(torch.tensor([1.0, 2.0, 0.0]), 0)
    assert torch.allclose(strong.grad[0], (p - torch.tensor([1.0, 0, 0])) / 2, atol=1e-6)
    # lower threshold keeps row 1 too (pseudo-label 0); threshold above 1 keeps none
    l2, f2 = pseudo_label_loss(weak, strong.detach(), threshold=0.5)
    ce1 = -(0.0 - math.log(1 + math.exp(5) + 1))
    assert float(f2) == 1.0 and float(l2) == pytest.approx((ce0 + ce1) / 2, rel=1e-6)
    assert float(pseudo_label_loss(weak, strong.detach(), threshold=1.01)[0]) == 0.0


def test_pseudo_label_is_argmax_of_weak_view_and_shapes_checked():
    weak = torch.tensor([[0.0, 0.0, 9.0]])
    strong = torch.tensor([[0.0, 0.0, 0.0]])
    loss, _ = pseudo_label_loss(weak, strong)
    assert float(loss) == pytest.approx(math.log(3), rel=1e-6)  # CE of a uniform prediction vs class 2
    with pytest.raises(ValueError):
        pseudo_label_loss(torch.zeros(2, 3), torch.zeros(2, 4))


SEEDS = (0, 1, 2)
ITERATIONS = 200


def test_fixmatch_beats_supervised_on_digits_with_20_labels():
    """20 labels (2 per class): FixMatch (tau 0.95, lambda_u 1, unlabelled batch 32, lr 0.1) against
    supervised training with the same augmentation and steps; mean over 3 seeds, numbers printed."""
    data = load_digits()
    labels = data.train_y.numpy()
    aug, weak, strong = (build_augment(n, 8, hflip=False) for n in ("paper", "weak", "strong"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    sup, fix = [], []
    try:
        for seed in SEEDS:
            lab = class_balanced_order(labels, np.random.default_rng(seed))[:20]
            unl = np.setdiff1d(np.arange(len(labels)), lab)
            torch.manual_seed(seed)
            m = build_model("small-cnn", 10, in_channels=1, image_size=8)
            train_supervised(m, data, lab, epochs=1, min_steps=ITERATIONS, augment=aug, seed=seed, lr=0.1)
            sup.append(accuracy(m, data))
            torch.manual_seed(seed)
            m = build_model("small-cnn", 10, in_channels=1, image_size=8)
            train_fixmatch(m, data, lab, unl, iterations=ITERATIONS, weak=weak, strong=strong, labelled_augment=aug,
                           seed=seed, lr=0.1, unlabelled_batch=32, progress=False)
            fix.append(accuracy(m, data))
    finally:
        torch.set_num_threads(threads)
    sup, fix = np.array(sup), np.array(fix)
    print(f"\ndigits, 20 labels: supervised {np.round(100 * sup, 1)} | FixMatch {np.round(100 * fix, 1)}")
    assert fix.mean() > sup.mean() + 0.02


def test_ssl_method_and_pretraining_are_in_the_store_key():
    from alkit.experiments.config import Experiment

    data = load_digits()
    keys = {}
    for name, kw in {"uda": dict(ssl="uda"), "fixmatch": dict(ssl="fixmatch"), "raw": {},
                     "glyphs": dict(pretrained="glyphs")}.items():
        exp = Experiment(regime="high", **kw)
        task = exp.build_task(data=data) if name != "glyphs" else None
        if task is None:  # building the glyph task is cheap (no pre-training until a model is made)
            task = exp.build_task(data=data)
            assert task.pretrained == "glyphs"
        keys[name] = exp.store_config("entropy", task)
    assert keys["uda"]["ssl"] == "uda" and keys["fixmatch"]["ssl"] == "fixmatch"
    assert keys["uda"] != keys["fixmatch"]
    assert keys["uda"]["lr"] == keys["fixmatch"]["lr"] == 0.1  # the digits SSL learning rate
    assert keys["raw"]["lr"] == 0.03 and "pretrained" not in keys["raw"]
    assert keys["glyphs"]["pretrained"] == "glyphs"
    with pytest.raises(ValueError, match="fixmatch"):
        Experiment(ssl="mixmatch").build_task(data=data)


def test_every_strategy_runs_with_fixmatch():
    """SSL-X with FixMatch for each built-in classification strategy: one tiny cycle."""
    from alkit.experiments.config import Experiment, run

    exp = Experiment(ssl="fixmatch", strategies=("random", "entropy", "ens-varr", "coreset", "ll"), trials=1,
                     initial=20, step=10, cycles=1, iterations=2, unlabelled_batch=8, batch_size=8,
                     ensemble_size=2, workers=1)
    df = run(exp, progress=False)
    assert set(df.ssl) == {"fixmatch"} and len(df) == 5 * 2
    assert (df[df.cycle == 1].n_labelled == 30).all()
