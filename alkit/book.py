"""The course as a static site (``make book`` = ``python -m alkit.book``): the executed notebooks of
the last ``make reproduce`` (``outputs/notebooks/``; a notebook without an executed copy is run with
the smoke preset first), one page per notebook and per solution notebook, figures inline, the
notebook index as landing page, the glossary, the verdict board when there is one, a search box,
and on every page its preset, run date and commit. Output: ``outputs/book/`` (open ``index.html``
from disk: relative links, no server).

Built with Sphinx + myst-nb (``nb_execution_mode = "off"``: the notebooks are rendered as executed,
never run by the build), the default alabaster theme and Sphinx's own client-side search: every
file the site uses comes from the installed wheels, nothing is fetched at build time or when the
pages are opened (MathJax and the ipywidgets scripts, which Sphinx/myst-nb would load from a CDN,
are switched off).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import sys
import time
from pathlib import Path

from alkit.paths import outputs_dir
from alkit.provenance import git, source_commit

PRESET_ORDER = ("default", "paper", "smoke")  # which executed copy a page shows, first found


def _git(*args) -> str:
    return git(*args)


def head_commit() -> str:
    """Short HEAD commit, with ``+changes`` when tracked files differ from it."""
    return source_commit()


def commit_at(when: str | None) -> str:
    """The commit that was HEAD at ``when`` (ISO time): the latest commit not after it."""
    if not when:
        return "unknown"
    return _git("log", "-1", "--format=%h", f"--before={when}") or "unknown"


def executed_copies(folder: Path | None = None) -> dict[str, tuple[Path, str]]:
    """``stem -> (executed notebook, preset)`` for every numbered notebook with an executed copy
    in ``folder`` (default ``outputs/notebooks``), preferring default over paper over smoke."""
    from alkit.experiments.reproduce import list_notebooks

    folder = Path(folder) if folder else outputs_dir() / "notebooks"
    found = {}
    for nb in list_notebooks():
        for preset in PRESET_ORDER:
            p = folder / (f"{nb.stem}.ipynb" if preset == "default" else f"{nb.stem}.{preset}.ipynb")
            if p.exists():
                found[nb.stem] = (p, preset)
                break
    return found


def run_missing(preset: str = "smoke") -> list[str]:
    """Run the notebooks that have no executed copy yet with ``preset`` (``reproduce``); their stems."""
    from alkit.experiments.reproduce import list_notebooks, reproduce

    have = executed_copies()
    missing = [nb.stem for nb in list_notebooks() if nb.stem not in have]
    if missing:
        print(f"[book] no executed copy of {', '.join(missing)}: running them with the {preset} preset", flush=True)
        reproduce(missing, preset=preset)
    return missing


def _provenance(text: str):
    import nbformat

    return nbformat.v4.new_markdown_cell(text, metadata={"tags": ["book-provenance"]})


def _fix_links(nb) -> None:
    """The notebooks link the course index as README.md: in the book it is the landing page."""
    for c in nb.cells:
        if c.cell_type == "markdown":
            c.source = c.source.replace("](README.md)", "](index.md)").replace("](../README.md)", "](index.md)")


def _write_notebook(src: Path, target: Path, line: str) -> None:
    import nbformat

    nb = nbformat.read(src, as_version=4)
    _fix_links(nb)
    nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, _provenance(line))
    nb.metadata.pop("widgets", None)  # widget state would make myst-nb load the ipywidgets scripts
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def _repair_links(src: Path) -> None:
    """A link to a notebook that is not where the page says (a solution notebook's copy of the lecture
    notebook's navigation line) is pointed at the book's page of that name."""
    import os

    import nbformat

    pages = {p.name: p for p in src.rglob("*.ipynb")}

    def fix(page: Path, text: str) -> str:
        def repl(m):
            target = m.group(1)
            if (page.parent / target).exists() or Path(target).name not in pages:
                return m.group(0)
            return "](" + os.path.relpath(pages[Path(target).name], page.parent).replace(os.sep, "/") + ")"
        return re.sub(r"\]\(([^()\s:]+\.ipynb)\)", repl, text)

    for page in pages.values():
        nb = nbformat.read(page, as_version=4)
        changed = False
        for c in nb.cells:
            if c.cell_type == "markdown":
                new = fix(page, c.source)
                changed |= new != c.source
                c.source = new
        if changed:
            nbformat.write(nb, page)


def glossary_page(readme: str) -> str:
    """The glossary section of notebooks/README.md (``- **term** — text``) as a Sphinx glossary."""
    m = re.search(r"^## Glossary\s*\n(.*?)(?=^## |\Z)", readme, flags=re.S | re.M)
    body = m.group(1) if m else ""
    items = re.findall(r"^- \*\*(.+?)\*\* — (.*?)(?=^- \*\*|\Z)", body, flags=re.S | re.M)
    lines = ["# Glossary", "", "The terms the notebooks use (from the course index).", "", "```{glossary}"]
    for term, text in items:
        lines += [term.strip(), "  " + " ".join(text.split()), ""]
    lines.append("```")
    return "\n".join(lines) + "\n"


def index_page(readme: str, has_verdicts: bool, when: str) -> str:
    text = re.sub(r"^## Glossary\s*\n.*?(?=^## |\Z)", "", readme, flags=re.S | re.M)
    text = text.replace("](solutions/)", "](solutions/index.md)")
    extra = [f"*This book was built on {when} at commit `{head_commit()}`; each page says the preset, date and "
             "commit of its own run.*", "",
             "**Also in this book:** [the glossary](glossary.md)" +
             (", [the verdict board of the run](verdicts.md)" if has_verdicts else "") +
             ", [the solution notebooks](solutions/index.md).", ""]
    title_end = text.index("\n") + 1
    from alkit.experiments.reproduce import list_notebooks

    toc = ["", "```{toctree}", ":hidden:", ":caption: Notebooks", ""] + [nb.stem for nb in list_notebooks()] + \
          ["```", "", "```{toctree}", ":hidden:", ":caption: More", "", "solutions/index", "glossary"] + \
          (["verdicts"] if has_verdicts else []) + ["```", ""]
    return text[:title_end] + "\n" + "\n".join(extra) + text[title_end:] + "\n".join(toc)


CONF = '''# generated by alkit.book: Sphinx + myst-nb, the notebooks rendered as executed (never run here)
project = "alkit course"
author = "alkit"
extensions = ["myst_nb"]
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no require.js / widget manager from a CDN: the widgets' static outputs stay as text
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "alabaster"
html_title = "alkit course"
html_sidebars = {"**": ["about.html", "searchbox.html", "navigation.html", "relations.html"]}
html_theme_options = {"description": "Parting with Illusions about Deep Active Learning, reproduced: the notebooks, "
                      "executed", "fixed_sidebar": True, "page_width": "1320px", "sidebar_width": "270px"}
html_show_sphinx = False
html_copy_source = False
html_show_sourcelink = False
mathjax_path = "no-mathjax.js"  # local, empty: no CDN (the notebooks use no LaTeX)
suppress_warnings = ["myst.xref_missing", "myst.header", "mystnb.unknown_mime_type", "toc.not_included", "misc.highlighting_failure"]
'''


def build(out: str | Path | None = None, run: bool = True, preset: str = "smoke", jobs: int = 2) -> Path:
    """Build the book into ``out`` (default ``outputs/book``); returns the path of ``index.html``.
    ``run``: first execute, with ``preset``, the notebooks that have no executed copy."""
    import nbformat
    from sphinx.cmd.build import build_main

    from alkit.experiments.reproduce import NOTEBOOKS_DIR

    t0 = time.perf_counter()
    out = Path(out) if out else outputs_dir() / "book"
    if run:
        run_missing(preset)
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    src = outputs_dir() / ".book-src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    (src / "_static").mkdir()
    (src / "_static" / "no-mathjax.js").write_text("/* MathJax is not used by this book */\n")
    (src / "conf.py").write_text(CONF + 'html_static_path = ["_static"]\n')

    pages = []
    for stem, (path, nb_preset) in sorted(executed_copies().items()):
        meta = nbformat.read(path, as_version=4).metadata
        end = meta.get("papermill", {}).get("end_time")
        date = end[:16].replace("T", " ") + " UTC" if end else "unknown date"
        recorded = meta.get("alkit", {}).get("commit")  # alkit reproduce records the commit it ran
        commit = f"`{recorded}`" if recorded else f"`{commit_at(end)}` (the repository's HEAD at that time)"
        line = (f"*This page: executed with the **{nb_preset}** preset on {date}, commit {commit} "
                f"— `outputs/notebooks/{path.name}`.*")
        _write_notebook(path, src / f"{stem}.ipynb", line)
        pages.append(stem)
    sols = sorted((NOTEBOOKS_DIR / "solutions").glob("*_solutions.ipynb"))
    head = head_commit()
    for p in sols:
        line = (f"*This page: the worked solutions as stored at commit `{head}` (preset: none, not executed here; "
                f"`make test` runs them with their smoke preset, `python -m alkit grade` with the checks). "
                f"Book built {when}.*")
        _write_notebook(p, src / "solutions" / p.name, line)
    (src / "solutions" / "index.md").write_text(
        "# Solution notebooks\n\nOne per lecture notebook: the exercises again, with worked solutions (cells tagged "
        "`solution`) and a `check(...)` cell after each code exercise (`alkit.grading`).\n\n```{toctree}\n:maxdepth: 1\n\n"
        + "\n".join(p.stem for p in sols) + "\n```\n")

    _repair_links(src)
    readme = (NOTEBOOKS_DIR / "README.md").read_text()
    verdicts = outputs_dir() / "verdicts.md"
    has_verdicts = verdicts.exists()
    if has_verdicts:
        text = verdicts.read_text()
        figure = outputs_dir() / "figures" / "verdicts.png"
        if figure.exists():
            shutil.copy(figure, src / "_static" / "verdicts.png")
            text += "\n\n![the verdicts with their intervals and margins](_static/verdicts.png)\n"
        date = dt.datetime.fromtimestamp(verdicts.stat().st_mtime, dt.timezone.utc)
        text = text.replace("\n", f"\n\n*From `outputs/verdicts.md`, written {date:%Y-%m-%d %H:%M} UTC "
                                   f"(commit `{commit_at(date.isoformat())}`).*\n", 1)
        (src / "verdicts.md").write_text(text)
    (src / "glossary.md").write_text(glossary_page(readme))
    (src / "index.md").write_text(index_page(readme, has_verdicts, when))

    shutil.rmtree(out, ignore_errors=True)
    args = ["-b", "html", "-q", "-j", str(jobs), "-d", str(src / "_doctrees"), str(src), str(out)]
    import warnings

    with warnings.catch_warnings():  # myst-parser's deprecation notices about Sphinx 11 (not ours to fix)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        code = build_main(args)
    if code:
        raise RuntimeError(f"sphinx-build failed (exit {code}); sources in {src}")
    (out / ".nojekyll").touch()
    (out / "build.json").write_text(json.dumps(dict(built=when, commit=head, notebooks=pages, solutions=len(sols),
                                                    seconds=round(time.perf_counter() - t0, 1)), indent=1))
    print(f"[book] {len(pages)} notebooks + {len(sols)} solution notebooks in {time.perf_counter() - t0:.0f} s: "
          f"open {out / 'index.html'}")
    return out / "index.html"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m alkit.book", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", help="output folder (default: outputs/book)")
    p.add_argument("--no-run", action="store_true", help="do not run notebooks that have no executed copy")
    p.add_argument("--preset", default="smoke", help="preset for notebooks without an executed copy (default: smoke)")
    a = p.parse_args(argv)
    build(a.out, run=not a.no_run, preset=a.preset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
