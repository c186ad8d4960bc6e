"""What the notebooks show: tables, sentences and figures built from rtlab's results.

Each function takes run metadata or result frames and returns something a
notebook cell can end with (a DataFrame, an ``IPython.display.Markdown``) or
displays a sequence itself (:func:`show_figures`). Nothing here computes a
statistic — that is :mod:`rtlab.analysis.stats`, :mod:`rtlab.analysis.compare` and
:mod:`rtlab.analysis.reference`; this module only selects, labels and formats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rtlab.analysis import compare, concurrency_stats, modes, reference, shift, stats
from rtlab.analysis.analysis import HEATMAP_STEPS, figure_kinds
from rtlab.analysis.paces import pace_conclusions, pace_stability
from rtlab.core import experiments
from rtlab.core.conditions import format_pace
from rtlab.core.results import load_trials
from rtlab.report import rootless_report
from rtlab.report.html import _cell, _code, _escape, esc, image_bundle  # noqa: F401 (views.esc …)

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


# -- the figures ---------------------------------------------------------------

_FIGURE_TEXT = {
    "distribution": (
        "{step}: wall time per target",
        "Every trial of `{step}` as a point over a box of the median and quartiles, "
        "one box per target; red points are outliers (flagged, not dropped). Read "
        "it for the spread and for slow trials: a tall box or scattered points mean "
        "run-to-run noise. The y axis turns logarithmic when the values span more "
        "than 10x.",
    ),
    "ecdf": (
        "{step}: cumulative distribution",
        "For each target, the fraction of `{step}` trials that finished within x seconds. "
        "A curve further left is faster; a steep curve is consistent; a long flat tail "
        "to the right means occasional slow trials.",
    ),
    "lifecycle": (
        "Lifecycle: where the time goes",
        "One panel per client; in it, for each of create, start, kill and delete, "
        "one bar per runtime at its median with the 95% CI as a whisker. Each panel "
        "has its own y axis (logarithmic when its bars span more than 10x), so one "
        "slow step does not flatten the others: compare heights within a panel.",
    ),
    "pace": (
        "{step}: how the ratios move with the pace",
        "Each pair's ratio a / b — the Hodges–Lehmann estimate with its own Holm-adjusted "
        "95% CI — at every pace measured — the idle time "
        "before each timed step. Filled: faster or slower at that pace; hollow: "
        "equivalent or inconclusive. A line crossing the dashed 1 means the answer "
        "depends on the pace.",
    ),
    "overview": (
        "Every target at a glance",
        "The median lifecycle time (create + start + kill + delete, per trial) of "
        "every target with its 95% CI, grouped by client; left is faster.",
    ),
    "study": (
        "Against the known study, as it drew it",
        "The study's bar charts redrawn: per step, each runtime (through docker) or "
        "client (over runc) as a pale bar with the study's value beside a solid bar "
        "with rtlab's median and 95% CI. Absolute values differ with the host; compare "
        "the order and the proportions.",
    ),
    "ratios": (
        "{family}, {step}: pairwise ratios",
        "How many times slower the row is than the column (the Hodges–Lehmann ratio "
        "row / column, the estimate the Holm-adjusted 95% CI and the test belong to), for "
        "`{step}` within `{family}`; blue cells: the row is faster, red: slower. `*` marks a "
        "significant difference (Holm-adjusted p < alpha: its Holm-adjusted 95% CI excludes 1).",
    ),
}


def figure_caption(path: Path | str) -> tuple[str, str]:
    """(title, what the figure shows) for a figure file written by :func:`rtlab.analysis.analysis.analyze`."""
    stem = Path(path).stem
    kind, _, rest = stem.partition("_")
    if kind == "ratios":
        family, _, step = rest.rpartition("_")
        family = family.replace("-", "=", 1)
    else:
        family, step = "", rest
    title, text = _FIGURE_TEXT.get(kind, (stem, ""))
    experiment = experiments.EXPERIMENTS.get(Path(path).parent.name)  # figures/<experiment>/
    if (
        kind == "lifecycle"
        and experiment is not None
        and experiment.total
        and experiment.name != experiments.DEFAULT_EXPERIMENT
    ):
        name = experiment.figure or experiment.name
        title = f"{name[0].upper()}{name[1:]}: where the time goes"
        text = text.replace(
            "create, start, kill and delete",
            ", ".join(experiment.total[:-1]) + " and " + experiment.total[-1],
        )
    return title.format(step=step, family=family), text.format(step=step, family=family)


def _figure_order(path: Path) -> tuple:
    kind, _, rest = path.stem.partition("_")
    step = rest.rpartition("_")[2] if kind == "ratios" else rest
    rank = {
        "overview": 0,
        "lifecycle": 1,
        "study": 2,
        "distribution": 3,
        "ecdf": 4,
        "ratios": 5,
    }.get(kind, 6)
    return (rank, stats.step_rank(step) if step else -1, path.stem)


def figure_files(paths: Iterable[Path | str], suffix: str = ".png") -> list[Path]:
    """The figures of one format, in reading order (lifecycle, distributions, ECDFs, ratios)."""
    return sorted((Path(p) for p in paths if Path(p).suffix == suffix), key=_figure_order)


class Bundle(dict):
    """A display bundle a notebook cell can end with (IPython shows every MIME type)."""

    def _repr_mimebundle_(self, include=None, exclude=None):
        return dict(self)


_WIDTHS = {"ratios": "520px", "ecdf": "760px"}


def show_figures(
    paths: Iterable[Path | str],
    *,
    skip: Sequence[str] = (),
    kinds: Sequence[str] | None = None,
    folded: bool = False,
    drawn: str | Sequence[str] | None = None,
) -> int:
    """Display the PNG figures with their titles and captions (embedded in the notebook).

    Parameters
    ----------
    paths : iterable of path
        Figure files (PNG and SVG) as :func:`rtlab.analysis.analysis.analyze` wrote them.
    skip : sequence of str
        Figure names (without suffix) not to show, e.g. ``["overview"]`` shown elsewhere.
    kinds : sequence of str, optional
        Only figures of these kinds (``lifecycle``, ``study``, ``distribution``,
        ``ecdf``, ``ratios``, ``overview``); all by default.
    folded : bool
        Each figure folded under its title (for an appendix).
    drawn : str or sequence of str, optional
        The figure kinds the analysis was asked to draw (``analyze(figures=…)``);
        the ``kinds`` it did not draw are named in one line saying how to ask for
        them, instead of an empty section.

    Returns
    -------
    int
        The number of figures shown.
    """
    from IPython.display import Markdown, display

    shown = 0
    for png in figure_files(paths):
        kind = png.stem.partition("_")[0]
        if png.stem in skip or (kinds is not None and kind not in kinds):
            continue
        title, text = figure_caption(png)
        # figures/<experiment>/ when the runs hold several experiments (analysis.py)
        where = f"{png.parent.name}/{png.name}" if png.parent.parent.name == "figures" else png.name
        caption = (
            f"<h4>{esc(title)}</h4><p>{_code(esc(text))} "
            f"(<code>figures/{esc(where)}</code>, also as SVG)</p>"
        )
        display(
            image_bundle(
                png.read_bytes(),
                title,
                max_width=_WIDTHS.get(kind, "100%"),
                caption_html="" if folded else caption,
                fold=title if folded else "",
            ),
            raw=True,
        )
        shown += 1
    omitted: list[str] = []
    if drawn is not None and kinds is not None:
        asked = set(figure_kinds(drawn))
        omitted = [k for k in kinds if k not in asked]
    if omitted:
        display(
            Markdown(
                f"_Not drawn in this analysis: {_escape(', '.join(omitted))} figures. They are drawn "
                'on request: the parameter `figures = "all"` (or `rtlab analyze --figures '
                "all`)._"
            )
        )
    elif not shown:
        display(Markdown("_No figure: no target has a successful trial._"))
    return shown


# -- the known study -------------------------------------------------------------


def study_table(against: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.analysis.reference.against_study` for reading."""
    columns = [
        "client",
        "runtime",
        "step",
        "study (s)",
        "rtlab median [95% CI] (s)",
        "n",
        "rtlab / study",
        "study value inside rtlab's CI",
    ]
    if against.empty:
        return pd.DataFrame(columns=columns)
    inside = against["study_in_ci"].map(lambda v: "—" if v is pd.NA else ("yes" if v else "no"))
    return pd.DataFrame(
        {
            "client": against["client"],
            "runtime": against["runtime"],
            "step": against["step"],
            "study (s)": against["study_s"].round(3),
            "rtlab median [95% CI] (s)": [
                f"{m:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo == lo and hi == hi else "")
                for m, lo, hi in zip(against["median_s"], against["ci_low_s"], against["ci_high_s"])
            ],
            "n": against["n"],
            "rtlab / study": against["ratio"].round(2),
            "study value inside rtlab's CI": inside,
        },
        columns=columns,
    )


