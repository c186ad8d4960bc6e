"""The high-level clients (docker, ctr, podman) over runc, crun and runsc, on real daemons.

`make setup` (rtlab setup) starts containerd and dockerd and imports the image;
these tests fail — never skip — when that was not done.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from rtlab.collect.clients import CLIENTS, CtrTarget, DockerTarget, PodmanTarget  # noqa: F401
from rtlab.collect.doctor import clean, doctor
from rtlab.collect.studies import DAEMON_CLIENTS  # the registry's high-level clients
from rtlab.core import image
from rtlab.core.results import load_trials
from rtlab.core.runtimes import KNOWN
from rtlab.core.workload import DEFAULT_IMAGE
from rtlab.host import cleanup, daemons
from tests.conftest import rtlab
from tests.integration.conftest import oci_leftovers

# the daemon clients that run any experiment (docker, ctr, podman); the CRI runs its own
# pod experiment and has its own tests (test_cri.py, test_cri_collect.py)
CONTAINER_CLIENTS = tuple(c for c in DAEMON_CLIENTS if CLIENTS[c].experiment is None)

RUNTIMES = ("runc", "crun", "runsc")


def require_daemons() -> None:
    """Fail (not skip) when rtlab setup has not prepared the daemons and images."""
    problems = [
        why for why in (daemons.down_reason("containerd"), daemons.down_reason("dockerd")) if why
    ]
    for client in CONTAINER_CLIENTS:
        why = CLIENTS[client](KNOWN["runc"], Path("/nonexistent")).unavailable_reason()
        if why:
            problems.append(f"{client}: {why}")
    if problems:
        pytest.fail(
            "the daemon clients are not ready (run `make setup` or `rtlab setup`): "
            + "; ".join(problems)
        )


@pytest.fixture(autouse=True)
def _daemons_ready():
    require_daemons()


def _names(argv: list[str]) -> list[str]:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"{argv}: {out.stderr}"
    return [n for n in out.stdout.split() if n.startswith(cleanup.CONTAINER_PREFIX)]


def client_leftovers(token: str = "") -> list[str]:
    """rtlab containers in docker, containerd's rtlab namespace, podman, and in the
    runtime state folders of containerd's rtlab namespace (ids are rtlab names there).

    ``token`` narrows to one run; runs alive right now are not leftovers.
    """
    prefix = f"{cleanup.CONTAINER_PREFIX}{token}"
    docker, ctr, podman = (
        DockerTarget.find_binary(),
        CtrTarget.find_binary(),
        PodmanTarget.find_binary(),
    )
    found = []
    found += [f"docker: {n}" for n in _names([docker, "ps", "-a", "--format", "{{.Names}}"])]
    found += [
        f"docker (label): {n}"
        for n in _names(
            [docker, "ps", "-a", "--filter", "label=rtlab.run", "--format", "{{.Names}}"]
        )
    ]
    found += [f"ctr: {n}" for n in _names([ctr, "-n", daemons.NAMESPACE, "containers", "ls", "-q"])]
    found += [f"ctr task: {n}" for n in _names([ctr, "-n", daemons.NAMESPACE, "tasks", "ls", "-q"])]
    found += [f"podman: {n}" for n in _names([podman, "ps", "-a", "--format", "{{.Names}}"])]
    root = f"/run/containerd/runc/{daemons.NAMESPACE}"
    for rt in RUNTIMES:
        if Path(root).is_dir():
            found += [
                f"{rt} --root {root}: {n}" for n in _names([rt, "--root", root, "list", "--quiet"])
            ]
    found += [f"oci: {x}" for x in oci_leftovers()]
    live = cleanup.live_runs()
    return [f for f in found if prefix in f and not any(f"rtlab-{t}-" in f for t in live)]


def _collect(
    tmp_path: Path, env, *args: str, name: str = "data"
) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / name
    r = rtlab("collect", "--no-progress", "--out", str(out), *args, env=env)
    return r, out


# -- every client over every runtime ------------------------------------------------


def _runtime_ids() -> set[str]:
    """Every id in runc's and crun's default state roots (podman's containers live there)."""
    ids = set()
    for rt in ("runc", "crun"):
        out = subprocess.run([rt, "list", "--quiet"], capture_output=True, text=True, timeout=30)
        ids |= set(out.stdout.split())
    return ids


def test_docker_ctr_podman_over_runc_crun_runsc(tmp_path, rt_env):
    before = _runtime_ids()
    r, out = _collect(
        tmp_path,
        rt_env,
        "--clients",
        ",".join(CONTAINER_CLIENTS),
        "--runtimes",
        ",".join(RUNTIMES),
        "--trials",
        "2",
        "--warmup",
        "0",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    bad = df[~df.ok]
    assert bad.empty, bad[["client", "runtime", "step", "error"]].to_string()
    counts = df.groupby(["client", "runtime", "step"]).size()
    assert len(counts) == 3 * 3 * 5 and (counts == 2).all(), counts
    assert (df.wall_s > 0).all()
    for client in CONTAINER_CLIENTS:
        for rt in RUNTIMES:
            assert f"{client}/{rt}: 2/2 trials ok" in r.stdout
    # podman's containers carry its full ids in the runtimes' own state: none may stay
    assert _runtime_ids() - before == set()

    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "completed"
    versions = meta["versions"]
    for key in ("docker", "dockerd", "containerd", "ctr", "podman", "conmon", *RUNTIMES):
        assert versions.get(key), f"no version for {key}: {versions}"
    targets = {t["label"]: t for t in meta["targets"]}
    docker_cfg = targets["docker/runsc"]["config"]
    assert docker_cfg["client_binary"] == DockerTarget.find_binary()
    assert {"runc", "crun", "runsc"} <= set(docker_cfg["daemon"]["Runtimes"])
    assert docker_cfg["daemon"]["Driver"] and docker_cfg["daemon"]["CgroupDriver"]
    assert docker_cfg["runtime_registration"]["runtimeArgs"] == ["--network=none"]
    assert targets["ctr/crun"]["config"]["shim"]["runtime"] == "io.containerd.rtlab-crun.v2"
    assert targets["ctr/runc"]["config"]["shim"]["runtime"] == "io.containerd.runc.v2"
    podman_cfg = targets["podman/runsc"]["config"]
    assert podman_cfg["cgroup_manager"] and podman_cfg["storage_driver"]
    # every container carries the run token: in its name and as a label
    token = meta["token"]
    assert df.container_id.str.startswith(f"rtlab-{token}-").all()
    for label in ("docker/runc", "ctr/runc", "podman/runc"):
        create = " ".join(targets[label]["argv"]["create"][0])
        assert "--label rtlab.run={token}" in create and "{id}" in create
    # no network anywhere, the runtime's flags where it needs them
    assert "--network none" in " ".join(targets["docker/runc"]["argv"]["run"][0])
    assert "--runtime-flag network=none" in " ".join(targets["podman/runsc"]["argv"]["start"][0])
    assert client_leftovers() == []


@pytest.mark.parametrize("runtime", ["crun", "runsc"])
def test_ctr_steps_run_the_named_runtime_not_runc(tmp_path, runtime):
    """The shim wrapper route: the container ctr starts is in crun's/runsc's state, not runc's."""
    token = "20260101T000000Z-c7c7"
    cid = f"rtlab-{token}-00001l"
    target = CLIENTS["ctr"](KNOWN[runtime], tmp_path, timeout_s=30)
    assert target.unavailable_reason() is None
    target.prepare()
    root = f"/run/containerd/runc/{daemons.NAMESPACE}"
    try:
        for step in ("create", "start"):
            for argv in target.commands(step, cid):
                out = subprocess.run(
                    argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
                )
                assert out.returncode == 0, f"{argv}: {out.stderr}"
        binary = KNOWN[runtime].path()
        listed = subprocess.run(
            [binary, "--root", root, "list", "--quiet"], capture_output=True, text=True, timeout=30
        )
        assert cid in listed.stdout.split(), listed.stdout + listed.stderr
        by_runc = subprocess.run(
            ["runc", "--root", root, "list", "--quiet"], capture_output=True, text=True, timeout=30
        )
        assert cid not in by_runc.stdout.split()
    finally:
        assert target.remove(cid) == []
        cleanup.sweep(cid)
    assert client_leftovers(token) == []


def test_docker_and_podman_record_the_runtime_they_ran(tmp_path):
    token = "20260101T000000Z-d0d0"
    for n, client in enumerate(("docker", "podman")):
        cid = f"rtlab-{token}-0000{n}l"
        target = CLIENTS[client](KNOWN["crun"], tmp_path, timeout_s=30)
        try:
            for argv in target.commands("create", cid):
                out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                assert out.returncode == 0, f"{argv}: {out.stderr}"
            fmt = "{{.HostConfig.Runtime}}" if client == "docker" else "{{.OCIRuntime}}"
            got = subprocess.run(
                [target.binary, "inspect", "--format", fmt, cid],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
            assert got in ("crun", KNOWN["crun"].path()), got
            labels = subprocess.run(
                [target.binary, "inspect", "--format", '{{index .Config.Labels "rtlab.run"}}', cid],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
            assert labels == token
        finally:
            assert target.remove(cid) == []
    assert client_leftovers(token) == []


# -- studies and workloads -----------------------------------------------------------------


def test_study_clients_is_every_client_over_runc(tmp_path, rt_env):
    r, out = _collect(tmp_path, rt_env, "--study", "clients", "--trials", "1", "--warmup", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    assert df.ok.all(), df[~df.ok][["client", "runtime", "step", "error"]].to_string()
    # every registered client over runc: the CRI (its pod experiment) beside the others
    assert set(zip(df.client, df.runtime)) == {
        ("docker", "runc"),
        ("ctr", "runc"),
        ("podman", "runc"),
        ("oci", "runc"),
        ("cri", "runc"),
    }
    meta = json.loads((out / "run.json").read_text())
    assert meta["parameters"]["study"] == "clients"
    assert sorted(map(tuple, meta["parameters"]["pairs"])) == sorted(
        set(zip(df.client, df.runtime))
    )
    assert client_leftovers() == []


def test_study_lowlevel_is_docker_over_every_runtime_the_host_has(tmp_path, rt_env):
    r, out = _collect(tmp_path, rt_env, "--study", "lowlevel", "--trials", "1", "--warmup", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    assert df.ok.all(), df[~df.ok][["client", "runtime", "step", "error"]].to_string()
    assert set(df.client) == {"docker"}
    assert {"runc", "crun", "runsc"} <= set(df.runtime)
    meta = json.loads((out / "run.json").read_text())
    # every known runtime is either measured or left out with its reason
    for name in KNOWN:
        assert name in set(df.runtime) or meta["unavailable"].get(f"docker/{name}"), name
    assert all(why for why in meta["unavailable"].values())
    assert client_leftovers() == []


def test_user_image_cmd_and_bundle(tmp_path, rt_env):
    bundle = image.write_bundle(tmp_path / "mybundle", ["sleep", "4321"], image.build_rootfs())
    r, out = _collect(
        tmp_path,
        rt_env,
        "--clients",
        "docker,ctr,podman,oci",
        "--runtimes",
        "runc",
        "--image",
        DEFAULT_IMAGE,
        "--cmd",
        "sleep 1234",
        "--bundle",
        str(bundle),
        "--trials",
        "1",
        "--warmup",
        "0",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    assert df.ok.all(), df[~df.ok][["client", "step", "error"]].to_string()
    meta = json.loads((out / "run.json").read_text())
    assert meta["parameters"]["workload"]["lifecycle_cmd"] == ["sleep", "1234"]
    assert meta["parameters"]["workload"]["oci_bundle"] == str(bundle.resolve())
    targets = {t["label"]: t for t in meta["targets"]}
    for label in ("docker/runc", "ctr/runc", "podman/runc"):
        assert targets[label]["argv"]["create"][0][-2:] == ["sleep", "1234"]
        assert targets[label]["argv"]["run"][0][-1] == "true"
    assert str(bundle.resolve()) in targets["oci/runc"]["argv"]["create"][0]
    assert client_leftovers() == []


def test_an_image_missing_from_the_stores_is_refused_with_the_reason(tmp_path, rt_env):
    r, out = _collect(
        tmp_path,
        rt_env,
        "--clients",
        "docker,ctr,podman",
        "--runtimes",
        "runc",
        "--image",
        "localhost/rtlab/absent:1",
        "--trials",
        "1",
        "--warmup",
        "0",
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not in docker's store" in r.stderr
    assert "not in containerd namespace 'rtlab'" in r.stderr
    assert "not in podman's store" in r.stderr
    assert not out.exists() or not any(out.iterdir())


# -- setup, doctor, clean -------------------------------------------------------------------------


def test_setup_steps_are_idempotent():
    said: list[str] = []
    assert daemons.start_all(said.append) == []
    assert daemons.import_images(said.append) == []
    assert any("already running" in line for line in said)
    config = json.loads(daemons.DOCKER_CONFIG.read_text())
    assert {"crun", "runsc"} <= set(config["runtimes"])
    for name in ("crun", "runsc", "runsc-kvm"):
        wrapper, runc = daemons.shim_paths(KNOWN[name])
        assert os.access(wrapper, os.X_OK) and os.path.exists(runc)


def test_doctor_explains_every_daemon_target():
    said: list[str] = []
    runtimes = [KNOWN["runc"], KNOWN["crun"], KNOWN["youki"]]
    out = doctor(list(DAEMON_CLIENTS), runtimes, timeout_s=20, say=said.append)
    by_label = {f"{t['client']}/{t['runtime']}": t for t in out["targets"]}
    for client in DAEMON_CLIENTS:
        for rt in ("runc", "crun"):
            assert by_label[f"{client}/{rt}"]["available"], by_label[f"{client}/{rt}"]
        youki = by_label[f"{client}/youki"]
        assert not youki["available"] and "not installed" in youki["reason"]
    assert any(line.startswith("daemons ") and "containerd running" in line for line in said)
    assert client_leftovers() == []


def test_clean_removes_dead_runs_containers_from_every_client(tmp_path):
    dead, alive = "20260101T000000Z-dead", "20260101T000000Z-a11e"
    lock = cleanup.RunLock(alive, tmp_path)
    lock.acquire()
    made = []
    try:
        for n, client in enumerate(CONTAINER_CLIENTS):
            target = CLIENTS[client](KNOWN["runc"], tmp_path, timeout_s=30)
            for token, steps in ((dead, ("create", "start")), (alive, ("create",))):
                cid = f"rtlab-{token}-0000{n}l"
                for step in steps:
                    for argv in target.commands(step, cid):
                        out = subprocess.run(
                            argv,
                            capture_output=True,
                            text=True,
                            timeout=60,
                            stdin=subprocess.DEVNULL,
                        )
                        assert out.returncode == 0, f"{argv}: {out.stderr}"
                made.append((target, cid))
        removed = clean(list(CLIENTS), list(KNOWN.values()), say=lambda _: None)
        for client in CONTAINER_CLIENTS:
            assert any(r.startswith(f"{client}/") and dead in r for r in removed), removed
        assert not any(alive in r for r in removed), removed
        assert client_leftovers(dead) == []
        for target, cid in made:
            if alive in cid:
                assert cid in target.list_ids(), f"{target.label} lost the live run's {cid}"
    finally:
        lock.release()
        for target, cid in made:
            target.remove(cid)
    assert client_leftovers("20260101T000000Z-") == []
