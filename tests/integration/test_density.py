"""Experiment density (issue 22) on the real runtimes: levels of idle containers, memory
read three ways into density.csv, the interference start in trials.csv, nothing left."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtlab.collect.clients import CtrTarget, DockerTarget, PodmanTarget
from rtlab.core.results import load_trials
from rtlab.host import cleanup, daemons
from tests.conftest import REPO, rtlab
from tests.integration.conftest import oci_leftovers


def _density(out: Path) -> list[dict]:
    with open(out / "density.csv", newline="") as f:
        return list(csv.DictReader(f))


def _token(out: Path) -> str:
    return json.loads((out / "run.json").read_text())["token"]


def _zombie(pid: int) -> bool:
    """An exited process its parent has not reaped yet (holds no memory, mount or cgroup
    of its own; this host's init reaps reparented ones late)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True  # gone


def _mine(token: str) -> list[str]:
    """This run's containers, processes and memory cgroups still on the host."""
    left = [x for x in oci_leftovers() if token in x]
    left += [f"process {pid}" for pid in cleanup.processes_matching(token) if not _zombie(pid)]
    left += [f"cgroup {p}" for p in Path("/sys/fs/cgroup/memory").glob(f"**/*{token}*")]
    return left


def test_oci_runc_crun_runsc_three_methods_and_interference(tmp_path, rt_env):
    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--experiment",
        "density",
        "--containers",
        "1,3",
        "--clients",
        "oci",
        "--runtimes",
        "runc,crun,runsc",
        "--trials",
        "1",
        "--warmup",
        "0",
        "--allow-concurrent",
        "--out",
        str(out),
        env=rt_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    rows = _density(out)
    assert {(d["runtime"], d["n"], d["method"]) for d in rows} == {
        (rt, n, m)
        for rt in ("runc", "crun", "runsc")
        for n in ("1", "3")
        for m in ("memavailable", "pss", "cgroup")
    }
    assert all(d["ok"] == "True" for d in rows), [d["error"] for d in rows]
    assert {(d["daemons"], d["daemons_bytes"]) for d in rows} == {("", "")}  # oci: no daemon
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
        (rt, n, s) for rt in ("runc", "crun", "runsc") for n in (1, 3) for s in ("create", "start")
    )
    assert df.ok.all(), df[~df.ok][["runtime", "step", "error"]].to_string()
    assert _mine(_token(out)) == []


def test_ctrl_c_while_bringing_up_leaves_nothing_and_keeps_rows(tmp_path, rt_env):
    """SIGINT during a level of 6 runsc containers (each ~0.4 s to bring up): the run
    stops, every container goes, density.csv keeps the level already read."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtlab",
            "collect",
            "--no-progress",
            "--experiment",
            "density",
            "--containers",
            "1,6",
            "--clients",
            "oci",
            "--runtimes",
            "runsc",
            "--trials",
            "1",
            "--warmup",
            "0",
            "--allow-concurrent",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=rt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
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
    for client, argv in (
        ("docker", [DockerTarget.find_binary(), "info"]),
        ("podman", [PodmanTarget.find_binary(), "info"]),
        ("ctr", [CtrTarget.find_binary(), "-n", daemons.NAMESPACE, "images", "ls"]),
    ):
        try:
            if subprocess.run(argv, capture_output=True, timeout=30).returncode == 0:
                up.append(client)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return up


def _docker_ids(token: str, meta: dict) -> list[str]:
    """Full ids of the containers docker created for the run (its events, by the run's
    label): what its shims, runsc sandboxes and cgroups are named by."""
    out = subprocess.run(
        [
            DockerTarget.find_binary(),
            "events",
            "--since",
            meta["started_at"][:19] + "Z",
            "--until",
            meta["ended_at"][:19] + "Z",
            "--filter",
            "type=container",
            "--filter",
            "event=create",
            "--filter",
            f"label=rtlab.run={token}",
            "--format",
            "{{.ID}}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _runtime_state_ids() -> set[str]:
    """Every id in runc's, crun's and runsc's default state roots (podman's containers
    live there, under podman's full ids)."""
    ids = set()
    for rt in ("runc", "crun", "runsc"):
        out = subprocess.run([rt, "list", "--quiet"], capture_output=True, text=True, timeout=30)
        ids |= set(out.stdout.split())
    return ids


