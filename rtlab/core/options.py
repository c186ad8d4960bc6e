"""Every option of collect, report, analyze and compare, declared once: the schema.

One :class:`Option` per option says its name (the notebook parameter and the
run.json key), its kind (how the command line's text is read, how a notebook's
value is checked, how it is stored in run.json), its default (and the layers
that deliberately differ, with why), its help, where it applies (commands and
notebooks), whether run.json records it and whether ``--resume`` keeps it.
Everything else is derived from this table:

- the argparse options of each command (:func:`add_arguments`, cli.py);
- notebook 01/02/03's parameter checking (:func:`check`, params.py);
- run.json's ``parameters`` (:func:`record`) and ``--resume`` (:func:`restore`), collect.py;
- the README's defaults table (:func:`markdown`; tests/unit/test_options.py keeps them equal).

A module that brings its own option (an experiment's ``k``, say) declares it with
:func:`register` next to the experiment; nothing else changes.

Bad input is one line naming the option, the value and what is accepted
(:class:`OptionError`); cli.py prints it and exits 2, params.py raises it as a
``ParameterError``.

Why argparse and not click/typer/pydantic: argparse is the standard library,
so the measurement half (``python3 -m rtlab.host.purge``, collect before the venv
exists) keeps running without one, and its one-line errors are already ours;
the schema is ~30 rows, and a library would add a dependency to say the same.

stdlib-only: the measurement half imports it.
"""

from __future__ import annotations

import argparse
import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtlab.core import conditions, experiments
from rtlab.core.runtimes import Runtime, RuntimeSpecError, parse_custom

# Where an option applies: the commands, and notebooks by number ("01": 01-collect,
# "02": 02-analyze, "03": 03-compare-runs). A layer name in ``differs`` is one of these.
COMMANDS = ("doctor", "setup", "clean", "collect", "report", "analyze", "compare")
NOTEBOOKS = {"01": "01-collect.ipynb", "02": "02-analyze.ipynb", "03": "03-compare-runs.ipynb"}

DEFAULT_PACE_S = 0.1
"""The pace used when none is given: 100 ms of idle host before each timed step.

Chosen from the measurements behind the README's "Conditions" section: the
regimes are stable from 50 ms of idle time upwards (runc/crun ``run`` ratio
1.44 at 50 ms, 1.42 at 200 ms), while below ~50 ms the result depends on how
long the idle gap happened to be (2.65 back to back, 2.86 at 10 ms). 100 ms sits
in the middle of the stable plateau, so the default is insensitive to the few
milliseconds of bookkeeping that precede a gap, and it is the condition of a
container started on an otherwise quiet host. It is the largest value the issue
allows (≤ 100 ms).

Cost: one gap per timed step. ``make report`` (``--study all``, 20 trials + 2
warm-ups) times 5 steps (create, start, kill, delete, run) per trial over the 12
targets this host has: 0.1 s × 5 × 22 × 12 = 132 s, about 2.2 minutes added.
"""

DEFAULT_ALPHA = 0.05
DEFAULT_MARGIN = 0.05
# What collect measures with neither --study nor --clients/--runtimes.
DEFAULT_CLIENTS = ("oci",)
DEFAULT_RUNTIMES = ("runc", "crun", "runsc")
DEFAULT_THRESHOLD = 0.05
# who runs the clients (--modes): root, or rtlab's unprivileged user (host/rootless.py)
MODES = ("rootful", "rootless")
DEFAULT_MODE = "rootful"


class OptionError(ValueError):
    """A value an option cannot take: ``str()`` is one line naming it and what is accepted."""


# -- kinds: how a value is read, checked and stored ------------------------------------


@dataclass(frozen=True)
class Kind:
    """The type of an option. ``from_text`` reads the command line's text (``flag`` names it
    in the error); ``check`` takes a notebook's (or a caller's) Python value (``name`` names
    it); ``to_json``/``from_json`` store it in run.json; ``show`` writes it for help and README."""

    def from_text(self, text: str, flag: str) -> Any:
        return text

    def check(self, value: Any, name: str) -> Any:
        return value

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, value: Any) -> Any:
        return value

    def to_notebook(self, value: Any) -> Any:
        """``value`` as a literal the notebook's parameter takes (papermill's ``-p``)."""
        return "" if value is None else value

    def show(self, value: Any) -> str:
        if value is None or value == "" or value == () or value == []:
            return ""
        if isinstance(value, (list, tuple)):
            return ",".join(map(str, value))
        return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Whole(Kind):
    """A whole number, at least ``minimum`` when given."""

    minimum: int | None = None

    def from_text(self, text: str, flag: str) -> int:
        give = f" (give {self.minimum} or more)" if self.minimum is not None else ""
        try:
            n = int(text)
        except ValueError:
            raise OptionError(f"{flag}: {text!r} is not a whole number{give}") from None
        if self.minimum is not None and n < self.minimum:
            rule = "must be 0 or more" if self.minimum == 0 else f"must be at least {self.minimum}"
            raise OptionError(f"{flag}: {text!r}: {rule}")
        return n

    def check(self, value: Any, name: str) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or (self.minimum is not None and value < self.minimum)
        ):
            at_least = f" of at least {self.minimum}" if self.minimum is not None else ""
            raise OptionError(f"{name} = {value!r}: must be a whole number{at_least}")
        return value


