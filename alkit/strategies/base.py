"""The strategy registry: one place that knows every query strategy, what it needs and how to draw it.

A strategy is a plain function registered with :func:`register_strategy`::

    @register_strategy("margin", needs={"probs"}, label="Margin")
    def margin(inputs):                       # a *score* strategy: one number per unlabelled item
        p = np.sort(inputs.probs, axis=1)     # [u, K]
        return -(p[:, -1] - p[:, -2])         # [u], higher = query first

    @register_strategy("far", needs={"features"}, kind="select")
    def far(inputs, budget, rng):             # a *select* strategy: picks pool indices itself
        ...

* **score** strategies return ``[u]`` scores in the order of ``inputs.unlabelled``; the adapter
  (:func:`rank`) queries the highest first, ties broken at random with the loop's seeded ``rng``.
* **select** strategies get ``(inputs, budget, rng)`` and return at most ``budget`` distinct
  unlabelled pool indices (core-set, BADGE, TypiClust). For segmentation the budget is in clicks
  and the function returns an ordering that the loop takes until the clicks are spent.

``inputs`` (:class:`QueryInputs`, :class:`SegQueryInputs`) holds only what the strategy declared in
``needs``; each need is computed by the task when first read, then cached. Reading anything else
raises ``AttributeError``. There is no way to read the labels of unlabelled items.

Besides what it needs, a strategy may change how the learner is *trained*: ``members="ensemble"``
trains the task's ``ensemble_size`` members (inferred when the strategy needs ``member_probs`` or
``member_preds``), ``trains="lossnet"`` trains the Learning-Loss module (inferred from
``predicted_loss``).

User strategies in a file: :func:`load_strategies` imports it; the registry remembers the file and
a pickled task (:class:`CarriesStrategies`) takes the files and the other user strategies along, so
``spawn`` worker processes (:mod:`alkit.experiments.runner`) know them too. A strategy defined in a notebook
cell cannot be imported by a worker: pickling a task then fails, and the runner runs in-process.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import pickle
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TASKS = ("classification", "segmentation")
KINDS = ("score", "select")

# What a strategy may ask for, per task (shapes: u unlabelled items, l labelled, K classes,
# M ensemble members, T MC-dropout samples, D feature width, n_pool = u + l).
NEEDS_BY_TASK: dict[str, dict[str, str]] = {
    "classification": {
        "probs": "[u, K] softmax of the (first) model on the unlabelled items",
        "member_probs": "[M, u, K] softmax of each ensemble member",
        "member_preds": "int [M, u] class predicted by each ensemble member",
        "features": "[n_pool, D] penultimate features of the whole pool (labelled and unlabelled)",
        "predicted_loss": "[u] the Learning-Loss module's predicted loss",
        "mc_probs": "[T, u, K] MC-dropout softmax samples (dropout on the penultimate features)",
        "mc_bald": "[u] BALD mutual information of T = 20 MC-dropout samples, computed chunk by chunk",
        "grad_embedding": "[u, K*D] BADGE gradient embeddings (p - onehot(argmax p)) x features",
        "labelled_labels": "int [l] labels of the labelled items, in the order of `labelled`",
    },
    "segmentation": {
        "probs_iter": "re-iterable of (positions [b], probs [b, K, H, W] torch) over the unlabelled images",
        "member_probs_iter": "re-iterable of (positions [b], probs [M, b, K, H, W] torch)",
        "predicted_loss": "[u] the Learning-Loss module's predicted per-image loss",
        "d_scores": "[u] the s4GAN discriminator's score of each unlabelled image (runs with ssl='s4gan' only)",
    },
}
# Present for every strategy (no need to declare them).
ALWAYS_BY_TASK = {
    "classification": ("unlabelled", "labelled", "labelled_mask", "num_classes", "pool_size", "device"),
    "segmentation": ("unlabelled", "labelled", "labelled_mask", "num_classes", "pool_size", "device",
                     "costs", "threshold", "ens_reduce"),
}
_ENSEMBLE_NEEDS = {"member_probs", "member_preds", "member_probs_iter"}
_BUILTIN_MODULES = {"alkit.strategies.classification", "alkit.strategies.segmentation", "alkit.strategies.debias"}
_NAME_RE = re.compile(r"[a-z0-9_-]+")


class StrategyFileError(ValueError):
    """A user strategy file could not be used; the message is one line and names the file."""


@dataclass(frozen=True)
class StrategySpec:
    """One registered strategy (see :func:`register_strategy` for the fields)."""

    name: str
    task: str
    fn: Callable
    needs: frozenset
    kind: str = "score"
    label: str = ""
    color: str | None = None
    members: str = "single"  # "single" | "ensemble"
    trains: str | None = None  # None | "lossnet" | "dropout"
    builtin: bool = False
    source_file: str | None = None  # the file load_strategies read it from
    code_hash: str = ""  # of the file (file strategies) or of the function's source

    @property
    def origin(self) -> str:
        """Where it was defined, for messages: a file, a module or "alkit"."""
        if self.builtin:
            return "alkit"
        return self.source_file or f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', '?')}"


_REGISTRY: dict[tuple[str, str], StrategySpec] = {}
_LOADED_FILES: dict[str, str] = {}  # absolute path -> module name, in load order
_LOADING: list[str] = []  # the file being executed by load_strategies (a stack)
_FILE_PLUGINS: dict[str, dict] = {}  # plug-in file -> the datasets and (kind, model) pairs it registered


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return task


def _code_hash(fn, source_file: str | None) -> str:
    try:
        text = Path(source_file).read_bytes() if source_file else inspect.getsource(fn).encode()
    except (OSError, TypeError):
        text = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}".encode()
    return hashlib.sha256(text).hexdigest()[:16]


def _same_definition(old: StrategySpec, new: StrategySpec) -> bool:
    """Re-running the same definition (a notebook cell run twice, a module imported again)."""
    if old.source_file or new.source_file:
        return old.source_file == new.source_file
    f, g = old.fn, new.fn
    return (getattr(f, "__module__", None), getattr(f, "__qualname__", None)) == \
        (getattr(g, "__module__", None), getattr(g, "__qualname__", None))


def register_strategy(name: str, *, needs=frozenset(), task: str = "classification", label: str | None = None,
                      color: str | None = None, kind: str = "score", members: str | None = None,
                      trains: str | None = None, replace: bool = False):
    """Decorator: register ``fn`` as query strategy ``name`` for ``task``; returns ``fn`` unchanged.

    ``kind="score"``: ``fn(inputs) -> [u]`` scores (higher = query first). ``kind="select"``:
    ``fn(inputs, budget, rng) -> int [<= budget]`` unlabelled pool indices (for segmentation the
    budget is in clicks and ``fn`` may return a full ordering). ``needs``: names from
    :data:`NEEDS_BY_TASK` (what ``inputs`` will hold). ``label``/``color``: for plots (default: the
    name / a stable colour). ``members``: ``"ensemble"`` to train the task's ``ensemble_size``
    members (default when ``needs`` asks for member predictions), else ``"single"``. ``trains``:
    ``"lossnet"`` to train the Learning-Loss module with the model (default when ``needs`` has
    ``predicted_loss``); ``"dropout"`` (classification) to train the model with dropout on its
    penultimate features, the dropout MC samples are drawn with (BALD; default when ``needs`` has
    ``mc_bald``, :mod:`alkit.engine.models.mc_dropout`). ``replace=True`` overrides an existing strategy of that name; otherwise a
    duplicate name is a ``ValueError`` (re-running the *same* definition, e.g. a notebook cell,
    just updates it). Names are lower-case ``[a-z0-9_-]+``.
    """
    _check_task(task)
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid strategy name {name!r}: use lower-case letters, digits, '_' and '-'")
    if kind not in KINDS:
        raise ValueError(f"strategy {name!r}: unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    needs = frozenset([needs] if isinstance(needs, str) else needs)
    valid = NEEDS_BY_TASK[task]
    bad = sorted(n for n in needs if n not in valid)
    if bad:
        raise ValueError(f"strategy {name!r}: unknown need(s) {', '.join(map(repr, bad))} for {task}; "
                         f"choose from {', '.join(valid)}")
    if members is None:
        members = "ensemble" if needs & _ENSEMBLE_NEEDS else "single"
    if members not in ("single", "ensemble"):
        raise ValueError(f"strategy {name!r}: members must be 'single' or 'ensemble', got {members!r}")
    if trains is None and "predicted_loss" in needs:
        trains = "lossnet"
    if trains is None and "mc_bald" in needs:
        trains = "dropout"
    if trains not in (None, "lossnet", "dropout"):
        raise ValueError(f"strategy {name!r}: trains must be None, 'lossnet' or 'dropout', got {trains!r}")
    if trains == "dropout" and task != "classification":
        raise ValueError(f"strategy {name!r}: trains='dropout' is for classification strategies")

    def decorate(fn):
        if not callable(fn):
            raise TypeError(f"register_strategy({name!r}) decorates a function, got {type(fn).__name__}")
        source = _LOADING[-1] if _LOADING else None
        spec = StrategySpec(name=name, task=task, fn=fn, needs=needs, kind=kind, label=label or name,
                            color=color, members=members, trains=trains,
                            builtin=getattr(fn, "__module__", None) in _BUILTIN_MODULES,
                            source_file=source, code_hash=_code_hash(fn, source))
        old = _REGISTRY.get((task, name))
        if old is not None and not replace and not _same_definition(old, spec):
            raise ValueError(f"strategy {name!r} is already registered for {task} (from {old.origin}); "
                             f"choose another name or pass replace=True")
        _REGISTRY[(task, name)] = spec
        return fn

    return decorate


def unregister_strategy(name: str, task: str = "classification") -> None:
    """Remove a strategy (a user's experiment; built-ins come back on the next import). A loaded
    file none of whose strategies is left registered is forgotten too (workers do not re-load it)."""
    spec = _REGISTRY.pop((_check_task(task), name), None)
    if spec is not None and spec.source_file and not any(s.source_file == spec.source_file for s in _REGISTRY.values()):
        _LOADED_FILES.pop(spec.source_file, None)


def strategy_names(task: str = "classification", builtin_only: bool = False) -> tuple[str, ...]:
    """Registered strategy names for ``task``, in registration order (built-ins first)."""
    _check_task(task)
    return tuple(s.name for (t, _), s in _REGISTRY.items() if t == task and (s.builtin or not builtin_only))


def check_strategy(name: str, task: str = "classification") -> str:
    """``name`` if it is a registered ``task`` strategy, else a one-line ``ValueError``:
    ``unknown strategy 'entrpy' (did you mean 'entropy'?); choose from random, entropy, ...``."""
    _check_task(task)
    if isinstance(name, str) and (task, name) in _REGISTRY:
        return name
    names = strategy_names(task)
    close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    other = [t for t in TASKS if t != task and isinstance(name, str) and (t, name) in _REGISTRY]
    if other and not hint:
        hint = f" ({name!r} is a {other[0]} strategy)"
    what = "strategy" if task == "classification" else f"{task} strategy"
    raise ValueError(f"unknown {what} {name!r}{hint}; choose from {', '.join(names)}")


def get_strategy(name: str, task: str = "classification") -> StrategySpec:
    """The :class:`StrategySpec` of a registered strategy (``ValueError`` as :func:`check_strategy`)."""
    return _REGISTRY[(task, check_strategy(name, task))]


def find_strategy(name: str) -> StrategySpec | None:
    """The spec of ``name`` for classification, else segmentation, else None (for plots)."""
    return _REGISTRY.get(("classification", name)) or _REGISTRY.get(("segmentation", name))


class RegistryView(Mapping):
    """A read-only, live ``{name: value}`` view of the registry (``NEEDS``, ``LABELS``, ...)."""

    def __init__(self, tasks: tuple[str, ...], value: Callable[[StrategySpec], object]):
        self._tasks, self._value = tasks, value

    def _spec(self, name):
        for t in self._tasks:
            if (t, name) in _REGISTRY:
                return _REGISTRY[(t, name)]
        raise KeyError(name)

    def __getitem__(self, name):
        return self._value(self._spec(name))

    def __iter__(self):
        return iter(dict.fromkeys(n for t in self._tasks for n in strategy_names(t)))

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return repr(dict(self))


# ---------------------------------------------------------------------------------------------
# What a strategy sees
# ---------------------------------------------------------------------------------------------

class QueryInputs:
    """What the learner predicted, for one query: only the strategy's declared needs.

    Always present: ``unlabelled`` int64 ``[u]`` pool indices (the order of every ``[u]`` array),
    ``labelled`` int64 ``[l]``, ``labelled_mask`` bool ``[n_pool]`` (needs ``pool_size``),
    ``num_classes``, ``pool_size``, ``device`` (where the learner runs). Needs (see
    :data:`NEEDS_BY_TASK`) are given either as values (``probs=array``) or as ``providers``
    (``{"probs": callable}``) that compute them on first access; the result is cached. Reading a
    need the strategy did not declare raises ``AttributeError("strategy 'x' did not declare need
    'probs'")``. ``needs`` defaults to everything given.
    """

    _kind = "classification"  # which NEEDS_BY_TASK entry applies

    def __init__(self, unlabelled, *, labelled=None, num_classes: int | None = None, pool_size: int | None = None,
                 device="cpu", providers: dict | None = None, needs=None, strategy: str = "?", **values):
        known = NEEDS_BY_TASK[self._kind]
        mask = values.pop("labelled_mask", None)
        extra = {k: values.pop(k) for k in ALWAYS_BY_TASK[self._kind] if k in values}
        providers = dict(providers or {})
        odd = sorted((set(values) | set(providers)) - set(known))
        if odd:
            raise TypeError(f"{type(self).__name__}: unknown input(s) {', '.join(odd)}; choose from {', '.join(known)}")
        if mask is not None:
            mask = np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask, dtype=bool)
            pool_size = len(mask) if pool_size is None else pool_size
            labelled = np.flatnonzero(mask) if labelled is None else labelled
        always = dict(unlabelled=np.asarray(unlabelled, dtype=np.int64).reshape(-1),
                      labelled=np.asarray([] if labelled is None else labelled, dtype=np.int64).reshape(-1),
                      num_classes=num_classes, pool_size=pool_size, device=device, **extra)
        given = set(values) | set(providers)
        st = _InputState(always=always, providers=providers, cache=dict(values),
                         needs=frozenset(given if needs is None else needs), strategy=strategy)
        object.__setattr__(self, "_QueryInputs__st", st)

    def for_strategy(self, spec: StrategySpec) -> QueryInputs:
        """A view for ``spec``: the same providers and cache, restricted to ``spec.needs``.
        ``ValueError`` when a need was neither given nor provided."""
        st = self.__st
        missing = sorted(n for n in spec.needs if n not in st.cache and n not in st.providers)
        if missing:
            raise ValueError(f"strategy {spec.name!r} needs {', '.join(missing)}, which the caller did not provide")
        view = object.__new__(type(self))
        object.__setattr__(view, "_QueryInputs__st", _InputState(st.always, st.providers, st.cache,
                                                                 frozenset(spec.needs), spec.name))
        return view

    def __getattr__(self, name):  # only called when normal lookup fails
        st = self.__dict__.get("_QueryInputs__st")
        if st is None or name.startswith("__"):
            raise AttributeError(name)
        if name in st.always:
            return st.always[name]
        if name == "labelled_mask":
            n = st.always["pool_size"]
            if n is None:
                raise AttributeError("labelled_mask needs the pool size (pass pool_size= or labelled_mask=)")
            mask = np.zeros(int(n), dtype=bool)
            mask[st.always["labelled"]] = True
            st.always["labelled_mask"] = mask
            return mask
        if name in NEEDS_BY_TASK[self._kind] or name in st.cache or name in st.providers:
            if name not in st.needs:
                raise AttributeError(f"strategy {st.strategy!r} did not declare need {name!r}")
            if name not in st.cache:
                if name not in st.providers:
                    raise AttributeError(f"need {name!r} of strategy {st.strategy!r} was not provided")
                st.cache[name] = st.providers[name]()
            return st.cache[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}: a strategy sees "
                             f"{', '.join(st.always)} and its declared needs "
                             f"({', '.join(NEEDS_BY_TASK[self._kind])}); never the labels of unlabelled items")

    def __setattr__(self, name, value):
        """Set a need's value (kept for callers that fill the inputs after creating them)."""
        st = self.__st
        if name not in NEEDS_BY_TASK[self._kind]:
            raise AttributeError(f"cannot set {name!r} on {type(self).__name__}")
        st.cache[name] = value
        st.needs = st.needs | {name}

    def __dir__(self):
        st = self.__st
        return sorted(set(st.always) | set(st.needs) | {"labelled_mask"})

    def __repr__(self):
        st = self.__st
        return (f"{type(self).__name__}(strategy={st.strategy!r}, unlabelled={len(st.always['unlabelled'])}, "
                f"labelled={len(st.always['labelled'])}, needs={sorted(st.needs)})")


class SegQueryInputs(QueryInputs):
    """:class:`QueryInputs` for segmentation: needs ``probs_iter``, ``member_probs_iter``,
    ``predicted_loss``; always also ``costs`` (clicks of each unlabelled image ``[u]``),
    ``threshold`` (the entropy heuristic's normalised-entropy threshold) and ``ens_reduce``
    (how ENS-ent combines members: ``"mean-entropy"``, the paper's default, or ``"mean-prob"``)."""

    _kind = "segmentation"

    def __init__(self, unlabelled, *, costs=None, threshold: float = 0.6, ens_reduce: str = "mean-entropy", **kw):
        u = len(np.asarray(unlabelled).reshape(-1))
        costs = np.ones(u) if costs is None else np.asarray(costs, dtype=np.float64)
        super().__init__(unlabelled, costs=costs, threshold=threshold, ens_reduce=ens_reduce, **kw)


@dataclass
class _InputState:
    always: dict
    providers: dict
    cache: dict
    needs: frozenset
    strategy: str


class Batches:
    """A re-iterable over batches: ``iter()`` calls ``factory()`` afresh each time."""

    def __init__(self, factory: Callable):
        self._factory = factory

    def __iter__(self):
        return iter(self._factory())


def per_image(batches, fn, n: int) -> np.ndarray:
    """float64 ``[n]``: ``fn(batch)`` (a ``[b]`` tensor or array) written at each batch's positions,
    for ``batches`` of ``(positions, batch)`` such as ``inputs.probs_iter``."""
    out = np.zeros(n, dtype=np.float64)
    for pos, batch in batches:
        s = fn(batch)
        out[pos] = s.detach().cpu().numpy() if hasattr(s, "detach") else np.asarray(s)
    return out


# ---------------------------------------------------------------------------------------------
# From a strategy to a ranking
# ---------------------------------------------------------------------------------------------

def scores(name: str, inputs: QueryInputs, task: str = "classification") -> np.ndarray:
    """float64 ``[u]``: the scores of score strategy ``name`` on ``inputs`` (higher = query first)."""
    spec = get_strategy(name, task)
    if spec.kind != "score":
        raise ValueError(f"strategy {name!r} selects items itself; it has no scores")
    u = len(inputs.unlabelled)
    out = spec.fn(inputs.for_strategy(spec))
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    s = np.asarray(out, dtype=np.float64)
    if s.shape != (u,):
        raise ValueError(f"strategy {name!r} returned scores of shape {s.shape}; expected ({u},), one per unlabelled item")
    if np.isnan(s).any():
        raise ValueError(f"strategy {name!r} returned NaN scores")
    return s


def rank(name: str, inputs: QueryInputs, budget, rng: np.random.Generator, task: str = "classification") -> np.ndarray:
    """int64 pool indices the strategy wants, best first.

    Classification: at most ``budget`` (an item count) distinct unlabelled indices. Segmentation
    (budget in clicks): score strategies order every unlabelled image; select strategies return
    their own ordering. Score ties are broken at random with ``rng``. A select strategy's answer
    is checked: integers, distinct, unlabelled, and (classification) at most ``budget``.
    """
    spec = get_strategy(name, task)
    unl = np.asarray(inputs.unlabelled, dtype=np.int64)
    if task == "classification":
        k = int(min(int(budget), len(unl)))
        if spec.kind == "score":
            from alkit.strategies.scores import top_k

            return unl[top_k(scores(name, inputs, task), k, rng)]
        return _checked_picks(spec, spec.fn(inputs.for_strategy(spec), k, rng), unl, k)
    if spec.kind == "score":
        s = scores(name, inputs, task)
        return unl[np.lexsort((rng.random(len(s)), -s)).astype(np.int64)]
    return _checked_picks(spec, spec.fn(inputs.for_strategy(spec), budget, rng), unl, None)


def _checked_picks(spec: StrategySpec, picks, unlabelled: np.ndarray, budget: int | None) -> np.ndarray:
    if hasattr(picks, "detach"):
        picks = picks.detach().cpu().numpy()
    p = np.asarray(picks).reshape(-1)
    if p.size and not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"strategy {spec.name!r} must return integer pool indices, got dtype {p.dtype}")
    p = p.astype(np.int64)
    if budget is not None and len(p) > budget:
        raise ValueError(f"strategy {spec.name!r} picked {len(p)} items for a budget of {budget}")
    if len(np.unique(p)) != len(p):
        raise ValueError(f"strategy {spec.name!r} picked some items twice")
    bad = p[~np.isin(p, unlabelled)]
    if len(bad):
        raise ValueError(f"strategy {spec.name!r} picked items that are not unlabelled: {bad[:5].tolist()}")
    return p


# ---------------------------------------------------------------------------------------------
# User files and worker processes
# ---------------------------------------------------------------------------------------------

def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_strategies(path) -> list[str]:
    """Import a user's Python file; the strategies it registers then work everywhere (also in the
    ``spawn`` worker processes of :mod:`alkit.experiments.runner`, which load the file again). Returns the
    names it registered. Loading the same file again re-executes it (its old strategies are
    replaced). Errors are one-line :class:`StrategyFileError` naming the file: missing file, not a
    ``.py`` file, syntax error (with line), an exception while importing, nothing registered."""
    p = Path(path).expanduser()
    if not p.exists():
        raise StrategyFileError(f"strategy file not found: {p}")
    if not p.is_file() or p.suffix != ".py":
        raise StrategyFileError(f"strategy file must be a .py file: {p}")
    p = p.resolve()
    key = str(p)
    try:
        source = p.read_text(encoding="utf-8")
        compile(source, key, "exec")
    except SyntaxError as e:
        raise StrategyFileError(f"{key}:{e.lineno}: syntax error: {_one_line(e.msg)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StrategyFileError(f"cannot read strategy file {key}: {_one_line(e)}") from None
    stem = re.sub(r"\W", "_", p.stem)
    modname = f"alkit_user_strategies.{stem}_{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    previous = {k: s for k, s in _REGISTRY.items() if s.source_file == key}
    for k in previous:
        del _REGISTRY[k]
    engine_data, engine_models = _engine_registries()
    for n in _FILE_PLUGINS.get(key, {}).get("datasets", ()):  # loaded again: its old datasets/models go
        engine_data.unregister_dataset(n)
    for kind, n in _FILE_PLUGINS.get(key, {}).get("models", ()):
        engine_models.unregister_model(n, kind)
    before = set(_REGISTRY)
    before_data, before_models = _plugin_specs(engine_data, engine_models)
    spec = importlib.util.spec_from_file_location(modname, key)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    _LOADING.append(key)
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        for k in set(_REGISTRY) - before:
            del _REGISTRY[k]
        after_data, after_models = _plugin_specs(engine_data, engine_models)
        for n in _changed(before_data, after_data):
            engine_data.unregister_dataset(n)
        for n in _changed(before_models, after_models):
            engine_models.unregister_model(n)
        _REGISTRY.update(previous)
        sys.modules.pop(modname, None)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        where = ""
        tb = e.__traceback__
        while tb is not None:  # the deepest frame in the user's file
            if tb.tb_frame.f_code.co_filename == key:
                where = f":{tb.tb_lineno}"
            tb = tb.tb_next
        raise StrategyFileError(f"{key}{where}: {type(e).__name__} while importing: {_one_line(e)}") from None
    finally:
        _LOADING.pop()
    names = [s.name for k, s in _REGISTRY.items() if s.source_file == key]
    after_data, after_models = _plugin_specs(engine_data, engine_models)
    datasets, models = _changed(before_data, after_data), _changed(before_models, after_models)
    if not names and not datasets and not models:
        _REGISTRY.update(previous)
        sys.modules.pop(modname, None)
        raise StrategyFileError(f"{key} registers no strategy (decorate a function with @register_strategy), "
                                f"dataset (alkit.register_dataset) or model (alkit.register_model)")
    _FILE_PLUGINS[key] = {"datasets": datasets, "models": models}
    _LOADED_FILES.pop(key, None)
    _LOADED_FILES[key] = modname
    return names + datasets + [n for _, n in models]


def _plugin_specs(engine_data, engine_models) -> tuple[dict, dict]:
    """{name: registration} of every dataset and every model now."""
    return ({n: engine_data.dataset_spec(n) for n in engine_data.dataset_names()},
            {(kind, n): engine_models.model_spec(n, kind) for kind in engine_models.KINDS
             for n in engine_models.model_names(kind)})


def _changed(before: dict, after: dict) -> list:
    """The names registered (or registered again) between two snapshots."""
    return [n for n, spec in after.items() if before.get(n) is not spec]


def _engine_registries():
    """The dataset and model registries a plug-in file may add to (imported on first plug-in:
    they import torch, which the strategy registry alone does not need)."""
    from alkit.engine import data, models

    return data, models


load_plugin = load_strategies  # a plug-in file registers strategies, datasets and/or models


def loaded_files() -> tuple[str, ...]:
    """Absolute paths of the strategy files loaded in this process, in load order."""
    return tuple(_LOADED_FILES)


def _unsendable(spec: StrategySpec) -> str | None:
    """Why a worker process could not import ``spec.fn`` (None if it can)."""
    main = sys.modules.get("__main__")
    if getattr(spec.fn, "__module__", None) == "__main__" and getattr(main, "__file__", None) is None \
            and getattr(main, "__spec__", None) is None:
        return (f"strategy {spec.name!r} is defined interactively (a notebook or console), so a worker "
                f"process cannot import it; put it in a .py file and use load_strategies()")
    return None


class _CarriedStrategies:
    """The user strategies a pickled task takes along: the files to load again and the other
    user strategies (pickled by reference: their module is imported in the worker)."""

    def __init__(self):
        self.files = loaded_files()
        self.specs = [s for s in _REGISTRY.values() if not s.builtin and s.source_file is None]

    def __reduce__(self):
        for s in self.specs:
            why = _unsendable(s)
            if why:
                raise pickle.PicklingError(why)
        return _restore_strategies, (self.files, self.specs)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def _restore_strategies(files, specs) -> _CarriedStrategies:
    """Unpickling side of :class:`_CarriedStrategies`: load the files this process lacks and
    register the carried specs (replacing what an import may have registered differently)."""
    for f in files:
        if f not in _LOADED_FILES:
            load_strategies(f)
    for s in specs:
        old = _REGISTRY.get((s.task, s.name))
        if old is None or old.fn is not s.fn:
            _REGISTRY[(s.task, s.name)] = s
    return _CarriedStrategies()


class CarriesStrategies:
    """Mixin for tasks: pickling the task (to send it to a worker) takes the user strategies of this
    process along; unpickling registers them in the worker. Pickling fails (so
    :func:`alkit.experiments.runner.picklable` says no and the run stays in-process) when a user strategy
    cannot be imported by a worker, e.g. one defined in a notebook cell."""

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_user_strategies"] = _CarriedStrategies()
        return state
