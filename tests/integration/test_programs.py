"""Every program rtlab runs comes from a package set-up installs (or Debian's base
system), or is a runtime that `rtlab doctor` reports as optional with how to get it.

The programs are not listed by hand: rtlab logs the argv of each program it starts
when RTLAB_EXEC_LOG is set (rtlab/__init__.py), and this test drives set-up,
doctor, a one-trial collect over every client and runtime, and clean with it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from rtlab.core.runtimes import KNOWN
from rtlab.host import host
from tests.conftest import rtlab


def _programs(log: Path) -> set[str]:
    progs = set()
    for line in log.read_text().splitlines():
        argv = json.loads(line)
        progs.add(argv[0])
        # daemons start as `sh -c '(exec setsid "$@" …) & echo $!' rtlab-daemon ARGV…`
        if len(argv) > 4 and argv[3] == "rtlab-daemon":
            progs.update({"setsid", argv[4]})
    return progs


def _ours(path: str) -> bool:
    """The venv's own interpreter and rtlab's scripts are the checkout's, not a package's."""
    real = os.path.realpath(path)
    return any(
        real.startswith(os.path.realpath(p))
        for p in {sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[2])}
    )


def test_every_program_rtlab_runs_comes_from_a_set_up_package(tmp_path):
    log = tmp_path / "exec.log"
    env = {**os.environ, "RTLAB_EXEC_LOG": str(log)}
    for args in (
        ["setup"],
        ["doctor", "--timeout", "5"],
        [
            "collect",
            "--study",
            "all",
            "--trials",
            "1",
            "--warmup",
            "0",
            "--timeout",
            "10",
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ],
        ["clean"],
    ):
        out = rtlab(*args, env=env, timeout=900)
        assert out.returncode == 0, f"rtlab {' '.join(args)}: {out.stderr[-2000:]}"
    programs = _programs(log)
    assert {"runc", "crun", "runsc", "ctr", "podman", "containerd-shim-runc-v2"} & {
        Path(p).name for p in programs
    }, programs  # the log did see the measured programs

    allowed = host.setup_packages()
    unexplained = []
    for prog in sorted(programs):
        path = prog if "/" in prog else shutil.which(prog)
        assert path, f"rtlab ran {prog!r}, which is not on PATH"
        if _ours(path):
            continue
        package = host.package_of(path)
        if package in allowed or (package and host.is_base_package(package)):
            continue
        unexplained.append(f"{prog} ({path}): package {package}")
    assert unexplained == [], "programs from packages set-up does not install: " + "; ".join(
        unexplained
    )


def test_each_known_runtime_is_installed_by_set_up_or_reported_optional():
    out = rtlab("doctor", "--json", "--clients", "oci", "--timeout", "5", timeout=300)
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    reasons = {t["runtime"]: t["reason"] for t in facts["targets"]}
    for rt in KNOWN.values():
        if rt.package is not None:
            assert rt.package in host.setup_packages(), rt
            assert host.package_of(rt.path() or rt.binary) == rt.package, rt
        elif rt.path() is None:
            assert "optional" in reasons[rt.name] and "install" in reasons[rt.name], reasons[
                rt.name
            ]
