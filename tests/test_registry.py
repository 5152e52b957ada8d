"""The strategy registry: registration rules, what a strategy can (and cannot) read, user files
with one-line errors, and user strategies in spawn worker processes."""

import os
import pickle
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch

import alkit.strategies as S
from alkit.strategies import base
from task_settings import seg_recipe, training


@pytest.fixture(autouse=True)
def clean_registry():
    """Every test leaves the registry (and the list of loaded files) as it found it."""
    reg, files = dict(base._REGISTRY), dict(base._LOADED_FILES)
    yield
    base._REGISTRY.clear()
    base._REGISTRY.update(reg)
    base._LOADED_FILES.clear()
    base._LOADED_FILES.update(files)


@pytest.fixture(scope="module")
def digits():
    from alkit.engine.data import load_dataset

    return load_dataset("digits")


def _record_pid():
    folder = os.environ.get("ALKIT_TEST_PIDS")
    if folder:
        with open(os.path.join(folder, f"{os.getpid()}.pid"), "w") as f:
            f.write("x")


def module_least_confidence(inputs):
    """A user strategy defined at the top level of a (test) module: workers import it by name."""
    _record_pid()
    return 1.0 - inputs.probs.max(axis=1)


# ---------------------------------------------------------------- registration rules


def test_register_returns_function_and_is_listed():
    def fn(inputs):
        return inputs.probs[:, 0]

    assert S.register_strategy("first-class", needs={"probs"}, label="First class")(fn) is fn
    spec = S.get_strategy("first-class")
    assert spec.fn is fn and spec.needs == {"probs"} and spec.kind == "score" and not spec.builtin
    assert spec.members == "single" and spec.trains is None
    assert "first-class" in S.strategy_names() and "first-class" not in S.strategy_names(builtin_only=True)
    assert S.NEEDS["first-class"] == {"probs"} and S.LABELS["first-class"] == "First class"
    from alkit.analysis.plots import STRATEGY_COLORS, strategy_label

    assert strategy_label("first-class") == "First class" and strategy_label("ens-varr") == "ENS-varR"
    assert STRATEGY_COLORS["first-class"] == STRATEGY_COLORS["first-class"] != STRATEGY_COLORS["random"]
    assert STRATEGY_COLORS.get("not-a-strategy") is None and STRATEGY_COLORS["transfer"]


def test_builtins_and_compatibility_views():
    assert S.STRATEGY_NAMES == ("random", "entropy", "ens-varr", "coreset", "ll")
    assert set(S.strategy_names(builtin_only=True)) == {*S.STRATEGY_NAMES, "margin", "bald", "badge", "typiclust",
                                                             "debiased-entropy", "debiased-margin"}
    from alkit.strategies.segmentation import SEG_LABELS, SEG_STRATEGIES

    assert SEG_STRATEGIES == ("random", "entropy", "ens-ent", "ll")  # the paper's four, the default list
    # plus SSL-D-score (paper Sec. 4.3), registered but only valid with ssl="s4gan"
    assert S.strategy_names("segmentation", builtin_only=True) == (*SEG_STRATEGIES, "d-score")
    assert SEG_LABELS["ens-ent"] == "ENS-ent" and S.LABELS["ens-ent"] == "ENS-ent"
    assert S.NEEDS["ens-varr"] == {"member_preds"} and S.NEEDS["random"] == set()
    assert S.get_strategy("ens-varr").members == "ensemble" and S.get_strategy("ll").trains == "lossnet"
    assert S.get_strategy("ens-ent", "segmentation").members == "ensemble"
    assert S.get_strategy("ll", "segmentation").trains == "lossnet"
    with pytest.raises(ValueError, match="ens-ent"):
        S.check_strategy("coreset", task="segmentation")


