"""Time client commands: wall clock, CPU of the process tree each reaped, exit code.

The command is started with ``posix_spawn`` (vfork: no copy of the harness's
memory) in a session of its own, so a terminal's Ctrl-C reaches rtlab and not
the runtime, and a timed-out command can be killed with its whole process group.
Its end is awaited on a pidfd, so a timeout costs no polling; ``wait4`` then
reaps it and returns the CPU time of the process and every child it reaped.

Output goes to files, never to pipes: a detached ``create`` leaves the runtime's
init holding the caller's stdout/stderr, and reading a pipe to EOF would hang.

:func:`run_released` times k commands released together: each is forked
beforehand and blocks on one barrier pipe (so the fork is not timed); closing
the pipe's write end releases them all at once. Each command's wall time runs
from that release to its reap, and each child reports the moment it called
``execve``, its launch offset (``offset_s``). Each child says it is ready
(one byte on a ready pipe, just before it blocks on the barrier) and the
release waits for every child's byte (up to the timeout), so no child is
still setting itself up when the others are released. Same session, timeout and
process-group kill as :func:`run_timed`. actions.py names the kinds of timed
action built on these.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from rtlab.core import reaper, release_waiter

if TYPE_CHECKING:
    from resource import struct_rusage

STDERR_TAIL_BYTES = 2048


@dataclass(frozen=True)
class Measurement:
    """One timed command."""

    argv: tuple[str, ...]
    wall_s: float
    user_s: float
    sys_s: float
    exit_code: int | None  # None when killed by a signal or not started
    timed_out: bool
    stdout: str
    stderr_tail: str
    error: str = ""  # why it failed to start, when it did
    offset_s: float | None = None  # released together: from the release to its execve
    end_ns: int | None = None  # perf_counter_ns at the reap (a traced step's window ends here)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.error

    def describe_failure(self) -> str:
        """One line saying why the command failed ("" when it succeeded)."""
        if self.ok:
            return ""
        if self.error:
            return self.error
        if self.timed_out:
            return f"timed out after {self.wall_s:.1f} s: {' '.join(self.argv)}"
        tail = " ".join(self.stderr_tail.split())[-400:]
        what = f"exit {self.exit_code}" if self.exit_code is not None else "killed by a signal"
        return f"{what}: {tail}" if tail else what


def _read_tail(f, limit: int) -> str:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - limit))
    return f.read().decode("utf-8", "replace")


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def run_timed(
    argv: Sequence[str],
    timeout_s: float,
    *,
    env: dict[str, str] | None = None,
    capture_stdout: bool = False,
) -> Measurement:
    """Run ``argv`` to completion (or until ``timeout_s``) and time it.

    Parameters
    ----------
    argv
        The command; ``argv[0]`` is looked up on PATH when it has no slash.
    timeout_s
        Seconds before the command's process group is killed with SIGKILL.
    env
        The environment (default: rtlab's own).
    capture_stdout
        Keep the command's stdout (small outputs such as an id or JSON state).

    Returns
    -------
    Measurement
        ``wall_s`` spans spawn to reap on the monotonic clock. (Commands released
        together from a barrier: :func:`run_released`.)
    """
    argv = tuple(str(a) for a in argv)
    exe = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if exe is None:
        return Measurement(
            argv, float("nan"), 0.0, 0.0, None, False, "", "", error=f"{argv[0]}: not found on PATH"
        )
    with (
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() if capture_stdout else open(os.devnull, "wb") as out,
    ):
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
        ]
        t0 = time.perf_counter_ns()
        try:
            with reaper.spawning():  # its own: the subreaper leaves it to the wait below
                pid = os.posix_spawn(
                    exe, argv, os.environ if env is None else env, file_actions=actions, setsid=True
                )
                reaper.own(pid)
        except OSError as exc:
            return Measurement(
                argv,
                float("nan"),
                0.0,
                0.0,
                None,
                False,
                "",
                "",
                error=f"{argv[0]}: cannot start: {exc.strerror}",
            )
        timed_out = False
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # kernel without pidfd: plain blocking wait, timeout by alarm-free poll
            pidfd = None
        try:
            if pidfd is not None:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                if not poller.poll(max(0, int(timeout_s * 1000))):
                    timed_out = True
                    _kill_group(pid)
            else:
                deadline = time.monotonic() + timeout_s
                while os.waitpid(pid, os.WNOHANG) == (0, 0):
                    if time.monotonic() > deadline:
                        timed_out = True
                        _kill_group(pid)
                        break
                    time.sleep(0.001)
            _, status, usage = os.wait4(pid, 0)
            t1 = time.perf_counter_ns()
        except BaseException:
            # Interrupted (Ctrl-C) while waiting: never leave the child running.
            _kill_group(pid)
            try:
                os.wait4(pid, 0)
            except ChildProcessError:
                pass
            raise
        finally:
            reaper.disown(pid)
            if pidfd is not None:
                os.close(pidfd)
        reaper.sweep()  # an orphan the SIGCHLD handler did not reach (outside the window)
        if timed_out:
            _kill_group(pid)  # whatever of the group outlived its leader
        stdout = ""
        if capture_stdout:
            out.seek(0)
            stdout = out.read().decode("utf-8", "replace")
        exit_code = os.waitstatus_to_exitcode(status)
        return Measurement(
            argv=argv,
            wall_s=(t1 - t0) / 1e9,
            user_s=usage.ru_utime,
            sys_s=usage.ru_stime,
            exit_code=None if exit_code < 0 else exit_code,
            timed_out=timed_out,
            stdout=stdout,
            stderr_tail=_read_tail(err, STDERR_TAIL_BYTES),
            end_ns=t1,
        )


def _exec_after_release(
    barrier_r: int,
    barrier_w: int,
    report_w: int,
    err_fd: int,
    exe: str,
    argv: tuple[str, ...],
    env,
    ready_w: int = -1,
) -> None:
    """In a forked child: exec the small waiter (rtlab/core/release_waiter.py), which
    says it is ready, waits for the release, reports the time and execs the command.
    Never returns."""
    try:
        os.close(barrier_w)  # else the release (the last write end closing) never comes
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err_fd, 2)
        for fd in (barrier_r, report_w, ready_w):
            if fd >= 0:
                os.set_inheritable(fd, True)
        python = sys.executable or "/usr/bin/python3"
        os.execve(
            python,
            [
                python,
                "-S",
                "-I",
                release_waiter.__file__,
                str(barrier_r),
                str(report_w),
                str(ready_w),
                exe,
                *argv,
            ],
            os.environ if env is None else env,
        )
    except OSError as exc:
        release_waiter.cannot_start(report_w, argv[0], exc)
    finally:
        os._exit(127)


def _await_ready(ready_r: int, count: int, deadline_ns: int) -> None:
    """Until ``count`` children said they are blocked on the barrier (a byte each), every
    child is gone (EOF) or the deadline: a child that never says so is released anyway."""
    seen = 0
    while seen < count:
        left_ms = (deadline_ns - time.perf_counter_ns()) // 1_000_000
        if left_ms <= 0 or not select.select([ready_r], [], [], left_ms / 1000)[0]:
            return
        chunk = os.read(ready_r, count - seen)
        if not chunk:
            return
        seen += len(chunk)


def _reap(pid: int) -> None:
    try:
        os.wait4(pid, 0)
    except ChildProcessError:
        pass


def run_released(
    argvs: Sequence[Sequence[str]],
    timeout_s: float,
    *,
    env: dict[str, str] | None = None,
    before_release=None,
    wait_ready: bool = True,
) -> list[Measurement]:
    """Start every command of ``argvs`` at once from a barrier; time each from the release.

    Parameters
    ----------
    argvs
        The commands (``argv[0]`` looked up on PATH when it has no slash).
    timeout_s
        Seconds from the release before every command still running has its
        process group killed with SIGKILL.
    env
        The environment (default: rtlab's own).
    before_release
        Called once every command is forked and waiting, just before the release
        (the pace's idle gap goes here, so the forks do not shorten it).
    wait_ready
        Wait (up to ``timeout_s``) until every child has said it is blocked on the
        barrier before the release (the default; False only for the benchmark that
        measures what it changes, benchmarks/concurrency_fidelity.py).

    Returns
    -------
    list of Measurement
        One per command, in order: ``wall_s`` from the release to its reap,
        ``offset_s`` from the release to its ``execve`` (None when it did not start).
        Ctrl-C (any exception) while they run kills and reaps them all, then re-raises.
    """
    commands = [tuple(str(a) for a in argv) for argv in argvs]
    env = dict(os.environ if env is None else env)
    results: list[Measurement | None] = [None] * len(commands)
    exes: dict[int, str] = {}
    for i, argv in enumerate(commands):
        exe = argv[0] if "/" in argv[0] else shutil.which(argv[0])
        if exe is None:
            results[i] = Measurement(
                argv,
                float("nan"),
                0.0,
                0.0,
                None,
                False,
                "",
                "",
                error=f"{argv[0]}: not found on PATH",
            )
        else:
            exes[i] = exe
    children: dict[int, tuple[int, int, IO[bytes]]] = {}  # index → (pid, report_r, stderr file)
    barrier_r, barrier_w = os.pipe()
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC) if wait_ready else (-1, -1)
    released = False
    try:
        with reaper.spawning():  # its own children: the subreaper leaves them to the waits below
            for i, exe in exes.items():
                report_r, report_w = os.pipe2(os.O_CLOEXEC)  # EOF at a successful execve
                err_file = tempfile.TemporaryFile()
                pid = os.fork()
                if pid == 0:  # pragma: no cover (the child execs or exits)
                    if ready_r >= 0:
                        os.close(ready_r)
                    _exec_after_release(
                        barrier_r,
                        barrier_w,
                        report_w,
                        err_file.fileno(),
                        exe,
                        commands[i],
                        env,
                        ready_w,
                    )
                reaper.own(pid)
                os.close(report_w)
                children[i] = (pid, report_r, err_file)
        os.close(barrier_r)
        barrier_r = -1
        if ready_w >= 0:
            os.close(ready_w)
            ready_w = -1
            _await_ready(ready_r, len(children), time.perf_counter_ns() + int(timeout_s * 1e9))
        pidfds = {os.pidfd_open(pid): i for i, (pid, _, _) in children.items()}
        ends: dict[int, tuple[int, int, struct_rusage]] = {}  # index → (end ns, status, rusage)
        poller = select.poll()
        for fd in pidfds:
            poller.register(fd, select.POLLIN)
        if before_release is not None:
            before_release()
        t0 = time.perf_counter_ns()
        os.close(barrier_w)  # the release
        barrier_w = -1
        released = True
        deadline = t0 + int(timeout_s * 1e9)
        timed_out: set[int] = set()
        try:
            while len(ends) < len(children):
                remaining_ms = max(0, (deadline - time.perf_counter_ns()) // 1_000_000)
                events = poller.poll(remaining_ms) if remaining_ms else []
                if not events:  # the deadline: kill what still runs
                    for i, (pid, _, _) in children.items():
                        if i not in ends:
                            timed_out.add(i)
                            _kill_group(pid)
                    for i, (pid, _, _) in children.items():
                        if i not in ends:
                            _, status, usage = os.wait4(pid, 0)
                            ends[i] = (time.perf_counter_ns(), status, usage)
                    break
                for fd, _ in events:
                    i = pidfds[fd]
                    poller.unregister(fd)
                    _, status, usage = os.wait4(children[i][0], 0)
                    ends[i] = (time.perf_counter_ns(), status, usage)
        finally:
            for fd in pidfds:
                os.close(fd)
        for i in timed_out:
            _kill_group(children[i][0])  # whatever of the group outlived its leader
        for i, (_, report_r, err) in children.items():
            said = b""
            while chunk := os.read(report_r, 1024):
                said += chunk
            end, status, usage = ends[i]
            exec_ns = int.from_bytes(said[:8], "little") if len(said) >= 8 else None
            failed_to_start = said[8:].decode("utf-8", "replace")
            exit_code = os.waitstatus_to_exitcode(status)
            results[i] = Measurement(
                argv=commands[i],
                wall_s=(end - t0) / 1e9,
                user_s=usage.ru_utime,
                sys_s=usage.ru_stime,
                exit_code=None if exit_code < 0 else exit_code,
                timed_out=i in timed_out,
                stdout="",
                stderr_tail=_read_tail(err, STDERR_TAIL_BYTES),
                error=failed_to_start,
                offset_s=None if exec_ns is None or failed_to_start else (exec_ns - t0) / 1e9,
                end_ns=end,
            )
    except BaseException:
        # Interrupted (Ctrl-C) or failed before every command ended: none is left running,
        # released or still waiting at the barrier.
        for pid, _, _ in children.values():
            _kill_group(pid)
        for pid, _, _ in children.values():
            _reap(pid)
        raise
    finally:
        for fd in (barrier_r, barrier_w, ready_r, ready_w):
            if fd >= 0:
                os.close(fd)
        for pid, report_r, err in children.values():
            reaper.disown(pid)
            os.close(report_r)
            err.close()
    reaper.sweep()  # an orphan the SIGCHLD handler did not reach (outside the windows)
    assert all(m is not None for m in results) and released
    return [m for m in results if m is not None]


def harness_overhead(samples: int = 30, timeout_s: float = 5.0) -> dict:
    """Measure rtlab's own cost of spawning and reaping a no-op process.

    Returns a dict for ``run.json``: the command, every sample and their median.
    """
    exe = shutil.which("true") or "/bin/true"
    walls = [run_timed([exe], timeout_s).wall_s for _ in range(samples)]
    return {
        "command": [exe],
        "samples": samples,
        "wall_s": walls,
        "median_s": statistics.median(walls),
        "min_s": min(walls),
    }
