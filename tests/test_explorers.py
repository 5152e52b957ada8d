"""The explorers work without a browser: setting a control changes what they compute and draw."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from alkit.engine.data import load_dataset  # noqa: E402
from alkit.explorers import ALSandbox, ClickExplorer, PoolInspector  # noqa: E402
from alkit.protocol.annotation import annotate  # noqa: E402


def pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    out = np.asarray(fig.canvas.buffer_rgba()).copy()
    plt.close(fig)
    return out


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", n_train=6, n_val=0)


def test_click_explorer_matches_the_annotator_and_the_slider_changes_it(shapes):
    ex = ClickExplorer(shapes, index=1, tolerance=0.0)
    exact = ex.state()
    approx, clicks = annotate(shapes.train_masks[1].numpy(), 0.0, background=shapes.background)
    assert exact["clicks"] == clicks and np.array_equal(exact["approx"], approx)
    # IoU by hand: per class present, |A & B| / |A | B|
    true = shapes.train_masks[1].numpy()
    ious = [((true == c) & (approx == c)).sum() / ((true == c) | (approx == c)).sum()
            for c in np.union1d(np.unique(true), np.unique(approx)) if c != shapes.ignore_index]
    assert exact["iou"] == pytest.approx(np.mean(ious))
    before = pixels(ex.render())
    coarse = ex.set(tolerance=8.0).state()
    assert coarse["clicks"] < exact["clicks"]  # a coarser polygon needs fewer vertices
    assert coarse["iou"] <= exact["iou"] + 1e-12
    assert "8 px" in ex.summary()
    assert not np.array_equal(before, pixels(ex.render()))


def test_explorer_rejects_unknown_settings(shapes):
    with pytest.raises(AttributeError, match="tolernce"):
        ClickExplorer(shapes).set(tolernce=3)


def test_widget_redraws_on_a_control_change(shapes):
    ex = ClickExplorer(shapes, tolerance=0.0)
    box = ex.widget()
    import ipywidgets as w

    summary = next(c for c in box.children if isinstance(c, w.HTML))
    first = summary.value
    ex_slider = box.children[0].children[0]
    ex_slider.value = 8.0
    assert ex.tolerance == 8.0 and summary.value != first


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    box = ALSandbox(strategy="entropy", augment="none", initial=20, step=10, cycles=2, trials=1, epochs=1,
                    min_steps=0, cycle=1, workers=1, mode="thread", store_root=tmp_path_factory.mktemp("runs"))
    yield box
    box.close()


def test_sandbox_runs_random_and_the_strategy_and_shows_the_cycle_picks(tiny_run):
    df = tiny_run.results()
    assert set(df.strategy) == {"entropy", "random"} and set(df.cycle) == {0, 1, 2}
    picks = tiny_run.picks()
    assert len(picks) == 10  # B_s images, one trial
    labels = tiny_run.data().train_y.numpy()
    assert np.array_equal(tiny_run.class_counts(), np.bincount(labels[picks], minlength=10))
    before = pixels(tiny_run.render())
    tiny_run.set(cycle=0)
    assert len(tiny_run.picks()) == 20  # the initial set
    assert tiny_run.class_counts().sum() == 20
    assert not np.array_equal(before, pixels(tiny_run.render()))
    assert "Random" in tiny_run.summary()


def test_sandbox_shows_the_class_imbalance_of_the_labelled_set(tiny_run):
    """One bias number per cycle (paper Sec. 5): total variation between the labelled set's class
    histogram and the pool's, by hand from the stored picks."""
    df = tiny_run.results()
    labels = tiny_run.data().train_y.numpy()
    pool = np.bincount(labels, minlength=10) / len(labels)
    tiny_run.set(cycle=2)
    for strategy in ("entropy", "random"):
        run = df[(df.strategy == strategy) & (df.trial == 0)].sort_values("cycle")
        idx = np.concatenate([np.asarray(s, dtype=int) for s in run.selected])
        mine = 0.5 * np.abs(np.bincount(labels[idx], minlength=10) / len(idx) - pool).sum()
        assert tiny_run.labelled_tv(strategy) == pytest.approx(mine)
    assert "class imbalance (TV to the pool)" in tiny_run.summary()


