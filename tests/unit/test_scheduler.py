"""The scheduler and the trial runner in-process, on an in-memory fake target.

No subprocess, no root, no sleep: commands go to :class:`FakeHost` (a dict of
containers) through TrialRunner's ``execute``; durations are made up, so the
adaptive stop is deterministic.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from rtlab.collect.clients import CLIENTS
from rtlab.collect.clients.base import Target
from rtlab.collect.scheduler import Plan, Scheduler, Unit, UnitState
from rtlab.collect.trial import TrialRunner
from rtlab.core import experiments
from rtlab.core.measure import Measurement
from rtlab.core.runtimes import Runtime

TOKEN = "20261128T000000Z-beef"


class FakeHost:
    """Containers by id; each runtime behaves as its mode says."""

    def __init__(self, modes: dict[str, str], durations=None):
        self.modes = modes
        self.containers: dict[str, str] = {}
        self.log: list[tuple] = []
        self.durations = durations or (lambda runtime, verb: 0.01)

    def execute(self, argv, timeout_s):
        runtime, verb, cid = argv[1], argv[2], argv[-1]
        self.log.append(("exec", runtime, verb, cid))
        mode = self.modes.get(runtime, "ok")

        def result(code=0, timed_out=False, err=""):
            wall = timeout_s if timed_out else self.durations(runtime, verb)
            return Measurement(
                tuple(argv), wall, 0.0, 0.0, None if timed_out else code, timed_out, "", err
            )

        if mode == "hang" and verb in ("create", "run"):
            self.containers[cid] = "creating"
            return result(timed_out=True)
        if mode == "fail-start" and verb == "start":
            return result(1, err="fake: start refused")
        if verb in ("create",):
            self.containers[cid] = "created"
        elif verb == "start":
            self.containers[cid] = "running"
        elif verb == "pause":
            self.containers[cid] = "paused"
        elif verb == "resume":
            self.containers[cid] = "running"
        elif verb == "kill":
            self.containers[cid] = "stopped"
        elif verb == "delete":
            if self.containers.get(cid) != "stopped":
                return result(1, err="cannot delete")
            del self.containers[cid]
        return result()


class FakeTarget(Target):
    client = "fake"
    engine = False

    def __init__(self, name: str, host: FakeHost, gone_after_failure: bool = False):
        super().__init__(Runtime(name, name, (), "test"), Path("/nonexistent"))
        self.host = host
        self.gone = gone_after_failure
        self.removed: list[str] = []

    @property
    def base(self):
        return ["fake", self.runtime.name]

    def commands(self, step, cid):
        if step not in ("create", "start", "kill", "delete", "run"):
            raise KeyError(step)  # pause/resume: the plain-verb route ([*base, verb, cid])
        return [["fake", self.runtime.name, step, cid]]

    def unavailable_reason(self):
        return "fake daemon gone" if self.gone else None

    def wait_stopped(self, cid, timeout_s):
        self.host.log.append(("wait", self.runtime.name, cid))
        return None if self.host.containers.get(cid) == "stopped" else "not stopped"

    def remove(self, cid):
        self.removed.append(cid)
        self.host.containers.pop(cid, None)
        return []

    def list_ids(self):
        return list(self.host.containers)


SMALL_PLAN = Plan(trials=3, warmup=1)


def run_schedule(
    host,
    targets,
    plan=SMALL_PLAN,
    experiment="lifecycle",
    steps=None,
    conditions=({},),
    runner_cls=TrialRunner,
    ci=None,
    drop=False,
):
    exp = experiments.get(experiment)

    def idle(pace):  # the gap, logged in order with the commands, without sleeping
        host.log.append(("idle", pace))
        return pace + 1e-4

    runner = runner_cls(
        exp,
        exp.select(steps),
        run_id="r",
        token=TOKEN,
        timeout_s=5.0,
        max_consecutive_timeouts=plan.max_consecutive_timeouts,
        execute=host.execute,
        say=lambda _: None,
        sweep=lambda _: None,
        idle=idle,
        drop_caches=(lambda: host.log.append(("drop",))) if drop else None,
    )
    states = [UnitState(Unit(t, dict(c))) for t in targets for c in conditions]
    written: list[dict] = []
    said: list[str] = []
    kwargs = {"ci": ci} if ci else {}
    Scheduler(
        plan, states, runner.run, written.extend, steps=exp.select(steps), say=said.append, **kwargs
    ).run()
    return states, written, said


def test_each_round_runs_every_unit_once_in_a_seeded_order():
    orders = []
    for seed in (1, 1, 2):
        host = FakeHost({})
        targets = [FakeTarget(n, host) for n in ("a", "b", "c", "d")]
        _, rows, _ = run_schedule(host, targets, Plan(trials=8, warmup=2, seed=seed))
        creates = [r for r in rows if r["step"] == "create"]
        assert len(rows) == 4 * 10 * 5
        by_round = {}
        for r in creates:
            by_round.setdefault(r["round"], []).append(r["runtime"])
        assert all(sorted(v) == ["a", "b", "c", "d"] for v in by_round.values())
        assert sum(r["warmup"] for r in creates) == 4 * 2
        assert all(r["warmup"] == (r["trial"] < 2) for r in rows)
        orders.append(tuple(r["runtime"] for r in creates))
    assert orders[0] == orders[1]
    assert orders[0] != orders[2]
    assert len({orders[0][i : i + 4] for i in range(0, 40, 4)}) > 1  # shuffled between rounds
    assert host.containers == {}


def test_a_failed_step_keeps_its_row_the_rest_are_not_run_and_the_container_is_removed():
    host = FakeHost({"bad": "fail-start"})
    bad, good = FakeTarget("bad", host), FakeTarget("good", host)
    states, rows, _ = run_schedule(host, [bad, good], Plan(trials=2, warmup=0))
    start = [r for r in rows if r["runtime"] == "bad" and r["step"] == "start"]
    assert [r["ok"] for r in start] == [False, False]
    assert {r["error"] for r in start} == {"exit 1: fake: start refused"}
    later = [r for r in rows if r["runtime"] == "bad" and r["step"] in ("kill", "delete")]
    assert len(later) == 4 and all(r["error"] == "not run: start failed" for r in later)
    assert all(r["ok"] for r in rows if r["runtime"] == "bad" and r["step"] == "run")
    assert len(bad.removed) == 2 and good.removed == []
    assert states[0].failures[("start", "exit 1: fake: start refused")] == 2
    assert states[0].ok_trials == 0 and states[1].ok_trials == 2
    assert host.containers == {}


def test_a_hung_target_is_dropped_after_two_timeouts_and_the_others_finish():
    host = FakeHost({"hung": "hang"})
    hung, good = FakeTarget("hung", host), FakeTarget("good", host)
    states, rows, said = run_schedule(host, [hung, good], Plan(trials=4, warmup=0))
    hung_rows = [r for r in rows if r["runtime"] == "hung"]
    assert len({r["trial"] for r in hung_rows}) == 1  # dropped after its first trial
    create = next(r for r in hung_rows if r["step"] == "create")
    assert create["error"].startswith("timed out after 5.0 s")
    run = next(r for r in hung_rows if r["step"] == "run")
    assert run["error"].startswith("timed out")  # the second timeout
    assert states[0].dropped.startswith("dropped after 2 consecutive timeouts (run: timed out")
    assert any("hung: dropped after 2" in s for s in said)
    assert states[1].trials_done == 4 and states[1].ok_trials == 4
    assert set(hung.removed) == {create["container_id"], run["container_id"]}
    assert host.containers == {}


def test_one_more_timeout_than_allowed_marks_the_rest_of_the_trial_not_run():
    host = FakeHost({"hung": "hang"})
    hung = FakeTarget("hung", host)
    _, rows, _ = run_schedule(host, [hung], Plan(trials=3, warmup=0, max_consecutive_timeouts=1))
    run = next(r for r in rows if r["step"] == "run")
    assert run["error"] == "not run: target dropped" and run["container_id"] == ""
    assert not any(e[2] == "run" for e in host.log if e[0] == "exec")


def test_a_failure_explained_by_a_vanished_daemon_drops_the_target():
    host = FakeHost({"x": "fail-start"})
    target = FakeTarget("x", host, gone_after_failure=True)
    states, rows, _ = run_schedule(host, [target], Plan(trials=5, warmup=0))
    assert states[0].trials_done == 1 and states[0].dropped == "dropped: fake daemon gone"


def test_until_ci_stops_a_steady_target_early_and_a_noisy_one_at_the_ceiling():
    noisy = itertools.cycle(
        [0.01, 0.03, 0.005, 0.05, 0.02, 0.04, 0.015]
    )  # 7: not a multiple of 5 steps
    host = FakeHost({}, durations=lambda rt, verb: 0.01 if rt == "steady" else next(noisy))
    steady, wobbly = FakeTarget("steady", host), FakeTarget("wobbly", host)
    plan = Plan(warmup=0, until_ci=0.05, min_trials=6, max_trials=12)
    states, _, _ = run_schedule(host, [steady, wobbly], plan)
    assert states[0].trials_done == 6
    assert states[0].stopped.startswith("every step's 95% CI within ±0.05")
    assert states[1].trials_done == 12
    assert states[1].stopped == "--max-trials 12 reached before the CI was within ±0.05"


def test_steps_run_measures_only_the_one_shot_run():
    host = FakeHost({})
    _, rows, _ = run_schedule(
        host, [FakeTarget("a", host)], Plan(trials=3, warmup=0), steps=["run"]
    )
    assert [r["step"] for r in rows] == ["run"] * 3
    assert {e[2] for e in host.log if e[0] == "exec"} == {"run"}


def test_a_subset_of_a_chain_still_runs_the_chain_but_times_only_the_subset():
    host = FakeHost({})
    _, rows, _ = run_schedule(
        host,
        [FakeTarget("a", host)],
        Plan(trials=2, warmup=0),
        experiment="pause",
        steps=["resume", "pause"],
    )
    assert [r["step"] for r in rows] == ["pause", "resume"] * 2
    verbs = [e[2] for e in host.log if e[0] == "exec"]
    assert verbs == ["create", "start", "pause", "resume", "kill", "delete"] * 2
    assert host.containers == {}


def test_pause_experiment_rows_and_the_state_wait_before_delete():
    host = FakeHost({})
    _, rows, _ = run_schedule(
        host, [FakeTarget("a", host)], Plan(trials=1, warmup=0), experiment="pause"
    )
    assert [r["step"] for r in rows] == ["create", "start", "pause", "resume", "kill", "delete"]
    assert all(r["ok"] and r["experiment"] == "pause" for r in rows)
    events = [e[0] if e[0] == "wait" else e[2] for e in host.log]
    assert events.index("wait") == events.index("delete") - 1


def test_before_step_runs_just_before_each_timed_step_after_the_previous_command():
    class Hooked(TrialRunner):
        def before_step(self, state, step):
            host.log.append(("before", step.name, len(self.rows_seen)))

        rows_seen: list = []

    host = FakeHost({})
    _, rows, _ = run_schedule(
        host, [FakeTarget("a", host)], Plan(trials=1, warmup=0), runner_cls=Hooked
    )
    kinds = [
        (e[0], e[1] if e[0] == "before" else e[2]) for e in host.log if e[0] in ("before", "exec")
    ]
    expected = []
    for step in ("create", "start", "kill", "delete", "run"):
        expected += [("before", step), ("exec", step)]
    assert kinds == expected


def test_conditions_are_interleaved_units_and_their_columns_reach_the_rows():
    host = FakeHost({})
    states, rows, _ = run_schedule(
        host,
        [FakeTarget("a", host)],
        Plan(trials=2, warmup=0),
        conditions=({"pace_s": 0.0}, {"pace_s": 1.0}),
    )
    assert [s.label for s in states] == ["fake/a[pace_s=0.0]", "fake/a[pace_s=1.0]"]
    assert sorted({r["pace_s"] for r in rows}) == [0.0, 1.0]
    assert sum(r["pace_s"] == 1.0 for r in rows) == 2 * 5


@pytest.mark.parametrize(
    "client, pause, resume",
    [
        ("oci", ["pause"], ["resume"]),
        ("docker", ["pause"], ["unpause"]),
        ("podman", ["pause"], ["unpause"]),
        ("ctr", ["task", "pause"], ["task", "resume"]),
    ],
)
def test_each_client_spells_pause_and_resume(client, pause, resume):
    target = CLIENTS[client](Runtime("runc", "runc", (), "test"), Path("/nonexistent"))
    exp = experiments.get("pause")
    (p,), (r,) = (target.step_commands(exp.step(s), "ID") for s in ("pause", "resume"))
    assert p[-len(pause) - 1 :] == [*pause, "ID"] and r[-len(resume) - 1 :] == [*resume, "ID"]
    assert set(target.argv_templates(exp.steps)) == set(exp.steps)


def test_the_pace_is_an_idle_gap_right_before_each_timed_step_and_is_recorded():
    host = FakeHost({})
    _, rows, _ = run_schedule(
        host,
        [FakeTarget("a", host)],
        Plan(trials=2, warmup=0),
        conditions=({"pace_s": 0.25},),
        drop=True,
    )
    events = [
        e[0] if e[0] in ("idle", "drop", "wait") else e[2]
        for e in host.log
        if e[0] in ("idle", "drop", "wait", "exec")
    ]
    trial = [
        "drop",
        "idle",
        "create",
        "idle",
        "start",
        "idle",
        "kill",
        "wait",
        "idle",
        "delete",
        "idle",
        "run",
    ]
    assert events == trial * 2  # the cache drop once per trial, the gap before every step
    assert all(r["pace_s"] == 0.25 and r["idle_s"] >= 0.25 and r["caches_dropped"] for r in rows)
    assert [e for e in host.log if e[0] == "idle"] == [("idle", 0.25)] * 10


def test_no_pace_condition_means_no_gap():
    host = FakeHost({})
    _, rows, _ = run_schedule(host, [FakeTarget("a", host)], Plan(trials=1, warmup=0))
    assert not [e for e in host.log if e[0] in ("idle", "drop")]
    assert all("idle_s" not in r for r in rows)


def test_the_schedulers_median_ci_is_the_analysis_one():
    """scheduler.median_ci (stdlib, measurement) gives stats.median_ci's interval."""
    import random as _random

    from rtlab.analysis import stats
    from rtlab.collect import scheduler

    rng = _random.Random(7)
    for n in (1, 5, 6, 7, 10, 33, 100, 401):
        values = [rng.lognormvariate(0, 0.3) for _ in range(n)]
        ours, theirs = scheduler.median_ci(values), stats.median_ci(values)
        if theirs.low != theirs.low:
            assert ours is None, n
        else:
            assert ours == (theirs.low, theirs.high), n
