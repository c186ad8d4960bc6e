"""Integration tests drive the real runtimes and daemons: root, installed by `make setup`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rtlab.host import cleanup


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.root)


@pytest.fixture(autouse=True)
def _needs_root():
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("integration tests must run as root in CI (make test does)")
        pytest.skip("integration tests need root (run `make test` as root)")


def oci_leftovers(prefix: str = "rtlab-") -> list[str]:
    """rtlab containers in the OCI runtimes' lists, runsc processes, mounts and runsc's
    state files naming them.

    Runs that are alive right now (their lock is held, e.g. a developer's
    collect beside the tests) are not leftovers and are not counted.
    """
    found = []
    for argv in (
        ["runc", "list", "--quiet"],
        ["crun", "list", "--quiet"],
        ["runsc", "list", "--quiet"],
    ):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, f"{argv}: {out.stderr}"
        found += [f"{argv[0]}: {line}" for line in out.stdout.split() if line.startswith(prefix)]
    ps = subprocess.run(
        ["pgrep", "-af", f"runsc-(sandbox|gofer).*{prefix}"], capture_output=True, text=True
    )
    found += ps.stdout.splitlines()
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [line for line in mounts.splitlines() if prefix in line.split()[4]]
    found += [f"runsc state file {path}" for path in cleanup.runsc_state_files(prefix)]
    live = cleanup.live_runs()
    return [f for f in found if not any(f"rtlab-{token}-" in f for token in live)]
