"""``rtlab analyze``: merge the runs, analyse them into ``--out``; print warnings and
findings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rtlab.analysis import analysis, phasestats
from rtlab.core.usage import UsageError
from rtlab.report import density_report, params


def run(args: argparse.Namespace, values: dict, given: set) -> int:
    runs = [
        run
        for d in values["run_dirs"]
        for run in params.find_runs(str(d), "RUN_DIR", base=Path.cwd())
    ]
    _, trials = params.load_runs(runs, "RUN_DIR")
    out = values["out_dir"]
    try:
        result = analysis.analyze(
            trials,
            out,
            alpha=values["alpha"],
            seed=values["seed"],
            margin=values["margin"],
            figures=values["figures"] or "report",
            svg=values["svg"],
            phases=phasestats.load_runs(runs),
        )
    except ValueError as exc:
        if str(exc).startswith("unknown figure kind"):
            raise UsageError(f"--figures: {exc}") from None
        raise
    density = density_report.write(runs, out)  # density.csv's runs: their own tables, never pooled
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
