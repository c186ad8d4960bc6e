"""The conditions a timed step runs under: the idle gap before it (the pace) and the page cache.

How long the host was idle before a container command decides how fast that
command is (README, "Conditions"): on the 2-core VM rtlab was developed on,
``crun run`` of ``true`` takes about twice as long after 50 ms of idle time as
back to back, while ``runc run`` slows far less, so the runc/crun ratio moves
from ~2.7 to ~1.4. rtlab therefore makes the condition explicit: before each
timed step the host is left idle for a chosen *pace*, and the pace is recorded
with every row.

This module is the measurement half: the standard library only, so that it can
be imported by the collector without pandas.

Durations
---------
:func:`parse_duration` accepts

- ``0`` (no added gap; also ``0s``, ``0ms`` …);
- a non-negative, finite decimal number followed by a unit: ``us`` (or ``µs``),
  ``ms`` or ``s``, optionally separated by one space: ``250us``, ``10ms``,
  ``10 ms``, ``1.5s``. Upper or lower case units are both fine.

A bare non-zero number (``10``) is refused: seconds or milliseconds would be a
guess. Minutes are not accepted: a pace is a gap between container commands,
and :data:`MAX_PACE_S` bounds it anyway.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DROP_CACHES = Path("/proc/sys/vm/drop_caches")

# The default pace (100 ms) and why: rtlab/core/options.py's DEFAULT_PACE_S, with every other default.

MAX_PACE_S = 60.0
"""The largest accepted pace: a minute of idle time per step is already a study of its own."""

UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
ACCEPTED = "0 or a non-negative number with a unit us, ms or s (e.g. 0, 250us, 10ms, 1.5s)"

_DURATION = re.compile(
    r"^\s*(?P<number>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s?(?P<unit>[a-zµ]*)\s*$", re.IGNORECASE
)


class DurationError(ValueError):
    """A duration that cannot be used; ``str()`` is one line naming it and what is accepted."""


class DropCachesError(PermissionError):
    """The page cache cannot be dropped here; ``str()`` is one line saying why."""


def parse_duration(
    text: str | float | int, *, name: str = "--pace", maximum: float = MAX_PACE_S
) -> float:
    """Seconds in ``text`` (see the module docstring for the accepted forms).

    Parameters
    ----------
    text
        ``"0"``, ``"10ms"``, ``"250us"``, ``"1.5s"`` … A number (int or float)
        is taken as seconds, for callers that already hold one.
    name
        The option named in the error message.
    maximum
        Largest accepted value, in seconds.

    Raises
    ------
    DurationError
        One line: ``--pace 5parsecs: not a duration; use 0 or …``.
    """
    if isinstance(text, bool):
        raise DurationError(f"{name} {text!r}: not a duration; use {ACCEPTED}")
    if isinstance(text, (int, float)):
        seconds = float(text)
        shown = repr(text)
    else:
        shown = str(text).strip() or "''"
        if len(shown) > 40:
            shown = shown[:37] + "..."
        m = _DURATION.match(str(text))
        unit = m.group("unit").lower() if m else ""
        if m is None or (unit and unit not in UNITS):
            raise DurationError(f"{name} {shown}: not a duration; use {ACCEPTED}")
        number = float(m.group("number"))
        if not unit:
            if number != 0:
                raise DurationError(
                    f"{name} {shown}: a non-zero duration needs a unit; use {ACCEPTED}"
                )
            unit = "s"
        seconds = number * UNITS[unit]
    if not math.isfinite(seconds) or seconds < 0:
        raise DurationError(f"{name} {shown}: not a duration; use {ACCEPTED}")
    if seconds > maximum:
        raise DurationError(
            f"{name} {shown}: longer than the largest accepted, "
            f"{format_pace(maximum)}; use {ACCEPTED}"
        )
    return seconds


def parse_paces(text: str, *, name: str = "--paces") -> list[float]:
    """The paces in a comma-separated list, in seconds, ascending.

    Each item is parsed by :func:`parse_duration`; the list must hold at least
    one pace and no pace twice (``10ms,0.01s`` is a duplicate).

    Raises
    ------
    DurationError
        One line naming the bad item, a duplicate, or an empty list.
    """
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise DurationError(
            f"{name} {str(text).strip() or repr('')}: no pace given; "
            f"use a comma-separated list of {ACCEPTED}"
        )
    seen: dict[float, str] = {}
    for item in items:
        if not item:
            raise DurationError(
                f"{name} {text.strip()}: an empty item; use a comma-separated list of {ACCEPTED}"
            )
        seconds = parse_duration(item, name=name)
        if seconds in seen:
            raise DurationError(
                f"{name} {text.strip()}: {item} repeats {seen[seconds]} "
                f"({format_pace(seconds)}); give each pace once"
            )
        seen[seconds] = item
    return sorted(seen)


def format_pace(seconds: float) -> str:
    """A pace as shown in tables, figure titles and findings: ``0``, ``250 µs``, ``10 ms``, ``1.5 s``."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "not recorded"
    if seconds == 0:
        return "0"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            value = seconds / scale
            text = f"{value:.3f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    raise AssertionError("unreachable")


