"""Every bad input to the command line is exit status 2 and one line on stderr naming the flag, the
environment variable or the file, before any data is loaded or anything is trained; Ctrl-C at any
moment is one line and status 130. In-process (``alkit.cli.main``) except the Ctrl-C test."""

import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alkit.cli as cli
from alkit import checks
from alkit.checks import UsageError

REPO = Path(__file__).resolve().parents[1]


class Computed(AssertionError):
    """Raised by the stand-ins below: a check let bad input through to loading or training."""


@pytest.fixture
def no_compute(monkeypatch):
    """Loading data, training, annotating or running notebooks fails the test."""
    import alkit.engine.data
    import alkit.experiments.config
    import alkit.experiments.reproduce
    import alkit.protocol.annotation

    def boom(*a, **k):
        raise Computed("bad input reached loading or training")

    for mod, name in [(alkit.experiments.config, "run"), (alkit.engine.data, "load_dataset"),
                      (alkit.protocol.annotation, "clicks_table"), (alkit.experiments.reproduce, "reproduce")]:
        monkeypatch.setattr(mod, name, boom)


def bad(capsys, argv, needle):
    """``main(argv)`` exits 2 with one ``alkit: error:`` line on stderr containing ``needle``."""
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("alkit: error: ") and "Traceback" not in err
    assert needle in err, err
    return err


def run(tmp_path, *args):
    return ["run", *args, "--out", str(tmp_path / "o")]


# -- unknown or mistyped names, with a suggestion ---------------------------------------------------


@pytest.mark.parametrize("args, needle", [
    (["--strategies", "random,entrpy"], "--strategies: unknown strategy 'entrpy' (did you mean 'entropy'?)"),
    (["--dataset", "shapes", "--strategies", "random,ens-varr"], "--strategies: 'ens-varr' is a classification strategy"),
    (["--dataset", "cifr10"], "--dataset: unknown dataset 'cifr10' (did you mean 'cifar10'?)"),
    (["--augment", "papr"], "--augment: unknown augmentation 'papr' (did you mean 'paper'?)"),
    (["--ssl", "udaa"], "--ssl: unknown ssl method 'udaa' (did you mean 'uda'?)"),
    (["--ssl", "fixmath"], "--ssl: unknown ssl method 'fixmath' (did you mean 'fixmatch'?)"),
    (["--regime", "hihg"], "--regime: unknown regime 'hihg' (did you mean 'high'?)"),
    (["--model", "resnet-18"], "--model: unknown model 'resnet-18' (did you mean 'resnet18'?)"),
    (["--dataset", "shapes", "--model", "small-cnn"], "--model: unknown model 'small-cnn' (did you mean 'small-seg'?)"),
    (["--device", "cpux"], "--device: unknown device 'cpux' (did you mean 'cpu'?)"),
    (["--device", "gpu"], "(did you mean 'cuda'?)"),
    (["--epohcs", "3"], "unrecognized arguments: --epohcs 3 (did you mean '--epochs'?)"),
])
def test_unknown_names_suggest_the_closest(tmp_path, capsys, no_compute, args, needle):
    bad(capsys, run(tmp_path, *args), needle)


def test_unknown_command_preset_and_notebook(capsys, no_compute):
    bad(capsys, ["rnu"], "(did you mean 'run'?)")
    bad(capsys, ["reproduce", "--preset", "smok", "00"], "--preset: unknown preset 'smok' (did you mean 'smoke'?)")
    bad(capsys, ["reproduce", "augmentaton"], "unknown notebook 'augmentaton' (did you mean '01_augmentation'?)")
    bad(capsys, ["reproduce", "99_nothing"], "unknown notebook '99_nothing'; choose from 00_quickstart")


def test_empty_and_duplicate_strategy_lists(tmp_path, capsys, no_compute):
    bad(capsys, run(tmp_path, "--strategies", ","), "--strategies: no strategy named")
    bad(capsys, run(tmp_path, "--strategies", ""), "--strategies: no strategy named")
    bad(capsys, run(tmp_path, "--strategies", "random,entropy,random"), "--strategies: strategy 'random' is listed twice")


