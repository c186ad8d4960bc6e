"""The schedule: interleaved rounds, warm-up, adaptive stop, drops — pure, no I/O.

Every round runs one trial of every *unit* that wants more, in an order shuffled
by the seed; a unit is a target (client × runtime) under one condition (the
condition's columns go into its rows; the conditions that make units apart are
declared once in rtlab/core/conditions.py, CONDITIONS: pace, network, k, traced). The first ``warmup`` trials of a unit
are flagged warm-up. A unit stops after its trial count, or, adaptive
(``until_ci``), once every step's median CI is within ±until_ci; it is dropped
after ``max_consecutive_timeouts`` timed-out commands in a row, or when a failed
trial is explained by the target becoming unavailable (a daemon gone).

What one trial does is not this module's business: :class:`Scheduler` calls
``run_trial(state, round, warmup) → rows`` (trial.py's :class:`TrialRunner` in
collect, an in-memory fake in tests/unit/test_scheduler.py) and ``write(rows)``.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from rtlab.core.options import default

Rows = list[dict]


@dataclass(frozen=True)
class Plan:
    """How many trials, in what order, and when to stop or drop (defaults: rtlab/core/options.py)."""

    trials: int = default("trials")
    warmup: int = default("warmup")
    seed: int = default("seed")
    until_ci: float | None = default("until_ci")
    min_trials: int = default("min_trials")
    max_trials: int = default("max_trials")
    max_consecutive_timeouts: int = default("max_consecutive_timeouts")

    @property
    def target_trials(self) -> int:
        """Measured trials per unit: fixed, or the adaptive ceiling."""
        return self.max_trials if self.until_ci is not None else self.trials


class Schedulable(Protocol):
    """What the scheduler needs of a target (drivers.base.Target, or a test's fake)."""

    @property
    def label(self) -> str: ...

    def unavailable_reason(self) -> str | None: ...


@dataclass
class Unit:
    """The interleaved unit: one target under one condition (extra row columns)."""

    target: Schedulable
    condition: dict = field(default_factory=dict)
    suffix: str | None = None  # how the label names the condition (None: its columns)

    @property
    def label(self) -> str:
        if self.suffix is not None:
            return f"{self.target.label}{self.suffix}"
        extra = ",".join(f"{k}={v}" for k, v in self.condition.items())
        return f"{self.target.label}[{extra}]" if extra else self.target.label


@dataclass
class UnitState:
    unit: Unit
    trials_done: int = 0
    consecutive_timeouts: int = 0
    last_timeout: str = ""
    dropped: str | None = None
    failures: Counter = field(default_factory=Counter)
    ok_trials: int = 0
    samples: dict = field(default_factory=lambda: defaultdict(list))  # step → measured ok wall_s
    stopped: str | None = None  # why no more trials were added

    @property
    def target(self):
        return self.unit.target

    @property
    def label(self) -> str:
        return self.unit.label

    def count_command(self, step: str, timed_out: bool, failure: str) -> None:
        """Count consecutive timed-out commands; any other outcome resets the count."""
        if timed_out:
            self.consecutive_timeouts += 1
            self.last_timeout = f"{step}: {failure}"
        else:
            self.consecutive_timeouts = 0


def tally(state: UnitState, rows: Rows) -> None:
    """Count a finished trial's outcome into its unit's state (also used on resume)."""
    if not rows or rows[0]["warmup"]:
        return
    failed = False
    for r in rows:
        if r["ok"]:
            state.samples[r["step"]].append(r["wall_s"])
        else:
            failed = True
            if not str(r["error"]).startswith("not run"):
                state.failures[(r["step"], str(r["error"])[:160])] += 1
    if not failed:
        state.ok_trials += 1


def median_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """The distribution-free CI of a median, ``[x_(k), x_(n+1-k)]`` (None: too few values).

    The same order-statistic interval as analysis/stats.py's ``median_ci`` (k the largest
    rank with ``P(B <= k - 1) <= (1 - confidence) / 2``, B ~ Binomial(n, 1/2)), in exact
    integer arithmetic: the scheduler is measurement, stdlib only."""
    x = sorted(values)
    n = len(x)
    limit = (1 - Fraction(confidence).limit_denominator(10**6)) / 2 * 2**n
    k, cumulative = 0, 0
    for i in range(n):
        cumulative += math.comb(n, i)  # 2**n * P(B <= i)
        if cumulative > limit:
            break
        k = i + 1
    return None if k == 0 else (x[k - 1], x[n - k])


def widest_ci(samples: dict, steps: Sequence[str]) -> float | None:
    """The largest relative half-width of a step median's 95% CI (None: not computable)."""
    widest = 0.0
    for step in steps:
        values = samples.get(step, [])
        if len(values) < 6:
            return None
        ci = median_ci(values)
        median = statistics.median(values)
        if median <= 0 or ci is None:
            return None
        low, high = ci
        widest = max(widest, (high - median) / median, (median - low) / median)
    return widest


class Scheduler:
    """Round after round, each unit that wants more trials once, in a seeded order."""

    def __init__(
        self,
        plan: Plan,
        states: list[UnitState],
        run_trial: Callable[[UnitState, int, bool], Rows],
        write: Callable[[Rows], None],
        *,
        steps: Sequence[str] = (),
        say: Callable[[str], None] = print,
        advance: Callable[[str], None] = lambda label: None,
        ci: Callable[[dict, Sequence[str]], float | None] = widest_ci,
    ):
        self.plan, self.states = plan, states
        self.run_trial, self.write = run_trial, write
        self.steps = tuple(steps)  # the steps the adaptive stop watches
        self.say, self.advance, self.ci = say, advance, ci

    def wants_more(self, state: UnitState) -> bool:
        """Whether the unit gets another trial; sets ``state.stopped`` when not."""
        plan = self.plan
        if state.dropped:
            state.stopped = state.stopped or state.dropped
            return False
        measured = state.trials_done - plan.warmup
        if measured < (plan.min_trials if plan.until_ci is not None else plan.trials):
            return True
        if plan.until_ci is None:
            state.stopped = f"{plan.trials} trials done"
            return False
        if measured >= plan.max_trials:
            state.stopped = (
                f"--max-trials {plan.max_trials} reached before the CI was within "
                f"±{plan.until_ci:g}"
            )
            return False
        widest = self.ci(state.samples, self.steps)
        if widest is not None and widest <= plan.until_ci:
            state.stopped = (
                f"every step's 95% CI within ±{plan.until_ci:g} of its median "
                f"(widest ±{widest:.3f}) after {measured} trials"
            )
            return False
        return True

    def order(self, rnd: int) -> list[UnitState]:
        """This round's units, shuffled by the seed and the round number."""
        units = [s for s in self.states if self.wants_more(s)]
        random.Random(self.plan.seed * 1_000_003 + rnd).shuffle(units)
        return units

    def run(self, first_round: int = 0) -> int:
        """Run rounds until no unit wants more; the next round number."""
        rnd = first_round
        while True:
            units = self.order(rnd)
            if not units:
                return rnd
            for state in units:
                warmup = state.trials_done < self.plan.warmup
                rows = self.run_trial(state, rnd, warmup)
                self.write(rows)
                self.finish_trial(state, rows)
                self.advance(state.label)
            rnd += 1

    def finish_trial(self, state: UnitState, rows: Rows) -> None:
        state.trials_done += 1
        tally(state, rows)
        if state.dropped:
            return
        if state.consecutive_timeouts >= self.plan.max_consecutive_timeouts:
            state.dropped = (
                f"dropped after {self.plan.max_consecutive_timeouts} consecutive "
                f"timeouts ({state.last_timeout})"
            )
        elif any(not r["ok"] for r in rows):
            why = state.target.unavailable_reason()
            if why:
                state.dropped = f"dropped: {why}"
        if state.dropped:
            self.say(f"{state.label}: {state.dropped}")
