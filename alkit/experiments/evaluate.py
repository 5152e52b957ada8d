"""``alkit evaluate``: the paper's recommended protocol (Sec. 5) applied to a user's strategy.

The paper closes with four recommendations: evaluate on a wider range of datasets, with an
up-to-date architecture *and* augmentation, always against semi-supervised learning, and in the
low-budget regime too. :func:`evaluate` turns them into one run: for every available dataset,
with and without augmentation, in the high- and the low-budget regime, every named strategy runs
against Random (same recipe, same initial sets, >= 3 trials), and at both budgets against
SSL-Random (UDA with random sampling). The verdicts come from :mod:`alkit.analysis.stats` (paired t-test
over trials, t-interval, Holm-adjusted across the strategies of a setting); the report says
"too few trials" rather than guess.

Outputs in ``out``: ``results.csv`` (every cycle of every run), ``report.md`` and ``report.html``
(figures embedded, one verdict with its interval per setting, the penalty matrix, a summary
computed from the results) and ``figures/*.png``. Runs go through the results store, so an
interrupted evaluation resumes and cells the notebooks already ran are reused.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from alkit.experiments import recipes
from alkit.analysis import stats

PRESETS = ("smoke", "default", "paper")
SSL_REFERENCE = "ssl-random"

#: trials per run by default (the CI-only smoke preset keeps 3: it gives no verdicts anyway)
DEFAULT_TRIALS, SMOKE_TRIALS = 5, 3
# smoke: the one CI-sized recipe (alkit.experiments.recipes.SMOKE), its Experiment settings; seconds per
# cell on a 2-core CPU, every comparison still runs with 3 trials.
SMOKE = {k: v for k, v in recipes.SMOKE["classification"].items()
         if k in ("initial", "step", "cycles", "epochs", "min_steps", "iterations", "unlabelled_batch", "ensemble_size")}


@dataclass
class Cell:
    """One setting of the protocol: its Experiment settings and what it is compared with."""

    name: str  # e.g. "digits / high / augment=paper"
    dataset: str
    regime: str
    augment: str
    ssl: str | None
    settings: dict
    strategies: tuple = field(default=())


def available_datasets(preset: str, data_root=None) -> list[str]:
    """Datasets the protocol runs at ``preset``: digits (embedded) for smoke/default; for paper,
    CIFAR-10 and CIFAR-100 where their folders are present (one clear error if neither is)."""
    if preset != "paper":
        return ["digits"]
    from alkit.engine.data.cifar import cifar_folder
    from alkit.paths import data_root as resolve

    root = resolve(data_root)
    found = [d for d in ("cifar10", "cifar100") if cifar_folder(d, root).is_dir()]
    if not found:
        raise FileNotFoundError(f"--preset paper needs CIFAR-10 or CIFAR-100 under {root} "
                                "(cifar-10-batches-py/ or cifar-100-python/); set --data-root or ALKIT_DATA")
    return found


def protocol_cells(strategies, preset: str = "default", data_root=None, trials: int | str | None = None) -> list[Cell]:
    """Every cell of the protocol, raw cells (strategies + Random) first, then SSL-Random cells."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    strategies = tuple(s for s in strategies if s != "random")
    cells = []
    for dataset in available_datasets(preset, data_root):
        for regime in ("high", "low"):
            for augment in ("none", "paper"):
                st = recipes.classification_settings(dataset, regime, augment=augment)
                cells.append(Cell(f"{dataset} / {regime} budget / augment={augment}", dataset, regime, augment, None,
                                  _scaled(st, preset, trials), ("random",) + strategies))
            st = recipes.classification_settings(dataset, regime, ssl="uda", augment="paper")
            cells.append(Cell(f"{dataset} / {regime} budget / SSL-Random (UDA)", dataset, regime, "paper", "uda",
                              _scaled(st, preset, trials), ("random",)))
    return cells


def _scaled(settings: dict, preset: str, trials: int | None) -> dict:
    if trials == "auto":  # trials="auto" starts at the first planned look
        trials = None
    out = dict(settings, trials=trials or (SMOKE_TRIALS if preset == "smoke" else DEFAULT_TRIALS))
    if preset == "smoke":
        out.update(SMOKE)
    return out


