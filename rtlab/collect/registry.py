"""The collect layer's host parts, registered in one explicit call.

The host layer iterates host/parts.py's registries (set-up's plan, purge, the CRI's
stop, the rootless sweep) without importing the layer above it; this module fills
them, when an entry point asks — rtlab's CLI (``cli.main``), make purge
(``python3 -m rtlab.uninstall``) and a collect (:func:`rtlab.collect.collect.collect`)
— never as a side effect of importing a module. A host function that reads a
registry nobody filled raises (``parts.require``) instead of silently finding no
client, sweep or purge step.
"""

from __future__ import annotations

from rtlab.collect import clients, doctor, tracing
from rtlab.collect.clients import podman_rootless
from rtlab.host import parts

try:  # pod removal through the CRI needs gRPC, which the system python3 of make purge
    # lacks (host/cri.py then removes what is left through ctr)
    from rtlab.collect import cri_client
except ImportError:
    cri_client = None  # type: ignore[assignment]


def register_host_parts() -> None:
    """Fill host/parts.py's registries (idempotent): every client of
    :data:`rtlab.collect.clients.CLIENTS`, doctor's sweep of leftovers, tracing's tracefs
    purge step, rootless podman's store sweep and, with gRPC, the CRI's pod removal."""
    for name, cls in clients.CLIENTS.items():
        parts.register_client(name, cls)
    parts.register_sweep(doctor.sweep)
    parts.register_purge_step(tracing.purge_tracefs)
    parts.register_account_sweep(podman_rootless.remove_dead_containers)
    if cri_client is not None:
        parts.register_pod_remover(cri_client.remove_pods)
    parts.mark_registered()
