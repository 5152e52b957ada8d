"""Exercises that check themselves: public checks a student runs in the notebook, hidden checks the
teacher runs over a folder of submitted notebooks (``python -m alkit grade DIR`` -> CSV of scores).

Every code exercise of a solution notebook (``notebooks/solutions/NN_*_solutions.ipynb``, the cells
tagged ``solution``) is followed by an untagged cell ``check("NN.k")``. It reads the names the
exercise's solution defines (``margin``, ``spread``, ...) from the notebook's namespace and prints one
line per public check: passed, or what is missing or wrong, in words. The student copies
(:mod:`alkit.teaching`) keep these cells, so a blank copy prints "not done yet: ... is not defined".

* In JupyterLab a failing check only prints (the rest of the notebook still runs).
* In a headless run through alkit's runner (``ALKIT_PRESET`` is set: ``make test`` executes every
  solution notebook) ``check`` also runs the hidden checks and raises on any failure, so CI fails as
  soon as a worked solution stops passing its own checks. ``ALKIT_CHECK_STRICT=0/1`` overrides this.
* :func:`grade` executes each submitted notebook (smoke preset by default, every cell even after an
  error), then runs the public and the hidden checks of its notebook's exercises and writes one CSV
  row per submission (``grades.csv``) and one per check (``grades_detail.csv``).

"Hidden" means not shown in the notebook; the checks live in this module, so a student who reads
alkit's source can find them. Predict-then-run (markdown) answers are free text and not graded.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


class CheckFailed(AssertionError):
    """A check that did not pass; the message says why, in words a student can act on."""


class NotDone(CheckFailed):
    """A name the exercise's solution defines is missing: the exercise has not been done yet."""


@dataclass
class Check:
    text: str  # what is checked, e.g. "margin(probs) matches alkit's margin score"
    fn: Callable[[dict], None]


@dataclass
class Exercise:
    id: str  # "00.2": notebook 00, exercise 2
    title: str
    names: tuple  # what the solution defines and the checks read
    public: list = field(default_factory=list)
    hidden: list = field(default_factory=list)


EXERCISES: dict[str, Exercise] = {}


def exercise(id_: str, title: str, names: tuple):
    ex = EXERCISES.setdefault(id_, Exercise(id_, title, tuple(names)))

    def public(text):
        def deco(fn):
            ex.public.append(Check(text, fn))
            return fn
        return deco

    def hidden(text):
        def deco(fn):
            ex.hidden.append(Check(text, fn))
            return fn
        return deco

    return public, hidden


def need(ns: dict, *names):
    """The values of ``names`` in the namespace ``ns``; a missing one raises :class:`NotDone`."""
    missing = [n for n in names if n not in ns]
    if missing:
        listed = ", ".join(f"`{n}`" for n in missing)
        raise NotDone(f"not done yet: {listed} {'is' if len(missing) == 1 else 'are'} not defined "
                      "(write your solution in the cell above and run it)")
    return [ns[n] for n in names] if len(names) > 1 else ns[names[0]]


def ensure(ok, message: str):
    if not ok:
        raise CheckFailed(message)


def _frame(obj, name, columns=()):
    import pandas as pd

    ensure(isinstance(obj, (pd.DataFrame, pd.Series)), f"`{name}` should be a pandas table, got {type(obj).__name__}")
    if columns:
        have = set(obj.columns) | set(getattr(obj.index, "names", []) or [])
        missing = [c for c in columns if c not in have]
        ensure(not missing, f"`{name}` has no column {', '.join(map(repr, missing))}")
    return obj


def _accuracies(values, name, n=None):
    a = np.asarray(values, dtype=float).ravel()
    ensure(a.size > 0, f"`{name}` is empty")
    if n is not None:
        ensure(a.size == n, f"`{name}` should hold one accuracy per seed ({n}), it holds {a.size}")
    ensure(np.all((a >= 0) & (a <= 1)), f"`{name}` should hold accuracies between 0 and 1 (from `accuracy(m, data)`)")
    return a


def _normalised_entropy(idx, labels, k):
    c = np.bincount(labels[np.asarray(idx, dtype=int)], minlength=k).astype(float)
    p = c[c > 0] / c.sum()
    return float(-(p * np.log(p)).sum() / np.log(k))


