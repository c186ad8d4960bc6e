"""``rtlab report``: collect through notebook 01, analyse through 02 (report/report.py);
with ``--runs``, a report of runs already on disk."""

from __future__ import annotations

import argparse
import signal
import sys

from rtlab.collect import front
from rtlab.core import options
from rtlab.core.usage import ParameterError, UsageError
from rtlab.report import report


def run(args: argparse.Namespace, values: dict, given: set) -> int:
    if values["runs"]:
        return _from_runs(values)
    values = front.check_values(values, "report")  # before anything runs
    # notebook 01's parameters: every option report and 01 share, in the notebook's form
    # (an experiment's own options only with that experiment)
    parameters = {
        o.name: o.kind.to_notebook(values[o.name])
        for o in options.options_for("01")
        if o.applies("report") and (not o.experiments or values["experiment"] in o.experiments)
    }
    try:
        made = report.make_report(
            parameters,
            reports_dir=values["reports_dir"] or report.REPORTS_DIR,
            alpha=values["alpha"],
            seed=values["seed"],
            margin=values["margin"],
            extras={} if values["no_extras"] else None,
        )
    except report.NotebookStopped as exc:
        if exc.ename in ("ParameterError", "UsageError"):
            raise UsageError(str(exc)) from None
        print(f"rtlab report: error: {exc}", file=sys.stderr)
        return 128 + signal.SIGINT if exc.ename == "Interrupted" else 1
    except report.ReportError as exc:
        print(f"rtlab report: error: {exc}", file=sys.stderr)
        return 1
    print(f"rtlab report: data in {made.run_dir}")
    print(f"rtlab report: notebooks, figures and CSVs in {made.report_dir}")
    print(f"rtlab report: every report is listed in {made.index}")
    print(made.html)
    return 0


def _from_runs(values: dict) -> int:
    """``rtlab report --runs``: notebook 02 over runs on disk, nothing collected."""
    try:
        made = report.report_from_runs(
            list(values["runs"]),
            reports_dir=values["reports_dir"] or report.REPORTS_DIR,
            alpha=values["alpha"],
            seed=values["seed"],
            margin=values["margin"],
        )
    except ParameterError as exc:
        raise UsageError(str(exc)) from None
    except (report.NotebookStopped, report.ReportError) as exc:
        print(f"rtlab report: error: {exc}", file=sys.stderr)
        return 1
    print(f"rtlab report: notebooks, figures and CSVs in {made.report_dir}")
    print(f"rtlab report: every report is listed in {made.index}")
    print(made.html)
    return 0
