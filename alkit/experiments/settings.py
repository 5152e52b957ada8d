"""Every :class:`~alkit.experiments.config.Experiment` setting declared once: its type, help text,
the task kinds it applies to, its choices (read from the registries: datasets, strategies, models,
ssl methods, augmentations, regimes) and its bounds.

:func:`validate` checks one value and returns it normalised, or raises :class:`SettingError`
``(key, message)``. Where the value came from only changes the label in front of the same
message text: the command line prints ``--min-steps must be an integer >= 0, got -1``, a sweep
grid ``grid g.yaml axes.min_steps[1] must be ...``, a notebook or Python ``min_steps must be ...``
(:meth:`SettingError.at`). The ``run`` and ``evaluate`` flags of :mod:`alkit.cli` are generated
from :data:`SETTINGS` (:func:`flag`), the grid keys of :mod:`alkit.experiments.sweep` are its
keys, and :meth:`Experiment.resolved` validates through the same function.

Adding a setting = one :class:`Setting` line here (plus the field of ``Experiment`` and the code
that reads it).

The registries (datasets, models, strategies, augmentations, recipes) are imported inside the
functions that read them, on purpose: the command line builds its parser from these declarations
before anything imports torch (start-up time of ``python -m alkit``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from alkit import checks as C

KINDS = ("classification", "segmentation")
# The semi-supervised trainer of SSL-X runs, per kind of task (paper Sec. 3: UDA, here also FixMatch;
# Sec. 4.3: s4GAN).
SSL_BY_KIND = {"classification": ("uda", "fixmatch"), "segmentation": ("s4gan",)}
_L = "\x00"  # the label placeholder: messages of alkit.checks are rendered once, labelled later


class SettingError(C.UsageError):
    """A bad setting value: ``key`` (the Experiment field) and ``message`` (the text after the label,
    e.g. ``" must be a positive integer, got 0"`` or ``": unknown augmentation 'x' ..."``)."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}{message}")

    def at(self, label: str) -> str:
        """The message labelled ``label`` (``--epochs``, ``grid g.yaml fixed.epochs``, ``epochs``)."""
        return f"{label}{self.message}"


@dataclass(frozen=True)
class Setting:
    """One setting: ``type`` one of int, float, str, bool, names (a strategy list), mapping;
    ``minimum``/``strict``: bounds of numbers (``strict``: ``> minimum``); ``choices(kind,
    settings)``: the valid names (None: any); ``kinds``: the task kinds that read it;
    ``auto``: the string "auto" is also valid; ``none``: ``None`` (the recipe's) is valid;
    ``runtime``: where/how it runs, not what (not in the store key); ``grid``: allowed in a sweep
    grid; ``cli``: generated as a ``run`` flag."""

    key: str
    type: str
    help: str
    kinds: tuple = KINDS
    minimum: float | None = None
    strict: bool = False
    choices: object = None
    auto: bool = False
    none: bool = True
    runtime: bool = False
    grid: bool = True
    cli: bool = True
    metavar: str = "N"
    default: str | None = None  # the default as the command line's help states it (None: the recipe's)


# -- choices, read from the registries -----------------------------------------------------------


def dataset_names() -> tuple:
    """Every registered dataset name (classification first)."""
    from alkit.engine.data import dataset_names as registered

    return registered()


def _strategies(kind, s):
    from alkit.strategies import strategy_names

    return tuple(strategy_names(kind))


def _augment(kind, s):
    from alkit.engine.augment import AUGMENT_NAMES

    return tuple(AUGMENT_NAMES)


def ssl_methods(kind: str) -> tuple:
    """``none`` and the semi-supervised trainers of a kind of task (paper Sec. 3.2.3 / 4.3)."""
    return ("none",) + tuple(SSL_BY_KIND[kind])


def regimes(dataset: str | None) -> tuple:
    """``custom`` and the paper's named budget regimes of ``dataset`` (recipes.REGIMES; a plug-in
    dataset has those of the built-in whose recipe it takes)."""
    from alkit.experiments.recipes import REGIMES

    dataset = recipe_dataset(dataset)
    return ("custom",) + tuple(sorted({r for ds, r in REGIMES if ds == dataset}))


