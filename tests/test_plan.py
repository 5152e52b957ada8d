"""``--plan`` (what a run costs before it starts) and the data check before launching, for
``reproduce``, ``evaluate`` and ``sweep``. Data folders are fabricated in temp dirs (nothing is
downloaded); the timing probe runs tiny (``ALKIT_PLAN_PROBE=tiny``: two images of <= 32 px, one step)."""

import json
import math
import re

import pytest

from alkit.cli import main
from alkit.experiments import cost_plan as P
from alkit.experiments import reproduce as R
from alkit.experiments.config import Experiment
from alkit.experiments.datacheck import missing_dataset, missing_datasets
from alkit.experiments.notebook_runs import PlannedRun, notebook_runs, parameter_defaults, protocol_runs


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty data root and outputs folder; the tiny probe; papermill and the prefetch of the
    notebooks' runs must not start (the CIFAR files fabricated here only satisfy the check)."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("ALKIT_DATA", str(data))
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("ALKIT_PLAN_PROBE", "tiny")
    started = []
    monkeypatch.setattr(R, "run_notebook", lambda nb, *a, **k: started.append(nb) or tmp_path / "x.ipynb")
    monkeypatch.setattr("alkit.experiments.prefetch.prefetch", lambda plans, **k: 0)
    monkeypatch.setattr("alkit.analysis.board.write_board", lambda: (tmp_path / "board.md", "board"))
    return data, started


def _cifar(root, name="cifar10"):
    """A CIFAR folder with every file name the loader reads (contents do not matter to the check)."""
    from alkit.engine.data.cifar import _LAYOUT, cifar_folder

    folder = cifar_folder(name, root)
    folder.mkdir(parents=True)
    lay = _LAYOUT[name]
    for f in lay["train"] + lay["test"] + [lay["meta"][0]]:
        (folder / f).write_bytes(b"")
    return folder


def _voc(root):
    voc = root / "VOCdevkit" / "VOC2012"
    (voc / "JPEGImages").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    return voc


# -- the data check --------------------------------------------------------------------------------


def test_missing_dataset_looks_at_the_folders(tmp_path):
    assert missing_dataset("digits", tmp_path) is None and missing_dataset("shapes", tmp_path) is None
    m = missing_dataset("cifar10", tmp_path)
    assert m.expected == tmp_path / "cifar-10-batches-py" and "--download" in m.line() and str(tmp_path) in m.line()
    folder = _cifar(tmp_path)
    assert missing_dataset("cifar10", tmp_path) is None
    (folder / "test_batch").unlink()  # one file short: still missing
    assert missing_dataset("cifar10", tmp_path).dataset == "cifar10"
    assert missing_dataset("voc", tmp_path).expected == tmp_path / "VOCdevkit" / "VOC2012"
    _voc(tmp_path)
    assert missing_dataset("voc", tmp_path) is None
    gone = missing_dataset(str(tmp_path / "my_folder"), tmp_path)
    assert gone is not None and not gone.downloadable and "--download" not in gone.line()
    assert [m.dataset for m in missing_datasets(["cifar100", "digits", "cifar100", "cifar10"], tmp_path)] == \
        ["cifar100", "cifar10"]  # each once, in order; cifar10 is one file short


