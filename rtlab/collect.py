"""The trial scheduler: warm-up, interleaved rounds, state waits, cleanup.

Protocol (stored in run.json under ``protocol``): every round runs one trial of
every target, in an order shuffled by the seed; the first ``warmup`` rounds are
flagged warm-up. A trial is the lifecycle create → start → kill → (wait for the
stopped state, untimed) → delete of a long-running container, then a one-shot
``run`` of ``true`` to exit. Each client command is timed on its own (see
measure.py). A step that fails keeps its row with the error; the steps after it
in the lifecycle are recorded as not run, and the container is force-removed.
"""

from __future__ import annotations

import os
import random
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from . import __version__, cleanup, host, results
from .drivers import CLIENTS, LIFECYCLE, STEPS, Target
from .image import RUNTIME_DIR
from .measure import Measurement, harness_overhead, run_timed
from .runtimes import Runtime, RuntimeSpecError, default_names, resolve
from .workload import Workload

REPO_ROOT = Path(__file__).resolve().parents[1]
NOISY_CV = 0.10
DEFAULT_DATA_DIR = REPO_ROOT / "data"


class UsageError(ValueError):
    """Bad input, found before anything runs: one line naming the value and what is accepted."""


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class CollectOptions:
    clients: list[str]
    runtimes: list[str]
    trials: int = 10
    warmup: int = 2
    timeout_s: float = 30.0
    seed: int = 0
    out: Optional[Path] = None
    custom_runtimes: list[Runtime] = field(default_factory=list)
    pairs: Optional[list[tuple[str, str]]] = None  # explicit (client, runtime) targets
    study: Optional[str] = None
    excluded: dict[str, str] = field(default_factory=dict)  # "client/runtime" → why the study left it out
    workload: Workload = field(default_factory=Workload)  # what the containers run
    max_consecutive_timeouts: int = 2
    allow_concurrent: bool = False
    progress: Optional[bool] = None  # None: when stderr is a terminal
    until_ci: Optional[float] = None  # adaptive: stop a target once every step's CI is within ±this
    min_trials: int = 10
    max_trials: int = 200
    resume: Optional[Path] = None  # continue this interrupted run folder

    @property
    def target_trials(self) -> int:
        """Measured trials per target: fixed, or the adaptive ceiling."""
        return self.max_trials if self.until_ci is not None else self.trials


@dataclass
class TargetState:
    target: Target
    trials_done: int = 0
    consecutive_timeouts: int = 0
    dropped: Optional[str] = None
    failures: Counter = field(default_factory=Counter)
    ok_trials: int = 0
    samples: dict = field(default_factory=lambda: defaultdict(list))  # step → measured ok wall_s
    stopped: Optional[str] = None  # why no more trials were added


@dataclass
class CollectResult:
    run_dir: Path
    meta: dict
    status: str


def new_run_id(now: Optional[datetime] = None) -> str:
    now = now or datetime.now(timezone.utc)
    host_part = socket.gethostname().split(".")[0] or "host"
    return f"{now:%Y%m%dT%H%M%SZ}-{host_part}-{secrets.token_hex(2)}"


def run_token(run_id: str) -> str:
    """The part of the run id that goes into container ids: ``<stamp>-<hex>``."""
    parts = run_id.split("-")
    return f"{parts[0]}-{parts[-1]}"


def git_commit() -> Optional[str]:
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
        raise UsageError(f"--out {out}: cannot write there ({exc.strerror}); "
                         "give a folder rtlab can create and write") from None


