"""The repository stands alone: nothing in it cites a file outside it."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("rtlab", "tests", "notebooks", "benchmarks", "scripts", "docs")


def _texts():
    for top in SOURCES:
        for path in (REPO / top).rglob("*"):
            if path.suffix in {".py", ".md", ".ipynb", ".sh"} and path.is_file():
                yield path, path.read_text(errors="replace")
    yield REPO / "README.md", (REPO / "README.md").read_text()


def test_design_references_point_inside_the_repository():
    bad = []
    for path, text in _texts():
        if path == Path(__file__):
            continue
        for m in re.finditer(r"(\S*)(DESIGN|STYLE)\.md", text):
            if m.group(1).lstrip("`(\"'") not in ("docs/",) or "shared" in m.group(0):
                bad.append(f"{path.relative_to(REPO)}: {m.group(0)}")
    assert bad == []
    assert (REPO / "docs" / "DESIGN.md").is_file()