def _check_balance(ns):
    balance, labels, k = need(ns, "balance", "labels", "K")
    ensure(callable(balance), "`balance` should be a function of a list of pool indices")
    per_class = [int(np.flatnonzero(labels == c)[0]) for c in range(k) if np.any(labels == c)]
    ensure(abs(balance(per_class) - 1.0) < 1e-6, "`balance` of one image per class should be 1 (perfectly balanced)")
    one = np.flatnonzero(labels == labels[0])[:5]
    ensure(abs(balance(one)) < 1e-6, "`balance` of images of one class only should be 0")


# ---------------------------------------------------------------- 00 quickstart
pub, hid = exercise("00.1", "augmentation off", ("df", "gaps"))


@pub("`gaps` holds Entropy's per-trial gap to Random for augment 'none' and 'paper'")
def _(ns):
    gaps, trials = need(ns, "gaps", "trials")
    ensure(isinstance(gaps, dict) and {"none", "paper"} <= set(gaps), "`gaps` should be a dict with keys 'none' and 'paper'")
    for a in ("none", "paper"):
        ensure(len(gaps[a]) == trials, f"`gaps['{a}']` should hold one gap per trial ({trials}), it holds {len(gaps[a])}")


@hid("the gaps are Entropy minus Random at the last cycle, paired by trial")
def _(ns):
    df, gaps = need(ns, "df", "gaps")
    last = df[df.cycle == df.cycle.max()]
    for a in ("none", "paper"):
        wide = last[last.augment == a].pivot_table(index="trial", columns="strategy", values="accuracy")
        ensure(np.allclose(np.sort(np.asarray(gaps[a], float)), np.sort((wide["entropy"] - wide["random"]).to_numpy())),
               f"`gaps['{a}']` is not Entropy minus Random per trial at the last cycle")


pub, hid = exercise("00.2", "margin by hand", ("margin", "probs"))


@pub("`margin(probs)` gives one score per image, equal to alkit's margin score")
def _(ns):
    from alkit.strategies import scores

    margin, probs = need(ns, "margin", "probs")
    ensure(callable(margin), "`margin` should be a function of the probabilities `p` [n, classes]")
    s = np.asarray(margin(probs), dtype=float)
    ensure(s.shape == (len(probs),), f"`margin(probs)` should give one score per image, shape ({len(probs)},), got {s.shape}")
    ensure(np.allclose(s, scores.margin(probs), atol=1e-6),
           "`margin(probs)` differs from the margin score: -(largest - second largest), highest = queried first")


@hid("margin on hand-made probabilities and two classes")
def _(ns):
    margin = need(ns, "margin")
    p = np.array([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05], [0.34, 0.33, 0.33]])
    ensure(np.allclose(np.asarray(margin(p), float), [-0.2, -0.85, -0.01]), "margin of hand-made rows is wrong")
    ensure(np.allclose(np.asarray(margin(np.array([[0.6, 0.4], [0.5, 0.5]])), float), [-0.2, 0.0]),
           "margin with two classes is wrong")


pub, hid = exercise("00.3", "spread against gap", ("spread",))


@pub("`spread` is the std over trials of the final accuracy, per strategy, in points")
def _(ns):
    spread = _frame(need(ns, "spread"), "spread")
    ensure({"random", "entropy"} <= set(spread.index), "`spread` should be indexed by strategy (random, entropy)")
    ensure(np.all(np.asarray(spread, float) >= 0), "a standard deviation is never negative")


@hid("`spread` matches the std of the last-cycle accuracy with augmentation (x 100)")
def _(ns):
    df, spread = need(ns, "df", "spread")
    last = df[(df.augment == "paper") & (df.cycle == df.cycle.max())]
    want = last.groupby("strategy").accuracy.std() * 100
    ensure(np.allclose(spread.reindex(want.index).to_numpy(float), want.to_numpy()), "`spread` is not std x 100 per strategy")


# ---------------------------------------------------------------- 01 augmentation
pub, hid = exercise("01.1", "how much is flip and crop?", ("df",))


