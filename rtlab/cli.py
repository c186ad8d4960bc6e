"""``rtlab doctor | setup | collect | clean | analyze | report | compare``: a thin shell.

Each subcommand parses its arguments and calls one importable function; bad
input ends with one line naming the value and what is accepted, exit 2.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__, experiments
from .cri import NETWORK_MODES
from .collect import CollectOptions, Interrupted, UsageError, collect, options_for_resume
from .defaults import DEFAULTS, help_text
from .drivers import CLIENTS
from .runtimes import RuntimeSpecError, default_names, parse_custom, resolve
from .studies import STUDIES, StudyError
from .studies import resolve as resolve_study
from .conditions import (DEFAULT_PACE_S, DropCachesError, DurationError,
                         check_drop_caches_allowed, format_pace, parse_duration, parse_paces)
from .workload import Workload, WorkloadError

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input in one line (no usage dump)."""

    def error(self, message: str):  # noqa: D102
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _checked(parse, accept, what: str, rule: str):
    """An argparse type: ``parse`` the text, then ``accept`` the value, else one line why."""
    def convert(value: str):
        try:
            parsed = parse(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}") from None
        if not accept(parsed):
            raise argparse.ArgumentTypeError(f"{value!r}: {rule}")
        return parsed
    return convert


_INF = float("inf")
_positive_int = _checked(int, lambda n: n >= 1, "a whole number (give 1 or more)", "must be at least 1")
_nonneg_int = _checked(int, lambda n: n >= 0, "a whole number (give 0 or more)", "must be 0 or more")
_int = _checked(int, lambda n: True, "a whole number", "")
_seconds = _checked(float, lambda s: 0 < s < _INF, "a number of seconds (e.g. 30)",
                    "must be a number of seconds above 0")
_fraction = _checked(float, lambda f: 0 < f < 1, "a number (give a fraction such as 0.05)",
                     "must be between 0 and 1 (0.05 = ±5%)")
_alpha = _checked(float, lambda a: 0 < a < 1, "a number (give a level like 0.05)",
                  "must be between 0 and 1, e.g. 0.05")
_threshold = _checked(float, lambda t: 0 <= t < _INF, "a number (give a fraction like 0.05)",
                      "must be a fraction of 0 or more, e.g. 0.05 for 5%")


def _custom_runtimes(specs: list[str]):
    try:
        return [parse_custom(s) for s in specs]
    except RuntimeSpecError as exc:
        raise UsageError(str(exc)) from None


