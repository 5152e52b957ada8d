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
