"""A CRI run beside a containerd the user started (issue 20, item 4).

The user's containerd (its CRI plugin on, as a user's is) runs on a private
socket, root and state under the test's folder, with a namespace and a label of
the user's own. rtlab's CRI runs on its own containerd (a private one here:
RTLAB_CRI_STATE_DIR/RTLAB_CRI_RUN_DIR), then `rtlab clean`; the user's daemon
must be the same process, its config byte for byte and modification time, its
namespaces, their labels, containers and images as before, and no `rtlab`
namespace or image in it.
"""

from __future__ import annotations

import csv
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from rtlab.collect import cri_client
from rtlab.core import experiments, procfs
from rtlab.core.runtimes import KNOWN
from rtlab.host import cri, daemons
from tests.conftest import rtlab
from tests.integration.conftest import oci_leftovers

USER_CONFIG = (
    "version = 2\n"
    "# the user's own containerd: rtlab must not touch it\n"
    '[plugins."io.containerd.grpc.v1.cri"]\n'
    '  stream_server_port = "0"\n'
)


def _ctr(sock: Path, *args: str) -> str:
    out = subprocess.run(
        ["ctr", "--address", str(sock), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, f"ctr {args}: {out.stderr}"
    return out.stdout


def _state(sock: Path) -> dict:
    names = [line.split()[0] for line in _ctr(sock, "namespaces", "ls").splitlines()[1:]]
    return {
        "namespaces": _ctr(sock, "namespaces", "ls"),
        **{f"{ns} containers": _ctr(sock, "-n", ns, "containers", "ls") for ns in names},
        **{f"{ns} images": _ctr(sock, "-n", ns, "images", "ls", "-q") for ns in names},
    }


@pytest.fixture
def user_containerd(tmp_path):
    """A containerd rtlab did not start, CRI plugin on, with a namespace of the user's."""
    root = tmp_path / "user-containerd"
    root.mkdir()
    config = root / "config.toml"
    config.write_text(USER_CONFIG)
    sock = root / "c.sock"
    log = (root / "log").open("w")
    proc = subprocess.Popen(
        [
            "containerd",
            "--config",
            str(config),
            "--address",
            str(sock),
            "--root",
            str(root / "root"),
            "--state",
            str(root / "state"),
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not daemons.socket_answers(sock) and time.monotonic() < deadline:
            assert proc.poll() is None, (root / "log").read_text()
            time.sleep(0.1)
        assert daemons.socket_answers(sock)
        _ctr(sock, "namespaces", "create", "user-ns", "owner=the-user")
        _ctr(sock, "-n", "user-ns", "containers", "ls")
        yield proc, sock, config
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def rtlab_cri():
    base = Path(f"/tmp/rtlab-cri-foreign-{secrets.token_hex(3)}")
    paths = cri.CriPaths(base / "state", base / "run", base / "state")
    env = {
        **os.environ,
        "RTLAB_CRI_STATE_DIR": str(paths.state),
        "RTLAB_CRI_RUN_DIR": str(paths.run),
    }
    try:
        cri.start([KNOWN["runc"]], paths, say=lambda _: None)
        yield paths, env
    finally:
        cri.purge(paths, say=lambda _: None)
        if base.is_dir():
            base.rmdir()


def test_cri_run_leaves_the_users_containerd_untouched(user_containerd, rtlab_cri, tmp_path):
    proc, sock, config = user_containerd
    paths, env = rtlab_cri
    env = {**env, "RTLAB_RUNTIME_DIR": str(tmp_path / "runtime")}
    assert paths.socket != sock
    started = procfs.start_time(proc.pid)
    before_config = (config.read_bytes(), config.stat().st_mtime_ns)
    before = _state(sock)
    assert "user-ns" in before["namespaces"] and "owner=the-user" in before["namespaces"]

    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "cri",
        "--runtimes",
        "runc",
        "--trials",
        "2",
        "--warmup",
        "0",
        "--out",
        str(out),
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    with (out / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(cri.NETWORK_MODES) * len(experiments.get("cri").steps)
    assert [row["error"] for row in rows if row["ok"] != "true"] == []
    r = rtlab("clean", env=env)
    assert r.returncode == 0, r.stdout + r.stderr

    # the user's daemon: same process, same config, same namespaces and their contents
    assert proc.poll() is None and procfs.start_time(proc.pid) == started
    assert daemons.socket_answers(sock)
    assert (config.read_bytes(), config.stat().st_mtime_ns) == before_config
    after = _state(sock)
    assert after == before
    assert "rtlab" not in after["namespaces"].replace("user-ns", "")
    # rtlab's own: nothing left in its CRI, its network or the runtimes
    with cri_client.CriClient(paths) as client:
        assert [p.metadata.name for p in client.pods()] == []
    assert cri.host_leftovers(paths) == []
    assert oci_leftovers() == []