def test_duplicate_names_raise_unless_replace():
    S.register_strategy("dup", needs={"probs"})(lambda inputs: inputs.probs[:, 0])

    def other(inputs):
        return inputs.probs[:, 1]

    with pytest.raises(ValueError, match=r"^strategy 'dup' is already registered.*replace=True") as e:
        S.register_strategy("dup", needs={"probs"})(other)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="already registered"):
        S.register_strategy("entropy", needs={"probs"})(other)  # a built-in too
    S.register_strategy("dup", needs={"probs"}, replace=True)(other)
    assert S.get_strategy("dup").fn is other
    S.register_strategy("dup", needs={"probs"}, label="again")(other)  # the same definition re-run
    assert S.get_strategy("dup").label == "again"
    # the same name for the other task is a different strategy
    S.register_strategy("dup", task="segmentation", needs={"predicted_loss"})(other)
    assert S.get_strategy("dup", "segmentation").trains == "lossnet"


@pytest.mark.parametrize("name", ["Entropy", "my strategy", "", "a.b", "x/y", 3, None, "énergie"])
def test_malformed_names(name):
    with pytest.raises(ValueError, match="invalid strategy name") as e:
        S.register_strategy(name)
    assert repr(name) in str(e.value)


def test_unknown_needs_kind_task_and_members():
    with pytest.raises(ValueError, match=r"unknown need\(s\) 'prbs'.*choose from probs, member_probs"):
        S.register_strategy("x", needs={"prbs"})
    with pytest.raises(ValueError, match="unknown need.*'labels'"):
        S.register_strategy("x", needs={"probs", "labels"})
    with pytest.raises(ValueError, match="unknown need.*'features'.*probs_iter"):
        S.register_strategy("x", needs={"features"}, task="segmentation")
    with pytest.raises(ValueError, match="unknown kind 'rank'"):
        S.register_strategy("x", kind="rank")
    with pytest.raises(ValueError, match="unknown task 'detection'"):
        S.register_strategy("x", task="detection")
    with pytest.raises(ValueError, match="members must be"):
        S.register_strategy("x", members="three")
    with pytest.raises(ValueError, match="trains must be None, 'lossnet' or 'dropout'"):
        S.register_strategy("x", needs={"predicted_loss"}, trains="other")


def test_check_strategy_suggests_close_names():
    with pytest.raises(ValueError) as e:
        S.check_strategy("entrpy")
    msg = str(e.value)
    assert msg.startswith("unknown strategy 'entrpy' (did you mean 'entropy'?); choose from random, entropy")
    with pytest.raises(ValueError, match=r"'ens-ent' is a segmentation strategy"):
        S.check_strategy("ens-ent")
    with pytest.raises(ValueError, match=r"unknown segmentation strategy 'ens-ant' \(did you mean 'ens-ent'\?\)"):
        S.check_strategy("ens-ant", task="segmentation")
    assert S.check_strategy("margin") == "margin"


# ---------------------------------------------------------------- what a strategy sees


def test_inputs_are_lazy_cached_and_limited_to_needs():
    calls = []

    def probs():
        calls.append("probs")
        return np.array([[0.9, 0.1], [0.5, 0.5]])

    def features():
        calls.append("features")
        raise AssertionError("never computed: not needed")

    S.register_strategy("uses-probs", needs={"probs"})(lambda inputs: inputs.probs[:, 1])
    inputs = S.QueryInputs([3, 7], labelled=[0, 1], num_classes=2, pool_size=8,
                           providers={"probs": probs, "features": features})
    picked = S.rank("uses-probs", inputs, 1, np.random.default_rng(0))
    assert picked.tolist() == [7] and calls == ["probs"]
    view = inputs.for_strategy(S.get_strategy("uses-probs"))
    view.probs, view.probs
    assert calls == ["probs"]  # cached
    with pytest.raises(AttributeError, match=r"^strategy 'uses-probs' did not declare need 'features'$"):
        view.features
    with pytest.raises(AttributeError, match="did not declare need 'labelled_labels'"):
        view.labelled_labels
    assert view.labelled_mask.tolist() == [True, True] + [False] * 6
    assert view.unlabelled.tolist() == [3, 7] and view.num_classes == 2
    assert "features" not in dir(view) and "probs" in dir(view)
    for name in ("labels", "y", "targets", "train_y", "data", "task", "dataset", "unlabelled_labels"):
        with pytest.raises(AttributeError):
            getattr(view, name)
    with pytest.raises(TypeError, match="unknown input"):
        S.QueryInputs([1], labels=np.zeros(1))