def validate(opts: CollectOptions) -> list[Runtime]:
    """Check every option before anything runs; return the runtimes asked for."""
    unknown = [c for c in opts.clients if c not in CLIENTS]
    if unknown:
        raise UsageError(f"unknown client {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(CLIENTS)}")
    if not opts.clients:
        raise UsageError(f"no client given; known: {', '.join(CLIENTS)}")
    if not opts.runtimes:
        raise UsageError(f"no runtime given; known: {', '.join(default_names(opts.custom_runtimes))}")
    if isinstance(opts.trials, bool) or not isinstance(opts.trials, int) or opts.trials < 1:
        raise UsageError(f"--trials {opts.trials!r}: must be a whole number of at least 1")
    if isinstance(opts.warmup, bool) or not isinstance(opts.warmup, int) or opts.warmup < 0:
        raise UsageError(f"--warmup {opts.warmup!r}: must be a whole number of at least 0")
    if not isinstance(opts.timeout_s, (int, float)) or isinstance(opts.timeout_s, bool) \
            or not opts.timeout_s > 0 or opts.timeout_s != opts.timeout_s:
        raise UsageError(f"--timeout {opts.timeout_s!r}: must be a number of seconds above 0")
    if isinstance(opts.seed, bool) or not isinstance(opts.seed, int):
        raise UsageError(f"--seed {opts.seed!r}: must be a whole number")
    if opts.until_ci is not None:
        if not isinstance(opts.until_ci, (int, float)) or not 0 < opts.until_ci < 1:
            raise UsageError(f"--until-ci {opts.until_ci!r}: must be a fraction between 0 and 1 "
                             "(0.05 = the median's 95% CI within ±5%)")
        if not 1 <= opts.min_trials <= opts.max_trials:
            raise UsageError(f"--min-trials {opts.min_trials} / --max-trials {opts.max_trials}: "
                             "need 1 <= min <= max")
    try:
        return resolve(opts.runtimes, opts.custom_runtimes)
    except RuntimeSpecError as exc:
        raise UsageError(str(exc)) from None


def build_targets(opts: CollectOptions, runtimes: list[Runtime], workdir: Path) -> list[Target]:
    by_name = {r.name: r for r in runtimes}
    pairs = opts.pairs or [(c, r.name) for c in opts.clients for r in runtimes]
    targets = []
    for client, rt_name in pairs:
        target = CLIENTS[client](by_name[rt_name], workdir, timeout_s=opts.timeout_s,
                                 workload=opts.workload)
        targets.append(target)
    return targets


class Progress:
    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled = total, 0, enabled
        self.started = time.monotonic()

    def advance(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / max(1, self.total))
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                         f"trials  {label:<18} eta {eta:4.0f} s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


