"""``rtlab collect``: the schema's values through collect's front door, then one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtlab.collect import collect, front


def console_summary(run_dir: Path) -> str:
    """The table of medians said after a run."""
    # Inside the function: the table loads pandas, which the measuring process does not
    # import until the run is over (report/console.py: no figure module).
    from rtlab.report import console

    return console.console_summary(run_dir)


def run(args: argparse.Namespace, values: dict, given: set) -> int:
    progress = False if values["no_progress"] else None
    opts = front.from_values(values, "collect", given=given, progress=progress)
    return 0 if collect.collect(opts, summary=console_summary).status == "completed" else 1