def test_pool_inspector_colours_the_picks_up_to_the_cycle(tiny_run):
    df = tiny_run.results()
    insp = PoolInspector(tiny_run.data(), df, strategy="entropy", cycle=2)
    at = insp.picked_at()
    assert (at >= 0).sum() == 20 + 2 * 10
    assert np.array_equal(np.bincount(at[at >= 0]), [20, 10, 10])
    assert insp.coordinates().shape == (len(at), 2)
    before = pixels(insp.render())
    insp.set(cycle=0)
    assert (insp.picked_at() >= 0).sum() == 20
    assert not np.array_equal(before, pixels(insp.render()))
    insp.set(strategy="random", cycle=2)
    assert set(np.flatnonzero(insp.picked_at() == 0)) == set(np.flatnonzero(at == 0))  # same initial set per trial


def test_sandbox_ssl_toggle_runs_uda_and_labels_it(tmp_path):
    """SSL on: both strategies run as SSL-X with UDA (the store keys say so), the summary and the
    curve's legend use the SSL- names; switching it off again gives the supervised runs back."""
    box = ALSandbox(strategy="entropy", augment="none", initial=20, step=10, cycles=1, trials=1, epochs=1,
                    min_steps=0, iterations=3, cycle=1, workers=1, mode="thread", store_root=tmp_path)
    sup = box.results()
    box.set(ssl=True)
    exp = box.experiment()
    assert exp.resolved()["ssl"] == "uda" and exp.resolved()["iterations"] == 3
    ssl = box.results()
    assert set(ssl.ssl) == {"uda"} and set(ssl.strategy) == {"entropy", "random"}
    assert len(ssl.query("cycle == 1").selected.iloc[0]) == 10  # B_s picks with SSL too
    assert box.summary().startswith("SSL-Entropy: final accuracy") and "vs SSL-Random" in box.summary()
    assert "over 1 paired trials: too few trials (n=1)" in box.summary()
    fig = box.render()
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    assert any(t.startswith("SSL-") for t in legend), legend
    keys = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert len(keys) == 4  # entropy and random, supervised and SSL: four store keys
    box.set(ssl=False)
    assert box.results() is sup  # the supervised runs, from the explorer's cache
    box.close()


def test_pool_inspector_tsne_map(tiny_run):
    """The t-SNE map (sklearn, PCA init) is a different 2-D layout of the same points, computed
    once per method; the axes say which map is shown."""
    insp = PoolInspector(tiny_run.data(), tiny_run.results(), strategy="entropy", cycle=2)
    pca = insp.coordinates()
    insp.set(method="tsne")
    tsne = insp.coordinates()
    assert tsne.shape == pca.shape and np.isfinite(tsne).all()
    assert not np.allclose(tsne, pca)
    assert insp.coordinates() is tsne  # cached
    fig = insp.render()
    assert fig.axes[0].get_xlabel() == "TSNE 1"
    plt.close(fig)
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        insp.set(method="umap").coordinates()


def test_sandbox_summary_gap_and_interval_match_scipy(tmp_path):
    """With 3 trials the summary gives the paired final gap and its 95 % Student-t interval, as
    scipy computes them from the per-trial final accuracies."""
    from scipy import stats

    box = ALSandbox(strategy="entropy", augment="none", initial=20, step=10, cycles=1, trials=3, epochs=2,
                    min_steps=0, cycle=1, workers=1, mode="thread", store_root=tmp_path)
    df = box.results()
    box.close()
    final = df[df.cycle == 1].pivot_table(index="trial", columns="strategy", values="accuracy")
    d = 100 * (final["entropy"] - final["random"]).to_numpy()
    line = box.summary()
    if np.ptp(d) == 0:
        assert "no spread, no interval" in line
        return
    ci = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    assert (f"Entropy: {d.mean():+.2f} points vs Random [95 % CI {ci.low:+.2f}, {ci.high:+.2f}] over 3 paired "
            f"trials, margin +1.00 points: ") in line, line
    assert line.split("margin +1.00 points: ")[1].split(";")[0] in ("replicated", "contradicted", "inconclusive")


