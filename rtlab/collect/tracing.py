"""Where the time goes inside a step: kernel-traced phases of a timed action.

A :class:`Tracer` runs one bpftrace process for a whole run (it takes 1–2 s to
attach, so never one per trial). It follows the process tree of rtlab itself —
every task forked, directly or not, from the rtlab process while following is
switched on (a traced trial), hence every timed action's processes — and what
containerd and conmon fork meanwhile (the daemon clients' shims and runtimes), on
tracepoints only (this kernel has no kprobes): ``sched:sched_process_fork/exec/exit``,
``sched:sched_waking`` between the client, dockerd, containerd and the shim (the
hand-offs), and the ``syscalls`` that mark a container's set-up and teardown
(unshare, clone with namespace flags, setns, mkdir/openat/rmdir under
/sys/fs/cgroup, mount, pivot_root, seccomp, prctl, capset, wait4, kill,
pidfd_send_signal); a run of consecutive mounts, cgroup files, cgroup rmdirs or
capability drops prints only its first event (markers take the first match, so no
phase moves) and bpftrace runs at SCHED_IDLE — both keep tracing's cost down. Times
are ``nsecs`` (CLOCK_MONOTONIC), the clock ``measure`` times steps with, so a
step's window [end − wall, end] cuts its events out of the run's trace.

:data:`PHASES` holds the phase definitions, per runtime family and step, as
data: an ordered list of (phase, marker); a phase runs from the previous
boundary (the step's start for the first) to the first event after it that
matches its marker; the last phase ends at the step's end. A marker that is
never seen leaves its phase out and its time in an ``unattributed`` row, so
the phases of one trial always add up to its wall time and nothing is hidden.
Work that runs concurrently in another process (runc sets up cgroups in its
parent while the init is in nsexec) is counted in the phase whose interval it
falls in: the phases are the critical path as seen by these markers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rtlab.core import reaper
from rtlab.core.conditions import ROOTLESS_SUFFIX
from rtlab.core.phasedefs import (  # noqa: F401 (re-exported)
    PHASE_COLUMNS,
    PHASES,
    TRACED,
    UNATTRIBUTED,
    definitions,
    family,
)
from rtlab.host import ledger

TRACEFS = Path("/sys/kernel/tracing")
ATTACH_TIMEOUT_S = 30.0

# The root process opens these (they need not exist) to switch following on and off
# (gated tracers): children forked while off are not followed, so an untraced twin's
# processes print nothing (the probes still run, system-wide, and cost their filter).
SWITCH_ON = "/run/rtlab-trace-on"
SWITCH_OFF = "/run/rtlab-trace-off"

# bpftrace program: $1 is the root pid (rtlab); $2 is 1 when gated (children of the root
# are followed only while switched on), 0 to follow every child. Tracked by task id,
# threads included.
SCRIPT = r"""
BEGIN { printf("READY\n"); @on = 0; @last = 0; }
tracepoint:syscalls:sys_enter_openat /pid == $1 && str(args->filename) == "%(on)s"/ { @on = 1; }
tracepoint:syscalls:sys_enter_openat /pid == $1 && str(args->filename) == "%(off)s"/ { @on = 0; }
tracepoint:sched:sched_process_fork /@t[args->parent_pid] || (pid == $1 && ($2 == 0 || @on))
    || (($2 == 0 || @on) && (comm == "containerd" || comm == "conmon"))/ {
  @t[args->child_pid] = 1; printf("E %%llu %%d %%d fork %%d\n", nsecs, pid, tid, args->child_pid); @last = 0; }
tracepoint:sched:sched_process_exec /@t[tid]/ {
  printf("E %%llu %%d %%d exec %%s\n", nsecs, pid, tid, str(args->filename)); @last = 0; }
tracepoint:sched:sched_process_exit /@t[tid]/ {
  if (pid == tid) { printf("E %%llu %%d %%d exit\n", nsecs, pid, tid); } delete(@t[tid]); @last = 0; }
tracepoint:syscalls:sys_enter_unshare /@t[tid]/ {
  printf("E %%llu %%d %%d ns unshare %%x\n", nsecs, pid, tid, args->unshare_flags); @last = 0; }
tracepoint:syscalls:sys_enter_clone /@t[tid] && (args->clone_flags & 0x7e020000)/ {
  printf("E %%llu %%d %%d ns clone %%x\n", nsecs, pid, tid, args->clone_flags); @last = 0; }
tracepoint:syscalls:sys_enter_setns /@t[tid]/ {
  printf("E %%llu %%d %%d ns setns %%x\n", nsecs, pid, tid, args->flags); @last = 0; }
