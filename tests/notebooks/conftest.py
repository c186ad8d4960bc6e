"""Notebook tests: every notebook in notebooks/ runs under nbval and under papermill.

01-collect measures real runtimes, so its tests need root (as the integration
tests do: skipped for a developer without root, a failure in CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.notebooks)
