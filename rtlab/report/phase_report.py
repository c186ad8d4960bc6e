"""The "Where the time goes" section of a report (issue 23): phases.csv of traced runs
(tracing.py) summarised by phasestats.py and drawn by phaseplots.py.

:func:`analyze_phases` writes ``phases_summary.csv`` (each phase's median with its CI
and share of the step's median, ``unattributed`` included), ``phases_coverage.csv``
(named phases and the share their medians add up to), ``phases_differences.csv``
(which phase explains each difference between runtimes and between paces) and
``tracing_cost.csv`` (traced against untraced twins, paired by round, ratio with its
CI), and the figures ``figures/phases/phases_<step>.png`` and
``figures/phases/timeline_<step>.png``. ``rtlab analyze`` calls it with the runs'
phases; :func:`section` is notebook 02's cell, every string from data escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rtlab.analysis import phasestats, stats  # noqa: F401

if TYPE_CHECKING:
    from IPython.display import HTML

# the analysis half lives in analysis/phasestats.py (rtlab analyze calls it); this
# module renders it
from rtlab.analysis.phasestats import (  # noqa: E402,F401
    COST_FILE,
    COVERAGE_FILE,
    DIFFERENCES_FILE,
    FIGURES,
    SUMMARY_FILE,
    PhaseResult,
    _interval,
    _ms,
    _pace,
    analyze_phases,
    explained,
    sentences,
)
from rtlab.report.html import esc  # noqa: E402


def _table(rows: Sequence[Sequence[str]], head: Sequence[str], cls: str) -> str:
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>'


def html(result: PhaseResult | None, figures_html: str = "") -> HTML:
    """The section as HTML: how much the phases explain per target and step, which phase
    explains each difference, the cost of tracing, ``figures_html`` (already escaped),
    then every phase's median folded."""
    from IPython.display import HTML

    if result is None:
        return HTML(
            "<p>No traced run loaded (<code>rtlab collect --trace</code> adds a traced "
            "twin of every unit and phases.csv).</p>"
        )
    cov_rows = [
        (
            r.target + _pace(r.pace_s),
            r.step,
            r.n,
            _ms(r.step_median_s),
            r.named_phases,
            f"{r.named_share:.0%}",
            f"{r.unattributed_share:.0%}",
        )
        for r in result.coverage.itertuples(index=False)
    ]
    coverage = (
        _table(
            cov_rows,
            [
                "target",
                "step",
                "traced trials",
                "step median ms",
                "named phases",
                "their medians add up to",
                "unattributed (median)",
            ],
            "phase-coverage",
        )
        if cov_rows
        else "<p>The traced steps have no phase definition (phasedefs.PHASES).</p>"
    )
    diff_rows = [
        (
            r.step,
            r.a,
            r.b,
            _ms(r.step_diff_s),
            r.phase,
            f"{_ms(r.diff_s)} [{_ms(r.diff_low_s)}, {_ms(r.diff_high_s)}]",
        )
        for r in explained(result).itertuples(index=False)
    ]
    diffs = (
        _table(
            diff_rows,
            [
                "step",
                "a",
                "b",
                "a − b, step medians (ms)",
                "the phase that moves most that way",
                "its a − b, ms [95% CI]",
            ],
            "phase-differences",
        )
        if diff_rows
        else "<p>No difference between two targets or paces that one phase explains (its CI "
        "excluding no difference).</p>"
    )
    cost_rows = [
        (
            stats.target_label(r.client, r.runtime) + _pace(r.pace_s),
            r.step,
            r.n_pairs,
            _ms(r.median_untraced_s),
            _ms(r.median_traced_s),
            f"{r.ratio:.3f} [{r.ratio_low:.3f}, {r.ratio_high:.3f}]",
        )
        for r in result.cost.itertuples(index=False)
    ]
    cost = (
        _table(
            cost_rows,
            [
                "target",
                "step",
                "paired rounds",
                "untraced median ms",
                "traced median ms",
                "traced/untraced [95% CI]",
            ],
            "tracing-cost",
        )
        if cost_rows
        else "<p>No paired traced/untraced rounds.</p>"
    )
    rows = [
        (
            r.target + _pace(r.pace_s),
            r.step,
            r.phase,
            r.n,
            _interval(r.median_s, r.ci_low_s, r.ci_high_s),
            f"{r.share:.1%}",
        )
        for r in result.summary.itertuples(index=False)
    ]
    phases = _table(
        rows,
        ["target", "step", "phase", "n", "median ms [95% CI]", "share of the step's median"],
        "phases",
    )
    return HTML(
        '<section id="phases">'
        "<p>Traced twins only (bpftrace on tracepoints; never pooled with the untraced "
        "trials). Each phase's median over the traced trials with its 95% CI (order "
        "statistics); a trial whose marker was not seen counts 0 for that phase and its time "
        "in <em>unattributed</em>. Medians do not add up: on a skewed (loaded) host the "
        "phase medians sum to less than the step's median.</p>"
        f"<p>How much of each step the named phases explain:</p>{coverage}"
        f"<p>Which phase explains a difference (runtimes through one client at one pace; "
        f"paces of one target; one target rootful against rootless). The rule: among the phases both define, the one whose "
        f"difference a − b is largest in the direction of the steps' difference, shown "
        f"only when its 95% CI excludes 0. Paired by round when the two ran in the same "
        f"rounds (at least {stats.MIN_PAIRED_ROUNDS}; targets, paces and modes are "
        f"interleaved within a round): the Hodges–Lehmann estimate of the phase's per-round "
        f"difference with the signed-rank CI; otherwise the difference of the medians with "
        f"an unpaired percentile bootstrap:</p>{diffs}"
        "<p>The cost of tracing: the traced twin against the untraced one (the tracer "
        "attached, not following), paired by round: the Hodges–Lehmann estimate of the "
        "per-round ratio traced/untraced with the signed-rank inversion 95% CI (as the "
        f"comparisons'):</p>{cost}"
        "<p>The untraced twins are not runs without a tracer: attached probes slow every "
        "system call on the host a little, most for runtimes that make many per start "
        "(crun more than runc here). <code>benchmarks/trace_cost.py</code> measures both "
        f"twins against no tracer at all.</p>{figures_html}"
        f"<details><summary>Every phase's median ({len(rows)} rows)</summary>{phases}</details>"
        "</section>"
    )


def section(
    run_dirs: Sequence[Path | str], trials: pd.DataFrame, out_dir: Path | str, *, seed: int = 0
) -> HTML:
    """Notebook 02's "Where the time goes": the runs' phases.csv analysed into ``out_dir``
    (:func:`analyze_phases`), shown as HTML; one line when no traced run is loaded."""
    import base64

    result = analyze_phases(phasestats.load_runs(run_dirs), trials, out_dir, seed=seed)
    if result is None:
        return html(None)
    imgs = "".join(
        f'<figure><img alt="{esc(p.stem)}" style="max-width:100%" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"></figure>'
        for p in result.figures
        if p.suffix == ".png"
    )
    return html(result, imgs)
