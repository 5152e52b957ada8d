"""Bias meters (alkit.analysis.bias): each meter against a hand or brute-force computation, chunking,
the labelled-set-equals-pool case, bad input, bias_table per row, and the cached reference embedding.
Small fabricated arrays only; the reference networks train for a handful of steps."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import energy_distance as scipy_energy_1d

from alkit.analysis import bias
from alkit.engine.data.base import ImageDataset, channel_stats
from alkit.engine.data.seg_folder import SegmentationDataset
from alkit.strategies.typiclust import typicality as typiclust_typicality


def blobs(n=23, d=4, seed=0):
    """``n`` points in ``d`` dimensions around three centres, and their centre as the class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = rng.normal(0, 3, (3, d))
    return centres[labels] + rng.normal(0, 1, (n, d)), labels


def one_line_error(excinfo, name):
    message = str(excinfo.value)
    assert name in message and "\n" not in message, message


# -- class imbalance ------------------------------------------------------------------------------


def test_tv_and_kl_by_hand():
    out = bias.class_imbalance(np.array([0, 0, 1]), np.array([0, 1, 1, 2]), 3)
    # p = (2/3, 1/3, 0), q = (1/4, 1/2, 1/4)
    assert out["tv"] == pytest.approx(0.5 * (5 / 12 + 2 / 12 + 3 / 12))
    p = np.array([2.5, 1.5, 0.5]) / 4.5  # + 0.5 per class
    q = np.array([1.5, 2.5, 1.5]) / 5.5
    kl = p[0] * math.log(p[0] / q[0]) + p[1] * math.log(p[1] / q[1]) + p[2] * math.log(p[2] / q[2])
    assert out["kl"] == pytest.approx(kl)


def test_pseudo_count_is_a_parameter():
    out = bias.class_imbalance(np.array([0]), np.array([0, 1]), 2, pseudo_count=1.0)
    p, q = np.array([2, 1]) / 3, np.array([2, 2]) / 4
    assert out["kl"] == pytest.approx(float(np.sum(p * np.log(p / q))))


def test_class_counts_form_equals_labels_form():
    labels_l, labels_p = np.array([0, 2, 2]), np.array([0, 1, 2, 2, 1, 0])
    as_counts = lambda y: np.eye(3, dtype=np.int64)[y]  # noqa: E731  one count per item
    assert bias.class_imbalance(as_counts(labels_l), as_counts(labels_p), 3) == pytest.approx(
        bias.class_imbalance(labels_l, labels_p, 3))


def test_pixel_counts_by_hand():
    # two images' pixel counts [n, K]: labelled = image 0 only
    pool = np.array([[6, 2, 0], [2, 2, 4]])
    out = bias.class_imbalance(pool[:1], pool, 3)
    p, q = np.array([6, 2, 0]) / 8, np.array([8, 4, 4]) / 16
    assert out["tv"] == pytest.approx(0.5 * np.abs(p - q).sum())


def test_pixel_histograms_by_loop():
    rng = np.random.default_rng(1)
    masks = rng.integers(0, 4, (5, 6, 7)).astype(np.uint8)
    masks[masks == 3] = 255  # ignored pixels
    expected = np.array([[int((m == c).sum()) for c in range(3)] for m in masks])
    assert np.array_equal(bias.pixel_histograms(torch.from_numpy(masks), 3), expected)
    assert np.array_equal(bias.pixel_histograms(masks, 3, images_per_block=2), expected)
    listed = [torch.from_numpy(m) for m in masks]  # varied-size datasets keep lists
    assert np.array_equal(bias.pixel_histograms(listed, 3), expected)
    with pytest.raises(ValueError, match="outside"):
        bias.pixel_histograms(np.full((1, 2, 2), 7, np.uint8), 3)


# -- feature meters against brute force ------------------------------------------------------------


def energy_by_double_loop(a, b):
    mean = lambda u, v: np.mean([[np.linalg.norm(x - y) for y in v] for x in u])  # noqa: E731
    return math.sqrt(2 * mean(a, b) - mean(a, a) - mean(b, b))


def test_energy_distance_against_double_loop():
    pool, _ = blobs(17)
    labelled = pool[[0, 3, 4, 9, 16]]
    assert bias.feature_shift(labelled, pool) == pytest.approx(energy_by_double_loop(labelled, pool), rel=1e-10)


def test_energy_distance_in_one_dimension_is_scipys():
    rng = np.random.default_rng(2)
    u, v = rng.normal(0, 1, 9), rng.normal(0.5, 2, 14)
    assert bias.feature_shift(u[:, None], v[:, None]) == pytest.approx(scipy_energy_1d(u, v), rel=1e-10)