@dataclass(frozen=True)
class Real(Kind):
    """A real number with ``low < x < high`` (``low <= x`` when ``closed_low``).
    ``what``: what the text is not when unreadable; ``rule``/``must``: the command line's and
    the notebook's wording of the range."""

    low: float = 0.0
    high: float = math.inf
    closed_low: bool = False
    what: str = "a number"
    rule: str = ""
    must: str = ""

    def _ok(self, x: float) -> bool:
        return (self.low <= x if self.closed_low else self.low < x) and x < self.high

    def from_text(self, text: str, flag: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise OptionError(f"{flag}: {text!r} is not {self.what}") from None
        if math.isnan(x) or not self._ok(x):
            raise OptionError(f"{flag}: {text!r}: {self.rule}")
        return x

    def check(self, value: Any, name: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or math.isnan(value)
            or not self._ok(value)
        ):
            raise OptionError(f"{name} = {value!r}: must be {self.must}")
        return float(value)


@dataclass(frozen=True)
class Flag(Kind):
    """True or False; on the command line a switch (``invert``: the switch means False)."""

    invert: bool = False

    def check(self, value: Any, name: str) -> bool:
        if not isinstance(value, bool):
            raise OptionError(f"{name} = {value!r}: must be True or False")
        return value

    def show(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Text(Kind):
    """A string; in a notebook "" means none (None)."""

    accepted: str = ""

    def check(self, value: Any, name: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise OptionError(f"{name} = {value!r}: must be a string ({self.accepted})")
        return value.strip() or None


@dataclass(frozen=True)
class Choice(Text):
    """One name of a registry (``choices``: a key of the context the caller passes, e.g.
    ``studies``); None for none. The command line refuses others through argparse."""

    choices: str = ""


@dataclass(frozen=True)
class Experiment(Text):
    """An experiment of experiments.py."""

    def _get(self, name: str, prefix: str) -> str:
        try:
            return experiments.get(name).name
        except experiments.ExperimentError as exc:
            raise OptionError(f"{prefix}{exc}") from None

    def from_text(self, text: str, flag: str) -> str:
        return self._get(text, "")

    def check(self, value: Any, name: str) -> str | None:
        text = Text.check(self, value, name)
        return self._get(text, f"{name}: ") if text else None  # None: each client's own


@dataclass(frozen=True)
class Names(Kind):
    """Comma-separated names (a list in a notebook); empty is None."""

    example: str = ""

    def from_text(self, text: str, flag: str) -> list[str] | None:
        return [v.strip() for v in text.split(",") if v.strip()] or None

    def check(self, value: Any, name: str) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            return self.from_text(value, name)
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return [v.strip() for v in value if v.strip()] or None
        raise OptionError(
            f"{name} = {value!r}: give names separated by commas, e.g. {self.example!r}"
        )

    def to_json(self, value: Any) -> Any:
        return list(value) if value else None

    def to_notebook(self, value: Any) -> Any:
        return ",".join(value) if value else ""


@dataclass(frozen=True)
class OneOf(Names):
    """Comma-separated names, each one of ``accepted`` (order kept, duplicates dropped)."""

    accepted: tuple[str, ...] = ()

    def from_text(self, text: str, flag: str) -> list[str] | None:
        return self._only_accepted(super().from_text(text, flag), flag)

    def check(self, value: Any, name: str) -> list[str] | None:
        return self._only_accepted(super().check(value, name), name)

    def _only_accepted(self, names: list[str] | None, name: str) -> list[str] | None:
        bad = [n for n in names or [] if n not in self.accepted]
        if bad:
            raise OptionError(f"{name} {bad[0]!r}: accepted: {', '.join(self.accepted)}")
        return list(dict.fromkeys(names)) if names else names


class Counts(Kind):
    """Comma-separated whole numbers of at least 1, increasing (a list in a notebook)."""

    example: str = "1,5,10"

    def _checked(self, values: list, shown: str) -> list[int]:
        if (
            not values
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values)
            or sorted(set(values)) != list(values)
        ):
            raise OptionError(
                f"{shown}: give increasing whole numbers of at least 1 separated "
                f"by commas, e.g. {self.example!r}"
            )
        return list(values)

    def from_text(self, text: str, flag: str) -> list[int]:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            values = []
        return self._checked(values, f"{flag}: {text!r}")

    def check(self, value: Any, name: str) -> list[int]:
        if isinstance(value, str):
            return self.from_text(value, f"{name} =")
        return self._checked(
            list(value) if isinstance(value, (list, tuple)) else [], f"{name} = {value!r}"
        )

    def to_json(self, value: Any) -> Any:
        return list(value)

    def to_notebook(self, value: Any) -> Any:
        return ",".join(map(str, value))


@dataclass(frozen=True)
class Duration(Kind):
    """One duration (conditions.parse_duration): ``0``, ``10ms``, ``1s``."""

    def from_text(self, text: str, flag: str) -> float:
        try:
            return conditions.parse_duration(text, name=flag)
        except conditions.DurationError as exc:
            raise OptionError(str(exc)) from None

    def show(self, value: Any) -> str:
        return "" if value is None else conditions.format_pace(value)


@dataclass(frozen=True)
class Durations(Kind):
    """Several durations, comma-separated (a list of seconds in a notebook; "" for the default)."""

    def from_text(self, text: str, flag: str) -> list[float]:
        try:
            return conditions.parse_paces(text, name=flag)
        except conditions.DurationError as exc:
            raise OptionError(str(exc)) from None

    def check(self, value: Any, name: str) -> list[float] | None:
        if isinstance(value, str):
            return self.from_text(value, name) if value.strip() else None
        if (
            isinstance(value, (list, tuple))
            and value
            and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value)
        ):
            return [
                Duration().from_text(v, name) if isinstance(v, str) else self._seconds(v, name)
                for v in value
            ]
        raise OptionError(
            f"{name} = {value!r}: give durations like '0,10ms,1s' ({conditions.ACCEPTED})"
        )

    @staticmethod
    def _seconds(v: float, name: str) -> float:
        if math.isnan(v) or not 0 <= v <= conditions.MAX_PACE_S:
            raise OptionError(
                f"{name}: {v!r}: must be 0 or a number of seconds up to {conditions.MAX_PACE_S:g}"
            )
        return float(v)

    def to_json(self, value: Any) -> Any:
        return list(value)

    def to_notebook(self, value: Any) -> Any:
        """``0``, ``10ms``: as conditions.parse_duration reads them back."""
        return ",".join("0" if v == 0 else f"{v * 1000:g}ms" for v in value) if value else ""

    def show(self, value: Any) -> str:
        return ",".join(conditions.format_pace(v) for v in value) if value else ""


@dataclass(frozen=True)
class RuntimeSpecs(Kind):
    """Runtimes given as ``NAME=/PATH[:FLAGS]`` (runtimes.parse_custom: the name rule),
    repeatable; stored as name, binary and flags."""

    def from_text(self, text: str, flag: str) -> Runtime:
        try:
            return parse_custom(text)
        except RuntimeSpecError as exc:
            raise OptionError(str(exc)) from None

    def check(self, value: Any, name: str) -> list[Runtime]:
        if isinstance(value, str):
            value = [value] if value.strip() else []
        if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) for s in value):
            raise OptionError(f"{name} = {value!r}: give a list of 'NAME=/PATH[:FLAGS]' strings")
        try:
            return [parse_custom(s) for s in value]
        except RuntimeSpecError as exc:
            raise OptionError(f"{name}: {exc}") from None

    def to_notebook(self, value: Any) -> Any:
        return [
            f"{r.name}={r.binary}" + (f":{shlex.join(r.flags)}" if r.flags else "")
            for r in value or []
        ]

    def to_json(self, value: Any) -> Any:
        return [{"name": r.name, "binary": r.binary, "flags": list(r.flags)} for r in value]

    def from_json(self, value: Any) -> list[Runtime]:
        try:
            return [
                Runtime(r["name"], r["binary"], tuple(r["flags"]), "user-supplied")
                for r in value or []
            ]
        except RuntimeSpecError as exc:
            raise OptionError(f"custom_runtimes in run.json: {exc}") from None