def test_direct_values_and_select_output_is_checked():
    inputs = S.QueryInputs([5, 6, 7], labelled=[0], pool_size=8, probs=np.eye(3))
    S.register_strategy("bad-dup", kind="select")(lambda i, b, r: np.array([5, 5]))
    S.register_strategy("bad-labelled", kind="select")(lambda i, b, r: np.array([0]))
    S.register_strategy("bad-many", kind="select")(lambda i, b, r: i.unlabelled)
    S.register_strategy("bad-shape")(lambda i: np.zeros(2))
    S.register_strategy("bad-nan")(lambda i: np.full(3, np.nan))
    rng = np.random.default_rng(0)
    for name, match in (("bad-dup", "twice"), ("bad-labelled", "not unlabelled"), ("bad-many", "budget of 2"),
                        ("bad-shape", r"shape \(2,\)"), ("bad-nan", "NaN")):
        with pytest.raises(ValueError, match=f"strategy '{name}'.*{match}"):
            S.rank(name, inputs, 2, rng)
    S.register_strategy("wants-features", needs={"features"})(lambda i: i.features[:, 0])
    with pytest.raises(ValueError, match="needs features, which the caller did not provide"):
        S.rank("wants-features", inputs, 2, rng)


def _reachable(root):
    """Objects reachable from ``root`` through attributes, containers and closure cells (not
    through module globals): what a strategy could dig out of its inputs."""
    seen, out, stack = set(), [], [root]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, (types.ModuleType, type)):
            continue
        seen.add(id(o))
        out.append(o)
        if isinstance(o, types.FunctionType):
            for c in o.__closure__ or ():
                try:
                    stack.append(c.cell_contents)
                except ValueError:
                    pass
        elif isinstance(o, types.MethodType):
            stack.extend([o.__self__, o.__func__])
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
        elif isinstance(o, (np.ndarray, torch.Tensor)):
            continue
        elif hasattr(o, "__dict__"):
            stack.extend(vars(o).values())
    return out


def test_a_strategy_cannot_reach_unlabelled_labels(digits):
    """Every attribute a strategy can read, and everything reachable from its inputs (closures
    included), holds no label of an unlabelled item, no task and no dataset."""
    from alkit.tasks.classification import ClassificationTask
    from alkit.engine.data.base import ImageDataset

    seen = {}

    @S.register_strategy("snoop", needs=set(base.NEEDS_BY_TASK["classification"]), kind="select")
    def snoop(inputs, budget, rng):
        for name in dir(inputs):
            seen[name] = getattr(inputs, name)
        seen["_reachable"] = _reachable(inputs)
        return inputs.unlabelled[:budget]

    task = ClassificationTask(digits, **training(epochs=1))
    rng = np.random.default_rng(0)
    labelled = task.initial_order(rng)[:30]
    unlabelled = np.setdiff1d(np.arange(len(task.labels)), labelled)
    learner = task.fit(labelled, 0, "snoop")
    assert learner.lossnet is not None  # predicted_loss was among the needs
    task.rank(learner, "snoop", labelled, unlabelled, 10, rng)
    assert set(base.NEEDS_BY_TASK["classification"]) <= set(seen)
    assert seen["labelled_labels"].tolist() == task.labels[labelled].tolist()
    secret = task.labels[unlabelled]
    n = len(task.labels)
    for obj in seen.pop("_reachable") + list(seen.values()):
        assert not isinstance(obj, (ClassificationTask, ImageDataset))
        if isinstance(obj, torch.Tensor):
            obj = obj.detach().cpu().numpy()
        if isinstance(obj, np.ndarray) and obj.ndim == 1 and np.issubdtype(obj.dtype, np.integer):
            assert len(obj) < len(secret) or not (np.array_equal(obj[:len(secret)], secret)
                                                  or (len(obj) == n and np.array_equal(obj[unlabelled], secret)))


# ---------------------------------------------------------------- user files


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """
import numpy as np
from alkit.strategies import register_strategy


@register_strategy("file-least-conf", needs={"probs"}, label="Least confidence")
def least_confidence(inputs):
    import os
    folder = os.environ.get("ALKIT_TEST_PIDS")
    if folder:
        open(os.path.join(folder, f"{os.getpid()}.pid"), "w").close()
    return 1.0 - inputs.probs.max(axis=1)
"""


