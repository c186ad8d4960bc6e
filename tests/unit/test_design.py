"""docs/DESIGN.md's module map names every module under rtlab/ (only __init__ files may be left out)."""

from __future__ import annotations

import re

from tests.conftest import REPO

DESIGN = REPO / "docs/DESIGN.md"


def test_the_module_map_names_every_module():
    design = DESIGN.read_text()
    section = design[design.index("## Module map"):design.index("## The files one touches")]
    named = set(re.findall(r"^\| `([\w/]+\.py)` \|", section, flags=re.M))
    modules = {p.relative_to(REPO / "rtlab").as_posix() for p in (REPO / "rtlab").rglob("*.py")}
    modules = {m for m in modules if not m.endswith("__init__.py") or m == "collect/clients/__init__.py"}
    assert sorted(modules - named) == [], "modules missing from docs/DESIGN.md's module map"
    assert sorted(named - modules) == [], "the module map names modules that are gone"


def test_the_files_one_touches_are_listed_for_each_change():
    design = DESIGN.read_text()
    section = design[design.index("## The files one touches"):]
    for change in ("Add a client", "Add a runtime", "Add a step", "Add an experiment"):
        assert f"**{change}" in section, change
