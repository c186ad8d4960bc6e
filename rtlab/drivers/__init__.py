"""One driver per client: the argv of each lifecycle step for one runtime."""

from __future__ import annotations

from .base import LIFECYCLE, STEPS, Target
from .oci import OciTarget

# client name → Target class; the daemon clients register themselves here too.
CLIENTS: dict[str, type[Target]] = {"oci": OciTarget}

try:  # the daemon clients (docker, ctr, podman)
    from . import daemons  # noqa: F401  (registers into CLIENTS)
except ImportError:  # pragma: no cover - the module is optional while it is written
    pass

__all__ = ["CLIENTS", "LIFECYCLE", "STEPS", "Target", "OciTarget"]