def pace_label(seconds: float) -> str:
    """``"pace 10 ms"``: the phrase used in titles and findings."""
    return f"pace {format_pace(seconds)}"


def idle(pace_s: float, since: float | None = None) -> float:
    """Leave the host idle until ``pace_s`` has passed since ``since``; return the gap.

    Parameters
    ----------
    pace_s
        The pace in seconds (0: return at once).
    since
        A :func:`time.perf_counter` timestamp: the end of the previous client
        command. The caller does its bookkeeping (state polling, writing rows)
        first and then calls ``idle``, so the bookkeeping is part of the gap and
        no rtlab work falls between the end of the gap and the timed step.
        ``None``: the gap starts now.

    Returns
    -------
    float
        The gap actually measured, ``perf_counter() - since`` at return, in
        seconds: at least ``pace_s``; more when the bookkeeping took longer than
        the pace, or by the sleep's overshoot (timer slack and wake-up latency,
        typically well under 1 ms; ``benchmarks/conditions.py`` measures it).

    The wait sleeps (``time.sleep``, a timed ``clock_nanosleep`` in the kernel)
    rather than spinning: a busy wait would keep a core of a small machine busy
    and change the very condition it is meant to create.
    """
    pace_s = float(pace_s)
    if not math.isfinite(pace_s) or pace_s < 0:
        raise DurationError(f"pace {pace_s!r}: not a duration; use {ACCEPTED}")
    start = time.perf_counter() if since is None else float(since)
    deadline = start + pace_s
    while True:
        now = time.perf_counter()
        remaining = deadline - now
        if remaining <= 0:
            return now - start
        time.sleep(remaining)


def check_drop_caches_allowed() -> None:
    """Raise :class:`DropCachesError` (one line) unless :func:`drop_caches` can work here.

    For the upfront validation of ``--drop-caches``, before anything runs.
    """
    if os.geteuid() != 0:
        raise DropCachesError(
            "--drop-caches: needs root (it writes 3 to "
            f"{DROP_CACHES}); run rtlab as root or leave it out"
        )
    if not DROP_CACHES.exists():
        raise DropCachesError(f"--drop-caches: {DROP_CACHES} does not exist on this kernel")
    if not os.access(DROP_CACHES, os.W_OK):
        raise DropCachesError(
            f"--drop-caches: {DROP_CACHES} is not writable here "
            "(read-only /proc/sys, as in a container?)"
        )


def drop_caches() -> float:
    """``sync``, then write ``3`` to /proc/sys/vm/drop_caches: the cold-cache condition.

    Drops the clean page cache and the dentry and inode caches (dirty pages are
    written by the ``sync`` first, so they can be dropped too). Returns the
    seconds it took.

    Raises
    ------
    DropCachesError
        One line, when not root or the file cannot be written.
    """
    check_drop_caches_allowed()
    t0 = time.perf_counter()
    os.sync()
    try:
        with open(DROP_CACHES, "w") as f:
            f.write("3\n")
    except OSError as exc:
        raise DropCachesError(
            f"--drop-caches: cannot write {DROP_CACHES}: {exc.strerror or exc}"
        ) from None
    return time.perf_counter() - t0


# --- What /sys says about CPU frequency and idle states (recorded, never changed) ----------------

_CPU = Path("/sys/devices/system/cpu")
NOT_READABLE = "not readable here"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_conditions(cpu_dir: Path = _CPU) -> dict:
    """The CPU frequency governor and cpuidle states per CPU, as /sys reports them.

    Every value that cannot be read is the string :data:`NOT_READABLE`; nothing
    is written. ``cpuidle`` lists, per CPU, each state's name, exit latency (µs),
    usage count and total time (µs), and whether it is disabled.
    """
    cpus = sorted(
        (p for p in cpu_dir.glob("cpu[0-9]*") if p.name[3:].isdigit()),
        key=lambda p: int(p.name[3:]),
    )
    out: dict = {
        "cpuidle_driver": _read(cpu_dir / "cpuidle" / "current_driver") or NOT_READABLE,
        "cpuidle_governor": _read(cpu_dir / "cpuidle" / "current_governor_ro")
        or _read(cpu_dir / "cpuidle" / "current_governor")
        or NOT_READABLE,
        "cpus": {},
    }
    for cpu in cpus:
        governor = _read(cpu / "cpufreq" / "scaling_governor")
        freq = _read(cpu / "cpufreq" / "scaling_cur_freq")
        states = []
        for state in sorted(cpu.glob("cpuidle/state[0-9]*"), key=lambda p: int(p.name[5:])):
            entry = {}
            for key in ("name", "latency", "usage", "time", "disable"):
                value = _read(state / key)
                entry[key] = (
                    (int(value) if value is not None and value.isdigit() else value)
                    if value is not None
                    else NOT_READABLE
                )
            states.append(entry)
        out["cpus"][cpu.name] = {
            "scaling_governor": governor or NOT_READABLE,
            "scaling_cur_freq_khz": int(freq) if freq and freq.isdigit() else NOT_READABLE,
            "cpuidle_states": states or NOT_READABLE,
        }
    params = Path("/sys/module/haltpoll/parameters")
    if params.is_dir():
        out["haltpoll"] = {p.name: _read(p) for p in sorted(params.iterdir())}
    return out


