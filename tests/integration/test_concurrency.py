"""Starts under load (issue 21) on the real runtimes: the concurrency experiment through the
OCI client on runc and crun, and through docker, podman and ctr when their daemons answer;
Ctrl-C in a k=16 batch; no leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rtlab.analysis import concurrency_stats
from rtlab.core.results import load_trials
from rtlab.host import cleanup
from tests.conftest import REPO, SETUP_DONE, rtlab
from tests.integration.conftest import oci_leftovers


def _check_rows(df, ks, trials, runtimes):
    bad = df[~df.ok]
    assert bad.empty, bad[["client", "runtime", "k", "step", "error"]].to_string()
    m = df[~df.warmup]
    assert set(m.runtime) == set(runtimes)
    for (client, rt, k), rows in m.groupby(["client", "runtime", "k"]):
        # per trial: k runs (one batch), k creates and k starts (another batch)
        counts = rows.groupby("step").size().to_dict()
        assert counts == {"run": k * trials, "create": k * trials, "start": k * trials}, (
            client,
            rt,
            k,
            counts,
        )
        for _, batch in rows.groupby("batch"):
            assert sorted(batch.groupby("step").instance.apply(sorted).iloc[0]) == list(range(k))
            assert batch.container_id.nunique() == k
        assert (rows.offset_s >= 0).all() and (rows.offset_s <= rows.wall_s).all()
    assert set(m.k.dropna().astype(int)) == set(ks)
    assert not df.step.isin(["kill", "delete"]).any()  # the teardown is untimed


def test_oci_runc_and_crun_collect_rows_per_container_and_leave_nothing(tmp_path, rt_env):
    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--experiment",
        "concurrency",
        "--clients",
        "oci",
        "--runtimes",
        "runc,crun",
        "--parallel",
        "1,2,4",
        "--trials",
        "2",
        "--warmup",
        "1",
        "--out",
        str(out),
        env=rt_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    _check_rows(df, {1, 2, 4}, 2, {"runc", "crun"})
    meta = json.loads((out / "run.json").read_text())
    assert meta["format_version"] == 3 and meta["parameters"]["parallel"] == [1, 2, 4]
    assert meta["status"] == "completed" and meta["parameters"]["experiment"] == "concurrency"
    summary = concurrency_stats.summarize(df, n_boot=50)
    assert set(summary["mode"]) == {"run", "up"} and (summary["failed"] == 0).all()
    assert (summary["p50_s"] > 0).all() and (summary["throughput_per_s"] > 0).all()
    assert oci_leftovers() == []


def _answers(argv) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


DAEMON_CLIENTS = {
    "docker": ["docker", "info"],
    "podman": ["podman", "version"],
    "ctr": ["ctr", "--address", "/run/containerd/containerd.sock", "version"],
}


@pytest.mark.parametrize("client", sorted(DAEMON_CLIENTS))
def test_daemon_clients_when_they_answer(client, tmp_path, rt_env):
    if not _answers(DAEMON_CLIENTS[client]):  # set-up starts each: make test fails without
        (pytest.fail if SETUP_DONE else pytest.skip)(f"{client} does not answer here right now")
    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--experiment",
        "concurrency",
        "--clients",
        client,
        "--runtimes",
        "runc",
        "--parallel",
        "1,3",
        "--trials",
        "1",
        "--warmup",
        "0",
        "--out",
        str(out),
        env=rt_env,
    )
    if r.returncode == 2 and "nothing to measure" in r.stderr:  # e.g. set-up not done now
        (pytest.fail if SETUP_DONE else pytest.skip)(
            f"{client}/runc cannot run here now: {r.stderr.strip()[-300:]}"
        )
    assert r.returncode == 0, r.stdout + r.stderr
    _check_rows(load_trials(out), {1, 3}, 1, {"runc"})
    meta = json.loads((out / "run.json").read_text())
    assert meta["cleanup"].get("removed", []) == [], meta["cleanup"]
    token = meta["token"]
    listing = {
        "docker": ["docker", "ps", "-a", "--format", "{{.Names}}"],
        "podman": ["podman", "ps", "-a", "--format", "{{.Names}}"],
        "ctr": [
            "ctr",
            "--address",
            "/run/containerd/containerd.sock",
            "-n",
            "rtlab",
            "containers",
            "list",
            "-q",
        ],
    }[client]
    left = subprocess.run(listing, capture_output=True, text=True, timeout=30).stdout
    assert token not in left
    assert oci_leftovers() == []


def test_ctrl_c_in_a_k16_batch_leaves_nothing_and_keeps_the_rows(tmp_path, rt_env):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtlab",
            "collect",
            "--no-progress",
            "--experiment",
            "concurrency",
            "--clients",
            "oci",
            "--runtimes",
            "runc",
            "--parallel",
            "16",
            "--trials",
            "50",
            "--warmup",
            "0",
            "--pace",
            "0",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=rt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    trials = out / "trials.csv"
    deadline = time.monotonic() + 120
    # wait for a written batch, then interrupt while the next batches run
    while time.monotonic() < deadline and (
        not trials.exists() or trials.read_text().count("\n") < 1 + 16
    ):
        time.sleep(0.05)
    time.sleep(0.3)
    written_before = trials.read_text().count("\n")
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, output
    df = load_trials(out)
    assert len(df) >= written_before - 1 > 16  # every row already written is kept
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted", output
    assert oci_leftovers() == [], output
    assert not any(str(meta["token"]) in p for p in _processes()), output
    # a `runc run` killed before its container existed leaves a state folder runc cannot list
    half = [
        str(p)
        for root in cleanup.OCI_STATE_ROOTS
        if root.exists()
        for p in root.iterdir()
        if p.name.startswith(f"rtlab-{meta['token']}-")
    ]
    assert half == [], output


def _processes() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    found.append(f.read().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
    return found