def build_parser() -> Parser:
    p = Parser(prog="rtlab", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"rtlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    def runtime_args(sp, with_selection: bool = True, defaults: bool = False):
        if with_selection:
            sp.add_argument("--clients", type=_csv, default=None,
                            help=f"comma-separated clients ({', '.join(CLIENTS)})"
                            + (f"; default {','.join(DEFAULTS['clients'].value)} without --study"
                               if defaults else ""))
            sp.add_argument("--runtimes", type=_csv, default=None,
                            help=f"comma-separated runtimes ({', '.join(default_names())})"
                            + (f"; default {','.join(DEFAULTS['runtimes'].value)} without --study"
                               if defaults else ""))
        sp.add_argument("--runtime", action="append", default=[], metavar="NAME=/PATH[:FLAGS]",
                        help="add a runc-compatible runtime binary (repeatable)")

    def experiment_args(sp):
        sp.add_argument("--experiment", default=None, metavar="NAME",
                        help="what one trial measures: " + experiments.describe().replace("%", "%%")
                        + f" (default {experiments.DEFAULT_EXPERIMENT}; the cri client's is cri)")
        sp.add_argument("--steps", type=_csv, default=None, metavar="LIST",
                        help="measure only these steps of the experiment, e.g. run (default: all)")

    def condition_args(sp):
        pace = sp.add_mutually_exclusive_group()
        pace.add_argument("--pace", default=None, metavar="DURATION",
                          help="leave the host idle this long before each timed step, after "
                               "rtlab's own bookkeeping: 0 (back to back), 10ms, 1s … "
                               f"(default {format_pace(DEFAULT_PACE_S)}; recorded as pace_s)")
        pace.add_argument("--paces", default=None, metavar="LIST",
                          help="several paces, e.g. 0,10ms,100ms,1s: every target at each, "
                               "interleaved within rounds; the analysis shows how each "
                               "conclusion moves with the pace")
        sp.add_argument("--drop-caches", action="store_true",
                        help="root: sync and drop the page cache before each trial (cold cache)")

    def workload_args(sp):
        sp.add_argument("--image", default=None, metavar="REF",
                        help="an image already in each daemon client's store (default: rtlab's busybox)")
        sp.add_argument("--cmd", default=None, metavar="CMD",
                        help="the lifecycle container's command, split like a shell line "
                             "(default: sleep 3600 for busybox, the image's own for --image)")
        sp.add_argument("--bundle", type=Path, default=None, metavar="DIR",
                        help="an OCI bundle for the oci client (default: rtlab's busybox bundle)")

    d = sub.add_parser("doctor", help="what this host can measure, and why not")
    runtime_args(d)
    d.add_argument("--timeout", type=_seconds, default=DEFAULTS["probe_timeout"].value,
                   help=help_text("probe_timeout", "seconds per probe"))
    d.add_argument("--json", action="store_true", help="print the facts as JSON")

    s = sub.add_parser("setup", help="install packages, prepare cgroups, start daemons, import images")
    s_mode = s.add_mutually_exclusive_group()
    s_mode.add_argument("--stop", action="store_true", help="stop only the daemons rtlab started")
    s_mode.add_argument("--purge", action="store_true",
                        help="undo everything rtlab did to this host (the uninstall; idempotent)")
    s.add_argument("--runtime", action="append", default=[], metavar="NAME=/PATH[:FLAGS]",
                   help="also register this runc-compatible runtime with dockerd and containerd "
                        "(so docker/NAME and ctr/NAME work); repeatable")

    c = sub.add_parser("collect", help="run interleaved trials into data/<run-id>/")
    runtime_args(c, defaults=True)
    experiment_args(c)
    condition_args(c)
    c.add_argument("--networks", type=_csv, default=list(NETWORK_MODES), metavar="LIST",
                   help="the cri client's pod networks, each a condition (column network): "
                        f"{', '.join(NETWORK_MODES)} (default both)")
    c.add_argument("--trials", type=_positive_int, default=None,
                   help=help_text("trials", "measured trials per target; not with --until-ci"))
    c.add_argument("--until-ci", type=_fraction, default=None, metavar="P",
                   help="adaptive: add trials to a target until every step's median 95%% CI is "
                        "within ±P of it (0.05 = ±5%%)")
    c.add_argument("--min-trials", type=_positive_int, default=DEFAULTS["min_trials"].value,
                   help=help_text("min_trials", "with --until-ci"))
    c.add_argument("--max-trials", type=_positive_int, default=DEFAULTS["max_trials"].value,
                   help=help_text("max_trials", "with --until-ci"))
    c.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                   help="continue an interrupted run to its requested trial count")
    c.add_argument("--warmup", type=_nonneg_int, default=DEFAULTS["warmup"].value,
                   help=help_text("warmup", "warm-up trials per target (kept, flagged)"))
    c.add_argument("--timeout", type=_seconds, default=DEFAULTS["timeout"].value,
                   help=help_text("timeout", "seconds per client command"))
    c.add_argument("--seed", type=_int, default=DEFAULTS["seed"].value,
                   help=help_text("seed", "seed of the interleaving order"))
    c.add_argument("--out", type=Path, default=None, help="run folder (default data/<run-id>/)")
    c.add_argument("--allow-concurrent", action="store_true",
                   help="run even while another collect runs (their timings interfere)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.add_argument("--study", choices=list(STUDIES), default=None,
                   help="a named set of targets: " + "; ".join(f"{k}: {v}" for k, v in STUDIES.items())
                   + " (narrowed by --clients/--runtimes when given)")
    workload_args(c)

    cl = sub.add_parser("clean", help="remove what crashed rtlab runs left behind")
    runtime_args(cl, with_selection=False)

    r = sub.add_parser("report", help="collect on every available target, then write a report "
                                      "(with --runs: a report of runs already on disk)")
    r.add_argument("--runs", type=Path, nargs="+", default=None, metavar="DIR",
                   help="do not collect: render a report of these run folders (or folders of "
                        "runs, e.g. data/sample); needs no root")
    runtime_args(r)
    experiment_args(r)
    condition_args(r)
    r.add_argument("--study", choices=list(STUDIES), default="all", help="which study (default all)")
    workload_args(r)
    r.add_argument("--trials", type=_positive_int, default=DEFAULTS["trials"].value_for("report"),
                   help=help_text("trials", "measured trials per target", "report"))
    r.add_argument("--warmup", type=_nonneg_int, default=DEFAULTS["warmup"].value,
                   help=help_text("warmup", "warm-up trials per target"))
    r.add_argument("--timeout", type=_seconds, default=DEFAULTS["timeout"].value,
                   help=help_text("timeout", "seconds per client command"))
    r.add_argument("--seed", type=_int, default=DEFAULTS["seed"].value,
                   help="seed of the interleaving order (the analysis draws no random numbers)")
    r.add_argument("--margin", type=_fraction, default=0.05,
                   help="equivalence margin of the analysis (default 0.05 = ±5%%)")
    r.add_argument("--reports-dir", type=Path, default=None, metavar="DIR",
                   help="where reports/<run-id>/ and index.html go (default: the repository's reports/)")

    a = sub.add_parser("analyze", help="statistics, figures and findings of one or more runs")
    a.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                   help="a run folder, or a folder of runs (every run in it); runs are merged "
                        "only when host and versions match")
    a.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="where summary.csv, comparisons.csv, omnibus.csv and figures/ go")
    a.add_argument("--alpha", type=_alpha, default=0.05, help="significance level (default 0.05)")
    a.add_argument("--seed", type=_int, default=0, help="kept for older scripts: the comparisons draw no random numbers (default 0)")
    a.add_argument("--margin", type=_fraction, default=0.05,
                   help="equivalence margin: 'equivalent' when shown within ±this fraction "
                        "(default 0.05 = ±5%%)")
    a.add_argument("--figures", default="report", metavar="KINDS",
                   help="figures to draw: report (default: overview, lifecycle, study, pace), "
                        "all (adds per-step distributions, ECDFs and ratio heat maps), none, "
                        "or kinds comma-separated")
    a.add_argument("--svg", action="store_true", help="also write each figure as SVG")

    cm = sub.add_parser("compare", help="run B against run A on one host: change per target and "
                                        "step; exit 1 on a regression beyond --threshold")
    cm.add_argument("run_a", type=Path, metavar="RUN_A", help="the run before (a run folder)")
    cm.add_argument("run_b", type=Path, metavar="RUN_B", help="the run after (a run folder)")
    cm.add_argument("--alpha", type=_alpha, default=0.05,
                    help="significance level, Holm-adjusted over every target and step (default 0.05)")
    cm.add_argument("--threshold", type=_threshold, default=0.05,
                    help="fail when a target/step is slower by more than this fraction with 95%% "
                         "confidence (default 0.05 = 5%%)")
    cm.add_argument("--seed", type=_int, default=0, help="kept for older scripts: the comparisons draw no random numbers (default 0)")
    cm.add_argument("--margin", type=_fraction, default=0.05,
                    help="equivalence margin: 'equivalent' when the change is shown within "
                         "±this fraction (default 0.05 = ±5%%)")
    cm.add_argument("--out", type=Path, default=None, metavar="DIR",
                    help="also write DIR/changes.csv and DIR/change.png/.svg")
    return p