@pub("`df` holds the runs with augment 'none', 'weak' and 'paper'")
def _(ns):
    df = _frame(need(ns, "df"), "df", ("augment", "strategy", "trial", "accuracy"))
    have = set(df.augment)
    ensure({"none", "weak", "paper"} <= have, f"`df` should hold augment none, weak and paper; it holds {sorted(have)}")


@hid("every augmentation has every strategy and trial at the last cycle")
def _(ns):
    df, strategies, trials = need(ns, "df", "strategies", "trials")
    last = df[df.cycle == df.cycle.max()]
    counts = last.groupby(["augment", "strategy"]).trial.nunique()
    ensure(len(counts) == 3 * len(strategies) and (counts == trials).all(), "a (augment, strategy) has missing trials")


pub, hid = exercise("01.2", "every budget, not only the last", ("per_cycle",))


@pub("`per_cycle` has a verdict per augmentation, strategy and cycle")
def _(ns):
    _frame(need(ns, "per_cycle"), "per_cycle", ("augment", "strategy", "cycle", "verdict"))


@hid("`per_cycle` is the Holm-adjusted per-cycle comparison with Random")
def _(ns):
    from alkit.analysis import stats

    df, per_cycle = need(ns, "df", "per_cycle")
    want = stats.compare_to_reference(df, by=["augment"], at="cycle")
    key = ["augment", "strategy", "cycle"]
    a = per_cycle.set_index(key).verdict.sort_index()
    b = want.set_index(key).verdict.sort_index()
    ensure(a.index.equals(b.index) and (a == b).all(), "`per_cycle` differs from compare_to_reference(..., at='cycle')")


# ---------------------------------------------------------------- 02 SSL vs AL
pub, hid = exercise("02.1", "starve SSL again", ("sup", "old", "new"))


@pub("`sup`, `old` and `new` hold one test accuracy per seed")
def _(ns):
    seeds = need(ns, "seeds")
    for n in ("sup", "old", "new"):
        _accuracies(need(ns, n), n, seeds)


@hid("the old and the default UDA schedules are different runs")
def _(ns):
    old, new = need(ns, "old", "new")
    ensure(not np.array_equal(np.asarray(old), np.asarray(new)) or len(old) == 0, "`old` and `new` are the same run")


pub, hid = exercise("02.2", "UDA's confidence mask", ("hist",))


@pub("`hist` is UDA's training history, with a mask fraction per entry")
def _(ns):
    hist = need(ns, "hist")
    ensure(isinstance(hist, list) and hist, "`hist` should be the (non-empty) list passed as `history=` to train_uda")
    ensure(all("mask" in h for h in hist), "every entry of `hist` should have a 'mask' fraction")


@hid("mask fractions lie between 0 and 1")
def _(ns):
    hist = need(ns, "hist")
    ensure(all(0 <= h["mask"] <= 1 for h in hist), "a mask fraction outside [0, 1]")


pub, hid = exercise("02.3", "FixMatch's threshold", ("acc",))


@pub("`acc` maps the thresholds 0.95 and 0.8 to one accuracy per seed")
def _(ns):
    acc, seeds = need(ns, "acc", "seeds")
    ensure(isinstance(acc, dict) and {0.95, 0.8} <= set(acc), "`acc` should be a dict with keys 0.95 and 0.8")
    for th in (0.95, 0.8):
        _accuracies(acc[th], f"acc[{th}]", seeds)


@hid("the two thresholds give separate runs of the same seeds")
def _(ns):
    acc = need(ns, "acc")
    ensure(len(acc[0.95]) == len(acc[0.8]), "both thresholds need the same seeds (paired)")


# ---------------------------------------------------------------- 03 low budget
pub, hid = exercise("03.1", "whom does Entropy pick first?", ("balance", "first"))


@pub("`balance(idx)` is 1 for one image per class and 0 for a single class")
def _(ns):
    _check_balance(ns)


@hid("`first` holds the cycle-1 picks with their balance")
def _(ns):
    first, labels, k = need(ns, "first", "labels", "K")
    _frame(first, "first", ("selected", "balance", "strategy", "trial"))
    ensure((first.cycle == 1).all(), "`first` should hold cycle 1 only")
    row = first.iloc[0]
    ensure(abs(row.balance - _normalised_entropy(row.selected, labels, k)) < 1e-6, "`first.balance` is not the normalised class entropy")