# --------------------------------------------------------------------------- answers while you watch

TINY = dict(augment="none", initial=20, step=10, cycles=2, epochs=1, min_steps=0, cycle=1)


def stored_cycles(root, strategy: str) -> list:
    """Cycle files of ``strategy`` in the store under ``root`` (all its keys and trials)."""
    return sorted(str(p) for p in root.glob(f"digits-{strategy}-*/trial*/cycle*.json"))


def test_sandbox_draws_the_first_trial_before_the_others_finish(tmp_path):
    """One worker runs the four trial runs one after another: when the first has finished, the
    others are not, and the sandbox already shows it (partial table, status, summary, figure);
    the rest are added as they finish."""
    box = ALSandbox(strategy="entropy", trials=2, workers=1, mode="thread", store_root=tmp_path, **TINY)
    seen = []

    def snapshot():  # called by the runner at every stored cycle and state change
        c = box.counts()
        if c["done"] == 1 and not seen:
            seen.append((c, box.partial(), box.status()))

    box.subscribe(snapshot)
    t0 = box.set(strategy="entropy")  # a control change starts the run and returns at once
    assert t0 is box and box.counts()["done"] == 0
    assert box.wait(timeout=600)
    counts, first, status = seen[0]
    assert counts["total"] == 4 and counts["done"] == 1 and counts["running"] + counts["queued"] == 3
    assert status.startswith("1 of 4 trial runs done")
    assert len(first.groupby(["strategy", "trial"])) >= 1 and first.cycle.max() == 2
    assert len(box.partial()) == 4 * 3 > len(first)  # the rest were added as they finished
    assert box.status() == "4 of 4 trial runs done"
    fig = box.render()
    plt.close(fig)
    box.close()


def test_sandbox_control_change_cancels_the_superseded_runs(tmp_path):
    """Changing the strategy while its runs go on: set() returns at once, the runs of the old
    strategy stop (no cycle of theirs is stored afterwards), Random's runs are kept, and the new
    strategy's runs end as alkit.run computes them."""
    box = ALSandbox(strategy="entropy", trials=2, workers=1, mode="thread", store_root=tmp_path,
                    **dict(TINY, cycles=4))
    started = []
    box.subscribe(lambda: started.append(1) if stored_cycles(tmp_path, "entropy") else None)
    box.status()  # starts the run
    import time

    end = time.monotonic() + 600
    while not started and time.monotonic() < end:  # the first entropy cycle is stored
        time.sleep(0.05)
    assert started
    box.set(strategy="margin")
    assert box.counts()["done"] < 4  # returned before margin's runs could finish
    before = stored_cycles(tmp_path, "entropy")
    assert box.wait(timeout=600)
    import threading

    for t in threading.enumerate():  # the superseded thread ends after the cycle it was training
        if t.name.startswith("alkit-unit-entropy"):
            t.join(timeout=600)
    assert stored_cycles(tmp_path, "entropy") == before  # nothing stored after the change
    assert len(before) < 2 * 5  # the entropy runs were stopped before they were complete
    assert len(stored_cycles(tmp_path, "margin")) == 2 * 5 and len(stored_cycles(tmp_path, "random")) == 2 * 5
    box.close()


def test_sandbox_process_workers_stream_cycles_and_stop_superseded_runs(tmp_path):
    """The default engine: worker processes. A superseded run's process is stopped before set()
    returns, so no cycle of it is stored afterwards; the results are alkit.run's."""
    from alkit.experiments.config import run

    box = ALSandbox(strategy="entropy", trials=1, workers=1, store_root=tmp_path, **dict(TINY, cycles=4))
    first = []
    box.subscribe(lambda: first.append(1) if stored_cycles(tmp_path, "entropy") else None)
    box.status()
    import time

    end = time.monotonic() + 600
    while not first and time.monotonic() < end:
        time.sleep(0.05)
    box.set(strategy="margin")
    before = stored_cycles(tmp_path, "entropy")
    assert 1 <= len(before) < 5
    df = box.results(timeout=600)
    assert stored_cycles(tmp_path, "entropy") == before
    ref = run(box.experiment(), store_root=tmp_path / "ref", workers=1, with_selected=True, progress=False)
    cols = ["strategy", "trial", "cycle", "n_labelled", "accuracy", "selected"]
    assert df[cols].to_dict("records") == ref[cols].to_dict("records")
    box.close()


