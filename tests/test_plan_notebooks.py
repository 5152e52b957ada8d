"""The plan's list of what each notebook runs (alkit/experiments/notebook_runs.py) is what the
notebook runs: each notebook's code cells are executed here (in this process, smoke preset, the
preset's parameters injected after the parameters cell as papermill does) with
``alkit.experiments.config.run`` (and ``alkit.evaluate``) replaced by recorders, up to the last
cell that calls them; the experiments recorded must equal the planned ones, in order."""

import json

import pandas as pd
import pytest

import alkit
import alkit.experiments.config as config
from alkit.experiments.config import RUNTIME
from alkit.experiments.notebook_runs import notebook_parameters, notebook_runs
from alkit.experiments.reproduce import resolve_notebook

COLUMNS = ["dataset", "augment", "ssl", "regime", "strategy", "trial", "cycle", "n_labelled", "cost", "accuracy",
           "seconds", "selected", "budget", "n_images", "n_clicks", "miou"]


def _key(exp, strategies) -> str:
    s = {k: v for k, v in exp.resolved().items() if k not in RUNTIME}
    s["strategies"] = list(strategies)
    return json.dumps(s, sort_keys=True, default=str)


def _execute(stem: str, preset: str, monkeypatch, tmp_path):
    """Run the notebook's code cells with recorders; returns (recorded run experiments, evaluate
    calls, the notebook's namespace)."""
    path = resolve_notebook(stem)
    monkeypatch.setenv("ALKIT_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("ALKIT_PRESET", preset)
    monkeypatch.chdir(path.parent)
    runs, evaluations = [], []

    def fake_run(exp, **kwargs):
        runs.append(exp)
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})

    def fake_evaluate(strategies, **kwargs):
        evaluations.append((list(strategies), kwargs.get("preset"), kwargs.get("trials")))
        return {"df": pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS + ["setting"]})}

    monkeypatch.setattr(config, "run", fake_run)
    monkeypatch.setattr(alkit, "evaluate", fake_evaluate)
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    # a cell calls run() itself or through the notebook's run_family() helper (02, 03)
    calls = [i for i, c in enumerate(cells)
             if any(k in "".join(c["source"]) for k in ("run(", "run_family(", "alkit.evaluate("))]
    injected = notebook_parameters(path, preset)
    ns = {"__name__": "__main__"}
    for i, cell in enumerate(cells[: calls[-1] + 1]):
        src = "".join(cell["source"])
        if i > calls[0] and i not in calls:
            continue  # figures and verdicts of the runs before: not needed to reach the next run
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            exec(src, ns)
            ns.update(injected)  # papermill's injected-parameters cell
        elif i < calls[0]:
            exec(src, ns)  # set-up: must run
        else:
            try:
                exec(src, ns)
            except Exception:  # after its run() calls a cell reads their (empty) results: what matters ran
                pass
    return runs, evaluations, ns


@pytest.mark.parametrize("stem", ["00_quickstart", "01_augmentation", "02_ssl_vs_al", "03_low_budget",
                                  "04_transfer_learning", "06_segmentation_al", "07_segmentation_ssl",
                                  "09_why_al_fails"])
def test_planned_runs_are_the_notebooks_runs(stem, monkeypatch, tmp_path):
    recorded, _, ns = _execute(stem, "smoke", monkeypatch, tmp_path)
    planned = notebook_runs(stem, "smoke")
    expected = [r for r in planned.runs if r.stored and r.model is None]
    assert [_key(e, e.strategies or e.resolved()["strategies"]) for e in recorded[: len(expected)]] == \
        [_key(r.exp, r.strategies or r.exp.resolved()["strategies"]) for r in expected]
    transfer = [r for r in planned.runs if r.model is not None]
    # notebook 04 fine-tunes the ImageNet network only when it found the weights, and the plan counts
    # those runs only then (a plan that priced skipped runs said hours for a run of minutes)
    assert bool(transfer) == (ns.get("factory") is not None)
    assert len(recorded) == len(expected) + len(transfer)


def test_notebook_08_runs_the_planned_protocol(monkeypatch, tmp_path):
    _, evaluations, _ = _execute("08_your_strategy", "smoke", monkeypatch, tmp_path)
    p = notebook_runs("08_your_strategy", "smoke").params
    assert evaluations == [([p["strategy_name"]], p["preset"], p["trials"])]
