"""One driver per client: the argv of each lifecycle step for one runtime."""

from __future__ import annotations

import importlib

from rtlab.collect.clients.base import LIFECYCLE, STEPS, Target
from rtlab.collect.clients.cri import CriTarget
from rtlab.collect.clients.ctr import CtrTarget
from rtlab.collect.clients.docker import DockerTarget
from rtlab.collect.clients.oci import OciTarget
from rtlab.collect.clients.oci_rootless import RootlessOciTarget
from rtlab.collect.clients.podman import PodmanTarget
from rtlab.collect.clients.podman_rootless import RootlessPodmanTarget
from rtlab.core import clientdefs


# client name → Target class, in core/clientdefs.py's order (the runtime's own CLI first,
# then the daemon clients; containerd's CRI, the kubelet's path, runs experiment cri
# only): each client's driver is found in the module named after it. A client's other
# modes are its subclasses (Target.modes): imported above so they exist. The host layer
# sees this registry once collect/registry.py has copied it into host/parts.py.
def _driver(name: str) -> type[Target]:
    """The Target class of client ``name``: the one in ``rtlab.collect.clients.<name>``
    that drives that client in the default mode."""
    module = importlib.import_module(f"{__name__}.{name}")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Target)
        and value.__module__ == module.__name__
        and value.client == name
        and value.mode == Target.mode
    ]
    if len(found) != 1:
        raise TypeError(
            f"{module.__name__}: expected one Target subclass with client = {name!r}, "
            f"found {len(found)}"
        )
    return found[0]


CLIENTS: dict[str, type[Target]] = {name: _driver(name) for name in clientdefs.CLIENTS}

__all__ = [
    "CLIENTS",
    "LIFECYCLE",
    "STEPS",
    "Target",
    "OciTarget",
    "RootlessOciTarget",
    "DockerTarget",
    "CtrTarget",
    "PodmanTarget",
    "RootlessPodmanTarget",
    "CriTarget",
]