pub, hid = exercise("03.2", "spread out or clustered?", ("xy", "spread"))


@pub("`spread` has the mean pairwise map distance `dist` of each trial's cycle-1 picks")
def _(ns):
    xy, spread = need(ns, "xy", "spread")
    ensure(np.asarray(xy).ndim == 2 and np.asarray(xy).shape[1] == 2, "`xy` should be the [N, 2] pool map")
    _frame(spread, "spread", ("dist", "strategy", "trial"))
    ensure((spread.dist >= 0).all(), "a distance is never negative")


@hid("`dist` is the mean pairwise distance on the map")
def _(ns):
    from scipy.spatial.distance import pdist

    xy, spread = need(ns, "xy", "spread")
    row = spread.iloc[0]
    ensure(abs(row.dist - pdist(np.asarray(xy)[np.asarray(row.selected, dtype=int)]).mean()) < 1e-6,
           "`dist` is not the mean pairwise distance of the picks on the map")


# ---------------------------------------------------------------- 04 transfer learning
pub, hid = exercise("04.1", "how much does the source matter?", ("acc",))


@pub("`acc` maps scratch, small source and full source to one accuracy per seed")
def _(ns):
    acc, seeds = need(ns, "acc", "seeds")
    keys = {"scratch", "small source", "full source"}
    ensure(isinstance(acc, dict) and keys <= set(acc), f"`acc` should be a dict with keys {sorted(keys)}")
    for k in keys:
        _accuracies(acc[k], f"acc['{k}']", seeds)


@hid("`small` is a backbone pre-trained on the small glyph source")
def _(ns):
    small = need(ns, "small")
    ensure(hasattr(small, "keys") and len(small) > 0, "`small` should be the state dict of glyph_backbone(...)")


pub, hid = exercise("04.2", "combine the two", ("both", "ssl_only"))


@pub("`both` and `ssl_only` hold one accuracy per seed")
def _(ns):
    seeds = need(ns, "seeds")
    for n in ("both", "ssl_only"):
        _accuracies(need(ns, n), n, seeds)


@hid("pre-trained + SSL and SSL alone are different runs")
def _(ns):
    both, ssl_only = need(ns, "both", "ssl_only")
    ensure(len(both) == len(ssl_only), "the two recipes need the same seeds (paired)")


# ---------------------------------------------------------------- 05 annotation cost
pub, hid = exercise("05.1", "which class is most expensive?", ("objects", "per_class"))


@pub("`per_class` has the mean clicks per object of each class, most expensive first")
def _(ns):
    per_class = _frame(need(ns, "per_class"), "per_class", ("mean",))
    ensure(per_class["mean"].is_monotonic_decreasing, "`per_class` should be sorted by mean clicks, largest first")


@hid("`objects` holds every polygon of the pool and `per_class` its means")
def _(ns):
    from alkit.protocol.annotation import mask_to_polygons

    objects, per_class, data, masks, tol = need(ns, "objects", "per_class", "data", "masks", "chosen_tolerance")
    polys = mask_to_polygons(masks[0], tol, background=data.background)
    ensure(len(objects) >= len(polys) and sum(p.clicks for p in polys) == objects[objects.image == 0].clicks.sum(),
           "`objects` does not hold the polygons of image 0 at the chosen tolerance")
    want = objects.groupby("cls").clicks.mean()
    ensure(np.allclose(per_class["mean"].reindex(want.index).to_numpy(float), want.to_numpy()), "wrong means per class")


pub, hid = exercise("05.2", "clicks spent on holes", ("total", "in_holes"))


@pub("`in_holes` and `total` count the clicks (on holes, in all) at a tolerance")
def _(ns):
    total, in_holes = need(ns, "total", "in_holes")
    ensure(int(total) > 0 and 0 <= int(in_holes) <= int(total), "need 0 <= in_holes <= total and total > 0")


@hid("the counts are those of the largest tolerance (the loop's last)")
def _(ns):
    from alkit.protocol.annotation import mask_to_polygons

    total, in_holes, masks, data, tols = need(ns, "total", "in_holes", "masks", "data", "tolerances")
    tol = max(float(t) for t in tols)
    polys = [p for m in masks for p in mask_to_polygons(m, tol, background=data.background)]
    ensure(total == sum(p.clicks for p in polys), "`total` is not the clicks of all polygons")
    ensure(in_holes == sum(len(h) for p in polys for h in p.holes), "`in_holes` is not the vertices of all holes")


