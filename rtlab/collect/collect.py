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
import functools
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from rtlab import __version__
from rtlab.collect import density, pull, tracing
from rtlab.collect.clients import CLIENTS, Target
from rtlab.collect.scheduler import Plan, Scheduler, Unit, UnitState, tally
from rtlab.collect.session import RunSession, new_run_id, run_token  # noqa: F401 (run_token: importers)
from rtlab.collect.trial import TrialRunner
from rtlab.core import conditions, experiments, noise, options, reaper, results
from rtlab.core.measure import harness_overhead, run_timed
from rtlab.core.runtimes import Runtime, RuntimeSpecError, default_names, resolve
from rtlab.core.workload import Workload, WorkloadError
from rtlab.host import cleanup, host, registry, rootless
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
_WIDTHS = {"k": "parallel"}  # a width condition → the option listing its values (concurrency.py)

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
    if opts.drop_caches or (
        opts.experiment == pull.EXPERIMENT and "cold" in (opts.extra.get("caches") or ["cold"])
    ):  # experiment pull drops the page cache before each cold trial
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


def grid_cells(exp: experiments.Experiment, extra: Mapping[str, Any]) -> list[dict]:
    """One condition dict per unit of ``exp``'s grid (``Experiment.grid``: condition → the
    option listing its values; the option's default when the run did not give it);
    ``[{}]`` for an experiment without one."""
    cells: list[dict] = [{}]
    for column, option in exp.grid.items():
        values = extra.get(option) or options.default(option, "collect")
        cells = [{**cell, column: v} for cell in cells for v in values]
    return cells


def build_targets(opts: CollectOptions, runtimes: list[Runtime], workdir: Path) -> list[Target]:
    by_name = {r.name: r for r in runtimes}
    pairs = opts.pairs or [(c, r.name) for c in opts.clients for r in runtimes]
    targets = []
    for client, rt_name in pairs:
        target = CLIENTS[client](
            by_name[rt_name], workdir, timeout_s=opts.timeout_s, workload=opts.workload
        )
        targets.append(target)
    return targets


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


