"""Experiment density (issue 22) on the real runtimes: levels of idle containers, memory
read three ways into density.csv, the interference start in trials.csv, nothing left."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtlab import cleanup, daemons
from rtlab.results import load_trials
from tests.conftest import REPO, rtlab
from tests.integration.conftest import oci_leftovers


def _density(out: Path) -> list[dict]:
    with open(out / "density.csv", newline="") as f:
        return list(csv.DictReader(f))


def _token(out: Path) -> str:
    return json.loads((out / "run.json").read_text())["token"]


def _mine(token: str) -> list[str]:
    """This run's containers, processes and memory cgroups still on the host."""
    left = [x for x in oci_leftovers() if token in x]
    left += [f"process {pid}" for pid in cleanup.processes_matching(token)]
    left += [f"cgroup {p}" for p in Path("/sys/fs/cgroup/memory").glob(f"**/*{token}*")]
    return left


def test_oci_runc_crun_runsc_three_methods_and_interference(tmp_path, rt_env):
    out = tmp_path / "run"
    r = rtlab("collect", "--no-progress", "--experiment", "density", "--containers", "1,3",
              "--clients", "oci", "--runtimes", "runc,crun,runsc", "--trials", "1",
              "--warmup", "0", "--allow-concurrent", "--out", str(out), env=rt_env)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = _density(out)
    assert {(d["runtime"], d["n"], d["method"]) for d in rows} == {
        (rt, n, m) for rt in ("runc", "crun", "runsc") for n in ("1", "3")
        for m in ("memavailable", "pss", "cgroup")}
    assert all(d["ok"] == "True" for d in rows), [d["error"] for d in rows]
    pss = {(d["runtime"], d["n"]): int(d["bytes"]) for d in rows if d["method"] == "pss"}
    procs = {(d["runtime"], d["n"]): int(d["processes"]) for d in rows if d["method"] == "pss"}
    for rt in ("runc", "crun", "runsc"):
        assert 0 < pss[(rt, "1")] < pss[(rt, "3")], pss  # more containers, more memory
        assert procs[(rt, "3")] >= 3  # each container's own process at least
    # a runsc container (sandbox + gofer) costs several times a runc one
    assert pss[("runsc", "3")] > 3 * pss[("runc", "3")], pss
    cg = {(d["runtime"], d["n"]): int(d["cgroups"]) for d in rows if d["method"] == "cgroup"}
    assert cg[("runc", "3")] == 3 and cg[("crun", "3")] == 3
    df = load_trials(out)
    assert set(df.experiment) == {"density"}
    assert sorted(df.groupby(["runtime", "n", "step"]).size().index.tolist()) == sorted(
        (rt, n, s) for rt in ("runc", "crun", "runsc") for n in (1, 3) for s in ("create", "start"))
    assert df.ok.all(), df[~df.ok][["runtime", "step", "error"]].to_string()
    assert _mine(_token(out)) == []


def test_ctrl_c_while_bringing_up_leaves_nothing_and_keeps_rows(tmp_path, rt_env):
    """SIGINT during a level of 6 runsc containers (each ~0.4 s to bring up): the run
    stops, every container goes, density.csv keeps the level already read."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtlab", "collect", "--no-progress", "--experiment", "density",
         "--containers", "1,6", "--clients", "oci", "--runtimes", "runsc", "--trials", "1",
         "--warmup", "0", "--allow-concurrent", "--out", str(out)],
        cwd=REPO, env=rt_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out / "density.csv").exists():
            time.sleep(0.1)
        assert (out / "density.csv").exists(), "level 1 was never read"
        time.sleep(0.8)  # into the bring-up of level 6
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, output
    assert "interrupted" in output, output
    rows = _density(out)
    assert {d["n"] for d in rows} >= {"1"} and len(rows) >= 3
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert _mine(meta["token"]) == []


def _daemon_clients() -> list[str]:
    up = []
    for client, argv in (("docker", [daemons.docker_binary(), "info"]),
                         ("podman", [daemons.podman_binary(), "info"]),
                         ("ctr", [daemons.ctr_binary(), "-n", daemons.NAMESPACE, "images", "ls"])):
        try:
            if subprocess.run(argv, capture_output=True, timeout=30).returncode == 0:
                up.append(client)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return up


def test_daemon_clients_over_runc_and_runsc(tmp_path, rt_env):
    clients = _daemon_clients()
    if not clients:
        pytest.skip("no daemon client answers now (docker info, podman info, ctr)")
    out = tmp_path / "run"
    r = rtlab("collect", "--no-progress", "--experiment", "density", "--containers", "1,3",
              "--clients", ",".join(clients), "--runtimes", "runc,runsc", "--trials", "1",
              "--warmup", "0", "--allow-concurrent", "--out", str(out), env=rt_env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = _density(out)
    measured = {(d["client"], d["runtime"]) for d in rows if d["ok"] == "True"
                and d["method"] == "pss" and int(d["bytes"]) > 0}
    skipped = json.loads((out / "run.json").read_text()).get("unavailable", {})
    for client in clients:
        for rt in ("runc", "runsc"):
            if f"{client}/{rt}" not in skipped:
                assert (client, rt) in measured, (client, rt, rows)
    assert _mine(_token(out)) == []
