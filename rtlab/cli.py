"""``rtlab doctor | setup | collect | clean | analyze | report | compare``: a thin shell.

Each subcommand parses its arguments and calls one importable function, the ``run``
of its module in rtlab/commands/; bad input ends with one line naming the value and
what is accepted, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable, Sequence

from rtlab import __version__
from rtlab.collect.clients import CLIENTS
from rtlab.collect.collect import Interrupted
from rtlab.collect.registry import register_host_parts
from rtlab.collect.studies import STUDIES
from rtlab.commands import fleet
from rtlab.core import options
from rtlab.core.options import OptionError
from rtlab.core.runtimes import default_names
from rtlab.core.usage import UsageError

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input in one line (no usage dump)."""

    def error(self, message: str):  # noqa: D102
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def registries() -> dict[str, dict[str, str]]:
    """The names the option schema's help and choices read (options.add_arguments)."""
    return {
        "clients": {c: "" for c in CLIENTS},
        "runtimes": {r: "" for r in default_names()},
        "studies": dict(STUDIES),
    }


def build_parser() -> Parser:
    """Every command's options come from the schema (rtlab/core/options.py); only doctor's and
    setup's own switches are spelled here."""
    p = Parser(prog="rtlab", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"rtlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    names = registries()

    d = sub.add_parser("doctor", help="what this host can measure, and why not")
    d.add_argument(
        "--clients",
        type=_csv,
        default=None,
        help=f"comma-separated clients ({', '.join(CLIENTS)}; default: all)",
    )
    d.add_argument(
        "--runtimes",
        type=_csv,
        default=None,
        help=f"comma-separated runtimes ({', '.join(default_names())}; default: all)",
    )
    options.add_arguments(d, "doctor", names)
    d.add_argument("--json", action="store_true", help="print the facts as JSON")

    s = sub.add_parser(
        "setup",
        help="install packages, prepare cgroups, start daemons, import images "
        "(--runtime: also register it with dockerd and containerd)",
    )
    s_mode = s.add_mutually_exclusive_group()
    s_mode.add_argument("--stop", action="store_true", help="stop only the daemons rtlab started")
    s_mode.add_argument(
        "--purge",
        action="store_true",
        help="undo everything rtlab did to this host (the uninstall; idempotent)",
    )
    options.add_arguments(s, "setup", names)

    c = sub.add_parser("collect", help="run interleaved trials into data/<run-id>/")
    options.add_arguments(c, "collect", names)

    cl = sub.add_parser("clean", help="remove what crashed rtlab runs left behind")
    options.add_arguments(cl, "clean", names)

    r = sub.add_parser(
        "report",
        help="collect on every available target, then write a report "
        "(with --runs: a report of runs already on disk)",
    )
    options.add_arguments(r, "report", names)

    a = sub.add_parser("analyze", help="statistics, figures and findings of one or more runs")
    options.add_arguments(a, "analyze", names)

    cm = sub.add_parser(
        "compare",
        help="run B against run A on one host: change per target and "
        "step; exit 1 on a regression beyond --threshold",
    )
    options.add_arguments(cm, "compare", names)
    fleet.add_parser(sub)  # rtlab on a cluster (issue 34): its own arguments, not the schema's
    return p


# Each subcommand's module (rtlab/commands/), loaded only when it is the one asked for:
# `rtlab doctor`, `setup`, `clean` and `collect` load no pandas (collect's summary
# table loads it once the run is over), `analyze` and `compare` none of set-up.
COMMANDS = {name: f"rtlab.commands.{name}" for name in (*options.COMMANDS, "fleet")}


def command(name: str) -> Callable[[argparse.Namespace, dict, set], int]:
    """The ``run`` of subcommand ``name``'s module."""
    # The one lazy import of the commands (by name, from COMMANDS): each subcommand's
    # module imports what it needs at its top, and only its own is loaded.
    return importlib.import_module(COMMANDS[name]).run


def main(argv: Sequence[str] | None = None) -> int:
    register_host_parts()  # set-up, purge, doctor and collect reach clients through host
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = command(args.command)
    try:
        values, given = options.from_namespace(args, args.command)
        return handler(args, values, given)
    except (UsageError, OptionError) as exc:
        print(f"rtlab {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        return 128 + exc.signum
    except KeyboardInterrupt:
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