def test_reproduce_paper_without_data_stops_before_any_notebook(env, capsys):
    data, started = env
    assert main(["reproduce", "--preset", "paper"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert started == []
    assert [line.split(":")[2].strip() for line in err] == ["cifar10", "voc", "cifar100"]
    for line, folder in zip(err, ["cifar-10-batches-py", "VOCdevkit/VOC2012", "cifar-100-python"]):
        assert str(data / folder) in line and "--download" in line and "Traceback" not in line


def test_reproduce_checks_only_the_chosen_notebooks(env, capsys):
    data, started = env
    assert main(["reproduce", "--preset", "paper", "01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cifar10" in err[0] and str(data / "cifar-10-batches-py") in err[0]
    _cifar(data)
    assert main(["reproduce", "--preset", "paper", "01"]) == 0  # the data is there: the notebook starts
    assert [nb.name for nb in started] == ["01_augmentation.ipynb"]


def test_notebook_08_at_paper_needs_one_cifar(env, capsys):
    data, started = env
    assert main(["reproduce", "--preset", "paper", "08"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 2  # neither CIFAR: both named
    _cifar(data, "cifar100")
    assert main(["reproduce", "--preset", "paper", "08"]) == 0
    assert "08_your_strategy skips cifar10" in capsys.readouterr().out and len(started) == 1


def test_reproduce_default_and_smoke_need_no_download(env):
    for preset in ("smoke", "default"):
        plans = R.notebook_plans(None, preset)
        assert R.check_data(plans) == ([], [])
        assert {d for p in plans for d in p.datasets} <= {"digits", "shapes"}


# -- counting ----------------------------------------------------------------------------------------


def test_supervised_and_ensemble_counts_by_hand():
    exp = Experiment(dataset="cifar10", strategies=("random", "ens-varr"), initial=5000, step=2500, cycles=2,
                     trials=2, epochs=150, min_steps=0, ensemble_size=5)
    w, specs = P.count_run(PlannedRun("x", exp), "t", {}, {})
    per = sum(math.ceil(n / 64) * 150 for n in (5000, 7500, 10000))  # train_supervised: ceil(n / batch) x epochs
    # per trial, ENS-varR's first cycle-0 member is Random's cycle-0 network (shared within the run)
    assert (w.units, w.cycles, w.trainings) == (4, 12, 2 * 3 * 1 + 2 * 3 * 5 - 2)
    assert w.steps == 2 * per * (1 + 5) - 2 * math.ceil(5000 / 64) * 150
    assert specs[0].key.startswith("wrn-28-2 32px") and specs[0].batch == 64
    # inference: the test set after every training, the unlabelled pool before each of the 2 queries (not Random)
    pool_scored = sum(50000 - n for n in (5000, 7500))
    assert w.infer_images[specs[0].key] == 2 * (3 * 10000) + 2 * 5 * (3 * 10000 + pool_scored)


def test_min_steps_uda_and_segmentation_counts_by_hand():
    few = Experiment(dataset="cifar10", strategies=("random",), initial=250, step=250, cycles=1, trials=1,
                     epochs=2, min_steps=100)
    w, _ = P.count_run(PlannedRun("x", few), "t", {}, {})
    assert w.steps == 4 * math.ceil(100 / 4) + 8 * math.ceil(100 / 8)  # epochs raised to reach min_steps
    uda = Experiment(dataset="cifar10", strategies=("random",), initial=250, step=250, cycles=3, trials=1,
                     ssl="uda", iterations=1000, batch_size=64, unlabelled_batch=320)
    w, specs = P.count_run(PlannedRun("x", uda), "t", {}, {})
    assert w.steps == 4 * 1000 and w.train_images[specs[0].key] == 4 * 1000 * (64 + 2 * 320)
    voc = Experiment(dataset="voc", strategies=("random",), initial=5000, step=5000, cycles=1, trials=1,
                     epochs=150, batch_size=10)
    w, specs = P.count_run(PlannedRun("x", voc), "t", {}, {})
    images = [round(5000 / 33), round(10000 / 33)]  # the paper's ~33 clicks per image
    assert w.steps == sum(150 * math.ceil(n / 10) for n in images)
    assert specs[0].key.startswith("deeplabv2-resnet101 321px")
    s4 = Experiment(dataset="voc", strategies=("random",), initial=5000, step=5000, cycles=1, trials=1, ssl="s4gan",
                    iterations=10000)
    w, specs = P.count_run(PlannedRun("x", s4), "t", {}, {})
    assert w.steps == 2 * 10000 and [s.output for s in specs] == ["pixel", "disc"]
    assert w.train_images[specs[1].key] == 2 * 10000 * 4 * 8  # D: 4 x s4GAN's batch of 8 per iteration


def test_a_unit_two_runs_share_is_counted_once():
    a = Experiment(dataset="digits", strategies=("random", "entropy"), initial=20, step=10, cycles=1, trials=3)
    b = Experiment(dataset="digits", strategies=("random",), initial=20, step=10, cycles=1, trials=5)
    seen = {}
    wa, _ = P.count_run(PlannedRun("a", a), "x", seen, {})
    wb, _ = P.count_run(PlannedRun("b", b), "y", seen, {})
    assert (wa.units, wb.units, wb.reused) == (6, 2, 3)


def test_a_longer_run_extends_a_shorter_one():
    short = Experiment(dataset="digits", strategies=("random",), initial=20, step=10, cycles=1, trials=2)
    long = Experiment(dataset="digits", strategies=("random",), initial=20, step=10, cycles=3, trials=2)
    seen = {}
    ws, _ = P.count_run(PlannedRun("s", short), "x", seen, {})
    wl, _ = P.count_run(PlannedRun("l", long), "y", seen, {})
    # cycles 0-1 are stored; the longer run trains cycle 1 again (to query from it), then 2 and 3
    assert (ws.cycles, wl.units, wl.reused, wl.cycles) == (4, 2, 0, 2 * 3)
    wagain, _ = P.count_run(PlannedRun("s2", short), "z", seen, {})
    assert (wagain.units, wagain.reused) == (0, 2)


def test_protocol_runs_are_the_protocol_cells(tmp_path):
    from alkit.experiments.evaluate import protocol_cells

    _cifar(tmp_path), _cifar(tmp_path, "cifar100")
    for preset in ("smoke", "paper"):
        cells = protocol_cells(["entropy"], preset, tmp_path, None)
        runs = protocol_runs(["entropy"], preset, str(tmp_path))
        assert [r.label for r in runs] == [c.name for c in cells]
        assert [r.strategies for r in runs] == [c.strategies for c in cells]
        assert [r.exp.resolved() for r in runs] == \
            [Experiment(strategies=("random",), data_root=str(tmp_path), **c.settings).resolved() for c in cells]


def test_parameter_defaults_reads_the_parameters_cell():
    p = parameter_defaults(R.resolve_notebook("01"))
    assert p["strategies"][0] == "random" and isinstance(p["trials"], int) and p["data_root"] == ""
    paper = notebook_runs("01", "paper")
    assert paper.params["dataset"] == "cifar10" and paper.params["epochs"] == 150


# -- --plan on the command line --------------------------------------------------------------------


def _totals(out: str) -> list[str]:
    return next(line for line in out.splitlines() if line.startswith("total")).split()


def test_reproduce_paper_plan(env, capsys, monkeypatch):
    data, started = env
    assert main(["reproduce", "--preset", "paper", "--plan"]) == 0
    out = capsys.readouterr().out
    assert started == []
    for needle in ("wrn-28-2 32px", "deeplabv2-resnet101 321px", "device-hours", "store disk", "nothing was trained",
                   "ImageNet ResNet-18 weights not found: the notebook skips the transfer runs and so does the plan"):
        assert needle in out, needle
    assert "ResNet-18 (ImageNet)" not in out  # not run without its weights, so not priced
    # with the weights found, notebook 04 fine-tunes the ImageNet network and the plan prices it
    import alkit.engine.models.pretrained as pretrained

    monkeypatch.setattr(pretrained, "find_weights", lambda path=None: data / "resnet18.pth")
    assert main(["reproduce", "--preset", "paper", "--plan", "04"]) == 0
    with_weights = capsys.readouterr().out
    assert "ResNet-18 (ImageNet) at 224px" in with_weights and "weights not found" not in with_weights
    for nb in ("00", "01", "02", "03", "04", "05", "06", "07", "08"):
        assert re.search(rf"^{nb}\s", out, re.M), nb
    for folder in ("cifar-10-batches-py", "cifar-100-python", "VOCdevkit/VOC2012"):
        assert str(data / folder) in out
    assert "fetch: python -m alkit reproduce --preset paper --plan --download" in out
    total = _totals(out)
    assert int(total[1]) > 100 and float(total[6].replace(",", "")) > 0


def test_sweep_plan_and_missing_data(env, tmp_path, capsys, monkeypatch):
    data, _ = env
    grid = tmp_path / "grid.yaml"
    grid.write_text("fixed: {dataset: digits, strategies: [random, entropy], trials: 3, initial: 20, step: 10, "
                    "cycles: 2}\naxes: {augment: [none, paper]}\n")
    assert main(["sweep", "--grid", str(grid), "--plan"]) == 0
    out = capsys.readouterr().out
    total = _totals(out)
    assert total[1:4] == ["12", "0", "36"] and "every dataset the plan reads is present" in out
    monkeypatch.setattr("alkit.experiments.sweep.sweep", lambda *a, **k: pytest.fail("the sweep started"))
    grid.write_text(f"fixed: {{dataset: cifar10, trials: 3, data_root: {data}}}\naxes: {{augment: [none]}}\n")
    assert main(["sweep", "--grid", str(grid), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(data / "cifar-10-batches-py") in err[0] and "--download" in err[0]


def test_evaluate_plan_and_bad_flags(env, capsys, tmp_path):
    assert main(["evaluate", "--strategies", "entropy", "--preset", "smoke", "--plan"]) == 0
    out = capsys.readouterr().out
    # 2 regimes x (2 augmentations x {random, entropy} + SSL-Random) x 3 trials; the smoke preset
    # gives both regimes the same budgets, so the second regime's units are the first's (reused)
    units, reused = (int(v) for v in _totals(out)[1:3])
    assert units + reused == 2 * (2 * 2 + 1) * 3 and "digits / low budget / SSL-Random (UDA)" in out
    assert main(["evaluate", "--strategies", "entropy", "--preset", "paper", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("--download" in line for line in err)
    assert main(["evaluate", "--strategies", "entropy", "--plan", "--trials", "auto"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--plan with trials auto" in err
    assert main(["evaluate", "--strategies", "entropy"]) == 2
    assert "--out is required (unless --plan)" in capsys.readouterr().err


def test_the_store_disk_estimate_is_the_size_of_a_cycle_file(tmp_path):
    """The formula against a real cycle file written by the store."""
    import numpy as np

    from alkit.experiments.store import RunStore

    pool, n, cycle, picked = 1257, 60, 1, 20
    g = P.Geometry(pool=pool, test=540, channels=1, side=8, classes=10)
    labelled_at = np.full(pool, -1)
    labelled_at[:40], labelled_at[40:n] = 0, 1
    store = RunStore(tmp_path, {"x": 1, "data": "d"})
    record = dict(dataset="digits", augment="paper", ssl="none", regime="custom", strategy="entropy", trial=0,
                  cycle=cycle, n_labelled=n, cost=float(n), accuracy=0.93, selected=list(range(1000, 1020)),
                  seconds=12.345)
    store.save_cycle(0, cycle, record, labelled_at, queried=list(range(1100, 1100 + picked)))
    real = (store.dir / "trial0" / "cycle01.json").stat().st_size
    assert abs(P._cycle_bytes(pool, n, cycle, picked, g, {}) - real) < 0.15 * real
    json.loads((store.dir / "trial0" / "cycle01.json").read_text())


def test_download_fetches_before_anything_starts(env, monkeypatch, capsys):
    data, started = env
    fetched = []

    def fake_fetch(missing, root=None, log=print):  # what torchvision would put there
        for m in missing:
            fetched.append(m.dataset)
            _cifar(data, m.dataset)

    monkeypatch.setattr("alkit.experiments.datacheck.fetch", fake_fetch)
    assert main(["reproduce", "--preset", "paper", "01", "--plan", "--download"]) == 0
    out = capsys.readouterr().out
    assert fetched == ["cifar10"] and started == [] and "every dataset the plan reads is present" in out
    assert main(["reproduce", "--preset", "paper", "01", "--download"]) == 0  # present now: nothing fetched
    assert fetched == ["cifar10"] and [nb.name for nb in started] == ["01_augmentation.ipynb"]
