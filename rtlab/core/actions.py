"""What a timed step does: one of three kinds of timed action, under one set of rules.

- :class:`Spawn`: one client command, spawned and reaped by ``measure.run_timed``
  (posix_spawn, pidfd, wait4: the same code path and cost as ever).
- :class:`Barrier`: k commands forked beforehand and released together from one
  barrier (``measure.run_released``); each is timed from the release and its
  launch offset (release → its ``execve``) is kept in ``offset_s``.
- :class:`Call`: an in-process call (a gRPC request, say), timed around the call
  in a worker thread; on timeout (or Ctrl-C) its ``cancel`` is called and the
  call is waited for a short grace, then abandoned (the thread is a daemon and
  holds no process); its row says which.

The rules every kind shares (trial.py applies them): :meth:`perform` returns one
:class:`~rtlab.core.measure.Measurement` per process or call, never raises for a failed,
refused or timed-out action (the failure is in the measurement and its row keeps
it); a timeout leaves nothing running; Ctrl-C stops the action, leaves nothing
running and re-raises. A client says which kind each step is through
``Target.step_actions`` (collect/clients/base.py: its commands as Spawns by default); an
experiment of ``width`` k (experiments.py) has each stage of a step released
together as one Barrier. Stdlib only, like the rest of measurement.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rtlab.core.measure import Measurement, run_released, run_timed

CANCEL_GRACE_S = 1.0  # how long a cancelled call may take to return before it is abandoned


@dataclass(frozen=True)
class Spawn:
    """One command, timed from spawn to reap."""

    argv: tuple[str, ...]

    def perform(
        self, timeout_s: float, spawn: Callable[[Sequence[str], float], Measurement] = run_timed
    ) -> list[Measurement]:
        return [spawn(self.argv, timeout_s)]


@dataclass(frozen=True)
class Barrier:
    """Commands released together; each timed from the release, with its launch offset."""

    argvs: tuple[tuple[str, ...], ...]

    def perform(
        self, timeout_s: float, before_release: Callable[[], object] | None = None
    ) -> list[Measurement]:
        return run_released(self.argvs, timeout_s, before_release=before_release)


@dataclass(frozen=True)
class Call:
    """An in-process call, timed around the call.

    fn: the call (give it its own deadline through a closure where it takes one,
    e.g. a gRPC ``timeout=``); what it returns is ignored, an exception it raises
    is the failure. label: what the row's error names ("CRI RunPodSandbox").
    cancel: asked to stop the call on timeout or Ctrl-C (a gRPC future's
    ``cancel``); without it, or when the call ignores it, the call is abandoned.
    """

    fn: Callable[[], object]
    label: str
    cancel: Callable[[], object] | None = None
    grace_s: float = CANCEL_GRACE_S

    def perform(self, timeout_s: float) -> list[Measurement]:
        return [_time_call(self, timeout_s)]


TimedAction = Spawn | Barrier | Call


def together(actions: Sequence[TimedAction]) -> TimedAction:
    """One action releasing ``actions`` (Spawns) together: a Barrier; one action as is."""
    if len(actions) == 1:
        return actions[0]
    if not all(isinstance(a, Spawn) for a in actions):
        kinds = sorted({type(a).__name__ for a in actions})
        raise ValueError(f"only spawned commands can be released together, not {', '.join(kinds)}")
    return Barrier(tuple(a.argv for a in actions if isinstance(a, Spawn)))


def perform(
    action: TimedAction,
    timeout_s: float,
    spawn: Callable[[Sequence[str], float], Measurement] = run_timed,
    before: Callable[[], object] | None = None,
) -> list[Measurement]:
    """Time ``action``: one Measurement per process or call (``spawn`` times a Spawn).
    ``before`` (the pace's gap) runs just before the timed part: for a Barrier, once its
    commands are forked and waiting, just before the release."""
    if isinstance(action, Barrier):
        return action.perform(timeout_s, before_release=before)
    if before is not None:
        before()
    if isinstance(action, Spawn):
        return action.perform(timeout_s, spawn)
    return action.perform(timeout_s)


def _time_call(call: Call, timeout_s: float) -> Measurement:
    done = threading.Event()
    box: dict = {}

    def worker() -> None:
        before = resource.getrusage(resource.RUSAGE_THREAD)
        t0 = time.perf_counter_ns()
        box["t0"] = t0
        try:
            call.fn()
        except BaseException as exc:  # noqa: BLE001 — the failure is the measurement
            box["exc"] = exc
        box["t1"] = time.perf_counter_ns()
        after = resource.getrusage(resource.RUSAGE_THREAD)
        box["cpu"] = (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)
        done.set()

    argv = (call.label,)
    thread = threading.Thread(target=worker, name=f"rtlab call {call.label}", daemon=True)
    started = time.perf_counter_ns()
    thread.start()
    try:
        finished = done.wait(timeout_s)
    except BaseException:  # Ctrl-C: stop the call, then let the interruption through
        _cancel(call, done)
        raise
    if not finished:
        how = (
            "cancelled"
            if _cancel(call, done)
            else (
                "abandoned: still running after cancel" if call.cancel else "abandoned: no cancel"
            )
        )
        wall = (time.perf_counter_ns() - box.get("t0", started)) / 1e9
        return Measurement(
            argv,
            wall,
            0.0,
            0.0,
            None,
            True,
            "",
            "",
            error=f"timed out after {timeout_s:.1f} s: {call.label} ({how})",
        )
    user_s, sys_s = box["cpu"]
    wall = (box["t1"] - box["t0"]) / 1e9
    exc = box.get("exc")
    if exc is not None:
        return Measurement(
            argv,
            wall,
            user_s,
            sys_s,
            None,
            False,
            "",
            "",
            error=f"{call.label} raised {type(exc).__name__}: {exc}",
        )
    return Measurement(argv, wall, user_s, sys_s, 0, False, "", "")


def _cancel(call: Call, done: threading.Event) -> bool:
    """Ask the call to stop; True when it returned within the grace."""
    if call.cancel is not None:
        try:
            call.cancel()
        except Exception:  # noqa: BLE001 — a failing cancel leaves the call abandoned
            pass
    return done.wait(call.grace_s) if call.cancel is not None else False