def test_coverage_against_full_cdist():
    pool, _ = blobs(19)
    labelled = pool[[1, 2, 7]]
    nearest = cdist(pool, labelled).min(axis=1)
    out = bias.coverage(labelled, pool)
    assert out["mean"] == pytest.approx(nearest.mean()) and out["max"] == pytest.approx(nearest.max())


def test_redundancy_against_double_loop():
    batch, _ = blobs(6)
    unit = batch / np.linalg.norm(batch, axis=1, keepdims=True)
    pairs = [unit[i] @ unit[j] for i in range(6) for j in range(6) if i < j]
    assert bias.redundancy(batch) == pytest.approx(np.mean(pairs))
    assert bias.redundancy(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])) == pytest.approx(1 / 3)


def test_redundancy_of_small_batches_and_zero_rows():
    assert math.isnan(bias.redundancy(np.ones((1, 3)))) and math.isnan(bias.redundancy(np.zeros((0, 3))))
    # a zero row has cosine 0 with everything: pairs (a, b) = 1, (a, 0) = (b, 0) = 0
    assert bias.redundancy(np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]])) == pytest.approx(1 / 3)


def knn_by_sorting(pool, k):
    full = cdist(pool, pool)
    return np.array([np.sort(np.delete(row, i))[:k].mean() for i, row in enumerate(full)])


def test_knn_distance_against_full_sorted_distances():
    pool, _ = blobs(21)
    assert np.allclose(bias.knn_mean_distance(pool, 5), knn_by_sorting(pool, 5))
    assert np.allclose(bias.knn_mean_distance(pool, 100), knn_by_sorting(pool, 20))  # k capped at n - 1
    # the strategy's typicality (TypiClust) is 1 / (this + 1e-5)
    assert np.allclose(typiclust_typicality(pool, 5), 1 / (knn_by_sorting(pool, 5) + 1e-5))


def test_typicality_percentile_by_hand():
    pool, _ = blobs(21)
    density = 1 / knn_by_sorting(pool, 4)
    picks = [0, 5, 11]
    by_hand = [(np.sum(density < density[i]) + 0.5 * np.sum(density == density[i])) / len(pool) for i in picks]
    assert bias.typicality(picks, pool, k=4) == pytest.approx(np.mean(by_hand))
    assert bias.typicality(np.arange(21), pool, k=4) == pytest.approx(0.5)  # the whole pool: exactly 0.5
    assert math.isnan(bias.typicality([], pool))


def test_percentile_ranks_with_ties():
    assert np.allclose(bias.percentile_ranks([3.0, 1.0, 3.0, 2.0]), [0.75, 0.125, 0.75, 0.375])


# -- chunking, the identical set, determinism -------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 3, 7, 10])
def test_chunked_equals_unchunked(chunk):
    pool, _ = blobs(23)
    labelled = pool[::2]  # 12 rows
    assert bias.feature_shift(labelled, pool, chunk=chunk) == pytest.approx(bias.feature_shift(labelled, pool,
                                                                                               chunk=1000), rel=1e-12)
    assert bias.coverage(labelled, pool, chunk=chunk) == bias.coverage(labelled, pool, chunk=1000)
    assert np.array_equal(bias.knn_mean_distance(pool, 4, chunk=chunk), bias.knn_mean_distance(pool, 4, chunk=1000))


def test_labelled_set_equal_to_pool():
    pool, labels = blobs(15)
    assert bias.class_imbalance(labels, labels, 3) == {"tv": 0.0, "kl": 0.0}
    assert bias.feature_shift(pool, pool) == pytest.approx(0.0, abs=1e-6)
    assert bias.coverage(pool, pool) == {"mean": 0.0, "max": 0.0}


def test_meters_take_torch_tensors_too():
    pool, _ = blobs(12)
    assert bias.feature_shift(torch.from_numpy(pool[:4]).float(), torch.from_numpy(pool).float()) == pytest.approx(
        bias.feature_shift(pool[:4].astype(np.float32), pool.astype(np.float32)))


# -- bad input ----------------------------------------------------------------------------------------


def test_empty_labelled_set():
    pool, labels = blobs(8)
    with pytest.raises(ValueError) as e:
        bias.class_imbalance(np.array([], dtype=int), labels, 3)
    one_line_error(e, "labelled_labels")
    for meter in (bias.feature_shift, bias.coverage):
        with pytest.raises(ValueError) as e:
            meter(np.zeros((0, 4)), pool)
        one_line_error(e, "labelled_feats")


def test_mismatched_feature_dims():
    pool, _ = blobs(8, d=4)
    for meter in (bias.feature_shift, bias.coverage):
        with pytest.raises(ValueError) as e:
            meter(pool[:3, :3], pool)
        one_line_error(e, "labelled_feats")
        assert "pool_feats" in str(e.value)