@dataclass(frozen=True)
class CommandLine(Text):
    """A command split like a shell line; stored as its argv."""

    def to_json(self, value: Any) -> Any:
        return shlex.split(value) if value else []

    def from_json(self, value: Any) -> str | None:
        return shlex.join(value) if value else None


@dataclass(frozen=True)
class Folder(Text):
    """A path (the caller resolves a notebook's relative ones from the repository root)."""

    def from_text(self, text: str, flag: str) -> Path:
        return Path(text)

    def to_json(self, value: Any) -> Any:
        return str(value) if value else None

    def to_notebook(self, value: Any) -> Any:
        """Absolute: the command line's paths are relative to the current folder, a
        notebook's to the repository root."""
        return str(Path(value).resolve()) if value else ""


@dataclass(frozen=True)
class Folders(Folder):
    """Paths: several arguments on the command line, comma-separated in a notebook."""

    def check(self, value: Any, name: str) -> Any:
        return value  # params.find_runs checks and expands it


# -- the option ---------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One option, declared once.

    name: the notebook parameter and run.json key (``timeout_s``). flag: the command
    line's spelling (default ``--`` + name with ``-``; ``""`` positional). where:
    commands and notebooks it applies to. differs: layer → (its default, why).
    record: the run.json ``parameters`` key ("a.b" nests; None: not recorded).
    resume: "keep" (``--resume`` restores it and refuses it again), "again" (given
    anew with ``--resume``), "" (not with ``--resume``). absent: the value of a
    resumed run whose run.json predates the option. experiments: the experiments it
    applies to (empty: all). group: a mutually exclusive group on the command line.
    noun: how ``--resume``'s refusal names it.
    """

    name: str
    kind: Kind
    default: Any
    help: str
    where: tuple[str, ...]
    flag: str | None = None
    meaning: str = ""  # the README's wording (default: help)
    differs: Mapping[str, tuple[Any, str]] = field(default_factory=dict)
    record: str | None = None
    resume: str = ""
    absent: Any = None
    experiments: tuple[str, ...] = ()
    group: str = ""
    noun: str = ""
    metavar: str | None = None
    nargs: str | None = None
    required: bool = False
    repeat: bool = False  # the flag may be given several times (values listed)

    @property
    def cli_flag(self) -> str:
        return (
            self.name.replace("_", "-")
            if self.flag == ""
            else (self.flag or "--" + self.name.replace("_", "-"))
        )

    @property
    def positional(self) -> bool:
        return self.flag == ""

    def default_for(self, where: str) -> Any:
        return self.differs[where][0] if where in self.differs else self.default

    def applies(self, where: str) -> bool:
        return where in self.where


OPTIONS: list[Option] = []


def register(option: Option) -> Option:
    """Add an option to the schema (an experiment's module declares its own this way).
    A second option of the same name must apply elsewhere."""
    clash = [o for o in OPTIONS if o.name == option.name and set(o.where) & set(option.where)]
    if clash:
        raise ValueError(
            f"option {option.name!r} is declared twice for "
            f"{', '.join(sorted(set(clash[0].where) & set(option.where)))}"
        )
    OPTIONS.append(option)
    return option


def unregister(option: Option) -> None:
    OPTIONS.remove(option)


def options_for(where: str) -> list[Option]:
    return [o for o in OPTIONS if o.applies(where)]


def get(name: str, where: str) -> Option:
    for o in OPTIONS:
        if o.name == name and (o.applies(where) or not o.where):
            return o
    raise KeyError(f"no option {name!r} for {where}")


def default(name: str, where: str = "collect") -> Any:
    """The default of option ``name`` for ``where`` (a command, or "01"/"02"/"03")."""
    return get(name, where).default_for(where)


_SECONDS = Real(
    what="a number of seconds (e.g. 30)",
    rule="must be a number of seconds above 0",
    must="a number of seconds above 0",
)
_FRACTION = Real(
    high=1.0,
    what="a number (give a fraction such as 0.05)",
    rule="must be between 0 and 1 (0.05 = ±5%)",
    must="a fraction between 0 and 1 (0.05 = ±5%)",
)
_MARGIN = Real(
    high=1.0,
    what="a number (give a fraction such as 0.05)",
    rule="must be between 0 and 1 (0.05 = ±5%)",
    must="an equivalence margin between 0 and 1, e.g. 0.05 for ±5%",
)
_ALPHA = Real(
    high=1.0,
    what="a number (give a level like 0.05)",
    rule="must be between 0 and 1, e.g. 0.05",
    must="a significance level between 0 and 1, e.g. 0.05",
)
_THRESHOLD = Real(
    closed_low=True,
    what="a number (give a fraction like 0.05)",
    rule="must be a fraction of 0 or more, e.g. 0.05 for 5%",
    must="a relative slow-down of 0 or more, e.g. 0.05 for 5%",
)

_COLLECTING = ("collect", "report", "01")
_NB_SHORT = "notebook 01 runs under nbval in make test"

for _option in (
    Option(
        "study",
        Choice(accepted="'' or a study name", choices="studies"),
        None,
        "a named set of targets: {studies} (narrowed by --clients/--runtimes when given)",
        _COLLECTING,
        meaning="a named set of targets instead of clients x runtimes",
        differs={"report": ("all", "a report measures every target this host has")},
        record="study",
        resume="keep",
    ),
    # none: a --study's own (narrowed when given), else DEFAULT_CLIENTS x DEFAULT_RUNTIMES;
    # a default here would narrow every study to it
    Option(
        "clients",
        Names(example="oci,docker"),
        None,
        "comma-separated clients ({clients}); with --study it narrows the study "
        f"(default: the study's, else {','.join(DEFAULT_CLIENTS)})",
        _COLLECTING,
        meaning=f"clients measured (none: the study's, or {','.join(DEFAULT_CLIENTS)} without one)",
        differs={
            "01": (DEFAULT_CLIENTS, 'a notebook shows what it measures; give "" with a study')
        },
        metavar="LIST",
        record="clients",
        resume="keep",
    ),
    Option(
        "runtimes",
        Names(example="runc,crun"),
        None,
        "comma-separated runtimes ({runtimes}); with --study it narrows the study "
        f"(default: the study's, else {','.join(DEFAULT_RUNTIMES)})",
        _COLLECTING,
        meaning=f"runtimes measured (none: the study's, or {','.join(DEFAULT_RUNTIMES)} without one)",
        differs={"01": (DEFAULT_RUNTIMES, "a notebook shows what it measures, as clients")},
        metavar="LIST",
        record="runtimes",
        resume="keep",
    ),
    Option(
        "custom_runtimes",
        RuntimeSpecs(),
        (),
        "add a runc-compatible runtime binary (repeatable); NAME matches "
        "^[a-z0-9][a-z0-9._-]{{0,62}}$, /PATH is absolute, neither holds control characters",
        ("doctor", "setup", "clean", *_COLLECTING),
        flag="--runtime",
        repeat=True,
        metavar="NAME=/PATH[:FLAGS]",
        record="custom_runtimes",
        resume="keep",
        meaning="extra runtimes, NAME=/PATH[:FLAGS]",
    ),
    Option(
        "experiment",
        Experiment(accepted="an experiment name"),
        None,
        "what one trial measures: {experiments} (default: each client's own — "
        f"{experiments.DEFAULT_EXPERIMENT}, and cri for the cri client)",
        _COLLECTING,
        metavar="NAME",
        meaning=f"what one trial measures (rtlab/core/experiments.py; none: {experiments.DEFAULT_EXPERIMENT}, "
        "and the cri client's own pod experiment)",
        record="experiment_asked",
        resume="keep",
    ),
    Option(
        "containers",
        Counts(),
        [1, 5, 10, 25, 50],
        "experiment density: the numbers N of idle containers brought up, in increasing "
        "order (memory read at each, then one more container's start timed)",
        _COLLECTING,
        metavar="LIST",
        meaning="density's levels: N idle containers per level (rtlab/collect/density.py)",
        record="containers",
        resume="keep",
        experiments=("density",),
    ),
    Option(
        "settle_s",
        Real(
            closed_low=True,
            what="a number of seconds (e.g. 1)",
            rule="must be a number of seconds of 0 or more",
            must="a number of seconds of 0 or more",
        ),
        1.0,
        "experiment density: seconds the batch is left idle after a level is up, before "
        "memory is read (the containers' commands finish starting)",
        _COLLECTING,
        flag="--settle",
        metavar="S",
        record="settle_s",
        resume="keep",
        experiments=("density",),
    ),
    Option(
        "memory_floor_mb",
        Whole(0),
        2048,
        "experiment density: a level is refused, before it starts, when its estimated "
        "memory would leave MemAvailable under this many MB",
        _COLLECTING,
        flag="--memory-floor",
        metavar="MB",
        record="memory_floor_mb",
        resume="keep",
        experiments=("density",),
    ),
    Option(
        "networks",
        Names(example="host,cni"),
        ["host", "cni"],  # cri.NETWORK_MODES (tested)
        "the cri client's pod networks, each a condition (column network): host, cni "
        "(default both)",
        _COLLECTING,
        metavar="LIST",
        meaning="the cri client's pod networks (host namespace, CNI bridge), each a unit",
        record="networks",
        resume="keep",
        absent=["host", "cni"],
    ),
    Option(
        "modes",
        OneOf(example="rootful,rootless", accepted=MODES),
        ["rootful"],
        "who runs the clients, each a condition (column mode): rootful (root), rootless "
        "(rtlab setup's unprivileged user rtlab-rootless; oci over runc and crun) "
        "(default rootful)",
        _COLLECTING,
        metavar="LIST",
        meaning="who runs the clients (root, or rtlab's unprivileged user), each a unit",
        record="modes",
        resume="keep",
        absent=["rootful"],
    ),
    Option(
        "steps",
        Names(example="run"),
        None,
        "measure only these steps of the experiment, e.g. run (default: all)",
        _COLLECTING,
        metavar="LIST",
        meaning="a subset of the experiment's steps (none: all)",
        record="steps",
        resume="keep",
    ),
    Option(
        "pace",
        Duration(),
        None,
        "leave the host idle this long before each timed step, after rtlab's own "
        "bookkeeping: 0 (back to back), 10ms, 1s … (default {default_pace}; recorded as pace_s)",
        ("collect", "report"),
        group="pace",
        noun="pace",
        metavar="DURATION",
        meaning="one pace (command line only; the same as paces with one)",
    ),
    Option(
        "paces",
        Durations(),
        (DEFAULT_PACE_S,),
        "several paces, e.g. 0,10ms,100ms,1s: every target at each, interleaved within "
        "rounds; the analysis shows how each conclusion moves with the pace",
        _COLLECTING,
        group="pace",
        noun="pace",
        metavar="LIST",
        meaning="idle host before each timed step (rtlab/core/options.py's DEFAULT_PACE_S says why)",
        record="paces",
        resume="keep",
        absent=[0.0],
    ),
    Option(
        "drop_caches",
        Flag(),
        False,
        "root: sync and drop the page cache before each trial (cold cache)",
        _COLLECTING,
        record="drop_caches",
        resume="keep",
    ),
    Option(
        "trace",
        Flag(),
        False,
        "root: also run a traced twin of every unit (bpftrace on tracepoints), "
        "interleaved, never pooled; phases.csv (tracing.py)",
        ("collect", "01"),
        record="trace",
        resume="keep",
    ),
    Option(
        "trials",
        Whole(1),
        10,
        "measured trials per target; not with --until-ci",
        _COLLECTING,
        meaning="measured trials per target",
        differs={
            "report": (
                20,
                "a report is read by others: twice the trials narrows "
                "every CI (make report's TRIALS)",
            ),
            "01": (
                2,
                f"{_NB_SHORT}: 2 trials keep that check short; pass -p trials 20 for real use",
            ),
        },
        record="trials",
        resume="keep",
    ),
    Option(
        "until_ci",
        _FRACTION,
        None,
        "adaptive: add trials to a target until every step's median 95% CI is within ±P "
        "of it (0.05 = ±5%)",
        ("collect",),
        metavar="P",
        meaning="adaptive stop: every step's median CI within ±this",
        record="until_ci",
        resume="keep",
    ),
    Option(
        "min_trials",
        Whole(1),
        10,
        "with --until-ci",
        ("collect",),
        meaning="with --until-ci: trials before the CI is first checked",
        record="min_trials",
        resume="keep",
        absent=10,
    ),
    Option(
        "max_trials",
        Whole(1),
        200,
        "with --until-ci",
        ("collect",),
        meaning="with --until-ci: the most trials per target",
        record="max_trials",
        resume="keep",
        absent=200,
    ),
    Option(
        "warmup",
        Whole(0),
        2,
        "warm-up trials per target (kept, flagged)",
        _COLLECTING,
        meaning="warm-up trials per target (kept in trials.csv, flagged)",
        differs={"01": (0, "as trials: keeps the nbval check short")},
        record="warmup",
        resume="keep",
    ),
    Option(
        "timeout_s",
        _SECONDS,
        30.0,
        "seconds per client command",
        _COLLECTING,
        flag="--timeout",
        record="timeout_s",
        resume="keep",
    ),
    Option(
        "max_consecutive_timeouts",
        Whole(1),
        2,
        "a target is dropped after this many timed-out commands in a row",
        (),
        record="max_consecutive_timeouts",
        resume="keep",
        absent=2,
    ),
    Option(
        "seed",
        Whole(),
        0,
        "seed of the interleaving order (collect; the analysis draws no random numbers)",
        (*_COLLECTING, "analyze", "compare", "02", "03"),
        record="seed",
        resume="keep",
    ),
    Option(
        "out_dir",
        Folder(accepted="'' for a new data/<run-id>/, or a new or empty folder"),
        None,
        "run folder (default data/<run-id>/)",
        ("collect", "01"),
        flag="--out",
        metavar="DIR",
        meaning="the run folder (none: a new data/<run-id>/)",
    ),
    Option(
        "resume",
        Folder(),
        None,
        "continue an interrupted run to its requested trial count",
        ("collect",),
        metavar="RUN_DIR",
    ),
    Option(
        "allow_concurrent",
        Flag(),
        False,
        "run even while another collect runs (their timings interfere)",
        ("collect", "01"),
        record="allow_concurrent",
        resume="again",
    ),
    Option("no_progress", Flag(), False, "no progress bar", ("collect",)),
    Option(
        "image",
        Text(accepted="'' or an image in each daemon client's store"),
        None,
        "an image already in each daemon client's store (default: rtlab's busybox)",
        _COLLECTING,
        metavar="REF",
        record="workload_options.image",
        resume="keep",
    ),
    Option(
        "cmd",
        CommandLine(accepted="'' or the container's command line"),
        None,
        "the lifecycle container's command, split like a shell line "
        "(default: sleep 3600 for busybox, the image's own for --image)",
        _COLLECTING,
        metavar="CMD",
        record="workload_options.cmd",
        resume="keep",
    ),
    Option(
        "bundle",
        Folder(accepted="'' or an OCI bundle folder"),
        None,
        "an OCI bundle for the oci client (default: rtlab's busybox bundle)",
        _COLLECTING,
        metavar="DIR",
        record="workload_options.bundle",
        resume="keep",
    ),
    Option(
        "runs",
        Folders(),
        None,
        "do not collect: render a report of these run folders (or folders of runs, e.g. "
        "data/sample); needs no root",
        ("report",),
        nargs="+",
        metavar="DIR",
    ),
    Option(
        "no_extras",
        Flag(),
        False,
        "collect only the main run: not make report's extra runs (rtlab/collect/studies.py "
        "REPORT_EXTRAS: a small concurrency run and a small density run)",
        ("report",),
        meaning="skip the report's extra runs of other experiments (studies.REPORT_EXTRAS)",
    ),
    Option(
        "reports_dir",
        Folder(),
        None,
        "where reports/<run-id>/ and index.html go (default: the repository's reports/)",
        ("report",),
        metavar="DIR",
    ),
    Option(
        "run_dirs",
        Folders(),
        "data/sample",
        "a run folder, or a folder of runs (every run in it); runs are merged only when "
        "host and versions match",
        ("analyze", "02"),
        flag="",
        nargs="+",
        metavar="RUN_DIR",
        differs={"analyze": (None, "the command line names its runs")},
    ),
    Option(
        "out_dir",
        Folder(accepted="'' for a new temporary folder, or a folder"),
        None,
        "where summary.csv, comparisons.csv, omnibus.csv, figures/ (and, with CRI trials, "
        "cri-benchmark.json) go",
        ("analyze", "02"),
        flag="--out",
        metavar="DIR",
        required=True,
        meaning="analysis folder (notebook: none is a new temporary folder)",
    ),
    Option(
        "figures",
        Text(accepted="report, all, none or figure kinds, comma-separated"),
        "report",
        "figures to draw: report (overview, lifecycle, study, pace), all (adds per-step "
        "distributions, ECDFs and ratio heat maps), none, or kinds comma-separated",
        ("analyze", "02"),
        metavar="KINDS",
        meaning="figures drawn (report: the report's own)",
    ),
    Option(
        "svg",
        Flag(),
        False,
        "also write each figure as SVG",
        ("analyze", "02"),
        meaning="each figure also as SVG",
    ),
    Option(
        "run_a",
        Folders(),
        None,
        "the run before (a run folder; notebook: none is the older sample run)",
        ("compare", "03"),
        flag="",
        metavar="RUN_A",
    ),
    Option(
        "run_b",
        Folders(),
        None,
        "the run after (a run folder; notebook: none is the newer sample run)",
        ("compare", "03"),
        flag="",
        metavar="RUN_B",
    ),
    Option(
        "alpha",
        _ALPHA,
        DEFAULT_ALPHA,
        "significance level; Holm's adjustment runs within each family and step (the "
        "runtimes through one client, or the clients over one runtime; concurrency: per "
        "quantity and k; rtlab compare: over every row), not over every target and step; "
        "the CI printed beside a verdict is Holm-adjusted to match it (the interval at the "
        "level Holm's step-down stopped at)",
        ("report", "analyze", "compare", "02", "03"),
        meaning="significance level",
    ),
    Option(
        "margin",
        _MARGIN,
        DEFAULT_MARGIN,
        "equivalence margin: 'equivalent' when shown within ±this fraction (0.05 = ±5%)",
        ("report", "analyze", "compare", "02", "03"),
        meaning="equivalence margin",
    ),
    Option(
        "across_hosts",
        Flag(),
        False,
        "RUN_A and RUN_B come from different hosts: compare them unpaired (Hodges-Lehmann "
        "with the Mann-Whitney CI per target and step) and list what differs between the "
        "hosts (analysis/hosts.py)",
        ("compare",),
        meaning="compare runs of two hosts, unpaired (issue 34)",
    ),
    Option(
        "threshold",
        _THRESHOLD,
        DEFAULT_THRESHOLD,
        "fail when a target/step is slower by more than this fraction with 95% confidence "
        "(0.05 = 5%)",
        ("compare", "03"),
        meaning="regression gate of rtlab compare",
    ),
    Option(
        "out_dir",
        Folder(accepted="'' to write nothing, or a folder for changes.csv and change.png"),
        None,
        "also write DIR/changes.csv and DIR/change.png/.svg",
        ("compare", "03"),
        flag="--out",
        metavar="DIR",
        meaning="where the comparison's files go (none: nowhere)",
    ),
    Option(
        "probe_timeout",
        _SECONDS,
        20.0,
        "seconds per probe",
        ("doctor",),
        flag="--timeout",
        meaning="seconds per rtlab doctor probe",
    ),
):
    register(_option)


# -- the command line ------------------------------------------------------------------


class _Given(argparse.Action):
    """Stores the raw text (a list with ``repeat``); conversion and defaults come after
    parsing, so it is known which options were given (``--resume`` refuses those it keeps)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if self.nargs == 0:
            values = True
        if getattr(self, "repeat", False):
            values = [*(getattr(namespace, self.dest, None) or []), values]
        setattr(namespace, self.dest, values)


def add_arguments(
    parser: argparse.ArgumentParser,
    where: str,
    registries: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Every option of ``where`` on ``parser``. ``registries`` (name → {entry: description})
    are the names the schema does not import (clients, studies …): a :class:`Choice`'s
    choices, and the help's ``{name}`` (the entries, with descriptions when given)."""
    registries = registries or {}
    ctx = {
        "experiments": experiments.describe(),
        "default_pace": conditions.format_pace(DEFAULT_PACE_S),
        **{
            k: "; ".join(f"{n}: {d}" if d else n for n, d in v.items())
            if any(v.values())
            else ", ".join(v)
            for k, v in registries.items()
        },
    }
    groups: dict[str, Any] = {}
    for o in options_for(where):
        default = o.default_for(where)
        text = o.help.format(**ctx)
        shown = o.kind.show(default)
        if shown and not isinstance(o.kind, Flag) and "default" not in text:
            text += f" (default {shown})"
        kwargs: dict[str, Any] = {
            "help": text.replace("%", "%%"),
            "default": argparse.SUPPRESS,
            "action": _Given,
        }
        if isinstance(o.kind, Flag):
            kwargs["nargs"] = 0
        else:
            kwargs["metavar"] = o.metavar or (
                "N"
                if isinstance(o.kind, Whole)
                else "SECONDS"
                if isinstance(o.kind, Real) and "seconds" in o.kind.must
                else "X"
                if isinstance(o.kind, Real)
                else o.name.upper()
            )
            if o.nargs:
                kwargs["nargs"] = o.nargs
            if isinstance(o.kind, Choice) and o.kind.choices in registries:
                kwargs["choices"] = list(registries[o.kind.choices])
        target = parser
        if o.group:
            if o.group not in groups:
                groups[o.group] = parser.add_mutually_exclusive_group()
            target = groups[o.group]
        if o.positional:
            kwargs.pop("default")
            action = target.add_argument(o.name, **kwargs)
        else:
            if o.required:
                kwargs["required"] = True
            action = target.add_argument(o.cli_flag, dest=o.name, **kwargs)
        action.repeat = o.repeat  # type: ignore[attr-defined]  # an Action of ours: _Given reads it


def from_namespace(args: argparse.Namespace, where: str) -> tuple[dict[str, Any], set[str]]:
    """(every option of ``where`` → its value, the names given) from parsed arguments:
    the text read by each kind (one line naming a bad value), defaults filled from the schema."""
    values: dict[str, Any] = {}
    given: set[str] = set()
    chosen = getattr(args, "experiment", None)
    for o in options_for(where):
        if not hasattr(args, o.name):
            values[o.name] = o.default_for(where)
            continue
        raw = getattr(args, o.name)
        given.add(o.name)
        if isinstance(o.kind, Flag):
            values[o.name] = True
        elif o.repeat:
            values[o.name] = [o.kind.from_text(t, o.cli_flag) for t in raw]
        elif o.nargs:
            values[o.name] = [o.kind.from_text(t, o.cli_flag) for t in raw]
        else:
            values[o.name] = o.kind.from_text(raw, o.cli_flag)
        resuming = getattr(args, "resume", None) is not None  # --resume says why, after
        if (
            o.experiments
            and not resuming
            and (chosen or experiments.DEFAULT_EXPERIMENT) not in o.experiments
        ):
            raise OptionError(
                f"{o.cli_flag} {raw}: only with --experiment "
                f"{' or '.join(o.experiments)}; drop it or choose that experiment"
            )
    return values, given


# -- notebooks and callers ---------------------------------------------------------------


def check(where: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of ``where`` (a notebook "01"/"02"/"03") → its checked value: the given
    one, else the schema's default for ``where``. An unknown name is refused in one line."""
    names = {o.name for o in options_for(where)}
    unknown = [k for k in given if k not in names]
    if unknown:
        raise OptionError(
            f"unknown parameter {', '.join(map(repr, unknown))} of notebook "
            f"{NOTEBOOKS.get(where, where)}; known: {', '.join(sorted(names))}"
        )
    values = {}
    for o in options_for(where):
        value = given[o.name] if o.name in given else o.default_for(where)
        values[o.name] = (
            o.kind.check(value, o.name) if o.name in given or value is not None else None
        )
    experiment = values.get("experiment") or experiments.DEFAULT_EXPERIMENT
    for o in options_for(where):
        # a parameters cell lists every option at its default: only a changed value of
        # another experiment's option is refused
        if (
            o.experiments
            and o.name in given
            and experiment not in o.experiments
            and values[o.name] != _checked_default(o, where)
        ):
            raise OptionError(
                f"{o.name} = {given[o.name]!r}: only with experiment "
                f"{' or '.join(o.experiments)}; drop it or choose that experiment"
            )
    return values


def _checked_default(o: Option, where: str) -> Any:
    value = o.default_for(where)
    return None if value is None else o.kind.check(value, o.name)


def from_globals(where: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of notebook ``where`` found in ``namespace`` (its ``globals()``, after
    the parameters cell and papermill's injected cell)."""
    return {o.name: namespace[o.name] for o in options_for(where) if o.name in namespace}


# -- run.json ------------------------------------------------------------------------------


def recorded(where: str = "collect", experiment: str | None = None) -> list[Option]:
    """The options run.json records for a run of ``where`` (collect, report and notebook 01
    runs are collect runs), of ``experiment`` when given; the protocol's own (no ``where``)."""
    return [
        o
        for o in OPTIONS
        if o.record
        and (o.applies(where) or not o.where)
        and (not o.experiments or experiment is None or experiment in o.experiments)
    ]


def record(values: Mapping[str, Any], where: str = "collect") -> dict[str, Any]:
    """run.json's ``parameters`` from option values (a missing one: its default)."""
    experiment = values.get("experiment")
    out: dict[str, Any] = {}
    for o in recorded(where, experiment):
        value = values[o.name] if o.name in values else o.default_for(where)
        node = out
        *parents, key = (o.record or o.name).split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = o.kind.to_json(value)
    return out


def restore(parameters: Mapping[str, Any], where: str = "collect") -> dict[str, Any]:
    """The values ``--resume`` keeps, from run.json's ``parameters`` (an option the run
    predates: its ``absent`` value, else its default)."""
    values: dict[str, Any] = {}
    experiment = parameters.get("experiment")
    for o in recorded(where, experiment):
        if o.resume != "keep":
            continue
        node: Any = parameters
        for key in (o.record or o.name).split("."):
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is None:
            found = _has(parameters, o.record or o.name)
            values[o.name] = (
                None if found else (o.absent if o.absent is not None else o.default_for(where))
            )
        else:
            values[o.name] = o.kind.from_json(node)
    return values


def _has(parameters: Mapping[str, Any], path: str) -> bool:
    node: Any = parameters
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


def refused_with_resume(
    given: Iterable[str], values: Mapping[str, Any], where: str = "collect", run_dir: Any = ""
) -> str | None:
    """One line when an option ``--resume`` keeps was given again (None: all fine)."""
    for o in options_for(where):
        if o.name in given and (o.resume == "keep" or o.noun):
            noun = o.noun or o.cli_flag
            value = o.kind.show(values[o.name]) or values[o.name]
            return (
                f"--resume {run_dir} keeps the {noun} the run recorded; drop {o.cli_flag} {value}"
            )
    return None


# -- the README ------------------------------------------------------------------------------


def _where_text(o: Option) -> str:
    parts = [w for w in o.where if w in COMMANDS]
    nbs = [w for w in o.where if w in NOTEBOOKS]
    return ", ".join(parts + ([f"notebook {'/'.join(nbs)}"] if nbs else [])) or "(protocol)"


def markdown() -> str:
    """The table as the README shows it (tests/unit/test_options.py keeps them equal)."""
    lines = [
        "| option | flag | where | default | meaning | where it differs, and why | resume |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in OPTIONS:
        differs = "; ".join(
            f"{w}: {o.kind.show(v) or 'none'} — {why}" for w, (v, why) in o.differs.items()
        )
        flag = (
            ""
            if not o.where or set(o.where) <= set(NOTEBOOKS)
            else (o.metavar if o.positional else o.cli_flag)
        )
        meaning = (o.meaning or o.help).replace("{{", "{").replace("}}", "}").replace("|", "\\|")
        resume = {"keep": "kept", "again": "given again"}.get(o.resume, "")
        lines.append(
            f"| `{o.name}` | {flag and '`' + flag + '`'} | {_where_text(o)} | "
            f"{o.kind.show(o.default) or 'none'} | {meaning} | {differs} | {resume} |"
        )
    return "\n".join(lines)


def describe(where: str) -> Sequence[str]:
    """``name: type = default  # help`` per option of a notebook (its parameters cell's form)."""
    return [
        f"{o.name} = {o.default_for(where)!r}  # {o.meaning or o.help}" for o in options_for(where)
    ]


# experiments' own options are declared beside their experiment (concurrency.py's
# --parallel): rtlab/core/__init__.py imports those modules, so any import of the core
# package registers them.


if __name__ == "__main__":  # the README's table: python -m rtlab.core.options
    from rtlab.core import options as _schema  # the imported module: experiments registered theirs

    print(_schema.markdown())
