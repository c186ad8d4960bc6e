"""Clients own their parts: a made-up client module, named in the client registry
(collect/clients/__init__.py's CLIENTS) and registered with the host explicitly
(collect/registry.py), is seen by
set-up's plan (its package, its image import), purge (its store, its image's removal,
what else of its store it made), doctor, clean and the studies, none of which names it.

Nothing real runs: the made-up client's commands are ``true``, the other clients are
taken out of the registry for the test, and the parts of doctor, clean and the studies
that touch the host (the probes, the sweeps, the session) are replaced."""

import contextlib
import sys
import types

import pytest

from rtlab.collect import clients, doctor, registry, studies
from rtlab.core.runtimes import Runtime
from rtlab.host import cleanup, cri, daemons, host, ledger, parts, purge

MODULE = "rtlab.collect.clients.madeup"
SOURCE = """
from typing import Optional

from rtlab.collect.clients.base import Target

CALLS = []


class MadeUpTarget(Target):
    client = "madeup"
    package = "madeup-tools"
    package_commands = ("madeup-cli-not-installed",)
    needs_daemons = ()
    image_store = "madeup-store"
    store_description = "the made-up store"
    engine = True

    @staticmethod
    def find_binary() -> Optional[str]:
        return "true"

    @staticmethod
    def image_id(ref):
        return "sha256:madeup" if "loaded" in CALLS else None

    @staticmethod
    def load_image_argv(binary, archive):
        CALLS.append("loaded")
        return ["true", "load", archive]

    @staticmethod
    def remove_image_argv(binary, ref):
        CALLS.append("removed image")
        return ["true", "rmi", ref]

    @staticmethod
    def forget_store(say):
        CALLS.append("forgot store")
        return ["forgot the made-up store"]

    def unavailable_reason(self):
        return None

    def list_ids(self):
        return ["rtlab-20000101T000000Z-dead-0001s"]

    def remove(self, cid):
        CALLS.append(f"removed {cid}")
        return []

    def versions(self):
        return {self.runtime.name: "9.9"}
"""


@pytest.fixture
def madeup(monkeypatch):
    """The made-up client module, alone in the client registry (its one entry there),
    registered with the host layer explicitly."""
    module = types.ModuleType(MODULE)
    # emptied and refilled in place (studies and the front door hold these dicts), in
    # their order: the "known: oci, docker, …" messages list the clients as registered
    saved = [(registry_, dict(registry_)) for registry_ in (clients.CLIENTS, parts.CLIENTS)]
    for registry_, _ in saved:
        registry_.clear()
    monkeypatch.setitem(sys.modules, MODULE, module)
    exec(compile(SOURCE, MODULE, "exec"), module.__dict__)
    clients.CLIENTS["madeup"] = module.MadeUpTarget
    assert "madeup" not in parts.CLIENTS  # importing a client module registers nothing
    registry.register_host_parts()
    yield module
    for registry_, before in saved:
        registry_.clear()
        registry_.update(before)


def test_the_host_layer_sees_the_client_registry_once_registered(madeup):
    assert parts.CLIENTS == clients.CLIENTS == {"madeup": madeup.MadeUpTarget}


def test_setup_plans_its_package_and_imports_its_image(madeup, monkeypatch, tmp_path):
    assert host.command_packages()["madeup-cli-not-installed"] == "madeup-tools"
    assert "madeup-tools" in host.missing_packages()
    monkeypatch.setattr(daemons, "build_archive", lambda: (tmp_path / "a.tar", "sha256:madeup"))
    monkeypatch.setattr(daemons.ledger, "add", lambda *a: None)
    said = []
    changes = daemons.import_images(said.append)
    assert madeup.CALLS == ["loaded"]
    assert changes == [
        "imported localhost/rtlab/busybox:latest (sha256:madeup) into the made-up store"
    ]


def test_purge_removes_its_image_and_what_it_made_of_its_store(madeup, monkeypatch):
    assert list(purge._store_clients()) == ["madeup-store"]
    madeup.CALLS.append("loaded")  # the image is there
    monkeypatch.setattr(ledger, "items", lambda key: [])
    said = []
    done = purge._images(said.append)
    assert done == ["removed image from madeup-store", "forgot the made-up store"]
    assert madeup.CALLS == ["loaded", "removed image", "forgot store"]


def test_doctor_probes_it(madeup, monkeypatch, tmp_path):
    class Session:
        workdir = tmp_path

        def cid(self, n, kind):
            return f"rtlab-x-{n}{kind}"

    monkeypatch.setattr(doctor, "RunSession", lambda: contextlib.nullcontext(Session()))
    monkeypatch.setattr(doctor, "probe", lambda target, cid, timeout_s: (True, ""))
    runc = Runtime("runc", "/bin/true")
    out = doctor.doctor(list(clients.CLIENTS), [runc], say=lambda line: None)
    assert [(t["client"], t["runtime"], t["available"], t["version"]) for t in out["targets"]] == [
        ("madeup", "runc", True, "9.9")
    ]


def test_clean_removes_its_leftovers(madeup, monkeypatch, tmp_path):
    monkeypatch.setattr(doctor, "RUNTIME_DIR", tmp_path)
    monkeypatch.setattr(cleanup, "live_runs", lambda: {})
    monkeypatch.setattr(cleanup, "process_texts", lambda prefix: {})
    monkeypatch.setattr(cleanup, "sweep", lambda prefix: {"processes": [], "mounts": []})
    monkeypatch.setattr(cleanup, "remove_runsc_state", lambda prefix, live: [])
    monkeypatch.setattr(cri, "clean", lambda live, say: [])
    removed = [i for sweep in parts.SWEEPS for i in sweep(lambda line: None)]  # purge's first step
    assert "madeup/runc:rtlab-20000101T000000Z-dead-0001s" in removed
    assert all(item.startswith("madeup/") for item in removed)
    assert "removed rtlab-20000101T000000Z-dead-0001s" in madeup.CALLS


def test_the_studies_measure_it(madeup, monkeypatch):
    monkeypatch.setattr(
        studies, "host_runtimes", lambda candidates, timeout_s, say: (candidates, {})
    )
    study = studies.resolve("all", say=lambda line: None)
    assert study.clients == ["madeup"]
    assert study.name == "all" and ("madeup", "runc") in study.pairs