# -- the conditions a row carries, declared once ----------------------------------------

ROOTLESS_SUFFIX = "-rootless"  # how a rootless target's client is named in the analysis


def _missing(value) -> bool:
    return value is None or value != value or value == ""  # None, NaN, an empty cell


def _seconds(value) -> float | None:
    return None if _missing(value) else float(value)


def _text(value) -> str:
    return "" if _missing(value) else str(value)


def _whole(value) -> int | None:
    try:
        return None if _missing(value) else int(float(value))
    except (TypeError, ValueError):
        return None


def _flag(value) -> bool:
    return str(value).strip().lower() in ("true", "1")


def _pace_unit(value, count: int) -> str:
    return f" @ {format_pace(value)}" if count > 1 else ""


def _width_unit(value, count: int) -> str:
    return f" k={value}"


def _network_client(value) -> str:
    return f"-{value}" if value else ""  # the CRI's pod network: "cri-host", "cri-cni"


def _mode_client(value) -> str:
    return ROOTLESS_SUFFIX if value == "rootless" else ""  # "oci-rootless" beside "oci"


def _traced_client(value) -> str:
    return "+traced" if _flag(value) else ""  # a traced twin is its own unit: "oci+traced"


@dataclass(frozen=True)
class Condition:
    """One condition column of trials.csv (issue 32: declared once, iterated by users).

    ``read`` turns a unit's condition value or a trials.csv cell (text, NaN or empty
    when the run did not set it) into the unit's value; ``apart``: the condition makes
    units apart (one unit per value: part of the resume key), else it is recorded per
    row only (the idle actually had, the level N of a density trial).

    How each user iterates it:

    - planning (collect/units.py): a condition with an ``option`` gets one unit per
      value of that collect option (a CollectOptions field, or its ``extra``); with
      ``width``, only in an experiment whose ``width_from`` names the column (k, in
      concurrency); ``unit_suffix(value, how many values)`` is how a unit's label
      names it. Conditions without an option come from elsewhere: the network from a
      client's variants, the mode from its mode class, traced from ``--trace``'s twins;
    - the resume key: every ``apart`` condition (:func:`unit_key`);
    - trials.csv: every column (results.CONDITION_COLUMNS);
    - the analysis (analysis/frames.py ``samples``): a condition with
      ``client_suffix`` marks its rows' client (value → suffix, "" for none), so its
      values are targets of their own, never pooled; pace and k are grouped by the
      sections that show them (per pace, per k).
    """

    column: str
    read: Callable[[object], object]
    label: str
    apart: bool
    option: str | None = None
    width: bool = False
    unit_suffix: Callable[[object, int], str] | None = None
    client_suffix: Callable[[object], str] | None = None


CONDITIONS: tuple[Condition, ...] = (
    Condition("pace_s", _seconds, "pace", True, option="paces", unit_suffix=_pace_unit),
    Condition("idle_s", _seconds, "idle before the step", False),
    Condition("caches_dropped", _flag, "page cache dropped", False),
    Condition("network", _text, "network", True, client_suffix=_network_client),
    Condition(
        "k", _whole, "parallel", True, option="parallel", width=True, unit_suffix=_width_unit
    ),
    # the target's own (rootless is its class)
    Condition("mode", _text, "mode", False, client_suffix=_mode_client),
    Condition("n", _whole, "containers running", False),
    Condition("traced", _flag, "traced", True, client_suffix=_traced_client),
    # experiment pull (core/pull.py): the image's extra bytes, its layers' compression,
    # cold/warm; one unit per value of each option (only the pull experiments record them)
    Condition("image_size_bytes", _whole, "image size", True, option="image_sizes"),
    Condition("compression", _text, "compression", True, option="compressions"),
    Condition("cache", _text, "cache", True, option="caches"),
)
COLUMNS = tuple(c.column for c in CONDITIONS)
APART = tuple(c for c in CONDITIONS if c.apart)  # what makes two units of a target apart


def unit_key(condition) -> tuple:
    """The values that make a unit of a target apart, read from its condition dict or
    from a trials.csv row (``Mapping``): the same tuple for both (the resume key)."""
    return tuple(c.read(condition.get(c.column)) for c in APART)
