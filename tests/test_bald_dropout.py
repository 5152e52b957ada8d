"""BALD as Gal et al. 2017 run it: the network trained with the dropout its MC samples are drawn
with, and the samples taken in float32 chunk by chunk over the pool (memory linear in the pool)."""

import math

import numpy as np
import pytest
import torch

import alkit.strategies as S
import alkit.strategies.scores as sc
from alkit.engine.models.mc_dropout import BALD_DROPOUT, PenultimateDropout, add_penultimate_dropout
from task_settings import training


def H(p):
    return -sum(x * math.log(x) for x in p if x > 0)


def test_one_chunk_is_bald_of_mc_dropout_probs():
    rng = np.random.default_rng(0)
    emb, w, b = rng.normal(size=(9, 5)), rng.normal(size=(4, 5)), rng.normal(size=4)
    whole = sc.bald(sc.mc_dropout_probs(emb, w, b, samples=6, p=0.5, seed=7))
    np.testing.assert_allclose(sc.mc_dropout_bald(emb, w, b, samples=6, p=0.5, seed=7, chunk=9), whole,
                               rtol=1e-5, atol=1e-7)


def test_chunks_by_hand():
    """Masks drawn chunk by chunk, pass by pass, from one generator; BALD = H(mean p) - mean H(p)."""
    rng = np.random.default_rng(1)
    n, D, C, T, chunk = 7, 3, 3, 4, 3
    emb, w, b = rng.normal(size=(n, D)), rng.normal(size=(C, D)), rng.normal(size=C)
    g = torch.Generator().manual_seed(11)
    expect = []
    for start in range(0, n, chunk):
        rows = emb[start:start + chunk]
        probs = []
        for _ in range(T):
            mask = torch.bernoulli(torch.full(rows.shape, 0.5), generator=g).numpy() / 0.5
            z = (rows * mask) @ w.T + b
            probs.append(np.exp(z) / np.exp(z).sum(1, keepdims=True))
        probs = np.stack(probs)  # [T, c, C]
        for i in range(len(rows)):
            expect.append(H(probs[:, i].mean(0)) - np.mean([H(q) for q in probs[:, i]]))
    got = sc.mc_dropout_bald(emb, w, b, samples=T, p=0.5, seed=11, chunk=chunk)
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)
    assert np.allclose(sc.mc_dropout_bald(emb, w, b, samples=T, p=0.0, chunk=chunk), 0.0, atol=1e-6)


def test_memory_is_chunked_and_float32(monkeypatch):
    """A fabricated pool of 10,000 items x 100 classes: every sample array is float32 [T, <= chunk, C],
    never [T, n, C]; ceil(n / chunk) chunks."""
    seen = []
    original = sc._mutual_information

    def recording(p):
        seen.append((tuple(p.shape), p.dtype))
        return original(p)

    monkeypatch.setattr(sc, "_mutual_information", recording)
    g = torch.Generator().manual_seed(0)
    emb, w = torch.randn(10_000, 16, generator=g), torch.randn(100, 16, generator=g)
    out = sc.mc_dropout_bald(emb, w, samples=20, chunk=1024)
    assert out.shape == (10_000,) and out.dtype == np.float64 and (out > -1e-6).all()
    assert len(seen) == math.ceil(10_000 / 1024)
    assert all(shape[0] == 20 and shape[1] <= 1024 and shape[2] == 100 and dt == torch.float32 for shape, dt in seen)
    assert sum(shape[1] for shape, _ in seen) == 10_000


def test_penultimate_dropout_in_training_only():
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.fc = torch.nn.Linear(8, 3)
    add_penultimate_dropout(model, 0.5)
    x = torch.ones(4, 8)
    model.train()
    torch.manual_seed(5)
    got = model.fc(x)
    torch.manual_seed(5)
    mask = torch.nn.functional.dropout(torch.ones(4, 8), 0.5, training=True)  # the same draw: 0 or 2
    assert set(mask.unique().tolist()) == {0.0, 2.0}
    assert torch.allclose(got, (x * mask) @ model.fc.weight.T + model.fc.bias)
    model.eval()
    assert torch.allclose(model.fc(x), x @ model.fc.weight.T + model.fc.bias)
    with pytest.raises(ValueError, match="'fc'"):
        add_penultimate_dropout(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="dropout p"):
        PenultimateDropout(1.0)


def test_bald_trains_with_dropout_and_others_do_not():
    from alkit.engine.data import ImageDataset
    from alkit.experiments.config import Experiment
    from alkit.tasks.classification import ClassificationTask

    assert S.get_strategy("bald").trains == "dropout" and S.get_strategy("bald").needs == {"mc_bald"}
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g)
    data = ImageDataset("tiny", x, torch.arange(40) % 4, x[:8], torch.arange(8) % 4, list("abcd"), (0.5,), (0.25,))
    task = ClassificationTask(data, **training(epochs=1), device="cpu")
    hooks = {}
    for name in ("bald", "entropy"):
        learner = task.fit(np.arange(12), seed=0, strategy=name)
        hooks[name] = [h for h in learner.models[0].fc._forward_pre_hooks.values() if isinstance(h, PenultimateDropout)]
    assert [h.p for h in hooks["bald"]] == [BALD_DROPOUT] and hooks["entropy"] == []
    picks = task.rank(learner_bald := task.fit(np.arange(12), seed=0, strategy="bald"), "bald", np.arange(12),
                      np.arange(12, 40), 5, np.random.default_rng(0))
    assert len(picks) == 5 and set(picks) <= set(range(12, 40)) and learner_bald.models[0].training is False
    exp = Experiment(dataset="digits", strategies=("bald", "entropy"))
    assert exp.store_config("bald", task)["train_dropout"] == BALD_DROPOUT
    assert "train_dropout" not in exp.store_config("entropy", task)


def test_trains_dropout_is_for_classification():
    with pytest.raises(ValueError, match="classification strategies"):
        S.register_strategy("seg-dropout", task="segmentation", trains="dropout")(lambda inputs: None)
