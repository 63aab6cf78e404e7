"""The package order of docs/architecture.md, import cycles and the module line budget, enforced.

The imports of every module under ``src/mixq`` are parsed (``ast``; the modules are not imported).
A package may import only from packages above it in :data:`ORDER` (or itself); the utilities in
:data:`UTILITIES` may be imported by anyone; ``mixq/__init__.py`` (the lazy name table) is exempt.
Function-level (lazy) imports count like top-level ones: a lazy import still couples the packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Top to bottom: a package imports only from packages above it.
ORDER = ("engine", "quant", "platform", "nn", "models", "data", "train", "search", "ir",
         "codegen", "deploy", "intralayer", "hw", "interop", "report", "pipeline", "api", "study",
         "zoo_demo", "cli")
# Modules anyone may import (they import nothing from mixq but each other).
UTILITIES = ("errors", "fileio", "args")
# mixq/__init__.py (the lazy top-level name table, __version__; anyone may import it) and
# mixq/__main__.py (``python -m mixq``).
EXEMPT = ("mixq", "mixq.__main__")
LINE_BUDGET = 400

# Known violations of the order in today's code, each to be removed by the change named beside
# it. Keep this empty: a new entry needs a reason and an owner.
ALLOWED: set[tuple[str, str]] = set()
# Known import cycles, same rule: a cycle through one of these modules is tolerated.
ALLOWED_CYCLES: dict[str, str] = {
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str) -> str:
    """'mixq.search.memory' -> 'search'; 'mixq.cli' -> 'cli'; 'mixq' -> 'mixq'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path, module: str, is_package: bool) -> set[str]:
    """The mixq modules ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "mixq")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "mixq":
                continue
            out.add(target)
            # 'from mixq.pkg import mod' imports the submodule mixq.pkg.mod when it exists
            out.update(f"{target}.{a.name}" for a in node.names)
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the mixq modules it imports (only names that are modules of the tree)."""
    files = {module_name(p, root): p for p in (root / "mixq").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        found = imports_of(path, name, path.name == "__init__.py")
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def order_violations(graph: dict[str, set[str]], allowed=frozenset()) -> list[str]:
    """'a -> b' for every import of a package at or below the importer's rank (not itself)."""
    rank = {p: i for i, p in enumerate(ORDER)}
    bad = []
    for mod, targets in sorted(graph.items()):
        src = package_of(mod)
        if mod in EXEMPT:
            continue
        if src in UTILITIES:
            bad += [f"{mod} -> {t} (a utility imports only utilities)" for t in sorted(targets)
                    if package_of(t) not in UTILITIES]
            continue
        if src not in rank:
            bad.append(f"{mod}: package '{src}' is not in ORDER; place it there")
            continue
        for t in sorted(targets):
            dst = package_of(t)
            if dst in UTILITIES or dst == src or t in EXEMPT or (mod, t) in allowed:
                continue
            if dst not in rank or rank[dst] > rank[src]:
                bad.append(f"{mod} -> {t} ('{src}' is above '{dst}')")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package_graph(graph):
    # Package __init__ re-exports (mixq.models -> mixq.models.trace) are edges inside a package;
    # cycles are checked between modules, ignoring a package's __init__ importing its own modules.
    return {m: {t for t in ts if not (t.startswith(m + ".") or m.startswith(t + "."))}
            for m, ts in graph.items()}


def test_package_order():
    bad = order_violations(import_graph(SRC), ALLOWED)
    assert not bad, "imports against the package order:\n" + "\n".join(bad)


def test_no_import_cycles():
    found = [c for c in cycles(_package_graph(import_graph(SRC)))
             if not set(c) & set(ALLOWED_CYCLES)]
    assert not found, f"import cycles: {found}"


def test_allow_lists_hold_only_real_violations():
    graph = import_graph(SRC)
    stale = [e for e in ALLOWED if e[1] not in graph.get(e[0], ())]
    found = cycles(_package_graph(graph))
    stale += [m for m in ALLOWED_CYCLES if not any(m in c for c in found)]
    assert not stale, f"fixed: remove from the allow-lists: {stale}"


def test_line_budget():
    over = [f"{p.relative_to(SRC)}: {n} lines" for p in sorted((SRC / "mixq").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > LINE_BUDGET]
    assert not over, f"modules over {LINE_BUDGET} lines (split by behaviour): {over}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / "mixq" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_checker_rejects_a_lower_package_importing_a_higher_one(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "quant/__init__.py": "", "quant/spec.py": "from mixq.errors import MixqError\n",
        "errors.py": "",
        "ir/__init__.py": "", "ir/graph.py": "from mixq.quant.spec import X\n",
        "codegen/__init__.py": "", "codegen/emit.py": "from mixq.ir import graph\n",
        # the violation: ir (above) imports codegen (below), lazily inside a function
        "ir/memory.py": "def f():\n    from mixq.codegen.emit import emit\n",
    })
    bad = order_violations(import_graph(root))
    assert bad == ["mixq.ir.memory -> mixq.codegen.emit ('ir' is above 'codegen')"]
    assert order_violations(import_graph(root), {("mixq.ir.memory", "mixq.codegen.emit")}) == []


def test_checker_finds_cycles_and_unplaced_packages(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "ir/__init__.py": "", "ir/a.py": "from . import b\n", "ir/b.py": "import mixq.ir.a\n",
        "newpkg/__init__.py": "", "newpkg/x.py": "from mixq.ir import a\n",
    })
    graph = import_graph(root)
    assert cycles(_package_graph(graph)) == [["mixq.ir.a", "mixq.ir.b"]]
    assert "mixq.newpkg.x: package 'newpkg' is not in ORDER; place it there" in \
        order_violations(graph)


@pytest.mark.parametrize("utility", UTILITIES)
def test_utilities_import_only_utilities(utility):
    graph = import_graph(SRC)
    mods = [m for m in graph if package_of(m) == utility]
    for m in mods:
        assert all(package_of(t) in UTILITIES for t in graph[m]), (m, graph[m])
