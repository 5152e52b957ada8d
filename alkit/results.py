"""Results store: one JSON file per finished active-learning cycle, written atomically.

Layout: ``<root>/<slug>-<key>/config.json`` and ``.../trial<T>/cycle<CC>.json`` where ``key`` is a
hash of the run's config. A finished cycle is never recomputed; a run killed mid-way resumes
from its last finished cycle. Plotting reads only saved results.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def config_key(config: dict) -> str:
    """Stable 10-hex-digit hash of a JSON-able config dict (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def atomic_write_json(path: Path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` through a temp file + rename, so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class RunStore:
    """Saved cycles of one run config (all its trials)."""

    def __init__(self, root: Path, config: dict):
        self.config = dict(config)
        self.key = config_key(self.config)
        slug = "-".join(str(self.config.get(k)) for k in ("dataset", "strategy", "augment", "ssl") if self.config.get(k))
        self.dir = Path(root) / f"{slug}-{self.key}"
        cfg_file = self.dir / "config.json"
        if not cfg_file.exists():
            atomic_write_json(cfg_file, self.config)

    def _path(self, trial: int, cycle: int) -> Path:
        return self.dir / f"trial{trial}" / f"cycle{cycle:02d}.json"

    def save_cycle(self, trial: int, cycle: int, record: dict, labelled_at: np.ndarray, queried=()) -> None:
        """Persist a finished cycle: its record, the pool state after its query and the queried
        items in the order they were picked (they become the next cycle's ``selected``)."""
        blob = {"record": record, "labelled_at": labelled_at.tolist(), "queried": [int(i) for i in queried]}
        atomic_write_json(self._path(trial, cycle), blob)

    def load_cycle(self, trial: int, cycle: int) -> tuple[dict, np.ndarray, np.ndarray] | None:
        """(record, labelled_at, queried) of a finished cycle, or None if it has not finished."""
        p = self._path(trial, cycle)
        if not p.exists():
            return None
        with open(p) as f:
            blob = json.load(f)
        return blob["record"], np.asarray(blob["labelled_at"], dtype=np.int64), np.asarray(blob["queried"], dtype=np.int64)


def records_frame(records: list[dict], with_selected: bool = False) -> pd.DataFrame:
    """Tidy DataFrame of cycle records (one row per trial x cycle); ``selected`` dropped unless asked."""
    df = pd.DataFrame.from_records(records)
    if not with_selected and "selected" in df:
        df = df.drop(columns="selected")
    return df
