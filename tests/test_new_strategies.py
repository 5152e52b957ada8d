"""Margin, BALD, BADGE and TypiClust against hand computations and brute-force references; every
registered classification strategy respects the budget and the pool on digits."""

import math

import numpy as np
import pytest
import torch

import alkit.strategies as S
from alkit.strategies.badge import badge_select, d2_seeding, dense_seeding
from alkit.strategies.scores import bald, grad_embedding, margin, mc_dropout_probs
from alkit.strategies.typiclust import typicality, typiclust_select
from task_settings import training


def H(p):
    p = np.asarray(p, dtype=float)
    return -sum(x * math.log(x) for x in p if x > 0)


# ---------------------------------------------------------------- margin, BALD


def test_margin_by_hand():
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(margin(probs), [-0.5, -0.05, 0.0, -0.7])
    np.testing.assert_allclose(margin(torch.tensor(probs)), [-0.5, -0.05, 0.0, -0.7])
    inputs = S.QueryInputs(np.array([10, 11, 12, 13]), probs=probs)
    assert S.rank("margin", inputs, 2, np.random.default_rng(0)).tolist() == [12, 11]


def test_bald_by_hand():
    # item 0: both passes agree (no mutual information); item 1: confident passes disagree
    mc = np.array([[[0.5, 0.5], [0.9, 0.1]],
                   [[0.5, 0.5], [0.1, 0.9]]])  # [T=2, u=2, K=2]
    expected = [H([0.5, 0.5]) - H([0.5, 0.5]), H([0.5, 0.5]) - H([0.9, 0.1])]
    np.testing.assert_allclose(bald(mc), expected)
    mc3 = np.array([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.2, 0.3, 0.5]]])  # T=3, u=1
    mean = [0.4, 1.3 / 3, 0.5 / 3]
    np.testing.assert_allclose(bald(mc3), [H(mean) - (0 + 0 + H([0.2, 0.3, 0.5])) / 3])
    with pytest.raises(ValueError, match="3-D"):
        bald(np.ones((2, 2)))


def test_mc_dropout_probs():
    rng = np.random.default_rng(0)
    emb, w, b = rng.normal(size=(6, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    plain = torch.softmax(torch.tensor(emb @ w.T + b), 1).numpy()
    np.testing.assert_allclose(mc_dropout_probs(emb, w, b, samples=2, p=0.0), np.stack([plain, plain]), rtol=1e-5)
    a = mc_dropout_probs(emb, w, b, samples=5, p=0.5, seed=1)
    assert a.shape == (5, 6, 3) and np.allclose(a.sum(-1), 1, atol=1e-5)
    assert np.array_equal(a, mc_dropout_probs(emb, w, b, samples=5, p=0.5, seed=1))
    assert not np.allclose(a[0], a[1])
    # inverted dropout: one pass with a known mask equals the layer on the masked, rescaled features
    g = torch.Generator().manual_seed(3)
    mask = torch.bernoulli(torch.full((6, 4), 0.5), generator=g).numpy() / 0.5
    one = mc_dropout_probs(emb, w, b, samples=1, p=0.5, seed=3)[0]
    np.testing.assert_allclose(one, torch.softmax(torch.tensor((emb * mask) @ w.T + b), 1).numpy(), rtol=1e-5)


# ---------------------------------------------------------------- BADGE


def test_grad_embedding_by_hand():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    feats = np.array([[1.0, 2.0], [3.0, -1.0]])
    g = grad_embedding(probs, feats)
    assert g.shape == (2, 6)
    # item 0 predicts class 0: blocks (0.7 - 1) f, 0.2 f, 0.1 f
    np.testing.assert_allclose(g[0], [-0.3, -0.6, 0.2, 0.4, 0.1, 0.2], rtol=1e-6)
    # item 1 predicts class 2: blocks 0.1 f, 0.3 f, (0.6 - 1) f
    np.testing.assert_allclose(g[1], [0.3, -0.1, 0.9, -0.3, -1.2, 0.4], rtol=1e-6)
    # it is the gradient of the cross-entropy at the predicted label w.r.t. the last layer's weights
    w = torch.zeros(3, 2, requires_grad=True)
    f = torch.tensor(feats, dtype=torch.float64)
    logits = torch.log(torch.tensor(probs)) + (w.double() @ f.T).T  # softmax(logits) = probs at w = 0
    for i, y in enumerate(probs.argmax(1)):
        (gw,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits[i:i + 1], torch.tensor([y])), w,
                                    retain_graph=True)
        np.testing.assert_allclose(gw.numpy().reshape(-1), g[i], rtol=1e-5, atol=1e-7)


def test_d2_seeding_first_pick_and_distribution():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 0.0]])
    first = dense_seeding(x, 1, np.random.default_rng(0))
    assert first.tolist() == [3]  # the largest norm
    # the second pick is drawn with probability d^2 / sum d^2: d^2 to [5, 0] = 25, 16, 29 (and 0)
    counts = np.zeros(4)
    rng = np.random.default_rng(1)
    n = 3000
    for _ in range(n):
        counts[dense_seeding(x, 2, rng)[1]] += 1
    np.testing.assert_allclose(counts / n, [25 / 70, 16 / 70, 29 / 70, 0], atol=0.03)
    # duplicates of picked points are never picked while others remain; then uniform fallback
    dup = np.array([[3.0, 0.0], [3.0, 0.0], [0.0, 0.0]])
    picks = dense_seeding(dup, 3, np.random.default_rng(0))
    assert picks[0] == 0 and picks[1] == 2 and sorted(picks) == [0, 1, 2]


