"""Figures: the paper's names, curves with mean and interval bands, gap/penalty plots, PNG + PDF."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from alkit.analysis import stats  # noqa: E402
from alkit.analysis.plots import plot_curves, plot_gap, plot_penalty, savefig, strategy_label  # noqa: E402


@pytest.mark.parametrize("name, ssl, label", [
    ("d-score", None, "D-score"),
    ("random-image-entropy-polygon", None, "Random-Image-Entropy-Polygon"),
    ("random-image-random-polygon", None, "Random-Image-Random-Polygon"),
    ("ens-varr", None, "ENS-varR"),
    ("random", "uda", "SSL-Random"),
    ("entropy", "fixmatch", "SSL-Entropy"),
    ("random-image-entropy-polygon", "s4gan", "SSL-Random-Image-Entropy-Polygon"),
    ("entropy", "none", "Entropy"),
    ("my-own", None, "my-own"),
])
def test_strategy_label(name, ssl, label):
    assert strategy_label(name, ssl) == label


def results():
    rows = []
    for s, lift in (("random", 0.0), ("entropy", 0.02)):
        for t in range(3):
            for c in range(3):
                rows.append(dict(strategy=s, trial=t, cycle=c, n_labelled=20 + 10 * c,
                                 accuracy=0.5 + 0.1 * c + lift + 0.01 * t))
    return pd.DataFrame(rows)


def test_plot_curves_draws_the_mean_and_a_band_of_plus_minus_one_std():
    df = results()
    fig, ax = plt.subplots()
    plot_curves(df, ax=ax)
    line = next(l for l in ax.lines if l.get_label() == "Entropy")
    # mean over trials at each budget, in percent: 50 + 10 c + 2 + 1 (trials 0,1,2 -> +0, +1, +2)
    assert np.allclose(line.get_ydata(), [53, 63, 73])
    # bands: mean +- std over trials (std of 0, 1, 2 points = 1 point): Random 50..72, Entropy 52..74
    bands = {(round(v.min(), 6), round(v.max(), 6)) for v in
             (c.get_paths()[0].vertices[:, 1] for c in ax.collections if c.get_paths())}
    assert bands == {(50.0, 72.0), (52.0, 74.0)}
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"Random", "Entropy"}
    plt.close(fig)


def test_plot_curves_names_ssl_curves_ssl_x():
    df = pd.concat([results().assign(ssl="none"), results().assign(ssl="uda")])
    fig, ax = plt.subplots()
    plot_curves(df, ax=ax, style="ssl")
    assert {"SSL-Random", "SSL-Entropy", "Random", "Entropy"} == {t.get_text() for t in ax.get_legend().get_texts()}
    plt.close(fig)


def test_plot_gap_and_penalty():
    df = results()
    per_cycle = stats.compare_to_reference(df, at="cycle")
    per_cycle["n_labelled"] = per_cycle.cycle.map(df.groupby("cycle").n_labelled.first())
    fig, ax = plt.subplots()
    plot_gap(per_cycle, ax=ax)
    assert np.allclose(ax.lines[0].get_ydata(), 2.0)  # Entropy is 2 points above Random in every trial
    plt.close(fig)
    fig, ax = plt.subplots()
    pen = stats.penalty_matrix(df, at="cycle")
    plot_penalty(pen, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == [strategy_label(s) for s in pen.index]
    plt.close(fig)


def test_savefig_writes_png_and_pdf(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    png = savefig(fig, "x", folder=tmp_path)
    assert png == tmp_path / "x.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "x.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pdf", "x.png"]  # no temp files left
    plt.close(fig)