# -- numbers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag, value, needle", [
    ("--initial", "0", "--initial must be a positive integer, got 0"),
    ("--initial", "nan", "--initial must be a positive integer, got nan"),
    ("--initial", "40.5", "--initial must be a positive integer, got 40.5"),
    ("--step", "-1", "--step must be a positive integer, got -1"),
    ("--step", "inf", "--step must be a positive integer, got inf"),
    ("--cycles", "0", "--cycles must be a positive integer, got 0"),
    ("--trials", "0", "--trials must be a positive integer, got 0"),
    ("--trials", "two", "--trials must be a positive integer, got 'two'"),
    ("--epochs", "0", "--epochs must be a positive integer, got 0"),
    ("--epochs", "-3", "--epochs must be a positive integer, got -3"),
    ("--min-steps", "-1", "--min-steps must be an integer >= 0, got -1"),
    ("--seed", "1.5", "--seed must be an integer >= 0, got 1.5"),
    ("--seed", "-1", "--seed must be an integer >= 0, got -1"),
    ("--seed", "nan", "--seed must be an integer >= 0, got nan"),
    ("--workers", "0", "--workers must be a positive integer, got 0"),
    ("--workers", "many", "--workers must be a positive integer, got 'many'"),
])
def test_bad_numbers_name_the_flag(tmp_path, capsys, no_compute, flag, value, needle):
    bad(capsys, run(tmp_path, f"{flag}={value}"), needle)


def test_bad_numbers_uda_and_segmentation(tmp_path, capsys, no_compute):
    bad(capsys, run(tmp_path, "--ssl", "uda", "--iterations", "0"), "--iterations must be a positive integer, got 0")
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--initial", "inf"), "--initial must be a positive finite number")
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--step", "0"), "--step must be a positive finite number, got 0")
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--tolerance", "nan"), "--tolerance must be a finite number >= 0")
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--tolerance=-2"), "--tolerance must be a finite number >= 0")


def test_bad_alkit_workers_variable(tmp_path, capsys, no_compute, monkeypatch):
    monkeypatch.setenv("ALKIT_WORKERS", "0")
    bad(capsys, run(tmp_path), "$ALKIT_WORKERS must be a positive integer, got 0")


# -- flags that do not apply ---------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["shapes", "voc"])
@pytest.mark.parametrize("flag, value", [("--regime", "high"), ("--augment", "none"), ("--min-steps", "5")])
def test_classification_flags_on_segmentation(tmp_path, capsys, no_compute, dataset, flag, value):
    bad(capsys, run(tmp_path, "--dataset", dataset, flag, value), f"{flag} does not apply to segmentation datasets")


def test_ssl_flags_by_kind(tmp_path, capsys, no_compute):
    """s4GAN (SSL-X of segmentation, Sec. 4.3) and UDA (classification) each on their own kind; d-score needs s4gan."""
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--ssl", "uda"), "--ssl: uda is for classification datasets")
    bad(capsys, run(tmp_path, "--ssl", "s4gan"), "--ssl: s4gan is for segmentation datasets")
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--ssl", "s4ganx"), "--ssl: unknown ssl method 's4ganx'")
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--strategies", "random,d-score"),
        "--strategies: d-score ranks by the s4GAN discriminator; it needs --ssl s4gan")
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--iterations", "10"),
        "--iterations does not apply without --ssl s4gan")
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--ssl", "s4gan", "--iterations", "0"), "--iterations")


def test_flags_that_do_not_apply_on_classification(tmp_path, capsys, no_compute):
    bad(capsys, run(tmp_path, "--tolerance", "3"), "--tolerance does not apply to classification datasets")
    bad(capsys, run(tmp_path, "--iterations", "10"), "--iterations does not apply without --ssl uda")
    bad(capsys, run(tmp_path, "--ssl", "uda", "--epochs", "3"), "--epochs does not apply with --ssl uda")
    bad(capsys, run(tmp_path, "--ssl", "fixmatch", "--min-steps", "3"), "--min-steps does not apply with --ssl fixmatch")
    bad(capsys, run(tmp_path, "--regime", "low", "--step", "3"), "--step does not apply with --regime low")
    bad(capsys, run(tmp_path, "--dataset", "cifar10", "--regime", "medium"), "choose from high, low for cifar10")


def test_cycles_with_a_regime_is_accepted_as_by_experiment(tmp_path):
    """``--regime low --cycles 2`` is what ``Experiment(regime="low", cycles=2)`` accepts: the
    regime's budgets, two cycles."""
    from alkit.experiments.config import Experiment

    a = cli.check_run(cli._parse(cli.build_parser(), run(tmp_path, "--regime", "low", "--cycles", "2")))
    s = Experiment(**cli.experiment_settings(a)).resolved()
    assert (s["initial"], s["step"], s["cycles"]) == (20, 20, 2)
    assert s == Experiment(regime="low", cycles=2).resolved()