def _daemon_leftovers(client: str, meta: dict, ids_before: set[str]) -> list[str]:
    """What a daemon client's run may leave besides its names: for docker, anything
    naming the full ids it created (shim and sandbox processes, memory cgroups,
    containerd's moby namespace); for podman, ids new in the runtimes' own state that
    podman no longer knows."""
    left = []
    if client == "docker":
        ids = _docker_ids(meta["token"], meta)
        assert ids, "docker's events name none of the run's containers"
        texts = cleanup.process_texts("")
        moby = subprocess.run(
            [CtrTarget.find_binary(), "-n", "moby", "containers", "ls", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.split()
        for cid in ids:
            left += [
                f"process {pid}: {t[:120]}"
                for pid, t in texts.items()
                if cid in t and not _zombie(pid)
            ]
            left += [f"cgroup {g}" for g in Path("/sys/fs/cgroup/memory").glob(f"**/*{cid}*")]
            left += [f"containerd moby: {cid}" for m in moby if m == cid]
    if client == "podman":
        known = subprocess.run(
            [PodmanTarget.find_binary(), "ps", "-a", "-q", "--no-trunc"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.split()
        left += [
            f"runtime state: {i}"
            for i in _runtime_state_ids() - ids_before - set(known)
            if len(i) == 64
        ]
    return left


@pytest.mark.parametrize("client", ["docker", "ctr", "podman"])
def test_daemon_client_over_runc_and_runsc(tmp_path, rt_env, client):
    """`rtlab collect --experiment density --clients CLIENT --runtimes runc,runsc
    --containers 1,5 --trials 2` end to end on the real daemons: three methods at every
    level, the daemons' growth apart (docker: dockerd and its containerd, ctr:
    containerd, podman: none), nothing left behind."""
    from tests.integration.test_clients import client_leftovers, require_daemons

    require_daemons()
    ids_before = _runtime_state_ids()
    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--experiment",
        "density",
        "--containers",
        "1,5",
        "--clients",
        client,
        "--runtimes",
        "runc,runsc",
        "--trials",
        "2",
        "--warmup",
        "0",
        "--allow-concurrent",
        "--out",
        str(out),
        env=rt_env,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    rows = _density(out)
    assert all(d["ok"] == "True" for d in rows), [d["error"] for d in rows if d["ok"] != "True"]
    assert sorted((d["runtime"], d["trial"], d["n"], d["method"]) for d in rows) == sorted(
        (rt, t, n, m)
        for rt in ("runc", "runsc")
        for t in ("0", "1")
        for n in ("1", "5")
        for m in ("memavailable", "pss", "cgroup")
    )
    pss = {(d["runtime"], d["trial"], d["n"]): d for d in rows if d["method"] == "pss"}
    for rt in ("runc", "runsc"):
        for t in ("0", "1"):
            one, five = pss[(rt, t, "1")], pss[(rt, t, "5")]
            # the same processes per container at every level (shim or conmon, runsc's
            # sandbox and gofer, the workload): no daemon among them
            assert int(five["processes"]) == 5 * int(one["processes"]) > 0, (one, five)
            assert 0 < int(one["bytes"]) < int(five["bytes"])
    # runsc's sandbox and gofer cost several times runc's container through the daemon too
    assert int(pss[("runsc", "0", "5")]["bytes"]) > 2 * int(pss[("runc", "0", "5")]["bytes"])
    # the daemons' own growth, apart: named per client, read at every level, never in pss
    want = {"docker": "dockerd,containerd", "ctr": "containerd", "podman": ""}[client]
    assert {d["daemons"] for d in rows} == {want}
    growth = [d["daemons_bytes"] for d in rows]
    if want:
        assert all(g.lstrip("-").isdigit() for g in growth), growth
        assert any(int(g) != 0 for g in growth), growth  # read, not a constant
    else:
        assert set(growth) == {""}
    df = load_trials(out)
    assert df.ok.all() and set(df.step) == {"create", "start"}
    assert sorted(set(df.n)) == [1, 5]
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "completed"
    token = meta["token"]
    assert _mine(token) == [] and client_leftovers(token) == []
    assert _daemon_leftovers(client, meta, ids_before) == []


def test_a_level_over_the_memory_floor_is_refused_before_it_starts(tmp_path, rt_env):
    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--experiment",
        "density",
        "--containers",
        "1,3",
        "--clients",
        "oci",
        "--runtimes",
        "runc",
        "--trials",
        "1",
        "--warmup",
        "0",
        "--memory-floor",
        "100000000",
        "--allow-concurrent",
        "--out",
        str(out),
        env=rt_env,
    )
    line = next(x for x in r.stdout.splitlines() if x.startswith("refused: level N=1 of oci/runc"))
    assert "needs about" in line and "under the floor of 100000000000 MB" not in line
    rows = _density(out)
    assert {d["n"] for d in rows} == {"1", "3"} and all(d["ok"] == "False" for d in rows)
    assert all(d["error"].startswith(("refused: level N=1", "not run: refused")) for d in rows)
    df = load_trials(out)
    assert not df.ok.any() and (df.container_id.fillna("") == "").all()  # nothing was created
    assert _mine(_token(out)) == []


# 32 MiB written to the container's /dev/shm (tmpfs, charged to its memory cgroup, mapped
# by no process once dd exits), the container's process left idle:
# - cgroup sees it (shmem pages are charged to the cgroup that wrote them): within 10%.
# - pss cannot: PSS counts pages mapped by a process, and no process maps the tmpfs file
#   after dd exits (the pages are in the page cache as Shmem, in no smaps_rollup).
# - memavailable sees it (shmem is not reclaimable, so MemAvailable falls by it), but
#   it sees the whole host too: on this shared host other jobs move it by hundreds of MB
#   between readings (measured: Sen intervals of ±400 MB at levels 1,2,3), so it is held
#   to 10% only when its interval is narrow enough to decide (a quiet host); otherwise
#   the test prints its interval (pytest -rP shows it).
CALIBRATION_MB = 32 * 1024 * 1024 / 1e6


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_calibration_32_mib_in_tmpfs_is_measured_within_10_percent(tmp_path, rt_env, runtime):
    from rtlab.analysis import density_stats

    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--experiment",
        "density",
        "--containers",
        "1,2,3",
        "--clients",
        "oci",
        "--runtimes",
        runtime,
        "--trials",
        "3",  # density_stats.MIN_TRIALS_CI: the fewest trials an interval comes from
        "--warmup",
        "0",
        "--settle",
        "2",
        "--cmd",
        "sh -c 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=32 2>/dev/null; exec sleep 3600'",
        "--allow-concurrent",
        "--out",
        str(out),
        env=rt_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    slopes = density_stats.memory_slopes(density_stats.load(out)).set_index("method")
    cg = slopes.loc["cgroup"]
    assert abs(cg.mb - CALIBRATION_MB) <= 0.1 * CALIBRATION_MB, slopes.to_string()
    assert cg.low <= cg.mb <= cg.high
    assert slopes.loc["pss", "mb"] < 0.2 * CALIBRATION_MB, slopes.to_string()  # cannot see it
    ma = slopes.loc["memavailable"]
    if ma.status == density_stats.RESOLVED and (ma.high - ma.low) / 2 <= 0.1 * CALIBRATION_MB:
        assert abs(ma.mb - CALIBRATION_MB) <= 0.1 * CALIBRATION_MB, slopes.to_string()
    else:
        print(
            f"{runtime}: memavailable not held to 10% ({ma.status}): {ma.mb:.1f} MB "
            f"[{ma.low:.1f}, {ma.high:.1f}] per container over {ma.trials} trials, the "
            f"host's noise is wider than ±10% of {CALIBRATION_MB:.1f} MB"
        )
    assert _mine(_token(out)) == []
