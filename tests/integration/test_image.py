"""make image's image, run for real against this host (issue 34): a privileged container
in the host's PID, network and cgroup namespaces collects oci, ctr and cri targets into a
mounted folder; every trial is ok, run.json says it ran in a container and which host it
measured, and nothing of the run is left (containers, tasks, pods, mounts, processes,
cgroups, the container itself).

The image is built by scripts/image.sh, or reused: its tag is the hash of
requirements.lock, its Debian packages and rtlab's sources, and its Debian base is
cached by the lockfile's hash (the first build takes about 5 minutes here, a rebuild of
rtlab on the cached base about 2)."""

from __future__ import annotations

import csv
import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from rtlab.host import container, cri, daemons, host
from tests.conftest import need_tools
from tests.integration.conftest import oci_leftovers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image() -> str:
    need_tools("podman")  # set-up installs it; scripts/image.sh installs buildah itself
    built = subprocess.run(
        ["bash", "scripts/image.sh"],
        cwd=ROOT,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    ref = built.stdout.split()[-1]
    assert ref.startswith(container.IMAGE_REPO + ":") and ref in container.images()
    return ref


def _token_leftovers(token: str) -> list[str]:
    needle = f"rtlab-{token}"
    found = [
        f"mount {line.split()[4]}"
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if needle in line
    ]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    found += [
        f"process {line}" for line in ps.splitlines() if needle in line and "ps -eo" not in line
    ]
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"*/{needle}*")]
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"*/*/{needle}*")]
    for ns in ("rtlab",):
        out = subprocess.run(
            ["ctr", "-n", ns, "containers", "ls", "-q"], capture_output=True, text=True
        )
        found += [f"ctr container {c}" for c in out.stdout.split() if token in c]
    return found


def test_the_image_collects_oci_ctr_and_cri_against_this_host(image: str, tmp_path: Path) -> None:
    clients = ["oci", "ctr"]
    if cri.down_reason() is None:
        clients.append("cri")
    for name in ("containerd",):
        assert daemons.DAEMONS[name].answers(), f"{name} is not running: run rtlab setup"
    out = tmp_path / "out"
    out.mkdir()
    name = f"rtlab-image-test-{secrets.token_hex(3)}"
    argv = container.podman_argv(
        image,
        out,
        [
            "collect",
            "--clients",
            ",".join(clients),
            "--runtimes",
            "runc,crun",
            "--trials",
            "2",
            "--warmup",
            "0",
            "--no-progress",
            "--out",
            f"{container.OUT_MOUNT}/run",
        ],
        name=name,
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd="/")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = out / "run"
    meta = json.loads((run / "run.json").read_text())
    with (run / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["ok"] == "true" for r in rows), [r for r in rows if r["ok"] != "true"][:3]
    measured = {r["client"] for r in rows}
    assert measured == set(clients), measured
    assert {r["runtime"] for r in rows} == {"runc", "crun"}
    facts = meta["host"]["container"]
    assert facts["in_container"] and facts["image"] == image
    assert "/run/.containerenv" in facts["signals"]
    # the host it measured: this one (host network, the host's kernel and cgroup tree)
    here = host.identity()
    assert {k: meta["host"][k] for k in here} == here
    assert _token_leftovers(meta["token"]) == []
    assert oci_leftovers() == []
    assert cri.host_leftovers() == []
    ps = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True
    )
    assert name not in ps.stdout.split()
