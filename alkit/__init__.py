"""alkit — a notebook-first teaching and reproduction kit for
"Parting with Illusions about Deep Active Learning" (Mittal, Tatarchenko, Cicek, Brox, 2019).

The public API (what notebooks and users import)::

    import alkit
    exp = alkit.Experiment(dataset="digits", strategies=("random", "margin"), regime="high")
    df = alkit.run(exp)                                   # one row per (strategy, trial, cycle)
    alkit.stats.compare_to_reference(df)                  # paired t-tests vs Random, Holm
    alkit.plots.plot_curves(df)

    @alkit.register_strategy("my-score", needs={"probs"})  # a new query strategy
    def my_score(inputs): ...
    alkit.load_plugin("my_plugin.py")                      # strategies, datasets, models from a file
    alkit.register_dataset("my-data", loader, kind="classification", recipe="digits")
    alkit.register_model("my-net", factory)
    alkit.evaluate(["my-score"], preset="default", out="report/")   # the paper's protocol

What a user may extend: strategies (:mod:`alkit.strategies`), recipes
(:mod:`alkit.experiments.recipes`), datasets (:func:`register_dataset`, :mod:`alkit.engine.data`)
and classification networks (:func:`register_model`, :mod:`alkit.engine.models`). What holds the paper's
protocol and is not for bending: :mod:`alkit.protocol` (pool, loop, annotator), the statistics
(:mod:`alkit.analysis.stats`) and the results store (:mod:`alkit.experiments.store`).
"""

__version__ = "0.2.0"

# Loaded on first use (PEP 562), so that ``python -m alkit`` starts without importing torch.
_API = {
    "Experiment": ("alkit.experiments.config", "Experiment"),
    "run": ("alkit.experiments.config", "run"),
    "evaluate": ("alkit.experiments.evaluate", "evaluate"),
    "register_strategy": ("alkit.strategies", "register_strategy"),
    "load_strategies": ("alkit.strategies", "load_strategies"),
    "load_plugin": ("alkit.strategies", "load_plugin"),
    "register_dataset": ("alkit.engine.data", "register_dataset"),
    "register_model": ("alkit.engine.models", "register_model"),
    "stats": ("alkit.analysis.stats", None),
    "plots": ("alkit.analysis.plots", None),
    "banner": ("alkit.about", "banner"),
}

__all__ = [*_API, "__version__"]


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'alkit' has no attribute {name!r}")
    import importlib

    module, attr = _API[name]
    value = importlib.import_module(module)
    value = getattr(value, attr) if attr else value
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
