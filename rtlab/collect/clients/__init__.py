"""One driver per client: the argv of each lifecycle step for one runtime."""

from __future__ import annotations

from rtlab.collect.clients.base import LIFECYCLE, STEPS, Target
from rtlab.collect.clients.cri import CriTarget
from rtlab.collect.clients.ctr import CtrTarget
from rtlab.collect.clients.docker import DockerTarget
from rtlab.collect.clients.oci import OciTarget
from rtlab.collect.clients.podman import PodmanTarget

# client name → Target class (the runtime's own CLI first, then the daemon clients).
CLIENTS: dict[str, type[Target]] = {
    "oci": OciTarget,
    "docker": DockerTarget,
    "ctr": CtrTarget,
    "podman": PodmanTarget,
    "cri": CriTarget,  # containerd's CRI (the kubelet's path), experiment cri only
}

__all__ = ["CLIENTS", "LIFECYCLE", "STEPS", "Target", "OciTarget", "DockerTarget", "CtrTarget",
           "PodmanTarget", "CriTarget"]
