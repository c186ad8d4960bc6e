"""Where the time goes inside a step: kernel-traced phases of a timed action.

A :class:`Tracer` runs one bpftrace process for a whole run (it takes 1–2 s to
attach, so never one per trial). It follows the process tree of rtlab itself —
every task forked, directly or not, from the rtlab process, hence every timed
action's processes — on tracepoints only (this kernel has no kprobes):
``sched:sched_process_fork/exec/exit`` and the ``syscalls`` that mark a
container's set-up (unshare, clone with namespace flags, setns, mkdir/openat
under /sys/fs/cgroup, mount, pivot_root, seccomp, prctl, capset, wait4). Times
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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

TRACEFS = Path("/sys/kernel/tracing")
ATTACH_TIMEOUT_S = 30.0
UNATTRIBUTED = "unattributed"

# bpftrace program: $1 is the root pid (rtlab). Tracked by task id, threads included.
SCRIPT = r"""
BEGIN { printf("READY\n"); }
tracepoint:sched:sched_process_fork /@t[args->parent_pid] || args->parent_pid == $1/ {
  @t[args->child_pid] = 1; printf("E %llu %d %d fork %d\n", nsecs, pid, tid, args->child_pid); }
tracepoint:sched:sched_process_exec /@t[tid]/ {
  printf("E %llu %d %d exec %s\n", nsecs, pid, tid, str(args->filename)); }
tracepoint:sched:sched_process_exit /@t[tid]/ {
  if (pid == tid) { printf("E %llu %d %d exit\n", nsecs, pid, tid); } delete(@t[tid]); }
tracepoint:syscalls:sys_enter_unshare /@t[tid]/ {
  printf("E %llu %d %d ns unshare %x\n", nsecs, pid, tid, args->unshare_flags); }
tracepoint:syscalls:sys_enter_clone /@t[tid] && (args->clone_flags & 0x7e020000)/ {
  printf("E %llu %d %d ns clone %x\n", nsecs, pid, tid, args->clone_flags); }
tracepoint:syscalls:sys_enter_setns /@t[tid]/ {
  printf("E %llu %d %d ns setns %x\n", nsecs, pid, tid, args->flags); }
tracepoint:syscalls:sys_enter_mkdirat /@t[tid] && strncmp(str(args->pathname), "/sys/fs/cgroup", 14) == 0/ {
  printf("E %llu %d %d cgroup %s\n", nsecs, pid, tid, str(args->pathname)); }
tracepoint:syscalls:sys_enter_openat /@t[tid] && strncmp(str(args->filename), "/sys/fs/cgroup/", 15) == 0/ {
  printf("E %llu %d %d cgroup %s\n", nsecs, pid, tid, str(args->filename)); }
tracepoint:syscalls:sys_enter_mount /@t[tid]/ {
  printf("E %llu %d %d mount %s\n", nsecs, pid, tid, str(args->dir_name)); }
tracepoint:syscalls:sys_enter_pivot_root /@t[tid]/ {
  printf("E %llu %d %d pivot_root\n", nsecs, pid, tid); }
tracepoint:syscalls:sys_enter_seccomp /@t[tid] && args->op == 1/ {
  printf("E %llu %d %d sec seccomp\n", nsecs, pid, tid); }
tracepoint:syscalls:sys_enter_prctl /@t[tid] && (args->option == 22 || args->option == 24 || args->option == 38)/ {
  printf("E %llu %d %d sec prctl %d\n", nsecs, pid, tid, args->option); }
tracepoint:syscalls:sys_enter_capset /@t[tid]/ {
  printf("E %llu %d %d sec capset\n", nsecs, pid, tid); }
tracepoint:syscalls:sys_exit_wait4 /@t[tid] && args->ret > 0/ {
  printf("E %llu %d %d reaped %d\n", nsecs, pid, tid, args->ret); }
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