def test_labels_outside_the_classes():
    with pytest.raises(ValueError) as e:
        bias.class_imbalance(np.array([0, 3]), np.array([0, 1, 2]), 3)
    one_line_error(e, "labelled_labels")
    with pytest.raises(ValueError) as e:
        bias.class_imbalance(np.array([0]), np.array([-1, 1, 2]), 3)
    one_line_error(e, "pool_labels")
    with pytest.raises(ValueError) as e:
        bias.class_imbalance(np.array([0.5]), np.array([0, 1]), 3)
    one_line_error(e, "labelled_labels")
    with pytest.raises(ValueError) as e:
        bias.class_imbalance(np.array([0]), np.ones((2, 3)), 3)  # labels vs counts
    one_line_error(e, "pool_labels")


def test_other_bad_input():
    pool, _ = blobs(8)
    with pytest.raises(ValueError) as e:
        bias.typicality([0, 8], pool)
    one_line_error(e, "batch_idx")
    with pytest.raises(ValueError) as e:
        bias.feature_shift(pool, pool, chunk=0)
    one_line_error(e, "chunk")
    with pytest.raises(ValueError) as e:
        bias.coverage(pool[:2], np.full((3, 4), np.nan))
    one_line_error(e, "pool_feats")


# -- bias_table ------------------------------------------------------------------------------------


def fabricated_run(n, strategies=("random", "entropy"), trials=2, cycles=3, seed=0):
    """A run frame: cycle 0 = 6 random picks, then 4 per cycle; 'entropy' prefers the low indices."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in strategies:
        for t in range(trials):
            order = rng.permutation(n) if s == "random" else np.argsort(np.arange(n) + rng.integers(0, n // 2, n))
            sizes = [6] + [4] * cycles
            ends = np.cumsum(sizes)
            for c in range(cycles + 1):
                rows.append(dict(strategy=s, trial=t, cycle=c, n_labelled=int(ends[c]), accuracy=0.5 + 0.1 * c,
                                 seconds=1.0, selected=order[ends[c] - sizes[c]:ends[c]].tolist()))
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # rows in any order


def rows_by_hand(df, labels, pool, k):
    out = {}
    for (s, t), run in df.groupby(["strategy", "trial"]):
        run = run.sort_values("cycle")
        labelled = []
        for c, batch in zip(run["cycle"], run["selected"]):
            labelled += list(batch)
            imbalance = bias.class_imbalance(labels[labelled], labels, 3)
            cov = bias.coverage(pool[labelled], pool)
            out[(s, t, c)] = dict(labelled=len(labelled), batch=len(batch), tv=imbalance["tv"], kl=imbalance["kl"],
                                  energy=bias.feature_shift(pool[labelled], pool), coverage_mean=cov["mean"],
                                  coverage_max=cov["max"], redundancy=bias.redundancy(pool[batch]),
                                  typicality=bias.typicality(batch, pool, k=k))
    return out


def test_bias_table_matches_the_meters_row_by_row():
    pool, labels = blobs(40)
    df = fabricated_run(40)
    table = bias.bias_table(df, labels, pool, 3, k=5, chunk=7)
    assert len(table) == len(df) and list(table.columns[:3]) == ["strategy", "trial", "cycle"]
    assert {"n_labelled", "accuracy"} <= set(table.columns) and "seconds" not in table.columns
    expected = rows_by_hand(df, labels, pool, k=5)
    for row in table.to_dict("records"):
        want = expected[(row["strategy"], row["trial"], row["cycle"])]
        for name, value in want.items():
            assert row[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, row)
    assert table["labelled"].eq(table["n_labelled"]).all()


def test_bias_table_chunk_sizes_agree():
    pool, labels = blobs(40)
    df = fabricated_run(40)
    a = bias.bias_table(df, labels, pool, 3, k=5, chunk=3)
    b = bias.bias_table(df, labels, pool, 3, k=5, chunk=1000)
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


def test_bias_table_with_pixel_counts():
    pool, labels = blobs(30)
    counts = np.eye(3, dtype=np.int64)[labels] * 10 + 1  # every image has some pixels of every class
    df = fabricated_run(30, strategies=("random",), trials=1, cycles=2)
    table = bias.bias_table(df, counts, pool, 3, k=5).sort_values("cycle")
    labelled = np.concatenate(df.sort_values("cycle")["selected"].tolist())
    last = bias.class_imbalance(counts[labelled], counts, 3)
    assert table["tv"].iloc[-1] == pytest.approx(last["tv"]) and table["kl"].iloc[-1] == pytest.approx(last["kl"])


def test_bias_table_whole_pool_and_empty_batches():
    pool, labels = blobs(10)
    df = pd.DataFrame([dict(strategy="random", trial=0, cycle=0, selected=list(range(10))),
                       dict(strategy="random", trial=0, cycle=1, selected=[])])
    table = bias.bias_table(df, labels, pool, 3)
    assert table[["tv", "kl", "coverage_mean", "coverage_max"]].eq(0.0).all().all()
    assert table["energy"].max() < 1e-6
    assert math.isnan(table["redundancy"].iloc[1]) and math.isnan(table["typicality"].iloc[1])


def test_bias_table_bad_frames():
    pool, labels = blobs(10)
    good = dict(strategy="random", trial=0, cycle=0, selected=[1, 2])
    cases = [
        (pd.DataFrame([dict(good, cycle=1)]), "cycles"),  # no cycle 0
        (pd.DataFrame([good]).drop(columns="selected"), "with_selected"),
        (pd.DataFrame([dict(good, selected=[1, 10])]), "outside"),
        (pd.DataFrame([dict(good, selected=[])]), "empty"),
        (pd.DataFrame([dict(good, dataset="a"), dict(good, dataset="b")]), "several datasets"),
    ]
    for frame, words in cases:
        with pytest.raises(ValueError, match=words) as e:
            bias.bias_table(frame, labels, pool, 3)
        one_line_error(e, "df")
    with pytest.raises(ValueError) as e:
        bias.bias_table(pd.DataFrame([good]), labels[:5], pool, 3)
    one_line_error(e, "pool_labels")


# -- the reference embedding -------------------------------------------------------------------------


def tiny_digits(n=48, seed=0):
    """``n`` 8x8 images of 3 classes (a bright row at a class-dependent height) with noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 60, (n, 1, 8, 8))
    x[np.arange(n), 0, 1 + 2 * y] += 180
    x = torch.from_numpy(x.astype(np.uint8))
    mean, std = channel_stats(x)
    return ImageDataset("tiny", x, torch.from_numpy(y), x[:4], torch.from_numpy(y[:4]), ["a", "b", "c"], mean, std)


