import numpy as np
import pytest

from alkit.protocol import pool


def test_class_balanced_order_prefixes_are_balanced():
    labels = np.repeat(np.arange(5), [30, 20, 25, 40, 35])
    order = pool.class_balanced_order(labels, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(len(labels)))  # a permutation of the pool
    for b in (5, 10, 23, 50, 100):
        counts = np.bincount(labels[order[:b]], minlength=5)
        assert counts.max() - counts.min() <= 1, (b, counts)


def test_class_balanced_order_seeded():
    labels = np.repeat(np.arange(3), 10)
    a = pool.class_balanced_order(labels, np.random.default_rng(1))
    b = pool.class_balanced_order(labels, np.random.default_rng(1))
    c = pool.class_balanced_order(labels, np.random.default_rng(2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_take_within_budget_unit_costs_exact():
    order = np.arange(10)[::-1]
    got = pool.take_within_budget(order, np.ones(10), 4)
    assert got.tolist() == [9, 8, 7, 6]


def test_take_within_budget_overshoot_less_than_last_cost():
    rng = np.random.default_rng(0)
    costs = rng.integers(1, 50, size=200).astype(float)
    for budget in (1, 7, 100, 999, 2500):
        order = rng.permutation(200)
        got = pool.take_within_budget(order, costs, budget)
        spent = costs[got].sum()
        assert spent >= budget
        assert spent - costs[got[-1]] < budget  # without the last item the budget was not yet met


def test_take_within_budget_too_large():
    with pytest.raises(ValueError, match="exceeds"):
        pool.take_within_budget(np.arange(3), np.ones(3), 5)


def test_mark_labelled_rejects_repeats():
    state = pool.new_state(5)
    pool.mark_labelled(state, np.array([1, 2]), 0)
    assert pool.labelled(state).tolist() == [1, 2]
    assert pool.unlabelled(state).tolist() == [0, 3, 4]
    with pytest.raises(ValueError):
        pool.mark_labelled(state, np.array([2]), 1)
    with pytest.raises(ValueError):
        pool.mark_labelled(state, np.array([3, 3]), 1)