def recipe_dataset(dataset: str | None) -> str | None:
    """The built-in dataset whose recipe ``dataset`` takes (itself for a built-in; the paper's
    ``cifar10`` / ``voc`` for a plug-in that names none or gives a dict)."""
    from alkit.engine.data import dataset_spec

    spec = dataset_spec(dataset)
    if spec is None or spec.builtin:
        return dataset
    if isinstance(spec.recipe, str):
        return spec.recipe
    return "cifar10" if spec.kind == "classification" else "voc"


def model_names(kind: str) -> tuple:
    """The registered models of a kind of task."""
    from alkit.engine.models import model_names as registered

    return registered(kind)


def _labelings(kind, s):
    from alkit.tasks.polygon_segmentation import LABELINGS

    return tuple(LABELINGS)


def _polygon_strategies(kind, s):
    from alkit.tasks.polygon_segmentation import POLYGON_STRATEGIES

    return tuple(POLYGON_STRATEGIES)


C_, S_ = ("classification",), ("segmentation",)

SETTINGS: dict[str, Setting] = {s.key: s for s in [
    Setting("dataset", "str", "a registered dataset (built in: digits | cifar10 | cifar100 | shapes | voc; a --plugin "
            "file's) or the PATH of a segmentation folder", metavar="NAME", none=False, default="digits"),
    Setting("strategies", "names", "comma-separated strategies, each once", choices=_strategies, metavar="A,B,...",
            default="random,entropy,ens-varr,coreset,ll; segmentation: random,entropy,ens-ent,ll"),
    Setting("augment", "str", "data augmentation: none | paper (also weak | strong)", kinds=C_, choices=_augment,
            none=False, metavar="NAME", default="paper"),
    Setting("ssl", "str", "semi-supervised training (SSL-X): none | uda | fixmatch (classification, paper Sec. "
            "3.2.3), none | s4gan (segmentation, Sec. 4.3; enables strategy d-score)",
            choices=lambda kind, s: ssl_methods(kind), metavar="NAME", default="none"),
    Setting("regime", "str", "high | low, the paper's budgets for the dataset; sets --initial/--step (not combined "
            "with them) and the cycles (--cycles may change them)", kinds=C_,
            choices=lambda kind, s: regimes(s.get("dataset")), none=False, metavar="NAME", default="none"),
    Setting("initial", "float", "initial budget B_i: images (classification, an integer) or clicks (segmentation)",
            minimum=0, strict=True),
    Setting("step", "float", "budget per cycle B_s, same units", minimum=0, strict=True),
    Setting("cycles", "int", "query cycles after the initial set", minimum=1),
    Setting("trials", "int", "trials per strategy, or auto: add trials until the claims are decided, at most "
            "--max-trials", minimum=1, auto=True, none=False, metavar="N|auto", default="3"),
    Setting("max_trials", "int", "with --trials auto: at most this many trials per strategy", minimum=3, none=False,
            default="10"),
    Setting("epochs", "int", "supervised epochs per cycle; not with --ssl (paper: 150)", minimum=1),
    Setting("min_steps", "int", "without --ssl: at least this many optimiser steps per cycle", kinds=C_, minimum=0),
    Setting("iterations", "int", "with --ssl: SSL iterations per cycle (paper: 50000 UDA / 10000 s4GAN)", minimum=1),
    Setting("model", "str", "a registered network (built in: wrn-28-2 | resnet18 | small-cnn; segmentation: "
            "small-seg | deeplabv2-resnet101 | deeplabv2-resnet50; a --plugin file's)",
            choices=lambda kind, s: model_names(kind), metavar="NAME", default="by dataset"),
    Setting("seed", "int", "the seed of the initial sets and training", minimum=0, none=False, default="0"),
    Setting("batch_size", "int", "labelled batch size", minimum=1),
    Setting("lr", "float", "learning rate", minimum=0, strict=True, metavar="X"),
    Setting("ensemble_size", "int", "members of an ensemble strategy", minimum=1),
    Setting("unlabelled_batch", "int", "SSL unlabelled batch size", kinds=C_, minimum=1),
    Setting("tolerance", "float", "the annotator's polygon tolerance in pixels", kinds=S_, minimum=0, metavar="PX",
            default="2 on shapes, 10 on VOC/folders"),
    Setting("pretrained", "str", "the backbone's weights", metavar="NAME", cli=False),
    Setting("threshold", "float", "normalised-entropy threshold of Entropy / ENS-ent", kinds=S_, minimum=0,
            metavar="X"),
    Setting("data_options", "mapping", "options of the dataset loader", kinds=S_, none=False, cli=False),
    Setting("preview", "int", "validation images whose predictions every cycle stores", kinds=S_, minimum=0,
            none=False, default="0"),
    Setting("labeling", "str", "image | polygon; polygon = after the initial whole images, random images and "
            "single polygons in them, paper Sec. 4.4.2", kinds=S_, choices=_labelings, none=False, metavar="NAME",
            default="image"),
    Setting("polygon_strategy", "str", "with --labeling polygon: entropy | random, which polygon of a random image "
            "is labelled", kinds=S_, choices=_polygon_strategies, metavar="NAME", default="entropy"),
    Setting("ens_reduce", "str", "ENS-ent: how members' predictions combine: mean-entropy | mean-prob", kinds=S_,
            choices=lambda kind, s: ("mean-entropy", "mean-prob"), metavar="NAME", default="mean-entropy"),
    Setting("data_root", "str", "folder with the datasets", runtime=True, metavar="DIR", cli=False),
    Setting("download", "bool", "download a missing dataset", runtime=True, grid=False, none=False, cli=False),
    Setting("device", "str", "auto | cpu | cuda | cuda:N", runtime=True, metavar="NAME", cli=False),
    Setting("workers", "int", "parallel worker processes", minimum=1, runtime=True, grid=False, cli=False),
]}


