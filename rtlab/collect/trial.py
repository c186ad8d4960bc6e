"""One trial of an experiment on one unit: its chains, waits, rows and removals.

For each chain of the experiment (experiments.py) a new container (or ``width``
k new containers): its steps one after the other, each a timed action of the
client's (``Target.step_actions``: spawned commands, or an in-process call;
actions.py) timed on its own; with k containers each stage of a step is released
on all of them together from one barrier and gives a row per container
(``instance``, ``offset_s``). Before a step, an untimed wait for the state it
names (``Step.wait``: stopped, running, paused, gone), on every container. A
step that fails keeps its row with the error, the chain's later steps get "not
run" rows on that container and the container is force-removed. Steps not
chosen with ``--steps`` still run when their chain runs (a container must exist
to be deleted) but give no row.

:meth:`TrialRunner.before_step` is the one place that runs just before each timed
step (after the previous command, its row and any bookkeeping): the cache drop
(``--drop-caches``) and the idle gap of the unit's pace (``pace_s``) happen there.
``execute`` (``run_timed`` by default) is the one way a single spawned command
runs, so tests swap in an in-memory fake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rtlab.collect.scheduler import Rows, UnitState
from rtlab.core import actions, conditions
from rtlab.core.actions import TimedAction
from rtlab.core.experiments import Experiment, Step
from rtlab.core.measure import Measurement, run_timed
from rtlab.host import cleanup

Execute = Callable[[Sequence[str], float], Measurement]


class TrialRunner:
    def __init__(
        self,
        experiment: Experiment,
        steps: Sequence[str],
        *,
        run_id: str,
        token: str,
        timeout_s: float,
        max_consecutive_timeouts: int = 2,
        execute: Execute = run_timed,
        say: Callable[[str], None] = print,
        sweep: Callable[[str], object] = cleanup.sweep,
        seq: int = 0,
        idle: Callable[[float], float] = conditions.idle,
        drop_caches: Callable[[], object] | None = None,
    ):
        self.experiment = experiment
        self.steps = tuple(steps)  # the timed ones (--steps)
        self.run_id, self.token = run_id, token
        self.timeout_s = timeout_s
        self.max_timeouts = max_consecutive_timeouts
        self.execute, self.say, self.sweep = execute, say, sweep
        self.seq = seq  # containers made so far (resume continues the count)
        self.chains = [c for c in experiment.chains if any(s.name in self.steps for s in c)]
        self.width = experiment.width  # containers per chain, released together
        # (an experiment with width_from takes each unit's width from its condition: k)
        # conditions (conditions.py): the idle gap before each timed step is the unit's
        # pace_s; drop_caches (--drop-caches) runs before each trial's first timed step
        self.idle, self.drop_caches = idle, drop_caches
        self._trial_started = False
        self._batch = 0

    # -- hooks -------------------------------------------------------------------------
    def prepare(self) -> dict:
        """Before the first round (the pull experiment pushes its images): what run.json
        records of it (merged into its top level)."""
        return {}

    def finish(self) -> list[str]:
        """After the last trial, Ctrl-C included (the pull experiment removes its images):
        the errors that mattered."""
        return []

    def before_step(self, state: UnitState, step: Step) -> dict:
        """Just before a timed step's first command, after every piece of rtlab's own
        bookkeeping (state polling, rows, the previous command's reaping): drop the page
        cache when asked (once per trial), then leave the host idle for the unit's pace.
        Returns the row fields that record it (``idle_s``: the gap measured)."""
        extra: dict = {}
        if self.drop_caches is not None:
            if not self._trial_started:
                self.drop_caches()
            extra["caches_dropped"] = True
        self._trial_started = True
        pace = state.unit.condition.get("pace_s")
        if pace is not None:
            extra["idle_s"] = self.idle(float(pace))
        return extra

    # -- one trial ------------------------------------------------------------------------
    def next_cid(self, kind: str) -> str:
        self.seq += 1
        return f"{cleanup.CONTAINER_PREFIX}{self.token}-{self.seq:05d}{kind}"

    def row(
        self,
        state: UnitState,
        rnd: int,
        warmup: bool,
        step: str,
        cid: str,
        m: Measurement | None = None,
        error: str = "",
        instance: int = 0,
    ) -> dict:
        target = state.target
        row = {
            "run_id": self.run_id,
            "experiment": self.experiment.name,
            "client": target.client,
            "runtime": target.runtime.name,
            **state.unit.condition,
            "round": rnd,
            "trial": state.trials_done,
            "warmup": warmup,
            "step": step,
            "wall_s": None,
            "user_s": None,
            "sys_s": None,
            "ok": False,
            "exit_code": None,
            "error": error,
            "container_id": cid,
            "timed_out": False,
        }
        if m is not None:
            row.update(
                wall_s=m.wall_s,
                user_s=m.user_s,
                sys_s=m.sys_s,
                ok=m.ok and not error,
                exit_code=m.exit_code,
                error=error or m.describe_failure(),
                timed_out=m.timed_out,
            )
        if self.experiment.released:  # results.ACTION_COLUMNS
            row.update(instance=instance, offset_s=None if m is None else m.offset_s)
        if "batch" in self.experiment.columns:  # the chain's containers, released together
            row["batch"] = self._batch
        return row

    def width_of(self, state: UnitState) -> int:
        """Containers per chain for this unit: the experiment's, or its condition's (k)."""
        key = self.experiment.width_from
        return int(state.unit.condition[key]) if key else self.width

    def perform(self, action: TimedAction, before=None) -> list[Measurement]:
        """Time one action (a Spawn through ``execute``): a measurement per process or call;
        ``before`` just before its timed part (a Barrier's: after the forks)."""
        return actions.perform(action, self.timeout_s, spawn=self.execute, before=before)

    def time_step(self, target, step: Step, cids: Sequence[str], before=None) -> list[Measurement]:
        """Time the step on each container: its actions one after another, summed, each
        container stopping at its first failure; with several containers each stage is
        released on all the containers still going together. ``before`` runs once, just
        before the first stage's timed part (after a barrier's forks)."""
        plans = [target.step_actions(step, cid) for cid in cids]
        totals: list[Measurement | None] = [None] * len(cids)
        for stage in range(max(len(plan) for plan in plans)):
            going = [i for i, plan in enumerate(plans) if stage < len(plan) and _going(totals[i])]
            if not going:
                break
            if not self.experiment.released:
                action = plans[going[0]][stage]
            elif len(going) == 1 and isinstance(plans[going[0]][stage], actions.Spawn):
                action = actions.Barrier((plans[going[0]][stage].argv,))  # k = 1: same timer
            else:
                action = actions.together([plans[i][stage] for i in going])
            for i, m in zip(going, self.perform(action, before if stage == 0 else None)):
                so_far = totals[i]
                totals[i] = m if so_far is None else _then(so_far, m)
        assert all(t is not None for t in totals)
        return [t for t in totals if t is not None]

    def run(self, state: UnitState, rnd: int, warmup: bool) -> Rows:
        rows: Rows = []
        self._trial_started = False
        width = self.width_of(state)
        for n, chain in enumerate(self.chains):
            if n and state.consecutive_timeouts >= self.max_timeouts:
                rows += [
                    self.row(
                        state, rnd, warmup, s.name, "", error="not run: target dropped", instance=i
                    )
                    for s in chain
                    if s.name in self.steps
                    for i in range(width)
                ]
                continue
            rows += self.run_chain(state, rnd, warmup, chain)
        return rows

    def run_chain(self, state: UnitState, rnd: int, warmup: bool, chain: tuple[Step, ...]) -> Rows:
        target = state.target
        rows: Rows = []
        kind = "l" if len(chain) > 1 else chain[0].name[0]
        cids = [self.next_cid(kind) for _ in range(self.width_of(state))]
        self._batch = self.seq - len(cids) + 1  # the batch id: its first container's number
        failed_at: list[str | None] = [None] * len(cids)  # per container
        for step in chain:
            timed = step.name in self.steps
            step_rows: dict[int, dict] = {}
            for i, cid in enumerate(cids):
                if failed_at[i]:
                    if timed:
                        step_rows[i] = self.row(
                            state,
                            rnd,
                            warmup,
                            step.name,
                            cid,
                            error=f"not run: {failed_at[i]} failed",
                            instance=i,
                        )
                elif step.wait:
                    why = target.wait_for(cid, step.wait, self.timeout_s)
                    if why:
                        failed_at[i] = f"wait for {step.wait} state"
                        if timed:
                            step_rows[i] = self.row(
                                state,
                                rnd,
                                warmup,
                                step.name,
                                cid,
                                error=f"not run: {why}",
                                instance=i,
                            )
            going = [i for i in range(len(cids)) if i not in step_rows and not failed_at[i]]
            if going:
                extra: dict = {}
                if timed and self.experiment.released:
                    # the pace's gap after the barrier's forks, just before the release
                    def gap(state=state, step=step, extra=extra):
                        extra.update(self.before_step(state, step) or {})

                    ms = self.time_step(target, step, [cids[i] for i in going], before=gap)
                else:
                    extra = (self.before_step(state, step) or {}) if timed else {}
                    if timed and "started_ns" in self.experiment.columns:
                        extra["started_ns"] = time.time_ns()  # wall clock, not the timer
                    ms = self.time_step(target, step, [cids[i] for i in going])
                for i, m in zip(going, ms):
                    if timed:
                        step_rows[i] = {
                            **self.row(state, rnd, warmup, step.name, cids[i], m, instance=i),
                            **extra,
                        }
                    if not m.ok:
                        failed_at[i] = step.name
                worst = next((m for m in ms if m.timed_out), None) or next(
                    (m for m in ms if not m.ok), ms[0]
                )
                state.count_command(step.name, worst.timed_out, worst.describe_failure())
            rows += [step_rows[i] for i in sorted(step_rows)]
        for cid, failed in zip(cids, failed_at):
            if failed:
                self.remove(target, cid)
        return rows

    def remove(self, target, cid: str) -> None:
        errors = target.remove(cid)
        self.sweep(cid)
        for err in errors:
            self.say(f"cleanup: {err}")


def _going(so_far: Measurement | None) -> bool:
    """A container goes on to the next stage until its first failure."""
    return so_far is None or so_far.ok


def _then(first: Measurement, then: Measurement) -> Measurement:
    """Two commands of one step, one after the other: summed; the launch offset is the first's."""
    return Measurement(
        first.argv + ("&&",) + then.argv,
        first.wall_s + then.wall_s,
        first.user_s + then.user_s,
        first.sys_s + then.sys_s,
        then.exit_code,
        then.timed_out,
        "",
        then.stderr_tail,
        then.error,
        first.offset_s,
        then.end_ns,
    )
