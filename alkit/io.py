"""Atomic files: every file alkit writes goes through a temp file in the same folder (named with
the writer's host and PID), fsynced, then renamed over the final name, so a reader sees the old file
or the complete new one, never half of one. Temp files of writers that died are removed by
:func:`clean_orphans`.

The lowest layer of alkit (standard library and pandas only): the engine, the analysis and the
experiments all write through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from pathlib import Path

import pandas as pd


_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname() or "host")[:32] or "host"
# .<name>.<pid>.<host>.<6 hex>.tmp[.<ext>]  (the optional extension is for tools that insist on one)
_TMP_RE = re.compile(r"^\..+\.(?P<pid>\d+)\.(?P<host>[A-Za-z0-9_-]+)\.[0-9a-f]{6}\.tmp(\.[A-Za-z0-9]+)?$")


def temp_path(path: Path, ext: str = "") -> Path:
    """A fresh temp name next to ``path``: ``.<name>.<pid>.<host>.<random>.tmp`` (+ ``ext``).

    Same folder, so ``os.replace`` onto ``path`` is atomic; the PID and host let
    :func:`clean_orphans` tell a dead writer's leftovers from a live writer's file.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{_HOST}.{os.urandom(3).hex()}.tmp{ext}")


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort; not possible on every OS / filesystem)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_temp(tmp: Path, path: Path) -> None:
    """fsync the finished temp file ``tmp`` and rename it onto ``path`` (atomic on one filesystem)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(Path(path).parent)


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", **open_kwargs):
    """``with atomic_open(path, "w") as f: ...`` writes ``path`` all-or-nothing.

    The body writes to a temp file in the same folder; on a clean exit it is flushed, fsynced
    and renamed onto ``path``; on any exception (KeyboardInterrupt included) it is deleted and
    ``path`` keeps its previous content (or stays absent). ``mode`` is "w" or "wb".
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        f = os.fdopen(fd, mode, **open_kwargs)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_csv(df: pd.DataFrame, path: Path, **to_csv_kwargs) -> None:
    """``df.to_csv(path, **to_csv_kwargs)``, atomically: a crash mid-write leaves no ``path`` (or the
    old one) and no temp file. Text CSV only (no ``compression``); ``encoding`` defaults to UTF-8."""
    encoding = to_csv_kwargs.pop("encoding", "utf-8")
    with atomic_open(path, "w", encoding=encoding, newline="") as f:
        df.to_csv(f, **to_csv_kwargs)


def _pid_alive(pid: int) -> bool:
    """True unless ``pid`` is certainly not a running process on this machine."""
    if pid <= 0:
        return True  # never signal process groups; treat as unknown = alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or cannot tell
    return True


def clean_orphans(folder) -> list[Path]:
    """Delete temp files under ``folder`` (recursively) left by writers that died mid-write.

    Only files named by :func:`temp_path` on this host whose PID is not a live process are
    removed, so parallel workers writing into the same store are never disturbed (temp files
    of other hosts on a shared filesystem, and unrecognised names, are left alone). Returns
    the removed paths.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in folder.rglob(".*.tmp*"):
        m = _TMP_RE.match(p.name)
        if not m or m["host"] != _HOST or _pid_alive(int(m["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


__all__ = ["temp_path", "commit_temp", "atomic_open", "atomic_write_json", "atomic_write_text", "atomic_write_bytes",
           "atomic_write_csv", "clean_orphans"]