def flag(key: str) -> str:
    """The command-line flag of a setting (``min_steps`` -> ``--min-steps``)."""
    return "--" + key.replace("_", "-")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate(key: str, value, kind: str | None = None, settings: dict | None = None, *, text: bool = False):
    """``value`` of setting ``key`` checked and normalised, or :class:`SettingError`.

    ``kind`` (classification / segmentation) narrows the choices (None: the union of both kinds);
    ``settings``: the other settings (the regimes depend on the dataset); ``text``: the value is
    command-line text (numbers given as strings are parsed). ``None`` is returned unchanged for
    settings that take the recipe's value."""
    d = SETTINGS[key]
    settings = settings or {}
    try:
        return _validate(d, value, kind, settings, text)
    except C.UsageError as e:
        if isinstance(e, SettingError):
            raise
        msg = str(e)
        raise SettingError(key, msg[len(_L):] if msg.startswith(_L) else ": " + msg) from None


def _validate(d: Setting, value, kind, settings, text):
    if value is None:
        if d.none:
            return None
        raise C.UsageError(f"{_L} must be given, got None")
    if d.auto and value == "auto":
        return "auto"
    if d.type in ("int", "float"):
        whole = d.type == "int" or (d.key in ("initial", "step") and kind == "classification")  # images
        minimum = d.minimum if not (whole and d.strict) else (d.minimum or 0) + 1
        if not text and not _is_number(value):  # Python/YAML: numbers only, in the command line's words
            raise C.UsageError(f"{_L} must be {_phrase(whole, minimum, d.strict and not whole)}, got {value!r}")
        if whole:
            return C.integer(_L, value, minimum=None if minimum is None else int(minimum))
        return C.number(_L, value, minimum=d.minimum or 0.0, strict=d.strict)
    if d.type == "bool":
        if not isinstance(value, bool):
            raise C.UsageError(f"{_L} must be true or false, got {value!r}")
        return value
    if d.type == "mapping":
        if not isinstance(value, dict):
            raise C.UsageError(f"{_L} must be a mapping (e.g. {{n_train: 100}}), got {value!r}")
        return dict(value)
    if d.type == "names":
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)) or not names:
            raise C.UsageError(f"{_L} must be a strategy name or a list of them, got {value!r}")
        out = []
        for n in names:
            if not isinstance(n, str) or not n.strip():
                raise C.UsageError(f"{_L}: {n!r} is not a strategy name")
            if n.strip() in out:
                raise C.UsageError(f"{_L}: strategy {n.strip()!r} is listed twice")
            out.append(n.strip())
        if kind is not None:
            names = _strategies(kind, settings)
            for n in out:
                C.choice(_L, "strategy", n, names, f" for {kind} datasets")
        return tuple(out)
    # str
    if not isinstance(value, str):
        raise C.UsageError(f"{_L} must be a name, got {value!r}")
    if d.key == "dataset":
        if value in dataset_names():
            return value
        if C.looks_like_path(value) or os.path.isdir(value):
            return str(C.existing_folder(_L, value).resolve())
        return C.choice(_L, "dataset", value, dataset_names(), ", or a folder path")
    if d.key == "ssl":
        return _ssl(value, kind)
    if d.key == "regime" and value != "custom":
        valid = regimes(settings.get("dataset"))[1:]
        dataset = settings.get("dataset")
        if dataset is not None and not valid:
            raise C.UsageError(f"{_L}: {dataset} has no paper regime; give initial/step/cycles")
        if dataset is None:
            return C.choice(_L, "regime", value, ("custom", "high", "low"))
        return C.choice(_L, "regime", value, valid, f" for {dataset}")
    if d.key == "device":
        return C.device(value, 10**6)  # syntax only: a worker's GPUs are checked where it runs
    if d.key == "pretrained" and kind == "classification" and value not in ("default", "none"):
        C.choice(_L, "pretrained source", value, ("none", "glyphs"))
    if d.key == "pretrained" and kind == "segmentation" and value not in ("default", "none"):
        C.choice(_L, "pretrained weights", value, ("none", "imagenet"))
    if d.choices is not None:
        what = {"augment": "augmentation", "polygon_strategy": "polygon strategy"}.get(d.key, d.key.replace("_", " "))
        kinds = (kind,) if kind is not None else d.kinds
        names = tuple(dict.fromkeys(n for k in kinds for n in d.choices(k, settings)))
        extra = f" for {kind} datasets" if kind is not None and len(d.kinds) > 1 else ""
        return C.choice(_L, what, value, names, extra)
    return value


