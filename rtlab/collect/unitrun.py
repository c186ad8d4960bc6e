"""Running a collect run's units: each experiment's trial runner (density's around its
levels), the traced twins' tracer (``--trace``), the progress line, the scheduler's rounds.

Split out of collect.py's ``Collector`` (issue 32), which calls :func:`run_units`.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rtlab.collect import density, pull, tracing
from rtlab.collect.scheduler import Scheduler, UnitState
from rtlab.collect.trial import TrialRunner
from rtlab.core import conditions, experiments, options, results
from rtlab.core.usage import UsageError
from rtlab.host import registry


class Progress:
    """Trials done out of ``total`` on ``stream`` (stderr), when ``enabled``: tqdm's bar on a
    terminal; elsewhere (a notebook kernel's stderr, a pipe) one plain line rewritten
    after a carriage return, ``[####......] 12/40 trials  runc/oci  eta   31 s``."""

    WIDTH = 30

    def __init__(self, total: int, enabled: bool, done: int = 0, stream: IO[str] | None = None):
        self.total, self.done, self.enabled = total, done, enabled
        self.stream = sys.stderr if stream is None else stream
        self.started = time.monotonic()
        self._bar: Any = None  # a tqdm bar (tqdm has no type hints)
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=done,
                file=self.stream,
                unit="trial",
                dynamic_ncols=True,
                leave=True,
            )

    def advance(self, label: str) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(1)
            return
        if not self.enabled:
            return
        filled = int(self.WIDTH * self.done / max(1, self.total))
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/"
            f"{self.total} trials  {label:<18} eta {eta:4.0f} s "
        )
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            self.stream.write("\n")


def run_units(
    opts: Any,
    states: list[UnitState],
    by_client: dict[str, experiments.Experiment],
    steps: tuple[str, ...],
    writer: results.TrialWriter,
    meta: dict,
    *,
    run_dir: Path,
    run_id: str,
    token: str,
    seq: int,
    next_round: int,
    say: Callable[[str], None],
    checkpoint: Callable[[], None] = lambda: None,
) -> None:
    """Run the schedule of ``states`` for ``opts`` (a collect.CollectOptions) from round
    ``next_round``, container names numbered from ``seq``; each trial's rows to ``writer``;
    under ``--trace`` the tracer's record into ``meta["trace"]``."""
    plan = opts.plan

    pulled: dict = {}  # the images the pull runners push once (collect/pull.py)

    def runner_class(exp):  # density brings up its levels around the timed start
        if exp.name in pull.EXPERIMENTS:  # pull: its images, their cache state (pull.py)
            return functools.partial(
                pull.PullRunner,
                sizes=opts.extra.get("image_sizes"),
                compressions=opts.extra.get("compressions"),
                seed=opts.seed,
                shared=pulled,
            )
        if exp.name != density.EXPERIMENT:
            return TrialRunner
        return functools.partial(
            density.DensityRunner,
            out_dir=run_dir,
            # the schema's defaults (options.py), never restated here
            levels=opts.extra.get("containers") or options.default("containers"),
            settle_s=opts.extra.get("settle_s", options.default("settle_s")),
            floor_mb=opts.extra.get("memory_floor_mb", options.default("memory_floor_mb")),
        )

    runners = {
        exp.name: runner_class(exp)(
            exp,
            exp.select(opts.steps),
            run_id=run_id,
            token=token,
            timeout_s=opts.timeout_s,
            max_consecutive_timeouts=opts.max_consecutive_timeouts,
            say=say,
            seq=seq,
            drop_caches=conditions.drop_caches if opts.drop_caches else None,
        )
        for exp in by_client.values()
    }
    count = {"seq": seq}  # container names stay unique across the runners
    traced = (
        tracing.TracedRun(
            run_dir,
            run_id,
            say,
            wakes=any(s.target.traces_wakes for s in states),
        )
        if opts.extra.get("trace")
        else None
    )
    if traced is not None:
        for runner in runners.values():
            traced.wrap(runner)

    def run_trial(state: UnitState, rnd: int, warmup: bool):
        checkpoint()  # a Ctrl-C whose exception was swallowed stops the run here
        runner = runners[by_client[state.target.client].name]
        runner.seq = count["seq"]
        try:
            if traced is not None:
                return traced.trial(state, rnd, warmup, lambda: runner.run(state, rnd, warmup))
            return runner.run(state, rnd, warmup)
        finally:
            count["seq"] = runner.seq

    progress = Progress(
        (plan.warmup + plan.target_trials) * len(states),
        sys.stderr.isatty() if opts.progress is None else opts.progress,
        done=sum(s.trials_done for s in states),
    )
    scheduler = Scheduler(
        plan,
        states,
        run_trial,
        writer.write_trial,
        steps=steps,
        say=say,
        advance=progress.advance,
    )
    try:
        for runner in runners.values():  # the pull experiment's images (pull.py)
            try:
                meta.update(runner.prepare())
            except registry.RegistryError as exc:
                raise UsageError(f"experiment {runner.experiment.name}: {exc}") from None
        results.write_meta(run_dir, meta)
        if traced is not None:
            traced.start()  # before the first round: bpftrace takes 1-2 s to attach
        scheduler.run(next_round)
    finally:
        for runner in runners.values():
            for err in runner.finish():
                say(f"cleanup: {err}")
        progress.close()
        if traced is not None:
            meta["trace"] = traced.finish()