tracepoint:syscalls:sys_enter_mkdirat /@t[tid] && strncmp(str(args->pathname), "/sys/fs/cgroup", 14) == 0/ {
  if (@last != 3) { printf("E %%llu %%d %%d cgroup %%s\n", nsecs, pid, tid, str(args->pathname)); } @last = 3; }
tracepoint:syscalls:sys_enter_openat /@t[tid] && strncmp(str(args->filename), "/sys/fs/cgroup/", 15) == 0/ {
  if (@last != 3) { printf("E %%llu %%d %%d cgroup %%s\n", nsecs, pid, tid, str(args->filename)); } @last = 3; }
tracepoint:syscalls:sys_enter_mount /@t[tid]/ {
  if (@last != 1) { printf("E %%llu %%d %%d mount %%s\n", nsecs, pid, tid, str(args->dir_name)); } @last = 1; }
tracepoint:syscalls:sys_enter_pivot_root /@t[tid]/ {
  printf("E %%llu %%d %%d pivot_root\n", nsecs, pid, tid); @last = 0; }
tracepoint:syscalls:sys_enter_seccomp /@t[tid] && args->op == 1/ {
  printf("E %%llu %%d %%d sec seccomp\n", nsecs, pid, tid); @last = 0; }
tracepoint:syscalls:sys_enter_prctl /@t[tid] && (args->option == 22 || args->option == 38)/ {
  printf("E %%llu %%d %%d sec prctl %%d\n", nsecs, pid, tid, args->option); @last = 0; }
tracepoint:syscalls:sys_enter_prctl /@t[tid] && args->option == 24/ {
  if (@last != 2) { printf("E %%llu %%d %%d sec prctl %%d\n", nsecs, pid, tid, args->option); } @last = 2; }
tracepoint:syscalls:sys_enter_capset /@t[tid]/ {
  printf("E %%llu %%d %%d sec capset\n", nsecs, pid, tid); @last = 0; }
tracepoint:syscalls:sys_exit_wait4 /@t[tid] && args->ret > 0/ {
  printf("E %%llu %%d %%d reaped %%d\n", nsecs, pid, tid, args->ret); @last = 0; }
tracepoint:syscalls:sys_enter_kill /@t[tid]/ {
  printf("E %%llu %%d %%d kill %%d %%d\n", nsecs, pid, tid, args->sig, args->pid); @last = 0; }
tracepoint:syscalls:sys_enter_pidfd_send_signal /@t[tid]/ {
  printf("E %%llu %%d %%d kill %%d pidfd\n", nsecs, pid, tid, args->sig); @last = 0; }
tracepoint:syscalls:sys_enter_rmdir /@t[tid] && strncmp(str(args->pathname), "/sys/fs/cgroup/", 15) == 0/ {
  if (@last != 4) { printf("E %%llu %%d %%d cgroup rmdir %%s\n", nsecs, pid, tid, str(args->pathname)); } @last = 4; }
tracepoint:syscalls:sys_enter_unlinkat /@t[tid] && (args->flag & 0x200) && strncmp(str(args->pathname), "/sys/fs/cgroup/", 15) == 0/ {
  if (@last != 4) { printf("E %%llu %%d %%d cgroup rmdir %%s\n", nsecs, pid, tid, str(args->pathname)); } @last = 4; }
""" % {"on": SWITCH_ON, "off": SWITCH_OFF}  # noqa: UP031 (str.format: the braces are bpftrace's)

# The hand-offs between the daemon clients' processes (the "wake" markers of their
# records' phases, core/clientdefs.py):
# sched_waking fires on every wake-up of the host, so it is attached only when a traced
# client needs it (it cost a traced crun run a few per cent that the OCI CLI never uses).
WAKE_PROBE = r"""
tracepoint:sched:sched_waking /($2 == 0 || @on) && (@t[tid] || comm == "dockerd" || comm == "containerd")
    && (args->comm == "dockerd" || args->comm == "containerd" || args->comm == "containerd-shim")
    && strncmp(comm, args->comm, 16) != 0/ {
  printf("E %llu %d %d wake %s>%s %d\n", nsecs, pid, tid, comm, args->comm, args->pid); @last = 0; }
