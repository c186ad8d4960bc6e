"""Experiment pull (issue 33) through the real clients and rtlab's registry: a small run
keeps a row for every step (a failure with its error), records the images, and leaves
no pull image, container or process; Ctrl-C during a pull leaves none either."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtlab.collect.clients import CLIENTS
from rtlab.core import procfs
from rtlab.core.results import load_trials
from rtlab.core.runtimes import KNOWN
from tests.conftest import REPO, need_tools, rtlab

CLIENT_NAMES = ("docker", "ctr", "podman")  # and the CRI (cri-pull), on its own below
CRI_CTR = ["ctr", "-a", "/run/rtlab/cri/containerd.sock", "-n", "k8s.io"]


@pytest.fixture(autouse=True)
def _clients_here():
    """Fail (make test) or skip (a bare pytest) unless set-up installed the registry, and
    fail — never skip — when a client set-up prepares is not ready (as test_clients.py)."""
    from rtlab.host import registry

    need_tools(registry.BINARY)
    problems = [
        f"{name}/runc: {why}"
        for name in (*CLIENT_NAMES, "cri")
        if (why := CLIENTS[name](KNOWN["runc"], Path("/")).unavailable_reason())
    ]
    if problems:
        pytest.fail("the clients are not ready (run `make setup`): " + "; ".join(problems))


def pull_images_in_stores() -> list[str]:
    """Every image of rtlab's pull repository in docker's, containerd's (rtlab) and podman's store."""
    found = []
    for argv in (
        ["/usr/bin/docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        ["ctr", "-n", "rtlab", "images", "ls", "-q"],
        ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"],
    ):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
        assert out.returncode == 0, f"{argv}: {out.stderr}"
        found += [f"{argv[0]}: {x}" for x in out.stdout.split() if "/rtlab/pull" in x]
    return found


def run_containers(token: str) -> list[str]:
    found = []
    for argv in (
        ["/usr/bin/docker", "ps", "-a", "--format", "{{.Names}}"],
        ["ctr", "-n", "rtlab", "containers", "ls", "-q"],
        ["podman", "ps", "-a", "--format", "{{.Names}}"],
    ):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
        found += [f"{argv[0]}: {x}" for x in out.stdout.split() if token in x]
    return found


def pull_processes() -> list[str]:
    return [
        " ".join(procfs.cmdline(pid))
        for pid in procfs.pids()
        if "/rtlab/pull:" in " ".join(procfs.cmdline(pid))
    ]


def partial_pulls() -> list[str]:
    """What a pull killed midway keeps: containerd's active ingests and leases in rtlab's
    namespace, and the content of rtlab's pull repository; podman's image-copy folders."""
    found = []
    for argv in (
        ["ctr", "-n", "rtlab", "content", "active"],
        ["ctr", "-n", "rtlab", "leases", "ls", "-q"],
    ):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
        found += [
            f"{' '.join(argv[3:])}: {x}"
            for x in out.stdout.splitlines()[1 if "active" in argv else 0 :]
        ]
    content = subprocess.run(
        ["ctr", "-n", "rtlab", "content", "ls"], capture_output=True, text=True, timeout=60
    )
    found += [f"content: {x.split()[0]}" for x in content.stdout.splitlines() if "rtlab/pull" in x]
    found += [f"podman: {p}" for p in Path("/var/tmp").glob("storage[0-9]*")]
    return found + cri_pull_leftovers()


def cri_pull_leftovers() -> list[str]:
    """rtlab's CRI containerd (namespace k8s.io): pull images, their content, active
    ingests, leases; rtlab's pods."""
    found = []
    for args, keep in (
        (["images", "ls", "-q"], lambda x: "/rtlab/pull" in x),
        (["content", "ls"], lambda x: "rtlab/pull" in x),
        (["content", "active"], lambda x: not x.startswith("REF")),
        (["leases", "ls", "-q"], lambda x: True),
    ):
        out = subprocess.run([*CRI_CTR, *args], capture_output=True, text=True, timeout=60)
        found += [
            f"cri {args[0]}: {x.split()[0]}" for x in out.stdout.splitlines() if x and keep(x)
        ]
    return found


