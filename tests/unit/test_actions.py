"""The three kinds of timed action (actions.py) and Step.wait, in-process on the fake runtime.

Each kind goes through the trial runner on the fake runc-compatible script
(tests/fixtures/fake_runtime.py): its rows, its timeout, its cancellation (no
process left), its failure rows kept with their error. The in-process call runs
the fake's own ``main`` in rtlab's process.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from rtlab.collect.clients.oci import OciTarget
from rtlab.collect.scheduler import Unit, UnitState
from rtlab.collect.trial import TrialRunner
from rtlab.core import actions, measure
from rtlab.core.actions import Barrier, Call, Spawn
from rtlab.core.experiments import (
    CREATE,
    DELETE,
    KILL,
    PAUSE,
    START,
    Experiment,
    ExperimentError,
    Step,
)
from rtlab.core.measure import run_released
from rtlab.core.runtimes import parse_custom
from tests.conftest import FAKE, processes_naming

TOKEN = "20261128T000000Z-a1a1"
LIFECYCLE = ((CREATE, START, KILL, DELETE),)

_spec = importlib.util.spec_from_file_location("fake_runtime", FAKE)
fake_runtime = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_runtime)


def experiment(name="made-up", chains=LIFECYCLE, width=1) -> Experiment:
    return Experiment(name, "a made-up experiment for the tests", chains=chains, width=width)


def trial(target, exp, timeout_s=5.0, said=None) -> list[dict]:
    runner = TrialRunner(
        exp,
        exp.steps,
        run_id="r",
        token=TOKEN,
        timeout_s=timeout_s,
        say=(said if said is not None else []).append,
    )
    return runner.run(UnitState(Unit(target, {})), 0, False)


def gone_soon(text: str) -> list[str]:
    """Processes naming ``text`` a moment after a kill (init reaps SIGKILLed orphans)."""
    deadline = time.monotonic() + 5
    while processes_naming(text) and time.monotonic() < deadline:
        time.sleep(0.02)
    return processes_naming(text)


@pytest.fixture
def target(fake, tmp_path):
    """An OCI target over the fake runtime: ``target(mode)`` → (target, its state dir)."""

    def make(mode="ok", cls=OciTarget):
        spec, state = fake(f"f-{mode}", mode)
        return cls(parse_custom(spec), tmp_path, timeout_s=5.0), state

    return make


@pytest.fixture
def alarm():
    """``alarm(seconds)``: a Ctrl-C (KeyboardInterrupt) delivered to this thread then."""

    def on_alarm(signum, frame):
        raise KeyboardInterrupt

    saved = signal.signal(signal.SIGALRM, on_alarm)
    yield lambda s: signal.setitimer(signal.ITIMER_REAL, s)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, saved)


# -- Spawn: one process, today's path ----------------------------------------------------


def test_spawn_is_each_step_command_and_rows_keep_todays_columns(target):
    t, state = target()
    assert t.step_actions(START, "c1") == [Spawn((*t.runtime.argv, "start", "c1"))]
    rows = trial(t, experiment())
    assert [r["step"] for r in rows] == ["create", "start", "kill", "delete"]
    assert all(r["ok"] and r["wall_s"] > 0 and r["error"] == "" for r in rows), rows
    assert not any("instance" in r or "offset_s" in r for r in rows)
    assert len({r["container_id"] for r in rows}) == 1
    assert list(state.iterdir()) == []


def test_a_timed_out_spawn_keeps_its_row_and_leaves_nothing(target):
    t, state = target("hang-start")
    rows = trial(t, experiment(), timeout_s=0.5)
    start = rows[1]
    assert start["timed_out"] and not start["ok"] and start["error"].startswith("timed out after ")
    assert [r["error"] for r in rows[2:]] == ["not run: start failed"] * 2
    assert list(state.iterdir()) == [] and gone_soon(str(state)) == []


# -- Barrier: k processes released together ----------------------------------------------


def test_released_commands_run_together_each_timed_from_the_release():
    d = 0.3  # each sleeps d: one after another, the last would end k·d after the release
    began = time.perf_counter()
    ms = Barrier((("sleep", str(d)),) * 3).perform(10)
    elapsed = time.perf_counter() - began
    assert all(m.ok for m in ms), ms
    assert elapsed < 3 * d  # they ran at once, not one after another
    assert all(d <= m.wall_s < 3 * d for m in ms), [m.wall_s for m in ms]
    assert all(0 <= m.offset_s <= m.wall_s for m in ms), [(m.offset_s, m.wall_s) for m in ms]


def test_a_released_command_that_cannot_start_is_an_error_and_the_others_run():
    ms = run_released([["true"], ["no-such-binary-rtlab"], ["/nonexistent/rtlab"], ["true"]], 10)
    assert [m.ok for m in ms] == [True, False, False, True]
    assert ms[1].describe_failure() == "no-such-binary-rtlab: not found on PATH"
    assert ms[2].describe_failure().startswith("/nonexistent/rtlab: cannot start:")
    assert ms[2].offset_s is None and ms[0].offset_s is not None


def test_a_released_command_that_times_out_has_its_group_killed_the_others_kept():
    child, leader = "sleep 2718.2818", "sleep 2718.2819"  # unique argv, as in test_measure.py
    ms = run_released([["true"], ["sh", "-c", f"{child} & exec {leader}"]], 0.5)
    assert ms[0].ok and not ms[0].timed_out
    assert ms[1].timed_out and ms[1].describe_failure().startswith("timed out after")
    assert gone_soon(child) == [] and gone_soon(leader) == []


def test_ctrl_c_while_released_commands_run_kills_them_all(alarm):
    marker = "sleep 2718.2820"
    alarm(0.5)
    with pytest.raises(KeyboardInterrupt):
        run_released([marker.split()] * 3, 60)
    assert gone_soon(marker) == []


def test_a_wide_experiment_releases_each_step_on_its_containers_together(target):
    t, state = target()
    rows = trial(t, experiment(width=3))
    assert [(r["step"], r["instance"]) for r in rows] == [
        (s, i) for s in ("create", "start", "kill", "delete") for i in range(3)
    ]
    assert all(r["ok"] for r in rows), [r["error"] for r in rows]
    assert all(0 <= r["offset_s"] <= r["wall_s"] for r in rows)
    cids = {r["instance"]: r["container_id"] for r in rows if r["step"] == "create"}
    assert len(set(cids.values())) == 3
    assert all(r["container_id"] == cids[r["instance"]] for r in rows)
    assert list(state.iterdir()) == []


def test_a_wide_step_that_times_out_keeps_every_row_and_removes_every_container(target):
    t, state = target("hang-start")
    rows = trial(t, experiment(width=2), timeout_s=0.5)
    start = [r for r in rows if r["step"] == "start"]
    assert [r["instance"] for r in start] == [0, 1]
    assert all(r["timed_out"] and r["error"].startswith("timed out after ") for r in start)
    later = [r for r in rows if r["step"] in ("kill", "delete")]
    assert len(later) == 4 and all(r["error"] == "not run: start failed" for r in later)
    assert list(state.iterdir()) == [] and gone_soon(str(state)) == []


def test_only_spawned_commands_can_be_released_together():
    assert actions.together([Spawn(("true",)), Spawn(("false",))]) == Barrier(
        (("true",), ("false",))
    )
    with pytest.raises(ValueError, match="only spawned commands can be released together"):
        actions.together([Spawn(("true",)), Call(lambda: None, "x")])


# -- Call: an in-process call -----------------------------------------------------------


class InProcessStart(OciTarget):
    """``start`` is the fake runtime's own code, called in rtlab's process."""

    def step_actions(self, step, cid):
        name = step if isinstance(step, str) else step.name
        if name != "start":
            return super().step_actions(step, cid)
        argv = list(self.runtime.argv[2:])  # [fake_runtime.py, --state, DIR, --mode, M]

        def start():
            code = fake_runtime.main([*argv[1:], "start", cid])
            if code:
                raise RuntimeError(f"exit {code}")

        return [Call(start, "fake start (in-process)")]


def test_an_in_process_call_is_timed_around_the_call(target):
    t, state = target(cls=InProcessStart)
    rows = trial(t, experiment())
    start = rows[1]
    assert start["ok"] and start["wall_s"] > 0 and start["exit_code"] == 0, start
    assert all(r["ok"] for r in rows) and list(state.iterdir()) == []


def test_a_call_that_raises_keeps_its_row_with_the_error(target, capsys):
    t, state = target("fail-start", cls=InProcessStart)
    rows = trial(t, experiment())
    start = rows[1]
    assert not start["ok"] and start["exit_code"] is None
    assert start["error"] == "fake start (in-process) raised RuntimeError: exit 1"
    assert [r["error"] for r in rows[2:]] == ["not run: start failed"] * 2
    assert list(state.iterdir()) == []


def test_a_call_past_its_timeout_is_cancelled_and_says_so():
    stop = threading.Event()
    (m,) = Call(lambda: stop.wait(60), "stuck", cancel=stop.set).perform(0.3)
    assert m.timed_out and not m.ok
    assert m.describe_failure() == "timed out after 0.3 s: stuck (cancelled)"
    assert not [t for t in threading.enumerate() if t.name == "rtlab call stuck"]


def test_a_call_that_cannot_be_cancelled_is_abandoned_and_says_so():
    stop = threading.Event()
    try:
        (m,) = Call(lambda: stop.wait(60), "deaf", grace_s=0.1).perform(0.3)
        assert (
            m.timed_out
            and m.describe_failure() == "timed out after 0.3 s: deaf (abandoned: no cancel)"
        )
        (m,) = Call(lambda: stop.wait(60), "deaf", cancel=lambda: None, grace_s=0.1).perform(0.3)
        assert m.describe_failure().endswith("(abandoned: still running after cancel)")
    finally:
        stop.set()


def test_ctrl_c_during_a_call_cancels_it(alarm):
    stop = threading.Event()
    alarm(0.3)
    with pytest.raises(KeyboardInterrupt):
        Call(lambda: stop.wait(60), "interrupted", cancel=stop.set).perform(60)
    assert stop.is_set()


def test_a_timed_out_call_in_a_trial_keeps_its_row_and_the_container_is_removed(target):
    stop = threading.Event()

    class StuckStart(OciTarget):
        def step_actions(self, step, cid):
            if getattr(step, "name", step) == "start":
                return [Call(lambda: stop.wait(60), "stuck start", cancel=stop.set)]
            return super().step_actions(step, cid)

    t, state = target(cls=StuckStart)
    rows = trial(t, experiment(), timeout_s=0.3)
    assert (
        rows[1]["timed_out"]
        and rows[1]["error"] == "timed out after 0.3 s: stuck start (cancelled)"
    )
    assert [r["error"] for r in rows[2:]] == ["not run: start failed"] * 2
    assert list(state.iterdir()) == []


# -- Step.wait: the state a step waits for -------------------------------------------------

RESUME_WHEN_PAUSED = Step(
    "resume", "resumes a container", "resuming a container", wait="paused", verb=("resume",)
)


def test_the_runner_waits_for_the_state_the_step_names(target):
    t, state = target()
    exp = experiment(chains=((CREATE, START, PAUSE, RESUME_WHEN_PAUSED, KILL, DELETE),))
    rows = trial(t, exp, timeout_s=1.0)
    assert all(r["ok"] for r in rows), [r["error"] for r in rows]  # waiting for "stopped" fails
    assert list(state.iterdir()) == []


def test_a_state_never_reached_is_a_not_run_row_naming_it(target):
    t, state = target()
    start_when_running = Step("start", "starts a container", "starting a container", wait="running")
    rows = trial(t, experiment(chains=((CREATE, start_when_running, KILL, DELETE),)), timeout_s=0.3)
    assert rows[1]["error"] == "not run: container still created 0.3 s later, not running"
    assert [r["error"] for r in rows[2:]] == ["not run: wait for running state failed"] * 2
    assert list(state.iterdir()) == []


def test_waiting_for_gone(target):
    t, state = target()
    cid = "rtlab-gone-00001l"
    fake_runtime.main(["--state", str(state), "create", cid])
    assert t.wait_for(cid, "gone", 0.2) == "container still created 0.2 s later, not gone"
    fake_runtime.main(["--state", str(state), "delete", cid])
    assert t.wait_for(cid, "gone", 0.2) is None


def test_a_step_may_wait_only_for_a_known_state():
    with pytest.raises(
        ExperimentError, match="the states a step can wait for: stopped, running, paused, gone"
    ):
        Step("x", "does x", "doing x", wait="exited")
    with pytest.raises(ExperimentError, match="width 0"):
        experiment(width=0)


def test_the_fake_runtime_module_is_the_fixture_script():
    assert Path(fake_runtime.__file__) == FAKE


def _children_waiting() -> list[str]:
    """What each child of this process is blocked in (its wchan)."""
    kids = [
        int(p)
        for task in Path("/proc/self/task").iterdir()
        for p in (task / "children").read_text().split()
    ]
    return [Path(f"/proc/{pid}/wchan").read_text() for pid in kids]


def test_the_release_waits_until_every_child_is_blocked_on_the_barrier(monkeypatch):
    # every child is slow to set itself up (0.2 s in setsid, which only the children call):
    # with wait_ready=False the release comes while they sleep there and this fails
    real_setsid = measure.os.setsid

    def slow_setsid():
        time.sleep(0.2)
        return real_setsid()

    monkeypatch.setattr(measure.os, "setsid", slow_setsid)
    seen: list[list[str]] = []
    ms = run_released([["true"]] * 8, 10, before_release=lambda: seen.append(_children_waiting()))
    assert all(m.ok for m in ms)
    # each said it was ready just before its read: blocked in it, or (preempted between
    # the two calls under load) running towards it; none still setting itself up
    assert len(seen[0]) == 8 and all("pipe_read" in w or w == "0" for w in seen[0]), seen
    assert any("pipe_read" in w for w in seen[0]), seen


def test_released_commands_run_at_the_normal_policy(tmp_path):
    # the children wait for the release as real-time tasks (as root); what is timed must
    # run as every other step does
    probe = "import os, sys; open(sys.argv[1], 'w').write(str(os.sched_getscheduler(0)))"
    outs = [tmp_path / f"policy-{i}" for i in range(4)]
    ms = run_released([[sys.executable, "-c", probe, str(o)] for o in outs], 10)
    assert all(m.ok for m in ms), ms
    assert [o.read_text() for o in outs] == [str(os.SCHED_OTHER)] * 4


@pytest.mark.skipif(os.geteuid() != 0, reason="a real-time policy needs CAP_SYS_NICE")
def test_released_children_wait_as_real_time_tasks():
    policies: list[list[int]] = []

    def look() -> None:
        kids = [
            int(p)
            for task in Path("/proc/self/task").iterdir()
            for p in (task / "children").read_text().split()
        ]
        policies.append([os.sched_getscheduler(pid) for pid in kids])

    ms = run_released([["true"]] * 3, 10, before_release=look)
    assert all(m.ok for m in ms)
    assert policies == [[os.SCHED_FIFO] * 3]
