"""Time one client command: wall clock, CPU of the process tree it reaped, exit code.

The command is started with ``posix_spawn`` (vfork: no copy of the harness's
memory) in a session of its own, so a terminal's Ctrl-C reaches rtlab and not
the runtime, and a timed-out command can be killed with its whole process group.
Its end is awaited on a pidfd, so a timeout costs no polling; ``wait4`` then
reaps it and returns the CPU time of the process and every child it reaped.

Output goes to files, never to pipes: a detached ``create`` leaves the runtime's
init holding the caller's stdout/stderr, and reading a pipe to EOF would hang.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Optional, Sequence

STDERR_TAIL_BYTES = 2048


@dataclass(frozen=True)
class Measurement:
    """One timed command."""

    argv: tuple[str, ...]
    wall_s: float
    user_s: float
    sys_s: float
    exit_code: Optional[int]  # None when killed by a signal or not started
    timed_out: bool
    stdout: str
    stderr_tail: str
    error: str = ""  # why it failed to start, when it did

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
    env: Optional[dict[str, str]] = None,
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
        ``wall_s`` spans spawn to reap on the monotonic clock.
    """
    argv = tuple(str(a) for a in argv)
    exe = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if exe is None:
        return Measurement(argv, float("nan"), 0.0, 0.0, None, False, "", "",
                           error=f"{argv[0]}: not found on PATH")
    with tempfile.TemporaryFile() as err, \
            (tempfile.TemporaryFile() if capture_stdout else open(os.devnull, "wb")) as out:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
        ]
        t0 = time.perf_counter_ns()
        try:
            pid = os.posix_spawn(exe, argv, os.environ if env is None else env,
                                 file_actions=actions, setsid=True)
        except OSError as exc:
            return Measurement(argv, float("nan"), 0.0, 0.0, None, False, "", "",
                               error=f"{argv[0]}: cannot start: {exc.strerror}")
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
            if pidfd is not None:
                os.close(pidfd)
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
        )


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
