"""Bring your own strategy through the command line: a file registers it, ``run`` and ``evaluate``
use it (in spawn worker processes too), and bad files are one clear line."""

import textwrap

import pandas as pd
import pytest

from alkit import cli
from alkit.strategies import find_strategy, unregister_strategy

MARGIN = textwrap.dedent('''
    import numpy as np
    import alkit

    @alkit.register_strategy("my-margin", needs={"probs"})
    def my_margin(inputs):  # smallest gap between the two most likely classes first
        p = np.sort(inputs.probs, axis=1)
        return -(p[:, -1] - p[:, -2])
''')


@pytest.fixture
def strategy_file(tmp_path):
    f = tmp_path / "my_strategies.py"
    f.write_text(MARGIN)
    yield f
    if find_strategy("my-margin") is not None:
        unregister_strategy("my-margin")


def test_run_with_a_strategy_file_in_two_workers(tmp_path, strategy_file, capsys):
    out = tmp_path / "o"
    code = cli.main(["run", "--strategy-file", str(strategy_file), "--strategies", "my-margin,random",
                     "--initial", "20", "--step", "20", "--cycles", "1", "--trials", "2", "--epochs", "2", "--min-steps", "0",
                     "--workers", "2", "--runs-dir", str(tmp_path / "runs"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    df = pd.read_csv(out / "results.csv")
    assert set(df.strategy) == {"my-margin", "random"} and len(df) == 2 * 2 * 2
    picked = [set(map(int, s.split())) for s in df[(df.strategy == "my-margin") & (df.cycle == 1)].selected]
    assert all(len(p) == 20 for p in picked)


def test_evaluate_smoke_with_a_strategy_file(tmp_path, strategy_file, capsys):
    out = tmp_path / "report"
    code = cli.main(["evaluate", "--strategy-file", str(strategy_file), "--strategies", "my-margin",
                     "--preset", "smoke", "--runs-dir", str(tmp_path / "runs"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "smoke preset" in captured.out  # the smoke preset checks the plumbing: no verdicts (evaluate.py)
    assert "my-margin" in set(pd.read_csv(out / "results.csv").strategy)
    md = (out / "report.md").read_text()
    assert "my-margin" in md and "Penalty matrix" in md
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2


@pytest.mark.parametrize("content, needle", [
    ("def broken(:\n", "syntax error"),
    ("raise RuntimeError('no luck')\n", "RuntimeError"),
    ("x = 1\n", "registers no strategy"),
    ("import alkit\n@alkit.register_strategy('entropy', needs={'probs'})\ndef e(inputs):\n    return inputs.probs[:, 0]\n",
     "entropy"),
    ("import alkit\n@alkit.register_strategy('peek', needs={'labels'})\ndef p(inputs):\n    return 0\n", "labels"),
])
def test_bad_strategy_files_are_one_line(tmp_path, capsys, content, needle):
    f = tmp_path / "bad.py"
    f.write_text(content)
    code = cli.main(["run", "--strategy-file", str(f), "--strategies", "random", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "--strategy-file" in err and needle in err, err


def test_missing_strategy_file_and_unknown_name(tmp_path, capsys, strategy_file):
    assert cli.main(["evaluate", "--strategy-file", str(tmp_path / "nope.py"), "--strategies", "x",
                     "--out", str(tmp_path / "o")]) == 2
    assert "nope.py" in capsys.readouterr().err
    assert cli.main(["evaluate", "--strategy-file", str(strategy_file), "--strategies", "my-margn",
                     "--out", str(tmp_path / "o")]) == 2
    assert "did you mean 'my-margin'" in capsys.readouterr().err
    assert cli.main(["evaluate", "--strategies", "entropy", "--trials", "2", "--out", str(tmp_path / "o")]) == 2
    assert "--trials" in capsys.readouterr().err