FAST = dict(epochs=2, batch_size=16)


def test_reference_embedding_is_cached(tmp_path, monkeypatch):
    data = tiny_digits()
    first = bias.reference_embedding(data, cache_dir=tmp_path, recipe=FAST)
    assert first.shape == (48, 64) and first.dtype == np.float32 and np.isfinite(first).all()
    assert len(list(tmp_path.glob("classification-small-cnn-*.pt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(bias, "_train_reference", no_training)
    assert np.array_equal(bias.reference_embedding(data, cache_dir=tmp_path, recipe=FAST), first)
    with pytest.raises(AssertionError, match="trained again"):  # other data: another key
        bias.reference_embedding(tiny_digits(seed=1), cache_dir=tmp_path, recipe=FAST)
    relabelled = tiny_digits()
    relabelled.train_y = (relabelled.train_y + 1) % 3  # the same images, other labels: another key
    with pytest.raises(AssertionError, match="trained again"):
        bias.reference_embedding(relabelled, cache_dir=tmp_path, recipe=FAST)


def test_reference_embedding_is_deterministic_under_a_seed(tmp_path):
    data = tiny_digits()
    a = bias.reference_embedding(data, cache_dir=tmp_path / "a", recipe=FAST, seed=3)
    b = bias.reference_embedding(data, cache_dir=tmp_path / "b", recipe=FAST, seed=3)
    c = bias.reference_embedding(data, cache_dir=tmp_path / "c", recipe=FAST, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_reference_embedding_keeps_the_callers_random_state(tmp_path):
    torch.manual_seed(11)
    bias.reference_embedding(tiny_digits(), cache_dir=tmp_path, recipe=FAST)
    after = torch.rand(3)
    torch.manual_seed(11)
    assert torch.equal(after, torch.rand(3))


def test_reference_embedding_of_a_segmentation_pool(tmp_path):
    rng = np.random.default_rng(0)
    masks = torch.from_numpy(rng.integers(0, 3, (6, 32, 32)).astype(np.uint8))
    images = torch.from_numpy(rng.integers(0, 255, (6, 3, 32, 32)).astype(np.uint8))
    data = SegmentationDataset("tiny-seg", images, masks, images[:2], masks[:2], ["bg", "a", "b"])
    feats = bias.reference_embedding(data, cache_dir=tmp_path, recipe=dict(min_epoch_steps=3, warmup=1,
                                                                           crop_size=32, batch_size=3))
    assert feats.shape[0] == 6 and feats.ndim == 2 and np.isfinite(feats).all()
    labels = bias.pool_class_labels(data)
    assert labels.shape == (6, 3) and labels.sum() == 6 * 32 * 32
    assert np.array_equal(bias.pool_class_labels(tiny_digits()), tiny_digits().train_y.numpy())
