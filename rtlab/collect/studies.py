"""Named studies: a study name → the (client, runtime) targets it measures.

- ``lowlevel``: docker over every runtime this host has — the first half of
  the known comparison (runc, kata, runsc … behind the same client).
- ``clients``: docker, ctr, podman and the runtime's own CLI (``oci``) over
  runc — its second half (which client costs what).
- ``all``: every client over every runtime it can drive, plus the OCI CLI.

"A runtime this host has" is one that is installed *and* runs ``true`` to
exit through its own CLI within a probe timeout. A runtime that is installed
but hangs here (runsc ``--platform=kvm`` under nested virtualisation) or is
refused by the host is left out with the probe's reason, which goes to
run.json under ``unavailable``: no study spends its time on a runtime that
cannot finish a trial. Hung probes are remembered for the boot (in
``/run/rtlab/runtime-probes.json``, keyed by the runtime's argv and version),
so only the first study of a boot waits for them; failures that come back
fast are probed again each time.

Whether a client can drive a runtime (docker: registered with dockerd; ctr: a
shim wrapper; podman: any runtime binary) is each driver's
``unavailable_reason``: the pair stays in the study and collect reports why
it was not measured.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rtlab.collect import doctor
from rtlab.collect.clients import CLIENTS, OciTarget
from rtlab.collect.registry import register_host_parts
from rtlab.collect.session import RunSession
from rtlab.core.runtimes import KNOWN, Runtime

STUDIES: dict[str, str] = {
    "lowlevel": "docker over every runtime this host has (the known comparison's first half)",
    "clients": "docker, ctr, podman and the runtime's own CLI over runc (its second half)",
    "all": "every client over every runtime it can drive, plus the runtime's own CLI",
}
# From the client registry (collect/clients/), read when a study is resolved: a
# registered client joins the studies. The engines are the high-level clients; the
# others the runtime's own CLI.


def daemon_clients() -> tuple[str, ...]:
    return tuple(c for c, cls in CLIENTS.items() if cls.engine)


def oci_clients() -> tuple[str, ...]:
    return tuple(c for c, cls in CLIENTS.items() if not cls.engine)


DAEMON_CLIENTS = daemon_clients()  # the registry at import (tests parametrize over it)
LOWLEVEL_CLIENT = "docker"  # the known comparison's first half is docker over each runtime
PROBE_TIMEOUT_S = 10.0
# Host facts for this boot, whatever RTLAB_RUNTIME_DIR says (that one isolates runs).
PROBE_CACHE = Path("/run/rtlab/runtime-probes.json")


class StudyError(ValueError):
    """An unknown study or a selection that leaves nothing; one line."""


@dataclass
class Study:
    name: str
    pairs: list[tuple[str, str]]
    excluded: dict[str, str] = field(default_factory=dict)  # "client/runtime" → why not

    @property
    def clients(self) -> list[str]:
        return list(dict.fromkeys(c for c, _ in self.pairs))

    @property
    def runtimes(self) -> list[str]:
        return list(dict.fromkeys(r for _, r in self.pairs))


def _cache_key(rt: Runtime, version: str) -> str:
    return json.dumps([rt.argv, version, platform.release()])


def _read_cache() -> dict:
    try:
        return json.loads(PROBE_CACHE.read_text())
    except (OSError, ValueError):
        return {}


def _remember_hang(key: str, reason: str) -> None:
    cache = _read_cache()
    cache[key] = {"reason": reason, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        PROBE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        PROBE_CACHE.write_text(json.dumps(cache, indent=1))
    except OSError:
        pass


def host_runtimes(
    runtimes: list[Runtime], timeout_s: float = PROBE_TIMEOUT_S, say: Callable[[str], None] = print
) -> tuple[list[Runtime], dict[str, str]]:
    """(runtimes that run ``true`` here, {name: why not} for the others)."""
    usable: list[Runtime] = []
    missing: dict[str, str] = {}
    to_probe: list[tuple[Runtime, str]] = []
    cache = _read_cache()
    for rt in runtimes:
        version, why = rt.version()
        if version is None:
            missing[rt.name] = why
        elif _cache_key(rt, version) in cache:
            entry = cache[_cache_key(rt, version)]
            missing[rt.name] = f"{entry['reason']} (probed {entry['at']}; remembered until reboot)"
        else:
            to_probe.append((rt, version))
    if not to_probe:
        return usable, missing
    with RunSession() as session:
        for n, (rt, version) in enumerate(to_probe):
            target = OciTarget(rt, session.workdir, timeout_s=timeout_s)
            cid = session.cid(n, "p")
            ok, why = doctor.probe(target, cid, timeout_s)
            if ok:
                usable.append(rt)
                continue
            reason = f"`{' '.join(rt.argv)} run` of `true` failed here: {why}"
            if why.startswith("did not answer"):
                reason = (
                    f"`{' '.join(rt.argv)} run` of `true` did not finish within "
                    f"{timeout_s:g} s here (the runtime hangs on this host)"
                )
                _remember_hang(_cache_key(rt, version), reason)
            missing[rt.name] = reason
            say(f"study: leaving out runtime {rt.name}: {reason}")
    order = {rt.name: i for i, rt in enumerate(runtimes)}
    usable.sort(key=lambda r: order[r.name])
    return usable, missing


def resolve(
    name: str,
    custom: Sequence[Runtime] = (),
    *,
    clients: list[str] | None = None,
    runtimes: list[str] | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
    say: Callable[[str], None] = print,
) -> Study:
    """The targets of study ``name`` on this host, optionally narrowed to the given
    clients and runtimes (names)."""
    if name not in STUDIES:
        raise StudyError(f"unknown study {name!r}; known: {', '.join(STUDIES)}")
    register_host_parts()  # doctor's probes ask host for the clients' packages
    table = {**KNOWN, **{r.name: r for r in custom}}
    if name == "clients":
        study_clients, study_runtimes = [*daemon_clients(), *oci_clients()], ["runc"]
    elif name == "lowlevel":
        study_clients, study_runtimes = [LOWLEVEL_CLIENT], list(table)
    else:
        study_clients, study_runtimes = [*daemon_clients(), *oci_clients()], list(table)
    wanted_clients = [c for c in study_clients if not clients or c in clients]
    candidates = [table[r] for r in study_runtimes if not runtimes or r in runtimes]
    if not wanted_clients:
        raise StudyError(
            f"study {name!r} measures the clients {', '.join(study_clients)}: "
            f"--clients {','.join(clients or [])} leaves none"
        )
    if not candidates:
        raise StudyError(
            f"study {name!r} measures the runtimes {', '.join(study_runtimes)}: "
            f"--runtimes {','.join(runtimes or [])} leaves none"
        )
    usable, missing = host_runtimes(candidates, timeout_s, say)
    pairs = [(c, r.name) for c in wanted_clients for r in usable]
    excluded = {
        f"{c}/{rt}": f"runtime not usable on this host: {why}"
        for c in wanted_clients
        for rt, why in missing.items()
    }
    if not pairs:
        raise StudyError(
            f"study {name!r} has nothing to measure here: "
            + "; ".join(f"{rt}: {why}" for rt, why in missing.items())
        )
    return Study(name, pairs, excluded)
