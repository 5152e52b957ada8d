"""Results store: one JSON file per finished active-learning cycle, written atomically.

Layout: ``<root>/<slug>-<key>/config.json`` and ``.../trial<T>/cycle<CC>.json`` where ``key`` is a
hash of the run's config, which must include the data fingerprint (``"data"``, see
:func:`alkit.experiments.fingerprint.data_fingerprint`) and to which the store adds ``"recipe_version"``
(:data:`alkit.experiments.fingerprint.RECIPE_VERSION`). A finished cycle is never recomputed; a run killed
mid-way resumes from its last finished cycle; a cycle file that fails validation is reported,
moved aside (``.bad``) and recomputed. Plotting reads only saved results.

Every file here is written through a temp file in the same folder (named with the writer's host
and PID), fsynced, then renamed over the final name: a reader sees the old file or the complete
new one, never half of one. Temp files of writers that died are removed by :func:`clean_orphans`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from alkit.experiments import fingerprint

# Atomic writes live in alkit.io (the lowest layer); re-exported here for older imports.
from alkit.io import (atomic_open, atomic_write_bytes, atomic_write_csv, atomic_write_json,  # noqa: E402,F401
                      atomic_write_text, clean_orphans, commit_temp, temp_path)

# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


def config_key(config: dict) -> str:
    """Stable 10-hex-digit hash of a JSON-able config dict (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


# The range of every metric a task reports (a cached value outside it is a damaged file).
METRIC_RANGES = {"accuracy": (0.0, 1.0), "miou": (0.0, 1.0)}


class CorruptCycle(ValueError):
    """A saved cycle file that fails validation (the message says why)."""


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _int_list(blob: dict, key: str) -> np.ndarray:
    vals = blob[key]
    if not isinstance(vals, list):
        raise CorruptCycle(f"{key} is not a list")
    if not all(type(v) is int for v in vals):
        raise CorruptCycle(f"{key} has a non-integer value")
    return np.asarray(vals, dtype=np.int64)


def validate_cycle(blob, trial: int, cycle: int, *, pool_size: int | None = None,
                   metric: str | None = None) -> tuple[dict, np.ndarray, np.ndarray]:
    """(record, labelled_at, queried) of a parsed cycle file, or :class:`CorruptCycle` saying what
    is wrong. ``pool_size`` / ``metric`` checks are skipped when None (see :meth:`RunStore.load_cycle`)."""
    if not isinstance(blob, dict):
        raise CorruptCycle("not a JSON object")
    for k in ("record", "labelled_at", "queried"):
        if k not in blob:
            raise CorruptCycle(f"missing key {k!r}")
    record = blob["record"]
    if not isinstance(record, dict):
        raise CorruptCycle("record is not an object")
    for k in ("trial", "cycle", "strategy", "n_labelled") + ((metric,) if metric is not None else ()):
        if k not in record:
            raise CorruptCycle(f"record has no {k!r}")
    if not _is_int(record["trial"]) or record["trial"] != trial:
        raise CorruptCycle(f"record is for trial {record['trial']!r}, expected {trial}")
    if not _is_int(record["cycle"]) or record["cycle"] != cycle:
        raise CorruptCycle(f"record is for cycle {record['cycle']!r}, expected {cycle}")
    if metric is not None:
        m = record[metric]
        if not isinstance(m, (int, float)) or isinstance(m, bool):
            raise CorruptCycle(f"{metric} is not a number ({m!r})")
        if not math.isfinite(m):
            raise CorruptCycle(f"{metric} is {'NaN' if math.isnan(m) else 'infinite'}")
    for name, (low, high) in METRIC_RANGES.items():
        m = record.get(name)
        if isinstance(m, (int, float)) and not isinstance(m, bool) and not low <= m <= high:
            raise CorruptCycle(f"{name} is {m!r}, outside its range [{low:g}, {high:g}]")
    labelled_at = _int_list(blob, "labelled_at")
    queried = _int_list(blob, "queried")
    n = len(labelled_at)
    if pool_size is not None and n != pool_size:
        raise CorruptCycle(f"labelled_at has {n} entries, the pool has {pool_size}")
    if n and (labelled_at.min() < -1 or labelled_at.max() > cycle + 1):
        raise CorruptCycle(f"labelled_at has values outside [-1, {cycle + 1}]")
    if len(queried) and (queried.min() < 0 or queried.max() >= n):
        raise CorruptCycle(f"queried index out of range [0, {n})")
    if len(np.unique(queried)) != len(queried):
        raise CorruptCycle("queried has a duplicate index")
    if set(queried.tolist()) != set(np.flatnonzero(labelled_at == cycle + 1).tolist()):
        raise CorruptCycle(f"queried differs from the items labelled at cycle {cycle + 1}")
    n_lab = int(np.count_nonzero((labelled_at >= 0) & (labelled_at <= cycle)))
    if not _is_int(record["n_labelled"]) or record["n_labelled"] != n_lab:
        raise CorruptCycle(f"n_labelled is {record['n_labelled']!r} but {n_lab} items are labelled")
    sel = record.get("selected")
    if sel is not None:
        if not isinstance(sel, list) or not all(type(v) is int for v in sel):
            raise CorruptCycle("selected is not a list of integers")
        if sorted(sel) != np.flatnonzero(labelled_at == cycle).tolist():
            raise CorruptCycle(f"selected differs from the items labelled at cycle {cycle}")
    return record, labelled_at, queried


def _set_aside(p: Path) -> Path | None:
    """Rename ``p`` to ``p.bad`` (``p.bad.1``, ... if taken); None if it cannot be moved."""
    for i in range(1000):
        bad = p.with_name(p.name + (".bad" if i == 0 else f".bad.{i}"))
        if bad.exists():
            continue
        try:
            os.rename(p, bad)
            return bad
        except FileNotFoundError:
            return None  # someone else moved it already
        except OSError:
            continue
    return None


class RunStore:
    """Saved cycles of one run config (all its trials).

    ``config`` must hold the data fingerprint under ``"data"`` (:func:`alkit.experiments.fingerprint.data_fingerprint`
    of the loaded dataset), else ``ValueError``; the store adds ``"recipe_version"``. Both are part
    of the key, so other data or another training recipe never reuses these cycles.
    """

    def __init__(self, root: Path, config: dict):
        if "data" not in config:
            raise ValueError("store config needs the data fingerprint ('data')")
        self.config = dict(config)
        self.config["recipe_version"] = fingerprint.RECIPE_VERSION
        self.key = config_key(self.config)
        slug = "-".join(str(self.config.get(k)) for k in ("dataset", "strategy", "augment", "ssl") if self.config.get(k))
        self.dir = Path(root) / f"{slug}-{self.key}"
        clean_orphans(self.dir)
        cfg_file = self.dir / "config.json"
        try:
            ok = json.loads(cfg_file.read_text(encoding="utf-8")) == json.loads(json.dumps(self.config, default=str))
        except (OSError, ValueError):
            ok = False
        if not ok:
            atomic_write_json(cfg_file, json.loads(json.dumps(self.config, default=str)))

    def _path(self, trial: int, cycle: int) -> Path:
        return self.dir / f"trial{trial}" / f"cycle{cycle:02d}.json"

    def has_cycle(self, trial: int, cycle: int) -> bool:
        """Whether a file for this cycle exists (it is validated only when loaded)."""
        return self._path(trial, cycle).is_file()

    def save_cycle(self, trial: int, cycle: int, record: dict, labelled_at: np.ndarray, queried=()) -> None:
        """Persist a finished cycle: its record, the pool state after its query and the queried
        items in the order they were picked (they become the next cycle's ``selected``)."""
        blob = {"record": record, "labelled_at": np.asarray(labelled_at).tolist(), "queried": [int(i) for i in queried]}
        atomic_write_json(self._path(trial, cycle), blob)

    def load_cycle(self, trial: int, cycle: int, *, pool_size: int | None = None,
                   metric: str | None = None) -> tuple[dict, np.ndarray, np.ndarray] | None:
        """(record, labelled_at, queried) of a finished cycle, or None if it must be (re)computed.

        Callers must pass ``pool_size`` (number of pool items) and ``metric`` (the record field of
        the test metric, e.g. "accuracy"); None skips those checks and exists only for old callers.
        A missing file gives None silently. A file that is not valid JSON, lacks a key, belongs to
        another trial/cycle, has a pool state of the wrong size or with impossible values, a
        queried index out of range, repeated or not marked labelled at ``cycle + 1``, a non-finite
        metric or an ``n_labelled`` that disagrees with the pool state is reported in one line on
        stderr, renamed to ``<file>.bad`` (``.bad.1``, ...) and gives None, so the loop recomputes
        it and every later cycle.
        """
        p = self._path(trial, cycle)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            return self._reject(p, f"unreadable: {e.strerror or e}")
        try:
            blob = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return self._reject(p, "not UTF-8 text")
        except json.JSONDecodeError as e:
            if not raw.strip():
                return self._reject(p, "empty file")
            return self._reject(p, f"invalid JSON: {e.msg} at byte {e.pos} of {len(raw)}")
        except (ValueError, RecursionError) as e:
            return self._reject(p, f"invalid JSON: {e}")
        try:
            return validate_cycle(blob, trial, cycle, pool_size=pool_size, metric=metric)
        except CorruptCycle as e:
            return self._reject(p, str(e))
        except Exception as e:  # any other malformed content: still one line, never a traceback
            return self._reject(p, f"malformed content ({type(e).__name__}: {e})")

    @staticmethod
    def _reject(p: Path, reason: str) -> None:
        """Report a bad cycle file in one stderr line and move it aside; always None."""
        bad = _set_aside(p)
        where = f"moved to {bad}" if bad else "could not move it aside"
        reason = " ".join(str(reason).split())
        # above a progress bar, never appended to its line
        tqdm.write(f"alkit: ignoring corrupt cache file {p} ({reason}); {where}, recomputing", file=sys.stderr)
        return None


def records_frame(records: list[dict], with_selected: bool = False) -> pd.DataFrame:
    """Tidy DataFrame of cycle records (one row per trial x cycle); ``selected`` dropped unless asked."""
    df = pd.DataFrame.from_records(records)
    if not with_selected and "selected" in df:
        df = df.drop(columns="selected")
    return df