def run_protocol(cells: list[Cell], *, data_root=None, store_root=None, workers=None, progress: bool = True,
                 device=None, executor=None):
    """Run (or load) every cell; one tidy frame with a ``setting`` column. One bar over all
    cycles; on the CPU all cells share one pool of worker processes (started once), unless an
    ``executor`` (e.g. :func:`alkit.experiments.runner.cluster_executor`) is given."""
    from tqdm.auto import tqdm

    from alkit.experiments.config import Experiment, run
    from alkit.experiments.runner import default_workers, process_pool, threads_per_worker

    total = sum(len(c.strategies) * c.settings["trials"] * (c.settings["cycles"] + 1) for c in cells)
    frames, pool = [], None
    try:
        with tqdm(total=total, desc="alkit evaluate", unit="cycle", disable=not progress, smoothing=0) as bar:
            for c in cells:
                bar.set_description(f"evaluate: {c.name}")
                exp = Experiment(strategies=c.strategies, data_root=data_root, device=device, **c.settings)
                task = exp.build_task()
                n = workers or default_workers(task, 10**6)
                if executor is not None:
                    pool = executor
                elif pool is None and n > 1:
                    pool = process_pool(n, threads_per_worker(task, n))
                df = run(exp, task=task, store_root=store_root, progress=False, workers=n, bar=bar,
                         executor=pool, with_selected=True)
                frames.append(df.assign(setting=c.name))
    finally:
        if pool is not None and pool is not executor:
            pool.shutdown(wait=True, cancel_futures=True)
    return pd.concat(frames, ignore_index=True)


def _outcomes(t: pd.DataFrame, level: float) -> pd.DataFrame:
    """Add the claim tester's outcome of "X beats the reference" to a comparison table (per row, at
    ``level``; :mod:`alkit.analysis.claims`): ``margin`` (points, the dataset's practical margin) and
    ``outcome``: "beats" (interval above 0), "does not beat by the margin" (interval below +margin),
    "inconclusive" or "too few trials (n=...)"."""
    from alkit.analysis import claims

    if t.empty:
        return t
    deltas = [claims.margin(str(s).split(" / ")[0], "accuracy") for s in t["setting"]]
    pp, pn = claims.part_pvalues(t["gap"], t["gap_sd"], t["n"], pd.Series(deltas, index=t.index))
    out = claims.decide("all", pp[:, None], pn[:, None], stats._alpha(level) / 2)
    words = {claims.REPLICATED: "beats", claims.CONTRADICTED: "does not beat by the margin",
             claims.INCONCLUSIVE: "inconclusive"}
    t = t.copy()
    t["margin"] = [100 * d for d in deltas]
    t["outcome"] = [words[o] if n >= stats.MIN_TRIALS else claims.too_few(n) for o, n in zip(out, t["n"])]
    return t


def raw_verdicts(df: pd.DataFrame, level: float = stats.DEFAULT_LEVEL) -> pd.DataFrame:
    """Each strategy vs Random in every raw setting, at the last cycle and over the whole budget
    curve (AUBC); Holm across the strategies of a setting. Columns of
    :func:`alkit.analysis.stats.compare_to_reference` plus ``setting``, ``measure``, ``margin`` and
    ``outcome`` (the claim tester's three outcomes, see :func:`_outcomes`)."""
    raw = df[df.ssl == "none"]
    tables = []
    for measure, at in (("last cycle", "last"), ("AUBC", "aubc")):
        t = stats.compare_to_reference(raw, by=["setting"], at=at, level=level)
        tables.append(t.assign(measure=measure))
    out = _outcomes(pd.concat(tables, ignore_index=True), level)
    out.attrs["method"] = tables[0].attrs.get("method", "")
    return out


