"""The CRI through rtlab's own containerd: real containerd, real runtimes, real CNI.

Each test module instance runs a private CRI containerd (state and socket under
/tmp, not rtlab's folders) so a concurrent purge of the host's rtlab folders
cannot stop it mid-test; the product uses the same code with rtlab's folders.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import pytest

from rtlab.collect import cri_client
from rtlab.core.runtimes import KNOWN
from rtlab.host import cri

FAST_S = 5.0


def _paths(tag: str) -> cri.CriPaths:
    base = Path(f"/tmp/rtlab-cri-test-{tag}-{secrets.token_hex(3)}")
    return cri.CriPaths(base / "state", base / "run", base / "state")


def _netns() -> set[str]:
    d = Path("/run/netns")
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


@pytest.fixture(scope="module")
def instance():
    paths = _paths("m")
    before = _netns()
    try:
        cri.start([KNOWN["runc"], KNOWN["crun"], KNOWN["runsc"]], paths, say=lambda _: None)
        yield paths
    finally:
        cri.purge(paths, say=lambda _: None)
        base = paths.state.parent
        if base.is_dir():
            base.rmdir()
    assert _netns() - before == set()


def _leftovers(client: cri_client.CriClient, paths: cri.CriPaths, token: str) -> list[str]:
    pods = [p.metadata.name for p in client.pods(f"rtlab-{token}-")]
    return pods + cri.host_leftovers(paths)


@pytest.mark.parametrize("network", cri.NETWORK_MODES)
@pytest.mark.parametrize("handler", ["runc", "crun", "runsc"])
def test_pod_lifecycle(instance, handler, network):
    token = f"20261129T000000Z-{secrets.token_hex(2)}"
    netns_before = _netns()
    with cri_client.CriClient(instance) as client:
        cri_client.check_request(handler, network, client)
        results = cri_client.pod_lifecycle(
            client, cri_client.PodSpec(token, 1, handler, network), timeout_s=30
        )
        assert [r.step for r in results] == list(cri_client.STEPS)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        assert all(r.wall_ns and r.wall_ns > 0 for r in results)
        assert _leftovers(client, instance, token) == []
    assert _netns() == netns_before


def test_unknown_handler_is_refused_before_anything_runs(instance):
    with cri_client.CriClient(instance) as client:
        before = len(client.pods())
        with pytest.raises(cri.CriError) as exc:
            cri_client.check_request("nosuch", "host", client)
        line = str(exc.value)
        assert "\n" not in line and "'nosuch'" in line and "runc" in line
        with pytest.raises(cri.CriError, match="unknown CRI network"):
            cri_client.check_request("runc", "bogus", client)
        assert len(client.pods()) == before
    with pytest.raises(cri.CriError, match="unknown CRI runtime handler 'nosuch'"):
        cri.check_handlers(["runc", "nosuch"], instance)


def test_containerd_killed_mid_run_fails_fast_and_clean_removes_the_pod():
    """containerd SIGKILLed just before `start`: the step fails within seconds naming
    containerd, all seven rows are kept, and once it runs again clean removes the pod."""
    paths = _paths("k")
    token = f"20261129T000000Z-{secrets.token_hex(2)}"
    try:
        cri.start([KNOWN["runc"]], paths, say=lambda _: None)

        def kill_before_start(step: str) -> None:
            if step == "start":
                pid = cri.daemon(paths).started_pid()
                os.kill(pid, signal.SIGKILL)
                while cri.daemon(paths).started_pid() is not None:
                    time.sleep(0.01)

        with cri_client.CriClient(paths) as client:
            t0 = time.monotonic()
            results = cri_client.pod_lifecycle(
                client,
                cri_client.PodSpec(token, 1, "runc", "host"),
                timeout_s=30,
                before_step=kill_before_start,
            )
            assert time.monotonic() - t0 < FAST_S
        assert [r.step for r in results] == list(cri_client.STEPS)
        assert [r.ok for r in results[:2]] == [True, True]
        assert "containerd" in results[2].error and not results[2].ok
        assert all(r.error == "not run: containerd is gone" for r in results[3:])
        deadline = time.monotonic() + 5  # the socket may take a moment to stop answering
        while cri.down_reason(paths) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cri.down_reason(paths) and "containerd" in cri.down_reason(paths)
        cri.start([KNOWN["runc"]], paths, say=lambda _: None)
        removed = cri.clean(paths=paths, say=lambda _: None)
        assert removed == [f"cri pod rtlab-{token}-00001s"]
        with cri_client.CriClient(paths) as client:
            assert _leftovers(client, paths, token) == []
    finally:
        if cri.down_reason(paths) and paths.config.exists():
            # a failure above left the pod with no containerd to remove it: start it again
            cri.start([KNOWN["runc"]], paths, say=lambda _: None)
        cri.purge(paths, say=lambda _: None)
        if paths.state.parent.is_dir():
            paths.state.parent.rmdir()
