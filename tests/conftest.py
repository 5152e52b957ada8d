import os

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """Every test writes its outputs (runs, figures) under its own tmp folder."""
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("ALKIT_DATA", str(tmp_path / "data"))
    yield
