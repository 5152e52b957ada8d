"""Polygon-level labelling (paper Sec. 4.4.2): polygons and their clicks, the entropy-area score,
the query order, budget spending, partial masks in the loss and a tiny end-to-end run."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from alkit.protocol.annotation import annotate
from alkit.protocol.polygons import (IGNORED, NO_OWNER, PolygonPool, labels_from_owner, polygon_entropy_area,
                                     polygon_order, polygon_pixels)
from alkit.protocol.pool import take_within_budget


def hand_mask():
    """20 x 24: two class-1 squares (4 clicks each) and a class-3 square with a background hole
    (4 outer + 4 hole clicks), plus an ignored border column."""
    m = np.zeros((20, 24), np.uint8)
    m[2:6, 2:6] = 1
    m[12:16, 2:7] = 1
    m[4:14, 10:20] = 3
    m[8:10, 14:16] = 0  # the hole
    m[:, 23] = 255
    return m


def test_polygons_are_components_with_their_clicks():
    m = hand_mask()
    pool = PolygonPool.from_masks([m], tolerance=0)
    polys = pool.polygons[0]
    assert sorted((p.label, p.clicks) for p in polys) == [(1, 4), (1, 4), (3, 8)]
    assert pool.image_costs.tolist() == [16] and sorted(pool.polygon_costs.tolist()) == [4, 4, 8]
    assert pool.costs().tolist()[0] == 16 and len(pool.costs()) == 4  # item 0: the image, 1..3 polygons
    # rasterised together, the polygons are the annotator's approximated mask (here exact)
    approx, clicks = annotate(m, 0)
    assert clicks == 16 and np.array_equal(pool.mask(0), approx) and np.array_equal(approx, m)
    # each polygon owns exactly its component; the hole belongs to the ring polygon
    ring = next(j for j, p in enumerate(polys) if p.label == 3)
    owner = pool.owners[0]
    assert (owner == ring).sum() == 100 - 4 and (owner == -(ring + 2)).sum() == 4
    assert (owner == IGNORED).sum() == 20 and (owner == NO_OWNER).sum() == 20 * 23 - 96 - 4 - 16 - 20


def test_partial_mask_labels_only_the_chosen_polygons():
    m = hand_mask()
    pool = PolygonPool.from_masks([m], tolerance=0)
    ring = next(j for j, p in enumerate(pool.polygons[0]) if p.label == 3)
    part = pool.mask(0, {ring})
    expect = np.full_like(m, 255)
    expect[4:14, 10:20] = 3
    expect[8:10, 14:16] = 0  # the outlined hole is labelled background
    assert np.array_equal(part, expect)
    # every polygon labelled: their pixels and holes, background nobody outlined stays unlabelled ...
    allp = pool.mask(0, {0, 1, 2})
    owner = pool.owners[0]
    assert np.array_equal(allp == 255, (owner == NO_OWNER) | (owner == IGNORED))
    assert np.array_equal(allp[allp != 255], m[allp != 255])
    # ... but then the image counts as complete, and trains on its whole approximated mask
    assert pool.labelled_state(pool.items_of(0)) == {0: None}
    assert pool.labelled_state(pool.items_of(0)[:2]) == {0: {0, 1}}


def test_owner_map_paints_smaller_polygons_on_top():
    m = np.zeros((16, 16), np.uint8)
    m[2:14, 2:14] = 2
    m[5:9, 5:9] = 4  # inside the big square: the class-2 component has a hole filled by class 4
    pool = PolygonPool.from_masks([m], tolerance=0)
    polys = pool.polygons[0]
    assert sorted(p.clicks for p in polys) == [4, 4]  # a hole filled by another object costs nothing
    small = next(j for j, p in enumerate(polys) if p.label == 4)
    big = 1 - small
    assert np.array_equal(labels_from_owner(pool.owners[0], polys), m)
    only_big = pool.mask(0, {big})
    assert (only_big[5:9, 5:9] == 255).all() and (only_big == 2).sum() == 144 - 16


def test_entropy_area_score_is_the_count_of_uncertain_pixels():
    owner = np.array([[0, 0, 1, -1],
                      [0, -2, 1, -1],
                      [IGNORED, 1, 1, -3]], np.int32)
    h = np.array([[0.9, 0.5, 0.61, 0.99],
                  [0.7, 0.95, 0.6, 0.8],
                  [0.99, 0.2, 0.7, 0.9]])
    # polygon 0: pixels (0,0)=0.9, (0,1)=0.5, (1,0)=0.7 -> 2 above 0.6 (its hole (1,1) does not count)
    # polygon 1: (0,2)=0.61, (1,2)=0.6 (not > 0.6), (2,1)=0.2, (2,2)=0.7 -> 2
    assert polygon_entropy_area(h, owner, 2, 0.6).tolist() == [2, 2]
    assert polygon_entropy_area(h, owner, 3, 0.0).tolist() == [3, 4, 0]


def test_polygon_order_one_polygon_per_image_per_round():
    cand = {7: [10, 11, 12], 3: [20], 5: [30, 31]}
    scores = {10: 1.0, 11: 5.0, 12: 3.0, 20: 0.0, 30: 2.0, 31: 2.0}
    tie = {k: 0.0 for k in scores} | {31: -1.0}  # 31 wins its tie with 30
    order = polygon_order(np.array([5, 7, 3]), cand, scores, np.random.default_rng(0), tie)
    assert order == [31, 11, 20, 30, 12, 10]
    rnd = polygon_order(np.array([5, 7, 3]), cand, None, np.random.default_rng(0))
    assert sorted(rnd) == sorted(scores) and rnd[2] == 20 and {rnd[0], rnd[3]} == {30, 31}
    assert {rnd[1], rnd[4], rnd[5]} == {10, 11, 12}


def test_spending_exceeds_the_budget_by_less_than_the_last_polygon():
    from alkit.engine.data.shapes import load_shapes

    data = load_shapes(n_train=60, n_val=0)
    pool = PolygonPool.from_masks(data.train_masks, tolerance=2.0)
    costs = pool.costs()
    rng = np.random.default_rng(1)
    for budget in (1, 5, 17, 40, 120, 333):
        cand = pool.candidates(np.arange(len(costs)), [])
        images = rng.permutation(sorted(cand))
        scores = {k: float(rng.integers(0, 5)) for k in range(pool.n_images, len(costs))}
        for sc in (scores, None):
            taken = take_within_budget(np.asarray(polygon_order(images, cand, sc, rng)), costs, budget)
            spent = costs[taken].sum()
            assert budget <= spent < budget + costs[taken[-1]]
            assert len(set(taken.tolist())) == len(taken) and (taken >= pool.n_images).all()


class PixelLogits(nn.Module):
    """A 'network' whose logits are its parameters (one per pixel and class), whatever the image."""

    def __init__(self, k, h, w):
        super().__init__()
        self.logits = nn.Parameter(torch.randn(1, k, h, w, generator=torch.Generator().manual_seed(0)))

    def forward_features(self, x):
        return self.logits.expand(len(x), -1, -1, -1), []


def test_partial_masks_ignore_unlabelled_pixels_in_the_loss():
    from alkit.engine.train.segmentation import train_segmentation

    m = np.ascontiguousarray(hand_mask()[:, :20])  # square, so the crop is the whole image
    pool = PolygonPool.from_masks([m], tolerance=0)
    ring = next(j for j, p in enumerate(pool.polygons[0]) if p.label == 3)
    part = torch.from_numpy(pool.mask(0, {ring}))[None]
    k, (h, w) = 4, m.shape
    model = PixelLogits(k, h, w)
    before = model.logits.detach().clone()
    lr = 0.5
    train_segmentation(model, torch.zeros(1, 3, h, w, dtype=torch.uint8), part, np.array([0]), epochs=1, seed=0,
                       mean=(0, 0, 0), std=(1, 1, 1), num_classes=k, crop_size=h, scale_range=(1.0, 1.0),
                       hflip=False, batch_size=1, lr=lr, momentum=0.0, weight_decay=0.0, head_lr_mult=1.0)
    step = (before - model.logits.detach())[0]
    y = part[0].numpy()
    labelled = y != 255
    # hand computation: one SGD step on the mean CE over the labelled pixels
    # d/dlogit = (softmax - onehot) / n_labelled at labelled pixels, 0 elsewhere
    p = torch.softmax(before[0], 0).numpy()
    onehot = np.zeros_like(p)
    for c in range(k):
        onehot[c] = (y == c)
    expect = lr * (p - onehot) * labelled / labelled.sum()
    assert labelled.sum() == 100  # the ring (96 pixels) and its hole (4)
    assert np.allclose(step.numpy(), expect, atol=1e-6)
    assert np.all(step.numpy()[:, ~labelled] == 0)


def test_tiny_polygon_run_respects_the_budget_and_never_repeats(tmp_path):
    from alkit.experiments.config import Experiment, run
    from alkit.tasks.polygon_segmentation import polygon_run_label, query_panels

    exp = Experiment(dataset="shapes", labeling="polygon", strategies=("random",), trials=1, initial=120, step=60,
                     cycles=1, epochs=1, data_options=dict(n_train=60, n_val=20), workers=1)
    task = exp.build_task()
    df = run(exp, task=task, store_root=tmp_path, progress=False, with_selected=True)
    assert df["strategy"].unique().tolist() == ["random-image-entropy-polygon"]
    assert polygon_run_label("random-image-entropy-polygon") == "Random-Image-Entropy-Polygon"
    assert polygon_run_label("random-image-random-polygon", "s4gan") == "SSL-Random-Image-Random-Polygon"
    assert polygon_run_label("entropy", "s4gan") == "entropy"
    costs, n = task.pool_costs(), task.pool.n_images
    first, second = df["selected"].iloc[0], df["selected"].iloc[1]
    assert all(i < n for i in first) and all(i >= n for i in second)  # whole images, then polygons
    for sel, budget in ((first, 120), (second, 60)):
        spent = costs[sel].sum()
        assert budget <= spent < budget + costs[sel[-1]]
    assert len(set(second)) == len(second)
    done = {i for i in first}
    assert not any(task.pool.locate(k)[0] in done for k in second)  # no polygon of a complete image
    assert df["n_clicks"].iloc[1] == costs[first].sum() + costs[second].sum()
    # training masks: whole images as annotated, polygon-labelled ones ignore every other pixel
    images, masks = task.training_masks(np.concatenate([first, second]))
    for i in images:
        items = [k for k in second if task.pool.locate(k)[0] == i]
        if i in done or len(items) == len(task.pool.polygons[i]):
            assert torch.equal(masks[i], task.approx_masks[i])
        else:
            inside = np.any([polygon_pixels(task, k) for k in items], axis=0)
            m = masks[i].numpy()
            assert (m[~inside] == 255).all() and (m[inside] == task.approx_masks[i].numpy()[inside]).all()
    partial = [i for i in images if i not in done and 0 < sum(task.pool.locate(k)[0] == i for k in second)
               < len(task.pool.polygons[i])]
    assert partial  # the run did label some images only in part
    # Fig. 14: the re-trained query model saw the picked polygon as its image's most uncertain one
    panels = query_panels(task, df, trial=0, cycle=0, seed=exp.seed, n=2)
    assert [p["item"] for p in panels] == list(second[:2])
    for p in panels:
        i, j = task.pool.locate(p["item"])
        assert p["image"].shape == (64, 64, 3) and p["entropy"].shape == (64, 64)
        area = polygon_entropy_area(p["entropy"], task.pool.owners[i], len(task.pool.polygons[i]), 0.6)
        assert area[j] == area.max() and p["polygon"].sum() >= (task.pool.owners[i] == j).sum()
    # a second run loads every cycle from the store (nothing retrained)
    task.fit = None
    again = run(exp, task=task, store_root=tmp_path, progress=False, with_selected=True)
    assert again.drop(columns="seconds").equals(df.drop(columns="seconds"))
    # the store key separates polygon strategies and image-level runs
    key = exp.store_config("random", task)
    assert key["labeling"] == "polygon" and key["polygon_strategy"] == "entropy" and "threshold" in key
    image_key = Experiment(dataset="shapes", strategies=("random",)).store_config("random", task)
    assert "labeling" not in image_key and "polygon_strategy" not in image_key
    rnd = Experiment(dataset="shapes", labeling="polygon", polygon_strategy="random").store_config("random", task)
    assert rnd["polygon_strategy"] == "random" and "threshold" not in rnd


def test_polygon_settings_are_checked():
    from alkit.experiments.config import Experiment, run

    with pytest.raises(ValueError, match="polygon_strategy applies only"):
        Experiment(dataset="shapes", polygon_strategy="entropy").resolved()
    with pytest.raises(ValueError, match="unknown labeling"):
        Experiment(dataset="shapes", labeling="pixel").resolved()
    with pytest.raises(ValueError, match="unknown polygon.strategy"):
        Experiment(dataset="shapes", labeling="polygon", polygon_strategy="ll").resolved()
    with pytest.raises(ValueError, match="only to segmentation"):
        Experiment(dataset="digits", labeling="polygon").resolved()
    assert Experiment(dataset="shapes", labeling="polygon").resolved()["polygon_strategy"] == "entropy"
    with pytest.raises(ValueError, match="picks images at random"):
        Experiment(dataset="shapes", labeling="polygon", strategies=("random", "entropy")).resolved()
    r = Experiment(dataset="shapes", labeling="polygon").resolved()
    assert r["strategies"] == ("random",)
    # the pool's items cost twice its images (whole images + their polygons): budgets stay within the images
    small = Experiment(dataset="shapes", labeling="polygon", data_options=dict(n_train=30, n_val=5))
    task = small.build_task()
    assert task.pool_costs().sum() == 2 * task.max_spend()
    small.initial, small.step, small.cycles = 100, task.max_spend(), 1
    with pytest.raises(ValueError, match="exceeds the pool"):
        run(small, task=task, progress=False)
    assert not math.isnan(Experiment(dataset="shapes").resolved()["tolerance"])


def test_s4gan_sees_partially_labelled_images_as_unlabelled_too(tmp_path, monkeypatch):
    """Under s4GAN the unlabelled pixels of a partially labelled image are unlabelled data (issue 8):
    the trainer gets those images in both index sets, with ignore_index outside their polygons."""
    import alkit.engine.train.s4gan as s4
    from alkit.experiments.config import Experiment, run

    seen = []
    real = s4.train_s4gan

    def spy(model, images, masks, labelled, unlabelled, **kw):
        seen.append((np.asarray(labelled).copy(), np.asarray(unlabelled).copy(), masks.clone()))
        return real(model, images, masks, labelled, unlabelled, **{**kw, "iterations": 2})

    monkeypatch.setattr(s4, "train_s4gan", spy)
    exp = Experiment(dataset="shapes", labeling="polygon", polygon_strategy="random", ssl="s4gan", trials=1,
                     initial=120, step=60, cycles=1, data_options=dict(n_train=40, n_val=10), workers=1)
    task = exp.build_task()
    df = run(exp, task=task, store_root=tmp_path, progress=False, with_selected=True)
    assert df["strategy"].unique().tolist() == ["random-image-random-polygon"] and len(seen) == 2
    lab, unl, masks = seen[1]  # cycle 1: whole images + single polygons
    partial = task.partially_labelled(np.concatenate(df["selected"].tolist()))
    assert len(partial) and set(partial) <= set(lab) & set(unl)
    assert set(unl) == (set(range(40)) - set(lab)) | set(partial)
    for i in partial:
        assert (masks[i] == 255).any() and not (task.approx_masks[i] == 255).any()
    assert exp.store_config("random", task)["ssl"] == "s4gan"
