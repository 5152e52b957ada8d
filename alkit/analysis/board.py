"""The verdict board: every claim of every notebook with this run's effect, interval, margin and
verdict, in one table (``outputs/verdicts.md``) and one figure (``outputs/figures/verdicts.png``).

Each notebook's :func:`alkit.analysis.claims.report` writes its rows to
``outputs/verdicts/<notebook>.json`` (atomically; a re-run replaces that notebook's rows).
:func:`write_board` gathers them at the end of ``python -m alkit reproduce``;
``python -m alkit.analysis.board --readme README.md`` puts the generated table between the
``<!-- verdict-board:start -->`` and ``<!-- verdict-board:end -->`` markers of the README;
``python -m alkit.analysis.board --compare OTHER.md`` sets this run's board beside another run's
(:mod:`alkit.analysis.board_compare`), and with ``--readme`` writes that comparison between the
``<!-- verdict-compare:start -->`` and ``<!-- verdict-compare:end -->`` markers.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import sys

import numpy as np
import pandas as pd

from alkit.analysis import board_compare
from alkit.analysis.board_compare import number_cell
from alkit.paths import outputs_dir

START, END = "<!-- verdict-board:start -->", "<!-- verdict-board:end -->"
COMPARE_START, COMPARE_END = "<!-- verdict-compare:start -->", "<!-- verdict-compare:end -->"
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
        lines.append(f"| {r['notebook']} | {r['claim']} | {r['section']} | {board_compare.effect_cell(r)} | "
                     f"{number_cell(r.get('margin'), '{:.1f}')} | {r['verdict']} | {number_cell(r.get('min_detectable'), '{:.1f}')} | "
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


def _between_markers(readme: Path, start: str, end: str, body: str) -> None:
    """Replace the text between ``start`` and ``end`` in ``readme`` with ``body`` (atomic write);
    ``ValueError`` naming the file when a marker is missing."""
    from alkit.io import atomic_write_text

    readme = Path(readme)
    if not readme.is_file():
        raise ValueError(f"--readme {readme}: no such file")
    text = readme.read_text()
    if start not in text or end not in text or text.index(start) > text.index(end):
        raise ValueError(f"--readme {readme}: no {start} ... {end} markers")
    i, j = text.index(start) + len(start), text.index(end)
    atomic_write_text(readme, text[:i] + "\n" + body + "\n" + text[j:])


def update_readme(readme: Path, folder: Path | None = None) -> None:
    """Replace the text between the board markers of ``readme`` with the generated board."""
    df = load_rows(folder)
    _between_markers(readme, START, END, board_markdown(df) + "\n\n" + summary_line(df))


def comparison(other: Path, folder: Path | None = None, this_name: str = "this run",
               other_name: str | None = None) -> tuple[str, dict]:
    """This run's board (the rows in ``folder``) against the board in the file ``other``
    (:mod:`alkit.analysis.board_compare`): ``(markdown, counts)``. ``ValueError`` naming the file
    when it is missing or holds no board."""
    other = Path(other)
    theirs = board_compare.load_other(other)
    pairs, counts = board_compare.compare(board_compare.board_rows(load_rows(folder)), theirs)
    return board_compare.comparison_markdown(pairs, counts, this_name, other_name or f"the board in {other}"), counts


def readme_comparison(folder: Path | None = None, out_dir: Path | None = None,
                      readme: Path | None = None) -> tuple[Path, str] | None:
    """This run's board against the board of the repository's README (a measured default run):
    writes ``outputs/verdicts-vs-README.md`` and returns ``(path, summary line)``; None when there is
    no README beside the package (an installed copy) or no claim of this run is on its board (another
    preset)."""
    from alkit.io import atomic_write_text

    readme = Path(readme) if readme is not None else Path(__file__).resolve().parents[2] / "README.md"
    if not readme.is_file():
        return None
    try:
        md, counts = comparison(readme, folder, "this run", "the README's board")
    except ValueError:  # a README without a board
        return None
    if sum(counts[k] for k in board_compare.KINDS) == 0:
        return None
    path = Path(out_dir or outputs_dir()) / "verdicts-vs-README.md"
    atomic_write_text(path, "# This run's verdicts against the README's board\n\n" + md + "\n")
    return path, board_compare.summary(counts, "the README's board (a measured run, maybe on another machine)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m alkit.analysis.board", description=__doc__.splitlines()[0])
    p.add_argument("--readme", type=Path, help="README whose board markers get the generated table (with "
                   "--compare: whose verdict-compare markers get the comparison)")
    p.add_argument("--verdicts", type=Path, default=None, help="folder of <notebook>.json rows (default outputs/verdicts)")
    p.add_argument("--compare", type=Path, default=None, metavar="FILE",
                   help="another run's board (its outputs/verdicts.md, or a README holding one): print the claims "
                        "whose verdicts differ from this run's")
    p.add_argument("--labels", nargs=2, metavar=("THIS", "OTHER"), default=None,
                   help="names of the two runs in the comparison (default: 'this run' and the file)")
    a = p.parse_args(argv)
    if a.labels is not None and a.compare is None:
        print("--labels names the two runs of a comparison: pass --compare FILE too", file=sys.stderr)
        return 2
    if a.verdicts is not None and not a.verdicts.is_dir():
        print(f"--verdicts {a.verdicts}: no such folder", file=sys.stderr)
        return 2
    try:
        if a.compare is not None:
            this_name, other_name = a.labels or ("this run", None)
            md, _ = comparison(a.compare, a.verdicts, this_name, other_name)
            if a.readme:
                _between_markers(a.readme, COMPARE_START, COMPARE_END, md)
                print(f"comparison written into {a.readme}")
            else:
                print(md)
        elif a.readme:
            update_readme(a.readme, a.verdicts)
            print(f"board written into {a.readme}")
        else:
            md, line = write_board(a.verdicts)
            print(line, "->", md)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