# Markers: "exec" (any exec), "exec:<prefix>" (an exec of a path starting so),
# "exec-not:<p1>|<p2>" (an exec of any other path: the workload),
# "ns", "cgroup", "mount", "pivot_root", "sec" (kinds of event above),
# "exit-exec" (the exit of the process whose exec closed the previous phase),
# "exit-runtime" (the exit of the process of the step's first exec: the runtime's CLI),
# "end" (the step's end: only last).
PHASES: dict[str, dict[str, list[tuple[str, str]]]] = {
    "runc": {
        "run": [
            ("client spawn", "exec"),
            ("runtime process", "exec:/proc/self/exe"),
            ("re-exec'd init (nsexec)", "ns"),
            ("namespaces + cgroups", "mount"),
            ("mounts + pivot_root", "pivot_root"),
            ("masked/readonly paths", "sec"),
            ("seccomp + capabilities", "exec-not:/proc/|/dev/fd/|/usr/"),
            ("workload", "exit-exec"),
            ("reap + teardown", "end"),
        ],
        "create": [
            ("client spawn", "exec"),
            ("runtime process", "exec:/proc/self/exe"),
            ("re-exec'd init (nsexec)", "ns"),
            ("namespaces + cgroups", "mount"),
            ("mounts + pivot_root", "pivot_root"),
            ("masked/readonly paths", "sec"),
            ("seccomp + capabilities, then the runtime's exit", "exit-runtime"),
            ("reap", "end"),
        ],
        # runc start writes the exec fifo and exits; the container's init then execs the
        # workload, before or after that exit (a race: seen both ways in make test), so the
        # workload's exec is no marker of start
        "start": [
            ("client spawn", "exec"),
            ("runtime process (opens the exec fifo, exits)", "exit-runtime"),
            ("reap", "end"),
        ],
    },
    "crun": {
        "run": [
            ("client spawn", "exec"),
            ("runtime process", "exec:/dev/fd/"),
            ("re-exec'd runtime (cloned binary)", "ns"),
            ("namespaces", "cgroup"),
            ("cgroups", "mount"),
            ("mounts + pivot_root", "pivot_root"),
            ("seccomp + capabilities", "exec-not:/proc/|/dev/fd/|/usr/"),
            ("workload", "exit-exec"),
            ("reap + teardown", "end"),
        ],
        "create": [
            ("client spawn", "exec"),
            ("runtime process", "exec:/dev/fd/"),
            ("re-exec'd runtime (cloned binary)", "ns"),
            ("namespaces", "cgroup"),
            ("cgroups", "mount"),
            ("mounts + pivot_root", "pivot_root"),
            ("seccomp + capabilities, then the runtime's exit", "exit-runtime"),
            ("reap", "end"),
        ],
        "start": [  # crun exits after opening the exec fifo, before the workload's exec
            ("client spawn", "exec"),
            ("runtime process (opens the exec fifo, exits)", "exit-runtime"),
            ("reap", "end"),
        ],
    },
}


def family(runtime: str) -> str:
    """The phase family of a runtime name (runsc-kvm → runsc)."""
    return runtime.split("-", 1)[0]


def definitions(runtime: str, step: str) -> Optional[list[tuple[str, str]]]:
    return PHASES.get(family(runtime), {}).get(step)


def parse(lines: Iterable[str]) -> list[Event]:
    events = []
    for line in lines:
        parts = line.rstrip("\n").split(" ", 5)
        if len(parts) < 5 or parts[0] != "E":
            continue
        try:
            events.append(Event(int(parts[1]), int(parts[2]), int(parts[3]), parts[4],
                                parts[5] if len(parts) > 5 else ""))
        except ValueError:
            continue
    events.sort(key=lambda e: e.ns)
    return events


def _matches(marker: str, event: Event, last: Optional[Event],
             first: Optional[Event] = None) -> bool:
    if marker == "exit-runtime":
        return event.kind == "exit" and first is not None and event.pid == first.pid
    if marker == "exit-exec":
        return event.kind == "exit" and last is not None and event.pid == last.pid
    if marker.startswith("exec-not:"):
        return event.kind == "exec" and not event.arg.startswith(tuple(marker[9:].split("|")))
    if marker.startswith("exec:"):
        return event.kind == "exec" and event.arg.startswith(marker[5:])
    return event.kind == marker


