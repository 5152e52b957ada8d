"""Training settings for tasks built directly in tests (a task takes them all: their defaults live
in the recipes, filled in by Experiment.resolved()). Small numbers: tests check behaviour, not accuracy."""

TRAINING = dict(epochs=1, min_steps=0, iterations=2, batch_size=64, unlabelled_batch=32, lr=0.03, ensemble_size=2)


def training(**overrides) -> dict:
    """:data:`TRAINING` with ``overrides`` (only training keys)."""
    unknown = set(overrides) - set(TRAINING)
    if unknown:
        raise KeyError(f"not a training setting: {sorted(unknown)}")
    return {**TRAINING, **overrides}


def seg_recipe(dataset: str = "shapes", **overrides) -> dict:
    """The segmentation recipe of ``dataset`` (alkit.experiments.recipes) with ``overrides``: the
    ``recipe`` a SegmentationTask built directly in a test takes."""
    from alkit.experiments.recipes import recipe

    r = recipe("segmentation", dataset)
    unknown = set(overrides) - set(r)
    if unknown:
        raise KeyError(f"not a segmentation recipe setting: {sorted(unknown)}")
    return {**r, **overrides}
