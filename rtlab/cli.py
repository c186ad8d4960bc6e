"""``rtlab doctor | setup | collect | clean | analyze | report | compare``: a thin shell.

Each subcommand parses its arguments and calls one importable function; bad
input ends with one line naming the value and what is accepted, exit 2.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from rtlab import __version__, fleet_cli
from rtlab.collect.clients import CLIENTS
from rtlab.collect.collect import (
    CollectOptions,
    Interrupted,
    UsageError,
    collect,
    options_for_resume,
)
from rtlab.collect.studies import STUDIES, StudyError
from rtlab.collect.studies import resolve as resolve_study
from rtlab.core import experiments, options
from rtlab.core.conditions import DropCachesError, check_drop_caches_allowed
from rtlab.core.options import OptionError
from rtlab.core.runtimes import RuntimeSpecError, default_names, resolve
from rtlab.core.workload import Workload, WorkloadError

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
    fleet_cli.add_parser(sub)  # rtlab on a cluster (issue 34): rtlab/fleet_cli.py
    return p


def cmd_doctor(args, values: dict, given: set) -> int:
    from rtlab.collect.doctor import doctor

    custom = values["custom_runtimes"]
    runtimes = _resolve(args.runtimes or default_names(custom), custom)
    clients = _clients(args.clients or list(CLIENTS))
    out = doctor(
        clients, runtimes, values["probe_timeout"], say=(lambda _: None) if args.json else print
    )
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    return 0


def console_summary(run_dir: Path) -> str:
    """The table of medians said after a run (views: pandas, loaded only once it is over)."""
    from rtlab.report.views import console_summary as table

    return table(run_dir)


def cmd_collect(args, values: dict, given: set) -> int:
    progress = False if values["no_progress"] else None
    if values["resume"] is not None:
        run_dir = values["resume"]
        if "out_dir" in given:
            raise UsageError(
                f"--resume {run_dir} continues that folder; drop --out {values['out_dir']}"
            )
        refused = options.refused_with_resume(given, values, "collect", run_dir)
        if refused:
            raise UsageError(refused)
        opts = options_for_resume(
            run_dir, allow_concurrent=values["allow_concurrent"], progress=progress
        )
        return 0 if collect(opts, summary=console_summary).status == "completed" else 1
    _experiment(values)
    if "until_ci" in given and "trials" in given:
        raise UsageError(
            f"--until-ci {values['until_ci']:g} decides the trial count: drop --trials "
            f"{values['trials']} (bound it with --min-trials/--max-trials)"
        )
    custom = values["custom_runtimes"]
    opts = CollectOptions.from_values(
        values,
        **_selection(values, custom),
        paces=_paces(values),
        out=values["out_dir"],
        progress=progress,
    )
    result = collect(opts, summary=console_summary)
    return 0 if result.status == "completed" else 1


def cmd_setup(args, values: dict, given: set) -> int:
    from rtlab.host.setup import setup

    if (args.stop or args.purge) and values["custom_runtimes"]:
        raise UsageError(
            f"--runtime {values['custom_runtimes'][0].name} registers a runtime; it "
            f"does not go with --{'stop' if args.stop else 'purge'}"
        )
    if args.stop:
        from rtlab.host.daemons import stop_started

        stop_started()
        return 0
    if args.purge:
        from rtlab.uninstall import PurgeError, purge  # every host part registered

        try:
            purge()
        except (PermissionError, PurgeError) as exc:
            raise UsageError(str(exc)) from None
        return 0
    from rtlab.host.daemons import DaemonError

    try:
        setup(extra=values["custom_runtimes"])
    except (PermissionError, DaemonError) as exc:
        raise UsageError(str(exc)) from None
    return 0


def cmd_report(args, values: dict, given: set) -> int:
    """Collect through notebooks/01-collect.ipynb, analyse through 02 (rtlab.report.report)."""
    from rtlab.report.report import REPORTS_DIR, NotebookStopped, ReportError, make_report

    if values["runs"]:
        return _report_from_runs(values)
    custom = values["custom_runtimes"]
    _experiment(values)
    _clients(values["clients"] or [])  # names are checked here, before anything runs
    _resolve(values["runtimes"] or [], custom)
    _workload(values)
    if not values["study"] and not values["clients"]:
        values["clients"] = list(options.DEFAULT_CLIENTS)
    if not values["study"] and not values["runtimes"]:
        values["runtimes"] = default_names(custom)
    values["paces"] = _paces(values)
    # notebook 01's parameters: every option report and 01 share, in the notebook's form
    # (an experiment's own options only with that experiment)
    parameters = {
        o.name: o.kind.to_notebook(values[o.name])
        for o in options.options_for("01")
        if o.applies("report") and (not o.experiments or values["experiment"] in o.experiments)
    }
    try:
        made = make_report(
            parameters,
            reports_dir=values["reports_dir"] or REPORTS_DIR,
            alpha=values["alpha"],
            seed=values["seed"],
            margin=values["margin"],
            extras={} if values["no_extras"] else None,
        )
    except NotebookStopped as exc:
        if exc.ename in ("ParameterError", "UsageError"):
            raise UsageError(str(exc)) from None
        print(f"rtlab report: error: {exc}", file=sys.stderr)
        return 128 + signal.SIGINT if exc.ename == "Interrupted" else 1
    except ReportError as exc:
        print(f"rtlab report: error: {exc}", file=sys.stderr)
        return 1
    print(f"rtlab report: data in {made.run_dir}")
    print(f"rtlab report: notebooks, figures and CSVs in {made.report_dir}")
    print(f"rtlab report: every report is listed in {made.index}")
    print(made.html)
    return 0


def _report_from_runs(values: dict) -> int:
    """``rtlab report --runs``: notebook 02 over runs on disk, nothing collected."""
    from rtlab.report.params import ParameterError
    from rtlab.report.report import REPORTS_DIR, NotebookStopped, ReportError, report_from_runs

    try:
        made = report_from_runs(
            list(values["runs"]),
            reports_dir=values["reports_dir"] or REPORTS_DIR,
            alpha=values["alpha"],
            seed=values["seed"],
            margin=values["margin"],
        )
    except ParameterError as exc:
        raise UsageError(str(exc)) from None
    except (NotebookStopped, ReportError) as exc:
        print(f"rtlab report: error: {exc}", file=sys.stderr)
        return 1
    print(f"rtlab report: notebooks, figures and CSVs in {made.report_dir}")
    print(f"rtlab report: every report is listed in {made.index}")
    print(made.html)
    return 0


def cmd_analyze(args, values: dict, given: set) -> int:
    """Merge the runs, analyse them into --out; print warnings and findings."""
    from rtlab.analysis.analysis import analyze
    from rtlab.report.params import find_runs, load_runs

    runs = [
        run for d in values["run_dirs"] for run in find_runs(str(d), "RUN_DIR", base=Path.cwd())
    ]
    from rtlab.analysis.phasestats import load_runs as load_phases

    _, trials = load_runs(runs, "RUN_DIR")
    out = values["out_dir"]
    try:
        result = analyze(
            trials,
            out,
            alpha=values["alpha"],
            seed=values["seed"],
            margin=values["margin"],
            figures=values["figures"] or "report",
            svg=values["svg"],
            phases=load_phases(runs),
        )
    except ValueError as exc:
        if str(exc).startswith("unknown figure kind"):
            raise UsageError(f"--figures: {exc}") from None
        raise
    from rtlab.report.density_report import write as write_density

    density = write_density(runs, out)  # density.csv's runs: their own tables, never pooled
    tables = [*result.tables, *(density.tables if density else [])]
    figures = len(result.figures) + (len(density.figures) if density else 0)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for finding in [*(density.headline if density else []), *result.findings]:
        print(finding)
    print(
        f"rtlab analyze: {len(runs)} run(s) → {', '.join(str(t) for t in tables)} and "
        f"{figures} figure files in {Path(out) / 'figures'}"
    )
    return 0


def cmd_compare(args, values: dict, given: set) -> int:
    """Print the run-to-run comparison; exit 1 when the regression gate fails."""
    from rtlab.analysis.compare import compare_runs, format_lines, write
    from rtlab.core.results import RunFormatError
    from rtlab.report.params import ParameterError, find_runs

    dirs = []
    for name, d in (("RUN_A", values["run_a"]), ("RUN_B", values["run_b"])):
        found = find_runs(str(d), name, base=Path.cwd())
        if len(found) != 1:
            raise ParameterError(f"{name}: {str(d)!r} holds {len(found)} runs; give one run folder")
        dirs += found
    if values["across_hosts"]:  # issue 34: analysis/hosts.py
        from rtlab.analysis.hosts import HostsError, compare_hosts
        from rtlab.analysis.hosts import format_lines as host_lines

        try:
            table, diffs = compare_hosts(
                dirs[0],
                dirs[1],
                alpha=values["alpha"],
                margin=values["margin"],
                out_dir=values["out_dir"],
            )
        except (HostsError, RunFormatError) as exc:
            raise UsageError(str(exc)) from None
        print("\n".join(host_lines(table, diffs)))
        if values["out_dir"] is not None:  # the hosts view: report/hosts_report.py
            from rtlab.report.hosts_report import page

            print(page(Path(values["out_dir"])))
        return 0
    try:
        cmp = compare_runs(
            dirs[0],
            dirs[1],
            alpha=values["alpha"],
            threshold=values["threshold"],
            seed=values["seed"],
            margin=values["margin"],
        )
    except RunFormatError as exc:
        raise UsageError(str(exc)) from None
    if values["out_dir"] is not None:
        from rtlab.analysis.plots import save_figure
        from rtlab.report.views import change_plot

        write(cmp, values["out_dir"])
        save_figure(change_plot(cmp).figure, Path(values["out_dir"]) / "change")
    print("\n".join(format_lines(cmp)))
    return 1 if not cmp.regressions.empty else 0


def cmd_clean(args, values: dict, given: set) -> int:
    from rtlab.collect.doctor import all_runtimes, clean

    clean(list(CLIENTS), all_runtimes(values["custom_runtimes"]))
    return 0


def _experiment(values: dict) -> None:
    """An unknown --experiment or --steps: one line, before anything runs."""
    try:
        if (
            values["experiment"] is not None
            or not values.get("clients")
            or "cri" not in values["clients"]
        ):  # with cri, collect checks the steps per client
            experiments.get(values["experiment"]).select(values["steps"])
    except experiments.ExperimentError as exc:
        raise UsageError(str(exc)) from None


def _paces(values: dict) -> list[float]:
    """The paces asked for (--pace or --paces; the schema's default otherwise), checked
    before anything runs; ``--drop-caches`` without root is refused here too."""
    paces = [values["pace"]] if values.get("pace") is not None else list(values["paces"])
    if values.get("drop_caches"):
        try:
            check_drop_caches_allowed()
        except DropCachesError as exc:
            raise UsageError(str(exc)) from None
    return paces


def _workload(values: dict) -> Workload:
    try:
        return Workload.from_options(values["image"], values["cmd"], values["bundle"])
    except WorkloadError as exc:
        raise UsageError(str(exc)) from None


def _selection(values: dict, custom) -> dict:
    """The CollectOptions fields naming the targets: a --study (narrowed by
    --clients/--runtimes), else --clients x --runtimes (the schema's defaults when not given)."""
    clients, runtimes = values["clients"], values["runtimes"]
    if not values["study"]:
        return {
            "clients": clients or list(options.DEFAULT_CLIENTS),
            "runtimes": runtimes or list(options.DEFAULT_RUNTIMES),
        }
    _clients(clients or [])
    _resolve(runtimes or [], custom)
    try:
        study = resolve_study(values["study"], custom, clients=clients, runtimes=runtimes)
    except StudyError as exc:
        raise UsageError(str(exc)) from None
    return {
        "clients": study.clients,
        "runtimes": study.runtimes,
        "pairs": study.pairs,
        "study": study.name,
        "excluded": study.excluded,
    }


def _resolve(names, custom):
    try:
        return resolve(names, custom)
    except RuntimeSpecError as exc:
        raise UsageError(str(exc)) from None


def _clients(names: list[str]) -> list[str]:
    unknown = [c for c in names if c not in CLIENTS]
    if unknown:
        raise UsageError(
            f"unknown client {', '.join(map(repr, unknown))}; known: {', '.join(CLIENTS)}"
        )
    return names


COMMANDS = {
    "doctor": cmd_doctor,
    "setup": cmd_setup,
    "collect": cmd_collect,
    "clean": cmd_clean,
    "report": cmd_report,
    "analyze": cmd_analyze,
    "compare": cmd_compare,
    "fleet": fleet_cli.cmd_fleet,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = COMMANDS[args.command]
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
