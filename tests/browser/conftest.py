"""Browser tests: reports opened in headless Chromium (Debian's chromium and
chromium-driver, driven through selenium); no root and no runtime needed."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)
