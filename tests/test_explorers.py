"""The explorers work without a browser: setting a control changes what they compute and draw."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from alkit.engine.data import load_dataset  # noqa: E402
from alkit.explorers import ALSandbox, ClickExplorer, PoolInspector  # noqa: E402
from alkit.protocol.annotation import annotate  # noqa: E402


def pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    out = np.asarray(fig.canvas.buffer_rgba()).copy()
    plt.close(fig)
    return out


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", n_train=6, n_val=0)


def test_click_explorer_matches_the_annotator_and_the_slider_changes_it(shapes):
    ex = ClickExplorer(shapes, index=1, tolerance=0.0)
    exact = ex.state()
    approx, clicks = annotate(shapes.train_masks[1].numpy(), 0.0, background=shapes.background)
    assert exact["clicks"] == clicks and np.array_equal(exact["approx"], approx)
    # IoU by hand: per class present, |A & B| / |A | B|
    true = shapes.train_masks[1].numpy()
    ious = [((true == c) & (approx == c)).sum() / ((true == c) | (approx == c)).sum()
            for c in np.union1d(np.unique(true), np.unique(approx)) if c != shapes.ignore_index]
    assert exact["iou"] == pytest.approx(np.mean(ious))
    before = pixels(ex.render())
    coarse = ex.set(tolerance=8.0).state()
    assert coarse["clicks"] < exact["clicks"]  # a coarser polygon needs fewer vertices
    assert coarse["iou"] <= exact["iou"] + 1e-12
    assert "8 px" in ex.summary()
    assert not np.array_equal(before, pixels(ex.render()))


def test_explorer_rejects_unknown_settings(shapes):
    with pytest.raises(AttributeError, match="tolernce"):
        ClickExplorer(shapes).set(tolernce=3)


def test_widget_redraws_on_a_control_change(shapes):
    ex = ClickExplorer(shapes, tolerance=0.0)
    box = ex.widget()
    import ipywidgets as w

    summary = next(c for c in box.children if isinstance(c, w.HTML))
    first = summary.value
    ex_slider = box.children[0].children[0]
    ex_slider.value = 8.0
    assert ex.tolerance == 8.0 and summary.value != first


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    box = ALSandbox(strategy="entropy", augment="none", initial=20, step=10, cycles=2, trials=1, epochs=1,
                    min_steps=0, cycle=1, workers=1, store_root=tmp_path_factory.mktemp("runs"))
    return box


def test_sandbox_runs_random_and_the_strategy_and_shows_the_cycle_picks(tiny_run):
    df = tiny_run.results()
    assert set(df.strategy) == {"entropy", "random"} and set(df.cycle) == {0, 1, 2}
    picks = tiny_run.picks()
    assert len(picks) == 10  # B_s images, one trial
    labels = tiny_run.data().train_y.numpy()
    assert np.array_equal(tiny_run.class_counts(), np.bincount(labels[picks], minlength=10))
    before = pixels(tiny_run.render())
    tiny_run.set(cycle=0)
    assert len(tiny_run.picks()) == 20  # the initial set
    assert tiny_run.class_counts().sum() == 20
    assert not np.array_equal(before, pixels(tiny_run.render()))
    assert "Random" in tiny_run.summary()


def test_pool_inspector_colours_the_picks_up_to_the_cycle(tiny_run):
    df = tiny_run.results()
    insp = PoolInspector(tiny_run.data(), df, strategy="entropy", cycle=2)
    at = insp.picked_at()
    assert (at >= 0).sum() == 20 + 2 * 10
    assert np.array_equal(np.bincount(at[at >= 0]), [20, 10, 10])
    assert insp.coordinates().shape == (len(at), 2)
    before = pixels(insp.render())
    insp.set(cycle=0)
    assert (insp.picked_at() >= 0).sum() == 20
    assert not np.array_equal(before, pixels(insp.render()))
    insp.set(strategy="random", cycle=2)
    assert set(np.flatnonzero(insp.picked_at() == 0)) == set(np.flatnonzero(at == 0))  # same initial set per trial


def test_sandbox_ssl_toggle_runs_uda_and_labels_it(tmp_path):
    """SSL on: both strategies run as SSL-X with UDA (the store keys say so), the summary and the
    curve's legend use the SSL- names; switching it off again gives the supervised runs back."""
    box = ALSandbox(strategy="entropy", augment="none", initial=20, step=10, cycles=1, trials=1, epochs=1,
                    min_steps=0, iterations=3, cycle=1, workers=1, store_root=tmp_path)
    sup = box.results()
    box.set(ssl=True)
    exp = box.experiment()
    assert exp.resolved()["ssl"] == "uda" and exp.resolved()["iterations"] == 3
    ssl = box.results()
    assert set(ssl.ssl) == {"uda"} and set(ssl.strategy) == {"entropy", "random"}
    assert len(ssl.query("cycle == 1").selected.iloc[0]) == 10  # B_s picks with SSL too
    assert box.summary().startswith("SSL-Entropy: final accuracy") and "vs SSL-Random" in box.summary()
    assert "(mean of 1 trials: too few for an interval)" in box.summary()
    fig = box.render()
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    assert any(t.startswith("SSL-") for t in legend), legend
    keys = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert len(keys) == 4  # entropy and random, supervised and SSL: four store keys
    box.set(ssl=False)
    assert box.results() is sup  # the supervised runs, from the explorer's cache


def test_pool_inspector_tsne_map(tiny_run):
    """The t-SNE map (sklearn, PCA init) is a different 2-D layout of the same points, computed
    once per method; the axes say which map is shown."""
    insp = PoolInspector(tiny_run.data(), tiny_run.results(), strategy="entropy", cycle=2)
    pca = insp.coordinates()
    insp.set(method="tsne")
    tsne = insp.coordinates()
    assert tsne.shape == pca.shape and np.isfinite(tsne).all()
    assert not np.allclose(tsne, pca)
    assert insp.coordinates() is tsne  # cached
    fig = insp.render()
    assert fig.axes[0].get_xlabel() == "TSNE 1"
    plt.close(fig)
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        insp.set(method="umap").coordinates()


def test_sandbox_summary_gap_and_interval_match_scipy(tmp_path):
    """With 3 trials the summary gives the paired final gap and its 95 % Student-t interval, as
    scipy computes them from the per-trial final accuracies."""
    from scipy import stats

    box = ALSandbox(strategy="entropy", augment="none", initial=20, step=10, cycles=1, trials=3, epochs=2,
                    min_steps=0, cycle=1, workers=1, store_root=tmp_path)
    df = box.results()
    final = df[df.cycle == 1].pivot_table(index="trial", columns="strategy", values="accuracy")
    d = 100 * (final["entropy"] - final["random"]).to_numpy()
    line = box.summary()
    if np.ptp(d) == 0:
        assert "no spread to test" in line
        return
    ci = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    assert f"gap {d.mean():+.1f} [{ci.low:+.1f}, {ci.high:+.1f}] points (95 % interval, 3 trials)" in line, line