def test_a_small_pull_run_keeps_every_row_and_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    proc = rtlab(
        "collect",
        "--no-progress",
        "--experiment",
        "pull",
        "--clients",
        ",".join(CLIENT_NAMES),
        "--runtimes",
        "runc",
        "--image-sizes",
        "0,2MB",
        "--trials",
        "1",
        "--warmup",
        "0",
        "--out",
        str(out),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    # the console: one line per target, size, compression and cache, never pooled over them
    printed = (proc.stdout + proc.stderr).splitlines()
    header = [n for n, line in enumerate(printed) if line.startswith("pull: median [95% CI] in ms")]
    assert len(header) == 1, "\n".join(printed)
    table = printed[header[0] + 2 :]  # after the column names
    table = table[: next((n for n, t in enumerate(table) if "/runc " not in t), len(table))]
    rows = {tuple(line.split()[:4]) for line in table}
    assert len(rows) == len(table) == 3 * 2 * 2 * 2
    assert rows == {
        (f"{c}/runc", s, z, k)
        for c in CLIENT_NAMES
        for s in ("0", "2MB")
        for z in ("gzip", "zstd")
        for k in ("cold", "warm")
    }
    meta = json.loads((out / "run.json").read_text())
    images = meta["pull"]["images"]
    assert {(i["size_bytes"], i["compression"]) for i in images} == {
        (s, c) for s in (0, 2_000_000) for c in ("gzip", "zstd")
    }
    assert all(i["digest"].startswith("sha256:") and i["compressed_bytes"] > 0 for i in images)
    trials = load_trials(out)
    # every unit's trial keeps its three rows: 3 clients × 2 sizes × 2 compressions × 2 caches
    assert len(trials) == 3 * 2 * 2 * 2 * 3
    assert set(trials["step"]) == {"pull", "create", "start"}
    failed = trials[~trials["ok"]]
    assert (failed["error"].str.len() > 0).all(), "a failed step keeps its error"
    # ctr and podman pull gzip and zstd; docker gzip (docker 20.10 cannot unpack zstd layers)
    ok_units = trials[(trials["client"] != "docker") | (trials["compression"] == "gzip")]
    assert ok_units["ok"].all(), ok_units[~ok_units["ok"]][["client", "step", "error"]]
    cold_pulls = trials[(trials["step"] == "pull") & (trials["cache"] == "cold") & trials["ok"]]
    assert cold_pulls["caches_dropped"].astype(str).str.lower().eq("true").all()
    big = cold_pulls[cold_pulls["image_size_bytes"] == 2_000_000]
    assert (big["pull_lo_bytes"] > 2_000_000).all(), "a cold pull fetched the random layer"
    assert pull_images_in_stores() == []
    assert run_containers(meta["token"]) == []
    assert pull_processes() == []
    assert partial_pulls() == []


def test_the_cri_pulls_through_its_own_chain_and_leaves_nothing(tmp_path):
    """--experiment pull runs cri-pull for the cri client: RunPodSandbox, PullImage over
    plain HTTP (rtlab's hosts.toml), CreateContainer, StartContainer, the teardown untimed."""
    out = tmp_path / "run"
    proc = rtlab(
        "collect", "--no-progress", "--experiment", "pull", "--clients", "cri",
        "--runtimes", "runc", "--networks", "host", "--image-sizes", "2MB",
        "--trials", "1", "--warmup", "0", "--out", str(out),
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    trials = load_trials(out)
    assert set(trials["experiment"]) == {"cri-pull"}
    assert trials["ok"].all(), trials[~trials["ok"]][["step", "error"]]
    assert len(trials) == 2 * 2 * 4  # compressions × caches × (pod_run, pull, create, start)
    cold = trials[(trials["step"] == "pull") & (trials["cache"] == "cold")]
    assert (cold["pull_lo_bytes"] > 2_000_000).all(), "a cold PullImage fetched the layer"
    warm = trials[(trials["step"] == "pull") & (trials["cache"] == "warm")]
    assert (warm["pull_lo_bytes"] < 100_000).all(), "a warm PullImage fetched no layer"
    assert cri_pull_leftovers() == []
    token = json.loads((out / "run.json").read_text())["token"]
    pods = subprocess.run(
        [*CRI_CTR, "containers", "ls", "-q", f'labels."io.kubernetes.pod.name"~=^rtlab-{token}-'],
        capture_output=True,
        text=True,
    )
    assert pods.returncode == 0 and pods.stdout.split() == [], "no pod or container of the run"


@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_ctrl_c_during_a_pull_leaves_no_image_container_or_process(tmp_path, client):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtlab",
            "collect",
            "--no-progress",
            "--experiment",
            "pull",
            "--clients",
            client,
            "--runtimes",
            "runc",
            "--image-sizes",
            "200MB",
            "--compressions",
            "gzip",
            "--caches",
            "cold",
            "--trials",
            "3",
            "--warmup",
            "0",
            "--out",
            str(out),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        deadline = time.monotonic() + 600
        seen: list[str] = []
        while time.monotonic() < deadline and proc.poll() is None:
            seen = [c for c in pull_processes() if " pull" in c and "rtlab collect" not in c]
            if seen:
                break
            time.sleep(0.01)
        assert seen, "no pull started"
        time.sleep(0.3)  # inside the pull: 200 MB take longer than this here
        assert pull_processes(), "the pull ended before the Ctrl-C"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, stdout
    assert "interrupted" in (stdout + stderr)
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert pull_images_in_stores() == []
    assert run_containers(meta["token"]) == []
    assert pull_processes() == []
    assert partial_pulls() == []


def test_ctrl_c_during_a_cri_pull_leaves_no_image_pod_or_partial_content(tmp_path):
    out = tmp_path / "run"
    argv = [
        sys.executable, "-m", "rtlab", "collect", "--no-progress", "--experiment", "pull",
        "--clients", "cri", "--runtimes", "runc", "--networks", "host",
        "--image-sizes", "200MB", "--compressions", "gzip", "--caches", "cold",
        "--trials", "3", "--warmup", "0", "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 600
        active: list[str] = []
        while time.monotonic() < deadline and proc.poll() is None and not active:
            ls = subprocess.run([*CRI_CTR, "content", "active"], capture_output=True, text=True)
            active = ls.stdout.splitlines()[1:]
            time.sleep(0.02)
        assert active, "no PullImage was fetching"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "interrupted" in stdout + stderr
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert cri_pull_leftovers() == []
