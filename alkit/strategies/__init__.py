"""Query strategies (paper Sec. 3.1 and 4.2), all in one registry (:mod:`alkit.strategies.base`).

A strategy is a small function registered with :func:`register_strategy`; it says what it needs
from the learner (``needs``) and gets a :class:`QueryInputs` holding only that. It never sees the
labels of unlabelled items. Built-ins: :mod:`.classification` (random, entropy, ens-varr,
coreset, ll, margin, bald, badge, typiclust; debiased-entropy and debiased-margin, :mod:`.debias`) and :mod:`.segmentation` (random, entropy, ens-ent,
ll). A user's file of strategies: :func:`load_strategies`.

The names below that predate the registry (``STRATEGY_NAMES``, ``NEEDS``, ``LABELS``, ``rank``,
``check_strategy``) are thin views of it.
"""

from __future__ import annotations

from alkit.strategies import base
from alkit.strategies.base import (NEEDS_BY_TASK, CarriesStrategies, QueryInputs, RegistryView, SegQueryInputs, StrategyFileError,
                   StrategySpec, check_strategy, find_strategy, get_strategy, load_plugin, load_strategies, loaded_files,
                   per_image, register_strategy, strategy_names, unregister_strategy)
from alkit.strategies import classification as _classification  # noqa: F401  (registers the built-ins)
from alkit.strategies import segmentation as _segmentation  # noqa: F401
from alkit.strategies import debias as _debias  # noqa: F401  (debiased-entropy, debiased-margin)

# The paper's five classification strategies: the default list for runs (any registered name works).
STRATEGY_NAMES = ("random", "entropy", "ens-varr", "coreset", "ll")

# What each classification strategy asks of the learner (a live view: {name: set of needs}).
NEEDS = RegistryView(("classification",), lambda spec: set(spec.needs))

# Names as the paper writes them, for plots (classification and segmentation; a live view).
LABELS = RegistryView(("classification", "segmentation"), lambda spec: spec.label)


def default_strategies(task: str = "classification") -> tuple[str, ...]:
    """The paper's strategies for a task: the list a run compares when none are named."""
    from alkit.strategies.segmentation import SEG_STRATEGIES

    return tuple(SEG_STRATEGIES) if task == "segmentation" else STRATEGY_NAMES


def rank(name: str, inputs: QueryInputs, budget: int, rng):
    """Pool indices of the ``budget`` (or all, if fewer) most wanted unlabelled items, best first,
    for classification strategy ``name`` (see :func:`alkit.strategies.base.rank`)."""
    return base.rank(name, inputs, budget, rng, task="classification")


__all__ = ["STRATEGY_NAMES", "NEEDS", "LABELS", "NEEDS_BY_TASK", "QueryInputs", "SegQueryInputs", "StrategySpec",
           "StrategyFileError", "CarriesStrategies", "register_strategy", "unregister_strategy", "get_strategy",
           "find_strategy", "strategy_names", "check_strategy", "default_strategies", "load_strategies", "load_plugin", "loaded_files", "per_image", "rank"]
