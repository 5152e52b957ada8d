"""Scoring functions against hand computations and a brute-force O(n^2) k-center greedy."""

import math

import numpy as np
import pytest
import torch

from alkit.engine.train.common import margin_ranking_loss
from alkit.strategies.scores import (entropy, k_center_greedy, top_k,
                                     variation_ratio)


def test_entropy_by_hand():
    probs = np.array([[0.25, 0.25, 0.25, 0.25], [0, 1, 0, 0], [0.5, 0.5, 0, 0]])
    np.testing.assert_allclose(entropy(probs), [math.log(4), 0.0, math.log(2)])
    np.testing.assert_allclose(entropy(torch.tensor(probs, dtype=torch.float32)), [math.log(4), 0, math.log(2)],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="2-D"):
        entropy(np.ones(3))


def test_variation_ratio_by_hand():
    preds = np.array([[0, 0, 1], [0, 1, 1], [0, 2, 1]])  # members x items
    np.testing.assert_allclose(variation_ratio(preds, 3), [0.0, 2 / 3, 0.0])
    preds5 = np.array([[0], [0], [1], [1], [2]])
    np.testing.assert_allclose(variation_ratio(preds5, 3), [1 - 2 / 5])
    np.testing.assert_allclose(variation_ratio(torch.tensor(preds)), [0.0, 2 / 3, 0.0])
    with pytest.raises(ValueError, match="lie in"):
        variation_ratio(preds, 2)


def test_top_k_order_and_seeded_tie_breaking():
    s = np.array([0.1, 0.9, 0.5, 0.9, 0.9, 0.2])
    for seed in range(5):
        got = top_k(s, 4, np.random.default_rng(seed))
        assert set(got[:3]) == {1, 3, 4} and got[3] == 2
    a = top_k(s, 3, np.random.default_rng(7))
    np.testing.assert_array_equal(a, top_k(s, 3, np.random.default_rng(7)))
    firsts = {int(top_k(s, 1, np.random.default_rng(seed))[0]) for seed in range(40)}
    assert firsts == {1, 3, 4}  # every tied item gets to be first under some seed
    assert top_k(s, 0, np.random.default_rng(0)).shape == (0,)
    with pytest.raises(ValueError, match="k must be"):
        top_k(s, 7, np.random.default_rng(0))


def brute_force_k_center(x, labelled, budget):
    """Reference: dense distance matrix, plain greedy, argmax lowest index; start nearest the mean."""
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    picks = []
    if labelled.any():
        min_d = d[:, labelled].min(axis=1)
    else:
        first = int(np.argmin(((x - x.mean(0)) ** 2).sum(1)))
        picks.append(first)
        min_d = d[first].copy()
    min_d[labelled] = -np.inf
    for p in picks:
        min_d[p] = -np.inf
    while len(picks) < budget:
        p = int(np.argmax(min_d))
        picks.append(p)
        min_d = np.minimum(min_d, d[p])
        min_d[labelled] = -np.inf
        min_d[picks] = -np.inf
    return np.array(picks)


@pytest.mark.parametrize("n_labelled", [0, 1, 15, 40])
@pytest.mark.parametrize("seed,chunk", [(0, 16), (1, 4)])
def test_k_center_greedy_matches_brute_force(n_labelled, seed, chunk):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, 6)) * 4  # clustered, like class-structured embeddings
    x = centres[rng.integers(0, 5, 150)] + rng.normal(size=(150, 6))
    labelled = np.zeros(150, bool)
    labelled[rng.choice(150, n_labelled, replace=False)] = True
    ref = brute_force_k_center(x, labelled, 60)
    got = k_center_greedy(x, labelled, 60, chunk=chunk)  # small chunks: blocks, queued labelled, batches
    np.testing.assert_array_equal(got, ref)
    assert got.dtype == np.int64 and len(set(got.tolist())) == 60 and not labelled[got].any()
    # torch float32 input gives the same picks on this well-separated data
    got32 = k_center_greedy(torch.tensor(x, dtype=torch.float32), torch.tensor(labelled), 60)
    np.testing.assert_array_equal(got32, ref)


def test_k_center_greedy_takes_every_unlabelled_point_and_handles_duplicates():
    x = np.repeat(np.arange(10.0)[:, None], 3, axis=0)  # each point three times
    labelled = np.zeros(30, bool)
    labelled[:4] = True
    got = k_center_greedy(x, labelled, 26)
    assert sorted(got.tolist()) == list(range(4, 30))
    np.testing.assert_array_equal(got, brute_force_k_center(x, labelled, 26))


def test_k_center_greedy_refuses_bad_input():
    x = np.random.default_rng(0).normal(size=(10, 2))
    labelled = np.zeros(10, bool)
    labelled[:8] = True
    with pytest.raises(ValueError, match="budget"):
        k_center_greedy(x, labelled, 3)
    with pytest.raises(ValueError, match="labelled_mask"):
        k_center_greedy(x, np.zeros(9, bool), 1)
    assert k_center_greedy(x, labelled, 0).shape == (0,)


def test_margin_ranking_loss_by_hand():
    pred = torch.tensor([0.2, 1.0, 0.5, 0.4, 3.0], requires_grad=True)
    target = torch.tensor([2.0, 0.1, 9.0, 0.3, 1.0])
    # pairs (0, 4): target 2 > 1 -> s=+1, pred diff 0.2-3.0=-2.8 -> max(0, 2.8+1) = 3.8
    #       (1, 3): target 0.1 < 0.3 -> s=-1, pred diff 1.0-0.4=0.6 -> max(0, 0.6+1) = 1.6; middle dropped
    loss = margin_ranking_loss(pred, target)
    assert loss.item() == pytest.approx((3.8 + 1.6) / 2)
    loss.backward()
    assert pred.grad[2] == 0  # the middle item of an odd batch takes no part
    ordered = margin_ranking_loss(torch.tensor([5.0, 3.0, 0.0, 1.5]), torch.tensor([4.0, 2.0, 1.0, 0.5]))
    assert ordered.item() == 0.0  # pairs ordered like the targets with a gap >= 1
    assert margin_ranking_loss(torch.tensor([1.0]), torch.tensor([2.0])).item() == 0.0
