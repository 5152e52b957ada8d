"""``python -m alkit``: the command line lives in :mod:`alkit.cli` (this file stays tiny, so a
Ctrl-C while Python compiles it has almost no window)."""
try:
    from alkit.cli import _script
except KeyboardInterrupt:  # pragma: no cover - Ctrl-C during the import of alkit.cli
    import sys

    print("alkit: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

if __name__ == "__main__":
    _script()
