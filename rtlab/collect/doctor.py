"""What this host can measure: host facts and one line per (client, runtime)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from rtlab.collect.clients import CLIENTS, Target
from rtlab.collect.session import RunSession
from rtlab.core import actions, options
from rtlab.core.image import RUNTIME_DIR
from rtlab.core.runtimes import KNOWN, Runtime
from rtlab.host import cleanup, cri, daemons, host, registry, rootless

PROBE_TIMEOUT_S = options.default("probe_timeout", "doctor")


@dataclass
class TargetStatus:
    client: str
    runtime: str
    available: bool
    version: str | None
    reason: str  # why not, or "" when available

    @property
    def line(self) -> str:
        label = f"{self.client}/{self.runtime}"
        if self.available:
            return f"{label:<22} available   {self.version or ''}"
        return f"{label:<22} unavailable {self.reason}"


def probe(target: Target, cid: str, timeout_s: float) -> tuple[bool, str]:
    """Run ``true`` to exit through the target: (worked, why not)."""
    reason = target.unavailable_reason()
    if reason:
        return False, reason
    try:
        target.prepare()
        for action in target.probe_actions(cid):
            for m in actions.perform(action, timeout_s):
                if m.timed_out:
                    return False, f"did not answer within {timeout_s:g} s ({' '.join(m.argv)})"
                if not m.ok:
                    return False, f"refused by the host: {m.describe_failure()}"
        return True, ""
    finally:
        target.remove(cid)
        cleanup.sweep(cid)


@rootless.starts_in_cwd
def doctor(
    clients: list[str],
    runtimes: list[Runtime],
    timeout_s: float = PROBE_TIMEOUT_S,
    say: Callable[[str], None] = print,
) -> dict:
    """Probe every (client, runtime); print a line each; return the facts as a dict."""
    facts = host.facts()
    say(
        f"host      {facts['hostname']}: {facts['os']}, kernel {facts['kernel']}, "
        f"{facts['cores']} cores {facts['cpu_model']}, "
        f"{(facts['memory_bytes'] or 0) / 2**30:.1f} GiB"
    )
    say(
        f"cgroups   {facts['cgroup_mode']}"
        + (
            f" (v2 holds: {', '.join(facts['unified_controllers']) or 'nothing'})"
            if facts["cgroup_mode"] == "hybrid"
            else ""
        )
    )
    say(
        f"rlimits   nofile {facts['rlimits']['nofile']}, nproc {facts['rlimits']['nproc']} (soft, hard)"
    )
    say(f"load      {', '.join(f'{x:.2f}' for x in facts['load_average'])}")
    say(f"daemons   {daemons.status_line()}")
    for line in rootless.doctor_lines():
        say(line)
    for line in registry.doctor_lines():  # the pull experiment's registry; lazy pulling
        say(line)
    statuses = []
    with RunSession() as session:
        hung: dict[str, str] = {}  # runtime → the label whose probe it did not answer
        for n, (client, runtime) in enumerate((c, r) for c in clients for r in runtimes):
            target = CLIENTS[client](runtime, session.workdir, timeout_s=timeout_s)
            cid = session.cid(n, "p")
            if runtime.name in hung and not target.unavailable_reason():
                # A runtime that hung under its own CLI hangs under every client that
                # runs it (checked by hand: docker, ctr and podman over runsc-kvm);
                # not waiting for it again keeps doctor short.
                ok, why = (
                    False,
                    (
                        f"not probed: the runtime itself did not answer `run` within "
                        f"{timeout_s:g} s ({hung[runtime.name]} above)"
                    ),
                )
            else:
                ok, why = probe(target, cid, timeout_s)
                if not ok and why.startswith("did not answer") and client == "oci":
                    hung[runtime.name] = target.label
            version = target.versions().get(runtime.name) if ok else None
            status = TargetStatus(client, runtime.name, ok, version, why)
            statuses.append(status)
            say(status.line)
    return {"host": facts, "targets": [asdict(s) for s in statuses]}


TOKEN_RE = re.compile(r"rtlab-(\d{8}T\d{6}Z-[0-9a-f]{4})-")


@rootless.starts_in_cwd
def clean(
    clients: list[str], runtimes: list[Runtime], say: Callable[[str], None] = print
) -> list[str]:
    """Remove what dead rtlab runs left: containers, processes, mounts, cgroups, work folders.

    Live runs (their lock is held) and anything without an rtlab id are left alone.
    """
    live = cleanup.live_runs()
    removed: list[str] = []
    tokens: set[str] = set()
    for client in clients:
        for runtime in runtimes:
            target = CLIENTS[client](runtime, RUNTIME_DIR / "clean")
            if target.unavailable_reason():
                continue
            for cid in cleanup.iter_dead(target.list_ids(), live):
                errors = target.remove(cid)
                for err in errors:
                    say(f"could not remove: {err}")
                removed.append(f"{target.label}:{cid}")
                tokens.add(cleanup.token_of(cid) or "")
    for text in cleanup.process_texts(cleanup.CONTAINER_PREFIX).values():
        tokens.update(TOKEN_RE.findall(text))
    for token in sorted(t for t in tokens if t and t not in live):
        swept = cleanup.sweep(f"{cleanup.CONTAINER_PREFIX}{token}-")
        removed += [f"process {p}" for p in swept["processes"]] + swept["mounts"]
    removed += [
        f"runsc state file {path}"
        for path in cleanup.remove_runsc_state(cleanup.CONTAINER_PREFIX, live)
    ]
    removed += cri.clean(live, say=lambda line: say(line) if "could not" in line else None)
    # the rootless user's processes, fuse mounts and podman containers (rootless.py)
    removed += rootless.sweep_dead(live, RUNTIME_DIR, say=say)
    if RUNTIME_DIR.is_dir():
        for workdir in RUNTIME_DIR.iterdir():
            if (
                workdir.is_dir()
                and re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{4}", workdir.name)
                and workdir.name not in live
            ):
                shutil.rmtree(workdir, ignore_errors=True)
    for item in removed:
        say(f"removed {item}")
    say(f"clean: removed {len(removed)} leftover(s); {len(live)} live run(s) left alone")
    return removed


def all_runtimes(custom: Sequence[Runtime] = ()) -> list[Runtime]:
    return [*KNOWN.values(), *custom]


def sweep(say: Callable[[str], None] = print) -> list[str]:
    """Purge's first step: :func:`clean` in every registered client and known runtime."""
    return clean(list(CLIENTS), all_runtimes(), say=say)
