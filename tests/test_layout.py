"""The house plan holds: the module import graph of src/inferwire has no cycles.

Every import counts, at the top of a module and inside functions (a deferred import still makes
the two modules depend on each other), read with ``ast`` so nothing is run.  ``from .pkg import
name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg`` (its ``__init__``).  A
module importing from its own package is no edge: the package is always imported first.  A
package's lazy exports (a module-level ``{name: "submodule"}`` dict that its ``__getattr__``
resolves with ``importlib``) are edges from the package to those submodules.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import inferwire

ROOT = Path(inferwire.__file__).parent


def _modules() -> dict[str, Path | None]:
    """{dotted name: file} of every module of the package (a package is its ``__init__``); the C
    extensions (built from their ``.c`` source, imports of nothing of ours) map to None."""
    out: dict[str, Path | None] = {}
    for path in sorted(ROOT.rglob("*.c")):
        out[".".join(("inferwire",) + path.relative_to(ROOT).with_suffix("").parts)] = None
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("inferwire",) + path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _absolute(name: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = name.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _owner(target: str, modules) -> str | None:
    """The module of ours that importing ``target`` runs (its longest known prefix)."""
    parts = target.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in modules:
            return ".".join(parts[:k])
    return None


def _is_ancestor(owner: str, name: str) -> bool:
    """``owner`` is ``name`` or a package holding it: already imported when ``name`` runs
    (``from . import x`` for an attribute of the package), so never a cycle of its own."""
    return owner == name or name.startswith(owner + ".")


def _lazy_exports(name: str, tree: ast.Module, modules) -> set[str]:
    """The submodules a package's ``{name: "submodule"}`` dicts name (its lazy exports)."""
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for value in node.value.values:
                if isinstance(value, ast.Constant) and f"{name}.{value.value}" in modules:
                    found.add(f"{name}.{value.value}")
    return found


def import_graph() -> dict[str, set[str]]:
    """{module: modules of inferwire it imports anywhere in its body}."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        edges = set()
        if path is None:
            graph[name] = edges
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        if path.name == "__init__.py":
            edges |= _lazy_exports(name, tree, modules)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(name, node, path.name == "__init__.py")
                targets = [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                owner = _owner(target, modules)
                if owner and not _is_ancestor(owner, name):
                    edges.add(owner)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}            # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_graph_sees_function_level_imports_and_lazy_exports():
    graph = import_graph()
    assert "inferwire.columns" in graph["inferwire.report.run"]
    assert "inferwire.analysis.join" in graph["inferwire.report.run"]            # inside a function
    assert "inferwire.runfolder.probe" in graph["inferwire.runfolder"]  # a lazy export
    assert len(graph) > 100 and sum(map(len, graph.values())) > 300


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


#: The pure core: bytes and arrays in, tables out.  ``analysis.cli`` (``inferwire analyze``) and
#: ``analysis.many`` (Dask processes over run folders) are the analysis stage's shell.
CORE = ("inferwire.packets", "inferwire.tcp", "inferwire.protocols", "inferwire.exchanges",
        "inferwire.analysis", "inferwire.columns", "inferwire.errors", "inferwire.tablefiles",
        "inferwire.files", "inferwire.extras", "inferwire.problems", "inferwire._csvrows",
        "inferwire.arrays", "inferwire.arrowcalls", "inferwire.libc")
CORE_SHELL = ("inferwire.analysis.cli", "inferwire.analysis.many")


def _in_core(module: str) -> bool:
    return module not in CORE_SHELL and any(module == c or module.startswith(c + ".")
                                            for c in CORE)


def test_the_core_imports_no_run_folder_report_or_shell():
    graph = import_graph()
    assert _in_core("inferwire.analysis.pipeline") and not _in_core("inferwire.analysis.cli")
    outside = {m: sorted(e for e in edges if e != "inferwire" and not _in_core(e))
               for m, edges in graph.items() if _in_core(m)}
    assert {m: e for m, e in outside.items() if e} == {}


def in_function_imports() -> list[tuple[str, int, str]]:
    """(file, line, text) of every import statement inside a function of src/inferwire."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        seen = set()
        for fn in ast.walk(ast.parse(text, str(path))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno not in seen:
                    seen.add(node.lineno)
                    found.append((str(path.relative_to(ROOT)), node.lineno,
                                  "\n".join(lines[node.lineno - 1:node.end_lineno])))
    return found


def test_imports_inside_functions_say_why_they_are_deferred():
    """Imports stand at the top of modules; one inside a function defers a heavy or optional
    dependency (tensorflow, grpc, psutil, locust, dask, matplotlib; pandas in a module that
    must stay light for the CLI's start-up) and says so on its line: ``# deferred: why``."""
    found = in_function_imports()
    assert len(found) > 50                      # the walk sees them (there are ~120)
    silent = [f"{f}:{n}: {text.strip()}" for f, n, text in found
              if not re.search(r"#\s*deferred: \S", text)]
    assert silent == [], "in-function imports without '# deferred: why':\n" + "\n".join(silent)
