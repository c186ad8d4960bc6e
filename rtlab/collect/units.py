"""The units of a collect run: planning them and resume's bookkeeping.

A unit is one target (client × runtime, and a client's own variants: the CRI's network
modes) in one mode, at one pace and, for an experiment of several widths, one width
(concurrency's k); ``--trace`` adds a traced twin of each (tracing.py). ``--resume``
credits every unit with the trials trials.csv already holds for it.

Split out of collect.py's ``Collector`` (issue 32), which calls these.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtlab.collect import tracing
from rtlab.collect.clients import CLIENTS, Target
from rtlab.collect.scheduler import Unit, UnitState, tally
from rtlab.core import conditions, experiments
from rtlab.core.runtimes import Runtime
from rtlab.host import rootless


def build_targets(opts: Any, runtimes: list[Runtime], workdir: Path) -> list[Target]:
    """The targets of ``opts`` (a collect.CollectOptions): its pairs, or every client over
    every runtime."""
    by_name = {r.name: r for r in runtimes}
    pairs = opts.pairs or [(c, r.name) for c in opts.clients for r in runtimes]
    targets = []
    for client, rt_name in pairs:
        target = CLIENTS[client](
            by_name[rt_name], workdir, timeout_s=opts.timeout_s, workload=opts.workload
        )
        targets.append(target)
    return targets


def option_values(opts: Any, name: str) -> list | None:
    """The values of collect option ``name`` in ``opts`` (a field, else ``extra``)."""
    value = getattr(opts, name, None)
    if value is None:
        value = opts.extra.get(name)
    return None if value is None else list(value)


def expansions(opts: Any, experiment: experiments.Experiment) -> list[tuple[dict, str]]:
    """(condition values, label suffix) of every unit a target gets in ``experiment``: the
    product of the values of each condition with an option (core/conditions.py
    CONDITIONS, in their order: pace, then k), a ``width`` condition only where the
    experiment takes its width from it."""
    out: list[tuple[dict, str]] = [({}, "")]
    for c in conditions.CONDITIONS:
        if c.option is None or (c.width and experiment.width_from != c.column):
            continue
        values = option_values(opts, c.option)
        if not values:
            continue
        out = [
            ({**cond, c.column: v}, suffix + _unit_suffix(c, v, len(values)))
            for cond, suffix in out
            for v in values
        ]
    return out


def _unit_suffix(c: conditions.Condition, value: Any, count: int) -> str:
    """How a unit's label names ``value`` of ``c``: its own way, else " column=value"."""
    return c.unit_suffix(value, count) if c.unit_suffix else f" {c.column}={value}"


def plan_units(
    opts: Any,
    runtimes: list[Runtime],
    workdir: Path,
    by_client: dict[str, experiments.Experiment],
    say: Callable[[str], None],
) -> tuple[list[UnitState], dict[str, str]]:
    """(the unit states of a run, the targets skipped → why) for ``opts`` (a
    collect.CollectOptions): every target's variant in every mode, at every pace and width,
    with its traced twin under ``--trace``; each skip said as it is found."""
    skipped = dict(opts.excluded)
    states: list[UnitState] = []
    for label, reason in opts.excluded.items():
        say(f"skipping {label}: {reason}")
    for rootful, mode in (
        (v, m)
        for t in build_targets(opts, runtimes, workdir)
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
            skipped[label] = unavailable or "unavailable"
            say(f"skipping {label}: {skipped[label]}")
        else:
            experiment = by_client[target.client]
            for cond, suffix in expansions(opts, experiment):
                states.append(
                    UnitState(
                        Unit(
                            target,
                            {**target.condition, "mode": mode, **cond},
                            suffix=label[len(rootful.label) :] + suffix,
                        )
                    )
                )
    if opts.extra.get("trace"):  # tracing.py: a traced twin of every unit
        states = tracing.TracedRun.twins(states, UnitState)
    return states, skipped


def prepare(states: list[UnitState]) -> None:
    """Each unit's per-run preparation (bundles, images), then which cgroup each target's
    containers get (probed once a target)."""
    for state in states:
        state.target.prepare()
    for target in {id(s.target): s.target for s in states}.values():
        if target.cgroup is None:
            target.cgroup = target.probe_cgroup()


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


def restore(states: list[UnitState], frame, previous: dict) -> tuple[int, int]:
    """Resume: credit the units with the trials of ``frame`` (the earlier trials.csv) and
    the drops ``previous`` (the earlier run.json) recorded; (the next round, the container
    count to go on from)."""
    by_label = {s.label: s for s in states}
    restore_counts(states, frame)
    for label, why in (previous.get("dropped") or {}).items():
        if label in by_label:
            by_label[label].dropped = why
    next_round = int(frame["round"].max()) + 1 if len(frame) else 0
    return next_round, len(frame)  # an upper bound of the containers made: names stay unique


def _width(value) -> int | None:
    """A ``k`` read back from trials.csv (empty, NaN or pd.NA in runs without it)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
