"""CIFAR batches are pickles: a file whose payload would run code is refused in one line, and the
payload never runs; real-format batches (numpy arrays, protocols 2-5) still load."""

import os
import pickle

import numpy as np
import pytest

from alkit.engine.data import load_dataset
from alkit.engine.data.cifar import DatasetCorrupt
from tests.test_data import fabricate_cifar10


class _Payload:
    """Unpickling this calls os.system(...) — what a hostile 'CIFAR' mirror could ship."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_format_batches_load_under_every_protocol(tmp_path, protocol):
    batches = fabricate_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    for name, (data, labels) in batches.items():  # re-save with this protocol (numpy arrays inside)
        with open(folder / name, "wb") as f:
            pickle.dump({b"labels": np.asarray(labels, dtype=np.int64), b"data": data}, f, protocol=protocol)
    d = load_dataset("cifar10", root=tmp_path)
    assert np.array_equal(d.test_x.reshape(len(d.test_x), -1).numpy(), batches["test_batch"][0])


@pytest.mark.parametrize("victim", ["data_batch_3", "batches.meta"])
def test_a_code_payload_is_refused_and_never_runs(tmp_path, victim):
    fabricate_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / victim
    with open(path, "wb") as f:
        pickle.dump({b"labels": [0], b"data": _Payload(marker), b"label_names": [b"a"]}, f)
    with pytest.raises(DatasetCorrupt) as e:
        load_dataset("cifar10", root=tmp_path)
    msg = str(e.value)
    assert str(path) in msg and "refused" in msg and ".system" in msg  # posix.system on Linux
    assert "\n" not in msg
    assert not marker.exists()


def test_the_cli_says_it_in_one_line(tmp_path):
    import subprocess
    import sys

    fabricate_cifar10(tmp_path / "data")
    marker = tmp_path / "pwned"
    with open(tmp_path / "data" / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump(_Payload(marker), f)
    r = subprocess.run([sys.executable, "-m", "alkit", "run", "--dataset", "cifar10", "--data-root",
                        str(tmp_path / "data"), "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "test_batch is refused" in lines[0], r.stderr
    assert not marker.exists()