# ---------------------------------------------------------------- 06 segmentation AL
pub, hid = exercise("06.1", "what does a strategy buy with its clicks?", ("per_trial",))


@pub("`per_trial` has images and clicks per image for every strategy and trial")
def _(ns):
    per_trial, strategies, trials = need(ns, "per_trial", "strategies", "trials")
    _frame(per_trial, "per_trial", ("strategy", "trial", "images", "clicks_per_image"))
    ensure(len(per_trial) == len(strategies) * trials, "`per_trial` should have one row per (strategy, trial)")


@hid("clicks per image are the pool costs of the bought images")
def _(ns):
    df, costs, per_trial = need(ns, "df", "costs", "per_trial")
    row = df[df.cycle > 0].iloc[0]
    want = costs[np.asarray(row.selected, dtype=int)].mean()
    got = per_trial[(per_trial.strategy == row.strategy) & (per_trial.trial == row.trial)].clicks_per_image.iloc[0]
    ensure(np.isfinite(got) and got > 0, "clicks per image should be positive")
    ensure(df[(df.cycle > 0) & (df.strategy == row.strategy) & (df.trial == row.trial)].shape[0] > 1 or abs(got - want) < 1e-6,
           "`clicks_per_image` is not the mean pool cost of the bought images")


pub, hid = exercise("06.2", "cheaper labels, more images?", ("clicks",))


@pub("`clicks` holds the clicks of every pool image (at the last tolerance of the loop)")
def _(ns):
    clicks, masks = need(ns, "clicks", "masks")
    ensure(len(clicks) == len(masks), "`clicks` should hold one count per pool image (`annotate_many`)")


@hid("the coarser annotator needs fewer clicks per image")
def _(ns):
    from alkit.protocol.annotation import annotate_many

    clicks, masks, task, tol = need(ns, "clicks", "masks", "task", "tolerance")
    _, fine = annotate_many(masks, tol, background=task.data.background)
    ensure(np.mean(clicks) <= np.mean(fine), "`clicks` (coarse tolerance) should not exceed the fine tolerance's")


# ---------------------------------------------------------------- 07 segmentation SSL
pub, hid = exercise("07.1", "how much does the unlabelled pool buy?", ("both", "table"))


@pub("`both` holds Random and s4GAN runs with `iterations` and twice as many")
def _(ns):
    both, it = need(ns, "both", "iterations")
    _frame(both, "both", ("strategy", "miou"))
    want = {"random", f"ssl-{it}", f"ssl-{2 * it}"}
    ensure(want <= set(both.strategy), f"`both` should hold strategies {sorted(want)}")


@hid("`table` compares both schedules with Random")
def _(ns):
    table, it = need(ns, "table", "iterations")
    ensure({f"ssl-{it}", f"ssl-{2 * it}"} <= set(table.strategy), "`table` lacks a schedule")


pub, hid = exercise("07.2", "is the discriminator a good critic?", ("scores", "ious", "rho"))


@pub("`rho` is a rank correlation of the D scores `scores` with the image mIoUs `ious`")
def _(ns):
    scores, ious, rho = need(ns, "scores", "ious", "rho")
    ensure(len(scores) == len(ious) > 2, "`scores` and `ious` should have one value per validation image")
    ensure(np.isnan(rho) or -1 <= rho <= 1, "a correlation lies between -1 and 1")


@hid("`rho` is Spearman's rho of scores and ious")
def _(ns):
    from scipy.stats import spearmanr

    scores, ious, rho = need(ns, "scores", "ious", "rho")
    want = spearmanr(scores, ious)[0]
    ensure((np.isnan(rho) and np.isnan(want)) or abs(rho - want) < 1e-6, "`rho` is not Spearman's rank correlation")


pub, hid = exercise("07.3", "polygons or whole images?", ("rows",))


@pub("`rows` holds one comparison table per tolerance")
def _(ns):
    rows = need(ns, "rows")
    ensure(isinstance(rows, list) and len(rows) == 2, "`rows` should be a list of two tables (tolerance 2 and 4)")


