"""Checks of user input (command-line flags, environment variables, output folders).

Each check is a small function that returns the parsed value or raises :class:`UsageError` with a
one-line message naming the flag (``--epochs must be a positive integer, got 0``). The command line
(:mod:`alkit.cli`) runs them all before loading data or training anything and prints the
message as ``alkit: error: <message>`` with exit status 2.

Only :func:`writable_dir` touches the file system (it creates the folder and writes and removes a
probe file, then removes the folders it created); everything else is pure.
"""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path


class UsageError(ValueError):
    """Bad user input; the message is one line and names the flag, variable or file."""


def closest(value: str, choices) -> str | None:
    """The one of ``choices`` closest to ``value`` (:func:`difflib.get_close_matches`), or ``None``."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(value: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or ``""`` when nothing is close."""
    close = closest(value, choices)
    return f" (did you mean {close!r}?)" if close else ""


def choice(flag: str, what: str, value: str, choices, extra: str = "") -> str:
    """``value`` if it is one of ``choices``; else ``--flag: unknown <what> 'v' (did you mean ...?);
    choose from ...``. ``extra`` is appended to the list of choices (e.g. ``", or a folder path"``)."""
    choices = list(choices)
    if value in choices:
        return value
    prefix = f"{flag}: " if flag else ""
    raise UsageError(f"{prefix}unknown {what} {value!r}{did_you_mean(value, choices)}; "
                     f"choose from {', '.join(map(str, choices))}{extra}")


def csv_names(flag: str, text: str, what: str, choices, extra: str = "") -> list[str]:
    """A comma-separated list of names from ``choices``: not empty, no duplicates, each known."""
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if not names:
        raise UsageError(f"{flag}: no {what} named (got {text!r}); choose from {', '.join(choices)}{extra}")
    seen = set()
    for n in names:
        choice(flag, what, n, choices, extra)
        if n in seen:
            raise UsageError(f"{flag}: {what} {n!r} is listed twice")
        seen.add(n)
    return names


def integer(flag: str, text, *, minimum: int | None = None) -> int:
    """``text`` as an int (``"1e3"`` and ``"40.0"`` are accepted as whole numbers) ``>= minimum``."""
    if minimum == 1:
        kind = "a positive integer"
    elif minimum is None:
        kind = "an integer"
    else:
        kind = f"an integer >= {minimum}"
    try:
        x = float(str(text).strip())
    except ValueError:
        raise UsageError(f"{flag} must be {kind}, got {text!r}") from None
    if not math.isfinite(x) or x != int(x) or (minimum is not None and x < minimum):
        raise UsageError(f"{flag} must be {kind}, got {text}")
    return int(x)


def number(flag: str, text, *, minimum: float = 0.0, strict: bool = True) -> float:
    """``text`` as a finite float ``> minimum`` (``strict``) or ``>= minimum``."""
    if minimum == 0 and strict:
        kind = "a positive finite number"
    else:
        kind = f"a finite number {'>' if strict else '>='} {minimum:g}"
    try:
        x = float(str(text).strip())
    except ValueError:
        raise UsageError(f"{flag} must be {kind}, got {text!r}") from None
    if not math.isfinite(x) or x < minimum or (strict and x == minimum):
        raise UsageError(f"{flag} must be {kind}, got {text}")
    return x


def number_list(flag: str, text: str, *, minimum: float = 0.0) -> list[float]:
    """Comma-separated finite numbers ``>= minimum`` (at least one)."""
    parts = [t.strip() for t in str(text).split(",")]
    if not any(parts):
        raise UsageError(f"{flag}: no values given (got {text!r}); e.g. 5,10,20")
    out = []
    for p in parts:
        if not p:
            continue
        try:
            x = float(p)
        except ValueError:
            raise UsageError(f"{flag}: {p!r} is not a number (comma-separated values, e.g. 5,10,20)") from None
        if not math.isfinite(x) or x < minimum:
            raise UsageError(f"{flag} values must be finite and >= {minimum:g}, got {p}")
        out.append(x)
    return out


