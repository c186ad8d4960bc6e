"""``rtlab collect``: one run folder from checked options.

Wires the parts together: options checked (:func:`validate`) before anything
runs; a run session (session.py: token, lock, work folder, final sweep); the
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

import dataclasses
import os
import shlex
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtlab.collect import density, runmeta, tracing, unitrun, units
from rtlab.collect.clients import CLIENTS
from rtlab.collect.scheduler import Plan, UnitState
from rtlab.collect.session import RunSession, new_run_id, run_token  # noqa: F401 (run_token: importers)
from rtlab.collect.unitrun import Progress  # noqa: F401 (collect.Progress: importers)
from rtlab.collect.units import build_targets, restore_counts  # noqa: F401 (importers)
from rtlab.core import conditions, experiments, options, reaper, results
from rtlab.core.measure import run_timed
from rtlab.core.runtimes import Runtime, RuntimeSpecError, default_names, resolve
from rtlab.core.workload import Workload, WorkloadError
from rtlab.host import cleanup, rootless
from rtlab.host.cri import NETWORK_MODES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT / "data"


class UsageError(ValueError):
    """Bad input, found before anything runs: one line naming the value and what is accepted."""


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _default(name: str) -> Any:
    return options.default(name, "collect")


@dataclass
class CollectOptions:
    """A collect run's options; defaults from the schema (rtlab/core/options.py). ``extra`` holds
    the values of schema options this class has no field for (an experiment's own, say):
    run.json records them and ``--resume`` restores them like the rest."""

    clients: list[str]
    runtimes: list[str]
    trials: int = _default("trials")
    warmup: int = _default("warmup")
    timeout_s: float = _default("timeout_s")
    seed: int = _default("seed")
    experiment: str | None = None  # None: each client's own (cri: "cri"), else the default
    steps: list[str] | None = None  # a subset of the experiment's steps (None: all)
    out: Path | None = None
    custom_runtimes: list[Runtime] = field(default_factory=list)
    pairs: list[tuple[str, str]] | None = None  # explicit (client, runtime) targets
    study: str | None = None
    excluded: dict[str, str] = field(
        default_factory=dict
    )  # "client/runtime" → why the study left it out
    workload: Workload = field(default_factory=Workload)  # what the containers run
    max_consecutive_timeouts: int = _default("max_consecutive_timeouts")
    allow_concurrent: bool = False
    progress: bool | None = None  # None: when stderr is a terminal
    until_ci: float | None = None  # adaptive: stop a target once every step's CI is within ±this
    min_trials: int = _default("min_trials")
    max_trials: int = _default("max_trials")
    resume: Path | None = None  # continue this interrupted run folder
    # conditions (conditions.py): the idle gap before each timed step, one unit per
    # target and pace, interleaved within rounds; the page cache dropped before each trial
    paces: list[float] = field(default_factory=lambda: list(_default("paces")))
    drop_caches: bool = False
    # the CRI's pod network modes (cri.NETWORK_MODES), each a unit of every cri target
    networks: list[str] = field(default_factory=lambda: list(NETWORK_MODES))
    # who runs the clients (rootless.py): root, or rtlab's unprivileged user; one unit each
    modes: list[str] = field(default_factory=lambda: [rootless.DEFAULT_MODE])
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: Mapping[str, Any], **fields: Any) -> CollectOptions:
        """From the schema's values (the command line's, a notebook's or a resumed
        run.json's): the fields of this class by name, image/cmd/bundle as the workload,
        every other recorded option into ``extra``; ``fields`` override."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in values.items() if k in names}
        try:
            kw["workload"] = Workload.from_options(
                values.get("image"), values.get("cmd"), values.get("bundle")
            )
        except WorkloadError as exc:
            raise UsageError(str(exc)) from None
        kw.update(fields)
        experiment = kw.get("experiment") or experiments.DEFAULT_EXPERIMENT
        kw["extra"] = {
            o.name: values[o.name]
            for o in options.recorded("collect", experiment)
            if o.name in values and o.name not in names and o.name not in _WORKLOAD
        }
        for name in ("paces", "custom_runtimes"):
            if name in kw:
                kw[name] = list(kw[name])
        return cls(**kw)

    def values(self) -> dict[str, Any]:
        """Every option's value (the schema's names), for run.json."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.update(self.extra)
        wl = self.workload
        out.update(
            image=wl.image,
            cmd=shlex.join(wl.cmd) if wl.cmd else None,
            bundle=str(wl.bundle) if wl.bundle else None,
        )
        return out

    @property
    def plan(self) -> Plan:
        return Plan(
            trials=self.trials,
            warmup=self.warmup,
            seed=self.seed,
            until_ci=self.until_ci,
            min_trials=self.min_trials,
            max_trials=self.max_trials,
            max_consecutive_timeouts=self.max_consecutive_timeouts,
        )

    @property
    def target_trials(self) -> int:
        """Measured trials per target: fixed, or the adaptive ceiling."""
        return self.plan.target_trials

    def experiments_by_client(self) -> dict[str, experiments.Experiment]:
        """client → the experiment it runs (ExperimentError: one line)."""
        return {
            c: experiments.for_client(c, CLIENTS[c].experiment, self.experiment)
            for c in dict.fromkeys([*self.clients, *(c for c, _ in self.pairs or [])])
            if c in CLIENTS
        }

    @property
    def main_experiment(self) -> experiments.Experiment:
        """The run's first experiment (a run of cri and other clients has two)."""
        exps = list(self.experiments_by_client().values())
        return next(
            (e for e in exps if e.clients is None),
            exps[0] if exps else experiments.get(self.experiment),
        )

    @property
    def measured_steps(self) -> tuple[str, ...]:
        return self.main_experiment.select(self.steps)


_WORKLOAD = ("image", "cmd", "bundle")

TargetState = UnitState  # the old name


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
    state = results.is_empty_dir(out)
    if state is False:
        raise UsageError(f"--out {out}: exists and is not empty; give a new or empty folder")
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


def validate(opts: CollectOptions) -> list[Runtime]:
    """Check every option before anything runs; return the runtimes asked for."""
    if opts.experiment == density.EXPERIMENT:
        try:
            conditions.check_drop_caches_allowed()
        except conditions.DropCachesError as exc:
            raise UsageError(
                "experiment density drops the page cache before each memory "
                "reading: "
                + str(exc).removeprefix("--drop-caches: ").replace(" or leave it out", "")
            ) from None
    unknown = [c for c in opts.clients if c not in CLIENTS]
    if unknown:
        raise UsageError(
            f"unknown client {', '.join(map(repr, unknown))}; known: {', '.join(CLIENTS)}"
        )
    try:
        experiments.get(opts.experiment)
        for exp in {e.name: e for e in opts.experiments_by_client().values()}.values():
            exp.select(opts.steps)
    except experiments.ExperimentError as exc:
        raise UsageError(str(exc)) from None
    bad = [n for n in opts.networks or [] if n not in NETWORK_MODES]
    if bad or not opts.networks:
        raise UsageError(
            f"--networks {','.join(opts.networks or [])}: "
            f"{'unknown mode ' + ', '.join(map(repr, bad)) if bad else 'none given'}; "
            f"the CRI's pod networks: {', '.join(NETWORK_MODES)}"
        )
    bad = [m for m in opts.modes or [] if m not in rootless.MODES]
    if bad or not opts.modes:
        raise UsageError(
            f"--modes {','.join(opts.modes or [])}: "
            f"{'unknown mode ' + ', '.join(map(repr, bad)) if bad else 'none given'}; "
            f"accepted: {', '.join(rootless.MODES)}"
        )
    if not opts.paces:
        raise UsageError("--paces: no pace given; give one or more durations, e.g. 0,10ms,100ms")
    for pace in opts.paces:
        try:
            conditions.parse_duration(pace)
        except conditions.DurationError as exc:
            raise UsageError(str(exc)) from None
    if opts.drop_caches:
        try:
            conditions.check_drop_caches_allowed()
        except conditions.DropCachesError as exc:
            raise UsageError(str(exc)) from None
    unknown = [c for c in opts.clients if c not in CLIENTS]
    if unknown:
        raise UsageError(
            f"unknown client {', '.join(map(repr, unknown))}; known: {', '.join(CLIENTS)}"
        )
    if not opts.clients:
        raise UsageError(f"no client given; known: {', '.join(CLIENTS)}")
    if not opts.runtimes:
        raise UsageError(
            f"no runtime given; known: {', '.join(default_names(opts.custom_runtimes))}"
        )
    # every recorded option with a field here, by the schema's own check (rtlab/core/options.py)
    values = opts.values()
    for o in options.recorded("collect", opts.experiment):
        if (
            isinstance(o.kind, (options.Whole, options.Real, options.Flag))
            and values.get(o.name) is not None
        ):
            try:
                o.kind.check(values[o.name], o.name)
            except options.OptionError as exc:
                raise UsageError(str(exc)) from None
    if opts.until_ci is not None and not 1 <= opts.min_trials <= opts.max_trials:
        raise UsageError(
            f"--min-trials {opts.min_trials} / --max-trials {opts.max_trials}: need 1 <= min <= max"
        )
    try:
        runtimes = resolve(opts.runtimes, opts.custom_runtimes)
    except RuntimeSpecError as exc:
        raise UsageError(str(exc)) from None
    if opts.extra.get("trace") and (why := tracing.missing_tool()):
        raise UsageError(why)  # before the root check: root would not help
    if os.geteuid() != 0:  # after the options: a bad value is said first
        raise UsageError(rootless.needs_root())
    return runtimes


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
        )

    # -- bookkeeping ------------------------------------------------------------
    def _install_signal_handlers(self):
        def handler(signum, _frame):
            raise Interrupted(signum)

        saved = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                saved[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: Ctrl-C handling stays the caller's
                pass
        return saved

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


def options_for_resume(
    run_dir: Path, *, allow_concurrent: bool = False, progress: bool | None = None
) -> CollectOptions:
    """The options an interrupted run was started with, to continue it."""
    try:
        params = results.read_meta(Path(run_dir))["parameters"]
    except results.RunFormatError as exc:
        raise UsageError(f"--resume: {exc}") from None
    try:
        values = options.restore(params)
    except options.OptionError as exc:
        raise UsageError(f"--resume {run_dir}: {exc}") from None
    if "experiment_asked" not in params:  # runs from before the cri client recorded it
        values["experiment"] = params.get("experiment") or None
    return CollectOptions.from_values(
        values,
        pairs=[tuple(p) for p in params["pairs"]] if params.get("pairs") else None,
        resume=Path(run_dir),
        allow_concurrent=allow_concurrent,
        progress=progress,
    )


def collect(
    opts: CollectOptions,
    say: Callable[[str], None] = print,
    summary: Callable[[Path], str] | None = None,
) -> CollectResult:
    """Validate, run the schedule, clean up; the run folder keeps every finished trial.
    ``summary``: the run folder → the table said last (cli and notebook 01 pass
    views.console_summary; measurement itself loads no pandas)."""
    return Collector(opts, say, summary).run()