@hid("the tables are at tolerance 2 and 4")
def _(ns):
    rows = need(ns, "rows")
    ensure(sorted(float(r.tolerance.iloc[0]) for r in rows) == [2.0, 4.0], "tolerances should be 2 and 4")


# ---------------------------------------------------------------- 08 your strategy
pub, hid = exercise("08.1", "least confidence", ("df", "table"))


@pub("`table` compares a margin and a least-confidence strategy with Random (AUBC)")
def _(ns):
    table = _frame(need(ns, "table"), "table", ("strategy", "verdict"))
    names = set(table.strategy)
    ensure(any("margin" in s for s in names) and any("least-confidence" in s for s in names),
           f"`table` should compare a margin and a least-confidence strategy with Random; it has {sorted(names)}")


@hid("the least-confidence strategy scores 1 - max p")
def _(ns):
    from types import SimpleNamespace

    from alkit.strategies.base import _REGISTRY

    df = need(ns, "df")
    name = next((s for s in set(df.strategy) if "least-confidence" in s), None)
    ensure(name is not None, "no least-confidence run in `df`")
    spec = _REGISTRY.get(("classification", name))
    ensure(spec is not None and spec.kind == "score", f"strategy {name!r} should be a registered score strategy")
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    s = np.asarray(spec.fn(SimpleNamespace(probs=probs, unlabelled=np.arange(2))), float)
    ensure(np.allclose(s, [0.3, 0.6]), "least confidence should score 1 - max_k p_k")


pub, hid = exercise("08.2", "class balance", ("balance", "wide"))


@pub("`balance(idx)` is 1 for one image per class and 0 for a single class; `wide` compares the balance")
def _(ns):
    _check_balance(ns)
    wide = _frame(need(ns, "wide"), "wide")
    ensure(any("balanced" in str(c) for c in wide.columns), "`wide` should have a column of your balanced strategy")


@hid("the balanced strategy queries `step` distinct images per cycle")
def _(ns):
    df, step = need(ns, "df", "step")
    name = next((s for s in set(df.strategy) if "balanced" in s), None)
    ensure(name is not None, "no balanced strategy in `df`")
    for sel in df[(df.strategy == name) & (df.cycle > 0)].selected:
        sel = np.asarray(sel, dtype=int)
        ensure(len(sel) == step and len(set(sel.tolist())) == step, "each query should pick `step` distinct images")


# ---------------------------------------------------------------- 09 why AL fails
pub, hid = exercise("09.1", "class imbalance by hand", ("mine",))


@pub("`mine` is a total-variation distance (between 0 and 1)")
def _(ns):
    mine = need(ns, "mine")
    ensure(0 <= float(mine) <= 1, "a total-variation distance lies between 0 and 1")


@hid("`mine` equals the table's `tv` of Entropy, trial 0, last cycle")
def _(ns):
    mine, table = need(ns, "mine", "table")
    first = table[(table.setting == table.setting.iloc[0]) & (table.strategy == "entropy") & (table.trial == 0)]
    ensure(abs(float(mine) - first.sort_values("cycle").tv.iloc[-1]) < 1e-6, "`mine` differs from the table's tv")


pub, hid = exercise("09.2", "predict, then split by budget", ("regime",))


@pub("the loop ran over the budget regimes (`regime` is set)")
def _(ns):
    regime, table = need(ns, "regime", "table")
    ensure(regime in set(table.regime), f"`regime` should be one of the table's regimes {sorted(set(table.regime))}")


@hid("the loop covered every regime (ended on the last one)")
def _(ns):
    regime, table = need(ns, "regime", "table")
    ensure(regime == sorted(table.regime.unique())[-1], "the loop should run over every regime")


# ---------------------------------------------------------------- running checks
@dataclass
class Outcome:
    exercise: str
    check: str
    kind: str  # public | hidden
    passed: bool
    message: str = ""


