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


def _matches(marker: str, event: Event, last: Optional[Event]) -> bool:
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
    for name, marker in definition:
        if marker == "end":
            found_ns = end_ns
            hit = None
        else:
            hit = next((e for e in window if e.ns >= boundary and _matches(marker, e, last)), None)
            if hit is None:
                pending_missing = True
                continue
            found_ns = hit.ns
        if pending_missing:  # this phase and the unseen ones before it: not attributed
            out.append(Phase(UNATTRIBUTED, (boundary - start_ns) / 1e9, (found_ns - boundary) / 1e9))
            pending_missing = False
        else:
            out.append(Phase(name, (boundary - start_ns) / 1e9, (found_ns - boundary) / 1e9))
        if hit is not None and hit.kind == "exec":
            last = hit
        boundary = found_ns
    return out


def ensure_tracefs(record: Optional[Path] = None) -> bool:
    """Mount tracefs at /sys/kernel/tracing when it is not; True when rtlab mounted it.

    ``record`` (a file) gets the mount point written to it so purge can unmount it.
    """
    if (TRACEFS / "events").is_dir():
        return False
    subprocess.run(["mount", "-t", "tracefs", "tracefs", str(TRACEFS)], check=True,
                   capture_output=True, timeout=30)
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(str(TRACEFS) + "\n")
    return True


def unmount_recorded(record: Path) -> list[str]:
    """Unmount what :func:`ensure_tracefs` recorded (purge); return what was unmounted."""
    if not record.exists():
        return []
    done = []
    for line in record.read_text().split():
        r = subprocess.run(["umount", line], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            done.append(line)
    record.unlink()
    return done


class Tracer:
    """One bpftrace process following rtlab's process tree; events read at the end.

    Use as a context manager: it starts (and waits until attached) on enter and
    stops its own process (by pid) on exit, Ctrl-C included.
    """

    def __init__(self, out: Path, *, root_pid: Optional[int] = None,
                 tracefs_record: Optional[Path] = None) -> None:
        self.out = out
        self.root_pid = root_pid or os.getpid()
        self.tracefs_record = tracefs_record
        self.proc: Optional[subprocess.Popen] = None
        self.attach_s: Optional[float] = None

    def start(self) -> "Tracer":
        binary = shutil.which("bpftrace")
        if binary is None:
            raise FileNotFoundError("bpftrace not found: apt-get install bpftrace (tracing needs it)")
        ensure_tracefs(self.tracefs_record)
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
                raise RuntimeError(f"bpftrace exited {self.proc.returncode}: {' '.join(tail)[-300:]}")
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
