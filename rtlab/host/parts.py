"""Host parts: what the modules above the host layer ask of the host, registered here.

Set-up, purge and the image import iterate these registries instead of importing
the modules that fill them (the collect layer sits above the host layer); the
collect layer fills them in one explicit call (collect/registry.py), and a reader
calls :func:`require` first:

- ``CLIENTS``: client name → its class (collect/clients/ registers each): its
  binary lookup (``find_binary``), Debian package (``package``,
  ``package_commands``), daemons (``needs_daemons``), image store
  (``image_store``, ``image_id``, ``load_image_argv``, ``remove_image_argv``);
- ``SWEEPS``: what removes the containers rtlab's runs left, in every client
  (collect/doctor.py's ``clean``), purge's first step;
- ``POD_REMOVERS``: what removes rtlab's pods through the CRI (collect/cri_client.py,
  when gRPC is installed), before host/cri.py stops rtlab's CRI containerd;
- ``PURGE_STEPS``: further undo steps of purge (collect/tracing.py's tracefs);
- ``ACCOUNT_SWEEPS``: what removes a dead rootless run's containers from the
  unprivileged user's own stores (collect/clients/podman_rootless.py), after
  host/rootless.py's ``sweep_dead`` killed the user's processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Say = Callable[[str], None]

CLIENTS: dict[str, Any] = {}
SWEEPS: list[Callable[[Say], list[str]]] = []
POD_REMOVERS: list[Callable[..., list[str]]] = []
PURGE_STEPS: list[Callable[[Say], list[str]]] = []
ACCOUNT_SWEEPS: list[Callable[..., list[str]]] = []  # (account, say=) → what was removed


_registered = False


class NotRegistered(RuntimeError):
    """A registry was read before the collect layer filled it."""


def mark_registered() -> None:
    """Said by rtlab.collect.registry.register_host_parts once every part is in."""
    global _registered
    _registered = True


def require() -> None:
    """Raise :class:`NotRegistered` unless the registries were filled: a host function
    that iterates them would otherwise find no client, sweep or purge step and leave
    the host unswept without a word."""
    if not _registered:
        raise NotRegistered(
            "rtlab's host parts are not registered: call "
            "rtlab.collect.registry.register_host_parts() first (cli.main, "
            "rtlab.uninstall and collect.collect do)"
        )


def register_client(name: str, cls: Any) -> Any:
    """Add (or replace) client ``name``; returns ``cls`` (usable as a decorator's body)."""
    CLIENTS[name] = cls
    return cls


def _add(registry: list, fn: Callable) -> Callable:
    if fn not in registry:
        registry.append(fn)
    return fn


def register_sweep(fn: Callable[[Say], list[str]]) -> Callable:
    return _add(SWEEPS, fn)


def register_pod_remover(fn: Callable[..., list[str]]) -> Callable:
    return _add(POD_REMOVERS, fn)


def register_purge_step(fn: Callable[[Say], list[str]]) -> Callable:
    return _add(PURGE_STEPS, fn)


def register_account_sweep(fn: Callable[..., list[str]]) -> Callable:
    return _add(ACCOUNT_SWEEPS, fn)
