"""What is derived from the option schema: the command line's options, a notebook's
check, run.json's ``parameters`` and ``--resume``, the README's table.

- :func:`add_arguments` and :func:`from_namespace`: each command's argparse options and
  their values (cli.py);
- :func:`check` and :func:`from_globals`: a notebook's parameters (report/params.py,
  collect/front.py);
- :func:`recorded`, :func:`record`, :func:`restore`, :func:`refused_with_resume`:
  run.json and ``--resume`` (collect);
- :func:`markdown` and :func:`describe`: the README's table, a parameters cell.

Each iterates the registry (schema.py's :data:`OPTIONS`) as options.py and the
experiments' modules filled it; importers reach these through options.py, which
re-exports them.

stdlib-only: the measurement half imports it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rtlab.core import conditions, experiments
from rtlab.core.schema import (
    COMMANDS,
    NOTEBOOKS,
    OPTIONS,
    Choice,
    Flag,
    Option,
    OptionError,
    Real,
    Whole,
    get,
    options_for,
)

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
        # options.py's DEFAULT_PACE_S, as the paces option declares it
        "default_pace": conditions.format_pace(get("paces", "collect").default[0]),
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
        if o.nargs == "?" and raw is None:  # an optional positional left out
            values[o.name] = o.default_for(where)
            continue
        given.add(o.name)
        if isinstance(o.kind, Flag):
            values[o.name] = True
        elif o.repeat:
            values[o.name] = [o.kind.from_text(t, o.cli_flag) for t in raw]
        elif o.nargs and o.nargs != "?":
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
