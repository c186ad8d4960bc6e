"""Every notebook in notebooks/ runs top to bottom with its stored defaults (nbval, lax).

Each notebook runs in its own ``python -m pytest --nbval-lax`` so that a new
notebook is picked up without editing this file, 01-collect can be skipped
without root, and the nbval run reads the project's pytest configuration
(warnings are errors) apart from this session's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.notebooks._helpers import (
    COLLECT,
    NOTEBOOKS,
    REPO,
    needs_root,
    notebook_names,
    runs_made_by_kernels,
    wait_for_other_collects,
)

ANALYSIS_TMP = "rtlab-analysis-*"  # rtlab.report.params.analyze_params' prefix


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_runs_with_its_defaults(name: str) -> None:
    if name == COLLECT:
        needs_root()
        wait_for_other_collects()  # 01's defaults refuse to measure beside another run
    before = set((REPO / "data").iterdir())
    temporary = set(Path(tempfile.gettempdir()).glob(ANALYSIS_TMP))
    try:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--nbval-lax",
                "--nbval-cell-timeout=600",
                "-q",
                str(NOTEBOOKS / name),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    finally:
        # 01's default writes a new data/<run-id>/: keep the repository as it was
        for folder in runs_made_by_kernels(before):
            shutil.rmtree(folder)
        # 02's default out_dir is a new temporary folder
        for folder in set(Path(tempfile.gettempdir()).glob(ANALYSIS_TMP)) - temporary:
            shutil.rmtree(folder, ignore_errors=True)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert " passed" in r.stdout and "failed" not in r.stdout
