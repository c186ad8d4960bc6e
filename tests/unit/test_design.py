"""docs/DESIGN.md against the code: its module map names every module of the package
(found with pkgutil, so modules moved into subpackages are found where they are), its
trials.csv table names every column rtlab writes, and its table of host changes
credits modules that exist, including every module that records a change in the ledger."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import rtlab
from rtlab.core import experiments, results
from tests.conftest import REPO

DESIGN = REPO / "docs/DESIGN.md"


def section(title: str) -> str:
    """The text of ``## title`` up to the next ``## `` heading."""
    design = DESIGN.read_text()
    start = design.index(f"\n## {title}")
    end = design.find("\n## ", start + 1)
    return design[start : end if end > 0 else len(design)]


def first_cells(text: str) -> list[str]:
    """The first cell of every row of the markdown tables in ``text`` (header rows too)."""
    return re.findall(r"^\| ([^|]+?) \|", text, flags=re.M)


def dotted(path: str) -> str:
    """``collect/clients/base.py`` → ``collect.clients.base``; ``collect/clients/__init__.py``
    → ``collect.clients``."""
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, bool]:
    """Every module of rtlab, by dotted name below ``rtlab.`` → whether it is a package."""
    return {
        info.name.removeprefix("rtlab."): info.ispkg
        for info in pkgutil.walk_packages(rtlab.__path__, "rtlab.")
    }


def _defines_something(package: str) -> bool:
    """A package whose ``__init__`` holds more than a docstring and imports (drivers: the
    client registry) is a module with a job; an empty one is only a folder."""
    body = ast.parse(_source(package)).body
    return any(not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)) for node in body)


def _source(module: str) -> str:
    return Path(importlib.util.find_spec(f"rtlab.{module}").origin).read_text()


def mapped_modules(text: str) -> set[str]:
    return {
        dotted(cell.strip("`")) for cell in first_cells(text) if re.fullmatch(r"`[\w/]+\.py`", cell)
    }


def test_the_module_map_names_every_module():
    named = mapped_modules(section("Module map"))
    modules = package_modules()
    needed = {m for m, is_package in modules.items() if not is_package or _defines_something(m)}
    assert sorted(needed - named) == [], "modules missing from docs/DESIGN.md's module map"
    assert sorted(named - set(modules)) == [], "the module map names modules that are gone"


def test_the_module_check_sees_a_module_in_a_subpackage():
    # walk_packages descends into subpackages: what a layered package will need
    modules = package_modules()
    assert modules["collect.clients"] is True and modules["collect.clients.base"] is False
    assert dotted("core/results.py") == "core.results" and dotted("core/__init__.py") == "core"
    table = (
        "| module | its job |\n|---|---|\n| `collect/clients/base.py` | x |\n| `gone.py` | y |\n"
    )
    assert mapped_modules(table) == {"collect.clients.base", "gone"}


def trials_columns_written() -> set[str]:
    """Every column trials.csv can have: the base, the conditions, the actions' and each
    experiment's own."""
    own = {c for e in experiments.EXPERIMENTS.values() for c in e.columns}
    return {*results.COLUMNS, *results.CONDITION_COLUMNS, *results.ACTION_COLUMNS, *own}


def trials_table() -> set[str]:
    text = section("The data contract")
    table = text[text.index("`trials.csv`, one row per") :]
    table = table[: table.index("\n\n", table.index("| column |"))]
    return {
        name
        for cell in first_cells(table)
        if cell != "column"
        for name in re.findall(r"`(\w+)`", cell)
    }


def test_the_trials_table_names_every_column_and_no_other():
    named, written = trials_table(), trials_columns_written()
    assert set(results.COLUMNS) <= named, "results.COLUMNS missing from docs/DESIGN.md's table"
    assert sorted(written - named) == [], "trials.csv columns missing from docs/DESIGN.md's table"
    assert sorted(named - written) == [], "docs/DESIGN.md's table names columns rtlab never writes"


def host_changes() -> list[list[str]]:
    """The rows of the host-changes table, as their cells (header and rule left out)."""
    text = section("What rtlab changes on a host")
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]
    return [r for r in rows[1:] if not set("".join(r)) <= set("-")]