def test_segmentation_folder_dataset_flags(tmp_path, capsys, no_compute):
    folder = tmp_path / "my_folder"
    folder.mkdir()
    bad(capsys, run(tmp_path, "--dataset", str(folder), "--augment", "paper"), "--augment does not apply to segmentation")


# -- devices -------------------------------------------------------------------------------------------


def test_cuda_without_a_gpu(tmp_path, capsys, no_compute, monkeypatch):
    monkeypatch.setattr(cli, "_cuda_count", lambda: 0)
    bad(capsys, run(tmp_path, "--device", "cuda"), "--device cuda: no CUDA GPU is available on this machine")
    bad(capsys, run(tmp_path, "--device", "cuda:0"), "--device cuda:0: no CUDA GPU is available")
    monkeypatch.setattr(cli, "_cuda_count", lambda: 1)
    bad(capsys, run(tmp_path, "--device", "cuda:1"), "--device cuda:1: this machine has 1 CUDA GPU(s)")
    bad(capsys, run(tmp_path, "--device", "cuda:x"), "--device: bad CUDA device 'cuda:x'")


def test_device_check_is_pure():
    assert checks.device(None, 0) is None and checks.device("auto", 0) is None
    assert checks.device("CPU", 0) == "cpu" and checks.device("cuda", 2) == "cuda"
    assert checks.device("cuda:1", 2) == "cuda:1"
    with pytest.raises(UsageError, match="no CUDA GPU"):
        checks.device("cuda", 0)


# -- output folders ------------------------------------------------------------------------------------


def test_unusable_output_folders(tmp_path, capsys, no_compute, monkeypatch):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    ok = str(tmp_path / "fine")
    bad(capsys, ["run", "--out", str(a_file)], f"--out: {a_file} is a file, not a folder")
    bad(capsys, ["run", "--out", str(a_file / "sub")], f"--out: cannot create folder {a_file / 'sub'}: {a_file} is a file")
    bad(capsys, ["run", "--out", ""], "--out: empty folder name")
    bad(capsys, ["run", "--out", ok, "--runs-dir", str(a_file)], "--runs-dir: ")
    bad(capsys, ["run", "--out", ok, "--runs-dir", str(a_file / "x" / "y")], "--runs-dir: cannot create folder")
    monkeypatch.setenv("ALKIT_OUTPUTS", str(a_file))
    bad(capsys, ["run", "--out", ok], f"$ALKIT_OUTPUTS: cannot create folder {a_file / 'runs'}: {a_file} is a file")
    bad(capsys, ["reproduce", "00"], "$ALKIT_OUTPUTS: cannot create folder")
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path / "outputs"))
    bad(capsys, ["reproduce", "--output-dir", str(a_file), "00"], f"--output-dir: {a_file} is a file, not a folder")
    assert not Path(ok).exists()  # the checks leave nothing behind


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(tmp_path, capsys, no_compute):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        bad(capsys, ["run", "--out", str(ro)], f"--out: folder {ro} is not writable")
        bad(capsys, ["run", "--out", str(ro / "new")], f"--out: cannot create folder {ro / 'new'}")
    finally:
        ro.chmod(0o700)