"""


@dataclass(frozen=True)
class Event:
    ns: int
    pid: int
    tid: int
    kind: str  # fork exec exit ns cgroup mount pivot_root sec reaped
    arg: str


@dataclass(frozen=True)
class Phase:
    phase: str
    start_s: float  # from the step's start
    dur_s: float


def parse(lines: Iterable[str]) -> list[Event]:
    events = []
    for line in lines:
        parts = line.rstrip("\n").split(" ", 5)
        if len(parts) < 5 or parts[0] != "E":
            continue
        try:
            events.append(
                Event(
                    int(parts[1]),
                    int(parts[2]),
                    int(parts[3]),
                    parts[4],
                    parts[5] if len(parts) > 5 else "",
                )
            )
        except ValueError:
            continue
    events.sort(key=lambda e: e.ns)
    return events


def _matches(marker: str, event: Event, last: Event | None, first: Event | None = None) -> bool:
    if marker == "exec":  # the client's exec
        return event.kind == "exec" and (first is None or event.pid == first.pid)
    if marker == "exit-runtime":
        return event.kind == "exit" and first is not None and event.pid == first.pid
    if marker == "exit-exec":
        return event.kind == "exit" and last is not None and event.pid == last.pid
    if marker.startswith("exec-not:"):
        return event.kind == "exec" and not event.arg.startswith(tuple(marker[9:].split("|")))
    if marker.startswith("exec-name:"):
        return event.kind == "exec" and event.arg.rsplit("/", 1)[-1] == marker[10:]
    kind, colon, prefix = marker.partition(":")
    return event.kind == kind and (not colon or event.arg.startswith(prefix))


FORK_LEAD_NS = 50_000_000  # how long before a step's window its client's fork may come


def phases(
    events: Sequence[Event],
    start_ns: int,
    end_ns: int,
    definition: Sequence[tuple[str, str]],
    root_pid: int | None = None,
) -> list[Phase]:
    """Cut the events of one step's window [start_ns, end_ns] into named phases.

    Contiguous: the phases (``unattributed`` included) add up to the window. The
    client is the first exec of a process the root (``root_pid``: rtlab) forked in the
    window (or just before it) — not another followed process's exec (containerd's
    children of another container) — or, without one, the window's first exec.
    """
    window = [e for e in events if start_ns <= e.ns <= end_ns]
    out: list[Phase] = []
    boundary = start_ns
    pending_missing = False
    last: Event | None = None
    # the fork comes just before the timer starts: looked for a little before the window
    spawned = {
        e.arg
        for e in events
        if e.kind == "fork" and e.pid == root_pid and start_ns - FORK_LEAD_NS <= e.ns <= end_ns
    }
    first = next((e for e in window if e.kind == "exec" and str(e.pid) in spawned), None) or next(
        (e for e in window if e.kind == "exec"), None
    )
    after = 0  # the window's events from here on can close the next phase
    for name, marker in definition:
        if marker == "end":
            found_ns = end_ns
            hit = None
        else:
            at = next(
                (i for i in range(after, len(window)) if _matches(marker, window[i], last, first)),
                None,
            )
            if at is None:
                pending_missing = True
                continue
            hit, after = window[at], at + 1  # the next marker: an event after this one
            found_ns = hit.ns
        if pending_missing:  # this phase and the unseen ones before it: not attributed
            out.append(
                Phase(UNATTRIBUTED, (boundary - start_ns) / 1e9, (found_ns - boundary) / 1e9)
            )
            pending_missing = False
        else:
            out.append(Phase(name, (boundary - start_ns) / 1e9, (found_ns - boundary) / 1e9))
        if hit is not None and hit.kind == "exec":
            last = hit
        boundary = found_ns
    return out


TRACEFS_MOUNTS = "tracefs_mounts"  # ledger kind: the tracefs mounts rtlab made (purge unmounts)


def ensure_tracefs() -> bool:
    """Mount tracefs at /sys/kernel/tracing when it is not; True when rtlab mounted it
    (then recorded in the ledger, so ``rtlab setup --purge`` unmounts it)."""
    if (TRACEFS / "events").is_dir():
        return False
    subprocess.run(
        ["mount", "-t", "tracefs", "tracefs", str(TRACEFS)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    ledger.add(TRACEFS_MOUNTS, str(TRACEFS))
    return True


def purge_tracefs(say=print) -> list[str]:
    """Unmount the tracefs mounts the ledger names (purge); return what was undone."""
    done = []
    for mount in ledger.items(TRACEFS_MOUNTS):
        if (Path(mount) / "events").is_dir():
            r = subprocess.run(["umount", mount], capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                say(f"purge: tracefs at {mount} left mounted: {r.stderr.strip()}")
                continue
            say(f"purge: unmounted the tracefs rtlab mounted at {mount}")
            done.append(f"unmounted {mount}")
        ledger.discard(TRACEFS_MOUNTS, mount)
    return done


def missing_tool() -> str | None:
    """collect's one line when ``--trace`` cannot run for lack of its tool, else None."""
    if shutil.which("bpftrace") is None:
        return (
            "--trace needs bpftrace, which is not on PATH: apt-get install bpftrace "
            "(the Debian package; rtlab setup installs it)"
        )
    return None


