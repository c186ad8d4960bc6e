"""Shared fixtures: the fake runtime (unit tests only), the CLI, leftover checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtlab.collect.registry import register_host_parts

REPO = Path(__file__).resolve().parents[1]
FAKE = REPO / "tests" / "fixtures" / "fake_runtime.py"


# The longest tests of make test-fast (seconds of CPU each; none shares a fixture wider
# than the function with its module), run first: xdist hands tests out in collection order,
# so one of them run last would leave the other worker idle while it finishes.
LONG_FIRST = (
    "tests/unit/test_sample.py::test_rtlab_analyze_on_a_sample_run_writes_tables_and_every_figure",
    "tests/unit/test_paired.py::test_paired_test_keeps_its_false_positive_rate",
    "tests/unit/test_stats.py::test_same_distribution_rarely_gives_a_verdict",
    "tests/unit/test_shift.py::test_identical_distributions_are_equivalent_at_margin_20_percent",
)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.nodeid not in LONG_FIRST)  # stable: the rest keep order


@pytest.fixture(autouse=True, scope="session")
def _host_parts():
    """The host parts registered, as rtlab's entry points do (collect/registry.py):
    tests call host functions directly."""
    register_host_parts()


@pytest.fixture
def rt_env(tmp_path, monkeypatch):
    """An environment whose rtlab locks and work folders live in tmp_path."""
    env = {**os.environ, "RTLAB_RUNTIME_DIR": str(tmp_path / "run")}
    monkeypatch.setenv("RTLAB_RUNTIME_DIR", str(tmp_path / "run"))
    return env


@pytest.fixture
def fake(tmp_path):
    """Return ``spec(name, mode)`` → a --runtime value for the fake runtime, and its state dir."""

    def spec(name: str = "fake", mode: str = "ok") -> tuple[str, Path]:
        state = tmp_path / f"state-{name}"
        state.mkdir(exist_ok=True)
        # run through this interpreter with -S: the fake starts in ~15 ms
        return f"{name}={sys.executable}:-S {FAKE} --state {state} --mode {mode}", state

    return spec


def rtlab(*args: str, env=None, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run the rtlab CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "rtlab", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
        **kw,
    )


# Set by `make test` (after set-up ran): a tool that set-up installs is then a requirement,
# and its absence fails the test; elsewhere (a bare pytest) it skips, with its reason.
SETUP_DONE = os.environ.get("RTLAB_SETUP_DONE") == "1"


def set_up_tool_missing(*commands: str) -> str:
    """Why a test cannot run for lack of a command that set-up installs ("" when all are
    on PATH), after failing the test where set-up was expected to install it (make test)."""
    import shutil

    from rtlab.host import host

    packages = host.command_packages()
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return ""
    why = ", ".join(
        f"{c} not installed (Debian package {packages.get(c, '?')}, which set-up installs)"
        for c in missing
    )
    if SETUP_DONE:
        pytest.fail(f"{why}: make test ran set-up, so this is a set-up defect")
    return why


def need_tools(*commands: str) -> None:
    """Skip (a bare pytest) or fail (make test) unless every command is on PATH."""
    why = set_up_tool_missing(*commands)
    if why:
        pytest.skip(why)


def processes_naming(text: str) -> list[str]:
    """Command lines of live processes that mention ``text`` (not this test's own)."""
    out = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd and "pytest" not in cmd:
            out.append(f"{entry.name}: {cmd}")
    return out