def test_sandbox_reads_stored_cycles_without_training(tmp_path):
    """A second sandbox on the same store answers at once: every trial run done, no worker."""
    box = ALSandbox(strategy="entropy", trials=2, workers=1, mode="thread", store_root=tmp_path, **TINY)
    df = box.results(timeout=600)
    box.close()
    again = ALSandbox(strategy="entropy", trials=2, workers=1, mode="thread", store_root=tmp_path, **TINY)
    assert again.status() == "4 of 4 trial runs done"  # no wait: read from the store
    assert again._runner._slots == []  # nothing was started
    cols = ["strategy", "trial", "cycle", "accuracy", "selected"]
    assert again.results()[cols].to_dict("records") == df[cols].to_dict("records")
    again.close()


def test_sandbox_gives_the_results_of_alkit_run(tmp_path):
    """Determinism: the sandbox's table is alkit.run's for the same Experiment (another store)."""
    from alkit.experiments.config import run

    box = ALSandbox(strategy="margin", trials=2, workers=2, mode="thread", store_root=tmp_path / "a", **TINY)
    assert box._get_runner(None).workers == 1  # threads share torch's random state: one unit at a time
    df = box.results(timeout=600)
    box.close()
    ref = run(box.experiment(), store_root=tmp_path / "b", workers=1, with_selected=True, progress=False)
    cols = ["dataset", "augment", "ssl", "regime", "strategy", "trial", "cycle", "n_labelled", "cost", "accuracy",
            "selected"]
    assert df[cols].to_dict("records") == ref[cols].to_dict("records")


def test_sandbox_defaults_are_the_recipe(tmp_path):
    """No training numbers of its own: the default sandbox runs the digits recipe's experiment."""
    from alkit.experiments.config import Experiment

    box = ALSandbox(store_root=tmp_path)
    want = Experiment(dataset="digits", strategies=("entropy", "random")).resolved()
    assert box.experiment().resolved() == want
    box.close()


def test_live_widget_redraws_when_runs_finish(tmp_path):
    """The widget's summary line follows the background runs without a control change."""
    import time

    import ipywidgets as w

    box = ALSandbox(strategy="entropy", trials=1, workers=1, mode="thread", store_root=tmp_path, **TINY)
    ui = box.widget()
    summary = next(c for c in ui.children if isinstance(c, w.HTML))
    out = next(c for c in ui.children if isinstance(c, w.Output))
    assert box.wait(timeout=600)
    end = time.monotonic() + 120
    while "running" in summary.value or "queued" in summary.value:
        if time.monotonic() > end:
            import faulthandler
            import sys

            faulthandler.dump_traceback(file=sys.stderr)  # where the redraw thread is stuck
            raise AssertionError(summary.value)
        time.sleep(0.1)
    assert "Entropy: final accuracy" in summary.value and "trial runs done" not in summary.value
    assert out.outputs and "image/png" in out.outputs[0]["data"]
    box.close()


