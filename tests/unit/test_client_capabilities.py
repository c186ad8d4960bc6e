"""What experiment density reads of a client lives on the client's own class (issue 32):
its daemons' sockets and what names its containers; density.py lists no client by name."""

from __future__ import annotations

import inspect

from rtlab.collect import density
from rtlab.collect.clients import CLIENTS
from rtlab.host import daemons


def test_each_client_declares_its_daemons_on_its_class():
    sockets = {
        name: [n for n, _ in cls.daemon_sockets(object.__new__(cls))]
        for name, cls in CLIENTS.items()
    }
    assert sockets["docker"] == ["dockerd", "containerd"]
    assert sockets["ctr"] == ["containerd"]
    assert sockets["oci"] == [] and sockets["podman"] == []
    ctr = object.__new__(CLIENTS["ctr"])
    assert ctr.daemon_sockets() == [("containerd", daemons.CONTAINERD_SOCKET)]


def test_density_names_no_client():
    source = inspect.getsource(density)
    for name in CLIENTS:
        assert f'"{name}"' not in source, name


def test_a_daemonless_client_names_a_container_by_its_name_only():
    oci = object.__new__(CLIENTS["oci"])
    assert oci.container_keys("rtlab-x-00001") == ["rtlab-x-00001"]
