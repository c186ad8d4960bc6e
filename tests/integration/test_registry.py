"""rtlab's registry (issue 33) on the real host: Debian's docker-registry started by rtlab
on 127.0.0.1 only, images pushed, listed, stopped, purged; a registry rtlab did not start
is never touched; the packages rtlab installed go at purge and come back at set-up."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from rtlab.core import procfs
from rtlab.host import ledger, pull_images, registry
from tests.conftest import need_tools


def _quiet(line: str) -> None:
    pass


def listening(port: int) -> list[str]:
    """The local addresses of TCP sockets listening on ``port`` (IPv4 and IPv6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].rpartition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                if len(address) == 8:  # IPv4, little-endian
                    found.append(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    found.append(address)
    return found


@pytest.fixture
def own_ledger(tmp_path, monkeypatch):
    """A ledger of the test's own: purging a test's registry never removes the host's packages."""
    monkeypatch.setattr(ledger, "LEDGER", tmp_path / "host-changes.json")


@pytest.fixture
def reg(tmp_path, own_ledger):
    need_tools(registry.BINARY)  # set-up installs it: a failure under make test
    r = registry.Registry(
        tmp_path / "registry", tmp_path / "run", tmp_path / "log" / "registry.log"
    )
    yield r
    registry.stop(r, say=_quiet)


def test_start_push_list_stop_and_purge(reg, tmp_path):
    address = registry.start(reg, say=_quiet)
    host, _, port_s = address.partition(":")
    port = int(port_s)
    assert host == "127.0.0.1" and reg.port() == port
    assert listening(port) == ["127.0.0.1"], "rtlab's registry listens on loopback only"
    pid = reg.started_pid()
    assert pid is not None and procfs.comm(pid) == "docker-registry"
    assert registry.start(reg, say=_quiet) == address and reg.started_pid() == pid

    made = pull_images.push([0, 1_000_000], reg=reg, layouts=tmp_path / "layouts", say=_quiet)
    assert [(i.size_bytes, i.compression) for i in made] == [
        (0, "gzip"),
        (0, "zstd"),
        (1_000_000, "gzip"),
        (1_000_000, "zstd"),
    ]
    for image in made:
        assert (
            image.ref
            == f"{address}/rtlab/pull:{pull_images.tag(image.size_bytes, image.compression)}"
        )
        assert image.digest.startswith("sha256:")
        assert image.layers == (1 if image.size_bytes == 0 else 2)
        assert all(t.endswith("+" + image.compression) for t in image.media_types)
        assert image.uncompressed_bytes > image.size_bytes
    gzip_1m, zstd_1m = made[2], made[3]
    assert gzip_1m.digest != zstd_1m.digest
    # the random layer does not compress: the compressed image is about as big
    assert gzip_1m.compressed_bytes > 0.95 * gzip_1m.uncompressed_bytes - 2_200_000
    assert registry.catalog(reg) == ["rtlab/pull"]
    assert set(registry.tags("rtlab/pull", reg)) == {
        "s0-gzip",
        "s0-zstd",
        "s1000000-gzip",
        "s1000000-zstd",
    }
    # the same size and seed make the same image again
    again = pull_images.push(
        [1_000_000], ("zstd",), reg=reg, layouts=tmp_path / "layouts2", say=_quiet
    )
    assert again[0].digest == zstd_1m.digest

    assert registry.stop(reg, say=_quiet) == pid
    assert not procfs.alive(pid) and listening(port) == [] and not reg.pidfile.exists()
    assert registry.start(reg, say=_quiet) == address, "the recorded port is kept while free"
    assert set(registry.tags("rtlab/pull", reg)) >= {"s0-gzip"}, "the storage outlives a stop"

    pid = reg.started_pid()
    done = registry.purge(say=_quiet, reg=reg)
    assert "stopped rtlab's registry" in done and "removed the registry's storage" in done
    assert pid is not None and not procfs.alive(pid)
    assert listening(port) == [] and not reg.root.exists()
    assert registry.purge(say=_quiet, reg=reg) == [], "a second purge finds nothing"


def test_a_registry_rtlab_did_not_start_is_never_touched(reg, tmp_path):
    """The user's own registry (Debian's service would be one, on :5000) runs through
    rtlab's start, stop and purge."""
    port = registry.free_port()
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "config.yml").write_text(registry.config_text(theirs / "storage", port))
    user = subprocess.Popen(
        [registry.BINARY, "serve", str(theirs / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while listening(port) == [] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert listening(port) == ["127.0.0.1"]
        address = registry.start(reg, say=_quiet)
        assert address != f"127.0.0.1:{port}"
        registry.stop(reg, say=_quiet)
        registry.purge(say=_quiet, reg=reg)
        assert user.poll() is None and listening(port) == ["127.0.0.1"]
        assert (theirs / "config.yml").exists()
    finally:
        user.terminate()
        user.wait(timeout=10)


def test_purge_removes_the_packages_rtlab_installed_and_setup_brings_them_back(
    tmp_path, own_ledger
):
    """The ledger says rtlab installed docker-registry and skopeo: purge removes them; the
    next set-up installs them again (recorded again), with the package's service not running."""
    packages = ["docker-registry", "skopeo"]
    need_tools(registry.BINARY, "/usr/bin/skopeo")  # set-up installs both
    for package in packages:
        ledger.add(registry.INSTALLED, package)
    reg = registry.Registry(tmp_path / "registry", tmp_path / "run", tmp_path / "registry.log")
    try:
        done = registry.purge(say=_quiet, reg=reg)
        assert done == ["removed Debian packages docker-registry skopeo"]
        assert not any(registry.installed(p) for p in packages)
        assert ledger.items(registry.INSTALLED) == []
    finally:
        changes = registry.install(say=_quiet)
    assert changes[0] == "installed Debian packages: docker-registry skopeo"
    assert all(registry.installed(p) for p in packages)
    assert sorted(ledger.items(registry.INSTALLED)) == packages
    assert not registry.service_running()
