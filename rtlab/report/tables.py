"""The runs, the host and the statistics as notebook tables: the display of a frame
(:func:`table`), run metadata, host facts, versions, the harness overhead, what was not
measured, the summary and comparisons tables and how they were computed.

Split out of views.py (issue 32), which re-exports every name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rtlab.analysis import shift, stats
from rtlab.core import experiments
from rtlab.report.html import _cell, _escape, esc

if TYPE_CHECKING:  # IPython is imported lazily: only notebooks render these
    from IPython.display import HTML, Markdown


# -- small formatting helpers --------------------------------------------------


def _ms(x: float) -> float:
    return round(float(x) * 1000.0, 2) if x == x else math.nan


def _interval_ms(median: float, low: float, high: float) -> str:
    if median != median:
        return "—"
    if low != low or high != high:
        return f"{median * 1000:.2f} (n too small for a CI)"
    return f"{median * 1000:.2f} [{low * 1000:.2f}, {high * 1000:.2f}]"


def markdown_list(lines: Sequence[str], empty: str) -> HTML:
    """A bullet list (``empty`` when there is nothing to list), every line as text.

    The lines carry names and messages from data, so they are HTML-escaped and
    never read as Markdown or HTML."""
    from IPython.display import HTML

    if not lines:
        return HTML(f"<p><em>{esc(empty)}</em></p>")
    return HTML("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>")


def table(frame: pd.DataFrame, empty: str = "Nothing to show.", *, index: bool = False):
    """``frame`` for display: every cell in full (no "…"), numbers as written, the row
    index only when it labels the rows (``index=True``); ``empty`` as Markdown when the
    frame has no rows."""
    from IPython.display import Markdown

    if frame.empty:
        return Markdown(f"_{_escape(empty)}_")
    # Cells, index and column labels come from data: escaped, never read as HTML.
    styler = (
        frame.style.format(_cell, na_rep="—", escape="html")
        .format_index(escape="html", axis=0)
        .format_index(escape="html", axis=1)
    )
    text_columns = [
        c
        for c in frame.columns
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
    ]
    if text_columns:
        styler = styler.set_properties(subset=text_columns, **{"text-align": "left"})
    return styler if index else styler.hide(axis="index")


# -- the runs and the host -----------------------------------------------------


def runs_table(metas: Sequence[dict]) -> pd.DataFrame:
    """One row per run: id, time, status, what was measured and how."""
    rows = []
    for m in metas:
        p = m.get("parameters", {})
        targets = [t.get("label", "") for t in m.get("targets", [])]
        rows.append(
            {
                "run_id": m.get("run_id"),
                "started_at": m.get("started_at"),
                "ended_at": m.get("ended_at"),
                "status": m.get("status"),
                "study": p.get("study") or "",
                "targets": ", ".join(targets),
                "trials": p.get("trials"),
                "warmup": p.get("warmup"),
                "timeout_s": p.get("timeout_s"),
                "seed": p.get("seed"),
                "rtlab": f"{m.get('rtlab', {}).get('version')} "
                f"({(m.get('rtlab', {}).get('git_commit') or 'no git')[:10]})",
            }
        )
    return pd.DataFrame(rows)


def _load(values) -> str:
    if not values:
        return ""
    return " / ".join(f"{v:.2f}" for v in values)


def host_table(metas: Sequence[dict]) -> pd.DataFrame:
    """The host each run was recorded on (identity first), one column per run."""
    columns = {}
    for m in metas:
        h = m.get("host", {})
        security = h.get("security") or {}
        columns[m.get("run_id")] = {
            "hostname": h.get("hostname"),
            "kernel": h.get("kernel"),
            "cpu_model": h.get("cpu_model"),
            "cores": h.get("cores"),
            "cgroup_mode": h.get("cgroup_mode"),
            "memory_gib": round(h["memory_bytes"] / 2**30, 1) if h.get("memory_bytes") else None,
            "os": h.get("os"),
            "cpu_governor": h.get("cpu_governor") or "(not readable)",
            "apparmor": security.get("apparmor"),
            "seccomp": security.get("seccomp_actions"),
            "load_before (1/5/15 min)": _load(m.get("load_before")),
            "load_after (1/5/15 min)": _load(m.get("load_after")),
            "rlimits": ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in (h.get("rlimits") or {}).items()),
        }
    return pd.DataFrame(columns)


def versions_table(metas: Sequence[dict]) -> pd.DataFrame:
    """Runtime and client versions, then the Python packages (run.json's
    ``python_packages``; older runs lack them), one column per run."""
    columns = {}
    for m in metas:
        versions = dict(m.get("versions", {}))
        for name, version in (m.get("python_packages") or {}).items():
            versions[f"python: {name}" if name != "python" else "python"] = (
                version or "not installed"
            )
        columns[m.get("run_id")] = versions
    return pd.DataFrame(columns).fillna("")


def overhead_table(metas: Sequence[dict]) -> pd.DataFrame:
    """The harness's own cost per run: timing a spawn of ``true`` (see measure.harness_overhead)."""
    rows = []
    for m in metas:
        o = m.get("harness_overhead") or {}
        samples = o.get("wall_s") or []
        rows.append(
            {
                "run_id": m.get("run_id"),
                "command": " ".join(o.get("command", [])),
                "samples": o.get("samples", len(samples)),
                "median_ms": _ms(o.get("median_s", math.nan) if o else math.nan),
                "min_ms": _ms(o.get("min_s", math.nan) if o else math.nan),
                "max_ms": _ms(max(samples)) if samples else math.nan,
                "orphans_reaped_by": reaped_by(m),
            }
        )
    return pd.DataFrame(rows)