def ssl_verdicts(df: pd.DataFrame, level: float = stats.DEFAULT_LEVEL) -> pd.DataFrame:
    """Each strategy (raw, with augmentation) vs SSL-Random at the largest budget both ran, per
    dataset and regime (paired by trial: the same initial labelled set)."""
    tables = []
    for (dataset, regime), part in df.groupby(["dataset", "regime"]):
        ssl = part[part.ssl != "none"].assign(strategy=SSL_REFERENCE)
        raw = part[(part.ssl == "none") & (part.augment == "paper")]
        if ssl.empty or raw.empty:
            continue
        common = sorted(set(ssl.n_labelled) & set(raw.n_labelled))
        both = pd.concat([raw, ssl], ignore_index=True)
        both = both[both.n_labelled.isin(common)].assign(setting=f"{dataset} / {regime} budget / vs SSL-Random")
        t = stats.compare_to_reference(both, reference=SSL_REFERENCE, by=["setting"], at="last", level=level)
        tables.append(t.assign(measure=f"{max(common)} labels"))
    if not tables:
        return pd.DataFrame()
    out = _outcomes(pd.concat(tables, ignore_index=True), level)
    out.attrs["method"] = tables[0].attrs.get("method", "")
    return out


def summary_paragraph(strategies, raw: pd.DataFrame, ssl: pd.DataFrame, preset: str = "default") -> str:
    """One paragraph computed from the verdict tables (no fixed claims): per strategy, in how many
    settings it beats Random / does not beat it by the margin / stays inconclusive. The CI-only
    smoke preset gives no verdicts (its training does not converge)."""
    if preset == "smoke":
        return "smoke preset: no verdicts (training not converged; it checks the plumbing, not the paper)."
    parts = []
    for s in strategies:
        if s == "random":
            continue
        r = raw[(raw.strategy == s) & (raw.measure == "last cycle")]
        counts = r.outcome.value_counts()
        few = int(r.outcome.str.startswith("too few").sum())
        text = (f"**{s}** vs Random at the last cycle: beats it in {counts.get('beats', 0)}, does not beat it by "
                f"the margin in {counts.get('does not beat by the margin', 0)}, inconclusive in "
                f"{counts.get('inconclusive', 0)} of {len(r)} settings")
        if few:
            text += f" ({few} without a verdict: too few trials)"
        if len(ssl):
            q = ssl[ssl.strategy == s]
            c2 = q.outcome.value_counts()
            text += (f"; vs SSL-Random: beats it in {c2.get('beats', 0)}, does not beat it by the margin in "
                     f"{c2.get('does not beat by the margin', 0)}, inconclusive in {c2.get('inconclusive', 0)} "
                     f"of {len(q)}")
        parts.append(text + ".")
    return " ".join(parts)


def _fig_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def curve_figures(df: pd.DataFrame) -> dict[str, bytes]:
    """One PNG per (dataset, regime): raw curves per augmentation plus SSL-Random, mean +- std."""
    import matplotlib.pyplot as plt

    from alkit.analysis.plots import plot_curves, strategy_label

    figs = {}
    for (dataset, regime), part in df.groupby(["dataset", "regime"]):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
        for ax, augment in zip(axes, ("none", "paper")):
            sub = part[(part.augment == augment) & (part.ssl == "none")]
            if augment == "paper":
                sub = pd.concat([sub, part[part.ssl != "none"].assign(strategy=SSL_REFERENCE)])
            if len(sub):
                plot_curves(sub, ax=ax, title=f"{dataset}, {regime} budget, augment={augment}",
                            label=lambda s, _: "SSL-Random" if s == SSL_REFERENCE else strategy_label(s))
        figs[f"{dataset}_{regime}"] = _fig_png(fig)
        plt.close(fig)
    return figs


