"""Thin notebook cells (issue 17, item 5): the library calls that replaced long cells — the SSL gap
table and panel of notebook 02, its Fig. 1 teaser, the Fig. 12 prediction panel of notebook 06, the
image/mask strip of notebook 05, the penalty heatmap of notebook 08, the solutions' digits bench and
gap line — checked on small fabricated inputs; and every notebook code cell at most
:data:`MAX_LINES` lines, except the parameters cells and the cells of :data:`ALLOWED_LONG_CELLS`."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy import stats as sps  # noqa: E402

from alkit.analysis import panels, stats  # noqa: E402
from alkit.analysis.plots import plot_penalty  # noqa: E402
from alkit.tasks.segmentation import encode_preview  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
MAX_LINES = 15

# Cells allowed to be longer, each with the reason (path relative to notebooks/, cell id). A cell
# belongs here only when its length IS the teaching point: the reader is meant to read every line.
ALLOWED_LONG_CELLS = {
    # The answer to "write margin, least confidence and a class-balanced margin as strategies" is the
    # strategy file itself: three decorated functions written out the way a student writes them.
    ("solutions/08_your_strategy_solutions.ipynb", "a0b296a6"): "the students' strategy file, written out",
}


def long_cells(root: Path, max_lines: int = MAX_LINES) -> list[tuple[str, str, int]]:
    """``(notebook path relative to root, cell id, lines)`` of every code cell longer than
    ``max_lines`` lines (trailing blank lines not counted) in ``root/*.ipynb`` and
    ``root/solutions/*.ipynb``; cells tagged ``parameters`` are skipped."""
    out = []
    for path in sorted(root.glob("*.ipynb")) + sorted((root / "solutions").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code" or "parameters" in cell.get("metadata", {}).get("tags", []):
                continue
            n = len("".join(cell["source"]).rstrip().splitlines())
            if n > max_lines:
                out.append((path.relative_to(root).as_posix(), cell.get("id"), n))
    return out


def test_notebook_code_cells_are_short():
    found = long_cells(NOTEBOOKS)
    unexplained = [c for c in found if c[:2] not in ALLOWED_LONG_CELLS]
    assert unexplained == [], f"code cells over {MAX_LINES} lines: move the work into a library call {unexplained}"
    stale = set(ALLOWED_LONG_CELLS) - {c[:2] for c in found}
    assert not stale, f"allowed long cells that are short now (or gone): drop them from the list {stale}"


def test_long_cells_sees_a_long_cell(tmp_path):
    (tmp_path / "solutions").mkdir()
    cells = [{"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "source": ["x = 1\n"] * 30},
             {"cell_type": "code", "id": "short", "metadata": {}, "source": ["x = 1\n"] * 15 + ["\n", "\n"]},
             {"cell_type": "code", "id": "long", "metadata": {}, "source": ["x = 1\n"] * 16},
             {"cell_type": "markdown", "id": "md", "metadata": {}, "source": ["text\n"] * 40}]
    (tmp_path / "solutions" / "a.ipynb").write_text(json.dumps({"cells": cells}))
    assert long_cells(tmp_path) == [("solutions/a.ipynb", "long", 16)]


# ------------------------------------------------------------------ notebook 02: SSL-Random's gaps

def fabricated_runs():
    """Raw runs (random, entropy, coreset; cycles 0-2) and SSL runs (random, entropy; cycles 0-1),
    4 trials, with trial-dependent noise so that every paired gap has a spread."""
    rng = np.random.default_rng(3)
    raw, ssl = [], []
    for t in range(4):
        for c in range(3):
            for s, lift in (("random", 0.0), ("entropy", 0.03 * c), ("coreset", 0.05 - 0.04 * c)):
                raw.append(dict(strategy=s, trial=t, cycle=c, n_labelled=20 + 10 * c, ssl="none",
                                accuracy=0.5 + 0.1 * c + lift + rng.normal(0, 0.01)))
            if c < 2:
                for s in ("random", "entropy"):
                    ssl.append(dict(strategy=s, trial=t, cycle=c, n_labelled=20 + 10 * c, ssl="uda",
                                    accuracy=0.7 + 0.1 * c + rng.normal(0, 0.01)))
    return pd.DataFrame(raw), pd.DataFrame(ssl)


def test_ssl_random_gaps_are_paired_tests_by_hand():
    raw, ssl = fabricated_runs()
    table = stats.ssl_random_gaps(raw, ssl)
    assert list(table.reference) == ["best raw AL"] * 2 + ["supervised Random"] * 2
    assert list(table.cycle) == [0, 1, 0, 1] and list(table.n_labelled) == [20, 30, 20, 30]  # cycle 2: no SSL run
    for row in table.itertuples():
        at = raw[raw.cycle == row.cycle]
        means = at[at.strategy != "random"].groupby("strategy").accuracy.mean()
        against = means.idxmax() if row.reference == "best raw AL" else "random"
        assert row.against == against
        mine = ssl[(ssl.strategy == "random") & (ssl.cycle == row.cycle)].sort_values("trial").accuracy.to_numpy()
        ref = at[at.strategy == against].sort_values("trial").accuracy.to_numpy()
        d = 100 * (mine - ref)
        half = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        assert row.n == 4
        assert row.gap == pytest.approx(d.mean())
        assert (row.ci_low, row.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))
        assert row.p == pytest.approx(sps.ttest_1samp(d, 0).pvalue)
    # the best raw AL strategy is picked per cycle: coreset at cycle 0, entropy at cycle 1
    assert list(table.against[:2]) == ["coreset", "entropy"]


def test_ssl_random_gaps_pairs_by_trial_and_skips_missing_al():
    raw, ssl = fabricated_runs()
    only_random = raw[raw.strategy == "random"]
    table = stats.ssl_random_gaps(only_random, ssl[ssl.trial != 3])
    assert set(table.reference) == {"supervised Random"}  # no AL strategy: no "best raw AL" row
    assert (table.n == 3).all()  # trial 3 has no SSL run: dropped from the pairs
    two = stats.ssl_random_gaps(only_random, ssl[ssl.trial < 2])
    assert (two.n == 2).all() and two.ci_low.isna().all() and two.gap.notna().all()  # no interval below 3


def test_plot_ssl_gaps_draws_the_table_per_method():
    raw, ssl = fabricated_runs()
    no_random = ssl[ssl.strategy != "random"].assign(ssl="fixmatch")
    fig = panels.plot_ssl_gaps(raw, {"uda": ssl, "fixmatch": no_random}, {"uda": "UDA"})
    (ax,) = fig.axes  # fixmatch ran no Random: no panel
    assert ax.get_title() == "UDA"
    table = stats.ssl_random_gaps(raw, ssl)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["SSL-Random (UDA) - best raw AL", "SSL-Random (UDA) - supervised Random"]
    assert len(ax.containers) == 2
    for k, (ref, bars) in enumerate(zip(["best raw AL", "supervised Random"], ax.containers)):
        part = table[table.reference == ref]
        line, caps, _ = bars.lines  # the mean line, the caps at the interval's ends
        assert np.allclose(line.get_xdata(), part.n_labelled + 2 * k)  # shifted apart by 2 labels
        assert np.allclose(line.get_ydata(), part.gap)
        ends = np.sort(np.concatenate([np.asarray(c.get_ydata(), float) for c in caps]))
        assert np.allclose(ends, np.sort(np.concatenate([part.ci_low.to_numpy(float), part.ci_high.to_numpy(float)])))
    plt.close(fig)


def test_plot_teaser_draws_random_and_the_best_strategy_per_family():
    raw, ssl = fabricated_runs()
    fig = panels.plot_teaser({"AL + augmentation": raw, "SSL + AL": ssl}, title="t")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    best_raw = stats.aubc(raw[raw.strategy != "random"]).strategy.iloc[0]
    best_ssl = stats.aubc(ssl[ssl.strategy != "random"]).strategy.iloc[0]
    from alkit.analysis.plots import strategy_label
    assert labels == [f"{strategy_label(best_raw)} (AL + augmentation)", "Random (AL + augmentation)",
                      f"SSL-{strategy_label(best_ssl)} (SSL + AL)", "SSL-Random (SSL + AL)"]
    summary = stats.curve_summary(raw)
    rnd = summary[summary.strategy == "random"].sort_values("n_labelled")
    assert np.allclose(ax.lines[1].get_ydata(), 100 * rnd["mean"])
    assert ax.lines[0].get_color() == ax.lines[1].get_color() == panels.TEASER_COLORS[1]
    assert ax.get_title() == "t"
    plt.close(fig)


# ------------------------------------------------------------------ segmentation panels

class FakeSegData:
    """Two 3x16x16 validation images and masks with an ignored corner (the SegmentationDataset fields the panel reads)."""
    ignore_index = 255

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.val_images = torch.randint(0, 256, (2, 3, 16, 16), generator=g, dtype=torch.uint8)
        self.val_masks = torch.randint(0, 3, (2, 16, 16), generator=g)
        self.val_masks[:, :2, :2] = 255


def test_prediction_panel_draws_one_row_per_strategy_and_image_one_column_per_cycle():
    data, size = FakeSegData(), 8
    rows = []
    for s in ("random", "entropy", "ll"):
        for t in range(2):
            for c, budget in enumerate((600, 1000, 1400)):
                preds = np.full((2, size, size), c, np.uint8)
                rows.append(dict(strategy=s, trial=t, cycle=c, budget=budget, preview=encode_preview(preds)))
    df = pd.DataFrame(rows)
    fig = panels.plot_predictions_per_cycle(df, data, size=size, n_images=2)
    assert len(fig.axes) == 2 * 2 * (2 + 3)  # Random and Entropy x 2 images, image + truth + 3 cycles
    axes = np.array(fig.axes).reshape(4, 5)
    assert [a.get_title() for a in axes[0]] == ["image", "true mask", "600 clicks", "1,000 clicks", "1,400 clicks"]
    assert axes[0, 2].images[0].get_array().shape == (size, size)
    assert int(axes[0, 4].images[0].get_array().max()) == 2  # the prediction of the last cycle
    truth = axes[0, 1].images[0].get_array()
    assert truth.mask[0, 0] and not truth.mask.all()  # ignored pixels are not coloured
    assert axes[2, 0].get_ylabel() != axes[0, 0].get_ylabel()  # one strategy per block of rows
    plt.close(fig)
    fig = panels.plot_predictions_per_cycle(df, data, size=size, n_images=1, strategies=["ll"], label=str.upper)
    assert len(fig.axes) == 5 and fig.axes[0].get_ylabel() == "LL"
    plt.close(fig)


def test_images_and_masks_strip_and_show_mask():
    masks = [np.array([[0, 1], [255, 2]])] * 3
    fig = panels.plot_images_and_masks([np.zeros((2, 2, 3))] * 3, masks, ignore_index=255, n=3)
    assert len(fig.axes) == 6 and not any(a.axison for a in fig.axes)
    bottom = fig.axes[3]
    assert len(bottom.images) == 2  # the white base and the mask
    assert bottom.images[1].get_array().mask.tolist() == [[False, False], [True, False]]
    plt.close(fig)
    fig, ax = plt.subplots()
    panels.show_mask(ax, masks[0], ignore_index=2)
    assert len(ax.images) == 1 and ax.images[0].get_array().mask.tolist() == [[False, False], [False, True]]
    plt.close(fig)


# ------------------------------------------------------------------ notebook 08: penalty heatmap

def test_plot_penalty_says_n_a_off_the_diagonal_only():
    pen = pd.DataFrame([[np.nan, 0.25, np.nan], [0.5, np.nan, 0.0], [np.nan, 1.0, np.nan]],
                       index=["random", "entropy", "coreset"], columns=["random", "entropy", "coreset"])
    ax = plot_penalty(pen, title="p")
    texts = {(round(t.get_position()[0], 1), round(t.get_position()[1], 1)): t.get_text() for t in ax.texts}
    assert texts[(2.5, 0.5)] == "n/a" and texts[(0.5, 2.5)] == "n/a"  # coreset vs random: no comparison
    assert texts[(1.5, 0.5)] == "0.25" and texts[(0.5, 1.5)] == "0.50"
    assert not any(texts.get((i + 0.5, i + 0.5)) for i in range(3))  # diagonal blank
    assert ax.get_title() == "p"
    plt.close(ax.figure)


# ------------------------------------------------------------------ the solutions' bench

def test_gap_line_reports_the_paired_test():
    a, b = [0.80, 0.82, 0.79, 0.85], [0.75, 0.78, 0.77, 0.76]
    t = stats.paired_test(100 * (np.array(a) - np.array(b)))
    line = stats.gap_line(a, b, "x - y")
    assert line == f"x - y: {t['gap']:+.1f} points, 95 % interval [{t['ci_low']:+.1f}, {t['ci_high']:+.1f}] over 4 seeds"
    assert stats.gap_line(a[:2], b[:2], "x - y") == (
        f"x - y: {100 * np.mean(np.subtract(a[:2], b[:2])):+.1f} points over 2 seed(s): too few seeds for an "
        f"interval (need {stats.MIN_TRIALS})")


def test_digits_bench_gives_class_balanced_disjoint_sets_and_seeded_models():
    from alkit.exercises import DigitsBench

    threads = torch.get_num_threads()
    try:
        bench = DigitsBench(20)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    lab, rest = bench.labelled_set(0)
    assert len(lab) == 20 and len(set(lab) | set(rest)) == len(bench.labels) and not set(lab) & set(rest)
    assert np.bincount(bench.labels[lab], minlength=10).tolist() == [2] * 10
    assert not np.array_equal(lab, bench.labelled_set(1)[0]) and len(bench.labelled_set(0, n=30)[0]) == 30
    w0, w0b, w1 = (next(bench.fresh(s).parameters()).detach() for s in (0, 0, 1))
    assert torch.equal(w0, w0b) and not torch.equal(w0, w1)
    x = bench.data.train_x[:4]
    assert bench.fresh(0)(x.float()).shape == (4, 10)


def test_polygon_query_panel_has_four_columns_per_polygon():
    rng = np.random.default_rng(0)
    polygon = np.zeros((6, 6), bool)
    polygon[1:3, 1:4] = True
    one = dict(image=rng.integers(0, 255, (6, 6, 3)).astype(np.uint8), approx=np.full((6, 6), 255, np.uint8),
               entropy=rng.random((6, 6)), polygon=polygon)
    fig = panels.plot_polygon_query([one, one, one], ignore_index=255)
    assert len(fig.axes) == 12
    assert [a.get_title() for a in fig.axes[:4]] == ["image", "approximated GT", "pixel entropy", "selected polygon"]
    assert fig.axes[1].images[0].get_array().mask.all()  # every pixel ignored: nothing coloured
    overlay = fig.axes[3].images[1].get_array()
    assert (~overlay.mask).sum() == polygon.sum()  # only the polygon's pixels are painted
    plt.close(fig)


def test_banner_names_the_versions_and_the_device():
    import platform

    import alkit
    from alkit.engine.train.common import pick_device

    assert alkit.banner() == (f"alkit {alkit.__version__} | torch {torch.__version__} | "
                              f"python {platform.python_version()} | device {pick_device()}")
    assert alkit.banner(device=False).endswith(f"python {platform.python_version()}")
