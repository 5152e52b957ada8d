"""The verdict board: every claim of every notebook with this run's effect, interval, margin and
verdict, in one table (``outputs/verdicts.md``) and one figure (``outputs/figures/verdicts.png``).

Each notebook's :func:`alkit.analysis.claims.report` writes its rows to
``outputs/verdicts/<notebook>.json`` (atomically; a re-run replaces that notebook's rows).
:func:`write_board` gathers them at the end of ``python -m alkit reproduce``;
``python -m alkit.analysis.board --readme README.md`` puts the generated table between the
``<!-- verdict-board:start -->`` and ``<!-- verdict-board:end -->`` markers of the README.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from alkit.paths import outputs_dir

START, END = "<!-- verdict-board:start -->", "<!-- verdict-board:end -->"
COLUMNS = ["notebook", "claim", "section", "effect", "ci_low", "ci_high", "margin", "verdict", "min_detectable",
           "trials_needed", "n", "preset"]


def verdicts_dir() -> Path:
    return outputs_dir() / "verdicts"


def _clean(v):
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def write_rows(notebook: str, rows: list[dict], folder: Path | None = None) -> Path:
    """Replace ``notebook``'s verdict rows in ``<folder>/<notebook>.json`` (atomic write)."""
    from alkit.io import atomic_write_json

    path = Path(folder or verdicts_dir()) / f"{notebook}.json"
    atomic_write_json(path, [{k: _clean(v) for k, v in r.items()} for r in rows])
    return path


def load_rows(folder: Path | None = None) -> pd.DataFrame:
    """Every notebook's verdict rows, in notebook order (an empty frame with :data:`COLUMNS` if none)."""
    folder = Path(folder or verdicts_dir())
    rows = []
    for f in sorted(folder.glob("*.json")):
        rows += json.loads(f.read_text())
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = pd.Series(dtype=float if c in ("effect", "ci_low", "ci_high", "margin", "min_detectable") else object)
    return df


def _num(v, fmt="{:+.1f}") -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def trials_to_decide(row: dict) -> str:
    """The board's "trials to decide" cell of an inconclusive claim: the trials whose interval is
    narrower than the margin, so the claim ends replicated or contradicted whatever the true gap
    (:func:`alkit.analysis.stats.trials_needed`, from this run's sd); "> 1000" past that cap; empty for
    a decided or untested claim (nothing to plan) and for a row without an sd."""
    if row.get("verdict") != "inconclusive":
        return ""
    need = row.get("trials_needed")
    if need is not None and need == need:
        return str(int(need))
    md = row.get("min_detectable")
    return "> 1000" if md is not None and isinstance(md, (int, float)) and math.isfinite(md) else ""


def board_markdown(df: pd.DataFrame) -> str:
    """The board as a Markdown table (effects, intervals, margins and the smallest detectable gap in
    points of the claim's metric; for an inconclusive claim the trials that would decide it)."""
    lines = ["| notebook | claim | paper | effect [95 % CI] | margin | verdict | smallest detectable gap | "
             "trials to decide | n | preset |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in df.to_dict("records"):
        eff = _num(r.get("effect"))
        if eff and _num(r.get("ci_low")):
            eff += f" [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
        unit = " mIoU" if r.get("metric") == "miou" else ""
        lines.append(f"| {r['notebook']} | {r['claim']} | {r['section']} | {eff}{unit if eff else ''} | "
                     f"{_num(r.get('margin'), '{:.1f}')} | {r['verdict']} | {_num(r.get('min_detectable'), '{:.1f}')} | "
                     f"{trials_to_decide(r)} | "
                     f"{int(r['n']) if r.get('n') == r.get('n') and r.get('n') is not None else ''} | {r.get('preset', '')} |")
    return "\n".join(lines)


def summary_line(df: pd.DataFrame) -> str:
    """One line: claims decided (replicated or contradicted) of those tested, the fewest trials that
    would decide an inconclusive one (:func:`trials_to_decide`; the table has each one's) and the median 95 %
    half-width per metric."""
    verdicts = df["verdict"].astype(str) if len(df) else pd.Series(dtype=str)
    decided = verdicts.isin(["replicated", "contradicted"]).sum()
    tested = verdicts.isin(["replicated", "contradicted", "inconclusive"]).sum()
    parts = [f"{decided} of {tested} tested claims decided ({len(df)} claims on the board)"]
    need = sorted(int(c) for c in (trials_to_decide(r) for r in df.to_dict("records")) if c.isdigit()) if len(df) else []
    if need:
        ns = pd.to_numeric(df.loc[verdicts == "inconclusive", "n"], errors="coerce").dropna()
        ran = f"{int(ns.min())}" if ns.min() == ns.max() else f"{int(ns.min())}-{int(ns.max())}"
        parts.append(f"the fewest trials that would decide an inconclusive one: {need[0]} (this run: {ran})")
    if len(df):
        hw = (df["ci_high"].astype(float) - df["ci_low"].astype(float)) / 2
        for metric, h in hw.groupby(df.get("metric", pd.Series("", index=df.index))):
            h = h.dropna()
            if len(h):
                parts.append(f"median half-width {h.median():.1f} {'mIoU points' if metric == 'miou' else 'points'} "
                             f"({metric}, {len(h)} claims)")
    return "verdict board: " + "; ".join(parts)


def write_board(folder: Path | None = None, out_dir: Path | None = None) -> tuple[Path, str]:
    """Write ``outputs/verdicts.md`` and ``outputs/figures/verdicts.png/.pdf`` from the notebooks'
    rows; returns the Markdown path and the summary line."""
    from alkit.analysis.plots import plot_verdicts, savefig
    from alkit.io import atomic_write_text

    df = load_rows(folder)
    out_dir = Path(out_dir or outputs_dir())
    md = out_dir / "verdicts.md"
    line = summary_line(df)
    atomic_write_text(md, "# Verdict board\n\n" + board_markdown(df) + "\n\n" + line + "\n")
    if len(df):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = plot_verdicts(df)
        savefig(fig, "verdicts", folder=out_dir / "figures")  # PNG and PDF
        plt.close(fig)
    return md, line


def update_readme(readme: Path, folder: Path | None = None) -> None:
    """Replace the text between the board markers of ``readme`` with the generated board."""
    from alkit.io import atomic_write_text

    text = Path(readme).read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} markers")
    df = load_rows(folder)
    body = board_markdown(df) + "\n\n" + summary_line(df)
    i, j = text.index(START) + len(START), text.index(END)
    atomic_write_text(Path(readme), text[:i] + "\n" + body + "\n" + text[j:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m alkit.analysis.board", description=__doc__.splitlines()[0])
    p.add_argument("--readme", type=Path, help="README whose board markers get the generated table")
    p.add_argument("--verdicts", type=Path, default=None, help="folder of <notebook>.json rows (default outputs/verdicts)")
    a = p.parse_args(argv)
    if a.readme:
        update_readme(a.readme, a.verdicts)
        print(f"board written into {a.readme}")
    else:
        md, line = write_board(a.verdicts)
        print(line, "->", md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
