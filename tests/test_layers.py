"""The layer contract (docs/ARCHITECTURE.md, "Package map"), no import cycle, no library
module importing a command, and the namespace: every import names `lookout.*`, so no
module is loaded twice under a bare name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

from lookout.base.paths import REPO_ROOT

LAYERS = ("streams", "detector", "zones", "cases")


def lint_imports() -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def test_import_linter_contract_is_kept() -> None:
    proc = lint_imports()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


def test_a_module_no_layer_names_breaks_the_contract() -> None:
    """The contract is exhaustive: a new flat module in lookout/ is not silently
    outside every layer."""
    probe = REPO_ROOT / "lookout" / "unplaced_probe.py"
    probe.write_text("")
    try:
        proc = lint_imports()
    finally:
        probe.unlink()
    assert proc.returncode != 0
    assert "lookout.unplaced_probe" in proc.stdout, proc.stdout[-2000:]


def import_graph() -> grimp.ImportGraph:
    return grimp.build_graph("lookout", cache_dir=None)


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan's
    strongly connected components, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    group.append(m)
                    if m == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_no_import_cycle_anywhere() -> None:
    graph = import_graph()
    assert len(graph.modules) > 100
    assert cycles(graph) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = import_graph()
    graph.add_import(
        importer="lookout.base.errors",
        imported="lookout.cases.manager",
        line_number=1,
        line_contents="from lookout.cases.manager import CaseManager",
    )
    found = cycles(graph)
    assert found and all("lookout.base.errors" in group for group in found), found


def test_no_library_module_imports_a_command() -> None:
    graph = import_graph()
    commands = {m for m in graph.modules if m.startswith("lookout.cli.")}
    importers = {
        (importer, cmd)
        for cmd in commands
        for importer in graph.find_modules_that_directly_import(cmd)
        if not importer.startswith("lookout.cli") and importer != "lookout.__main__"
    }
    assert not importers, sorted(importers)


def bare_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{path}:{node.lineno}: {n}" for n in names if n.split(".")[0] in LAYERS]
    return found


def test_nothing_imports_a_layer_by_its_bare_name() -> None:
    roots = ["lookout", "tests", "benchmarks", *LAYERS]
    files = [p for r in roots for p in (REPO_ROOT / r).rglob("*.py") if ".venv" not in p.parts]
    assert len(files) > 100
    found = [hit for f in files for hit in bare_imports(f)]
    assert not found, found


def test_the_wheel_layout_nests_the_layers_under_lookout() -> None:
    for layer in LAYERS:
        link = REPO_ROOT / "lookout" / layer
        assert link.is_dir() and (link / "__init__.py").is_file(), link
        assert link.resolve() == (REPO_ROOT / layer).resolve()
