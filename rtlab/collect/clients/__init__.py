"""One driver per client: the argv of each lifecycle step for one runtime."""

from __future__ import annotations

from rtlab.collect.clients.base import LIFECYCLE, STEPS, Target
from rtlab.collect.clients.cri import CriTarget
from rtlab.collect.clients.ctr import CtrTarget
from rtlab.collect.clients.docker import DockerTarget
from rtlab.collect.clients.oci import OciTarget
from rtlab.collect.clients.oci_rootless import RootlessOciTarget
from rtlab.collect.clients.podman import PodmanTarget
from rtlab.collect.clients.podman_rootless import RootlessPodmanTarget

# client name → Target class (the runtime's own CLI first, then the daemon clients;
# containerd's CRI, the kubelet's path, runs experiment cri only). A client's other
# modes are its subclasses (Target.modes): imported here so they exist. The host
# layer sees this registry once collect/registry.py has copied it into host/parts.py.
CLIENTS: dict[str, type[Target]] = {
    "oci": OciTarget,
    "docker": DockerTarget,
    "ctr": CtrTarget,
    "podman": PodmanTarget,
    "cri": CriTarget,
}

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