class Collector:
    """One run folder: session, targets, metadata, schedule, cleanup, summary."""

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
        opts = self.opts
        self.skipped = dict(opts.excluded)
        for label, reason in opts.excluded.items():
            self.say(f"skipping {label}: {reason}")
        for rootful, mode in (
            (v, m)
            for t in build_targets(opts, self.runtimes, self.workdir)
            for v in t.variants(opts.networks)
            for m in opts.modes
        ):
            target = rootful.with_mode(mode)
            net = rootful.condition.get("network")
            label = (
                rootful.label
                + (f" ({net})" if net else "")
                + (f" ({mode})" if mode != rootless.DEFAULT_MODE else "")
            )
            unavailable = (
                target.unavailable_reason()
                if target is not None
                else f"{rootful.client} has no {mode} mode in rtlab yet"
            )
            if unavailable or target is None:
                self.skipped[label] = unavailable or "unavailable"
                self.say(f"skipping {label}: {self.skipped[label]}")
            else:
                for pace in opts.paces:
                    suffix = label[len(rootful.label) :] + (
                        f" @ {conditions.format_pace(pace)}" if len(opts.paces) > 1 else ""
                    )
                    # an experiment of one unit per width (concurrency: one per k)
                    key = self.by_client[target.client].width_from
                    for value in (opts.extra.get(_WIDTHS[key]) if key else None) or [None]:
                        # an experiment's grid of conditions (pull: size × compression × cache)
                        for cell in grid_cells(self.by_client[target.client], opts.extra):
                            cond = {
                                **target.condition,
                                "mode": mode,
                                "pace_s": pace,
                                **({key: value} if key else {}),
                                **cell,
                            }
                            self.states.append(
                                UnitState(
                                    Unit(
                                        target,
                                        cond,
                                        suffix=suffix
                                        + (f" {key}={value}" if key else "")
                                        + "".join(f" {k}={v}" for k, v in cell.items()),
                                    )
                                )
                            )
        if self.opts.extra.get("trace"):  # tracing.py: a traced twin of every unit
            self.states = tracing.TracedRun.twins(self.states, UnitState)
        if not self.states:
            raise UsageError(
                "nothing to measure: "
                + "; ".join(f"{label}: {why}" for label, why in self.skipped.items())
            )
        for state in self.states:
            state.target.prepare()
        for target in {id(s.target): s.target for s in self.states}.values():
            if target.cgroup is None:  # which cgroup its containers get (once a target)
                target.cgroup = target.probe_cgroup()

    def _discard_empty_out(self) -> None:
        if results.is_empty_dir(self.run_dir):
            self.run_dir.rmdir()

    def _schedule(self, writer: results.TrialWriter) -> None:
        opts = self.opts
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
                out_dir=self.run_dir,
                # the schema's defaults (options.py), never restated here
                levels=opts.extra.get("containers") or options.default("containers"),
                settle_s=opts.extra.get("settle_s", options.default("settle_s")),
                floor_mb=opts.extra.get("memory_floor_mb", options.default("memory_floor_mb")),
            )

        runners = {
            exp.name: runner_class(exp)(
                exp,
                exp.select(opts.steps),
                run_id=self.run_id,
                token=self.token,
                timeout_s=opts.timeout_s,
                max_consecutive_timeouts=opts.max_consecutive_timeouts,
                say=self.say,
                seq=self.seq,
                drop_caches=conditions.drop_caches if opts.drop_caches else None,
            )
            for exp in self.by_client.values()
        }
        count = {"seq": self.seq}  # container names stay unique across the runners
        traced = (
            tracing.TracedRun(
                self.run_dir,
                self.run_id,
                self.say,
                wakes=any(c in tracing.CLIENT_PHASES for c in self.by_client),
            )
            if opts.extra.get("trace")
            else None
        )
        if traced is not None:
            for runner in runners.values():
                traced.wrap(runner)

        def run_trial(state: UnitState, rnd: int, warmup: bool):
            runner = runners[self.by_client[state.target.client].name]
            runner.seq = count["seq"]
            try:
                if traced is not None:
                    return traced.trial(state, rnd, warmup, lambda: runner.run(state, rnd, warmup))
                return runner.run(state, rnd, warmup)
            finally:
                count["seq"] = runner.seq

        progress = Progress(
            (plan.warmup + plan.target_trials) * len(self.states),
            sys.stderr.isatty() if opts.progress is None else opts.progress,
            done=sum(s.trials_done for s in self.states),
        )
        scheduler = Scheduler(
            plan,
            self.states,
            run_trial,
            writer.write_trial,
            steps=self.steps,
            say=self.say,
            advance=progress.advance,
        )
        try:
            for runner in runners.values():  # the pull experiment's images (pull.py)
                try:
                    self.meta.update(runner.prepare())
                except registry.RegistryError as exc:
                    raise UsageError(f"experiment {runner.experiment.name}: {exc}") from None
            results.write_meta(self.run_dir, self.meta)
            if traced is not None:
                traced.start()  # before the first round: bpftrace takes 1-2 s to attach
            scheduler.run(self.next_round)
        finally:
            for runner in runners.values():
                for err in runner.finish():
                    self.say(f"cleanup: {err}")
            progress.close()
            if traced is not None:
                self.meta["trace"] = traced.finish()

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
        opts = self.opts
        versions: dict = {}
        targets = []
        for state in self.states:
            t = state.target
            versions.update(t.versions())
            targets.append(
                {
                    "client": t.client,
                    "runtime": t.runtime.name,
                    "label": t.label,
                    "argv": t.argv_templates(self.by_client[t.client].steps),
                    "config": t.config(),
                    **t.condition,
                    "mode": t.mode,
                }
            )
        facts = host.facts()
        return {
            "format_version": results.FORMAT_VERSION,
            "run_id": self.run_id,
            "token": self.token,
            "status": "running",
            "started_at": datetime.now(timezone.utc).isoformat(),
            "ended_at": None,
            "command_line": sys.argv,
            "rtlab": {"version": __version__, "git_commit": git_commit()},
            "python_packages": host.python_packages(),
            # the schema's recorded options (rtlab/core/options.py), then what collect derived
            "parameters": {
                **options.record(opts.values()),
                "experiment": self.experiment.name,  # as run (the option is experiment_asked)
                "experiments": {c: e.name for c, e in self.by_client.items()},
                "pairs": [list(p) for p in opts.pairs] if opts.pairs else None,
                "workload": opts.workload.describe(),
            },
            "protocol": {
                "order": "interleaved rounds; each round runs every target once (once per pace "
                "with several paces), shuffled by seed",
                "pace": "before each timed step, after rtlab's own bookkeeping (state polling, "
                "rows), the host is left idle for pace_s (sleeping); idle_s records the "
                "gap measured",
                "drop_caches": "sync, then 3 into /proc/sys/vm/drop_caches, before each trial's "
                "first timed step (before its pace gap)"
                if opts.drop_caches
                else None,
                "experiment": self.experiment.name,
                "other_experiments": {
                    e.name: {
                        "chains": [[s.name for s in c] for c in e.chains],
                        "total": list(e.total),
                        "derived": {k: list(v) for k, v in e.partials.items()},
                    }
                    for e in self.by_client.values()
                    if e is not self.experiment
                },
                "cri": "each step one gRPC call to rtlab's CRI containerd, timed in-process "
                "(perf_counter_ns around the call in a worker thread); waits poll "
                "ContainerStatus, untimed; one unit per network mode (column network)"
                if "cri" in self.by_client
                else None,
                "chains": [[s.name for s in chain] for chain in self.experiment.chains],
                "total": list(self.experiment.total),
                "lifecycle": [s.name for s in self.experiment.chains[0]],
                "steps": list(self.steps),
                "state_wait": "before "
                + ", ".join(
                    f"{s.name} (for the {s.wait} state)"
                    for s in self.experiment.step_defs
                    if s.wait
                )
                + ", untimed, up to timeout_s",
                "clock": "CLOCK_MONOTONIC (time.perf_counter_ns) from posix_spawn to wait4",
                "cpu": "ru_utime/ru_stime from wait4 (the process and the children it reaped)",
                "timeout": "per client command; SIGKILL to its process group",
            },
            "host": facts,
            "load_before": facts["load_average"],
            "harness_overhead": harness_overhead(),
            # the rootless wrapper's own cost beside /bin/true (rootless.py); rows include it
            **(
                {"rootless_wrapper": rootless.wrapper_overhead(rootless.account())}
                if any(s.target.mode == "rootless" for s in self.states)
                else {}
            ),
            "versions": versions,
            "targets": targets,
            "unavailable": self.skipped,
        }

    def _resumed_meta(self, fresh: dict) -> dict:
        """Check the host and versions are unchanged, restore the targets' progress,
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
        by_label = {s.label: s for s in self.states}
        restore_counts(self.states, frame)
        for label, why in (prev.get("dropped") or {}).items():
            if label in by_label:
                by_label[label].dropped = why
        self.next_round = int(frame["round"].max()) + 1 if len(frame) else 0
        self.seq = len(frame)  # an upper bound of the containers made: names stay unique
        meta = dict(prev)
        meta["status"] = "running"
        meta["resumed"] = [
            *prev.get("resumed", []),
            {
                "at": fresh["started_at"],
                "command_line": fresh["command_line"],
                "trials_before": {s.label: s.trials_done for s in self.states},
                "harness_overhead": fresh["harness_overhead"],
                "load_before": fresh["load_before"],
                "rtlab": fresh["rtlab"],
            },
        ]
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
        warnings = noise.sample_warnings({s.label: s.samples for s in self.states}, self.steps)
        cores = os.cpu_count() or 1
        for when in ("load_before", "load_after"):
            load = (self.meta.get(when) or [0.0])[0]
            if load > cores:
                warnings.append(
                    f"the 1-minute load average {when.split('_')[1]} the run was {load:.2f}, above "
                    f"the {cores} cores: other work competed with the measurements; re-run on an "
                    "idle host and compare (rtlab compare)"
                )
        return warnings

    def _finish_meta(self, status: str, leftovers: dict) -> None:
        self.meta.update(
            status=status,
            ended_at=datetime.now(timezone.utc).isoformat(),
            load_after=host.load_average(),
            cpu_mhz_after=host.cpu_frequency_mhz(),
            dropped={s.label: s.dropped for s in self.states if s.dropped},
            stopped={s.label: s.stopped for s in self.states if s.stopped},
            trials_completed={s.label: s.trials_done for s in self.states},
            cleanup=leftovers,
            reaper=reaper.settle(dict(self.reaping)),
        )
        self.meta["warnings"] = self.noise_warnings()
        results.write_meta(self.run_dir, self.meta)

    def _print_summary(self) -> None:
        for state in self.states:
            measured = max(0, state.trials_done - self.opts.warmup)
            line = f"{state.label}: {state.ok_trials}/{measured} trials ok"
            if state.dropped:
                line += f"; {state.dropped}"
            if state.failures:
                worst = "; ".join(
                    f"{step} x{n}: {err}" for (step, err), n in state.failures.most_common(3)
                )
                line += f"; failures: {worst}"
            self.say(line)
        for label, why in self.meta.get("unavailable", {}).items():
            self.say(f"{label}: not measured: {why}")
        for warning in self.meta.get("warnings", []):
            self.say(f"warning: {warning}")
        if self.summary is not None:  # the table of medians (report/views.py: pandas)
            self.say(self.summary(self.run_dir))
        self.say(f"data: {self.run_dir}")


def pd_isna(value) -> bool:
    return value is None or value != value


def restore_counts(states: list, frame) -> None:
    """Credit each unit state with the trials trials.csv already holds for it (resume).

    A unit is its target, mode and every condition that makes units apart
    (:data:`rtlab.core.conditions.APART`: pace, network, k, traced), read the same way
    from a state's condition and from a trials.csv row (:func:`conditions.unit_key`), so
    twins (traced or not, another pace, k or network) never share a count."""
    by_key = {
        (s.target.label, s.target.mode, *conditions.unit_key(s.unit.condition)): s for s in states
    }
    apart = [c.column for c in conditions.APART]
    frame = frame.copy()
    for column in ("mode", *apart):
        if column not in frame.columns:
            frame[column] = None
    for key, rows in frame.groupby(
        ["client", "runtime", "mode", *apart, "trial"], sort=True, dropna=False
    ):
        client, runtime, mode, *values, _trial = key
        state = by_key.get(
            (
                f"{client}/{runtime}",
                mode if isinstance(mode, str) and mode else rootless.DEFAULT_MODE,
                *conditions.unit_key(dict(zip(apart, values))),
            )
        )
        if state is not None:
            state.trials_done += 1
            tally(state, rows.to_dict("records"))


def _width(value) -> int | None:
    """A ``k`` read back from trials.csv (empty, NaN or pd.NA in runs without it)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


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
