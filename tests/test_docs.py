"""The documentation stays navigable: every relative link or image in the Markdown
(README.md, docs/, benchmarks/README.md, configs/ and models/ READMEs) points at a file
that exists, and README.md stays a five-minute read (at most 250 lines)."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250

#: `[text](target)` and `![alt](target)`, target up to the first space or `)`
#: (an optional `"title"` after the space is ignored).
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)*?\1")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # http:, mailto:, ...


def markdown_files() -> list[Path]:
    files = [REPO_ROOT / "README.md", REPO_ROOT / "benchmarks" / "README.md"]
    files += sorted((REPO_ROOT / "docs").rglob("*.md"))
    for folder in ("configs", "models"):
        files += sorted((REPO_ROOT / folder).glob("README*.md"))
    return [f for f in dict.fromkeys(files) if f.is_file()]


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image outside code blocks and spans."""
    found: list[tuple[int, str]] = []
    in_fence = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            found.append((number, match.group(1)))
    return found


def broken_links() -> list[str]:
    broken: list[str] = []
    for path in markdown_files():
        for number, target in links(path):
            if target.startswith("#") or EXTERNAL.match(target):
                continue
            relative = target.split("#", 1)[0].split("?", 1)[0]
            if not relative:
                continue
            if not (path.parent / relative).exists():
                broken.append(f"{path.relative_to(REPO_ROOT)}:{number}: {target}")
    return broken


def test_markdown_files_are_found() -> None:
    names = {p.relative_to(REPO_ROOT).as_posix() for p in markdown_files()}
    assert "README.md" in names
    assert any(n.startswith("docs/") for n in names), names


def test_relative_links_point_at_files_that_exist() -> None:
    broken = broken_links()
    assert not broken, f"{len(broken)} broken link(s) in the Markdown:\n" + "\n".join(broken)


def test_readme_is_short() -> None:
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to docs/"
    )
