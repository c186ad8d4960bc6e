"""setup → purge → purge → setup on the real host: each state compared by name.

The first-run path: what `rtlab setup` makes from nothing, `rtlab setup --purge`
removes, and a second setup makes again. A daemon and a container that are not
rtlab's, and a key the user put in daemon.json, survive the purge.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time

import pytest

from rtlab import daemons, image, ledger
from rtlab.purge import host_state
from tests.conftest import rtlab

USER_KEY = ("log-level", "info")  # a key of the user's own in daemon.json


def _setup() -> str:
    out = rtlab("setup", timeout=600)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def _purge() -> str:
    out = rtlab("setup", "--purge", timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


@pytest.fixture
def foreign_containerd(tmp_path):
    """A containerd rtlab did not start, on its own socket and root."""
    root = tmp_path / "containerd"
    root.mkdir()
    (root / "config.toml").write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
    sock = root / "c.sock"
    log = (root / "log").open("w")
    proc = subprocess.Popen(["containerd", "--config", str(root / "config.toml"), "--address", str(sock),
                             "--root", str(root / "root"), "--state", str(root / "state")],
                            stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 30
    while not daemons.socket_answers(sock) and time.monotonic() < deadline:
        assert proc.poll() is None, (root / "log").read_text()
        time.sleep(0.1)
    assert daemons.socket_answers(sock)
    yield proc, sock
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture
def foreign_container(tmp_path):
    """A runc container that is not rtlab's (no rtlab- prefix)."""
    bundle = image.write_bundle(tmp_path / "bundle", ["sleep", "600"], image.build_rootfs())
    cid = f"user-{secrets.token_hex(3)}"
    # files, not pipes: the container's init keeps the creator's stdout/stderr
    err = tmp_path / "runc-create.err"
    with err.open("w") as f:
        out = subprocess.run(["runc", "create", "--bundle", str(bundle), cid], stdout=f, stderr=f,
                             timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, err.read_text()
    try:
        yield cid
    finally:
        subprocess.run(["runc", "delete", "--force", cid], capture_output=True, timeout=60)


def _runc_ids() -> list[str]:
    out = subprocess.run(["runc", "list", "-q"], capture_output=True, text=True, timeout=30)
    return out.stdout.split()


def test_setup_purge_setup_leaves_and_restores_the_named_state(foreign_containerd, foreign_container):
    proc, sock = foreign_containerd
    _purge()  # from what setup alone makes (earlier tests may have registered more runtimes)
    _setup()
    ready = host_state()
    assert ready["daemons"] == {"containerd": {"running": True, "started_by_rtlab": True},
                                "dockerd": {"running": True, "started_by_rtlab": True}}, \
        "run the suite on a host where rtlab starts the daemons (make purge first)"
    assert ready["images"] == {"docker": True, "containerd": True, "podman": True}
    ready["daemon_json"].pop(USER_KEY[0], None)  # an earlier failed run of this test left it
    assert set(ready["daemon_json"]["runtimes"]) >= {"crun", "runsc"}
    assert ready["shims"] and all(ready["folders"].values())
    assert all(ready["cgroup_mounts"].values())
    created = bool(ledger.read().get(daemons.DOCKER_CONFIG_CREATED))

    # the user's own key in daemon.json must outlive the purge
    config = json.loads(daemons.DOCKER_CONFIG.read_text())
    config[USER_KEY[0]] = USER_KEY[1]
    daemons.DOCKER_CONFIG.write_text(json.dumps(config))
    try:
        _purge_and_set_up_again(ready, proc, sock, foreign_container)
    finally:
        # leave daemon.json, and its ledger entry, as setup alone would have them
        if daemons.DOCKER_CONFIG.exists():
            config = json.loads(daemons.DOCKER_CONFIG.read_text())
            config.pop(USER_KEY[0], None)
            daemons.DOCKER_CONFIG.write_text(json.dumps(config, indent=2) + "\n")
        if ledger.LEDGER.exists():
            ledger.flag(daemons.DOCKER_CONFIG_CREATED, created)


def _purge_and_set_up_again(ready, proc, sock, foreign_container):

    said = _purge()
    gone = host_state()
    assert gone["daemons"] == {"containerd": {"running": False, "started_by_rtlab": False},
                               "dockerd": {"running": False, "started_by_rtlab": False}}, said
    assert gone["images"] == {"docker": None, "containerd": None, "podman": False}, said
    assert gone["daemon_json"] == {USER_KEY[0]: USER_KEY[1]}, said
    assert gone["shims"] == [], said
    for line in ("stopped (pid", "removed image", "removed runtimes", "removed /var/log/rtlab"):
        assert line in said
    assert proc.poll() is None and daemons.socket_answers(sock), "purge stopped a daemon not rtlab's"
    assert foreign_container in _runc_ids(), "purge removed a container not rtlab's"
    # the user's container sits in the cgroup hierarchy rtlab mounted: in use, so left
    # mounted, and the ledger alone is kept for the next purge
    if ready["cgroup_mounts"]:
        assert all(gone["cgroup_mounts"].values()) and "left mounted" in said, said
        assert [p for p, exists in gone["folders"].items() if exists] == [str(ledger.LEDGER.parent)]
        assert sorted(p.name for p in ledger.LEDGER.parent.iterdir()) == [ledger.LEDGER.name]

    subprocess.run(["runc", "delete", "--force", foreign_container], check=True, timeout=60)
    said = _purge()
    gone = host_state()
    assert not any(gone["cgroup_mounts"].values()) and not any(gone["folders"].values()), said

    assert "nothing of rtlab's is left" in _purge()
    assert host_state() == gone

    said = _setup()
    for store in ("into docker", "into containerd namespace 'rtlab'", "into podman"):
        assert store in said, f"the image was not re-imported {store}: purge left it there?"
    assert "created the log folder" in said and "created the pid folder" in said
    again = host_state()
    assert again["daemon_json"].pop(USER_KEY[0]) == USER_KEY[1]
    assert again == ready

