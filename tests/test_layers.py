"""The layer contract (docs/ARCHITECTURE.md, "Layers") and the namespace: every import
names `lookout.*`, so no module is loaded twice under a bare name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from lookout.base.paths import REPO_ROOT

LAYERS = ("streams", "detector", "zones", "cases")


def test_import_linter_contract_is_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


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
