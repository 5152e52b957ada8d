"""Every training and budget recipe alkit runs, in one commented place (airbench-style).

A recipe is a plain dict of :class:`alkit.experiment.Experiment` settings. ``paper`` recipes are
the paper's (Sec. 3.2.1-3.2.5 for CIFAR); the embedded ones shrink them so a laptop CPU runs a
notebook in minutes. The notebooks' default parameter cells use these same numbers, so
``alkit evaluate --preset default`` reuses the cycles the notebooks cached (same data, same
recipe: the store key is computed from the resolved settings).
"""

from __future__ import annotations

# --- classification: supervised training per cycle (paper Sec. 3.2.1) --------------------------
SUPERVISED = {
    # CIFAR-10/100, WRN-28-2: SGD lr 0.03, momentum 0.9, wd 5e-4, cosine, batch 64, 150 epochs,
    # fresh initialisation every cycle; ENS-varR trains 5 members.
    "paper": dict(epochs=150, min_steps=0, batch_size=64, lr=0.03, ensemble_size=5),
    # digits (1,257-image pool, small CNN): 40 epochs but at least 400 SGD steps per cycle in the
    # high-budget regime (a few hundred labels are only a few steps per epoch, and augmented
    # training needs the steps: 200 steps made augmentation hurt, 400 help); 200 steps in the
    # low-budget regime (20-80 labels); 3 ensemble members (5 at paper scale) to keep CPU time.
    "digits-high": dict(epochs=40, min_steps=400, batch_size=64, lr=0.03, ensemble_size=3),
    "digits-low": dict(epochs=40, min_steps=200, batch_size=64, lr=0.03, ensemble_size=3),
}

# --- classification: UDA semi-supervised training per cycle (paper Sec. 3.2.3) -----------------
UDA = {
    # 50k iterations, labelled batch 64, unlabelled batch 320 (weak + strong view of each).
    "paper": dict(iterations=50_000, batch_size=64, unlabelled_batch=320, ensemble_size=5),
    # digits: 300 iterations (high) / 200 (low) with an unlabelled batch of 32.
    "digits-high": dict(iterations=300, batch_size=64, unlabelled_batch=32, ensemble_size=3),
    "digits-low": dict(iterations=200, batch_size=64, unlabelled_batch=32, ensemble_size=3),
}

# --- classification budgets: (initial B_i, step B_s, cycles) ----------------------------------
REGIMES = {
    ("cifar10", "high"): (5000, 2500, 6),  # Sec. 3.2.1
    ("cifar100", "high"): (5000, 2500, 6),
    ("cifar10", "low"): (250, 250, 7),  # Sec. 3.2.4
    ("cifar100", "low"): (500, 500, 7),
    # digits: the same shapes shrunk: "high" starts at ~8 % of the pool (100 + 4 x 50), "low" at
    # 2 labels per class (20 + 7 x 20; notebooks run its first 3 cycles).
    ("digits", "high"): (100, 50, 4),
    ("digits", "low"): (20, 20, 7),
}

# Cycles the embedded notebooks actually run per regime (CPU time), None = the regime's own.
DIGITS_CYCLES = {"high": None, "low": 3}
# SSL runs of the high regime stop one cycle earlier on digits (CPU time; notebook 02).
DIGITS_SSL_CYCLES = {"high": 3, "low": 3}


def recipe_key(dataset: str, regime: str) -> str:
    """Which recipe of :data:`SUPERVISED`/:data:`UDA` a (dataset, regime) uses."""
    if dataset == "digits":
        return f"digits-{regime}"
    return "paper"


def regime_budget(dataset: str, regime: str) -> tuple[int, int, int]:
    """(initial, step, cycles) of a named regime ("high" / "low") for a dataset."""
    try:
        return REGIMES[(dataset, regime)]
    except KeyError:
        valid = sorted({r for d, r in REGIMES if d == dataset})
        raise ValueError(f"no regime {regime!r} for {dataset!r}; choose from {', '.join(valid) or 'none'}") from None


def classification_settings(dataset: str, regime: str, *, ssl: str | None = None, augment: str = "paper") -> dict:
    """The full :class:`~alkit.experiment.Experiment` settings of a (dataset, regime, ssl, augment)
    cell as the notebooks and ``alkit evaluate`` run it (budgets, training recipe)."""
    initial, step, cycles = regime_budget(dataset, regime)
    if dataset == "digits":
        override = (DIGITS_SSL_CYCLES if ssl else DIGITS_CYCLES)[regime]
        cycles = override or cycles
    train = dict((UDA if ssl else SUPERVISED)[recipe_key(dataset, regime)])
    return dict(dataset=dataset, regime=regime, initial=initial, step=step, cycles=cycles, augment=augment,
                ssl=ssl, **train)
