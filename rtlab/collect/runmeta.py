"""run.json of a collect run, and what the console says at its end: the initial record
(parameters, protocol, host, versions, targets), a resumed run's record, the final one
(status, cleanup, reaper, warnings), the noise warnings and the summary lines.

Split out of collect.py's ``Collector`` (issue 32), which calls these.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from typing import Any

from rtlab import __version__
from rtlab.collect.scheduler import UnitState
from rtlab.core import experiments, noise, options, reaper, results
from rtlab.core.measure import harness_overhead
from rtlab.host import host, rootless


def initial_meta(
    opts: Any,
    states: list[UnitState],
    *,
    run_id: str,
    token: str,
    experiment: experiments.Experiment,
    by_client: dict[str, experiments.Experiment],
    steps: tuple[str, ...],
    skipped: dict[str, str],
    git_commit: str | None,
) -> dict:
    """run.json as a run begins, for ``opts`` (a collect.CollectOptions) and its units."""
    versions: dict = {}
    targets = []
    for state in states:
        t = state.target
        versions.update(t.versions())
        targets.append(
            {
                "client": t.client,
                "runtime": t.runtime.name,
                "label": t.label,
                "argv": t.argv_templates(by_client[t.client].steps),
                "config": t.config(),
                **t.condition,
                "mode": t.mode,
            }
        )
    facts = host.facts()
    return {
        "format_version": results.FORMAT_VERSION,
        "run_id": run_id,
        "token": token,
        "status": "running",
        "started_at": datetime.now(timezone.utc).isoformat(),
        "ended_at": None,
        "command_line": sys.argv,
        "rtlab": {"version": __version__, "git_commit": git_commit},
        "python_packages": host.python_packages(),
        # the schema's recorded options (rtlab/core/options.py), then what collect derived
        "parameters": {
            **options.record(opts.values()),
            "experiment": experiment.name,  # as run (the option is experiment_asked)
            "experiments": {c: e.name for c, e in by_client.items()},
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
            "experiment": experiment.name,
            "other_experiments": {
                e.name: {
                    "chains": [[s.name for s in c] for c in e.chains],
                    "total": list(e.total),
                    "derived": {k: list(v) for k, v in e.partials.items()},
                }
                for e in by_client.values()
                if e is not experiment
            },
            "cri": "each step one gRPC call to rtlab's CRI containerd, timed in-process "
            "(perf_counter_ns around the call in a worker thread); waits poll "
            "ContainerStatus, untimed; one unit per network mode (column network)"
            if "cri" in by_client
            else None,
            "chains": [[s.name for s in chain] for chain in experiment.chains],
            "total": list(experiment.total),
            "lifecycle": [s.name for s in experiment.chains[0]],
            "steps": list(steps),
            "state_wait": "before "
            + ", ".join(
                f"{s.name} (for the {s.wait} state)" for s in experiment.step_defs if s.wait
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
            if any(s.target.mode == "rootless" for s in states)
            else {}
        ),
        "versions": versions,
        "targets": targets,
        "unavailable": skipped,
    }


def resumed_meta(previous: dict, fresh: dict, states: list[UnitState]) -> dict:
    """The earlier run.json (``previous``) with this session noted (``fresh``: this
    session's :func:`initial_meta`), the units' progress already restored."""
    meta = dict(previous)
    meta["status"] = "running"
    meta["resumed"] = [
        *previous.get("resumed", []),
        {
            "at": fresh["started_at"],
            "command_line": fresh["command_line"],
            "trials_before": {s.label: s.trials_done for s in states},
            "harness_overhead": fresh["harness_overhead"],
            "load_before": fresh["load_before"],
            "rtlab": fresh["rtlab"],
        },
    ]
    return meta


def noise_warnings(states: list[UnitState], steps: tuple[str, ...], meta: dict) -> list[str]:
    """Warnings with advice: noisy steps (noise.py's rule) and a loaded host."""
    warnings = noise.sample_warnings({s.label: s.samples for s in states}, steps)
    cores = os.cpu_count() or 1
    for when, load in noise.busy_loads(meta, cores):
        warnings.append(
            f"the 1-minute load average {when} the run was {load:.2f}, above "
            f"the {cores} cores: other work competed with the measurements; re-run on an "
            "idle host and compare (rtlab compare)"
        )
    return warnings


def finish_meta(
    meta: dict,
    status: str,
    leftovers: dict,
    states: list[UnitState],
    steps: tuple[str, ...],
    reaping: dict,
) -> None:
    """Complete ``meta`` as the run ends (status, load, drops, cleanup, reaper, warnings)."""
    meta.update(
        status=status,
        ended_at=datetime.now(timezone.utc).isoformat(),
        load_after=host.load_average(),
        cpu_mhz_after=host.cpu_frequency_mhz(),
        dropped={s.label: s.dropped for s in states if s.dropped},
        stopped={s.label: s.stopped for s in states if s.stopped},
        trials_completed={s.label: s.trials_done for s in states},
        cleanup=leftovers,
        reaper=reaper.settle(dict(reaping)),
    )
    meta["warnings"] = noise_warnings(states, steps, meta)


def summary_lines(states: list[UnitState], meta: dict, warmup: int) -> list[str]:
    """What the console says of each unit, of what was not measured and the warnings."""
    lines = []
    for state in states:
        measured = max(0, state.trials_done - warmup)
        line = f"{state.label}: {state.ok_trials}/{measured} trials ok"
        if state.dropped:
            line += f"; {state.dropped}"
        if state.failures:
            worst = "; ".join(
                f"{step} x{n}: {err}" for (step, err), n in state.failures.most_common(3)
            )
            line += f"; failures: {worst}"
        lines.append(line)
    for label, why in meta.get("unavailable", {}).items():
        lines.append(f"{label}: not measured: {why}")
    for warning in meta.get("warnings", []):
        lines.append(f"warning: {warning}")
    return lines
