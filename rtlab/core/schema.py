"""The option schema's machinery: the kinds, the :class:`Option` record and the registry.

A :class:`Kind` says how an option's value is read from the command line's text,
checked as a notebook's (or a caller's) Python value, stored in run.json and shown
in help and the README; an :class:`Option` is one declared option (its name, kind,
default and the layers that differ, help, where it applies, run.json key, what
``--resume`` does); :func:`register` adds one to :data:`OPTIONS`. The declarations
themselves are in options.py (and beside an experiment that brings its own, such as
concurrency.py's ``--parallel``); what is derived from them (argparse, a notebook's
check, run.json, the README's table) is in optionforms.py. options.py re-exports
every name here, so ``from rtlab.core.options import Whole`` keeps working.

Bad input is one line naming the option, the value and what is accepted
(:class:`OptionError`).

stdlib-only: the measurement half imports it.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtlab.core import conditions, experiments
from rtlab.core.runtimes import Runtime, RuntimeSpecError, parse_custom

# Where an option applies: the commands, and notebooks by number ("01": 01-collect,
# "02": 02-analyze, "03": 03-compare-runs). A layer name in ``differs`` is one of these.
COMMANDS = ("doctor", "setup", "clean", "collect", "report", "analyze", "compare")
NOTEBOOKS = {"01": "01-collect.ipynb", "02": "02-analyze.ipynb", "03": "03-compare-runs.ipynb"}


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
