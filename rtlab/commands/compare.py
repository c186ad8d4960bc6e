"""``rtlab compare``: run B against run A on one host; exit 1 when the regression gate fails."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtlab.analysis import compare, hosts, plots
from rtlab.core.results import RunFormatError
from rtlab.core.usage import ParameterError, UsageError
from rtlab.report import hosts_report, params, views


def run(args: argparse.Namespace, values: dict, given: set) -> int:
    dirs = []
    for name, d in (("RUN_A", values["run_a"]), ("RUN_B", values["run_b"])):
        found = params.find_runs(str(d), name, base=Path.cwd())
        if len(found) != 1:
            raise ParameterError(f"{name}: {str(d)!r} holds {len(found)} runs; give one run folder")
        dirs += found
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