def test_writable_dir_creates_nothing_it_leaves(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    assert checks.writable_dir("--out", target) == target
    assert not (tmp_path / "a").exists()
    existing = tmp_path / "here"
    existing.mkdir()
    checks.writable_dir("--out", existing)
    assert existing.is_dir() and not list(existing.iterdir())


# -- datasets given as folders ----------------------------------------------------------------------------


def test_mistyped_folder_path_is_not_an_unknown_dataset(tmp_path, capsys, no_compute, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad(capsys, run(tmp_path, "--dataset", "./my_folder"), "--dataset: folder not found: ./my_folder")
    bad(capsys, run(tmp_path, "--dataset", "~/surely/not/here"), "folder not found: ~/surely/not/here")
    bad(capsys, ["clicks", "--dataset", "data/my_folder"], "--dataset: folder not found: data/my_folder")
    Path("a_file").write_text("x")
    bad(capsys, run(tmp_path, "--dataset", "./a_file"), "--dataset: not a folder: ./a_file")


def _image(path, size=(16, 16)):
    import cv2

    cv2.imwrite(str(path), np.full((*size, 3), 100, np.uint8))


def _mask(path, value=1, size=(16, 16)):
    from PIL import Image

    m = np.zeros(size, np.uint8)
    m[4:10, 4:10] = value
    Image.fromarray(m, mode="L").save(path)


def test_folder_without_images_or_masks(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad(capsys, ["clicks", "--dataset", str(empty)], f"{empty}: no images/ + masks/")
    (empty / "images").mkdir()
    (empty / "masks").mkdir()
    bad(capsys, ["clicks", "--dataset", str(empty)], f"no images (.jpg, .jpeg, .png, .bmp, .tif, .tiff) in {empty / 'images'}")
    _image(empty / "images" / "a.png")
    _image(empty / "images" / "b.png")
    bad(capsys, ["clicks", "--dataset", str(empty)], "image/mask pair(s) missing")
    split = tmp_path / "split"
    (split / "train" / "images").mkdir(parents=True)
    _image(split / "train" / "images" / "a.png")
    bad(capsys, ["clicks", "--dataset", str(split)], f"mask folder not found: {split / 'train' / 'masks'}")


def test_mask_ids_outside_the_class_list(tmp_path, capsys):
    root = tmp_path / "seg"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for s, v in (("a", 1), ("b", 2), ("c", 7)):
        _image(root / "images" / f"{s}.png")
        _mask(root / "masks" / f"{s}.png", v)
    (root / "classes.txt").write_text("bg\nthing\nother\n")
    (root / "train.txt").write_text("a\nc\n")
    (root / "val.txt").write_text("b\n")
    bad(capsys, ["clicks", "--dataset", str(root)], f"{root / 'masks' / 'c.png'}: mask holds class id(s) 7 outside the 3 classes")


def test_voc_mask_ids_outside_the_classes(tmp_path):
    from PIL import Image

    from alkit.engine.data.voc import load_voc

    voc = tmp_path / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True)
    for i, v in (("t0", 15), ("v0", 40)):
        _image(voc / "JPEGImages" / f"{i}.jpg")
        m = np.full((16, 16), v, np.uint8)
        m[0] = 255
        Image.fromarray(m, mode="L").save(voc / "SegmentationClass" / f"{i}.png")
    (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("t0\n")
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("v0\n")
    with pytest.raises(ValueError, match=r"v0\.png: mask holds class id\(s\) 40 outside the 21 classes") as e:
        load_voc(tmp_path)
    assert "\n" not in str(e.value)


# -- CIFAR files ---------------------------------------------------------------------------------------------


def _cifar10(root, labels_max=10, per_batch=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"labels": rng.integers(0, labels_max, per_batch).tolist(),
                         b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
    return folder


def _cifar_error(tmp_path, capsys, needle):
    return bad(capsys, run(tmp_path, "--dataset", "cifar10", "--data-root", str(tmp_path / "data")), needle)


def test_missing_cifar_folder_mentions_download(tmp_path, capsys):
    _cifar_error(tmp_path, capsys, "--download")


@pytest.mark.parametrize("damage, needle", [
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_bytes(b"this is not a pickle at all"), "is not a CIFAR pickle"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "is truncated"),
    (lambda p: p.write_bytes(pickle.dumps([1, 2, 3])), "is not a CIFAR pickle (holds a list"),
    (lambda p: p.write_bytes(pickle.dumps({b"labels": [1, 2], b"data": np.zeros((2, 100), np.uint8)})),
     "'data' must be N x 3072 bytes"),
    (lambda p: p.write_bytes(pickle.dumps({b"labels": [1], b"data": np.zeros((2, 3072), np.uint8)})),
     "2 images but 'labels' holds"),
    (lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)})), "has no 'labels' entry"),
])
def test_damaged_cifar_batch_names_the_file(tmp_path, capsys, damage, needle):
    folder = _cifar10(tmp_path / "data")
    damage(folder / "data_batch_3")
    err = _cifar_error(tmp_path, capsys, needle)
    assert str(folder / "data_batch_3") in err


def test_cifar_labels_outside_the_class_list(tmp_path, capsys):
    _cifar10(tmp_path / "data", labels_max=12, per_batch=40)
    err = _cifar_error(tmp_path, capsys, "outside the 10 classes of the meta file")
    assert "cifar-10-batches-py/data_batch_1: label 1" in err


