"""`rtlab collect --clients cri` end to end through the CLI, on a private CRI containerd.

The CRI containerd lives under /tmp (RTLAB_CRI_STATE_DIR/RTLAB_CRI_RUN_DIR), so a
purge of the host's rtlab folders during the test cannot stop it.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import time
from datetime import datetime
from pathlib import Path

import pytest

from rtlab.collect import cri_client
from rtlab.core import experiments
from rtlab.core.runtimes import KNOWN
from rtlab.host import cri
from tests.conftest import rtlab
from tests.integration.conftest import oci_leftovers


@pytest.fixture(scope="module")
def cri_env():
    base = Path(f"/tmp/rtlab-cri-collect-{secrets.token_hex(3)}")
    paths = cri.CriPaths(base / "state", base / "run", base / "state")
    env = {
        **os.environ,
        "RTLAB_CRI_STATE_DIR": str(paths.state),
        "RTLAB_CRI_RUN_DIR": str(paths.run),
    }
    try:
        cri.start([KNOWN["runc"], KNOWN["crun"], KNOWN["runsc"]], paths, say=lambda _: None)
        yield paths, env
    finally:
        cri.purge(paths, say=lambda _: None)
        if base.is_dir():
            base.rmdir()


def test_collect_cri_every_step_ok_in_both_network_modes(cri_env, tmp_path):
    paths, env = cri_env
    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "cri",
        "--runtimes",
        "runc,crun,runsc",
        "--trials",
        "3",
        "--warmup",
        "0",
        "--out",
        str(out),
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    with (out / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    steps = experiments.get("cri").steps
    seen = {(row["runtime"], row["network"]) for row in rows}
    assert seen == {(rt, net) for rt in ("runc", "crun", "runsc") for net in cri.NETWORK_MODES}
    assert len(rows) == 3 * 2 * 3 * len(steps)
    bad = [
        (row["runtime"], row["network"], row["step"], row["error"])
        for row in rows
        if row["ok"] != "true"
    ]
    assert bad == []
    assert {row["experiment"] for row in rows} == {"cri"} and {row["client"] for row in rows} == {
        "cri"
    }
    assert all(float(row["wall_s"]) > 0 for row in rows)
    # each call's wall clock (critest's startTime/endTime): during the run, in call order
    started = [int(row["started_ns"]) for row in rows]
    run_start = json.loads((out / "run.json").read_text())["started_at"]
    assert min(started) >= datetime.fromisoformat(run_start).timestamp() * 1e9 - 1e9
    assert max(started) <= time.time_ns()
    for n in range(0, len(rows), len(steps)):
        assert started[n : n + len(steps)] == sorted(started[n : n + len(steps)])
    r = rtlab("analyze", str(out), "--out", str(tmp_path / "an"), "--figures", "none", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    sets = json.loads((tmp_path / "an" / "cri-benchmark.json").read_text())
    assert sorted(sets) == sorted(
        f"{rt}/{net}" for rt in ("runc", "crun", "runsc") for net in cri.NETWORK_MODES
    )
    for result in sets.values():
        for point in result["datapoints"]:
            assert min(started) <= point["startTime"] < point["endTime"] <= time.time_ns()
    with cri_client.CriClient(paths) as client:
        assert [p.metadata.name for p in client.pods()] == []
    assert cri.host_leftovers(paths) == []
    assert oci_leftovers() == []


def test_collect_refuses_a_bad_network_in_one_line(cri_env, tmp_path):
    _, env = cri_env
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "cri",
        "--runtimes",
        "runc",
        "--networks",
        "bridge",
        "--out",
        str(tmp_path / "x"),
        env=env,
    )
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "\n" not in line and "'bridge'" in line and "host, cni" in line
