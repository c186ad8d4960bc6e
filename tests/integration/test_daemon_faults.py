"""A daemon stops in the middle of a run: rtlab does not restart it, that client's
steps fail fast naming the daemon, its targets are dropped, the others finish;
once the daemon runs again, `rtlab clean` leaves no rtlab container in it.

The daemon is stopped from a hook at a fixed point of the schedule (when the
collector asks for the argv of that client's second ``start``), so the test
does not depend on timing: the container created just before is left behind
in the stopped daemon's state, for ``clean`` to find after the restart.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from rtlab.collect.clients import CLIENTS, CtrTarget, DockerTarget, PodmanTarget  # noqa: F401
from rtlab.collect.collect import CollectOptions, collect
from rtlab.collect.doctor import clean
from rtlab.core.results import load_trials
from rtlab.core.runtimes import KNOWN
from rtlab.core.workload import DEFAULT_IMAGE
from rtlab.host import daemons
from tests.integration.test_clients import client_leftovers, require_daemons

FAST_S = 5.0  # a step against a dead daemon must fail within this
READY_TIMEOUT_S = 60.0


@pytest.fixture(autouse=True)
def _daemons_ready_and_restored():
    require_daemons()
    for name in ("containerd", "dockerd"):
        if daemons.DAEMONS[name].started_pid() is None:
            msg = (
                f"{name} was not started by rtlab setup: this test stops only daemons rtlab started"
            )
            if os.environ.get("CI"):
                pytest.fail(msg)
            pytest.skip(msg)
    yield
    daemons.start_all(lambda _: None)  # whatever happened, leave the daemons running
    _wait_docker_runs()


def _wait_docker_runs() -> None:
    """dockerd reconnects to a restarted containerd with a back-off: wait until it runs a container."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    argv = [DockerTarget.find_binary(), "run", "--rm", "--network", "none", DEFAULT_IMAGE, "true"]
    while True:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if out.returncode == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"docker cannot run a container {READY_TIMEOUT_S:g} s after the restart: "
                f"{out.stderr}"
            )
        time.sleep(0.5)


def _stop_at_second_start(monkeypatch, client: str, daemon: str) -> dict:
    """Stop ``daemon`` when the collector asks for ``client``'s second start."""
    cls = CLIENTS[client]
    original = cls.commands
    seen = {"starts": 0, "stopped_at": None}

    def commands(self, step: str, cid: str):
        if step == "start" and "{" not in cid:
            seen["starts"] += 1
            if seen["starts"] == 2:
                assert daemons.stop_daemon(daemon, say=lambda _: None)
                seen["stopped_at"] = cid
        return original(self, step, cid)

    monkeypatch.setattr(cls, "commands", commands)
    return seen


def _run(tmp_path: Path, pairs: list[tuple[str, str]], trials: int = 3):
    said: list[str] = []
    opts = CollectOptions(
        clients=sorted({c for c, _ in pairs}),
        runtimes=["runc"],
        pairs=pairs,
        trials=trials,
        warmup=0,
        timeout_s=30,
        out=tmp_path / "data",
        progress=False,
    )
    result = collect(opts, say=said.append)
    return result, load_trials(result.run_dir), said


def _assert_failed_fast_naming(df, client: str, after_cid: str, words: tuple[str, ...]) -> None:
    """Every step of ``client`` from the stopped point (the start of ``after_cid``) on
    failed, quickly, naming the daemon."""
    rows = df[df.client == client]
    first_bad = rows.index[(rows.container_id == after_cid) & (rows.step == "start")][0]
    later = rows.loc[first_bad:]
    assert not later.ok.any(), later[["step", "ok", "error"]].to_string()
    ran = later[~later.error.str.startswith("not run")]
    assert not ran.empty
    assert (ran.wall_s < FAST_S).all(), ran[["step", "wall_s"]].to_string()
    for err in ran.error:
        assert any(w in err.lower() for w in words), err


def test_dockerd_stopped_mid_run(tmp_path, monkeypatch):
    seen = _stop_at_second_start(monkeypatch, "docker", "dockerd")
    pairs = [("docker", "runc"), ("ctr", "runc"), ("podman", "runc"), ("oci", "runc")]
    result, df, said = _run(tmp_path, pairs)
    assert seen["stopped_at"], "the hook never fired"
    # rtlab did not restart it
    assert daemons.down_reason("dockerd") and "dockerd is not running" in daemons.down_reason(
        "dockerd"
    )

    _assert_failed_fast_naming(df, "docker", seen["stopped_at"], ("docker daemon", "docker.sock"))
    dropped = result.meta["dropped"]
    assert "dockerd is not running" in dropped["docker/runc"], dropped
    assert set(dropped) == {"docker/runc"}
    assert df[df.client == "docker"].trial.max() == 1  # no trial after the drop
    for label in ("ctr/runc", "podman/runc", "oci/runc"):
        client = label.split("/")[0]
        rows = df[df.client == client]
        assert rows.ok.all() and rows.trial.nunique() == 3, rows[["step", "error"]].to_string()
    assert result.status == "completed"
    assert any("cannot remove" in line and "dockerd is not running" in line for line in said)
    # while it is down, collect refuses docker with the reason
    why = CLIENTS["docker"](KNOWN["runc"], tmp_path).unavailable_reason()
    assert why.startswith("dockerd is not running") and "rtlab setup" in why

    daemons.start_all(lambda _: None)
    leftover = seen["stopped_at"]
    docker = CLIENTS["docker"](KNOWN["runc"], tmp_path)
    assert leftover in docker.list_ids(), "the container made before the stop should still be there"
    removed = clean(list(CLIENTS), [KNOWN["runc"]], say=lambda _: None)
    assert f"docker/runc:{leftover}" in removed
    assert client_leftovers() == []


def test_containerd_stopped_mid_run(tmp_path, monkeypatch):
    seen = _stop_at_second_start(monkeypatch, "ctr", "containerd")
    pairs = [("ctr", "runc"), ("docker", "runc"), ("podman", "runc"), ("oci", "runc")]
    result, df, said = _run(tmp_path, pairs)
    assert seen["stopped_at"], "the hook never fired"
    assert daemons.down_reason("containerd")  # not restarted by rtlab

    _assert_failed_fast_naming(df, "ctr", seen["stopped_at"], ("containerd",))
    dropped = result.meta["dropped"]
    assert "containerd is not running" in dropped["ctr/runc"], dropped
    # dockerd runs on that containerd: docker's targets go too, naming containerd
    assert "containerd is not running" in dropped["docker/runc"], dropped
    docker_bad = df[(df.client == "docker") & ~df.ok & ~df.error.str.startswith("not run")]
    assert not docker_bad.empty and (docker_bad.wall_s < FAST_S).all()
    assert all("containerd" in e for e in docker_bad.error), docker_bad.error.tolist()
    for client in ("podman", "oci"):
        rows = df[df.client == client]
        assert rows.ok.all() and rows.trial.nunique() == 3, rows[["step", "error"]].to_string()
    assert result.status == "completed"

    daemons.start_all(lambda _: None)
    leftover = seen["stopped_at"]
    ctr = CLIENTS["ctr"](KNOWN["runc"], tmp_path)
    assert leftover in ctr.list_ids(), "the container made before the stop should still be there"
    removed = clean(list(CLIENTS), [KNOWN["runc"]], say=lambda _: None)
    assert f"ctr/runc:{leftover}" in removed
    _wait_docker_runs()
    assert client_leftovers() == []
