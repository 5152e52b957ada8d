"""Command-line glue for the segmentation side (paper Sec. 4): which dataset names are
segmentation datasets, the ``clicks`` table and ``run`` with click budgets."""

from __future__ import annotations

from pathlib import Path

SEGMENTATION_DATASETS = ("shapes", "voc")


def is_segmentation_dataset(name: str) -> bool:
    """``shapes``, ``voc``, or a path to a generic segmentation folder (an existing folder, or a name
    that reads as a path: with a separator or starting with ``.``/``~``, whether it exists or not)."""
    from .checks import looks_like_path

    return name in SEGMENTATION_DATASETS or looks_like_path(name) or Path(name).expanduser().is_dir()


def default_strategies(segmentation: bool) -> str:
    """The strategies ``run`` compares when none are named."""
    if segmentation:
        from .strategies.segmentation import SEG_STRATEGIES

        return ",".join(SEG_STRATEGIES)
    from .strategies import STRATEGY_NAMES

    return ",".join(STRATEGY_NAMES)


def clicks_table(dataset: str, tolerances: list[float], *, n_images: int = 200, data_root=None, download=False):
    """Tolerance sweep of the simulated annotator (Fig. 10-11): see :mod:`alkit.segmentation`."""
    from .segmentation import clicks_table as table

    return table(dataset, tolerances, n_images=n_images, data_root=data_root, download=download)


def run_segmentation(args, strategies):
    """``python -m alkit run`` for a segmentation dataset: budgets in clicks."""
    from .segmentation import run_segmentation_experiment

    return run_segmentation_experiment(args, strategies)
