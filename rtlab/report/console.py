"""What ``rtlab collect`` prints at its end: the median [95% CI] of each target and step, in
ms, as plain text (density's per level N, concurrency's per k, the pull experiments' per
image size, compression and cache).

Light on purpose: pandas and the statistics, no figure module (no matplotlib); split
out of views.py (issue 32), which re-exports both names.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rtlab.analysis import concurrency_stats, stats
from rtlab.core.conditions import format_pace
from rtlab.core.results import load_trials
from rtlab.report import density_report, pull_report, tables

# -- the console ------------------------------------------------------------------------


def console_table(trials: pd.DataFrame) -> str:
    """Median [95% CI] per target (rows) and step (columns), in ms, as plain text: what
    ``rtlab collect`` prints at the end, like hyperfine."""
    paces = (
        sorted(pd.to_numeric(trials["pace_s"]).dropna().unique())
        if "pace_s" in trials.columns and not trials.empty
        else []
    )
    if len(paces) > 1:  # one row per target and pace: paces are never pooled
        parts = [
            stats.summarize(trials[pd.to_numeric(trials["pace_s"]) == p]).assign(
                runtime=lambda f, p=p: f["runtime"] + f" @ {format_pace(p)}"
            )
            for p in paces
        ]
        summary = pd.concat(parts, ignore_index=True)
    else:
        summary = stats.summarize(trials) if not trials.empty else trials
    if summary.empty or not (summary["n"] > 0).any():
        return "no successful trial to tabulate"
    steps = stats.ordered_steps(summary["step"].unique().tolist())

    def num(seconds: float) -> str:
        ms = seconds * 1000
        return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"

    def cell(r) -> str:
        if r is None or r.n == 0:
            return "—"
        if r.ci_low_s != r.ci_low_s:
            return f"{num(r.median_s)} [no CI]"
        return f"{num(r.median_s)} [{num(r.ci_low_s)}–{num(r.ci_high_s)}]"

    index = {(r.client, r.runtime, r.step): r for r in summary.itertuples(index=False)}
    targets = list(dict.fromkeys(zip(summary["client"], summary["runtime"])))
    header = ["target", *steps]
    lines = [
        [stats.target_label(c, rt), *(cell(index.get((c, rt, s))) for s in steps)]
        for c, rt in targets
    ]
    return "\n".join(
        ["median [95% CI] in ms, per target and step:", *tables.text_table(header, lines)]
    )


def console_summary(run_dir: Path | str) -> str:
    """:func:`console_table` of a run folder's ``trials.csv`` (or why there is none)."""

    try:
        trials = load_trials(Path(run_dir))
    except Exception as exc:  # the table is a courtesy: never fail a finished run over it
        return f"no table of medians: {exc}"
    if (trials["experiment"].astype(str) == "density").any():  # per level N: its own lines
        return density_report.console_table(run_dir)
    conc = trials["experiment"].astype(str) == "concurrency"
    if conc.any():  # per k, CIs over batches (concurrency_stats.py): never pooled over k
        rest = trials[~conc]
        return "\n".join(
            [*([console_table(rest)] if len(rest) else []), concurrency_stats.console_table(trials)]
        )
    pull = trials["experiment"].astype(str).isin(pull_report.ps.EXPERIMENTS)
    if pull.any():  # per image size, compression and cache: never pooled over them
        rest = trials[~pull]
        return "\n".join(
            [*([console_table(rest)] if len(rest) else []), pull_report.console_table(trials[pull])]
        )
    return console_table(trials)