def cmd_doctor(args) -> int:
    from .doctor import doctor

    custom = _custom_runtimes(args.runtime)
    runtimes = _resolve(args.runtimes or default_names(custom), custom)
    clients = _clients(args.clients or list(CLIENTS))
    out = doctor(clients, runtimes, args.timeout, say=(lambda _: None) if args.json else print)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    return 0


def cmd_collect(args) -> int:
    progress = False if args.no_progress else None
    if args.resume is not None:
        if args.out is not None:
            raise UsageError(f"--resume {args.resume} continues that folder; drop --out {args.out}")
        if args.pace is not None or args.paces is not None:
            raise UsageError(f"--resume {args.resume} keeps the pace the run recorded; drop "
                             f"--pace/--paces {args.pace or args.paces}")
        opts = options_for_resume(args.resume, allow_concurrent=args.allow_concurrent,
                                  progress=progress)
        return 0 if collect(opts).status == "completed" else 1
    _experiment(args)
    if args.until_ci is not None and args.trials is not None:
        raise UsageError(f"--until-ci {args.until_ci:g} decides the trial count: drop --trials "
                         f"{args.trials} (bound it with --min-trials/--max-trials)")
    custom = _custom_runtimes(args.runtime)
    opts = CollectOptions(
        **_selection(args, custom, list(DEFAULTS["clients"].value),
                     list(DEFAULTS["runtimes"].value)),
        experiment=args.experiment, steps=args.steps, networks=args.networks,
        paces=_paces(args), drop_caches=args.drop_caches,
        trials=args.trials or DEFAULTS["trials"].value, warmup=args.warmup,
        timeout_s=args.timeout, seed=args.seed,
        out=args.out, custom_runtimes=custom, allow_concurrent=args.allow_concurrent,
        progress=progress, workload=_workload(args),
        until_ci=args.until_ci, min_trials=args.min_trials, max_trials=args.max_trials,
    )
    result = collect(opts)
    return 0 if result.status == "completed" else 1


