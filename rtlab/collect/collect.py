"""``rtlab collect``: one run folder from checked options.

Wires the parts together: options checked (front.py's :func:`validate`) before
anything runs; a run session (session.py: token, lock, work folder, final sweep); the
targets (collect/clients/) of the experiment (experiments.py); the schedule
(scheduler.py) calling the trial runner (trial.py); run.json and trials.csv
(results.py); Ctrl-C handling; the console summary.

Protocol (stored in run.json under ``protocol``): every round runs one trial of
every target, in an order shuffled by the seed; the first ``warmup`` trials are
flagged warm-up. A lifecycle trial is create → start → kill → (wait for the
stopped state, untimed) → delete of a long-running container, then a one-shot
``run`` of ``true`` to exit; other experiments have other steps. Each client
command is timed on its own (see measure.py). A step that fails keeps its row
with the error; the steps after it are recorded as not run, and the container
is force-removed.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rtlab.collect import runmeta, unitrun, units
from rtlab.collect.front import (  # noqa: F401 (CollectOptions, options_for_resume, UsageError: importers)
    CollectOptions,
    UsageError,
    check_out,
    options_for_resume,
    validate,
)
from rtlab.collect.registry import register_host_parts
from rtlab.collect.scheduler import UnitState
from rtlab.collect.session import RunSession, new_run_id, run_token  # noqa: F401 (run_token: importers)
from rtlab.collect.unitrun import Progress  # noqa: F401 (collect.Progress: importers)
from rtlab.collect.units import build_targets, restore_counts  # noqa: F401 (importers)
from rtlab.core import reaper, results
from rtlab.core.image import REPO_ROOT
from rtlab.core.measure import run_timed
from rtlab.host import cleanup, rootless

DEFAULT_DATA_DIR = REPO_ROOT / "data"


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class CollectResult:
    run_dir: Path
    meta: dict
    status: str


def git_commit() -> str | None:
    if not (REPO_ROOT / ".git").exists() or shutil.which("git") is None:
        return None
    m = run_timed(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], 10, capture_stdout=True)
    return m.stdout.strip() if m.ok else None


def _check_writable(out: Path) -> None:
    """Create ``out`` (or find it empty) and prove a file can be written in it."""
    check_out(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".rtlab-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write there ({exc.strerror}); "
            "give a folder rtlab can create and write"
        ) from None


class Collector:
    """One run folder: session, units, metadata, schedule, cleanup, summary.

    Its collaborators: units.py plans the units and restores a resumed run's progress,
    unitrun.py runs them (the trial runners, the tracer, the scheduler), runmeta.py
    writes run.json and the summary lines."""

    def __init__(
        self,
        opts: CollectOptions,
        say: Callable[[str], None] = print,
        summary: Callable[[Path], str] | None = None,
    ):
        self.summary = summary
        self.opts = opts
        self.say = say
        self.runtimes = validate(opts)
        self.by_client = opts.experiments_by_client()
        self.experiment = opts.main_experiment
        self.steps = self.experiment.select(opts.steps)
        self.previous: dict | None = None  # run.json of the run being resumed
        self._signal: int | None = None  # the signal that interrupted the run, once one came
        if opts.resume is not None:
            self.run_dir = Path(opts.resume).absolute()
            self.previous = results.read_meta(self.run_dir)
            run_id = self.previous["run_id"]
        else:
            run_id = new_run_id()
            self.run_dir = (Path(opts.out) if opts.out else DEFAULT_DATA_DIR / run_id).absolute()
        self.session = RunSession(self.run_dir, run_id)
        self.run_id, self.token, self.workdir = run_id, self.session.token, self.session.workdir
        self.states: list[UnitState] = []
        self.meta: dict = {}
        self.next_round = 0
        self.seq = 0
        self.skipped: dict[str, str] = {}
        self.reaping: dict = {}  # what reaps the run's orphans (reaper.subreaper's record)
        self._removed: list[str] = []
        self._errors: list[str] = []

    # -- the run ---------------------------------------------------------------
    def run(self) -> CollectResult:
        # Every command of the run starts in / (rootless.CWD), the rootful and the rootless
        # alike: the rootless user cannot enter a clone in /root (mode 0700), and podman
        # and runc refuse to start in a folder they cannot enter. The run's own paths are
        # absolute (above), and the caller's folder comes back when the run ends.
        # rtlab is a child subreaper for the run (core/reaper.py): what a runtime's CLI
        # leaves behind is reaped at once, not whenever the host's PID 1 gets to it.
        with rootless.in_cwd(), reaper.subreaper() as self.reaping:
            return self._run()

    def _run(self) -> CollectResult:
        opts = self.opts
        if self.previous is None:
            _check_writable(self.run_dir)
        live = cleanup.live_runs(same_runtime_dir=True)
        if live and not opts.allow_concurrent:
            other = "; ".join(f"{token} (pid and folder: {info})" for token, info in live.items())
            self._discard_empty_out()
            raise UsageError(
                f"another rtlab collect is running: {other}; its measurements "
                "would interfere (wait for it, or pass --allow-concurrent)"
            )
        self.session.before_sweep.append(self._remove_all)
        self.session.open()
        status = "failed"
        handlers = self._install_signal_handlers()
        writer = None
        try:
            self._choose_targets()
            self.meta = self._initial_meta()
            if self.previous is not None:
                self.meta = self._resumed_meta(self.meta)
            results.write_meta(self.run_dir, self.meta)
            exps = self.by_client.values()
            width = max(2 if e.released else e.width for e in exps)
            extra = tuple(dict.fromkeys(c for e in exps for c in e.columns))
            writer = results.TrialWriter(
                self.run_dir / "trials.csv", results.trial_columns(width, extra)
            )
            self._schedule(writer)
            status = "completed"
        except Interrupted as exc:
            status = "interrupted"
            self.say(
                f"interrupted by {exc}: cleaning up; finished trials are kept in {self.run_dir}"
            )
            raise
        except UsageError:
            status = "refused"
            raise
        finally:
            # A second Ctrl-C must not cut the cleanup short: ignore signals until done.
            self._ignore_signals(handlers)
            if writer is not None:
                writer.close()
            self.session.close()
            if self.meta:
                self._finish_meta(
                    status,
                    {"removed": self._removed, "errors": self._errors, **self.session.leftovers},
                )
            else:
                self._discard_empty_out()
            self._restore_signal_handlers(handlers)
        self._print_summary()
        return CollectResult(self.run_dir, self.meta, status)

    def _choose_targets(self) -> None:
        self.states, self.skipped = units.plan_units(
            self.opts, self.runtimes, self.workdir, self.by_client, self.say
        )
        if not self.states:
            raise UsageError(
                "nothing to measure: "
                + "; ".join(f"{label}: {why}" for label, why in self.skipped.items())
            )
        units.prepare(self.states)

    def _discard_empty_out(self) -> None:
        if results.is_empty_dir(self.run_dir):
            self.run_dir.rmdir()

    def _schedule(self, writer: results.TrialWriter) -> None:
        unitrun.run_units(
            self.opts,
            self.states,
            self.by_client,
            self.steps,
            writer,
            self.meta,
            run_dir=self.run_dir,
            run_id=self.run_id,
            token=self.token,
            seq=self.seq,
            next_round=self.next_round,
            say=self.say,
            checkpoint=self._checkpoint,
        )

    # -- bookkeeping ------------------------------------------------------------
    def _install_signal_handlers(self):
        def handler(signum, _frame):
            self._signal = signum  # kept: the raise below can be swallowed (see _checkpoint)
            raise Interrupted(signum)

        saved = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                saved[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: Ctrl-C handling stays the caller's
                pass
        return saved

    def _checkpoint(self) -> None:
        """Before each trial: stop if a signal came whose exception was swallowed. Python
        ignores an exception raised while it runs an at-fork hook or a finaliser
        ("Exception ignored in …"); a Ctrl-C landing in one while a batch forks its
        commands was lost and the run went on to its end (seen in
        tests/integration/test_concurrency.py's k=16 Ctrl-C)."""
        if self._signal is not None:
            raise Interrupted(self._signal)

    @staticmethod
    def _ignore_signals(saved) -> None:
        for sig in saved:
            signal.signal(sig, signal.SIG_IGN)

    @staticmethod
    def _restore_signal_handlers(saved) -> None:
        for sig, old in saved.items():
            signal.signal(sig, old)

    def _remove_all(self) -> None:
        """Remove every container of this run from every target (before the session's sweep)."""
        removed, errors = [], []
        prefix = self.session.prefix
        for state in self.states:
            for cid in state.target.list_ids():
                if cid.startswith(prefix):
                    errors += state.target.remove(cid)
                    removed.append(f"{state.target.label}:{cid}")
        for state in self.states:  # what a client keeps running (rootless podman's pause)
            errors += state.target.finish()
        if removed:
            self.say(f"cleanup: removed {len(removed)} container(s) left by this run")
        self._removed, self._errors = removed, errors

    def _initial_meta(self) -> dict:
        return runmeta.initial_meta(
            self.opts,
            self.states,
            run_id=self.run_id,
            token=self.token,
            experiment=self.experiment,
            by_client=self.by_client,
            steps=self.steps,
            skipped=self.skipped,
            git_commit=git_commit(),
        )

    def _resumed_meta(self, fresh: dict) -> dict:
        """Check the host and versions are unchanged, restore the units' progress,
        and return the earlier run.json with this session noted."""
        prev = self.previous
        assert prev is not None
        diffs = results.identity_differences(prev, fresh) + results.version_differences(prev, fresh)
        if diffs:
            raise UsageError(
                f"--resume {self.run_dir}: the host or versions changed since the run "
                f"began ({'; '.join(diffs)}); start a new run instead"
            )
        frame = results.load_trials(self.run_dir)
        self.next_round, self.seq = units.restore(self.states, frame, prev)
        meta = runmeta.resumed_meta(prev, fresh, self.states)
        self.say(
            f"resuming {self.run_id}: "
            + ", ".join(
                f"{s.label} {s.trials_done}/{self.opts.warmup + self.opts.target_trials}"
                for s in self.states
            )
        )
        return meta

    def noise_warnings(self) -> list[str]:
        """Warnings with advice: noisy steps (noise.py's rule) and a loaded host."""
        return runmeta.noise_warnings(self.states, self.steps, self.meta)

    def _finish_meta(self, status: str, leftovers: dict) -> None:
        runmeta.finish_meta(self.meta, status, leftovers, self.states, self.steps, self.reaping)
        results.write_meta(self.run_dir, self.meta)

    def _print_summary(self) -> None:
        for line in runmeta.summary_lines(self.states, self.meta, self.opts.warmup):
            self.say(line)
        if self.summary is not None:  # the table of medians (report/views.py: pandas)
            self.say(self.summary(self.run_dir))
        self.say(f"data: {self.run_dir}")


def collect(
    opts: CollectOptions,
    say: Callable[[str], None] = print,
    summary: Callable[[Path], str] | None = None,
) -> CollectResult:
    """Validate, run the schedule, clean up; the run folder keeps every finished trial.
    ``summary``: the run folder → the table said last (cli and notebook 01 pass
    views.console_summary; measurement itself loads no pandas)."""
    register_host_parts()  # the sweeps and clients the clean-up below reaches through host
    return Collector(opts, say, summary).run()