def test_badge_select_equals_seeding_on_explicit_embeddings():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(60, 4)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    feats = rng.normal(size=(60, 5))
    implicit = badge_select(probs, feats, 12, np.random.default_rng(7))
    explicit = dense_seeding(grad_embedding(probs, feats).astype(np.float64), 12, np.random.default_rng(7))
    assert implicit.tolist() == explicit.tolist()
    g = grad_embedding(probs, feats)
    assert implicit[0] == int(np.argmax(np.linalg.norm(g, axis=1)))
    assert len(set(implicit.tolist())) == 12
    with pytest.raises(ValueError, match="k must be in"):
        d2_seeding(np.ones(3), lambda i: np.ones(3), 4, rng)


# ---------------------------------------------------------------- TypiClust


def test_typicality_by_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    knn = np.sort(d, axis=1)[:, :7]
    np.testing.assert_allclose(typicality(x, 7), 1 / (knn.mean(1) + 1e-5))
    np.testing.assert_allclose(typicality(x, 7, squared=True), 1 / ((knn ** 2).mean(1) + 1e-5))
    np.testing.assert_allclose(typicality(x, 100), 1 / (np.sort(d, 1)[:, :29].mean(1) + 1e-5))  # k capped
    assert typicality(x[:1], 20).tolist() == [1e5]


def test_typiclust_one_pick_per_uncovered_blob_near_its_centre():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [20, 0], [0, 20], [20, 20], [40, 40]], dtype=float)
    x = np.concatenate([c + rng.normal(size=(40, 2)) for c in centres])
    blob = np.repeat(np.arange(5), 40)
    mask = np.zeros(len(x), bool)
    mask[[0, 40, 80]] = True  # one labelled point in blobs 0, 1, 2
    picks = typiclust_select(x, mask, 2, np.random.default_rng(1))
    assert sorted(blob[picks].tolist()) == [3, 4]
    for p in picks:  # the most typical point sits near the centre: among the blob's closest quarter
        dist = np.linalg.norm(x[blob == blob[p]] - centres[blob[p]], axis=1)
        assert np.linalg.norm(x[p] - centres[blob[p]]) <= np.quantile(dist, 0.25) and dist.min() < 1.0
    # a larger budget (10 clusters over 5 blobs): the uncovered blobs still get a point, never a labelled one
    more = typiclust_select(x, mask, 7, np.random.default_rng(1))
    assert {3, 4} <= set(blob[more].tolist()) and not mask[more].any() and len(set(more.tolist())) == 7


def test_typiclust_follows_the_authors_order_on_given_clusters():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 2))
    clusters = np.array([0] * 12 + [1] * 10 + [2] * 8 + [3] * 4 + [4] * 6)  # cluster 3 is too small (<= 5)
    mask = np.zeros(40, bool)
    mask[0] = True  # cluster 0 is covered
    picks = typiclust_select(x, mask, 5, rng, clusters=clusters)
    # uncovered first, largest first (1, 2, 4), then covered (0); 3 is dropped; then back to 1
    assert clusters[picks].tolist() == [1, 2, 4, 0, 1]
    members = np.flatnonzero(clusters == 1)
    assert picks[0] == members[np.argmax(typicality(x[members], min(20, len(members) // 2)))]


# ---------------------------------------------------------------- on the classification task


@pytest.fixture(scope="module")
def digits():
    from alkit.engine.data import load_dataset

    return load_dataset("digits")


@pytest.mark.parametrize("strategy", S.strategy_names("classification"))
def test_every_strategy_respects_budget_and_pool(digits, strategy):
    from alkit.tasks.classification import ClassificationTask

    task = ClassificationTask(digits, **training(epochs=1, ensemble_size=2))
    rng = np.random.default_rng(0)
    labelled = task.initial_order(rng)[:30]
    unlabelled = np.setdiff1d(np.arange(len(task.labels)), labelled)
    learner = task.fit(labelled, seed=1, strategy=strategy)
    picked = task.rank(learner, strategy, labelled, unlabelled, 25, np.random.default_rng(1))
    assert len(picked) == 25 and len(set(picked.tolist())) == 25
    assert not np.isin(picked, labelled).any() and np.isin(picked, unlabelled).all()
    again = task.rank(learner, strategy, labelled, unlabelled, 25, np.random.default_rng(1))
    assert np.array_equal(picked, again)  # deterministic under a seed
    # a budget larger than the pool takes what is left
    few = np.setdiff1d(np.arange(len(task.labels)), unlabelled[:5])
    out = task.rank(learner, strategy, few, unlabelled[:5], 25, np.random.default_rng(1))
    assert sorted(out.tolist()) == unlabelled[:5].tolist()


@pytest.mark.parametrize("strategy", ["margin", "bald", "badge", "typiclust"])
def test_new_strategies_never_see_unlabelled_labels(strategy):
    """Scrambling the labels of the unlabelled items changes nothing the strategy picks."""
    from alkit.tasks.classification import ClassificationTask
    from alkit.engine.data import load_dataset

    picks = []
    for scramble in (False, True):
        data = load_dataset("digits")
        task = ClassificationTask(data, **training(epochs=1))
        labelled = task.initial_order(np.random.default_rng(0))[:30]
        unlabelled = np.setdiff1d(np.arange(len(data.train_y)), labelled)
        if scramble:
            y = data.train_y.clone()
            y[unlabelled] = torch.from_numpy(np.random.default_rng(5).integers(0, 10, len(unlabelled)))
            data.train_y = y
            task = ClassificationTask(data, **training(epochs=1))
        learner = task.fit(labelled, seed=3, strategy=strategy)
        picks.append(task.rank(learner, strategy, labelled, unlabelled, 20, np.random.default_rng(2)))
    assert np.array_equal(picks[0], picks[1])
