"""Trials until decisive: run an experiment with a few trials, judge its claims, add trials in
planned rounds until every claim is decided (replicated or contradicted) or a cap is reached.

Looking at the data after each round and stopping when it looks decided is *optional stopping*:
with a fixed-level test at every look the error rates grow with the number of looks. The looks
are therefore planned in advance (:func:`look_schedule`, e.g. n = 5, 7, 10) and every look tests at
the Bonferroni level ``1 - (1 - level) / K`` for K planned looks (a group-sequential design with
Bonferroni boundaries: P(any look errs) <= sum over the looks <= 1 - level, whatever the stopping
rule; Pocock or O'Brien-Fleming boundaries would be less conservative but need the joint
distribution of the looks). The claim tester (:mod:`alkit.analysis.claims`) reads the adjusted
level from ``df.attrs["auto"]``; ``tests/test_claims.py`` simulates the looks on synthetic gaps and
checks both error rates.

Cached trials are reused: trial t of a strategy is the same unit in the results store whatever the
total trial count, so each round trains only the new trials.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from alkit.analysis import stats

DEFAULT_MAX_TRIALS = 10


def look_schedule(first: int = 5, max_trials: int = DEFAULT_MAX_TRIALS) -> list[int]:
    """Planned trial counts of the looks: ``first``, then about half-way to ``max_trials``, then
    ``max_trials`` (e.g. 5, 7, 10; 3, 4, 6 ...). At most three looks: each extra look costs level.
    A cap at or below ``first`` is a single look at the cap (``max_trials=3`` runs 3 trials, not 5)."""
    first, max_trials = int(first), int(max_trials)
    if min(first, max_trials) < stats.MIN_TRIALS:
        raise ValueError(f"first and max_trials must be at least {stats.MIN_TRIALS} trials, got {first} and {max_trials}")
    if max_trials <= first:
        return [max_trials]
    return sorted({first, first + (max_trials - first) // 2, max_trials})


def look_level(level: float, looks: int) -> float:
    """Level of each look's interval under the Bonferroni group-sequential correction."""
    return 1.0 - (1.0 - float(level)) / max(int(looks), 1)


def sequential_outcomes(diffs: np.ndarray, looks, delta: float, quantifier: str = "all",
                        level: float = stats.DEFAULT_LEVEL) -> np.ndarray:
    """Simulate the stopping rule on synthetic paired differences (no training): ``diffs`` of shape
    ``[experiments, parts, max(looks)]``; at each look the first n trials are judged at
    :func:`look_level` by :func:`alkit.analysis.claims.decide`, and an experiment stops at its first
    decided look. Returns the final outcomes (``[experiments]`` strings)."""
    from alkit.analysis.claims import INCONCLUSIVE, decide, part_pvalues

    diffs = np.asarray(diffs, float)
    lv = look_level(level, len(looks))
    a = (1 - lv) / 2
    out = np.full(diffs.shape[0], INCONCLUSIVE, dtype=object)
    open_ = np.ones(diffs.shape[0], bool)
    for n in looks:
        d = diffs[..., :n]
        pp, pn = part_pvalues(d.mean(-1), d.std(-1, ddof=1), n, delta)
        res = decide(quantifier, pp, pn, a)
        newly = open_ & (res != INCONCLUSIVE)
        out[newly] = res[newly]
        open_ &= ~newly
    return out


def _settings_trials(exp):
    t = getattr(exp, "trials", None)
    return t if isinstance(t, int) else None


def run_auto(exp, *, run, claims=None, first: int = 5, max_trials: int = DEFAULT_MAX_TRIALS, time_budget_s=None,
             executor=None, progress: bool = True, **run_kwargs):
    """Run ``exp`` with ``first`` trials (through ``run(exp, **kwargs)``, the function that runs an
    experiment with a whole number of trials: :func:`alkit.experiments.config.run`), judge ``claims`` (default: each strategy beats Random at the
    last cycle, :func:`alkit.analysis.claims.default_claims`) and add trials at the planned looks
    (:func:`look_schedule`) until every claim is decided, ``max_trials`` (``exp.max_trials`` when the
    Experiment has it) is reached or ``time_budget_s`` has passed (a round that would start after
    the budget is not started). ``exp.trials`` may be ``"auto"``.

    Returns the results frame of the last round (pandas, one row per strategy x trial x cycle) with
    ``df.attrs["auto"] = {"looks": planned, "done": [n, ...], "level": per-look level, "stopped": why,
    "verdicts": [...]}``; :func:`alkit.analysis.claims.report` reads the level from it."""
    from alkit.analysis import claims as C

    cap = getattr(exp, "max_trials", None) or max_trials or DEFAULT_MAX_TRIALS
    looks = look_schedule(first, cap)
    lv = look_level(stats.DEFAULT_LEVEL, len(looks))
    t0 = time.perf_counter()
    done, df, stopped, verdicts = [], None, "cap", []
    for i, n in enumerate(looks):
        if i and time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
            stopped = "time budget"
            break
        df = run(dataclasses.replace(exp, trials=n), executor=executor, progress=progress, **run_kwargs)
        done.append(n)
        specs = claims if claims is not None else C.default_claims(df)
        verdicts = [v.row["verdict"] for v in C.evaluate(df, "", claims=specs, level=lv, preset="default")]
        if progress:
            print(f"[alkit] trials={n} (look {i + 1} of {len(looks)}, {100 * lv:.3g} % intervals): "
                  + ", ".join(verdicts), flush=True)
        if all(v in (C.REPLICATED, C.CONTRADICTED) or v.startswith("not tested") for v in verdicts):
            stopped = "decided"
            break
    df.attrs["auto"] = dict(looks=looks, done=done, level=lv, stopped=stopped, verdicts=verdicts)
    return df