def cmd_setup(args) -> int:
    from .setup import setup

    if (args.stop or args.purge) and args.runtime:
        raise UsageError(f"--runtime {args.runtime[0]} registers a runtime; it does not go with "
                         f"--{'stop' if args.stop else 'purge'}")
    if args.stop:
        from .daemons import stop_started

        stop_started()
        return 0
    if args.purge:
        from .purge import PurgeError, purge

        try:
            purge()
        except (PermissionError, PurgeError) as exc:
            raise UsageError(str(exc)) from None
        return 0
    from .daemons import DaemonError

    custom = _custom_runtimes(args.runtime)
    try:
        setup(extra=custom)
    except (PermissionError, DaemonError) as exc:
        raise UsageError(str(exc)) from None
    return 0


def cmd_report(args) -> int:
    """Collect through notebooks/01-collect.ipynb, analyse through 02 (rtlab.report)."""
    from .report import REPORTS_DIR, NotebookStopped, ReportError, make_report

    if args.runs:
        return _report_from_runs(args)
    custom = _custom_runtimes(args.runtime)
    _experiment(args)
    _clients(args.clients or [])  # names are checked here, before anything runs
    _resolve(args.runtimes or [], custom)
    _workload(args)
    study = getattr(args, "study", None) or ""
    bundle = getattr(args, "bundle", None)
    parameters = {
        "study": study,
        "clients": ",".join(args.clients or ([] if study else ["oci"])),
        "runtimes": ",".join(args.runtimes or ([] if study else default_names(custom))),
        "trials": args.trials, "warmup": args.warmup, "timeout_s": args.timeout,
        "seed": args.seed, "custom_runtimes": list(args.runtime),
        "image": getattr(args, "image", None) or "", "cmd": getattr(args, "cmd", None) or "",
        "bundle": str(Path(bundle).resolve()) if bundle else "",
        "experiment": args.experiment or experiments.DEFAULT_EXPERIMENT,
        "steps": ",".join(args.steps or []),
        "paces": ",".join(conditions_text(p) for p in _paces(args)),
        "drop_caches": args.drop_caches,
    }
    try:
        made = make_report(parameters, reports_dir=args.reports_dir or REPORTS_DIR,
                           seed=args.seed, margin=args.margin)
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


def _report_from_runs(args) -> int:
    """``rtlab report --runs``: notebook 02 over runs on disk, nothing collected."""
    from .params import ParameterError
    from .report import REPORTS_DIR, NotebookStopped, ReportError, report_from_runs

    try:
        made = report_from_runs(list(args.runs), reports_dir=args.reports_dir or REPORTS_DIR,
                                seed=args.seed, margin=args.margin)
    except ParameterError as exc:
        raise UsageError(str(exc)) from None
    except (NotebookStopped, ReportError) as exc:
        print(f"rtlab report: error: {exc}", file=sys.stderr)
        return 1
    print(f"rtlab report: notebooks, figures and CSVs in {made.report_dir}")
    print(f"rtlab report: every report is listed in {made.index}")
    print(made.html)
    return 0


def cmd_analyze(args) -> int:
    """Merge the runs, analyse them into --out; print warnings and findings."""
    from .analysis import analyze
    from .params import find_runs, load_runs

    runs = [run for d in args.run_dirs for run in find_runs(str(d), "RUN_DIR", base=Path.cwd())]
    _, trials = load_runs(runs, "RUN_DIR")
    try:
        result = analyze(trials, args.out, alpha=args.alpha, seed=args.seed, margin=args.margin,
                         figures=args.figures, svg=args.svg)
    except ValueError as exc:
        if str(exc).startswith("unknown figure kind"):
            raise UsageError(f"--figures: {exc}") from None
        raise
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for finding in result.findings:
        print(finding)
    print(f"rtlab analyze: {len(runs)} run(s) → {', '.join(str(t) for t in result.tables)} and "
          f"{len(result.figures)} figure files in {Path(args.out) / 'figures'}")
    return 0