def _table_md(t: pd.DataFrame) -> str:
    show = _shown(t)
    for c in ("gap", "ci_low", "ci_high"):
        show[c] = (100 * show[c]).map(lambda v: "" if pd.isna(v) else f"{v:+.2f}")
    show["p_adj"] = show["p_adj"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    return show.to_markdown(index=False)


BIAS_METERS = ("tv", "energy", "coverage_mean", "typicality")


def bias_profile(df: pd.DataFrame, data_root=None, meters=BIAS_METERS) -> pd.DataFrame:
    """The selection bias of every strategy's picks (:mod:`alkit.analysis.bias`): per (setting,
    strategy) the mean over trials of each meter at the setting's last cycle, in one reference
    feature space per dataset. Empty when ``df`` carries no picks (``selected``). The pool's labels
    are read here for this analysis only (class imbalance), never by a strategy."""
    from alkit.analysis import bias
    from alkit.engine.data import load_dataset

    if "selected" not in df.columns:
        return pd.DataFrame()
    rows = []
    for dataset, by_data in df.groupby("dataset", sort=False):
        data = load_dataset(dataset, data_root)
        feats, labels = bias.reference_embedding(data), bias.pool_class_labels(data)
        for setting, part in by_data.groupby("setting", sort=False):
            table = bias.bias_table(part.drop(columns="setting"), labels, feats, data.num_classes)
            last = table[table["cycle"] == table["cycle"].max()]
            for strategy, g in last.groupby("strategy", sort=False):
                rows.append(dict(setting=setting, strategy=strategy, **{m: float(g[m].mean()) for m in meters}))
    return pd.DataFrame(rows)


def write_report(df: pd.DataFrame, strategies, out: Path, *, preset: str, level: float = stats.DEFAULT_LEVEL,
                 bias: pd.DataFrame | None = None) -> dict:
    """Write ``results.csv``, ``report.md``, ``report.html`` and ``figures/`` into ``out``
    (atomically); returns the verdict tables and the summary."""
    from alkit.io import atomic_write_bytes, atomic_write_csv, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(df.drop(columns=[c for c in ("selected",) if c in df]), out / "results.csv", index=False)
    raw, ssl = raw_verdicts(df, level), ssl_verdicts(df, level)
    penalty = stats.penalty_matrix(df[df.ssl == "none"], settings=["setting"], at="cycle", level=level)
    summary = summary_paragraph(strategies, raw, ssl, preset)
    figs = curve_figures(df)
    for name, png in figs.items():
        atomic_write_bytes(out / "figures" / f"{name}.png", png)
    pct = int(round(100 * level))
    auto = df.attrs.get("auto")
    looks = (f" (trials=auto: looks at {auto['looks']} trials, ran {auto['done'][-1]}, stopped: {auto['stopped']}; "
             f"each look at a Bonferroni level of {100 * auto['level']:.3g} %)") if auto else ""
    intro = (f"Preset `{preset}`; {df.trial.nunique()} trials per run{looks}; accuracy gaps in points with "
             f"{pct} % t-intervals; outcome against the practical margin. {raw.attrs.get('method', '')}")
    if preset == "smoke":
        raw, ssl = _smoke(raw), _smoke(ssl)
    pen_txt = (100 * penalty).round(0).to_string()
    md = [f"# alkit evaluate: {', '.join(s for s in strategies if s != 'random')}", "", intro, "",
          "## Summary (computed from this run)", "", summary, "",
          "## Against Random (raw AL, same recipe)", "", _table_md(raw), ""]
    if len(ssl):
        md += ["## Against SSL-Random (UDA, random sampling)", "", _table_md(ssl), ""]
    md += ["## Penalty matrix", "",
           f"Row beats column significantly (paired t-test, level {level}) in this % of the comparisons "
           "(every raw setting x cycle with >= 3 paired trials; Lüth et al. 2023):", "",
           (100 * penalty).round(0).to_markdown(), "",
           "## Curves", ""]
    md += [f"![{n}](figures/{n}.png)" for n in figs]
    bias_text = ("Selection bias of each strategy's labelled set at the last cycle, mean over trials "
                 "(alkit.analysis.bias; read each row against Random's in the same setting): tv = class "
                 "imbalance against the pool (total variation), energy = energy distance to the pool in one "
                 "reference feature space, coverage_mean = mean distance from a pool image to its nearest "
                 "labelled one, typicality = density rank of the picks (0.5 = as typical as random picks). "
                 "The pool's labels are read for this analysis only.")
    if bias is not None and len(bias):
        md += ["", "## Selection bias of the picks (paper Sec. 5)", "", bias_text, "",
               bias.round(3).to_markdown(index=False)]
    atomic_write_text(out / "report.md", "\n".join(md) + "\n")
    body = [f"<h1>alkit evaluate: {html.escape(', '.join(s for s in strategies if s != 'random'))}</h1>",
            f"<p>{html.escape(intro)}</p>", "<h2>Summary (computed from this run)</h2>",
            f"<p>{html.escape(summary).replace('**', '')}</p>", "<h2>Against Random (raw AL, same recipe)</h2>",
            _table_html(raw)]
    if len(ssl):
        body += ["<h2>Against SSL-Random (UDA, random sampling)</h2>", _table_html(ssl)]
    body += ["<h2>Penalty matrix</h2>", f"<pre>{html.escape(pen_txt)}</pre>", "<h2>Curves</h2>"]
    body += [f'<img alt="{n}" src="data:image/png;base64,{base64.b64encode(p).decode()}" style="max-width:100%">'
             for n, p in figs.items()]
    if bias is not None and len(bias):
        body += ["<h2>Selection bias of the picks (paper Sec. 5)</h2>", f"<p>{html.escape(bias_text)}</p>",
                 bias.round(3).to_html(index=False, escape=True)]
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>alkit evaluate</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    atomic_write_text(out / "report.html", page)
    return dict(raw=raw, ssl=ssl, penalty=penalty, summary=summary)


def _table_html(t: pd.DataFrame) -> str:
    show = _shown(t)
    for c in ("gap", "ci_low", "ci_high"):
        show[c] = (100 * show[c]).round(2)
    show["p_adj"] = show["p_adj"].round(3)
    return show.to_html(index=False, na_rep="", escape=True)


def _smoke(t: pd.DataFrame) -> pd.DataFrame:
    """The smoke preset's table: no gap, no interval, no verdict (CI-sized runs are not converged)."""
    if t.empty:
        return t
    t = t.copy()
    for c in ("gap", "ci_low", "ci_high", "p", "p_adj"):
        if c in t.columns:
            t[c] = float("nan")
    t["verdict"] = t["outcome"] = "not tested (smoke preset: training not converged)"
    return t


def _shown(t: pd.DataFrame) -> pd.DataFrame:
    cols = ["setting", "measure", "strategy", "n", "gap", "ci_low", "ci_high", "p_adj", "verdict", "margin", "outcome"]
    return t[[c for c in cols if c in t.columns]].copy()


def _auto_protocol(strategies, preset, data_root, first, max_trials, level, run_kwargs):
    """trials="auto" for the protocol: the looks of :func:`alkit.experiments.auto.look_schedule`, each
    judged at the Bonferroni level; stop when every strategy-vs-Random outcome of every raw setting
    (last cycle) is decided."""
    from alkit.experiments.auto import look_level, look_schedule

    looks = look_schedule(first, max_trials)
    lv = look_level(level, len(looks))
    done, df, stopped = [], None, "cap"
    for n in looks:
        df = run_protocol(protocol_cells(strategies, preset, data_root, n), **run_kwargs)
        done.append(n)
        raw = raw_verdicts(df, lv)
        if raw[raw.measure == "last cycle"].outcome.isin(["beats", "does not beat by the margin"]).all():
            stopped = "decided"
            break
    df.attrs["auto"] = dict(looks=looks, done=done, level=lv, stopped=stopped)
    return df, lv


def evaluate(strategies, *, preset: str = "default", out, data_root=None, store_root=None, workers=None,
             trials: int | str | None = None, progress: bool = True, device=None, executor=None, max_trials: int = 10) -> dict:
    """Run the protocol for ``strategies`` (Random is added) and write the report into ``out``.

    ``trials``: trials per run (None: 5, the smoke preset 3), or ``"auto"``: 5, then more at planned looks (up to ``max_trials``)
    until every strategy-vs-Random outcome is decided (:mod:`alkit.experiments.auto`; the intervals
    then use the per-look Bonferroni level). Returns a dict with the tidy results (``df``) and the
    verdict tables (``raw``, ``ssl``, ``penalty``) and the ``summary`` paragraph."""
    strategies = tuple(dict.fromkeys(("random",) + tuple(strategies)))
    kw = dict(data_root=data_root, store_root=store_root, workers=workers, progress=progress, device=device,
              executor=executor)
    level = stats.DEFAULT_LEVEL
    if trials == "auto":
        df, level = _auto_protocol(strategies, preset, data_root, 5, max_trials, level, kw)
    else:
        df = run_protocol(protocol_cells(strategies, preset, data_root, int(trials) if trials else None), **kw)
    result = write_report(df, strategies, Path(out), preset=preset, level=level, bias=bias_profile(df, data_root))
    result["df"] = df
    return result
