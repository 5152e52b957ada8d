"""Two runs' verdict boards side by side: which claims got the same verdict, and which did not.

A verdict is one draw of an experiment. Another machine (other CPU kernels round differently, and
hundreds of SGD steps turn that into other trials), another seed or more trials draw again; a claim
whose gap lies near its margin can then end decided in one run and inconclusive in the other. What
must not happen, if the rules of :mod:`alkit.analysis.claims` hold their 5 % error rates, is a claim
replicated in one run and contradicted in the other, except rarely. This module reads a board
another run wrote (its ``outputs/verdicts.md``, or a README holding one between the board markers
of :mod:`alkit.analysis.board`), matches claims by notebook, claim text and preset, and sorts each
pair into one of four kinds:

* ``agree``: the same verdict;
* ``decided vs inconclusive``: replicated or contradicted in one run, inconclusive in the other;
* ``opposite``: replicated in one run, contradicted in the other;
* ``tested in one only``: "not tested (...)" or "too few trials" in one run.

``python -m alkit.analysis.board --compare OTHER.md`` prints the claims that differ and a summary;
``python -m alkit reproduce`` ends with that summary against the README's board.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

DECIDED = ("replicated", "contradicted")
KINDS = ("agree", "decided vs inconclusive", "opposite", "tested in one only")
HEADER_START = "| notebook | claim |"


def number_cell(v, fmt: str = "{:+.1f}") -> str:
    """A number as a board cell: ``fmt`` applied, empty for None or a non-finite float."""
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def effect_cell(row: dict) -> str:
    """The board's effect cell of one row: ``+1.9 [+0.3, +3.4]`` (`` mIoU`` appended for the mIoU
    metric), empty without an effect."""
    num = number_cell
    eff = num(row.get("effect"))
    if eff and num(row.get("ci_low")):
        eff += f" [{num(row['ci_low'])}, {num(row['ci_high'])}]"
    return eff + (" mIoU" if eff and row.get("metric") == "miou" else "")


def read_board(text: str, source: str = "the file") -> pd.DataFrame:
    """The rows of the first verdict board table in ``text`` (Markdown as
    :func:`alkit.analysis.board.board_markdown` writes it): columns ``notebook``, ``claim``,
    ``effect_cell``, ``verdict``, ``n``, ``preset`` (strings). ``ValueError`` naming ``source`` when
    ``text`` holds no board table."""
    lines = text.splitlines()
    need = {"notebook": "notebook", "claim": "claim", "effect [95 % CI]": "effect_cell", "verdict": "verdict",
            "n": "n", "preset": "preset"}
    heads = [(i, [c.strip() for c in ln.strip().strip("|").split("|")]) for i, ln in enumerate(lines)
             if ln.strip().startswith(HEADER_START)]
    if not heads:
        raise ValueError(f"{source} holds no verdict board (no table starting '{HEADER_START}')")
    # the first table with every board column (a comparison table also starts with notebook | claim)
    start, header = next(((i, h) for i, h in heads if all(c in h for c in need)), (None, heads[0][1]))
    if start is None:
        missing = [c for c in need if c not in header]
        raise ValueError(f"{source}: the board table lacks the column(s) {', '.join(missing)}")
    rows = []
    for ln in lines[start + 2:]:
        if not ln.strip().startswith("|"):
            break
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) != len(header):
            raise ValueError(f"{source}: a board row has {len(cells)} cells, the header {len(header)}: {ln.strip()[:80]}")
        rows.append({new: cells[header.index(old)] for old, new in need.items()})
    return pd.DataFrame(rows, columns=list(need.values()))


def board_rows(df: pd.DataFrame) -> pd.DataFrame:
    """A run's rows (:func:`alkit.analysis.board.load_rows`) in :func:`read_board`'s columns."""
    rows = [{"notebook": str(r["notebook"]), "claim": str(r["claim"]), "effect_cell": effect_cell(r),
             "verdict": str(r["verdict"]), "n": "" if r.get("n") != r.get("n") or r.get("n") is None else str(int(r["n"])),
             "preset": str(r.get("preset") or "")}
            for r in df.to_dict("records")]
    return pd.DataFrame(rows, columns=["notebook", "claim", "effect_cell", "verdict", "n", "preset"])


def pair_kind(a: str, b: str) -> str:
    """How two verdicts of one claim relate: one of :data:`KINDS`."""
    if a == b:
        return "agree"
    tested = lambda v: v in DECIDED or v == "inconclusive"  # noqa: E731
    if not (tested(a) and tested(b)):
        return "tested in one only"
    if a in DECIDED and b in DECIDED:
        return "opposite"
    return "decided vs inconclusive"


def compare(this: pd.DataFrame, other: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Match two boards (:func:`read_board` / :func:`board_rows` columns) on (notebook, claim, preset).

    Returns ``(pairs, counts)``: ``pairs`` one row per claim on both boards, columns ``notebook``,
    ``claim``, ``preset``, ``verdict_this``, ``effect_this``, ``n_this``, ``verdict_other``,
    ``effect_other``, ``n_other``, ``kind`` (:func:`pair_kind`); ``counts`` the number of pairs of
    each kind plus ``only_this`` / ``only_other`` (claims on one board only, e.g. another preset)."""
    key = ["notebook", "claim", "preset"]
    a, b = this.drop_duplicates(key), other.drop_duplicates(key)
    pairs = a.merge(b, on=key, how="inner", suffixes=("_this", "_other")).rename(
        columns={"effect_cell_this": "effect_this", "effect_cell_other": "effect_other"})
    pairs = pairs[key + ["verdict_this", "effect_this", "n_this", "verdict_other", "effect_other", "n_other"]]
    pairs["kind"] = [pair_kind(x, y) for x, y in zip(pairs["verdict_this"], pairs["verdict_other"])]
    counts = {k: int((pairs["kind"] == k).sum()) for k in KINDS}
    counts["only_this"], counts["only_other"] = len(a) - len(pairs), len(b) - len(pairs)
    return pairs, counts


