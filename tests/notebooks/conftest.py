"""Notebook tests: every notebook in notebooks/ runs under nbval and under papermill.

01-collect measures real runtimes, so its tests need root (as the integration
tests do: skipped for a developer without root, a failure in CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The tests that measure through 01-collect (they call _helpers.needs_root()).
ROOT_TESTS = (
    "test_notebook_runs_with_its_defaults[01-collect.ipynb]",
    "test_notebook_with_overridden_parameters_writes_its_files[01-collect.ipynb]",
    "test_report_collects_analyses_and_writes_the_report_folder",
)
# Static checks of the notebook files: no kernel, so they stay in make test-fast.
STATIC = ("test_notebook_rules.py",)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).parent != Path(__file__).parent:
            continue
        if Path(str(item.fspath)).name not in STATIC:
            item.add_marker(pytest.mark.notebooks)
        if item.name in ROOT_TESTS:
            item.add_marker(pytest.mark.root)