def by_file_name() -> dict[str, str]:
    """``daemons.py`` → ``daemons`` (or ``host.daemons`` once it lives in a subpackage)."""
    return {m.rsplit(".", 1)[-1] + ".py": m for m, pkg in package_modules().items() if not pkg}


def test_the_host_changes_credit_modules_that_exist():
    files = by_file_name()
    credited = [
        name
        for row in host_changes()
        for cell in row
        for name in re.findall(r"\b(\w+\.py)\b", cell)
    ]
    assert credited, "no module named in the host-changes table"
    assert sorted({n for n in credited if n not in files}) == [], (
        "the host-changes table credits modules that are gone"
    )
    # `module.function` named in the table exists
    for row in host_changes():
        for mod, attr in re.findall(r"`(\w+)\.(\w+)`", " ".join(row)):
            if f"{mod}.py" in files:
                module = importlib.import_module(f"rtlab.{files[mod + '.py']}")
                assert hasattr(module, attr), f"{mod}.{attr} named in docs/DESIGN.md is gone"


def ledger_writers() -> set[str]:
    """The modules that record a host change (they call ``ledger.add``)."""
    found = set()
    for name, module in by_file_name().items():
        if re.search(r"\bledger\.add\(", _source(module)):
            found.add(name)
    return found


# rtlab's host folders (image.py's STATE_DIR and RUNTIME_DIR, daemons.py's LOG_DIR, PID_DIR)
FOLDER_PATH = re.compile(r"\b(STATE_DIR|RUNTIME_DIR|LOG_DIR|PID_DIR) /")


def folder_writers() -> set[str]:
    """The modules that make a path of their own in rtlab's host folders."""
    return {name for name, module in by_file_name().items() if FOLDER_PATH.search(_source(module))}


def made_by() -> set[str]:
    return {n for row in host_changes() for n in re.findall(r"\b(\w+\.py)\b", row[1])}


def test_every_module_recording_a_host_change_is_credited_for_it():
    writers = ledger_writers()
    assert {"daemons.py", "host.py", "rootless.py", "tracing.py"} <= writers  # the search works
    assert sorted(writers - made_by()) == [], (
        "modules that record host changes in the ledger, missing from the table's 'made by'"
    )


def test_every_module_with_its_own_path_in_rtlabs_folders_is_credited():
    writers = folder_writers()
    assert {"ledger.py", "shims.py", "session.py"} <= writers  # the search works
    assert sorted(writers - made_by()) == [], (
        "modules making paths in /var/lib/rtlab, /run/rtlab or /var/log/rtlab, missing "
        "from the host-changes table's 'made by'"
    )


@pytest.mark.parametrize(
    "row, instead, says",
    [
        ("| `pace_s`, `idle_s`, `caches_dropped` |", "| `pace_s`, `idle_s` |", "columns missing"),
        ("| `container_id` |", "| `container` |", "results.COLUMNS missing"),
        (
            "| `run_id` | the run |",
            "| `run_id` | the run |\n| `ghost_s` | never written |",
            "never writes",
        ),
    ],
)
def test_a_drifted_trials_table_is_caught(monkeypatch, row, instead, says):
    text = DESIGN.read_text()
    assert row in text
    monkeypatch.setattr(sys.modules[__name__], "DESIGN", _Text(text.replace(row, instead, 1)))
    with pytest.raises(AssertionError, match=says):
        test_the_trials_table_names_every_column_and_no_other()


def test_a_gone_module_in_the_map_is_caught(monkeypatch):
    text = DESIGN.read_text()
    monkeypatch.setattr(
        sys.modules[__name__],
        "DESIGN",
        _Text(text.replace("| `core/noise.py` |", "| `core/noisy.py` |")),
    )
    with pytest.raises(AssertionError, match="missing"):
        test_the_module_map_names_every_module()


class _Text:
    """Stands in for DESIGN's Path in the tests that break the document."""

    def __init__(self, text: str):
        self.text = text

    def read_text(self) -> str:
        return self.text


def test_the_files_one_touches_are_listed_for_each_change():
    text = section("The files one touches")
    for change in ("Add a client", "Add a runtime", "Add a step", "Add an experiment"):
        assert f"**{change}" in text, change
