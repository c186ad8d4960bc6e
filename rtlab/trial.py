"""One trial of an experiment on one unit: its chains, waits, rows and removals.

For each chain of the experiment (experiments.py) a new container: its steps
one after the other, each client command timed on its own (measure.py); an
untimed state wait where a step asks for one. A step that fails keeps its row
with the error, the chain's later steps get "not run" rows and the container is
force-removed. Steps not chosen with ``--steps`` still run when their chain runs
(a container must exist to be deleted) but give no row.

:meth:`TrialRunner.before_step` is the one place that runs just before each timed
step (after the previous command, its row and any bookkeeping): the cache drop
(``--drop-caches``) and the idle gap of the unit's pace (``pace_s``) happen there. ``execute`` (``run_timed`` by default) is the one
way commands run, so tests swap in an in-memory fake.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from . import cleanup, conditions
from .experiments import Experiment, Step
from .measure import Measurement, run_timed
from .scheduler import Rows, UnitState

Execute = Callable[[Sequence[str], float], Measurement]


class TrialRunner:
    def __init__(self, experiment: Experiment, steps: Sequence[str], *, run_id: str, token: str,
                 timeout_s: float, max_consecutive_timeouts: int = 2,
                 execute: Execute = run_timed, say: Callable[[str], None] = print,
                 sweep: Callable[[str], object] = cleanup.sweep, seq: int = 0,
                 idle: Callable[[float], float] = conditions.idle,
                 drop_caches: Optional[Callable[[], object]] = None):
        self.experiment = experiment
        self.steps = tuple(steps)  # the timed ones (--steps)
        self.run_id, self.token = run_id, token
        self.timeout_s = timeout_s
        self.max_timeouts = max_consecutive_timeouts
        self.execute, self.say, self.sweep = execute, say, sweep
        self.seq = seq  # containers made so far (resume continues the count)
        self.chains = [c for c in experiment.chains if any(s.name in self.steps for s in c)]
        # conditions (conditions.py): the idle gap before each timed step is the unit's
        # pace_s; drop_caches (--drop-caches) runs before each trial's first timed step
        self.idle, self.drop_caches = idle, drop_caches
        self._trial_started = False

    # -- hooks -------------------------------------------------------------------------
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

    def row(self, state: UnitState, rnd: int, warmup: bool, step: str, cid: str,
            m: Optional[Measurement] = None, error: str = "") -> dict:
        target = state.target
        row = {
            "run_id": self.run_id, "experiment": self.experiment.name, "client": target.client,
            "runtime": target.runtime.name, **state.unit.condition,
            "round": rnd, "trial": state.trials_done, "warmup": warmup, "step": step,
            "wall_s": None, "user_s": None, "sys_s": None, "ok": False, "exit_code": None,
            "error": error, "container_id": cid, "timed_out": False,
        }
        if m is not None:
            row.update(wall_s=m.wall_s, user_s=m.user_s, sys_s=m.sys_s, ok=m.ok and not error,
                       exit_code=m.exit_code, error=error or m.describe_failure(),
                       timed_out=m.timed_out)
        return row

    def time_step(self, target, step: Step, cid: str) -> Measurement:
        """Time the step's commands one after another; stop at the first failure."""
        total: Optional[Measurement] = None
        for argv in target.step_commands(step, cid):
            m = self.execute(argv, self.timeout_s)
            if total is None:
                total = m
            else:
                total = Measurement(total.argv + ("&&",) + m.argv, total.wall_s + m.wall_s,
                                    total.user_s + m.user_s, total.sys_s + m.sys_s, m.exit_code,
                                    m.timed_out, "", m.stderr_tail, m.error)
            if not m.ok:
                break
        assert total is not None
        return total

    def run(self, state: UnitState, rnd: int, warmup: bool) -> Rows:
        rows: Rows = []
        self._trial_started = False
        for n, chain in enumerate(self.chains):
            if n and state.consecutive_timeouts >= self.max_timeouts:
                rows += [self.row(state, rnd, warmup, s.name, "", error="not run: target dropped")
                         for s in chain if s.name in self.steps]
                continue
            rows += self.run_chain(state, rnd, warmup, chain)
        return rows

    def run_chain(self, state: UnitState, rnd: int, warmup: bool, chain: tuple[Step, ...]) -> Rows:
        target = state.target
        rows: Rows = []
        cid = self.next_cid("l" if len(chain) > 1 else chain[0].name[0])
        failed_at = None
        for step in chain:
            timed = step.name in self.steps
            if failed_at:
                if timed:
                    rows.append(self.row(state, rnd, warmup, step.name, cid,
                                         error=f"not run: {failed_at} failed"))
                continue
            if step.wait:
                why = target.wait_stopped(cid, self.timeout_s)
                if why:
                    failed_at = f"wait for {step.wait} state"
                    if timed:
                        rows.append(self.row(state, rnd, warmup, step.name, cid,
                                             error=f"not run: {why}"))
                    continue
            extra = (self.before_step(state, step) or {}) if timed else {}
            m = self.time_step(target, step, cid)
            if timed:
                rows.append({**self.row(state, rnd, warmup, step.name, cid, m), **extra})
            state.count_command(step.name, m.timed_out, m.describe_failure())
            if not m.ok:
                failed_at = step.name
        if failed_at:
            self.remove(target, cid)
        return rows

    def remove(self, target, cid: str) -> None:
        errors = target.remove(cid)
        self.sweep(cid)
        for err in errors:
            self.say(f"cleanup: {err}")
