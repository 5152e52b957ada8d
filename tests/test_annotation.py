"""The simulated polygon annotator (paper Sec. 4.1): click costs, holes, ignore regions, sweep."""

import cv2
import numpy as np
import pytest

from alkit.protocol.annotation import (annotate, annotate_many, confusion, mask_to_polygons, miou_from_confusion,
                              tolerance_sweep)

TOLERANCES = [0, 0.5, 1, 2, 5, 10, 20, 40, 100]


def square(size=64, lo=10, hi=30, label=1):
    m = np.zeros((size, size), np.uint8)
    m[lo:hi, lo:hi] = label
    return m


def disc(size=128, r=40, label=1):
    m = np.zeros((size, size), np.uint8)
    cv2.circle(m, (size // 2, size // 2), r, label, -1)
    return m


def ring(size=128, r_out=40, r_in=16, label=2):
    m = disc(size, r_out, label)
    cv2.circle(m, (size // 2, size // 2), r_in, 0, -1)
    return m


def miou(true, approx, k):
    return miou_from_confusion(confusion(true, approx, k))


@pytest.mark.parametrize("tol", TOLERANCES)
def test_square_costs_four_clicks_at_any_tolerance(tol):
    approx, clicks = annotate(square(), tol)
    assert clicks == 4
    assert np.array_equal(approx, square())


def test_disc_clicks_fall_as_tolerance_grows():
    clicks = [annotate(disc(), t)[1] for t in [0, 0.5, 1, 2, 5, 10, 20, 40]]
    assert all(a >= b for a, b in zip(clicks, clicks[1:])), clicks
    assert clicks[0] > 3 * clicks[-1]
    assert min(clicks) >= 3  # a polygon never collapses below a triangle


def test_ring_keeps_its_hole():
    m = ring()
    for tol in [0, 1, 2, 5]:
        polys = mask_to_polygons(m, tol)
        assert len(polys) == 1 and len(polys[0].holes) == 1
        approx, clicks = annotate(m, tol)
        assert approx[64, 64] == 0  # the centre is background again
        assert clicks == len(polys[0].outer) + len(polys[0].holes[0])
        if tol <= 2:  # and the hole keeps its size
            inner_true = (m[40:88, 40:88] == 0).sum()
            inner_approx = (approx[40:88, 40:88] == 0).sum()
            assert abs(inner_true - inner_approx) < 0.1 * inner_true


def test_hole_filled_by_another_object_costs_nothing():
    m = square(64, 10, 50, label=3)
    m[20:30, 20:30] = 1  # an object inside: no background shows through the hole
    approx, clicks = annotate(m, 1)
    assert clicks == 8  # two squares, no hole polygon
    assert np.array_equal(approx, m)


@pytest.mark.parametrize("tol", [0, 0.5, 1])
def test_polygonal_shapes_are_exact_at_small_tolerance(tol):
    m = np.zeros((96, 96), np.uint8)
    m[5:40, 5:30] = 1  # rectangle
    m[50:90, 10:20] = 2
    m[80:90, 10:50] = 2  # an L shape
    cv2.fillPoly(m, [np.array([[60, 5], [92, 20], [70, 45]])], 3)  # triangle drawn by OpenCV
    m[55:75, 55:90] = 4
    m[60:68, 62:70] = 0  # rectangle with a rectangular hole
    approx, _ = annotate(m, tol)
    assert miou(m, approx, 5) == pytest.approx(1.0)


def test_ignore_pixels_stay_ignored_and_do_not_count():
    m = disc(96, 30, label=5)
    edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0
    m[edge] = 255  # VOC-style border
    approx, clicks = annotate(m, 10)
    assert clicks > 0
    assert np.array_equal(approx == 255, m == 255)
    cm = confusion(m, approx, 21)
    assert cm.sum() == (m != 255).sum()


def test_background_only_image_costs_nothing():
    approx, clicks = annotate(np.zeros((32, 32), np.uint8), 5)
    assert clicks == 0 and not approx.any()


def test_negative_tolerance_is_rejected():
    with pytest.raises(ValueError, match="tolerance"):
        annotate(square(), -1)


def test_miou_counts_only_present_classes():
    t = np.array([[0, 0], [1, 1]])
    assert miou(t, t, 10) == 1.0
    p = np.array([[0, 0], [0, 1]])
    assert miou(t, p, 2) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_tolerance_sweep_trades_cost_for_quality():
    masks = [disc(), ring(), square(128, 20, 70, 3)]
    table = tolerance_sweep(masks, [0, 2, 10, 30], num_classes=4, progress=False)
    assert list(table.columns) == ["tolerance", "clicks_per_image", "clicks_std", "miou", "images"]
    assert table.miou.iloc[0] == pytest.approx(1.0)
    assert table.clicks_per_image.is_monotonic_decreasing
    assert table.miou.is_monotonic_decreasing
    approx, clicks = annotate_many(masks, 2)
    assert clicks.tolist() == [annotate(m, 2)[1] for m in masks] and len(approx) == 3
