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
from pathlib import Path

import pytest

from rtlab.core import image
from rtlab.host import cgroups, cleanup, daemons, host, ledger
from rtlab.host.purge import host_state
from tests.conftest import rtlab

USER_KEY = ("log-level", "info")  # a key of the user's own in daemon.json
# runsc state files: one a dead rtlab run left, one that is not rtlab's
DEAD_RUNSC = "rtlab-20200101T000000Z-dead-00001l_sandbox:rtlab-20200101T000000Z-dead-00001l.lock"
USER_RUNSC = "user-0000_sandbox:user-0000.lock"


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
    (root / "config.toml").write_text(
        'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
    )
    sock = root / "c.sock"
    log = (root / "log").open("w")
    proc = subprocess.Popen(
        [
            "containerd",
            "--config",
            str(root / "config.toml"),
            "--address",
            str(sock),
            "--root",
            str(root / "root"),
            "--state",
            str(root / "state"),
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
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
        out = subprocess.run(
            ["runc", "create", "--bundle", str(bundle), cid],
            stdout=f,
            stderr=f,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    assert out.returncode == 0, err.read_text()
    try:
        yield cid
    finally:
        subprocess.run(["runc", "delete", "--force", cid], capture_output=True, timeout=60)


def _runc_ids() -> list[str]:
    out = subprocess.run(["runc", "list", "-q"], capture_output=True, text=True, timeout=30)
    return out.stdout.split()


@pytest.fixture
def bindings_before():
    """Where each controller is bound on a purged host, before the other fixtures'
    containers sit in a hierarchy. Set-up gives a controller bound to a hidden
    hierarchy (what an older purge left) back to v2 first, so that is its "before"."""
    said = _purge()  # from what setup alone makes (earlier tests may have registered more runtimes)
    assert "left mounted" not in said, (
        f"a container not of this test holds a cgroup rtlab mounted: run on an idle host\n{said}"
    )
    return {
        c: (cgroups.V2 if b == cgroups.HIDDEN else b)
        for c, b in host_state()["cgroup_bindings"].items()
    }


@pytest.fixture
def ready(bindings_before):
    """The host as set-up alone makes it (before the user's container is created, so
    that container sits in the cgroup hierarchies set-up mounted)."""
    _setup()
    return host_state()


def test_setup_purge_setup_leaves_and_restores_the_named_state(
    bindings_before, ready, foreign_containerd, foreign_container
):
    proc, sock = foreign_containerd
    before = bindings_before
    assert cgroups.HIDDEN not in ready["cgroup_bindings"].values(), ready["cgroup_bindings"]
    for mount in ready["cgroup_mounts"]:
        assert ready["cgroup_bindings"][Path(mount).name] == f"v1 at {mount}"
        assert ledger.mapping(host.CGROUP_BINDINGS)[Path(mount).name] == before[Path(mount).name]
    assert ready["daemons"] == {
        "containerd": {"running": True, "started_by_rtlab": True},
        "dockerd": {"running": True, "started_by_rtlab": True},
    }, "run the suite on a host where rtlab starts the daemons (make purge first)"
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
        _purge_and_set_up_again(ready, before, proc, sock, foreign_container)
    finally:
        # leave daemon.json, and its ledger entry, as setup alone would have them
        if daemons.DOCKER_CONFIG.exists():
            config = json.loads(daemons.DOCKER_CONFIG.read_text())
            config.pop(USER_KEY[0], None)
            daemons.DOCKER_CONFIG.write_text(json.dumps(config, indent=2) + "\n")
        if ledger.LEDGER.exists():
            ledger.flag(daemons.DOCKER_CONFIG_CREATED, created)


def _purge_and_set_up_again(ready, before, proc, sock, foreign_container):
    runsc_root = cleanup.RUNSC_ROOTS[0]
    runsc_root.mkdir(parents=True, exist_ok=True)
    for name in (DEAD_RUNSC, USER_RUNSC):
        (runsc_root / name).touch()
    try:
        said = _purge()
        assert not (runsc_root / DEAD_RUNSC).exists(), "purge left a dead run's runsc state file"
        assert (runsc_root / USER_RUNSC).exists(), "purge removed a runsc file that is not rtlab's"
        assert cleanup.runsc_state_files(cleanup.CONTAINER_PREFIX) == [], said
    finally:
        (runsc_root / USER_RUNSC).unlink(missing_ok=True)
    _check_purged_then_set_up(said, ready, before, proc, sock, foreign_container)


def _check_purged_then_set_up(said, ready, before, proc, sock, foreign_container):
    gone = host_state()
    assert gone["daemons"] == {
        "containerd": {"running": False, "started_by_rtlab": False},
        "dockerd": {"running": False, "started_by_rtlab": False},
    }, said
    assert gone["images"] == {"docker": None, "containerd": None, "podman": False}, said
    assert gone["daemon_json"] == {USER_KEY[0]: USER_KEY[1]}, said
    assert gone["shims"] == [], said
    for line in ("stopped (pid", "removed image", "removed runtimes", "removed /var/log/rtlab"):
        assert line in said
    assert proc.poll() is None and daemons.socket_answers(sock), (
        "purge stopped a daemon not rtlab's"
    )
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
    # the kernel's view too: each controller bound where it was before set-up (a hierarchy
    # unmounted with cgroups left in it stays bound, mounted nowhere)
    assert gone["cgroup_bindings"] == before, said

    assert "nothing of rtlab's is left" in _purge()
    assert host_state() == gone

    said = _setup()
    for store in ("into docker", "into containerd namespace 'rtlab'", "into podman"):
        assert store in said, f"the image was not re-imported {store}: purge left it there?"
    assert "created the log folder" in said and "created the pid folder" in said
    again = host_state()
    assert again["daemon_json"].pop(USER_KEY[0]) == USER_KEY[1]
    assert again == ready


def test_setup_gives_back_a_controller_bound_to_a_hidden_hierarchy(tmp_path):
    """The state an older purge left: a v1 hierarchy unmounted with a cgroup left in it."""
    _purge()
    if host.cgroup_mode() != "hybrid" or not host.unified_controllers():
        _setup()
        pytest.skip("needs a hybrid host whose v2 hierarchy holds a controller")
    controller = host.unified_controllers()[0]
    point = tmp_path / "hierarchy"
    point.mkdir()
    subprocess.run(["mount", "-t", "cgroup", "-o", controller, "cgroup", str(point)], check=True)
    (point / "left-behind").mkdir()
    subprocess.run(["umount", str(point)], check=True)
    assert cgroups.bindings()[controller] == cgroups.HIDDEN
    assert controller not in host.unified_controllers()

    said = _setup()
    assert f"gave {controller} back to cgroup v2" in said, said
    assert cgroups.bindings()[controller] == f"v1 at {host.CGROUP_ROOT / controller}", said
    assert ledger.mapping(host.CGROUP_BINDINGS)[controller] == cgroups.V2

    said = _purge()
    assert f"{controller} is bound to v2 again, as before set-up" in said, said
    assert cgroups.bindings()[controller] == cgroups.V2
    assert controller in host.unified_controllers()
    _setup()
