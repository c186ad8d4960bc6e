"""Experiment ``density``: memory per idle container at N running, read three ways,
and one more container's start timed with N running (issue 22).

A trial brings up the levels of ``--containers`` in increasing order on one target,
adding containers to the batch (created and started, untimed: they are the load,
not the measurement). At each level N, after a ``sync`` and a page-cache drop:

- ``memavailable``: the fall of ``MemAvailable`` (/proc/meminfo) from before the
  batch (read after the same sync and drop). It sees everything — the batch, the
  daemons' growth, and any other process on the host (noise on a shared machine).
  MemAvailable leaves out the free pages the kernel holds on its per-CPU lists
  (hundreds of MB here, refilled and drained as the host frees and allocates), so
  they are added (/proc/zoneinfo's pagesets, :func:`per_cpu_free`). Read first, at
  once after the drop, before the scans below: the drop's freed pages wait on those
  lists and a reading that waited for a scan as long as the batch saw them move.
- ``pss``: the summed PSS (``/proc/PID/smaps_rollup``) of the processes the batch
  added: processes started after the batch began whose command line or cgroup
  names one of the batch's containers (its name, or the client's full id for
  docker/podman), and their descendants — runtime, shims, conmon, runsc sandbox
  and gofer, the containers' own processes. Kernel memory (page tables of a
  runsc sandbox's address spaces, the containers' tmpfs and slab) is not PSS.
- ``cgroup``: the summed memory usage of the batch's memory cgroups (cgroup v1
  ``memory.usage_in_bytes`` at /sys/fs/cgroup/memory on this hybrid host, v2
  ``memory.current`` elsewhere): the cgroups of the batch's processes whose path
  names a container; a nested cgroup is counted once, with its top. It holds the
  containers' processes (and a runsc sandbox), not the shims or conmon outside it.

The batch is left idle ``--settle`` seconds (default 1) after a level is up, so
the containers' commands finish starting before anything is read.

Safety: before a level starts, its memory is estimated — the containers still to
add plus the timed one, each costing the largest method's bytes per container at
the last level read, at least the runtime's ``expected_mb`` (core/runtimes.py) — and the
level is refused, in one line with the estimate, when it would leave
MemAvailable under ``--memory-floor`` MB (default 2048). A refused level keeps
its rows with that line as the error; the levels above it are not run.

Every row carries ``daemons_bytes``: the PSS growth since before the batch of the
daemons the client talks to (the daemons' own part, never in ``pss``, part of
``memavailable``), named in ``daemons``: docker's dockerd and the containerd it
uses, ctr's containerd, each found as the process listening on its socket and
pinned (pid and start time) when the trial begins; none for oci and podman
(``daemons`` and ``daemons_bytes`` empty). A pinned daemon that restarted during
the trial leaves ``daemons_bytes`` empty and says so in ``daemons``.

Then one more container is created and started, timed, as the lifecycle's
``create`` and ``start`` (trials.csv rows with ``n`` = N running), and removed.
Every container of the batch is removed at the end of the trial, on success,
failure, timeout or Ctrl-C (``finally``), and swept by name. Rows of a level
whose bring-up failed keep the error; the later levels get "not run" rows.

density.csv (one row per target, trial, level and method) is written beside
trials.csv; :data:`DENSITY_COLUMNS`. Stdlib only (the measurement half).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rtlab.collect.scheduler import Rows, UnitState
from rtlab.collect.trial import TrialRunner
from rtlab.core import conditions, experiments, procfs
from rtlab.core.experiments import Experiment

EXPERIMENT = "density"
METHODS = experiments.DENSITY_METHODS
DENSITY_COLUMNS = (
    "run_id",
    "client",
    "runtime",
    "round",
    "trial",
    "warmup",
    "n",
    "method",
    "bytes",
    "daemons",
    "daemons_bytes",
    "processes",
    "cgroups",
    "ok",
    "error",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- reading memory ------------------------------------------------------------------
def mem_available(meminfo: str | Path = "/proc/meminfo") -> int:
    """MemAvailable in bytes."""
    for line in procfs.read_text(meminfo).splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{meminfo}: no MemAvailable line")


def per_cpu_free(zoneinfo: str | Path = "/proc/zoneinfo") -> int:
    """Bytes of free pages held on the kernel's per-CPU lists: the ``count`` of every
    zone's pagesets in /proc/zoneinfo. They are free, but MemFree — and so MemAvailable —
    leaves them out; on this host the lists hold hundreds of MB and refill and drain as
    the host frees and allocates (docs/DESIGN.md, density)."""
    pages = 0
    for line in procfs.read_text(zoneinfo).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "count:":
            pages += int(parts[1])
    return pages * PAGE


def available() -> int:
    """What the ``memavailable`` method reads: MemAvailable plus the per-CPU lists' free
    pages (:func:`per_cpu_free`)."""
    return mem_available() + per_cpu_free()


def pss(pid: int) -> int:
    """The process's PSS in bytes (smaps_rollup); 0 when it is gone or unreadable."""
    for line in procfs.read_text(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def snapshot() -> set[tuple[int, str]]:
    """(pid, start time) of every process now: what was there before the batch."""
    return {(pid, procfs.start_time(pid) or "") for pid in procfs.pids()}


def batch_processes(
    keys: Iterable[str], before: set[tuple[int, str]], skip: Iterable[int] = ()
) -> list[int]:
    """Processes not in ``before`` whose command line or cgroup names a key, and their
    descendants (the process tree)."""
    keys = [k for k in keys if k]
    skip = set(skip)
    parents: dict[int, int | None] = {}
    found: set[int] = set()
    for pid in procfs.pids():
        if pid in skip or (pid, procfs.start_time(pid) or "") in before or not procfs.alive(pid):
            continue
        parents[pid] = procfs.parent(pid)
        text = " ".join(procfs.cmdline(pid)) + "\n" + (procfs.cgroup(pid) or "")
        if any(k in text for k in keys):
            found.add(pid)
    grew = True
    while grew:  # descendants of a batch process are the batch's too
        grew = False
        for pid, ppid in parents.items():
            if pid not in found and ppid in found:
                found.add(pid)
                grew = True
    return sorted(found)


def memory_cgroup(pid: int) -> Path | None:
    """The memory cgroup's folder of ``pid``: the v1 ``memory`` controller's, else v2's."""
    text = procfs.cgroup(pid) or ""
    v2 = None
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return CGROUP_ROOT / "memory" / path.lstrip("/")
        if controllers == "":
            v2 = CGROUP_ROOT / path.lstrip("/")
    if v2 is not None and (v2 / "memory.current").exists():
        return v2
    return None


def cgroup_usage(pids: Iterable[int], keys: Iterable[str]) -> tuple[int, int]:
    """(bytes, cgroups): the summed usage of the pids' memory cgroups naming a key,
    a nested one counted once (with its top)."""
    keys = [k for k in keys if k]
    groups = {
        g
        for g in (memory_cgroup(p) for p in pids)
        if g is not None and any(k in str(g) for k in keys)
    }
    tops = {g for g in groups if not any(o != g and o in g.parents for o in groups)}
    total = 0
    for g in tops:
        for name in ("memory.usage_in_bytes", "memory.current"):
            text = procfs.read_text(g / name).strip()
            if text:
                total += int(text)
                break
    return total, len(tops)


def client_daemons(target) -> list[tuple[str, int, str]]:
    """The daemons ``target``'s client talks to (its ``daemon_sockets``), as (name, pid,
    start time): the processes listening on their sockets now."""
    return [
        (name, pid, procfs.start_time(pid) or "")
        for name, sock in target.daemon_sockets()
        for pid in procfs.socket_listeners(sock)[:1]
    ]


def daemons_pss(pinned: Sequence[tuple[str, int, str]]) -> int | None:
    """The pinned daemons' summed PSS; None when one is gone or restarted since."""
    if any(procfs.start_time(pid) != start for _, pid, start in pinned):
        return None
    return sum(pss(pid) for _, pid, _ in pinned)


class DensityWriter:
    """density.csv, appended and flushed per level (a crash keeps what was read)."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, rows: Iterable[dict]) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, DENSITY_COLUMNS, extrasaction="ignore")
            if new:
                w.writeheader()
            for row in rows:
                w.writerow({k: "" if row.get(k) is None else row.get(k) for k in DENSITY_COLUMNS})


class DensityRunner(TrialRunner):
    """One density trial: every level of ``levels`` on one target (module docstring)."""

    def __init__(
        self,
        experiment: Experiment,
        steps: Sequence[str],
        *,
        levels: Sequence[int],
        out_dir: Path,
        quiesce: Callable[[], object] | None = None,
        settle_s: float = 1.0,
        floor_mb: int = 2048,
        available: Callable[[], int] = mem_available,
        **kw,
    ):
        super().__init__(experiment, steps, **kw)
        self.levels = tuple(levels)
        self.settle_s, self.floor = float(settle_s), int(floor_mb) * 1_000_000
        self.available = available
        self.writer = DensityWriter(Path(out_dir) / "density.csv")
        # before each reading: sync and drop the page cache (root); tests may pass a no-op
        self.quiesce = quiesce if quiesce is not None else conditions.drop_caches

    def available_after_drop(self) -> int:
        """``sync``, drop the page cache, and read :func:`available` at once, before
        anything else: the pages a drop freed wait on the per-CPU lists, which
        MemAvailable leaves out, and come back into it as the host allocates, so a
        reading taken after the level's process scan — longer with more containers —
        read more of them at higher N and bent the slope down (docs/DESIGN.md, density)."""
        self.quiesce()
        return available()

    def _memory_rows(
        self,
        base: dict,
        n: int,
        keys: dict[str, list[str]],
        before: set,
        avail0: int,
        pinned: Sequence[tuple[str, int, str]],
        daemons0: int | None,
    ) -> list[dict]:
        fall = avail0 - self.available_after_drop()  # first: before the scan below
        flat = [k for ks in keys.values() for k in ks]
        procs = batch_processes(flat, before, skip=[os.getpid()])
        texts = [" ".join(procfs.cmdline(p)) + "\n" + (procfs.cgroup(p) or "") for p in procs]
        missing = [
            cid for cid, ks in keys.items() if not any(k in t for k in ks if k for t in texts)
        ]
        pss_sum = sum(pss(p) for p in procs)
        cg_bytes, cg_count = cgroup_usage(procs, flat)
        now = daemons_pss(pinned)
        names = ",".join(name for name, _, _ in pinned)
        grew: int | None = None
        if pinned and (now is None or daemons0 is None):
            names += " (restarted during the trial: growth unknown)"
        elif pinned and now is not None and daemons0 is not None:
            grew = now - daemons0
        common = {
            **base,
            "n": n,
            "daemons": names,
            "daemons_bytes": grew,
            "processes": len(procs),
            "cgroups": cg_count,
            "ok": True,
            "error": "",
        }
        if missing:  # a container of the batch has no process: the reading is not of N
            common.update(
                ok=False,
                error=f"no process found for {len(missing)} of the "
                f"{len(keys)} containers ({', '.join(missing[:3])}): exited, or "
                "removed by someone else",
            )
        rows = [
            {**common, "method": "memavailable", "bytes": fall},
            {**common, "method": "pss", "bytes": pss_sum},
            {
                **common,
                "method": "cgroup",
                "bytes": cg_bytes,
                **(
                    {"ok": False, "error": "no memory cgroup of the batch found"}
                    if cg_count == 0 and not missing
                    else {}
                ),
            },
        ]
        return rows

    def _bring_up(self, state: UnitState, cid: str) -> str:
        """Create and start ``cid`` (untimed load); "" or why it failed."""
        target = state.target
        for step in self.experiment.chains[0]:
            for action in target.step_actions(step, cid):
                for m in self.perform(action):
                    state.count_command(f"bring-up {step.name}", m.timed_out, m.describe_failure())
                    if not m.ok:
                        return f"bring-up {step.name} of {cid} failed: {m.describe_failure()}"
        return ""

    def run(self, state: UnitState, rnd: int, warmup: bool) -> Rows:
        target = state.target
        base = {
            "run_id": self.run_id,
            "client": target.client,
            "runtime": target.runtime.name,
            "round": rnd,
            "trial": state.trials_done,
            "warmup": warmup,
        }
        rows: Rows = []
        batch: list[str] = []
        keys: dict[str, list[str]] = {}  # container → what names it
        failed = ""
        per_container = 0.0  # the largest method's bytes per container at the last level
        try:
            avail0 = self.available_after_drop()
            before = snapshot()
            pinned = client_daemons(target)
            daemons0 = daemons_pss(pinned)
            for n in self.levels:
                if failed:
                    self.writer.write(
                        {**base, "n": n, "method": m, "ok": False, "error": f"not run: {failed}"}
                        for m in METHODS
                    )
                    rows += [{**r, "n": n} for r in self._not_run(state, rnd, warmup, failed)]
                    continue
                refusal = self.refusal(target, n, len(batch), per_container)
                if refusal:
                    self.say(refusal)
                    failed = refusal
                    self.writer.write(
                        {**base, "n": n, "method": m, "ok": False, "error": refusal}
                        for m in METHODS
                    )
                    rows += [{**r, "n": n} for r in self._not_run(state, rnd, warmup, refusal)]
                    continue
                while len(batch) < n and not failed:
                    cid = self.next_cid("d")
                    batch.append(cid)
                    failed = self._bring_up(state, cid)
                    keys[cid] = target.container_keys(cid)
                if failed:
                    self.writer.write(
                        {**base, "n": n, "method": m, "ok": False, "error": failed} for m in METHODS
                    )
                    rows += [{**r, "n": n} for r in self._not_run(state, rnd, warmup, failed)]
                    continue
                time.sleep(self.settle_s)
                read = self._memory_rows(base, n, keys, before, avail0, pinned, daemons0)
                self.writer.write(read)
                per_container = max([r["bytes"] / n for r in read if r["ok"]] + [0])
                self._trial_started = False
                timed = self.run_chain(state, rnd, warmup, self.experiment.chains[0])
                rows += [{**r, "n": n} for r in timed]
                for cid in {r["container_id"] for r in timed if r.get("container_id")}:
                    self.remove(target, cid)
        finally:
            for cid in batch:
                self.remove(target, cid)
        return rows

    def refusal(self, target, n: int, running: int, per_container: float) -> str:
        """Why level ``n`` must not start (its estimate would leave MemAvailable under the
        floor), or "". The estimate: the largest method's bytes per container at the last
        level read, at least the runtime's ``expected_mb``, times the containers
        to add plus the timed one."""
        prior = target.runtime.expected_mb * 1_000_000
        each = max(per_container, prior)
        need = (n - running + 1) * each
        left = self.available() - need
        if left >= self.floor:
            return ""
        source = "the last level" if per_container > prior else "the prior"
        return (
            f"refused: level N={n} of {target.label} needs about {need / 1e6:.0f} MB "
            f"({each / 1e6:.1f} MB per container, from {source}) and would leave "
            f"MemAvailable at {left / 1e6:.0f} MB, under the floor of "
            f"{self.floor / 1e6:.0f} MB (--memory-floor)"
        )

    def _not_run(self, state: UnitState, rnd: int, warmup: bool, why: str) -> Rows:
        return [
            self.row(state, rnd, warmup, s.name, "", error=f"not run: {why}")
            for s in self.experiment.chains[0]
            if s.name in self.steps
        ]
