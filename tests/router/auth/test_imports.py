"""The modules of ``router.auth`` import one way only: no cycles, no imports hidden in
functions (the way cycles get papered over), and each imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = "router.auth"
ROOT = Path(__file__).resolve().parents[3]
DIR = ROOT / "router" / "auth"


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(DIR.glob("*.py"))}


def _target(node: ast.ImportFrom | ast.Import, names: set[str]) -> list[str]:
    """The modules of the package an import statement reaches (``__init__`` for the package)."""
    out: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == PACKAGE:
                out.append("__init__")
            elif alias.name.startswith(PACKAGE + "."):
                out.append(alias.name[len(PACKAGE) + 1 :].split(".")[0])
        return out
    if node.level == 1:
        base = node.module
    elif node.level == 0 and node.module and node.module.startswith(PACKAGE):
        base = node.module[len(PACKAGE) + 1 :] or None
    else:
        return out
    if base:
        return [base.split(".")[0]]
    # ``from . import x``: a submodule when there is one, else a name of the package
    return [a.name if a.name in names else "__init__" for a in node.names]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, tree in modules.items():
        for node in ast.walk(tree):  # every import: top level, TYPE_CHECKING, functions
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[name].update(t for t in _target(node, set(modules)) if t != name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a path of module names, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_import_graph_of_the_package_has_no_cycle() -> None:
    graph = _graph()
    assert "_store" in graph and graph["__init__"], "the package was not found"
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_inside_a_function() -> None:
    hidden = []
    for name, tree in _modules().items():
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                hidden += [
                    f"{name}.py:{node.lineno} in {fn.name}()"
                    for node in ast.walk(fn)
                    if isinstance(node, ast.Import | ast.ImportFrom)
                ]
    assert not hidden, f"imports inside functions: {hidden}"


def test_each_module_imports_in_a_fresh_interpreter() -> None:
    names = [f"{PACKAGE}.{p.stem}" for p in sorted(DIR.glob("_*.py"))]
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in names
    }
    failed = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=60)
        if proc.returncode != 0:
            failed[name] = out.decode(errors="replace")[-500:]
    assert not failed, failed