def not_given(flags: dict, reason: str) -> None:
    """Raise for the first of ``{"--flag": value}`` that was given (value not ``None``): it does not
    apply (``reason``, e.g. "on segmentation datasets")."""
    for flag, value in flags.items():
        if value is not None:
            raise UsageError(f"{flag} does not apply {reason}")


DEVICES = ("auto", "cpu", "cuda")
_DEVICE_ALIASES = {"gpu": "cuda", "cuda0": "cuda:0", "nvidia": "cuda"}


def device(text: str | None, cuda_count: int) -> str | None:
    """``auto``/``cpu``/``cuda``/``cuda:N`` checked against the ``cuda_count`` GPUs present
    (``None`` and ``auto``: the library picks)."""
    if text is None:
        return None
    d = str(text).strip().lower()
    if d == "auto":
        return None
    if d == "cpu":
        return d
    if d == "cuda" or d.startswith("cuda:"):
        idx = d[5:]
        if d != "cuda" and not idx.isdigit():
            raise UsageError(f"--device: bad CUDA device {text!r}; use cuda or cuda:N")
        if cuda_count == 0:
            raise UsageError(f"--device {text}: no CUDA GPU is available on this machine")
        if idx and int(idx) >= cuda_count:
            raise UsageError(f"--device {text}: this machine has {cuda_count} CUDA GPU(s) "
                             f"(cuda:0..cuda:{cuda_count - 1})")
        return d
    hint = f" (did you mean {_DEVICE_ALIASES[d]!r}?)" if d in _DEVICE_ALIASES else did_you_mean(d, DEVICES)
    raise UsageError(f"--device: unknown device {text!r}{hint}; choose from auto, cpu, cuda, cuda:N")


def looks_like_path(name: str) -> bool:
    """A dataset name that is meant as a folder: contains a path separator or starts with ``.``/``~``."""
    s = str(name)
    return "/" in s or os.sep in s or (os.altsep or "/") in s or s.startswith((".", "~"))


def existing_folder(flag: str, text: str) -> Path:
    """``text`` as an existing folder (``~`` expanded); the message quotes ``text`` as typed."""
    p = Path(str(text)).expanduser()
    if not p.exists():
        raise UsageError(f"{flag}: folder not found: {text}")
    if not p.is_dir():
        raise UsageError(f"{flag}: not a folder: {text}")
    return p


def writable_dir(label: str, path) -> Path:
    """Make sure ``path`` is a folder this process can create and write into.

    Creates it (and missing parents), writes and removes a probe file, then removes the folders it
    created (the run makes them again when it writes), so a rejected command leaves nothing behind.
    ``label`` names the source in the message (``--out``, ``$ALKIT_OUTPUTS``, ...)."""
    if not str(path).strip():
        raise UsageError(f"{label}: empty folder name")
    p = Path(str(path)).expanduser()
    if p.exists() and not p.is_dir():
        raise UsageError(f"{label}: {path} is a file, not a folder")
    created = []
    probe_dir = p
    while not probe_dir.exists():
        created.append(probe_dir)
        if probe_dir.parent == probe_dir:
            break
        probe_dir = probe_dir.parent
    if probe_dir.exists() and not probe_dir.is_dir():
        raise UsageError(f"{label}: cannot create folder {path}: {probe_dir} is a file")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{label}: cannot create folder {path}: {e.strerror or e}") from None
    try:
        probe = p / f".alkit-write-test-{os.getpid()}"
        try:
            fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"ok")
            finally:
                os.close(fd)
            probe.unlink()
        except OSError as e:
            raise UsageError(f"{label}: folder {path} is not writable ({e.strerror or e})") from None
    finally:
        for d in created:  # deepest first; only folders this check made, only when still empty
            try:
                d.rmdir()
            except OSError:
                break
    return p


def env_workers(value: str | None) -> int | None:
    """``$ALKIT_WORKERS`` (worker processes; unset or empty: one per core)."""
    if value is None or not str(value).strip():
        return None
    return integer("$ALKIT_WORKERS", value, minimum=1)


__all__ = ["UsageError", "closest", "did_you_mean", "choice", "csv_names", "integer", "number", "number_list", "not_given",
           "device", "looks_like_path", "existing_folder", "writable_dir", "env_workers", "DEVICES"]