def test_load_strategies_registers_and_reloads(tmp_path):
    p = _write(tmp_path, "mine.py", GOOD)
    assert S.load_strategies(p) == ["file-least-conf"]
    spec = S.get_strategy("file-least-conf")
    assert spec.source_file == str(p.resolve()) and S.loaded_files()[-1] == str(p.resolve())
    inputs = S.QueryInputs([0, 1, 2], probs=np.array([[0.9, 0.1], [0.5, 0.5], [0.7, 0.3]]))
    assert S.rank("file-least-conf", inputs, 2, np.random.default_rng(0)).tolist() == [1, 2]
    # loading it again replaces its strategies (no duplicate error); a renamed one disappears
    p.write_text(GOOD.replace("file-least-conf", "file-renamed"))
    assert S.load_strategies(str(p)) == ["file-renamed"]
    assert "file-least-conf" not in S.strategy_names() and "file-renamed" in S.strategy_names()


@pytest.mark.parametrize("kind", ["missing", "not-py", "folder", "syntax", "raises", "nothing", "duplicate"])
def test_user_file_errors_are_one_line(tmp_path, kind):
    if kind == "missing":
        p, match = tmp_path / "nope.py", "strategy file not found"
    elif kind == "not-py":
        p, match = _write(tmp_path, "mine.txt", GOOD), "must be a .py file"
    elif kind == "folder":
        (tmp_path / "pkg.py").mkdir()
        p, match = tmp_path / "pkg.py", "must be a .py file"
    elif kind == "syntax":
        p, match = _write(tmp_path, "mine.py", GOOD + "\ndef broken(:\n    pass\n"), r"mine\.py:14: syntax error"
    elif kind == "raises":
        p, match = _write(tmp_path, "mine.py", GOOD + "\nx = {}['missing']\n"), r"mine\.py:14: KeyError while importing: 'missing'"
    elif kind == "nothing":
        p, match = _write(tmp_path, "mine.py", "import numpy\n"), "registers no strategy"
    else:
        p, match = _write(tmp_path, "mine.py", GOOD.replace("file-least-conf", "entropy")), "already registered"
    before = S.strategy_names()
    with pytest.raises(S.StrategyFileError, match=match) as e:
        S.load_strategies(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p.name) in msg
    assert isinstance(e.value, ValueError)
    assert S.strategy_names() == before  # nothing half-registered
    if kind == "raises":
        assert "file-least-conf" not in S.strategy_names()


# ---------------------------------------------------------------- spawn workers


def test_user_strategies_run_in_spawn_workers(tmp_path, monkeypatch):
    """A file strategy and a test-module strategy run in 2 spawn workers, with the same records as
    in-process, and really in other processes."""
    from alkit.experiments.config import Experiment, run
    from alkit.experiments.runner import picklable

    S.load_strategies(_write(tmp_path, "mine.py", GOOD))
    S.register_strategy("module-least-conf", needs={"probs"})(module_least_confidence)
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv("ALKIT_TEST_PIDS", str(pids))
    exp = Experiment(strategies=("file-least-conf", "module-least-conf", "margin", "random"), initial=20, step=20,
                     cycles=1, trials=1, epochs=1, min_steps=0, seed=2)
    
    task = exp.build_task()
    assert picklable(task)
    par = run(exp, task=task, store_root=tmp_path / "par", progress=False, with_selected=True, workers=2)
    used = {int(f.stem) for f in pids.glob("*.pid")}
    assert used and os.getpid() not in used  # both user strategies ran in worker processes
    seq = run(exp, task=task, store_root=tmp_path / "seq", progress=False, with_selected=True, workers=1)
    strip = lambda df: df.drop(columns="seconds").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(strip(par), strip(seq))
    assert set(par.strategy) == set(exp.strategies)


