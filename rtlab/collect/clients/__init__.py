"""One driver per client: the argv of each lifecycle step for one runtime."""

from __future__ import annotations

from rtlab.collect.clients.base import LIFECYCLE, STEPS, Target
from rtlab.collect.clients.cri import CriTarget
from rtlab.collect.clients.ctr import CtrTarget
from rtlab.collect.clients.docker import DockerTarget
from rtlab.collect.clients.oci import OciTarget
from rtlab.collect.clients.oci_rootless import RootlessOciTarget  # noqa: F401 (OciTarget.mode_classes)
from rtlab.collect.clients.podman import PodmanTarget
from rtlab.collect.clients.podman_rootless import RootlessPodmanTarget  # noqa: F401
from rtlab.host import parts

# client name → Target class (the runtime's own CLI first, then the daemon clients),
# registered in the host layer's registry (host/parts.py) so set-up, purge and the
# image import see every client without importing this package: CLIENTS is that dict.
for _name, _cls in (
    ("oci", OciTarget),
    ("docker", DockerTarget),
    ("ctr", CtrTarget),
    ("podman", PodmanTarget),
    ("cri", CriTarget),
):  # containerd's CRI (the kubelet's path), experiment cri only
    parts.register_client(_name, _cls)
CLIENTS: dict[str, type[Target]] = parts.CLIENTS

__all__ = [
    "CLIENTS",
    "LIFECYCLE",
    "STEPS",
    "Target",
    "OciTarget",
    "DockerTarget",
    "CtrTarget",
    "PodmanTarget",
    "CriTarget",
]
