"""Each client's record in core: its name, in the client registry's order, and what is read
of it by a layer that does not import the collect layer (issue 32: no module lists
clients by name outside their own records).

A client is two files: its driver, ``rtlab/collect/clients/<name>.py`` (a ``Target``
subclass: its commands, its verbs, its density hooks), and its entry here.
collect/clients/__init__.py builds the client registry (``CLIENTS``) from this tuple,
finding each driver in the module named after its client. The entry holds what the
analysis reads without importing collect: its marker and bar hatch in every figure
(analysis/plots.py) and the phases ``--trace`` cuts its steps into (core/phasedefs.py,
read by collect/tracing.py through the driver and by analysis/phasestats.py). Data
only: stdlib, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rtlab.core.conditions import ROOTLESS_SUFFIX

Phases = list[tuple[str, str]]  # (phase name, the marker that ends it): phasedefs.py's forms

# The client's exec, the first phase of every traced step through a CLI
CLIENT_SPAWN: Phases = [("client spawn", "exec")]
# The runtime family a daemon client's hand-offs are defined over: containerd's runc v2
# shim runs runc (SHIM_RUNC); over another family a daemon client's step is not cut
HANDOFF_FAMILY = "runc"
# containerd's chain over runc, by comm name (the tracer follows what containerd forks,
# and wake-ups of dockerd/containerd/shim threads): the tail of a daemon client's start
SHIM_RUNC: Phases = [
    ("containerd → shim (the shim's exec)", "exec-name:containerd-shim-runc-v2"),
    ("shim → runc create (its exec)", "exec-name:runc"),
    ("runc create: runc init (re-exec) sets up the container", "exec:/proc/self/exe"),
    ("container init, then shim → runc start (its exec)", "exec-name:runc"),
    # the workload's exec races with runc start's exit and the replies (seen
    # after the client's exit with ctr --detach): no marker
    ("runc start: opens the exec fifo, exits", "exit-exec"),
    ("back to the client (replies up the chain), client exits", "exit-runtime"),
    ("reap", "end"),
]


@dataclass(frozen=True)
class Client:
    """What core says of one client.

    marker/hatch: its matplotlib marker and bar hatch in every figure (None: a stable
    spare one, by a hash of its name). own_cli: the runtime's own CLI, so a traced step
    is cut into the runtime family's phases (core/phasedefs.py ``PHASES``). phases: a
    daemon client's own phases per step (its hand-offs), defined over
    :data:`HANDOFF_FAMILY` only; they replace the runtime's when a step goes through
    this client. pulls: it runs experiment pull (an image store it pulls into from
    rtlab's registry: its driver's ``image_store``, or the CRI's ImageService).
    """

    name: str
    marker: str | None = None
    hatch: str | None = None
    own_cli: bool = False
    phases: Mapping[str, Phases] = field(default_factory=dict)
    pulls: bool = False


# -- the clients (register a new one here: one entry, and its driver's module) --------

CLIENTS: dict[str, Client] = {
    c.name: c
    for c in (
        Client("oci", marker="D", hatch="xxx", own_cli=True),
        Client(
            "docker",
            marker="o",
            hatch="",
            pulls=True,
            phases={
                "start": CLIENT_SPAWN
                + [
                    ("docker CLI start-up → request to dockerd", "wake:docker>dockerd"),
                    ("dockerd → containerd", "wake:dockerd>containerd"),
                ]
                + SHIM_RUNC,
            },
        ),
        Client(
            "ctr",
            marker="s",
            hatch="///",
            pulls=True,
            phases={
                "start": CLIENT_SPAWN
                + [("ctr start-up → request to containerd", "wake:ctr>containerd")]
                + SHIM_RUNC,
            },
        ),
        Client("podman", marker="^", hatch="...", pulls=True),
        # containerd's CRI, the kubelet's path (experiment cri only)
        Client("cri", pulls=True),
    )
}


def record(client: str) -> Client | None:
    """The record of a client as the analysis names it: its own, or for a rootless
    target's name (``oci-rootless``, conditions.ROOTLESS_SUFFIX) its client's; None for
    a client with no record."""
    found = CLIENTS.get(client)
    if found is None and client.endswith(ROOTLESS_SUFFIX):
        found = CLIENTS.get(client.removesuffix(ROOTLESS_SUFFIX))
    return found


def pulling() -> tuple[str, ...]:
    """The clients that run experiment pull, in the registry's order."""
    return tuple(c.name for c in CLIENTS.values() if c.pulls)


def figure_order() -> tuple[str, ...]:
    """The clients with a look of their own in the figures' order: the daemon clients
    in the registry's order, then the runtime's own CLI (the baseline they are set
    against)."""
    looks = [c for c in CLIENTS.values() if c.marker is not None]
    return tuple(c.name for c in looks if not c.own_cli) + tuple(c.name for c in looks if c.own_cli)
