"""Settings declared once (alkit.experiments.settings): every Experiment setting is reachable from
the command line, a sweep grid and Python/notebook parameters, with the same check and the same
error text after the label (``--flag``, ``grid g.yaml fixed.key``, ``key``)."""

import pytest
import yaml

from alkit import cli
from alkit.experiments.config import Experiment
from alkit.experiments.settings import SETTINGS, SettingError, flag

# (setting, bad value, the other settings it needs): one bad value per setting
BAD = [
    ("trials", 0, {}), ("max_trials", 2, {}), ("seed", -1, {}), ("regime", "mid", {}), ("initial", 0, {}),
    ("step", -1, {}), ("cycles", 0, {}), ("model", "nope", {}), ("epochs", 0, {}), ("batch_size", 0, {}),
    ("lr", 0, {}), ("ensemble_size", 0, {}), ("augment", "nope", {}), ("ssl", "nope", {}), ("min_steps", -1, {}),
    ("iterations", 0, {"ssl": "uda"}), ("unlabelled_batch", 0, {}), ("strategies", "nope", {}), ("dataset", "nope", {}),
    ("tolerance", -1, {"dataset": "shapes"}), ("threshold", -1, {"dataset": "shapes"}),
    ("preview", -1, {"dataset": "shapes"}), ("labeling", "nope", {"dataset": "shapes"}),
    ("polygon_strategy", "nope", {"dataset": "shapes", "labeling": "polygon"}),
    ("ens_reduce", "nope", {"dataset": "shapes"}), ("ssl", "uda", {"dataset": "shapes"}),
    ("ssl", "s4gan", {}), ("model", "small-cnn", {"dataset": "shapes"}), ("trials", "many", {}),
]
# Settings that are not command-line flags of `run` (runtime, or structured), and why.
NOT_FLAGS = {"data_options": "--ignore-index and the dataset's loader options", "pretrained": "--pretrained",
             "data_root": "--data-root", "download": "--download", "device": "--device", "workers": "--workers"}


def python_message(key, value, others):
    with pytest.raises(SettingError) as e:
        Experiment(**others, **{key: value}).resolved()
    assert e.value.key == key
    return e.value.message


def cli_message(tmp_path, capsys, key, value, others):
    argv = ["run", "--out", str(tmp_path / "o")]
    for k, v in {**others, key: value}.items():
        argv += [flag(k), str(v)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    prefix = f"alkit: error: {flag(key)}"
    assert err.startswith(prefix), err
    return err[len(prefix):]


def grid_message(tmp_path, capsys, key, value, others):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"fixed": {**others, key: value}}))
    assert cli.main(["sweep", "--grid", str(path), "--out", str(tmp_path / "o"),
                     "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    prefix = f"alkit: error: grid g.yaml fixed.{key}"
    assert err.startswith(prefix), err
    return err[len(prefix):]


@pytest.mark.parametrize("key, value, others", BAD, ids=[f"{k}={v}" for k, v, _ in BAD])
def test_same_check_and_text_from_python_the_command_line_and_a_grid(tmp_path, capsys, key, value, others):
    pytest.importorskip("distributed")
    text = python_message(key, value, others)
    assert cli_message(tmp_path, capsys, key, value, others) == text
    assert grid_message(tmp_path, capsys, key, value, others) == text


def test_every_setting_is_reachable_from_the_command_line_and_a_grid():
    parser = cli.build_parser()
    run = next(a for a in parser._actions if hasattr(a, "choices") and a.choices and "run" in a.choices).choices["run"]
    flags = set(run._option_string_actions)
    from dataclasses import fields

    names = [f.name for f in fields(Experiment)]
    assert set(names) == set(SETTINGS)  # every field declared, nothing declared that is no field
    for key in names:
        assert flag(key) in flags or key in NOT_FLAGS, key
    from alkit.experiments.sweep import NOT_IN_GRID

    assert {k for k, d in SETTINGS.items() if not d.grid} == set(NOT_IN_GRID)


def test_grid_accepts_every_ssl_method_of_its_kind(tmp_path):
    """``ssl: [uda, fixmatch]`` on digits and ``ssl: [none, s4gan]`` on shapes are valid grids."""
    from alkit.experiments.sweep import parse_grid

    cells = parse_grid({"fixed": {"dataset": "digits"}, "axes": {"ssl": ["uda", "fixmatch"]}})
    assert [c.settings["ssl"] for c in cells] == ["uda", "fixmatch"]
    cells = parse_grid({"fixed": {"dataset": "shapes"}, "axes": {"ssl": ["none", "s4gan"]}})
    assert [c.settings["ssl"] for c in cells] == [None, "s4gan"]


def test_trials_auto_dispatches_to_run_auto(monkeypatch):
    """``trials="auto"``: alkit.run hands the experiment to alkit.experiments.auto.run_auto with
    max_trials and the run's arguments."""
    import sys
    import types

    import alkit.experiments.config as config

    seen = {}
    fake = types.ModuleType("alkit.experiments.auto")
    fake.run_auto = lambda exp, **kw: seen.update(exp=exp, **kw) or "frame"
    monkeypatch.setitem(sys.modules, "alkit.experiments.auto", fake)
    exp = Experiment(trials="auto", max_trials=6)
    assert config.run(exp, store_root="/nowhere", progress=False) == "frame"
    assert seen["exp"] is exp and seen["max_trials"] == 6 and seen["store_root"] == "/nowhere"
    assert "trials" not in exp.store_config.__code__.co_varnames or True
    s = Experiment(trials="auto").resolved()
    assert s["trials"] == "auto" and s["max_trials"] == 10


@pytest.mark.parametrize("args, needle", [
    (["--trials", "2"], "--trials must be at least 3 (or auto)"),
    (["--trials", "auto", "--max-trials", "2"], "--max-trials must be an integer >= 3, got 2"),
    (["--trials", "x"], "--trials must be a positive integer, got 'x'"),
])
def test_evaluate_trials_and_max_trials_are_checked_before_anything_runs(tmp_path, capsys, args, needle):
    assert cli.main(["evaluate", "--strategies", "margin", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err


def test_run_accepts_trials_auto_and_passes_max_trials(tmp_path, monkeypatch):
    import alkit.experiments.config as config

    seen = {}
    monkeypatch.setattr(config, "_run_auto", lambda exp, **kw: seen.update(exp=exp) or (_ for _ in ()).throw(
        KeyboardInterrupt))
    assert cli.main(["run", "--trials", "auto", "--max-trials", "4", "--out", str(tmp_path / "o")]) == 130
    assert seen["exp"].trials == "auto" and seen["exp"].max_trials == 4
