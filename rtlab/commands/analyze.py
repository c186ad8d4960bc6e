"""``rtlab analyze``: merge the runs, analyse them into ``--out``; print warnings and
findings. Runs of several hosts (analysis/hosts.py): the tables are the first host's,
and ``--out``/hosts/ holds each host's own analysis and the unpaired table across them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rtlab.analysis import analysis, hosts, phasestats
from rtlab.core.usage import UsageError
from rtlab.report import density_report, params


def run(args: argparse.Namespace, values: dict, given: set) -> int:
    runs = [
        run
        for d in values["run_dirs"]
        for run in params.find_runs(str(d), "RUN_DIR", base=Path.cwd())
    ]
    groups = params.host_groups(runs, "RUN_DIR")
    runs = groups[0]  # hosts are never pooled: the tables below are the first host's
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
    if len(groups) > 1:
        _across_hosts(groups, Path(out), values)
    print(
        f"rtlab analyze: {len(runs)} run(s) → {', '.join(str(t) for t in tables)} and "
        f"{figures} figure files in {Path(out) / 'figures'}"
    )
    return 0


def _across_hosts(groups: list[list[Path]], out: Path, values: dict) -> None:
    """Runs of several hosts: each host's own analysis and the unpaired table in out/hosts."""
    found = hosts.load_hosts([d for g in groups for d in g])
    print(
        f"rtlab analyze: runs of {len(found)} hosts; the tables above are {found[0].label}'s; "
        f"each host's own and the unpaired table across hosts in {out / 'hosts'}"
    )
    try:
        done = hosts.analyze_hosts(
            found, out / "hosts", alpha=values["alpha"], margin=values["margin"]
        )
    except hosts.HostsError as exc:
        print(f"rtlab analyze: across hosts: {exc}", file=sys.stderr)
        return
    print("\n".join(hosts.format_lines(done.across, done.differences)))