def run_checks(exercise_id: str, ns: dict, hidden: bool = False) -> list[Outcome]:
    """Run the public (and, with ``hidden``, the hidden) checks of one exercise on namespace ``ns``.
    Once a name is missing, the remaining checks of the exercise fail with the same message."""
    ex = EXERCISES[exercise_id]
    out = []
    for kind, checks in (("public", ex.public), ("hidden", ex.hidden if hidden else [])):
        for c in checks:
            try:
                c.fn(ns)
                out.append(Outcome(ex.id, c.text, kind, True))
            except CheckFailed as e:
                out.append(Outcome(ex.id, c.text, kind, False, str(e)))
            except Exception as e:  # a wrong type or shape: say what went wrong, no traceback
                out.append(Outcome(ex.id, c.text, kind, False, f"{type(e).__name__}: {e}"))
    return out


def _strict() -> bool:
    v = os.environ.get("ALKIT_CHECK_STRICT")
    if v is not None:
        return v not in ("", "0", "false", "no")
    return bool(os.environ.get("ALKIT_PRESET"))


class CheckResult:
    """What :func:`check` returns: ``passed`` (bool), ``outcomes``; shown as the printed lines."""

    def __init__(self, ex: Exercise, outcomes: list[Outcome]):
        self.exercise, self.outcomes = ex, outcomes
        public = [o for o in outcomes if o.kind == "public"]
        self.passed = all(o.passed for o in public)
        self.lines = [f"Exercise {ex.id} ({ex.title}): {sum(o.passed for o in public)} of {len(public)} checks passed"]
        self.lines += [f"  {'ok  ' if o.passed else 'FAIL'} {o.check}" + ("" if o.passed else f"\n       -> {o.message}")
                       for o in public]

    def __str__(self):
        return "\n".join(self.lines)

    def __bool__(self):
        return self.passed


def check(exercise_id: str, ns: dict | None = None) -> CheckResult:
    """Check exercise ``exercise_id`` ("00.2") against the notebook's namespace (the caller's globals
    unless ``ns`` is given): prints one line per public check. In a headless run (``ALKIT_PRESET``
    set, or ``ALKIT_CHECK_STRICT=1``) the hidden checks run too, and any failure raises
    :class:`CheckFailed`."""
    if exercise_id not in EXERCISES:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(sorted(EXERCISES))}")
    ns = sys._getframe(1).f_globals if ns is None else ns
    strict = _strict()
    outcomes = run_checks(exercise_id, ns, hidden=strict)
    result = CheckResult(EXERCISES[exercise_id], outcomes)
    print(result)
    failed = [o for o in outcomes if not o.passed]
    if strict and failed:
        raise CheckFailed(f"exercise {exercise_id}: " + "; ".join(f"{o.kind} check '{o.check}': {o.message}" for o in failed))
    return result


def exercises_of(notebook: str) -> list[str]:
    """Exercise ids of notebook ``notebook`` ("00" or "00_quickstart...")."""
    nn = str(notebook)[:2]
    return sorted(k for k in EXERCISES if k.startswith(nn + "."))


# ---------------------------------------------------------------- grading a folder
_GRADE_CELL = """\
import json as _json
from alkit.grading import run_checks as _run_checks
_outcomes = [o.__dict__ for _e in {ids!r} for o in _run_checks(_e, globals(), hidden=True)]
open({path!r}, "w").write(_json.dumps(_outcomes))
"""


def notebook_number(path: Path, nb) -> str | None:
    """The course notebook a submission answers: the solution notebook's metadata ``alkit.exercises``
    (kept by the student copies), else the file name's leading ``NN_``."""
    meta = nb.metadata.get("alkit", {}).get("exercises")
    if meta:
        return str(meta)
    m = re.search(r"(?:^|[^0-9])(\d\d)_[a-z]", path.name)
    return m.group(1) if m else None


def _canonical(number: str) -> Path | None:
    from alkit.experiments.reproduce import NOTEBOOKS_DIR

    found = sorted((NOTEBOOKS_DIR / "solutions").glob(f"{number}_*_solutions.ipynb"))
    return found[0] if found else None


def _with_parameters(nb, params: dict):
    import nbformat

    if not params:
        return nb
    idx = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), -1)
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()),
                                     metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(idx + 1, cell)
    return nb