def reaped_by(meta: dict) -> str:
    """Who reaped what the run's commands left behind (run.json's ``reaper``, core/reaper.py)."""
    r = meta.get("reaper")
    if not r:
        return "PID 1 (run made before rtlab was a subreaper)"
    if not r.get("subreaper"):
        return f"PID 1 ({r.get('error') or 'no subreaper'})"
    n = r.get("orphans_reaped")
    return "rtlab, at once" + (f" ({n} reaped)" if n is not None else "")


def not_measured_table(metas: Sequence[dict]) -> pd.DataFrame:
    """Every target a run could not measure (``unavailable``) or gave up on (``dropped``), and why."""
    rows = []
    for m in metas:
        for label, why in (m.get("unavailable") or {}).items():
            rows.append(
                {"run_id": m.get("run_id"), "target": label, "what": "not measured", "why": why}
            )
        for label, why in (m.get("dropped") or {}).items():
            if why:
                rows.append(
                    {
                        "run_id": m.get("run_id"),
                        "target": label,
                        "what": "dropped during the run",
                        "why": why,
                    }
                )
    frame = pd.DataFrame(rows, columns=["run_id", "target", "what", "why"]).astype(str)
    if len(metas) > 1 and not frame.empty:  # the same reason in several runs: one row
        every = len({str(m.get("run_id")) for m in metas})
        frame = (
            frame.groupby(["target", "what", "why"], sort=False)["run_id"]
            .agg(lambda ids: f"all {every} runs" if ids.nunique() == every else ", ".join(ids))
            .reset_index()[["run_id", "target", "what", "why"]]
        )
    return frame