def test_damaged_cifar_meta_file(tmp_path, capsys):
    folder = _cifar10(tmp_path / "data")
    (folder / "batches.meta").write_bytes(pickle.dumps({b"nothing": 1}))
    _cifar_error(tmp_path, capsys, f"{folder / 'batches.meta'} has no class names")


def test_budget_larger_than_the_pool(tmp_path, capsys):
    bad(capsys, run(tmp_path, "--initial", "1000", "--step", "500", "--cycles", "2", "--workers", "1"),
        "exceeds the pool")


# -- clicks ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, needle", [
    (["--tolerance", "5,abc"], "--tolerance: 'abc' is not a number"),
    (["--tolerance=-1"], "--tolerance values must be finite and >= 0, got -1"),
    (["--tolerance", "5,nan"], "--tolerance values must be finite and >= 0, got nan"),
    (["--tolerance", ","], "--tolerance: no values given"),
    (["--images", "0"], "--images must be a positive integer, got 0"),
    (["--images", "ten"], "--images must be a positive integer, got 'ten'"),
    (["--dataset", "digits"], "--dataset: clicks needs a segmentation dataset"),
    (["--dataset", "shapse"], "unknown dataset 'shapse' (did you mean 'shapes'?)"),
])
def test_bad_clicks_input(capsys, no_compute, args, needle):
    bad(capsys, ["clicks", *args], needle)


# -- good input reaches the library with the defaults resolved -------------------------------------------------


def _capture(monkeypatch, module, name):
    seen = {}

    def fake(exp, **kw):
        seen["exp"], seen["kw"] = exp, kw
        return pd.DataFrame({"strategy": ["random"], "cycle": [0], "accuracy": [0.5], "selected": [[1, 2]]})

    monkeypatch.setattr(module, name, fake)
    return seen


def test_defaults_and_workers_reach_the_experiment(tmp_path, capsys, monkeypatch):
    import alkit.experiments.config

    seen = _capture(monkeypatch, alkit.experiments.config, "run")
    assert cli.main(run(tmp_path, "--workers", "2")) == 0
    exp = seen["exp"]  # what the user did not give is left to the recipe, resolved by the Experiment
    assert (exp.initial, exp.step, exp.cycles, exp.epochs, exp.min_steps, exp.iterations) == (None,) * 6
    r = exp.resolved()
    assert (r["dataset"], r["augment"], r["ssl"], r["initial"], r["step"], r["cycles"], r["trials"], r["epochs"],
            r["min_steps"], r["seed"], r["regime"]) == ("digits", "paper", None, 100, 50, 2, 3, 40, 800, 0, "custom")
    assert exp.workers == 2 and exp.strategies == ("random", "entropy", "ens-varr", "coreset", "ll")
    assert (tmp_path / "o" / "results.csv").exists()
    assert cli.main(run(tmp_path, "--regime", "low", "--strategies", "random", "--device", "cpu")) == 0
    exp = seen["exp"]
    r = exp.resolved()
    assert (r["initial"], r["step"], r["cycles"], r["regime"], exp.workers, exp.device) == (20, 20, 7, "low", None, "cpu")
    assert (r["epochs"], r["min_steps"]) == (40, 800)  # the digits low-budget recipe


def test_defaults_and_workers_reach_the_segmentation_experiment(tmp_path, capsys, monkeypatch):
    import alkit.experiments.config

    seen = _capture(monkeypatch, alkit.experiments.config, "run")
    assert cli.main(run(tmp_path, "--dataset", "shapes", "--workers", "1", "--tolerance", "0", "--initial", "12.5")) == 0
    r = seen["exp"].resolved()
    assert (r["dataset"], r["initial"], r["step"], r["cycles"], r["trials"], r["tolerance"], r["workers"]) == \
        ("shapes", 12.5, 1000, 3, 3, 0.0, 1)
    assert r["strategies"] == ("random", "entropy", "ens-ent", "ll")


def test_help_states_every_default(capsys):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings and action.dest not in ("help", "download"):
                assert "default" in action.help or "required" in action.help, (name, action.dest)
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    from alkit.experiments.recipes import recipe

    assert e.value.code == 0
    # defaults of budgets and training come from the recipes, not from a second copy in the CLI
    assert f"the recipe's: digits {recipe('classification', 'digits')['epochs']}," in out
    assert f"cifar {recipe('classification', 'cifar10')['epochs']}," in out