def test_sandbox_defaults_read_notebook_00s_runs():
    """``make reproduce`` fills the sandbox's default store: notebook 00's experiment at its default
    parameters has the store keys of ``ALSandbox()`` (same resolved settings, every strategy)."""
    import ast
    import json

    from alkit.engine.data import load_dataset
    from alkit.experiments.config import Experiment
    from alkit.paths import REPO_ROOT

    nb = json.loads((REPO_ROOT / "notebooks" / "00_quickstart.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    p = {n.target.id: ast.literal_eval(n.value) for n in ast.parse("".join(cell["source"])).body
         if isinstance(n, ast.AnnAssign)}
    notebook = Experiment(dataset=p["dataset"], strategies=tuple(p["strategies"]), augment=p["augment"],
                          initial=p["initial"], step=p["step"], cycles=p["cycles"], trials=p["trials"],
                          epochs=p["epochs"], min_steps=p["min_steps"] or None, seed=p["seed"])
    box = ALSandbox()
    task = box.experiment().build_task(data=load_dataset("digits"))
    for strategy in ("entropy", "random"):
        assert notebook.store_config(strategy, task) == box.experiment().store_config(strategy, task), strategy


def test_sandbox_runs_a_notebook_cell_strategy_in_this_process(tmp_path):
    """A strategy defined in a notebook cell (here: a local function) cannot travel to a worker
    process: the sandbox then runs in a thread of this process, as alkit.run does."""
    import alkit
    from alkit.strategies import unregister_strategy

    @alkit.register_strategy("cell-margin", needs={"probs"})
    def cell_margin(inputs):
        p = np.sort(inputs.probs, 1)
        return p[:, -2] - p[:, -1]

    box = ALSandbox(strategy="cell-margin", trials=1, workers=1, store_root=tmp_path, **TINY)
    try:
        df = box.results(timeout=600)
        assert box.mode == "thread"
        assert set(df.strategy) == {"cell-margin", "random"} and len(df) == 2 * 3
    finally:
        box.close()
        unregister_strategy("cell-margin")


def test_deferred_widget_shows_its_message_at_once_and_the_view_when_ready(tiny_run):
    import threading
    import time

    import ipywidgets as w

    from alkit.explorers import deferred_widget

    go = threading.Event()
    box = deferred_widget(lambda: PoolInspector(tiny_run.data(), tiny_run.results(), strategy="entropy").widget(),
                          go.wait, "waiting for the runs")
    time.sleep(0.3)
    assert len(box.children) == 1 and "waiting for the runs" in box.children[0].value  # not blocked, not built
    go.set()
    end = time.monotonic() + 60
    while box.children[0].__class__ is w.HTML and time.monotonic() < end:
        time.sleep(0.05)
    view = box.children[0]
    assert isinstance(view, w.VBox)  # the inspector's controls, summary and figure
    out = view.children[-1]
    # built off the kernel's main thread: the figure is a PNG output, not a capture (which needs that thread)
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["image/png"]


def test_deferred_widget_shows_an_error_in_place_of_the_message():
    import time

    from alkit.explorers import deferred_widget

    def broken():
        raise RuntimeError("a run failed")

    box = deferred_widget(broken, lambda: None, "waiting")
    end = time.monotonic() + 10
    while "error" not in box.children[0].value and time.monotonic() < end:
        time.sleep(0.02)
    assert box.children[0].value == "<b>error: a run failed</b>"


def test_web_app_page_does_not_wait_for_the_sandbox_training():
    """Voila sends the page once every cell has run: the pool cell must return while the sandbox trains
    (it waited for the whole first experiment, which on a busy 2-core machine took over 2 minutes)."""
    import threading
    import time

    import ipywidgets as w

    from alkit.webapp import POOL

    release = threading.Event()

    class TrainingSandbox:  # what the cell uses of ALSandbox; its runs end when ``release`` is set
        strategy = "entropy"

        def wait(self):
            release.wait()

        def data(self):
            return None

        def results(self):
            raise RuntimeError("the runs were stopped")

    scope = {"sandbox": TrainingSandbox()}
    t0 = time.monotonic()
    *body, last = POOL.splitlines()  # the cell, its last line being the value the page displays
    exec(compile("\n".join(body), "pool-cell", "exec"), scope)  # noqa: S102 - the app's own cell
    box = eval(compile(last, "pool-cell", "eval"), scope)  # noqa: S307 - run once, as the kernel runs it
    assert time.monotonic() - t0 < 5
    assert isinstance(box, w.VBox) and "appears when" in box.children[0].value
    release.set()
    end = time.monotonic() + 10
    while "error" not in box.children[0].value and time.monotonic() < end:
        time.sleep(0.02)
    assert "the runs were stopped" in box.children[0].value