def summary(counts: dict, other_name: str) -> str:
    """One line: how many claims on both boards agree, and how the others differ."""
    n = sum(counts[k] for k in KINDS)
    if n == 0:
        return f"no claim of this run is on {other_name} (another preset?)"
    line = (f"against {other_name}: {counts['agree']} of {n} claims on both boards have the same verdict, "
            f"{counts['decided vs inconclusive']} decided in one run and inconclusive in the other, "
            f"{counts['opposite']} replicated in one and contradicted in the other")
    if counts["tested in one only"]:
        line += f", {counts['tested in one only']} tested in one run only"
    return line


def comparison_markdown(pairs: pd.DataFrame, counts: dict, this_name: str, other_name: str) -> str:
    """The claims whose verdicts differ, as a Markdown table (both runs' verdict, effect with its
    interval, and trials), then :func:`summary`."""
    differ = pairs[pairs["kind"] != "agree"]
    lines = []
    if len(differ):
        lines += [f"| notebook | claim | {this_name} | {other_name} | how they differ |", "|---|---|---|---|---|"]
        for r in differ.to_dict("records"):
            cell = lambda v, e, n: f"{v} {e}".strip() + (f" (n = {n})" if n else "")  # noqa: E731
            lines.append(f"| {r['notebook']} | {r['claim']} | {cell(r['verdict_this'], r['effect_this'], r['n_this'])} | "
                         f"{cell(r['verdict_other'], r['effect_other'], r['n_other'])} | {r['kind']} |")
        lines.append("")
    lines.append(summary(counts, other_name) + ".")
    return "\n".join(lines)


def load_other(path: Path) -> pd.DataFrame:
    """:func:`read_board` of the file at ``path``; ``ValueError`` naming it when it is missing or
    holds no board."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file (pass another run's outputs/verdicts.md or a README with a board)")
    return read_board(path.read_text(encoding="utf-8", errors="replace"), source=str(path))