def phases(events: Sequence[Event], start_ns: int, end_ns: int,
           definition: Sequence[tuple[str, str]]) -> list[Phase]:
    """Cut the events of one step's window [start_ns, end_ns] into named phases.

    Contiguous: the phases (``unattributed`` included) add up to the window.
    """
    window = [e for e in events if start_ns <= e.ns <= end_ns]
    out: list[Phase] = []
    boundary = start_ns
    pending_missing = False
    last: Optional[Event] = None
    first = next((e for e in window if e.kind == "exec"), None)
    for name, marker in definition:
        if marker == "end":
            found_ns = end_ns
            hit = None
        else:
            hit = next((e for e in window
                        if e.ns >= boundary and _matches(marker, e, last, first)), None)
            if hit is None:
                pending_missing = True
                continue
            found_ns = hit.ns
        if pending_missing:  # this phase and the unseen ones before it: not attributed
            out.append(Phase(UNATTRIBUTED, (boundary - start_ns) / 1e9,
                             (found_ns - boundary) / 1e9))
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
    subprocess.run(["mount", "-t", "tracefs", "tracefs", str(TRACEFS)], check=True,
                   capture_output=True, timeout=30)
    from rtlab.host import ledger
    ledger.add(TRACEFS_MOUNTS, str(TRACEFS))
    return True


def purge_tracefs(say=print) -> list[str]:
    """Unmount the tracefs mounts the ledger names (purge); return what was undone."""
    from rtlab.host import ledger
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