def _phrase(whole: bool, minimum, strict: bool) -> str:
    """What a number must be, worded as :mod:`alkit.checks` words it."""
    if whole:
        return "a positive integer" if minimum == 1 else "an integer" if minimum is None else f"an integer >= {minimum:g}"
    if (minimum or 0) == 0 and strict:
        return "a positive finite number"
    return f"a finite number {'>' if strict else '>='} {minimum or 0:g}"


def _ssl(value: str, kind: str | None):
    """``None`` for "none", else a semi-supervised trainer of ``kind`` (one line naming the kind a
    method belongs to when it is the other kind's)."""
    if value == "none":
        return None
    if kind is None:
        return C.choice(_L, "ssl method", value, tuple(dict.fromkeys(n for k in KINDS for n in ssl_methods(k))))
    valid = ssl_methods(kind)
    if value not in valid:
        other = [k for k in KINDS if value in ssl_methods(k)]
        if other:
            raise C.UsageError(f"{_L}: {value} is for {other[0]} datasets; choose from {', '.join(valid)} "
                               f"for {kind} datasets")
    return C.choice(_L, "ssl method", value, valid, f" for {kind} datasets")


def check_applies(settings: dict, kind: str, given) -> None:
    """:class:`SettingError` for the first key of ``given`` that ``kind`` does not read."""
    for key in given:
        d = SETTINGS.get(key)
        if d is not None and kind not in d.kinds and settings.get(key) is not None:
            raise SettingError(key, f" does not apply to {kind} datasets")


def validate_all(settings: dict, kind: str) -> dict:
    """Every setting of ``settings`` validated for ``kind`` (the first bad one raises
    :class:`SettingError`); returns the normalised settings."""
    out = dict(settings)
    for key, value in settings.items():
        if key in SETTINGS:
            out[key] = validate(key, value, kind if kind in SETTINGS[key].kinds else None, out)
    return out


__all__ = ["Setting", "SETTINGS", "SettingError", "validate", "validate_all", "check_applies", "flag",
           "dataset_names", "ssl_methods", "regimes", "model_names"]