class Collector:
    """Runs the schedule for one run folder; see the module docstring."""

    def __init__(self, opts: CollectOptions, say: Callable[[str], None] = print):
        self.opts = opts
        self.say = say
        self.runtimes = validate(opts)
        self.previous: Optional[dict] = None  # run.json of the run being resumed
        if opts.resume is not None:
            self.run_dir = Path(opts.resume)
            self.previous = results.read_meta(self.run_dir)
            self.run_id = self.previous["run_id"]
        else:
            self.run_id = new_run_id()
            self.run_dir = Path(opts.out) if opts.out else DEFAULT_DATA_DIR / self.run_id
            _check_writable(self.run_dir)
        self.token = run_token(self.run_id)
        self.workdir = RUNTIME_DIR / self.token
        self.lock = cleanup.RunLock(self.token, self.run_dir)
        self.states: list[TargetState] = []
        self.meta: dict = {}
        self.seq = 0
        self.next_round = 0

    # -- the run ---------------------------------------------------------------
    def run(self) -> CollectResult:
        opts = self.opts
        live = cleanup.live_runs()
        if live and not opts.allow_concurrent:
            other = "; ".join(f"{token} (pid and folder: {info})" for token, info in live.items())
            self._discard_empty_out()
            raise UsageError(f"another rtlab collect is running: {other}; its measurements "
                             "would interfere (wait for it, or pass --allow-concurrent)")
        self.lock.acquire()
        status = "failed"
        handlers = self._install_signal_handlers()
        writer = None
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            targets = build_targets(opts, self.runtimes, self.workdir)
            skipped = dict(opts.excluded)
            for label, reason in opts.excluded.items():
                self.say(f"skipping {label}: {reason}")
            for target in targets:
                reason = target.unavailable_reason()
                if reason:
                    skipped[target.label] = reason
                    self.say(f"skipping {target.label}: {reason}")
                else:
                    self.states.append(TargetState(target))
            if not self.states:
                raise UsageError("nothing to measure: " + "; ".join(
                    f"{label}: {why}" for label, why in skipped.items()))
            for state in self.states:
                state.target.prepare()
            self.meta = self._initial_meta(skipped)
            if self.previous is not None:
                self.meta = self._resumed_meta(self.meta)
            results.write_meta(self.run_dir, self.meta)
            writer = results.TrialWriter(self.run_dir / "trials.csv")
            self._schedule(writer)
            status = "completed"
        except Interrupted as exc:
            status = "interrupted"
            self.say(f"interrupted by {exc}: cleaning up; finished trials are kept in {self.run_dir}")
            raise
        except UsageError:
            status = "refused"
            raise
        finally:
            # A second Ctrl-C must not cut the cleanup short: ignore signals until done.
            self._ignore_signals(handlers)
            if writer is not None:
                writer.close()
            leftovers = self._cleanup_all()
            self.lock.release()
            if self.meta:
                self._finish_meta(status, leftovers)
            else:
                self._discard_empty_out()
            self._restore_signal_handlers(handlers)
        self._print_summary()
        return CollectResult(self.run_dir, self.meta, status)

    def _discard_empty_out(self) -> None:
        if results.is_empty_dir(self.run_dir):
            self.run_dir.rmdir()

    def _wants_more(self, state: TargetState) -> bool:
        """Whether the target gets another trial; sets ``state.stopped`` when not."""
        opts = self.opts
        if state.dropped:
            state.stopped = state.stopped or state.dropped
            return False
        measured = state.trials_done - opts.warmup
        if measured < (opts.min_trials if opts.until_ci is not None else opts.trials):
            return True
        if opts.until_ci is None:
            state.stopped = f"{opts.trials} trials done"
            return False
        if measured >= opts.max_trials:
            state.stopped = f"--max-trials {opts.max_trials} reached before the CI was within ±{opts.until_ci:g}"
            return False
        widest = self._widest_ci(state)
        if widest is not None and widest <= opts.until_ci:
            state.stopped = (f"every step's 95% CI within ±{opts.until_ci:g} of its median "
                             f"(widest ±{widest:.3f}) after {measured} trials")
            return False
        return True

    @staticmethod
    def _widest_ci(state: TargetState) -> Optional[float]:
        """The largest relative half-width of a step median's 95% CI (None: not computable)."""
        from .stats import median_ci

        widest = 0.0
        for step in STEPS:
            values = state.samples.get(step, [])
            if len(values) < 6:
                return None
            ci = median_ci(values)
            median = statistics.median(values)
            if median <= 0 or ci.low != ci.low:
                return None
            widest = max(widest, (ci.high - median) / median, (median - ci.low) / median)
        return widest

    def _schedule(self, writer: results.TrialWriter) -> None:
        """Round after round, each target that wants more trials once, in a seeded order."""
        opts = self.opts
        per_target = opts.warmup + opts.target_trials
        progress = Progress(per_target * len(self.states),
                            sys.stderr.isatty() if opts.progress is None else opts.progress)
        progress.done = sum(s.trials_done for s in self.states)
        rnd = self.next_round
        try:
            while True:
                order = [s for s in self.states if self._wants_more(s)]
                if not order:
                    break
                random.Random(opts.seed * 1_000_003 + rnd).shuffle(order)
                for state in order:
                    rows = self._trial(state, rnd, warmup=state.trials_done < opts.warmup)
                    writer.write_trial(rows)
                    progress.advance(state.target.label)
                rnd += 1
        finally:
            progress.close()

    # -- one trial ---------------------------------------------------------------
    def _next_cid(self, kind: str) -> str:
        self.seq += 1
        return f"{cleanup.CONTAINER_PREFIX}{self.token}-{self.seq:05d}{kind}"

    def _row(self, state: TargetState, rnd: int, warmup: bool, step: str, cid: str,
             m: Optional[Measurement] = None, error: str = "") -> dict:
        target = state.target
        row = {
            "run_id": self.run_id, "client": target.client, "runtime": target.runtime.name,
            "round": rnd, "trial": state.trials_done, "warmup": warmup, "step": step,
            "wall_s": None, "user_s": None, "sys_s": None, "ok": False, "exit_code": None,
            "error": error, "container_id": cid,
        }
        if m is not None:
            row.update(wall_s=m.wall_s, user_s=m.user_s, sys_s=m.sys_s, ok=m.ok and not error,
                       exit_code=m.exit_code, error=error or m.describe_failure())
        return row

    def _time_step(self, target: Target, step: str, cid: str) -> Measurement:
        """Time the step's commands one after another; stop at the first failure."""
        total: Optional[Measurement] = None
        for argv in target.commands(step, cid):
            m = run_timed(argv, self.opts.timeout_s)
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

    def _trial(self, state: TargetState, rnd: int, warmup: bool) -> list[dict]:
        target = state.target
        rows: list[dict] = []
        timeouts: list[str] = []

        cid = self._next_cid("l")
        failed_at = None
        for step in LIFECYCLE:
            if failed_at:
                rows.append(self._row(state, rnd, warmup, step, cid,
                                      error=f"not run: {failed_at} failed"))
                continue
            if step == "delete":
                why = target.wait_stopped(cid, self.opts.timeout_s)
                if why:
                    failed_at = "wait for stopped state"
                    rows.append(self._row(state, rnd, warmup, step, cid, error=f"not run: {why}"))
                    continue
            m = self._time_step(target, step, cid)
            rows.append(self._row(state, rnd, warmup, step, cid, m))
            self._count_timeout(state, step, m, timeouts)
            if not m.ok:
                failed_at = step
        if failed_at:
            self._remove(target, cid)

        if not self._too_many_timeouts(state):
            cid_run = self._next_cid("r")
            m = self._time_step(target, "run", cid_run)
            rows.append(self._row(state, rnd, warmup, "run", cid_run, m))
            self._count_timeout(state, "run", m, timeouts)
            if not m.ok:
                self._remove(target, cid_run)
        else:
            rows.append(self._row(state, rnd, warmup, "run", "", error="not run: target dropped"))

        state.trials_done += 1
        self._tally(state, rows)
        failures = [r for r in rows if not r["ok"]]
        if self._too_many_timeouts(state):
            state.dropped = (f"dropped after {self.opts.max_consecutive_timeouts} consecutive "
                             f"timeouts ({timeouts[-1]})")
        elif failures and not state.dropped:
            why = target.unavailable_reason()
            if why:
                state.dropped = f"dropped: {why}"
        if state.dropped:
            self.say(f"{target.label}: {state.dropped}")
        return rows

    @staticmethod
    def _tally(state: TargetState, rows: list[dict]) -> None:
        """Count a finished trial's outcome into the target's state (also used on resume)."""
        if rows[0]["warmup"]:
            return
        failed = False
        for r in rows:
            if r["ok"]:
                state.samples[r["step"]].append(r["wall_s"])
            else:
                failed = True
                if not r["error"].startswith("not run"):
                    state.failures[(r["step"], r["error"][:160])] += 1
        if not failed:
            state.ok_trials += 1

    @staticmethod
    def _count_timeout(state: TargetState, step: str, m: Measurement, timeouts: list[str]) -> None:
        """Count consecutive timed-out steps of a target; any other outcome resets it."""
        if m.timed_out:
            state.consecutive_timeouts += 1
            timeouts.append(f"{step}: {m.describe_failure()}")
        else:
            state.consecutive_timeouts = 0

    def _too_many_timeouts(self, state: TargetState) -> bool:
        return state.consecutive_timeouts >= self.opts.max_consecutive_timeouts

    def _remove(self, target: Target, cid: str) -> None:
        errors = target.remove(cid)
        cleanup.sweep(cid)
        for err in errors:
            self.say(f"cleanup: {err}")

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

    def _cleanup_all(self) -> dict:
        """Remove every container of this run from every target, then sweep the host."""
        removed, errors = [], []
        prefix = f"{cleanup.CONTAINER_PREFIX}{self.token}-"
        for state in self.states:
            for cid in state.target.list_ids():
                if cid.startswith(prefix):
                    errors += state.target.remove(cid)
                    removed.append(f"{state.target.label}:{cid}")
        swept = cleanup.sweep(prefix)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if removed:
            self.say(f"cleanup: removed {len(removed)} container(s) left by this run")
        return {"removed": removed, "errors": errors, **swept}

    def _initial_meta(self, skipped: dict[str, str]) -> dict:
        opts = self.opts
        versions: dict = {}
        targets = []
        for state in self.states:
            t = state.target
            versions.update(t.versions())
            targets.append({"client": t.client, "runtime": t.runtime.name, "label": t.label,
                            "argv": t.argv_templates(), "config": t.config()})
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
            "parameters": {
                "study": opts.study, "clients": opts.clients, "runtimes": opts.runtimes,
                "pairs": [list(p) for p in opts.pairs] if opts.pairs else None,
                "workload": opts.workload.describe(),
                "workload_options": {"image": opts.workload.image, "cmd": list(opts.workload.cmd),
                                     "bundle": str(opts.workload.bundle) if opts.workload.bundle else None},
                "until_ci": opts.until_ci, "min_trials": opts.min_trials,
                "max_trials": opts.max_trials,
                "custom_runtimes": [{"name": r.name, "binary": r.binary, "flags": list(r.flags)}
                                    for r in opts.custom_runtimes],
                "trials": opts.trials, "warmup": opts.warmup, "timeout_s": opts.timeout_s,
                "seed": opts.seed, "max_consecutive_timeouts": opts.max_consecutive_timeouts,
                "allow_concurrent": opts.allow_concurrent,
            },
            "protocol": {
                "order": "interleaved rounds; each round runs every target once, shuffled by seed",
                "lifecycle": list(LIFECYCLE),
                "steps": list(STEPS),
                "state_wait": "between kill and delete, untimed, up to timeout_s",
                "clock": "CLOCK_MONOTONIC (time.perf_counter_ns) from posix_spawn to wait4",
                "cpu": "ru_utime/ru_stime from wait4 (the process and the children it reaped)",
                "timeout": "per client command; SIGKILL to its process group",
            },
            "host": facts,
            "load_before": facts["load_average"],
            "harness_overhead": harness_overhead(),
            "versions": versions,
            "targets": targets,
            "unavailable": skipped,
        }

    def _resumed_meta(self, fresh: dict) -> dict:
        """Check the host and versions are unchanged, restore the targets' progress,
        and return the earlier run.json with this session noted."""
        prev = self.previous
        assert prev is not None
        diffs = results.identity_differences(prev, fresh) + results.version_differences(prev, fresh)
        if diffs:
            raise UsageError(f"--resume {self.run_dir}: the host or versions changed since the run "
                             f"began ({'; '.join(diffs)}); start a new run instead")
        frame = results.load_trials(self.run_dir)
        by_label = {s.target.label: s for s in self.states}
        for (client, runtime, _trial), rows in frame.groupby(["client", "runtime", "trial"], sort=True):
            state = by_label.get(f"{client}/{runtime}")
            if state is not None:
                state.trials_done += 1
                self._tally(state, rows.to_dict("records"))
        for label, why in (prev.get("dropped") or {}).items():
            if label in by_label:
                by_label[label].dropped = why
        self.next_round = int(frame["round"].max()) + 1 if len(frame) else 0
        self.seq = len(frame)
        meta = dict(prev)
        meta["status"] = "running"
        meta["resumed"] = [*prev.get("resumed", []), {
            "at": fresh["started_at"], "command_line": fresh["command_line"],
            "trials_before": {s.target.label: s.trials_done for s in self.states},
            "harness_overhead": fresh["harness_overhead"], "load_before": fresh["load_before"],
            "rtlab": fresh["rtlab"]}]
        self.say(f"resuming {self.run_id}: " + ", ".join(
            f"{s.target.label} {s.trials_done}/{self.opts.warmup + self.opts.target_trials}"
            for s in self.states))
        return meta

    def noise_warnings(self) -> list[str]:
        """Warnings with advice: noisy steps (CV above 10%) and a loaded host."""
        warnings = []
        for state in self.states:
            noisy = []
            for step in STEPS:
                values = state.samples.get(step, [])
                if len(values) < 3:
                    continue
                mean = statistics.fmean(values)
                cv = statistics.stdev(values) / mean if mean > 0 else 0.0
                if cv > NOISY_CV:
                    noisy.append(f"{step} {cv:.0%}")
            if noisy:
                warnings.append(
                    f"{state.target.label}: coefficient of variation above {NOISY_CV:.0%} in "
                    f"{', '.join(noisy)}; those medians are less certain: add trials (--trials, "
                    "or --until-ci 0.05) and measure on a quiet host (stop other jobs)")
        cores = os.cpu_count() or 1
        for when in ("load_before", "load_after"):
            load = (self.meta.get(when) or [0.0])[0]
            if load > cores:
                warnings.append(
                    f"the 1-minute load average {when.split('_')[1]} the run was {load:.2f}, above "
                    f"the {cores} cores: other work competed with the measurements; re-run on an "
                    "idle host and compare (rtlab compare)")
        return warnings

    def _finish_meta(self, status: str, leftovers: dict) -> None:
        self.meta.update(
            status=status,
            ended_at=datetime.now(timezone.utc).isoformat(),
            load_after=host.load_average(),
            cpu_mhz_after=host.cpu_frequency_mhz(),
            dropped={s.target.label: s.dropped for s in self.states if s.dropped},
            stopped={s.target.label: s.stopped for s in self.states if s.stopped},
            trials_completed={s.target.label: s.trials_done for s in self.states},
            cleanup=leftovers,
        )
        self.meta["warnings"] = self.noise_warnings()
        results.write_meta(self.run_dir, self.meta)

    def _print_summary(self) -> None:
        for state in self.states:
            label = state.target.label
            measured = max(0, state.trials_done - self.opts.warmup)
            line = f"{label}: {state.ok_trials}/{measured} trials ok"
            if state.dropped:
                line += f"; {state.dropped}"
            if state.failures:
                worst = "; ".join(f"{step} x{n}: {err}" for (step, err), n in state.failures.most_common(3))
                line += f"; failures: {worst}"
            self.say(line)
        for label, why in self.meta.get("unavailable", {}).items():
            self.say(f"{label}: not measured: {why}")
        for warning in self.meta.get("warnings", []):
            self.say(f"warning: {warning}")
        from .views import console_summary  # pandas only once the run is over
        self.say(console_summary(self.run_dir))
        self.say(f"data: {self.run_dir}")


