"""Composite figures of the notebooks, one call each, so that a notebook cell shows what is drawn
and not how: segmentation masks in the kit's colours (:func:`show_mask`), a strip of images over
their masks (:func:`plot_images_and_masks`, notebook 05), the predictions of each cycle side by side
(:func:`plot_predictions_per_cycle`, paper Fig. 12, notebook 06), the polygons a query picked
(:func:`plot_polygon_query`, paper Fig. 14, notebook 07), SSL-Random's gaps to raw AL per SSL method
(:func:`plot_ssl_gaps`, notebook 02) and the three-protocol teaser (:func:`plot_teaser`, paper Fig. 1). Each returns its figure; the notebook saves it with
:func:`alkit.analysis.plots.savefig`. Figures follow Mittal et al., "Parting with Illusions about
Deep Active Learning"."""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from alkit.analysis import stats
from alkit.analysis.plots import plt, strategy_label  # plots picks the matplotlib backend first
from alkit.strategies.segmentation import SEG_LABELS
from alkit.tasks.segmentation import decode_preview

#: Colours of the teaser's protocol families (the last ``len(families)`` are used, in order).
TEASER_COLORS = ("#999999", "#1f77b4", "#d62728")
#: Colours of the two references of :func:`plot_ssl_gaps`.
GAP_COLORS = {"best raw AL": "#d62728", "supervised Random": "#1f77b4"}


def show_mask(ax, mask, ignore_index: int = 255, *, white_base: bool = False):
    """Draw a class-id mask ``[H, W]`` on ``ax``: class ids in the ``tab20`` colours (ids 0-20),
    pixels equal to ``ignore_index`` left transparent; ``white_base`` paints a white square under
    the mask first, so that ignored pixels read white whatever the axes' background."""
    mask = np.asarray(mask)
    if white_base:
        ax.imshow(np.ones_like(mask), cmap="gray", vmin=0, vmax=1)
    ax.imshow(np.ma.masked_equal(mask.astype(int), ignore_index), cmap="tab20", vmin=0, vmax=20,
              interpolation="nearest")


def plot_images_and_masks(images, masks, ignore_index: int = 255, n: int = 6, figsize=(12, 4.2)):
    """The first ``n`` images (top row, each ``[H, W, 3]``) over their true masks (bottom row,
    ``[H, W]`` class ids, ignored pixels white), axes off. Returns the figure (2 x ``n`` axes)."""
    fig, axes = plt.subplots(2, n, figsize=figsize, squeeze=False)
    for j in range(n):
        axes[0, j].imshow(images[j])
        show_mask(axes[1, j], masks[j], ignore_index, white_base=True)
    for ax in axes.flat:
        ax.axis("off")
    return fig


def _small(t, size: int, mode: str):
    """``t`` ``[C, H, W]`` resized to ``[C, size, size]`` (float)."""
    return F.interpolate(t[None].float(), size=(size, size), mode=mode)[0]