def conclusions_table(conclusions: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.analysis.reference.check_conclusions` for reading: agrees / disagrees / not testable."""

    def answer(value) -> str:
        if value is None or value is pd.NA:
            return "not testable here"
        return "agrees" if value else "DISAGREES"

    return pd.DataFrame(
        {
            "the study concluded": conclusions["conclusion"],
            "rtlab's data": conclusions["rtlab_agrees"].map(answer),
            "evidence (and the reason where rtlab does not agree)": conclusions["evidence"],
        }
    )


# -- run-to-run comparison --------------------------------------------------------


def changes_table(cmp: compare.RunComparison) -> pd.DataFrame:
    """:attr:`rtlab.analysis.compare.RunComparison.changes` for reading."""
    rows = []
    for r in cmp.changes.itertuples(index=False):
        change = (
            f"{r.change:+.1%} [{r.change_ci_low:+.1%}, {r.change_ci_high:+.1%}]"
            if r.change == r.change
            else "—"
        )
        rows.append(
            {
                "target": stats.target_label(r.client, r.runtime),
                "step": r.step,
                "n A / B": f"{r.n_a} / {r.n_b}",
                "failed A / B": f"{r.n_failed_a} / {r.n_failed_b}",
                "median A (ms)": _ms(r.median_a_s),
                "median B (ms)": _ms(r.median_b_s),
                "change B vs A [Holm-adjusted CI]": change,
                "p_adj": f"{r.p_adj:.2g}" if r.p_adj == r.p_adj else "—",
                "verdict": r.verdict,
                "regression": "REGRESSION" if r.regression else "",
            }
        )
    return pd.DataFrame(rows)


def show_change(cmp: compare.RunComparison, out_dir: Path | str | None = None) -> None:
    """Display :func:`change_plot` (embedded); also save it as ``change.png``/``.svg`` in
    ``out_dir`` when given."""
    import io

    from IPython.display import display

    ax = change_plot(cmp)
    if out_dir is not None:
        from rtlab.analysis.plots import save_figure

        save_figure(ax.figure, Path(out_dir) / "change")
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    display(
        image_bundle(buffer.getvalue(), f"change per target and step, {cmp.run_b} vs {cmp.run_a}"),
        raw=True,
    )


def change_plot(cmp: compare.RunComparison, *, ax=None):
    """Forest plot of the change B vs A per target and step, with CIs and the threshold.

    Parameters
    ----------
    cmp : rtlab.analysis.compare.RunComparison
        The comparison.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new Figure's Axes by default (no pyplot state).

    Returns
    -------
    matplotlib.axes.Axes
        One row per target and step: the Hodges–Lehmann change (of the
        round-adjusted log times) as a point with its own 95 % CI as a line, red for a regression, blue for significantly faster,
        grey otherwise; dashed lines at 0 and at +threshold.
    """
    from matplotlib.figure import Figure

    rows = cmp.changes[cmp.changes["change"].notna()]
    if ax is None:
        ax = Figure(
            figsize=(7.5, max(2.5, 0.28 * len(rows) + 1.2)), layout="constrained"
        ).subplots()
    labels = [
        f"{stats.target_label(r.client, r.runtime)} {r.step}" for r in rows.itertuples(index=False)
    ]
    y = np.arange(len(rows))[::-1]
    colours = [
        "tab:red" if r.regression else "tab:blue" if r.verdict == compare.FASTER else "0.45"
        for r in rows.itertuples(index=False)
    ]
    for yi, r, colour in zip(y, rows.itertuples(index=False), colours):
        ax.plot([100 * r.change_ci_low, 100 * r.change_ci_high], [yi, yi], color=colour, lw=2)
        ax.plot(100 * r.change, yi, "o", color=colour, ms=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(
        100 * cmp.threshold,
        color="tab:red",
        lw=0.8,
        ls="--",
        label=f"threshold +{cmp.threshold:.0%}",
    )
    ax.set_yticks(y, labels)
    ax.set_xlabel("change in wall time B vs A, Hodges–Lehmann (%)")
    ax.set_ylabel("target and step")
    ax.set_title(f"{cmp.run_b} vs {cmp.run_a}\npoint: Hodges–Lehmann change; line: its 95% CI")
    ax.legend(loc="lower right")
    return ax


# -- the report's first screen ------------------------------------------------------

# The fraction of the median a 95% CI may span before the target/step is listed.
CI_WARN_FRACTION = 0.10


def _step_lead(step: str, experiment: str = experiments.DEFAULT_EXPERIMENT) -> str:
    """What the headline compares, for one experiment's headline step."""
    factors = (
        'medians with their 95% CI, for context; each factor ("1.39× faster") is the '
        "typical per-round ratio of the two targets — the Hodges–Lehmann estimate of "
        "their per-round log ratios when measured in the same rounds — with its own "
        "95% CI; a ratio of medians is labelled as such and has no interval."
    )
    if step == stats.TOTAL_STEP:
        e = experiments.EXPERIMENTS.get(experiment)
        steps = " + ".join(e.total) if e is not None and e.total else "its steps"
        what = f"the {experiment} experiment" if experiment != "lifecycle" else "a whole lifecycle"
        return f"Compared: the time of {what} ({steps}) per trial; {factors}"
    return f"Compared: the time of one `{step}` per trial; {factors}"


def _headline_step(summary: pd.DataFrame) -> str:
    measured = summary[summary["n"] > 0]
    return stats.TOTAL_STEP if (measured["step"] == stats.TOTAL_STEP).any() else stats.RUN_STEP


def report_title(metas: Sequence[dict]) -> str:
    """ "rtlab report · study all · run <id>" (or "runs <id>, <id>") — plain text, not HTML."""
    studies = sorted({str(m.get("parameters", {}).get("study") or "custom") for m in metas})
    ids = [str(m.get("run_id")) for m in metas]
    runs = f"run {ids[0]}" if len(ids) == 1 else "runs " + ", ".join(ids)
    return f"rtlab report · study {', '.join(studies)} · {runs}"


def _pace_text(values, per_pace: bool = False) -> str:
    values = sorted({float(v) for v in values if v == v and v is not None})
    if not values:
        return ""
    shown = ", ".join(f"{v * 1000:g} ms" for v in values)
    several = "(each its own)" if per_pace else "(pooled)"
    return f"at pace {shown}" if len(values) == 1 else f"at paces {shown} {several}"


def conditions_text(
    metas: Sequence[dict], trials: pd.DataFrame | None = None, *, per_pace: bool = False
) -> str:
    """The conditions the runs record, for a headline sentence: the pace (a ``pace_s``
    column of the trials, else a ``pace_s`` parameter) when there is one, else "none".
    ``per_pace``: the answer gives each pace its own figure (rootless), not pooled."""
    paces: list = []
    if trials is not None and "pace_s" in trials.columns:
        paces = list(pd.to_numeric(trials["pace_s"], errors="coerce").dropna().unique())
    if not paces:
        paces = [
            m.get("parameters", {}).get("pace_s")
            for m in metas
            if isinstance(m.get("parameters", {}).get("pace_s"), (int, float))
        ]
    if trials is not None and "run_id" in trials.columns and len(trials):
        # only the runs these rows come from (a report also holds other experiments' runs)
        ids = set(trials["run_id"].astype(str))
        metas = [m for m in metas if str(m.get("run_id")) in ids] or list(metas)
    trials_n = sorted({m.get("parameters", {}).get("trials") for m in metas} - {None}, key=str)
    counts = (
        f"{', '.join(str(t) for t in trials_n)} trials per target per run"
        if trials_n
        else "trials per target not recorded"
    )
    pace = _pace_text(paces, per_pace)
    return (
        f"{pace.capitalize()}; {counts}"
        if pace
        else f"No pace or other condition recorded; {counts}"
    )


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def _name(member: str, kind: str) -> str:
    return f"{member} (the runtime's own CLI)" if kind == "client" and member == "oci" else member


def _answer(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    *,
    family: str,
    member: str,
    step: str,
    alpha: float = 0.05,
) -> str | None:
    """The fastest member of one family at ``step`` as a sentence, or None (< 2 members).

    ``summary`` and ``comparisons`` are one experiment's rows. The member with the
    lowest median leads; every factor printed beside an interval is the
    Hodges–Lehmann ratio that interval belongs to (``comparisons``' ``ratio``)."""

    kind, _, name = family.partition("=")
    rows = summary[
        (summary[kind] == name) & (summary["step"] == step) & (summary["n"] > 0)
    ].sort_values("median_s")
    if len(rows) < 2:
        return None
    best, second = rows.iloc[0], rows.iloc[1]
    where = f"Through {_name(name, 'client')}" if kind == "client" else f"Over {name}"

    def ms(v: float) -> str:
        return f"{v * 1000:.3g}"

    ci = (
        f" [95% CI {ms(best['ci_low_s'])}–{ms(best['ci_high_s'])} ms]"
        if best["ci_low_s"] == best["ci_low_s"]
        else " (too few trials for a CI)"
    )
    value = f"median {ms(best['median_s'])} ms{ci}"
    winner, runner = _name(best[member], member), _name(second[member], member)
    pair = reference.oriented(comparisons, family, step, best[member], second[member])
    if pair is None:
        text = f"{where}: {winner} has the lowest median, {value}; {runner} next (not compared)"
    else:
        ratio, low, high = pair["ratio"], pair["low"], pair["high"]
        p_text = f"p_adj {pair['p_adj']:.2g}"
        if pair["verdict"] == stats.FASTER:
            text = (
                f"{where}: {winner} is fastest, {value}; {1 / ratio:.2f}× faster than "
                f"{runner} round by round (95% CI {1 / high:.2f}–{1 / low:.2f}×, {p_text})"
            )
        elif pair["verdict"] == stats.EQUIVALENT:
            margin = pair.get("margin", stats.MARGIN)
            margin = stats.MARGIN if margin != margin else margin
            e_low, e_high = stats.equivalence_bounds(margin)
            text = (
                f"{where}: {winner} and {runner} are equivalent within ±{margin:.0%} "
                f"({winner}/{runner} ratio {ratio:.2f}, its {1 - 2 * alpha:.0%} CI "
                f"{pair['equiv_low']:.2f}–{pair['equiv_high']:.2f} inside "
                f"{e_low:.2f}–{e_high:.2f}); {winner} has the lowest median, {value}"
            )
            if pair["difference"] == stats.FASTER:
                text += (
                    f", and is {1 - ratio:.0%} faster (95% CI {1 - high:.0%}–"
                    f"{1 - low:.0%}, {p_text})"
                )
            elif pair["difference"] == stats.SLOWER:
                text += (
                    f", but is {ratio - 1:.0%} slower round by round (95% CI "
                    f"{low - 1:.0%}–{high - 1:.0%}, {p_text})"
                )
        elif pair["verdict"] == stats.SLOWER:
            text = (
                f"{where}: {winner} has the lowest median, {value}, but is {ratio:.2f}× "
                f"slower than {runner} round by round (95% CI {low:.2f}–{high:.2f}×, "
                f"{p_text})"
            )
        else:
            interval = (
                f"95% CI {low:.2f}–{high:.2f}"
                if low == low and high == high
                else "too few trials for its CI"
            )
            text = (
                f"{where}: {winner} has the lowest median, {value}, but is not clearly "
                f"faster than {runner} ({winner}/{runner} ratio {ratio:.2f}, {interval}; "
                "inconclusive)"
            )
    if len(rows) > 2:
        slowest = rows.iloc[-1]
        text += (
            f"; {_name(slowest[member], member)} is slowest, its median "
            f"{slowest['median_s'] / best['median_s']:.1f}× {best[member]}'s "
            "(a ratio of medians, for scale: no interval)"
        )
    return text + "."


def _experiment_rows(frame: pd.DataFrame, experiment: str) -> pd.DataFrame:
    if "experiment" not in frame.columns:
        return frame
    return frame[frame["experiment"] == experiment]


def headline_sections(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    metas: Sequence[dict],
    trials: pd.DataFrame | None = None,
    alpha: float = 0.05,
    every_pace: pd.DataFrame | None = None,
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(experiment, headline step, [(question, answer), …]) per experiment of the runs,
    in experiment order: runs of different experiments are never pooled, so each gets
    its own answers, on its own total. Plain text; every name in it comes from data."""
    from rtlab.analysis import plots

    names = (
        stats.experiments_of(summary)
        if "experiment" in summary.columns and not summary.empty
        else [experiments.DEFAULT_EXPERIMENT]
    )
    sections = []
    for experiment in names:
        summ = _experiment_rows(summary, experiment)
        comp = _experiment_rows(comparisons, experiment)
        rows = _experiment_rows(trials, experiment) if trials is not None else None
        measured = summ[summ["n"] > 0]
        step = _headline_step(summ)
        conditions = conditions_text(metas, rows)
        answers = []
        for client in plots.ordered_names(measured["client"], plots.KNOWN_CLIENTS):
            text = _answer(
                summ, comp, family=f"client={client}", member="runtime", step=step, alpha=alpha
            )
            if text:
                through = "its own CLI (oci)" if client == "oci" else client
                answers.append(
                    (
                        f"Which low-level runtime is fastest through {through}?",
                        f"{text} {conditions}.",
                    )
                )
        # the clients as root ran them; rootless against rootful is its own question below
        text = _answer(
            summ[~summ["client"].astype(str).str.endswith(modes.SUFFIX)],
            comp[
                ~(
                    comp["a"].astype(str).str.endswith(modes.SUFFIX)
                    | comp["b"].astype(str).str.endswith(modes.SUFFIX)
                )
            ]
            if len(comp)
            else comp,
            family="runtime=runc",
            member="client",
            step=step,
            alpha=alpha,
        )
        if text:
            answers.append(("Which client is fastest over runc?", f"{text} {conditions}."))
        # rootless beside rootful, at every pace the runs hold (a flip named): the rows of
        # every pace when given, else the analysed pace's
        paced = _experiment_rows(every_pace, experiment) if every_pace is not None else rows
        text = rootless_report.headline(comp, paced, step)
        if text:
            answers.append(
                (
                    "What does running rootless cost?",
                    # each pace its own cost (rootless_report.costs), never pooled
                    f"{text} {conditions_text(metas, paced, per_pace=True)}.",
                )
            )
        sections.append((experiment, step, answers))
    return sections


def headline_answers(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    metas: Sequence[dict],
    trials: pd.DataFrame | None = None,
    alpha: float = 0.05,
) -> list[tuple[str, str]]:
    """(question, answer) for each question the study asked, as these runs can answer it:
    which low-level runtime is fastest through each client measured, and which client is
    fastest over runc. With runs of several experiments each question names its
    experiment ("pause: Which …") and is answered on that experiment's rows only."""
    sections = headline_sections(summary, comparisons, metas, trials, alpha)
    several = len(sections) > 1
    return [
        (f"{experiment}: {q}" if several else q, a)
        for experiment, _, answers in sections
        for q, a in answers
    ]


def _overview_png(figures: Iterable[Path | str], experiment: str, several: bool) -> Path | None:
    """The experiment's overview figure (``figures/<experiment>/overview.png`` when the
    runs hold several experiments)."""
    name = OVERVIEW_FIGURES.get(experiment, "overview.png")
    for f in figures:
        f = Path(f)
        if f.name == name and (not several or f.parent.name == experiment):
            return f
    return None


# the first screen's figure of experiments without the overview (concurrency's own)
OVERVIEW_FIGURES = {"concurrency": "concurrency_run.png"}


def headline(
    metas: Sequence[dict],
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    figures: Iterable[Path | str] = (),
    trials: pd.DataFrame | None = None,
    alpha: float = 0.05,
    more: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    every_pace: pd.DataFrame | None = None,
) -> Bundle:
    """The report's first screen: its title, one sentence per question beside the
    overview figure — one such block per experiment when the runs hold several (never
    pooled). ``more``: the answers of experiments the step tables leave out
    (``AnalysisResult.answers``: concurrency; density_report.answers), each its own block.
    ``every_pace``: the rows of every pace (the runs' trials), for the answers given per
    pace (rootless). Every string from data is escaped."""
    import base64

    figures = list(figures)
    sections: list[tuple[str, str | None, list[tuple[str, str]]]] = list(
        headline_sections(summary, comparisons, metas, trials, alpha, every_pace)
    )
    # analyze draws the step tables' figures in figures/<experiment>/ only when they
    # hold several experiments (concurrency's are always in figures/concurrency/)
    foldered = len(sections) > 1
    if more:
        if summary.empty or not (summary["n"] > 0).any():  # only such experiments ran
            sections = []
        sections += [(experiment, None, list(qa)) for experiment, qa in more.items() if qa]
    several = len(sections) > 1
    hosts = sorted({str(m.get("host", {}).get("hostname", "?")) for m in metas})
    started = sorted(str(m.get("started_at") or "?")[:16] for m in metas)
    blocks, first_png, plain = [], "", []
    for experiment, step, answers in sections:
        items = (
            "".join(f"<li><strong>{esc(q)}</strong> {esc(a)}</li>" for q, a in answers)
            or "<li>Nothing to compare: these runs measured fewer than two runtimes through any "
            "client and fewer than two clients over runc.</li>"
        )
        png = _overview_png(figures, experiment, foldered or step is None)
        figure = ""
        if png is not None and png.is_file():
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            first_png = first_png or data
            alt, caption = (
                (
                    "latency and throughput against k per target with 95% CIs",
                    "Runs to exit: p50 and p95 latency (top) and throughput (bottom) "
                    "against k, the containers released together; one line per target, "
                    "bands: 95% CIs (as the answers say: this sitting's, or across runs).",
                )
                if step is None
                else (
                    f"median total per target with 95% CI{', ' + experiment if several else ''}",
                    f"Median {experiment} time per target (point) and its 95% CI (line); "
                    "colour: runtime, marker: client; left is faster.",
                )
            )
            figure = (
                '<figure style="flex:1 1 420px;margin:0;max-width:560px">'
                f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}" '
                'style="width:100%;max-height:560px;object-fit:contain"/>'
                '<figcaption style="font-size:85%">'
                f"{esc(caption)}</figcaption></figure>"
            )
        heading = f"Answers: the {esc(experiment)} experiment" if several else "Answers"
        lead = (
            _step_lead(step, experiment)
            if step is not None
            else "Compared: the memory one more idle container costs, per target and client: "
            "a slope over N per trial, the mean of the trials' slopes with its 95% CI across "
            "the trials (\u201cnot resolvable here\u201d where the trials' noise swamps the "
            "slope); the figures and every method are in the density section."
            if experiment == "density"
            else "Compared: k containers of one target released together; each p95 with "
            "its 95% CI (each says which: this sitting's, order statistics over its batches, "
            "or across the runs of several sittings), and where throughput stops growing "
            "(the knee)."
        )
        blocks.append(
            f'<div class="experiment" data-experiment="{esc(experiment)}" '
            'style="display:flex;gap:1.5em;align-items:flex-start;flex-wrap:wrap">'
            f'<div style="flex:1 1 380px"><h2 style="margin-top:0">{heading}</h2>'
            f'<p style="margin:0">{esc(lead)}</p><ul>{items}</ul>'
            f"</div>{figure}</div>"
        )
        plain += [f"{experiment}: {q} {a}" if several else f"{q} {a}" for q, a in answers]
    separate = (
        f'<p style="margin:0 0 .5em 0">These runs hold {len(sections)} experiments '
        f"({esc(', '.join(e for e, _, _ in sections))}); each is answered on its own "
        "rows, never pooled.</p>"
        if several
        else ""
    )
    page = (
        '<section id="headline">'
        f'<h1 id="report-title" style="margin-top:0">{esc(report_title(metas))}</h1>'
        f'<p style="margin:0 0 .5em 0;color:#555">host {esc(", ".join(hosts))}; started '
        f"{esc(', '.join(started))} UTC. The answers first; the detail, the warnings and "
        "everything that went wrong follow.</p>"
        f"{separate}{''.join(blocks)}</section>"
    )
    bundle = Bundle({"text/html": page, "text/plain": "\n".join(plain)})
    if first_png:
        bundle["image/png"] = first_png
    return bundle


# -- warnings and what went wrong --------------------------------------------------------


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

    table = result.pace_comparisons
    shown = table[table["step"].isin(HEATMAP_STEPS)]
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
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))
        ).rstrip()

    return "\n".join(
        ["median [95% CI] in ms, per target and step:", fmt(header), *(fmt(row) for row in lines)]
    )


def console_summary(run_dir: Path | str) -> str:
    """:func:`console_table` of a run folder's ``trials.csv`` (or why there is none)."""

    try:
        trials = load_trials(Path(run_dir))
    except Exception as exc:  # the table is a courtesy: never fail a finished run over it
        return f"no table of medians: {exc}"
    if (trials["experiment"].astype(str) == "density").any():  # per level N: its own lines
        from rtlab.report import density_report

        return density_report.console_table(run_dir)
    conc = trials["experiment"].astype(str) == "concurrency"
    if conc.any():  # per k, CIs over batches (concurrency_stats.py): never pooled over k
        rest = trials[~conc]
        return "\n".join(
            [*([console_table(rest)] if len(rest) else []), concurrency_stats.console_table(trials)]
        )
    return console_table(trials)
