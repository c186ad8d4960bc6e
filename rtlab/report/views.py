"""What the notebooks show: tables, sentences and figures built from rtlab's results.

Each function takes run metadata or result frames and returns something a
notebook cell can end with (a DataFrame, an ``IPython.display.Markdown``) or
displays a sequence itself (:func:`show_figures`). Nothing here computes a
statistic — that is :mod:`rtlab.analysis.stats`, :mod:`rtlab.analysis.compare` and
:mod:`rtlab.analysis.reference`; this module only selects, labels and formats.

The notebooks call every name as ``views.X``; since issue 32 split it, most live beside
it, one module per part of a notebook, and are re-exported here: :mod:`~rtlab.report.tables`
(the runs, the host, the statistics), :mod:`~rtlab.report.figures`,
:mod:`~rtlab.report.changes` (the study, run against run) and
:mod:`~rtlab.report.headline` (the first screen). This module keeps the warnings, the pace
section and the console.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from rtlab.analysis import stats
from rtlab.analysis.analysis import HEATMAP_STEPS
from rtlab.analysis.paces import pace_conclusions, pace_stability
from rtlab.core.conditions import format_pace
from rtlab.report.changes import (  # noqa: F401 (re-exported)
    change_plot,
    changes_table,
    conclusions_table,
    show_change,
    study_table,
)
from rtlab.report.console import console_summary, console_table  # noqa: F401 (re-exported)
from rtlab.report.figures import (  # noqa: F401 (re-exported)
    _FIGURE_TEXT,
    _WIDTHS,
    Bundle,
    _figure_order,
    figure_caption,
    figure_files,
    show_figures,
)
from rtlab.report.headline import (  # noqa: F401 (re-exported)
    OVERVIEW_FIGURES,
    _answer,
    _experiment_rows,
    _fmt_s,
    _headline_step,
    _name,
    _overview_png,
    _pace_text,
    _step_lead,
    conditions_text,
    headline,
    headline_answers,
    headline_sections,
    report_title,
)
from rtlab.report.html import _cell, _code, _escape, esc, image_bundle  # noqa: F401 (views.esc …)
from rtlab.report.tables import (  # noqa: F401 (re-exported)
    _interval_ms,
    _load,
    _ms,
    comparisons_table,
    host_table,
    markdown_list,
    methods_text,
    not_measured_table,
    overhead_table,
    reaped_by,
    runs_table,
    summary_table,
    table,
    trials_overview,
    versions_table,
)

if TYPE_CHECKING:  # IPython is imported lazily: only notebooks render these
    from IPython.display import HTML, Markdown


# -- warnings and what went wrong --------------------------------------------------------

# The fraction of the median a 95% CI may span before the target/step is listed.
CI_WARN_FRACTION = 0.10


def ci_width_table(summary: pd.DataFrame, fraction: float = CI_WARN_FRACTION) -> pd.DataFrame:
    """Where a median is uncertain by more than ``fraction`` of itself (its 95% CI reaches
    further than that below or above it, or there is no CI): one row per target that has
    such a step, one column per step; a cell gives how far the CI reaches ("−8/+18%"),
    "no CI", or "" where the step is narrow enough (or not measured)."""
    cells: dict[str, dict[str, str]] = {}
    for r in summary[summary["n"] > 0].itertuples(index=False):
        below = (r.median_s - r.ci_low_s) / r.median_s if r.median_s > 0 else math.nan
        above = (r.ci_high_s - r.median_s) / r.median_s if r.median_s > 0 else math.nan
        if below == below and above == above and max(below, above) <= fraction:
            continue
        target = stats.target_label(r.client, r.runtime)
        cells.setdefault(target, {})[r.step] = (
            f"−{below * 100:.0f}/+{above * 100:.0f}%"
            if below == below and above == above
            else "no CI"
        )
    steps = stats.ordered_steps(sorted({step for row in cells.values() for step in row}))
    rows = [
        {"target": target, **{step: row.get(step, "") for step in steps}}
        for target, row in sorted(cells.items())
    ]
    return pd.DataFrame(rows, columns=["target", *steps])


def warnings_advice(fraction: float = CI_WARN_FRACTION) -> Markdown:
    """The one piece of advice for :func:`ci_width_table`."""
    from IPython.display import Markdown

    return Markdown(
        f"Below: every target and step whose median's 95% CI reaches more than {fraction:.0%} "
        "below or above the median (how far, in %), or that has too few trials for a CI; "
        "an empty cell is narrow enough. Their medians are "
        "uncertain by about that much, so small differences involving them are not findings "
        "(a better trigger than the coefficient of variation for millisecond process timings, "
        "whose long right tails inflate the sd without moving the median). To narrow "
        "them: collect more trials (`--trials`, or `--until-ci` to stop when the CIs are "
        "narrow enough), on a quiet host (other jobs stopped, a fixed CPU governor); compare "
        "the load before and after in `run.json`."
    )


def failed_errors_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Every distinct error of a failed trial in ``trials.csv``, with its count and where."""
    failed = trials[~stats.is_sample(trials)] if not trials.empty else trials
    columns = ["error", "count", "targets", "steps"]
    if failed.empty:
        return pd.DataFrame(columns=columns)
    errors = failed["error"].astype("string").fillna("").str.strip()
    errors = errors.mask(
        errors == "",
        "(no message; exit code " + failed["exit_code"].astype("string").fillna("?") + ")",
    )
    frame = failed.assign(
        _error=errors,
        _target=[stats.target_label(c, r) for c, r in zip(failed["client"], failed["runtime"])],
    )
    rows = []
    for error, group in frame.groupby("_error", sort=False):
        rows.append(
            {
                "error": str(error),
                "count": len(group),
                "targets": ", ".join(sorted(set(group["_target"].astype(str)))),
                "steps": ", ".join(stats.ordered_steps(sorted(set(group["step"].astype(str))))),
            }
        )
    return (
        pd.DataFrame(rows, columns=columns)
        .sort_values("count", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


def pace_section(result) -> HTML:
    """How the answers move with the pace (the idle gap before each timed step): which
    conclusions hold at every pace measured and which flip, beside the ratio-against-pace
    figures; one line naming the pace when only one was measured."""
    import base64

    from IPython.display import HTML

    if len(result.paces) < 2 or result.pace_comparisons is None:
        text = (
            "These runs recorded no pace (made before rtlab measured it): the idle time "
            "before each step was not controlled."
            if result.pace_s is None
            else f"Every step followed {esc(format_pace(result.pace_s))} of idle host (the pace). "
            "Other paces can move the answers: measure several with <code>--paces</code>."
            if len(result.paces) < 2
            else "Steps followed "
            + esc(", ".join(format_pace(p) for p in result.paces))
            + " of idle host (the paces); the sections below give each pace its own rows."
        )
        return HTML(f"<p>{text}</p>")

    paced = result.pace_comparisons
    shown = paced[paced["step"].isin(HEATMAP_STEPS)]
    lines = pace_conclusions(shown)
    stability = pace_stability(shown)
    flips = int(stability["flips"].sum()) if len(stability) else 0
    unsettled = (
        int((~stability["flips"] & stability["verdicts"].map(lambda v: len(set(v)) > 1)).sum())
        if len(stability)
        else 0
    )
    also = (
        f"; {unsettled} more {'is' if unsettled == 1 else 'are'} not settled at every "
        "pace (inconclusive at some: the data could not tell there)"
        if unsettled
        else ""
    )
    parts = [
        f"<p>Measured at paces {esc(', '.join(format_pace(p) for p in result.paces))}; "
        f"the answers above and the detail below are at {esc(format_pace(result.pace_s))}. "
        f"<strong>{flips} of {len(lines)} conclusions flip with the pace</strong>{also} "
        f"(whole lifecycle and run to exit; every step's are among the findings, "
        f"and in <code>paces.csv</code>):</p>",
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>",
    ]
    for png in figure_files(result.figures):
        if png.stem.startswith("pace_"):
            title, text = figure_caption(png)
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(
                f"<h4>{esc(title)}</h4><p>{_code(esc(text))}</p>"
                f'<img src="data:image/png;base64,{data}" alt="{esc(title)}" '
                f'style="max-width:100%"/>'
            )
    return HTML("".join(parts))


def details(summary: str, body) -> HTML:
    """``body`` (a Styler, a DataFrame, a list of lines or HTML text) folded under ``summary``."""
    from IPython.display import HTML

    if hasattr(body, "to_html"):
        inner = body.to_html()
    elif hasattr(body, "_repr_html_"):
        inner = body._repr_html_()
    elif hasattr(body, "data") and isinstance(body.data, str):  # Markdown
        inner = f"<p>{esc(body.data)}</p>"
    else:
        inner = "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in body) + "</ul>"
    return HTML(f"<details><summary>{esc(summary)}</summary>{inner}</details>")
