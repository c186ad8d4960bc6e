"""What a traced step is made of, by name: the vocabulary the tracer (collect/tracing.py)
writes and the analysis (analysis/phasestats.py, phaseplots.py) reads (issue 32: the
names analysis needs live in core, so analysis imports no collect module).

Each runtime family's phases of each step, as (phase name, the marker that ends it), and
a client's through its record (core/clientdefs.py: the daemon clients' hand-offs); the
name of time no marker explains; phases.csv's columns; the condition column of the
traced twin. Data only: no I/O.
"""

from __future__ import annotations

from rtlab.core import clientdefs, runtimes

UNATTRIBUTED = "unattributed"

# Markers: "exec" (the client's exec: phases()), "exec:<prefix>" (an exec of a path starting so),
# "exec-name:<name>" (an exec of a binary of that name, any folder),
# "exec-not:<p1>|<p2>" (an exec of any other path: the workload),
# "ns", "cgroup", "mount", "pivot_root", "sec", "kill", "wake" (kinds of event above),
# "<kind>:<prefix>" (that kind with an argument starting so: "sec:seccomp", "kill:9 ",
# "cgroup:rmdir", "wake:dockerd>containerd"),
# "exit-exec" (the exit of the process whose exec closed the previous phase),
# "exit-runtime" (the exit of the process of the step's first exec: the client's CLI),
# "end" (the step's end: only last).
_RUN_CLI = clientdefs.CLIENT_SPAWN
_EXIT_REAP = [("runtime's exit", "exit-runtime"), ("reap", "end")]

# runc and crun kill and delete: the CLI starts, acts and exits; the action marked
_RUNC_KILL = _RUN_CLI + [
    ("runtime process (Go start-up, state, seccomp probe)", "sec"),
    ("signal to the container (kill)", "kill"),
    *_EXIT_REAP,
]
_RUNC_DELETE = _RUN_CLI + [
    ("runtime process (Go start-up, state, seccomp probe)", "sec"),
    ("cgroup teardown (rmdir)", "cgroup:rmdir"),
    ("state removal", "exit-runtime"),
    ("reap", "end"),
]
_CRUN_KILL = _RUN_CLI + [
    ("runtime process", "exec:/dev/fd/"),
    ("re-exec'd runtime (cloned binary) to the signal", "kill"),
    *_EXIT_REAP,
]
_CRUN_DELETE = _RUN_CLI + [
    ("runtime process", "exec:/dev/fd/"),
    ("re-exec'd runtime (cloned binary), cgroup lookup", "cgroup"),
    ("cgroup teardown (rmdir)", "cgroup:rmdir"),
    ("state removal", "exit-runtime"),
    ("reap", "end"),
]
# runsc (gVisor): the CLI clones a gofer (the file proxy) then a sandbox (the Sentry)
_RUNSC_BOOT = [
    ("runsc start-up (Go runtime, spec; until the gofer's clone)", "ns"),
    ("gofer cloned, until the sandbox's clone", "ns"),
    ("gofer: mounts + pivot_root into the rootfs", "pivot_root"),
    ("sandbox: mounts + pivot_root", "pivot_root"),
    ("sandbox boot: the Sentry starts (until the gofer's seccomp lockdown)", "sec:seccomp"),
    ("the Sentry's first platform stub (until its seccomp)", "sec:seccomp"),
]
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
        "kill": _RUNC_KILL,
        "delete": _RUNC_DELETE,
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
        "kill": _CRUN_KILL,
        "delete": _CRUN_DELETE,
    },
    "runsc": {
        "create": _RUN_CLI
        + _RUNSC_BOOT
        + [("sandbox ready, runsc create exits", "exit-runtime"), ("reap", "end")],
        "run": _RUN_CLI
        + _RUNSC_BOOT
        + [
            ("workload in the sandbox, sandbox exits, runsc run exits", "exit-runtime"),
            ("reap", "end"),
        ],
        "start": _RUN_CLI
        + [
            ("runsc start-up, the start request to the sandbox", "sec:seccomp"),
            ("the container's process starts in the Sentry; runsc exits", "exit-runtime"),
            ("reap", "end"),
        ],
        "kill": _RUN_CLI
        + [
            ("runsc start-up", "kill"),
            ("signal delivered through the sandbox; runsc exits", "exit-runtime"),
            ("reap", "end"),
        ],
        # delete SIGKILLs the sandbox, then polls kill(sandbox, 0) every 100 ms until the
        # pid is gone: an exited sandbox is a zombie until its parent reaps it (the
        # DESIGN's "runsc delete" note), then the same for the gofer
        "delete": _RUN_CLI
        + [
            ("runsc start-up (until SIGKILL to the sandbox)", "kill:9 "),
            ("waiting for the sandbox's pid to go (kill 0 polls, 100 ms)", "kill:9 "),
            ("the gofer's SIGKILL and wait, state removal; runsc exits", "exit-runtime"),
            ("reap", "end"),
        ],
    },
}


def family(runtime: str) -> str:
    """The phase family of a runtime name: its record's (core/runtimes.py; runsc-kvm →
    runsc), else the part before the first "-" (a user's runsc-dev → runsc)."""
    known = runtimes.KNOWN.get(runtime)
    return known.phase_family if known else runtime.split("-", 1)[0]


def definitions(runtime: str, step: str, client: str | None = None) -> list[tuple[str, str]] | None:
    """The phases of ``step`` through ``client`` over ``runtime`` (None: not defined).
    Through the runtime's own CLI (``client`` None, or a client whose record says
    ``own_cli``), the runtime family's; through a daemon client, the client's hand-offs
    (its record's ``phases``, core/clientdefs.py), defined only over the family they
    hand off to (clientdefs.HANDOFF_FAMILY: runc)."""
    record = None if client is None else clientdefs.record(client)
    if client is not None and record is None:
        return None
    if record is None or record.own_cli:
        return PHASES.get(family(runtime), {}).get(step)
    if family(runtime) != clientdefs.HANDOFF_FAMILY:
        return None
    return record.phases.get(step)


PHASE_COLUMNS = (
    "run_id",
    "client",
    "runtime",
    "pace_s",
    "round",
    "trial",
    "warmup",
    "step",
    "container_id",
    "wall_s",
    "phase",
    "start_s",
    "dur_s",
)
TRACED = "traced"  # the condition column: True on the traced twin of each unit