def options_for_resume(run_dir: Path, *, allow_concurrent: bool = False,
                       progress: Optional[bool] = None) -> CollectOptions:
    """The options an interrupted run was started with, to continue it."""
    try:
        params = results.read_meta(Path(run_dir))["parameters"]
    except results.RunFormatError as exc:
        raise UsageError(f"--resume: {exc}") from None
    wl = params.get("workload_options") or {}
    return CollectOptions(
        clients=params["clients"], runtimes=params["runtimes"], trials=params["trials"],
        warmup=params["warmup"], timeout_s=params["timeout_s"], seed=params["seed"],
        custom_runtimes=[Runtime(r["name"], r["binary"], tuple(r["flags"]), "user-supplied")
                         for r in params.get("custom_runtimes", [])],
        pairs=[tuple(p) for p in params["pairs"]] if params.get("pairs") else None,
        study=params.get("study"),
        workload=Workload.from_options(wl.get("image"), shlex.join(wl["cmd"]) if wl.get("cmd") else None,
                                       wl.get("bundle")),
        max_consecutive_timeouts=params.get("max_consecutive_timeouts", 2),
        until_ci=params.get("until_ci"), min_trials=params.get("min_trials", 10),
        max_trials=params.get("max_trials", 200), resume=Path(run_dir),
        allow_concurrent=allow_concurrent, progress=progress)


def collect(opts: CollectOptions, say: Callable[[str], None] = print) -> CollectResult:
    """Validate, run the schedule, clean up; the run folder keeps every finished trial."""
    return Collector(opts, say).run()