def trials_overview(trials: pd.DataFrame) -> pd.DataFrame:
    """Per target and step: measured trials ok / failed, and the median wall time (ms)."""
    measured = trials[~trials["warmup"].to_numpy(dtype=bool)]
    good = stats.is_sample(measured)
    frame = measured.assign(_ok=good, _wall=np.where(good, measured["wall_s"], np.nan))
    table = frame.groupby(["client", "runtime", "step"], sort=False).agg(
        ok=("_ok", "sum"),
        failed=("_ok", lambda s: int((~s).sum())),
        median_ms=("_wall", lambda s: _ms(s.median())),
    )
    table = table.reset_index()
    table["_rank"] = table["step"].map(stats.step_rank)
    return (
        table.sort_values(["client", "runtime", "_rank"])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


# -- the statistics --------------------------------------------------------------


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.analysis.stats.summarize` for reading: milliseconds, the median with its CI."""
    rows = []
    for r in summary.itertuples(index=False):
        rows.append(
            {
                "target": stats.target_label(r.client, r.runtime),
                "step": r.step,
                "n": r.n,
                "failed": r.n_failed,
                "median [95% CI] (ms)": _interval_ms(r.median_s, r.ci_low_s, r.ci_high_s),
                "IQR (ms)": _ms(r.iqr_s),
                "MAD (ms)": _ms(r.mad_s),
                "mean (ms)": _ms(r.mean_s),
                "sd (ms)": _ms(r.sd_s),
                "min (ms)": _ms(r.min_s),
                "max (ms)": _ms(r.max_s),
                "cv": round(r.cv, 3) if r.cv == r.cv else math.nan,
                "outliers": r.n_outliers,
            }
        )
    return pd.DataFrame(rows)


def comparisons_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.analysis.stats.compare` for reading: the ratio with its CI, p, p_adj, effect, verdict."""
    if comparisons.empty:
        return pd.DataFrame(
            columns=[
                "family",
                "step",
                "a",
                "b",
                "ratio a/b [Holm-adjusted 95% CI]",
                "p",
                "p_adj",
                "Cliff's delta",
                "verdict about a",
            ]
        )
    return pd.DataFrame(
        {
            "family": comparisons["family"],
            "step": comparisons["step"],
            "a": comparisons["a"],
            "b": comparisons["b"],
            "ratio a/b [Holm-adjusted 95% CI]": [
                f"{r:.3f} [{lo:.3f}, {hi:.3f}]"
                for r, lo, hi in zip(
                    comparisons["ratio"], comparisons["ratio_ci_low"], comparisons["ratio_ci_high"]
                )
            ],
            "p": comparisons["p"].map(lambda p: f"{p:.2g}"),
            "p_adj": comparisons["p_adj"].map(lambda p: f"{p:.2g}"),
            "Cliff's delta": comparisons["effect"].round(2),
            "verdict about a": comparisons["verdict"],
        }
    )


def methods_text(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    alpha: float,
    seed: int | None = None,
    margin: float | None = None,
) -> Markdown:
    """How the numbers were computed, in a few sentences. ``seed`` is accepted for
    older callers and not shown: the comparisons draw no random numbers."""
    from IPython.display import Markdown

    ci = ", ".join(sorted(set(summary["ci_method"].dropna()))) or stats.MEDIAN_CI_METHOD
    ratio = (
        ", ".join(sorted(set(comparisons["ratio_ci_method"].dropna())))
        if not comparisons.empty
        else f"{shift.PAIRED_METHOD} (paired); {shift.UNPAIRED_METHOD} (unpaired)"
    )
    if margin is None:
        margins = (
            comparisons["margin"].dropna().unique()
            if "margin" in comparisons.columns and not comparisons.empty
            else []
        )
        margin = float(margins[0]) if len(margins) == 1 else stats.MARGIN
    low, high = stats.equivalence_bounds(margin)
    totals = "; ".join(
        f"{name}: {' + '.join(e.total)}"
        for name, e in experiments.EXPERIMENTS.items()
        if e.total
        and (
            summary.empty
            or "experiment" not in summary.columns
            or name in set(summary["experiment"])
        )
    )
    return Markdown(
        f"Warm-up trials are excluded; `total` is the per-trial sum of the experiment's steps "
        f"({totals}; only trials where all succeeded), and runs of different experiments are "
        f"never pooled. Median CI: {ci}. Every ratio a/b is the Hodges–Lehmann estimate the "
        f"interval beside it and the test belong to ({ratio}); the ratio of medians is kept "
        f"in `comparisons.csv` as a description only. Pairs measured in the same rounds are "
        f"tested paired (Wilcoxon signed-rank on per-round log ratios), others with the "
        f"Mann–Whitney U test (the `method` column says which), Holm-adjusted within each "
        f"family (one step through one client, or over one runtime). Each p is its "
        f"interval's own inversion (the smallest alpha whose 1 − alpha interval excludes 1), "
        f"and the interval printed beside a verdict is the {stats.adjusted_ci_label(alpha)}: "
        f"the interval at the level Holm's step-down stopped at in the family, "
        f"1 − {alpha:g}/(m − R) for m comparisons of which R are significant "
        f"(1 − {alpha:g} when all are), so it excludes 1 exactly when the verdict is "
        f"faster or slower (it is not a simultaneous interval; the unadjusted 95% CI is in "
        f"`comparisons.csv` as `unadj_ci_low`/`unadj_ci_high`). A verdict says "
        f"*equivalent* when the {1 - 2 * alpha:.0%} CI of the ratio lies inside "
        f"{low:.3f}–{high:.3f} (±{margin:.0%}, symmetric on the log scale), even when a "
        f"smaller difference is also significant (the sentence then says both); else "
        f"*faster*/*slower* when p_adj < {alpha:g} (its Holm-adjusted CI then excludes 1); "
        f"else *inconclusive*. No resampling: the comparisons draw no random numbers. "
        f"Outliers (|modified z| > {stats.OUTLIER_Z}) are counted, never dropped."
    )


def text_table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """``header`` and ``rows`` as aligned plain-text lines, as ``rtlab collect`` prints them:
    the first ``left`` columns left-aligned, the rest right-aligned, two spaces apart."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(
            v.ljust(w) if i < left else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in [header, *rows]
    ]