# -- Ctrl-C -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5, 2.0])
def test_ctrl_c_at_any_moment_is_one_line(tmp_path, delay):
    env = dict(os.environ, ALKIT_OUTPUTS=str(tmp_path / "outputs"))
    proc = subprocess.Popen([sys.executable, "-m", "alkit", "run", "--strategies", "random", "--initial", "20",
                             "--step", "20", "--cycles", "2", "--trials", "1", "--epochs", "20", "--min-steps", "0", "--workers", "1",
                             "--out", str(tmp_path / "o")], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    reached_alkit = "alkit: " in err or re.search(r'File "[^"]*/alkit/', err)
    if delay < 0.5 and not reached_alkit:
        # Python itself was still starting (site, runpy, compiling alkit/__main__.py): no code of
        # alkit had run yet, so nothing could catch it.
        return
    assert "Traceback" not in err, err
    assert proc.returncode in (130, 0), (proc.returncode, err)
    if proc.returncode == 130:  # the last line, ended by a newline (a bar's \r does not end a line)
        assert err.rstrip("\n").split("\n")[-1].startswith("alkit: interrupted"), repr(err)


# The command line with one unit that, once the progress bar is drawn, waits in a cycle: in an
# import (``import``: a Ctrl-C there takes the exit-at-once path of alkit.cli) or in plain Python
# code (``code``), after writing a marker file. The test waits for the bar on stderr and for the
# marker, then sends Ctrl-C: the same moment on a fast and a slow machine.
_WAIT_IN_CYCLE = """
import importlib, sys, time
from pathlib import Path
import alkit.cli, alkit.experiments.runner as R
marker, where = Path(sys.argv[1]), sys.argv[2]
sys.path.insert(0, str(marker.parent))
(marker.parent / "slow_module.py").write_text(
    "import time, pathlib\\npathlib.Path(%r).touch()\\ntime.sleep(120)\\n" % str(marker))
run_bundle = R.run_bundle  # what the in-process runner calls for each bundle (here: the one unit)
def waiting_bundle(task, units, ticks=None):
    if where == "import":
        importlib.import_module("slow_module")
    else:
        marker.touch()
        time.sleep(120)
    return run_bundle(task, units, ticks)
R.run_bundle = waiting_bundle
sys.argv = ["alkit"] + sys.argv[3:]
alkit.cli._script()
"""


@pytest.mark.parametrize("where", ["import", "code"])
def test_ctrl_c_while_the_bar_is_drawn_ends_on_its_own_line(tmp_path, where):
    """Ctrl-C with the progress bar on the screen: the bar is closed (ended by a newline) before
    the one final line, which is never printed onto the bar's line. The signal is sent once the bar
    is drawn and the run waits inside a cycle (observed, not timed)."""
    import threading

    env = dict(os.environ, ALKIT_OUTPUTS=str(tmp_path / "outputs"))
    marker = tmp_path / "in_cycle"
    proc = subprocess.Popen([sys.executable, "-c", _WAIT_IN_CYCLE, str(marker), where, "run", "--strategies",
                             "random", "--initial", "20", "--step", "20", "--cycles", "2", "--trials", "1",
                             "--epochs", "1", "--min-steps", "0", "--workers", "1", "--out", str(tmp_path / "o")],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = bytearray()
    reader = threading.Thread(target=lambda: [err.extend(b) for b in iter(lambda: os.read(proc.stderr.fileno(), 4096), b"")])
    reader.start()
    deadline = time.time() + 300  # generous: start-up and data loading on a slow, shared machine
    while not (marker.exists() and b"cycle" in err) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists() and b"cycle" in err, bytes(err).decode(errors="replace")
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    reader.join(timeout=30)
    text = bytes(err).decode()
    assert proc.returncode == 130, (proc.returncode, text)
    assert "Traceback" not in text, text
    last = text.rstrip("\n").split("\n")[-1]  # a line ends at a newline only: \r does not end the bar's line
    assert last.startswith("alkit: interrupted"), repr(text)


def test_student_copies_bad_folder(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    bad(capsys, ["student-copies", str(f)], f"DIR: {f} is a file, not a folder")
    bad(capsys, ["student-copies", str(f / "sub")], "is a file")
    assert not (tmp_path / "README.md").exists() and f.read_text() == "x"


# -- polygon-level labelling (paper Sec. 4.4.2) ----------------------------------------------------------


@pytest.mark.parametrize("args, needle", [
    (["--dataset", "shapes", "--labeling", "polygn"], "--labeling: unknown labeling 'polygn' (did you mean 'polygon'?)"),
    (["--dataset", "shapes", "--polygon-strategy", "entropy"], "--polygon-strategy does not apply without --labeling polygon"),
    (["--dataset", "shapes", "--labeling", "image", "--polygon-strategy", "random"],
     "--polygon-strategy does not apply without --labeling polygon"),
    (["--dataset", "shapes", "--labeling", "polygon", "--polygon-strategy", "entropi"],
     "--polygon-strategy: unknown polygon strategy 'entropi' (did you mean 'entropy'?)"),
    (["--dataset", "shapes", "--labeling", "polygon", "--strategies", "entropy"],
     "--strategies: --labeling polygon picks images at random"),
    (["--labeling", "polygon"], "--labeling does not apply to classification datasets"),
    (["--dataset", "cifar10", "--polygon-strategy", "random"], "--polygon-strategy does not apply to classification"),
])
def test_bad_polygon_labeling_flags(tmp_path, capsys, no_compute, args, needle):
    bad(capsys, run(tmp_path, *args), needle)


def test_polygon_labeling_reaches_the_experiment(tmp_path, capsys, monkeypatch):
    import alkit.experiments.config

    seen = _capture(monkeypatch, alkit.experiments.config, "run")
    assert cli.main(run(tmp_path, "--dataset", "shapes", "--labeling", "polygon", "--workers", "1")) == 0
    r = seen["exp"].resolved()
    assert (r["labeling"], r["polygon_strategy"], r["strategies"]) == ("polygon", "entropy", ("random",))
    assert cli.main(run(tmp_path, "--dataset", "shapes", "--labeling", "polygon", "--polygon-strategy", "random",
                        "--strategies", "random")) == 0
    assert seen["exp"].resolved()["polygon_strategy"] == "random"
    assert cli.main(run(tmp_path, "--dataset", "shapes")) == 0
    assert seen["exp"].resolved()["labeling"] == "image"


def test_bad_ignore_index(tmp_path, capsys, no_compute):
    """--ignore-index: a folder's void label 0..255 (issue 8); nothing loads before the check."""
    folder = tmp_path / "camvid"
    folder.mkdir()
    for value, needle in (("-1", "--ignore-index must be an integer >= 0, got -1"),
                          ("abc", "--ignore-index must be an integer >= 0, got 'abc'"),
                          ("256", "--ignore-index must be at most 255")):
        bad(capsys, run(tmp_path, "--dataset", str(folder), "--ignore-index", value), needle)
    bad(capsys, run(tmp_path, "--dataset", "shapes", "--ignore-index", "11"), "--ignore-index does not apply to shapes")
    bad(capsys, run(tmp_path, "--ignore-index", "11"), "--ignore-index does not apply to digits")


# -- --pretrained (offline transfer source, issue 12) -------------------------------------------------------


@pytest.mark.parametrize("args, needle", [
    (["--pretrained", "imagenet"], "--pretrained: unknown pretrained source 'imagenet'; choose from none, glyphs"),
    (["--pretrained", "glyph"], "(did you mean 'glyphs'?)"),
    (["--dataset", "cifar10", "--pretrained", "glyphs"], "--pretrained: glyphs pre-trains the small-cnn only; "
                                                          "cifar10 uses wrn-28-2"),
    (["--pretrained", "glyphs", "--model", "resnet18"], "digits uses resnet18"),
    (["--dataset", "shapes", "--pretrained", "glyphs"], "--pretrained does not apply to segmentation datasets"),
])
def test_bad_pretrained_flag(tmp_path, capsys, no_compute, args, needle):
    bad(capsys, run(tmp_path, *args), needle)


def test_pretrained_reaches_the_experiment(tmp_path, capsys, monkeypatch):
    """--pretrained glyphs becomes Experiment(pretrained="glyphs") (a key of its own); none and
    leaving the flag out keep the key of a run from scratch."""
    import alkit.experiments.config

    seen = _capture(monkeypatch, alkit.experiments.config, "run")
    assert cli.main(run(tmp_path, "--pretrained", "glyphs", "--workers", "1")) == 0
    assert seen["exp"].resolved()["pretrained"] == "glyphs"
    for extra in ([], ["--pretrained", "none"]):
        assert cli.main(run(tmp_path, *extra)) == 0
        assert "pretrained" not in seen["exp"].resolved()