def plot_predictions_per_cycle(df, data, size: int, n_images: int = 2, strategies=None, trial: int = 0,
                               label=None):
    """Paper Fig. 12: for each shown strategy and each of the first ``n_images`` validation images,
    one row: the image, its true mask, then the prediction stored after each cycle of trial
    ``trial`` (one column per click budget, titled with it).

    ``df``: segmentation results with a ``preview`` column (the runs' ``preview=n`` option:
    :func:`alkit.tasks.segmentation.decode_preview` gives ``[n, size, size]`` class ids) and
    ``strategy, trial, budget``; ``data``: the segmentation dataset (``val_images`` ``[N, 3, H, W]``
    in 0-255, ``val_masks`` ``[N, H, W]``, ``ignore_index``), shown at the previews' ``size``.
    ``strategies``: default Random and Entropy where run, else the first two by name; ``label``
    names a strategy on its row (default: the registry's label, ``SEG_LABELS``).
    Returns the figure: ``len(strategies) * n_images`` rows, ``2 + cycles`` columns."""
    label = label or (lambda s: SEG_LABELS.get(s, s))
    present = set(df.strategy)
    shown = list(strategies) if strategies else ([s for s in ("random", "entropy") if s in present]
                                                  or sorted(present)[:2])
    first = df[df.trial == trial]
    budgets = sorted(first.budget.unique())
    images = [_small(data.val_images[i].cpu(), size, "bilinear").permute(1, 2, 0).clamp(0, 255).byte().numpy()
              for i in range(n_images)]
    truth = [_small(data.val_masks[i].cpu()[None], size, "nearest")[0].numpy() for i in range(n_images)]
    nrow, ncol = len(shown) * n_images, 2 + len(budgets)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.7 * ncol, 1.8 * nrow), squeeze=False)
    for si, strat in enumerate(shown):
        recs = first[first.strategy == strat].set_index("budget")
        for k in range(n_images):
            row = axes[si * n_images + k]
            row[0].imshow(images[k])
            show_mask(row[1], truth[k], data.ignore_index)
            row[0].set_ylabel(label(strat), fontsize=9)
            for j, b in enumerate(budgets):
                show_mask(row[2 + j], decode_preview(recs.loc[b, "preview"])[k], data.ignore_index)
    for j, b in enumerate(budgets):
        axes[0, 2 + j].set_title(f"{b:,.0f} clicks", fontsize=9)
    axes[0, 0].set_title("image", fontsize=9)
    axes[0, 1].set_title("true mask", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_ssl_gaps(raw, ssl_runs: dict, method_name: dict | None = None, y: str = "accuracy"):
    """Per SSL method (one panel each, for the methods that ran Random): SSL-Random minus the best
    raw AL strategy and minus supervised Random at every budget, mean over trials with the 95 %
    Student-t interval of the paired gap as error bars (:func:`alkit.analysis.stats.ssl_random_gaps`;
    no bars where an interval is missing). Above zero = SSL-Random is better (paper Sec. 3.2.3).

    ``raw``: the supervised runs; ``ssl_runs``: ``{ssl method: its runs}``; ``method_name``: display
    names of the methods (default: the method ids). Returns the figure."""
    method_name = method_name or {}
    methods = [m for m in ssl_runs if "random" in set(ssl_runs[m].strategy)]
    n = max(1, len(methods))
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 3.8), squeeze=False)
    for ax, m in zip(axes[0], methods):
        table = stats.ssl_random_gaps(raw, ssl_runs[m], y=y)
        for k, (ref_name, color) in enumerate(GAP_COLORS.items()):
            part = table[table.reference == ref_name]
            if part.empty:
                continue
            lows, highs = part.gap - part.ci_low, part.ci_high - part.gap
            err = None if np.isnan(lows.to_numpy(float)).any() else [lows.to_numpy(), highs.to_numpy()]
            ax.errorbar(part.n_labelled.to_numpy() + 2 * k, part.gap, yerr=err, fmt="o-", color=color, capsize=3,
                        label=f"SSL-Random ({method_name.get(m, m)}) - {ref_name}")
        ax.axhline(0, color="k", lw=0.8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_xlabel("labelled images")
        ax.set_ylabel(f"{y} gap (points)")
        ax.set_title(method_name.get(m, m))
    return fig


def plot_teaser(families: dict, title: str | None = None, y: str = "accuracy", ax=None):
    """Paper Fig. 1: the same strategies under several evaluation protocols. For each family
    (``{name: runs}``, e.g. AL without augmentation, with augmentation, with SSL) Random (dashed)
    and the non-Random strategy with the largest area under its budget curve in that family
    (:func:`alkit.analysis.stats.aubc`, solid), mean over trials with a +-1 std band, in the
    family's colour (:data:`TEASER_COLORS`). A family run with an SSL method is labelled "SSL-X"
    (:func:`alkit.analysis.plots.strategy_label`). Returns the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    colors = dict(zip(families, TEASER_COLORS[-len(families):]))
    for fam, part in families.items():
        area = stats.aubc(part, y=y)
        others = area[area.strategy != "random"]
        shown = ([(others.strategy.iloc[0], "-")] if len(others) else []) + [("random", "--")]
        summary = stats.curve_summary(part, y=y)
        ssl = part.ssl.iloc[0] if "ssl" in part.columns and len(part) else None
        for s, ls in shown:
            c = summary[summary.strategy == s].sort_values("n_labelled")
            ax.plot(c.n_labelled, 100 * c["mean"], ls, marker="o", ms=3, color=colors[fam],
                    label=f"{strategy_label(s, ssl)} ({fam})")
            ax.fill_between(c.n_labelled, 100 * (c["mean"] - c["std"]), 100 * (c["mean"] + c["std"]),
                            color=colors[fam], alpha=0.12, lw=0)
    ax.set_xlabel("labelled images")
    ax.set_ylabel(f"{y} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax.figure


def plot_polygon_query(panels: list[dict], ignore_index: int = 255):
    """Paper Fig. 14: one row per selected polygon — the image, its approximated ground truth
    (class ids, ignored pixels transparent), the model's normalised pixel entropy (0-1, ``magma``)
    and the selected polygon over the image. ``panels``: the dicts of
    :func:`alkit.tasks.polygon_segmentation.query_panels` (``image`` ``[H, W, 3]``, ``approx``
    ``[H, W]``, ``entropy`` ``[H, W]``, ``polygon`` bool ``[H, W]``). Returns the figure
    (``len(panels)`` x 4 axes)."""
    fig, axes = plt.subplots(len(panels), 4, figsize=(8, 2.1 * len(panels)), squeeze=False)
    for row, p in zip(axes, panels):
        row[0].imshow(p["image"])
        show_mask(row[1], p["approx"], ignore_index)
        row[2].imshow(p["entropy"], cmap="magma", vmin=0, vmax=1)
        row[3].imshow(p["image"])
        row[3].imshow(np.ma.masked_where(~p["polygon"], p["polygon"]), cmap="autumn", alpha=0.6)
    for a, t in zip(axes[0], ["image", "approximated GT", "pixel entropy", "selected polygon"]):
        a.set_title(t, fontsize=9)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    return fig
