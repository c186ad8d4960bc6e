"""rtlab in a container (issue 34): the image's package list, the podman argv against
this host, and run.json's record of having run in a container."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from rtlab.host import container, host

ROOT = Path(__file__).resolve().parents[2]


def test_the_image_script_installs_the_packages_the_module_lists() -> None:
    script = (ROOT / "scripts" / "image.sh").read_text()
    (line,) = re.findall(r'^IMAGE_PACKAGES="([^"]*)"', script, re.M)
    assert tuple(line.split()) == container.IMAGE_PACKAGES
    assert container.IMAGE_REPO in script and "RTLAB_IMAGE_CACHE" in script
    # built from a rootfs, never pulled
    assert re.search(r"\b(buildah|podman|docker|skopeo)\s+pull\b", script) is None
    assert "buildah from --quiet scratch" in script


def test_podman_argv_shares_the_hosts_namespaces_and_mounts(tmp_path: Path) -> None:
    argv = container.podman_argv("img:1", tmp_path, ["collect", "--out", "/out/r"], name="n1")
    assert argv[:3] == ["podman", "run", "--rm"]
    for flag in ("--privileged", "--pid=host", "--network=host", "--cgroupns=host"):
        assert flag in argv
    volumes = [argv[i + 1] for i, a in enumerate(argv) if a == "-v"]
    assert f"{tmp_path}:/out" in volumes
    for m in container.MOUNTS:
        if Path(m.path).exists():
            assert f"{m.path}:{m.path}{':ro' if m.read_only else ''}" in volumes
    assert argv[-4:] == ["img:1", "collect", "--out", "/out/r"]


def test_signals_read_the_markers_of_a_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("container", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    (tmp_path / "proc" / "self" / "ns").mkdir(parents=True)
    (tmp_path / "proc" / "1" / "ns").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "cgroup").write_text("0::/kubepods/burstable/pod1/abc\n")
    os.symlink("mnt:[1]", tmp_path / "proc" / "self" / "ns" / "mnt")
    os.symlink("mnt:[2]", tmp_path / "proc" / "1" / "ns" / "mnt")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".containerenv").write_text("")
    monkeypatch.setenv("container", "podman")
    assert container.container_signals(tmp_path) == [
        "/run/.containerenv",
        "$container=podman",
        "cgroup path names kubepods",
        "mount namespace is not PID 1's",
    ]
    bare = tmp_path / "bare"
    bare.mkdir()
    monkeypatch.delenv("container")
    assert container.container_signals(bare) == []


def test_run_json_host_facts_say_whether_in_a_container(monkeypatch) -> None:
    monkeypatch.setenv("RTLAB_IMAGE", "localhost/rtlab/rtlab:abc")
    monkeypatch.setenv("RTLAB_NODE_NAME", "node-a")
    facts = host.facts()["container"]
    assert set(facts) == {"in_container", "signals", "image", "node_name", "cpu_limit"}
    assert facts["image"] == "localhost/rtlab/rtlab:abc" and facts["node_name"] == "node-a"
    assert facts["in_container"] == bool(facts["signals"])


def test_purge_removes_rtlabs_images_and_the_build_cache(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def quiet(argv):
        calls.append(argv)
        out = "localhost/rtlab/rtlab:abc\nlocalhost/rtlab/rtlab:latest\nother/x:1\n"
        return subprocess.CompletedProcess(argv, 0, out if argv[1] == "images" else "", "")

    cache = tmp_path / "cache" / "image"
    (cache / "wheels-x").mkdir(parents=True)
    (cache / "base-x.tar").write_text("")
    monkeypatch.setattr(container, "IMAGE_CACHE", cache)
    monkeypatch.setattr(container, "_quiet", quiet)
    monkeypatch.setattr(container.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    said: list[str] = []
    done = container.purge(said.append)
    removed = [c[-1] for c in calls if c[1] == "rmi"]
    assert removed == ["localhost/rtlab/rtlab:abc", "localhost/rtlab/rtlab:latest"]
    assert not cache.exists() and not cache.parent.exists()  # the empty parent too
    assert len(done) == 4 and all(line.startswith("purge: ") for line in said)
    assert container.purge(said.append) == [
        "removed image localhost/rtlab/rtlab:abc",
        "removed image localhost/rtlab/rtlab:latest",
    ]


def test_cpu_limit_reads_v1_and_v2_quotas(tmp_path: Path) -> None:
    v1 = tmp_path / "v1"
    (v1 / "proc" / "self").mkdir(parents=True)
    (v1 / "proc" / "self" / "cgroup").write_text("2:cpuacct:/\n1:cpu:/libpod/x\n0::/\n")
    cg = v1 / "sys" / "fs" / "cgroup" / "cpu" / "libpod" / "x"
    cg.mkdir(parents=True)
    (cg / "cpu.cfs_quota_us").write_text("150000\n")
    (cg / "cpu.cfs_period_us").write_text("100000\n")
    assert container.cpu_limit(v1) == 1.5
    (cg / "cpu.cfs_quota_us").write_text("-1\n")
    assert container.cpu_limit(v1) is None
    v2 = tmp_path / "v2"
    (v2 / "proc" / "self").mkdir(parents=True)
    (v2 / "proc" / "self" / "cgroup").write_text("0::/kubepods/pod1\n")
    (v2 / "sys" / "fs" / "cgroup" / "kubepods" / "pod1").mkdir(parents=True)
    (v2 / "sys" / "fs" / "cgroup" / "cpu.max").write_text("max 100000\n")
    (v2 / "sys" / "fs" / "cgroup" / "kubepods" / "pod1" / "cpu.max").write_text("50000 100000\n")
    assert container.cpu_limit(v2) == 0.5
    assert container.cpu_limit(tmp_path / "none") is None