class Tracer:
    """One bpftrace process following rtlab's process tree; events read at the end.

    Use as a context manager: it starts (and waits until attached) on enter and
    stops its own process (by pid) on exit, Ctrl-C included.
    """

    def __init__(
        self, out: Path, *, root_pid: int | None = None, gated: bool = False, wakes: bool = True
    ) -> None:
        self.out = out
        self.wakes = wakes  # attach WAKE_PROBE (the daemon clients' hand-offs)
        self.root_pid = root_pid or os.getpid()
        self.gated = gated  # follow the root's children only between on() and off()
        self.proc: subprocess.Popen | None = None
        self.attach_s: float | None = None

    def start(self) -> Tracer:
        binary = shutil.which("bpftrace")
        if binary is None:
            raise FileNotFoundError(
                "bpftrace not found: apt-get install bpftrace (--trace needs it)"
            )
        ensure_tracefs()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        err = self.out.with_suffix(".err")
        t0 = time.monotonic()
        with open(self.out, "w") as fo, open(err, "w") as fe, reaper.spawning():
            self.proc = subprocess.Popen(
                [
                    binary,
                    "-e",
                    SCRIPT + (WAKE_PROBE if self.wakes else ""),
                    str(self.root_pid),
                    "1" if self.gated else "0",
                ],
                stdout=fo,
                stderr=fe,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            reaper.own(self.proc.pid)  # its own session: the subreaper would take it otherwise
        # bpftrace prints each event as it comes (a wake-up per event): at SCHED_IDLE it
        # drains its buffers when a core is idle, not by taking a core from the traced
        # step (benchmarks/trace_cost.py measures what tracing costs)
        try:
            os.sched_setscheduler(self.proc.pid, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            pass
        # ready when an exec of a probe process (a child of the root) shows in the trace
        probe_seen = False
        while not probe_seen:
            if "READY" in self.out.read_text():
                if self.root_pid == os.getpid():
                    self.on()
                    subprocess.run(["true"], check=False)
                    self.off()
                    probe_seen = any(e.kind == "exec" for e in self.events())
                else:
                    probe_seen = True
            if self.proc.poll() is not None:
                tail = [ln for ln in err.read_text().splitlines() if "RLIMIT_MEMLOCK" not in ln]
                raise RuntimeError(
                    f"bpftrace exited {self.proc.returncode}: {' '.join(tail)[-300:]}"
                )
            if time.monotonic() - t0 > ATTACH_TIMEOUT_S:
                self.stop()
                raise RuntimeError(f"bpftrace did not attach within {ATTACH_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        self.attach_s = time.monotonic() - t0
        return self

    @staticmethod
    def _switch(path: str) -> None:
        try:  # the open itself is the signal (the tracer sees its path); the file need not exist
            os.close(os.open(path, os.O_RDONLY))
        except OSError:
            pass

    def on(self) -> None:
        """Follow the root's children forked from now on (a gated tracer)."""
        self._switch(SWITCH_ON)

    def off(self) -> None:
        """Stop following new children of the root (those followed stay followed)."""
        self._switch(SWITCH_OFF)

    def stop(self) -> None:
        """Stop bpftrace (SIGINT, then SIGKILL after 5 s) — only the process it started."""
        if self.proc is None or self.proc.poll() is not None:
            return
        time.sleep(0.1)  # let the last events through the perf buffer
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        reaper.disown(self.proc.pid)

    def events(self) -> list[Event]:
        return parse(self.out.read_text().splitlines())

    def __enter__(self) -> Tracer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- traced trials in a collect run ------------------------------------------------------


@dataclass
class Window:
    """One traced step: its rows' identity and its span on the monotonic clock."""

    row: dict
    start_ns: int
    end_ns: int
    # the step's phases as its target defines them (Target.phase_definitions); None: none
    definition: list | None = None


class TracedRun:
    """``--trace``: every unit gets a traced twin (same target and pace, ``traced`` True),
    interleaved with it by the scheduler and never pooled with it; one tracer for the run,
    started before the first round and stopped after the last (or on Ctrl-C);
    ``phases.csv`` written from the traced steps' windows at the end."""

    def __init__(self, run_dir: Path, run_id: str, say=print, *, wakes: bool = True) -> None:
        self.run_dir, self.run_id, self.say = run_dir, run_id, say
        # a resumed run keeps the earlier sessions' events: one file per session
        trace_dir = run_dir / "trace"
        n = len(list(trace_dir.glob("events*.txt"))) if trace_dir.is_dir() else 0
        self.tracer = Tracer(
            run_dir / "trace" / (f"events-{n + 1}.txt" if n else "events.txt"),
            gated=True,
            wakes=wakes,
        )
        self.windows: list[Window] = []
        self.current: tuple | None = None  # (state, round, warmup) of a traced trial

    @staticmethod
    def twins(states: list, make) -> list:
        """Each unit state and its traced twin, side by side (``make(unit)`` → a state)."""
        out = []
        for state in states:
            unit = state.unit
            unit.condition = {**unit.condition, TRACED: False}
            twin = type(unit)(
                unit.target,
                {**unit.condition, TRACED: True},
                suffix=(unit.suffix or "") + " traced",
            )
            out += [state, make(twin)]
        return out

    def start(self) -> None:
        proc = self.tracer.start().proc
        assert proc is not None  # start() either started bpftrace or raised
        self.say(f"tracing: bpftrace attached in {self.tracer.attach_s:.1f} s (pid {proc.pid})")

    def wrap(self, runner) -> None:
        """Record the window of every step ``runner`` times while a traced trial runs."""
        inner = runner.time_step

        def time_step(target, step, cids):
            ms = inner(target, step, cids)
            end = time.perf_counter_ns()
            if self.current is not None:
                state, rnd, warmup = self.current
                for cid, m in zip(cids, ms):
                    row = {
                        "run_id": self.run_id,
                        # rootless is a mode of the client: named as stats names it
                        "client": target.client
                        + (ROOTLESS_SUFFIX if getattr(target, "mode", "") == "rootless" else ""),
                        "runtime": target.runtime.name,
                        "pace_s": state.unit.condition.get("pace_s"),
                        "round": rnd,
                        "trial": state.trials_done,
                        "warmup": warmup,
                        "step": step.name,
                        "container_id": cid,
                        "wall_s": m.wall_s,
                        "ok": m.ok,
                    }
                    # the reap's own timestamp when the step kept it (a late return under
                    # load would shift the window past the step's first events)
                    stop = m.end_ns if getattr(m, "end_ns", None) else end
                    self.windows.append(
                        Window(
                            row,
                            stop - int(m.wall_s * 1e9),
                            stop,
                            target.phase_definitions(step.name),
                        )
                    )
            return ms

        runner.time_step = time_step

    def trial(self, state, rnd: int, warmup: bool, run):
        """Run one trial (``run()``), recording its steps' windows when its unit is traced."""
        self.current = (state, rnd, warmup) if state.unit.condition.get(TRACED) else None
        if self.current is not None:
            self.tracer.on()  # only the traced twin's processes are followed
        try:
            return run()
        finally:
            if self.current is not None:
                self.tracer.off()
            self.current = None

    def finish(self) -> dict:
        """Stop the tracer, write phases.csv; return what run.json records."""
        self.tracer.stop()
        rows = phase_rows(self.tracer.events(), self.windows, self.tracer.root_pid)
        write_phases(self.run_dir / "phases.csv", rows)
        return {
            "tracer": "bpftrace (tracepoints)",
            "attach_s": self.tracer.attach_s,
            "pid": self.tracer.proc.pid if self.tracer.proc else None,
            "traced_steps": len(self.windows),
            "phase_rows": len(rows),
            "events": str(self.tracer.out.relative_to(self.run_dir)),
        }


def phase_rows(
    events: Sequence[Event], windows: Sequence[Window], root_pid: int | None = None
) -> list[dict]:
    """phases.csv's rows: each traced, successful step whose runtime family and step
    have a definition, cut into its phases."""
    out = []
    for w in windows:
        definition = w.definition
        if definition is None or not w.row["ok"]:
            continue
        for p in phases(events, w.start_ns, w.end_ns, definition, root_pid):
            out.append(
                {
                    **{k: w.row[k] for k in PHASE_COLUMNS[:10]},
                    "phase": p.phase,
                    "start_s": p.start_s,
                    "dur_s": p.dur_s,
                }
            )
    return out


def write_phases(path: Path, rows: Sequence[dict]) -> None:
    """Append to phases.csv (a resumed run adds its rows to the earlier sessions')."""
    import csv

    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=PHASE_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)