def grade_notebook(path: Path, preset: str = "smoke", executed_dir: Path | None = None,
                   timeout: int = 900) -> tuple[str | None, list[Outcome], int]:
    """Execute one submission (every cell, also after an error) with its solution notebook's
    ``preset`` parameters and the working folder ``notebooks/solutions``, then run the public and
    hidden checks of its exercises. Returns (notebook number, outcomes, cells that raised)."""
    import tempfile

    import nbformat
    from nbclient import NotebookClient

    from alkit.experiments.notebook_files import preset_parameters
    from alkit.experiments.reproduce import _env, _ipc_kernels
    from alkit.paths import outputs_dir

    nb = nbformat.read(path, as_version=4)
    number = notebook_number(path, nb)
    ids = exercises_of(number) if number else []
    if not ids:
        return number, [], 0
    canonical = _canonical(number)
    params = preset_parameters(canonical, preset) if canonical is not None else {}
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    _with_parameters(nb, params)
    with tempfile.TemporaryDirectory(prefix="alkit-grade-") as tmp:
        result_file = str(Path(tmp) / "outcomes.json")
        nb.cells.append(nbformat.v4.new_code_cell(_GRADE_CELL.format(ids=ids, path=result_file)))
        cwd = canonical.parent if canonical is not None else path.parent
        with _env("ALKIT_PRESET", preset), _env("ALKIT_CHECK_STRICT", "0"), \
                _env("ALKIT_OUTPUTS", str(outputs_dir().resolve())), _ipc_kernels() as manager:
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                    kernel_manager_class=manager, resources={"metadata": {"path": str(cwd)}})
            client.execute()
        errors = sum(1 for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "error")
        if Path(result_file).exists():
            outcomes = [Outcome(**o) for o in json.loads(Path(result_file).read_text())]
        else:  # the grading cell itself could not run
            outcomes = [Outcome(e, c.text, kind, False, "the notebook could not be checked")
                        for e in ids for kind, cs in (("public", EXERCISES[e].public), ("hidden", EXERCISES[e].hidden))
                        for c in cs]
    if executed_dir is not None:
        executed_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, executed_dir / path.name)
    return number, outcomes, errors


def submissions(folder: Path) -> list[Path]:
    """Every ``*.ipynb`` under ``folder``, except checkpoints and folders starting with '.' or '_'."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*.ipynb")
                  if not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts[:-1]))


SUMMARY_FIELDS = ["submission", "notebook", "score", "max_score", "public", "public_max", "hidden", "hidden_max",
                  "cells_with_errors"]
DETAIL_FIELDS = ["submission", "notebook", "exercise", "kind", "check", "passed", "message"]


def grade(folder, out: str | Path | None = None, preset: str = "smoke", progress: bool = True) -> list[dict]:
    """Grade every notebook under ``folder``: write ``out`` (default ``folder/grades.csv``, one row per
    submission: score = passed checks, public and hidden) and ``grades_detail.csv`` beside it (one row
    per check, with the message of a failed one); executed copies go to ``_executed/`` beside it.
    Returns the summary rows."""
    folder = Path(folder)
    out = Path(out) if out else folder / "grades.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, detail = [], []
    for path in submissions(folder):
        rel = path.relative_to(folder).as_posix()
        if progress:
            print(f"[alkit] grading {rel} ...", flush=True)
        executed = out.parent / "_executed" / Path(rel).parent
        number, outcomes, errors = grade_notebook(path, preset=preset, executed_dir=executed)
        pub = [o for o in outcomes if o.kind == "public"]
        hid = [o for o in outcomes if o.kind == "hidden"]
        row = dict(submission=rel, notebook=number or "", score=sum(o.passed for o in outcomes), max_score=len(outcomes),
                   public=sum(o.passed for o in pub), public_max=len(pub), hidden=sum(o.passed for o in hid),
                   hidden_max=len(hid), cells_with_errors=errors)
        rows.append(row)
        detail += [dict(submission=rel, notebook=number, exercise=o.exercise, kind=o.kind, check=o.check,
                        passed=int(o.passed), message=o.message) for o in outcomes]
        if progress:
            print(f"[alkit]   {row['score']} of {row['max_score']} checks passed", flush=True)
    for target, fields, data in ((out, SUMMARY_FIELDS, rows), (out.with_name(out.stem + "_detail.csv"), DETAIL_FIELDS, detail)):
        with open(target, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(data)
    return rows