def test_a_fresh_process_learns_the_strategies_from_the_pickled_task(tmp_path, digits):
    """Unpickling a task registers what it carries (files loaded again, module functions imported)."""
    from alkit.tasks.classification import ClassificationTask

    S.load_strategies(_write(tmp_path, "mine.py", GOOD))
    S.register_strategy("module-least-conf", needs={"probs"})(module_least_confidence)
    blob = pickle.dumps(ClassificationTask(digits, **training(epochs=1)))
    base._REGISTRY.pop(("classification", "file-least-conf"))  # as in a fresh worker
    base._REGISTRY.pop(("classification", "module-least-conf"))
    base._LOADED_FILES.clear()
    pickle.loads(blob)
    assert S.get_strategy("file-least-conf").source_file == str((tmp_path / "mine.py").resolve())
    assert S.get_strategy("module-least-conf").fn is module_least_confidence


def test_notebook_strategy_keeps_the_run_in_process(tmp_path, monkeypatch):
    """A strategy defined in a notebook cell (module ``__main__`` without a file) cannot reach a
    worker: the task reports itself unpicklable and the runner runs it in this process."""
    from alkit.experiments.config import Experiment, run
    from alkit.experiments.runner import picklable

    fake_main = types.ModuleType("__main__")  # like an IPython kernel's: no __file__, no __spec__
    monkeypatch.setitem(sys.modules, "__main__", fake_main)

    def notebook_strategy(inputs):
        return inputs.probs.min(axis=1)

    notebook_strategy.__module__, notebook_strategy.__qualname__ = "__main__", "notebook_strategy"
    fake_main.notebook_strategy = notebook_strategy
    S.register_strategy("cell-strategy", needs={"probs"})(notebook_strategy)
    exp = Experiment(strategies=("cell-strategy",), initial=20, step=20, cycles=1, trials=1, epochs=1, min_steps=0)
    task = exp.build_task()
    assert not picklable(task)
    with pytest.raises(pickle.PicklingError, match="defined interactively.*load_strategies"):
        pickle.dumps(task)
    import copy

    copy.deepcopy(task)  # copying in-process still works
    df = run(exp, task=task, store_root=tmp_path, progress=False, workers=2)
    assert df.strategy.tolist() == ["cell-strategy"] * 2
    S.unregister_strategy("cell-strategy")
    assert picklable(task)


# ---------------------------------------------------------------- segmentation


def test_user_segmentation_strategies():
    from alkit.engine.data.shapes import load_shapes
    from alkit.tasks.segmentation import SegmentationTask
    from alkit.strategies.base import per_image

    @S.register_strategy("mean-conf", task="segmentation", needs={"probs_iter"})
    def mean_confidence(inputs):
        return per_image(inputs.probs_iter, lambda p: -p.max(1).values.mean((1, 2)), len(inputs.unlabelled))

    seen = {}

    @S.register_strategy("cheapest", task="segmentation", kind="select")
    def cheapest(inputs, budget, rng):
        seen["costs"], seen["budget"] = inputs.costs, budget
        return inputs.unlabelled[np.argsort(inputs.costs, kind="stable")]

    task = SegmentationTask(load_shapes(16, 2), recipe=seg_recipe(epochs=1), device="cpu")
    labelled, unl = np.arange(4), np.arange(4, 16)
    learner = task.fit(labelled, 0, "mean-conf")
    assert len(learner.models) == 1 and learner.lossnet is None
    order = task.rank(learner, "mean-conf", labelled, unl, 50, np.random.default_rng(0))
    s = task.scores(learner, "mean-conf", unl)
    assert sorted(order.tolist()) == unl.tolist()
    assert np.all(np.diff(task.scores(learner, "mean-conf", order)) <= 0) and s.shape == (12,)
    order = task.rank(learner, "cheapest", labelled, unl, 50, np.random.default_rng(0))
    assert seen["budget"] == 50 and seen["costs"].tolist() == task.clicks[unl].tolist()
    assert order.tolist() == unl[np.argsort(task.clicks[unl], kind="stable")].tolist()
    with pytest.raises(ValueError, match="no scores"):
        task.scores(learner, "random", unl)
    with pytest.raises(ValueError, match="unknown segmentation strategy 'margin'.*classification strategy"):
        task.fit(labelled, 0, "margin")
