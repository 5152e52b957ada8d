import os

import pytest
import torch

# One torch thread per test process when pytest-xdist runs two of them side by side (make test:
# `-n 2` on the 2-core machine), else both cores for the one process.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """Every test writes its outputs (runs, figures) under its own tmp folder."""
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("ALKIT_DATA", str(tmp_path / "data"))
    yield


@pytest.fixture
def one_worker_per_notebook(monkeypatch):
    """The smoke notebooks run their units in the kernel itself (``$ALKIT_WORKERS=1``, inherited by
    the kernel): a pool of worker processes costs more than the units' seconds and, beside the second
    test process of `make test`, oversubscribes a 2-core machine (notebook 07: 75 s with the pool,
    35 s without, one test process, 2026-12-06). The pool itself is tested in tests/test_runner.py.
    Used by tests/test_notebooks.py and tests/test_solutions.py (``pytestmark``)."""
    monkeypatch.setenv("ALKIT_WORKERS", "1")
