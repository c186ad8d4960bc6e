"""rtlab as a child subreaper for a collect (``PR_SET_CHILD_SUBREAPER``).

A runtime's CLI leaves processes whose parent exits before them: runsc's sandbox and
gofer, a container's init after ``runc create`` returned, podman's conmon. The kernel
gives each to the nearest ancestor that is a subreaper, else to PID 1, and only that
one's ``wait`` removes its zombie. Where PID 1 reaps late (on these machines
``runsc delete`` waits 1.3–1.5 s for its exited sandbox to disappear, 21–34 ms when
it is reaped at once), a figure of the OCI CLI measures the host's init, not the
runtime. containerd's shim and conmon are subreapers for their containers; for the
OCI CLI, rtlab plays that part (docs/DESIGN.md "What reaps").

What is reaped, at once: a zombie child of rtlab that rtlab did not start itself and
whose session is not rtlab's. rtlab's own children are never taken from the code that
waits for them: the timed commands (measure.py) and bpftrace (tracing.py) are
registered with :func:`own` inside :func:`spawning` (a SIGCHLD that comes before the
registration waits for it), and everything started with ``subprocess`` without a
session of its own shares rtlab's session. A SIGCHLD handler (main thread only: where
Python runs signal handlers) peeks at the first waitable child without reaping it
(``waitid(WNOWAIT)``) and reaps it when it is an orphan: a few microseconds when the
timed command itself ends. :func:`sweep` (after each timed command, outside its
window) reaps any orphan the peek did not reach; the final sweep at the end of a
run reaps every zombie rtlab did not register, and the subreaper is switched off.

Stdlib only (measure.py imports it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37

_own: set[int] = set()
_lock = threading.Lock()
_busy = 0  # > 0 while a spawn is between its fork and its registration
_pending = False  # a SIGCHLD came while busy
_active = False
_sid = -1
_reaped: list[str] = []  # "pid comm" of each orphan reaped in this subreaper's time


def own(pid: int) -> None:
    """``pid`` is rtlab's own child: its waiter reaps it, the subreaper never does."""
    _own.add(pid)


def disown(pid: int) -> None:
    """``pid`` was reaped by its waiter (a later process may get the number)."""
    _own.discard(pid)


@contextlib.contextmanager
def spawning() -> Iterator[None]:
    """Around a fork or spawn and its :func:`own`: no orphan is reaped meanwhile."""
    global _busy, _pending
    with _lock:
        _busy += 1
    try:
        yield
    finally:
        with _lock:
            _busy -= 1
            due = _busy == 0 and _pending
            if due:
                _pending = False
        if due:
            _reap_waitable()


def active() -> bool:
    return _active


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, session, comm) of ``pid`` from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    head, _, tail = text.rpartition(")")
    fields = tail.split()
    try:
        return fields[0], int(fields[3]), head.partition("(")[2]
    except (IndexError, ValueError):
        return None


def _orphan(pid: int, final: bool = False) -> tuple[bool, str]:
    """Whether the zombie ``pid`` is to be reaped here, and its comm."""
    if pid in _own:
        return False, ""
    info = _stat(pid)
    if info is None:
        return False, ""
    state, sid, comm = info
    return state in ("Z", "X") and (final or sid != _sid), comm


def _reap(pid: int, comm: str) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    if done == pid:
        _reaped.append(f"{pid} {comm}")
        return True
    return False


def _reap_waitable() -> None:
    """Reap orphans while the first waitable child is one (never blocks)."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except (ChildProcessError, OSError):
            return
        if info is None:
            return
        pid = info.si_pid
        is_orphan, comm = _orphan(pid)
        if not is_orphan or not _reap(pid, comm):
            return


def _on_sigchld(_signum, _frame) -> None:
    global _pending
    if not _active:
        return
    if _busy:
        _pending = True
        return
    _reap_waitable()


def children() -> list[int]:
    """This process's children (every thread's), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def sweep(final: bool = False) -> None:
    """Reap every orphan zombie (``final``: every zombie rtlab did not register)."""
    if not _active or _busy:
        return
    for pid in children():
        is_orphan, comm = _orphan(pid, final)
        if is_orphan:
            _reap(pid, comm)


def _sweeper(stop: threading.Event) -> None:
    while not stop.wait(0.01):
        sweep()


def _prctl(option: int, value: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if option == PR_GET_CHILD_SUBREAPER:
        out = ctypes.c_int(0)
        if libc.prctl(option, ctypes.byref(out), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        return out.value
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return 0


@contextlib.contextmanager
def subreaper() -> Iterator[dict]:
    """rtlab is a subreaper for the block; yields the record run.json keeps (updated at
    the end with what was reaped and what was left running)."""
    global _active, _sid, _pending
    record: dict = {"subreaper": False, "reaps": "PID 1 (the host's init)"}
    if _active:  # nested (a collect inside a collect's process): the outer one reaps
        record.update(subreaper=True, reaps="rtlab (an enclosing run)")
        yield record
        return
    try:
        before = _prctl(PR_GET_CHILD_SUBREAPER, 0)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    except (OSError, AttributeError) as exc:
        record["error"] = f"prctl(PR_SET_CHILD_SUBREAPER): {exc}"
        yield record
        return
    handler = None
    stop = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    _sid, _pending, _active = os.getsid(0), False, True
    _reaped.clear()
    if main:
        handler = signal.signal(signal.SIGCHLD, _on_sigchld)
        signal.siginterrupt(signal.SIGCHLD, False)  # others' system calls restart
    else:  # Python runs signal handlers in the main thread only: sweep every 10 ms instead
        threading.Thread(target=_sweeper, args=(stop,), name="rtlab reaper", daemon=True).start()
    record.update(
        subreaper=True,
        reaps="rtlab (PR_SET_CHILD_SUBREAPER): orphans of the commands it ran, at once"
        + ("" if main else " (within 10 ms: not the main thread, no SIGCHLD handler)"),
    )
    try:
        yield record
    finally:
        stop.set()
        settle(record)
        _active = False
        with contextlib.suppress(OSError):
            _prctl(PR_SET_CHILD_SUBREAPER, before)
        if handler is not None:
            signal.signal(signal.SIGCHLD, handler)


def settle(record: dict) -> dict:
    """The final sweep, then ``record`` updated: how many orphans were reaped, and the
    orphans still running (children rtlab did not start, outside its session: a daemon
    started meanwhile, or what a runtime left; they go back to PID 1 when rtlab exits)."""
    if not _active:
        return record
    sweep(final=True)
    left = []
    for pid in children():
        info = _stat(pid)
        if pid not in _own and info is not None and info[1] != _sid:
            left.append(f"{pid} {info[2]}")
    record.update(orphans_reaped=len(_reaped), orphans_running_at_end=left)
    return record
