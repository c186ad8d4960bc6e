"""rtlab's registry (host/registry.py) and the pull images (host/pull_images.py), no root:
the config it writes, what install and purge record and undo (package manager and
service faked), doctor's lines, the images' layouts."""

from __future__ import annotations

import hashlib
import json
import tarfile

import pytest

from rtlab.host import host, ledger, pull_images, registry


@pytest.fixture
def own_ledger(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "LEDGER", tmp_path / "host-changes.json")


def test_the_config_listens_on_loopback_only_and_keeps_its_storage(tmp_path):
    text = registry.config_text(tmp_path / "st", 41234)
    assert 'addr: "127.0.0.1:41234"' in text
    assert f'rootdirectory: "{tmp_path / "st"}"' in text
    reg = registry.Registry(tmp_path / "r", tmp_path / "run", tmp_path / "log")
    assert reg.port() is None
    reg.root.mkdir()
    reg.config.write_text(text)
    assert reg.port() == 41234 and reg.address() == "127.0.0.1:41234"
    assert reg.started_pid() is None and not reg.answers()


class FakeHost:
    """apt and the package's service, faked: what install and purge ran."""

    def __init__(self, monkeypatch, *, starts_service: bool, present=()):
        self.present = set(present)
        self.running = False
        self.starts_service = starts_service
        self.ran: list[list[str]] = []
        monkeypatch.setattr(registry, "service_running", lambda: self.running)
        monkeypatch.setattr(registry, "installed", lambda p: p in self.present)
        monkeypatch.setattr(registry, "_run_all", self.run_all)
        monkeypatch.setattr(registry, "_systemd", lambda: True)
        monkeypatch.setattr(host, "install_packages", self.install)
        monkeypatch.setattr(
            registry.Path, "exists", lambda p: str(p) in host.REGISTRY_PACKAGES and self._has(p)
        )
        monkeypatch.setattr(registry.subprocess, "run", self.subprocess_run)

    def _has(self, path) -> bool:
        return host.REGISTRY_PACKAGES[str(path)] in self.present

    def install(self, packages, say=print):
        self.present |= set(packages)
        if "docker-registry" in packages and self.starts_service:
            self.running = True

    def run_all(self, argvs):
        self.ran += argvs
        self.running = any("enable" in a for a in argvs)
        return None

    def subprocess_run(self, argv, **kwargs):
        self.ran.append(argv)
        if argv[:2] == ["apt-get", "purge"]:
            self.present -= set(argv[4:])
        return registry.subprocess.CompletedProcess(argv, 0, "", "")


def test_install_records_what_it_installed_and_stops_the_service_its_install_started(
    monkeypatch, own_ledger, tmp_path
):
    fake = FakeHost(monkeypatch, starts_service=True, present={"zstd"})
    changes = registry.install(say=lambda line: None)
    assert changes[0] == "installed Debian packages: docker-registry skopeo"
    assert ledger.items(registry.INSTALLED) == ["docker-registry", "skopeo"]
    assert ledger.items(registry.SERVICE_STOPPED) == ["docker-registry"]
    assert ["systemctl", "disable", "--now", "docker-registry"] in fake.ran
    assert not fake.running
    assert registry.install(say=lambda line: None) == [], "a second set-up changes nothing"
    reg = registry.Registry(tmp_path / "r", tmp_path / "run", tmp_path / "log")
    done = registry.purge(say=lambda line: None, reg=reg)
    assert done == ["removed Debian packages docker-registry skopeo"]
    assert fake.present == {"zstd"}, "zstd was there before: it stays"
    assert ledger.read() == {registry.INSTALLED: [], registry.SERVICE_STOPPED: []}


def test_a_package_the_user_had_is_left_and_its_service_never_touched(
    monkeypatch, own_ledger, tmp_path
):
    fake = FakeHost(monkeypatch, starts_service=True, present={"docker-registry", "skopeo", "zstd"})
    fake.running = True  # the user's own registry service on :5000
    assert registry.install(say=lambda line: None) == []
    reg = registry.Registry(tmp_path / "r", tmp_path / "run", tmp_path / "log")
    assert registry.purge(say=lambda line: None, reg=reg) == []
    assert fake.ran == [] and fake.running and "docker-registry" in fake.present


def test_a_service_rtlab_stopped_comes_back_when_its_package_stays(
    monkeypatch, own_ledger, tmp_path
):
    fake = FakeHost(monkeypatch, starts_service=True, present={"docker-registry", "skopeo", "zstd"})
    ledger.add(registry.SERVICE_STOPPED, "docker-registry")  # e.g. the user kept the package
    reg = registry.Registry(tmp_path / "r", tmp_path / "run", tmp_path / "log")
    assert registry.purge(say=lambda line: None, reg=reg) == [
        "started the docker-registry service again"
    ]
    assert ["systemctl", "enable", "--now", "docker-registry"] in fake.ran
    assert ledger.items(registry.SERVICE_STOPPED) == []


def test_doctor_says_lazy_pulling_is_unavailable_without_the_stargz_daemon(monkeypatch, tmp_path):
    monkeypatch.setattr(registry.shutil, "which", lambda name: None)
    lines = registry.doctor_lines(
        registry.Registry(tmp_path / "r", tmp_path / "run", tmp_path / "l")
    )
    assert lines[1].startswith("lazy pull unavailable")
    assert "ctr-remote only" in lines[1]


def _layer_digests(layout):
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    return manifest, blobs


def test_a_layout_is_busybox_plus_one_random_layer_reproducibly(tmp_path, monkeypatch):
    rootfs = tmp_path / "image" / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "bin" / "busybox").write_bytes(b"\x7fELF fake")
    (tmp_path / "image" / "busybox.sha256").write_text("abc\n")
    monkeypatch.setattr(pull_images.image, "build_rootfs", lambda: rootfs)
    layout, uncompressed = pull_images.build_layout(100_000, seed=3, root=tmp_path / "a")
    manifest, blobs = _layer_digests(layout)
    assert [x["mediaType"] for x in manifest["layers"]] == [pull_images.OCI_LAYER] * 2
    assert uncompressed == sum(x["size"] for x in manifest["layers"])
    for layer in manifest["layers"]:
        blob = blobs / layer["digest"][7:]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == layer["digest"][7:]
    with tarfile.open(blobs / manifest["layers"][1]["digest"][7:]) as tf:
        (member,) = tf.getmembers()
        assert member.name == "rtlab-random.bin" and member.size == 100_000
    with tarfile.open(blobs / manifest["layers"][0]["digest"][7:]) as tf:
        assert pull_images.MARKER in tf.getnames()
    again, _ = pull_images.build_layout(100_000, seed=3, root=tmp_path / "b")
    assert _layer_digests(again)[0] == manifest, "same size and seed, same image"
    other, _ = pull_images.build_layout(100_000, seed=4, root=tmp_path / "c")
    assert _layer_digests(other)[0]["layers"][1] != manifest["layers"][1]
    zero, _ = pull_images.build_layout(0, root=tmp_path / "d")
    assert len(_layer_digests(zero)[0]["layers"]) == 1
    # compressed once per compression; random bytes barely compress
    compressed, uploads = pull_images.compressed_manifest(layout, "gzip")
    assert [x["mediaType"] for x in compressed["layers"]] == [pull_images.OCI_LAYER + "+gzip"] * 2
    assert compressed["layers"][1]["size"] > 99_000
    assert uploads[0] == (manifest["config"]["digest"], manifest["config"]["size"])
