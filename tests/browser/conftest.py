"""The browser test runs only when asked for by path (``make test-browser`` =
``pytest tests/browser``); a plain ``pytest tests`` / ``make test`` skips it."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    asked = any(Path(str(a).split("::")[0]).resolve().is_relative_to(HERE) for a in config.args)
    if asked:
        return
    skip = pytest.mark.skip(reason="browser test: run it with `make test-browser` (pytest tests/browser)")
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(skip)
