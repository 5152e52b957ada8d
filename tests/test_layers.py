"""Layers that point one way (issue 17): no import circle among alkit's modules, and nothing in
the paper's protocol (alkit/protocol) or the engine (alkit/engine) imports from alkit.experiments
(results store, runner, recipes live above them). Read from the source with ``ast``; imports
under ``if TYPE_CHECKING:`` are type hints, not imports."""

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1] / "alkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path):
    """(imported module, at module top?) of every alkit import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []

    def visit(node, top):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, top) for a in child.names if a.name.startswith("alkit"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + ([base] if base else []))
                if base.startswith("alkit"):
                    out.append((base, top))
                    out.extend((f"{base}.{a.name}", top) for a in child.names)  # `from pkg import module`
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, top and not inner)

    visit(tree, True)
    return out


def graph(top_only: bool):
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for name, path in modules.items():
        for target, top in imports(path):
            if target in modules and target != name and (top or not top_only):
                g.add_edge(name, target)
    return g


def test_no_import_circle_at_module_level():
    g = graph(top_only=True)
    cycles = list(nx.simple_cycles(g))
    # a package's __init__ re-exporting its submodules is not a circle of layers
    cycles = [c for c in cycles if not all(m.startswith(c[0].rsplit(".", 1)[0]) for m in c) or len(c) > 2]
    real = [c for c in cycles if not _package_reexport(c)]
    assert real == [], real


def _package_reexport(cycle) -> bool:
    """``pkg`` <-> ``pkg.sub`` (the package imports its submodule, the submodule the package)."""
    return len(cycle) == 2 and (cycle[0].startswith(cycle[1] + ".") or cycle[1].startswith(cycle[0] + "."))


@pytest.mark.parametrize("layer", ["alkit.protocol", "alkit.engine"])
def test_protocol_and_engine_import_nothing_from_experiments(layer):
    g = graph(top_only=False)  # in functions too
    bad = [(a, b) for a, b in g.edges if a.startswith(layer) and b.startswith("alkit.experiments")]
    assert bad == [], bad
