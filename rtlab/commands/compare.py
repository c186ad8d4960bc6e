"""``rtlab compare``: run B against run A on one host; exit 1 when the regression gate fails."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtlab.analysis import alternation, compare, hosts, plots
from rtlab.core import results
from rtlab.core.results import RunFormatError
from rtlab.core.usage import ParameterError, UsageError
from rtlab.report import hosts_report, params, views


def run(args: argparse.Namespace, values: dict, given: set) -> int:
    if values.get("pair") is not None:
        return _alternation(values)
    if values["run_b"] is None:
        raise ParameterError(
            "RUN_B: missing; give the run after, or --pair BASELINE,CANDIDATE to compare "
            "two runtimes of RUN_A measured in alternation"
        )
    dirs = [_one_run("RUN_A", values["run_a"]), _one_run("RUN_B", values["run_b"])]
    if values["across_hosts"]:  # issue 34: runs of two hosts, unpaired (analysis/hosts.py)
        try:
            table, diffs = hosts.compare_hosts(
                dirs[0],
                dirs[1],
                alpha=values["alpha"],
                margin=values["margin"],
                out_dir=values["out_dir"],
            )
        except (hosts.HostsError, RunFormatError) as exc:
            raise UsageError(str(exc)) from None
        print("\n".join(hosts.format_lines(table, diffs)))
        if values["out_dir"] is not None:  # the hosts view: report/hosts_report.py
            print(hosts_report.page(Path(values["out_dir"])))
        return 0
    try:
        cmp = compare.compare_runs(
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
        compare.write(cmp, values["out_dir"])
        plots.save_figure(views.change_plot(cmp).figure, Path(values["out_dir"]) / "change")
    print("\n".join(compare.format_lines(cmp)))
    return 1 if not cmp.regressions.empty else 0


def _one_run(name: str, folder) -> Path:
    """The one run folder ``folder`` holds; one line naming it otherwise."""
    found = params.find_runs(str(folder), name, base=Path.cwd())
    if len(found) != 1:
        raise ParameterError(
            f"{name}: {str(folder)!r} holds {len(found)} runs; give one run folder"
        )
    return found[0]


def _alternation(values: dict) -> int:
    """``rtlab compare RUN --pair BASELINE,CANDIDATE``: the gate over one run's two
    runtimes, paired by round (analysis/alternation.py); exit 1 on a regression."""
    pair = values["pair"]
    if len(pair) != 2:
        raise ParameterError(
            f"--pair {','.join(pair)!r}: give two runtimes, BASELINE,CANDIDATE (e.g. runc,runc-new)"
        )
    if values["run_b"] is not None:
        raise ParameterError(
            f"RUN_B {str(values['run_b'])!r}: not with --pair (both runtimes are in RUN_A)"
        )
    run_dir = _one_run("RUN_A", values["run_a"])
    try:
        _, trials = results.load_run(run_dir)
        table = alternation.gate(
            trials, pair[0], pair[1], alpha=values["alpha"], threshold=values["threshold"]
        )
    except (alternation.AlternationError, RunFormatError) as exc:
        raise UsageError(str(exc)) from None
    if values["out_dir"] is not None:
        out = Path(values["out_dir"])
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "alternation.csv", index=False)
    print("\n".join(alternation.format_lines(table, values["threshold"], values["alpha"])))
    return 1 if table["regression"].any() else 0