def cmd_compare(args) -> int:
    """Print the run-to-run comparison; exit 1 when the regression gate fails."""
    from .compare import compare_runs, format_lines, write
    from .params import ParameterError, find_runs
    from .results import RunFormatError

    dirs = []
    for name, d in (("RUN_A", args.run_a), ("RUN_B", args.run_b)):
        found = find_runs(str(d), name, base=Path.cwd())
        if len(found) != 1:
            raise ParameterError(f"{name}: {str(d)!r} holds {len(found)} runs; give one run folder")
        dirs += found
    try:
        cmp = compare_runs(dirs[0], dirs[1], alpha=args.alpha, threshold=args.threshold,
                           seed=args.seed, margin=args.margin)
    except RunFormatError as exc:
        raise UsageError(str(exc)) from None
    if args.out is not None:
        from .plots import save_figure
        from .views import change_plot

        write(cmp, args.out)
        save_figure(change_plot(cmp).figure, Path(args.out) / "change")
    print("\n".join(format_lines(cmp)))
    return 1 if not cmp.regressions.empty else 0


def cmd_clean(args) -> int:
    from .doctor import all_runtimes, clean

    clean(list(CLIENTS), all_runtimes(_custom_runtimes(args.runtime)))
    return 0


def _experiment(args) -> None:
    """An unknown --experiment or --steps: one line, before anything runs."""
    try:
        if args.experiment is not None or getattr(args, "clients", None) is None \
                or "cri" not in args.clients:  # with cri, collect checks the steps per client
            experiments.get(args.experiment).select(args.steps)
    except experiments.ExperimentError as exc:
        raise UsageError(str(exc)) from None


def _paces(args) -> list[float]:
    """The paces asked for (--pace or --paces; the default pace otherwise), checked
    before anything runs; ``--drop-caches`` without root is refused here too."""
    try:
        if args.paces is not None:
            paces = parse_paces(args.paces)
        elif args.pace is not None:
            paces = [parse_duration(args.pace)]
        else:
            paces = [DEFAULT_PACE_S]
        if getattr(args, "drop_caches", False):
            check_drop_caches_allowed()
    except (DurationError, DropCachesError) as exc:
        raise UsageError(str(exc)) from None
    return paces


def conditions_text(seconds: float) -> str:
    """A pace as parse_duration reads it back (``0``, ``10ms``, ``1s``)."""
    return "0" if seconds == 0 else f"{seconds * 1000:g}ms"


def _workload(args) -> Workload:
    try:
        return Workload.from_options(args.image, args.cmd, args.bundle)
    except WorkloadError as exc:
        raise UsageError(str(exc)) from None


def _selection(args, custom, default_clients: list[str], default_runtimes: list[str]) -> dict:
    """The CollectOptions fields naming the targets: a --study (narrowed by
    --clients/--runtimes), else --clients x --runtimes."""
    if not args.study:
        return {"clients": args.clients or default_clients,
                "runtimes": args.runtimes or default_runtimes}
    _clients(args.clients or [])
    _resolve(args.runtimes or [], custom)
    try:
        study = resolve_study(args.study, custom, clients=args.clients, runtimes=args.runtimes)
    except StudyError as exc:
        raise UsageError(str(exc)) from None
    return {"clients": study.clients, "runtimes": study.runtimes, "pairs": study.pairs,
            "study": study.name, "excluded": study.excluded}


def _resolve(names, custom):
    try:
        return resolve(names, custom)
    except RuntimeSpecError as exc:
        raise UsageError(str(exc)) from None


def _clients(names: list[str]) -> list[str]:
    unknown = [c for c in names if c not in CLIENTS]
    if unknown:
        raise UsageError(f"unknown client {', '.join(map(repr, unknown))}; known: {', '.join(CLIENTS)}")
    return names


COMMANDS = {"doctor": cmd_doctor, "setup": cmd_setup, "collect": cmd_collect,
            "clean": cmd_clean, "report": cmd_report, "analyze": cmd_analyze,
            "compare": cmd_compare}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = COMMANDS[args.command]
    try:
        return handler(args)
    except UsageError as exc:
        print(f"rtlab {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        return 128 + exc.signum
    except KeyboardInterrupt:
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
