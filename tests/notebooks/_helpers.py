"""Shared by the notebook tests (imported as tests.notebooks._helpers)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
COLLECT = "01-collect.ipynb"


def notebook_names() -> list[str]:
    return sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def needs_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("01-collect measures real runtimes: notebook tests must run as root in CI")
        pytest.skip("01-collect measures real runtimes: run as root (make test does)")


def runs_made_by_kernels(before: set[Path]) -> list[Path]:
    """data/<run-id>/ folders that appeared since ``before`` and were written from a
    Jupyter kernel (their run.json's command line is ipykernel's)."""
    made = []
    for folder in sorted((REPO / "data").iterdir()):
        if folder in before or not folder.is_dir():
            continue
        try:
            meta = json.loads((folder / "run.json").read_text())
        except (OSError, ValueError):
            continue
        if any("ipykernel" in str(arg) for arg in meta.get("command_line", [])):
            made.append(folder)
    return made


def wait_for_other_collects(limit_s: float = 600.0) -> None:
    """Wait until no other rtlab collect holds its lock (a developer's run, another test)."""
    from rtlab.host import cleanup

    deadline = time.monotonic() + limit_s
    while cleanup.live_runs():
        if time.monotonic() > deadline:
            pytest.fail(
                f"another rtlab collect kept running for {limit_s:g} s: {cleanup.live_runs()}"
            )
        time.sleep(2)