class Tracer:
    """One bpftrace process following rtlab's process tree; events read at the end.

    Use as a context manager: it starts (and waits until attached) on enter and
    stops its own process (by pid) on exit, Ctrl-C included.
    """

    def __init__(self, out: Path, *, root_pid: Optional[int] = None) -> None:
        self.out = out
        self.root_pid = root_pid or os.getpid()
        self.proc: Optional[subprocess.Popen] = None
        self.attach_s: Optional[float] = None

    def start(self) -> "Tracer":
        binary = shutil.which("bpftrace")
        if binary is None:
            raise FileNotFoundError("bpftrace not found: apt-get install bpftrace "
                                    "(--trace needs it)")
        ensure_tracefs()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        err = self.out.with_suffix(".err")
        t0 = time.monotonic()
        with open(self.out, "w") as fo, open(err, "w") as fe:
            self.proc = subprocess.Popen([binary, "-e", SCRIPT, str(self.root_pid)], stdout=fo,
                                         stderr=fe, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        # ready when an exec of a probe process (a child of the root) shows in the trace
        probe_seen = False
        while not probe_seen:
            if "READY" in self.out.read_text():
                if self.root_pid == os.getpid():
                    subprocess.run(["true"], check=False)
                    probe_seen = any(e.kind == "exec" for e in self.events())
                else:
                    probe_seen = True
            if self.proc.poll() is not None:
                tail = [ln for ln in err.read_text().splitlines() if "RLIMIT_MEMLOCK" not in ln]
                raise RuntimeError(f"bpftrace exited {self.proc.returncode}: "
                                   f"{' '.join(tail)[-300:]}")
            if time.monotonic() - t0 > ATTACH_TIMEOUT_S:
                self.stop()
                raise RuntimeError(f"bpftrace did not attach within {ATTACH_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        self.attach_s = time.monotonic() - t0
        return self

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

    def events(self) -> list[Event]:
        return parse(self.out.read_text().splitlines())

    def __enter__(self) -> "Tracer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- traced trials in a collect run ------------------------------------------------------
PHASE_COLUMNS = ("run_id", "client", "runtime", "pace_s", "round", "trial", "warmup", "step",
                 "container_id", "wall_s", "phase", "start_s", "dur_s")
TRACED = "traced"  # the condition column: True on the traced twin of each unit


@dataclass
class Window:
    """One traced step: its rows' identity and its span on the monotonic clock."""

    row: dict
    start_ns: int
    end_ns: int


class TracedRun:
    """``--trace``: every unit gets a traced twin (same target and pace, ``traced`` True),
    interleaved with it by the scheduler and never pooled with it; one tracer for the run,
    started before the first round and stopped after the last (or on Ctrl-C);
    ``phases.csv`` written from the traced steps' windows at the end."""

    def __init__(self, run_dir: Path, run_id: str, say=print) -> None:
        self.run_dir, self.run_id, self.say = run_dir, run_id, say
        # a resumed run keeps the earlier sessions' events: one file per session
        trace_dir = run_dir / "trace"
        n = len(list(trace_dir.glob("events*.txt"))) if trace_dir.is_dir() else 0
        self.tracer = Tracer(run_dir / "trace" / (f"events-{n + 1}.txt" if n else "events.txt"))
        self.windows: list[Window] = []
        self.current: Optional[tuple] = None  # (state, round, warmup) of a traced trial

    @staticmethod
    def twins(states: list, make) -> list:
        """Each unit state and its traced twin, side by side (``make(unit)`` → a state)."""
        out = []
        for state in states:
            unit = state.unit
            unit.condition = {**unit.condition, TRACED: False}
            twin = type(unit)(unit.target, {**unit.condition, TRACED: True},
                              suffix=(unit.suffix or "") + " traced")
            out += [state, make(twin)]
        return out

    def start(self) -> None:
        self.tracer.start()
        self.say(f"tracing: bpftrace attached in {self.tracer.attach_s:.1f} s "
                 f"(pid {self.tracer.proc.pid})")

    def wrap(self, runner) -> None:
        """Record the window of every step ``runner`` times while a traced trial runs."""
        inner = runner.time_step

        def time_step(target, step, cids):
            ms = inner(target, step, cids)
            end = time.perf_counter_ns()
            if self.current is not None:
                state, rnd, warmup = self.current
                for cid, m in zip(cids, ms):
                    row = {"run_id": self.run_id, "client": target.client,
                           "runtime": target.runtime.name,
                           "pace_s": state.unit.condition.get("pace_s"), "round": rnd,
                           "trial": state.trials_done, "warmup": warmup, "step": step.name,
                           "container_id": cid, "wall_s": m.wall_s, "ok": m.ok}
                    self.windows.append(Window(row, end - int(m.wall_s * 1e9), end))
            return ms
        runner.time_step = time_step

    def trial(self, state, rnd: int, warmup: bool, run):
        """Run one trial (``run()``), recording its steps' windows when its unit is traced."""
        self.current = (state, rnd, warmup) if state.unit.condition.get(TRACED) else None
        try:
            return run()
        finally:
            self.current = None

    def finish(self) -> dict:
        """Stop the tracer, write phases.csv; return what run.json records."""
        self.tracer.stop()
        rows = phase_rows(self.tracer.events(), self.windows)
        write_phases(self.run_dir / "phases.csv", rows)
        return {"tracer": "bpftrace (tracepoints)", "attach_s": self.tracer.attach_s,
                "pid": self.tracer.proc.pid if self.tracer.proc else None,
                "traced_steps": len(self.windows), "phase_rows": len(rows),
                "events": str(self.tracer.out.relative_to(self.run_dir))}


def phase_rows(events: Sequence[Event], windows: Sequence[Window]) -> list[dict]:
    """phases.csv's rows: each traced, successful step whose runtime family and step
    have a definition, cut into its phases."""
    out = []
    for w in windows:
        definition = definitions(w.row["runtime"], w.row["step"])
        if definition is None or not w.row["ok"]:
            continue
        for p in phases(events, w.start_ns, w.end_ns, definition):
            out.append({**{k: w.row[k] for k in PHASE_COLUMNS[:10]}, "phase": p.phase,
                        "start_s": p.start_s, "dur_s": p.dur_s})
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
