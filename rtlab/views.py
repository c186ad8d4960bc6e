"""What the notebooks show: tables, sentences and figures built from rtlab's results.

Each function takes run metadata or result frames and returns something a
notebook cell can end with (a DataFrame, an ``IPython.display.Markdown``) or
displays a sequence itself (:func:`show_figures`). Nothing here computes a
statistic — that is :mod:`rtlab.stats`, :mod:`rtlab.compare` and
:mod:`rtlab.reference`; this module only selects, labels and formats.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import pandas as pd

from rtlab import compare, stats

if TYPE_CHECKING:  # IPython is imported lazily: only notebooks render these
    from IPython.display import Markdown

# -- small formatting helpers --------------------------------------------------


def _ms(x: float) -> float:
    return round(float(x) * 1000.0, 2) if x == x else math.nan


def _interval_ms(median: float, low: float, high: float) -> str:
    if median != median:
        return "—"
    if low != low or high != high:
        return f"{median * 1000:.2f} (n too small for a CI)"
    return f"{median * 1000:.2f} [{low * 1000:.2f}, {high * 1000:.2f}]"


def markdown_list(lines: Sequence[str], empty: str) -> "Markdown":
    """A bullet list (``empty`` when there is nothing to list) as rendered Markdown."""
    from IPython.display import Markdown

    if not lines:
        return Markdown(f"_{empty}_")
    return Markdown("\n".join(f"- {_escape(line)}" for line in lines))


def _escape(text: str) -> str:
    """Keep Markdown from reading ``*`` and ``_`` in generated text as emphasis."""
    return re.sub(r"([*_`\\<>])", r"\\\1", str(text))


def _cell(value) -> str:
    if isinstance(value, float):
        return "—" if value != value else f"{value:g}"
    return value


def table(frame: pd.DataFrame, empty: str = "Nothing to show.", *, index: bool = False):
    """``frame`` for display: every cell in full (no "…"), numbers as written, the row
    index only when it labels the rows (``index=True``); ``empty`` as Markdown when the
    frame has no rows."""
    from IPython.display import Markdown

    if frame.empty:
        return Markdown(f"_{empty}_")
    styler = frame.style.format(_cell, na_rep="—")
    return styler if index else styler.hide(axis="index")


# -- the runs and the host -----------------------------------------------------


def runs_table(metas: Sequence[dict]) -> pd.DataFrame:
    """One row per run: id, time, status, what was measured and how."""
    rows = []
    for m in metas:
        p = m.get("parameters", {})
        targets = [t.get("label", "") for t in m.get("targets", [])]
        rows.append({
            "run_id": m.get("run_id"), "started_at": m.get("started_at"),
            "ended_at": m.get("ended_at"), "status": m.get("status"),
            "study": p.get("study") or "", "targets": ", ".join(targets),
            "trials": p.get("trials"), "warmup": p.get("warmup"),
            "timeout_s": p.get("timeout_s"), "seed": p.get("seed"),
            "rtlab": f"{m.get('rtlab', {}).get('version')} "
                     f"({(m.get('rtlab', {}).get('git_commit') or 'no git')[:10]})",
        })
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
            "hostname": h.get("hostname"), "kernel": h.get("kernel"),
            "cpu_model": h.get("cpu_model"), "cores": h.get("cores"),
            "cgroup_mode": h.get("cgroup_mode"),
            "memory_gib": round(h["memory_bytes"] / 2**30, 1) if h.get("memory_bytes") else None,
            "os": h.get("os"), "cpu_governor": h.get("cpu_governor") or "(not readable)",
            "apparmor": security.get("apparmor"), "seccomp": security.get("seccomp_actions"),
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
            versions[f"python: {name}" if name != "python" else "python"] = version or "not installed"
        columns[m.get("run_id")] = versions
    return pd.DataFrame(columns).fillna("")


def overhead_table(metas: Sequence[dict]) -> pd.DataFrame:
    """The harness's own cost per run: timing a spawn of ``true`` (see measure.harness_overhead)."""
    rows = []
    for m in metas:
        o = m.get("harness_overhead") or {}
        samples = o.get("wall_s") or []
        rows.append({
            "run_id": m.get("run_id"), "command": " ".join(o.get("command", [])),
            "samples": o.get("samples", len(samples)),
            "median_ms": _ms(o.get("median_s", math.nan) if o else math.nan),
            "min_ms": _ms(o.get("min_s", math.nan) if o else math.nan),
            "max_ms": _ms(max(samples)) if samples else math.nan,
        })
    return pd.DataFrame(rows)


def not_measured_table(metas: Sequence[dict]) -> pd.DataFrame:
    """Every target a run could not measure (``unavailable``) or gave up on (``dropped``), and why."""
    rows = []
    for m in metas:
        for label, why in (m.get("unavailable") or {}).items():
            rows.append({"run_id": m.get("run_id"), "target": label, "what": "not measured",
                         "why": why})
        for label, why in (m.get("dropped") or {}).items():
            if why:
                rows.append({"run_id": m.get("run_id"), "target": label,
                             "what": "dropped during the run", "why": why})
    return pd.DataFrame(rows, columns=["run_id", "target", "what", "why"])


def trials_overview(trials: pd.DataFrame) -> pd.DataFrame:
    """Per target and step: measured trials ok / failed, and the median wall time (ms)."""
    measured = trials[~trials["warmup"].to_numpy(dtype=bool)]
    good = stats.is_sample(measured)
    frame = measured.assign(_ok=good, _wall=np.where(good, measured["wall_s"], np.nan))
    table = frame.groupby(["client", "runtime", "step"], sort=False).agg(
        ok=("_ok", "sum"), failed=("_ok", lambda s: int((~s).sum())),
        median_ms=("_wall", lambda s: _ms(s.median())))
    table = table.reset_index()
    table["_rank"] = table["step"].map(stats.step_rank)
    return table.sort_values(["client", "runtime", "_rank"]).drop(columns="_rank") \
        .reset_index(drop=True)


# -- the statistics --------------------------------------------------------------


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.stats.summarize` for reading: milliseconds, the median with its CI."""
    rows = []
    for r in summary.itertuples(index=False):
        rows.append({
            "target": stats.target_label(r.client, r.runtime), "step": r.step, "n": r.n,
            "failed": r.n_failed,
            "median [95% CI] (ms)": _interval_ms(r.median_s, r.ci_low_s, r.ci_high_s),
            "IQR (ms)": _ms(r.iqr_s), "MAD (ms)": _ms(r.mad_s), "mean (ms)": _ms(r.mean_s),
            "sd (ms)": _ms(r.sd_s), "min (ms)": _ms(r.min_s), "max (ms)": _ms(r.max_s),
            "cv": round(r.cv, 3) if r.cv == r.cv else math.nan, "outliers": r.n_outliers,
        })
    return pd.DataFrame(rows)


def comparisons_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.stats.compare` for reading: the ratio with its CI, p, p_adj, effect, verdict."""
    if comparisons.empty:
        return pd.DataFrame(columns=["family", "step", "a", "b", "ratio a/b [95% CI]", "p",
                                     "p_adj", "Cliff's delta", "verdict about a"])
    return pd.DataFrame({
        "family": comparisons["family"], "step": comparisons["step"],
        "a": comparisons["a"], "b": comparisons["b"],
        "ratio a/b [95% CI]": [f"{r:.3f} [{lo:.3f}, {hi:.3f}]" for r, lo, hi in zip(
            comparisons["ratio"], comparisons["ratio_ci_low"], comparisons["ratio_ci_high"])],
        "p": comparisons["p"].map(lambda p: f"{p:.2g}"),
        "p_adj": comparisons["p_adj"].map(lambda p: f"{p:.2g}"),
        "Cliff's delta": comparisons["effect"].round(2),
        "verdict about a": comparisons["verdict"],
    })


def methods_text(summary: pd.DataFrame, comparisons: pd.DataFrame, alpha: float,
                 seed: int) -> "Markdown":
    """How the numbers were computed, in a few sentences."""
    from IPython.display import Markdown

    ci = ", ".join(sorted(set(summary["ci_method"].dropna()))) or stats.MEDIAN_CI_METHOD
    ratio = ", ".join(sorted(set(comparisons["ratio_ci_method"].dropna()))) \
        if not comparisons.empty else stats.RATIO_CI_METHOD
    return Markdown(
        f"Warm-up trials are excluded; `total` is the per-trial sum of the experiment's steps "
        f"(the lifecycle's create, start, kill and delete; only trials where all succeeded). Median CI: {ci}. Ratio CI: {ratio}, seed "
        f"{seed}. Pairs are tested with the two-sided Mann–Whitney U test, Holm-adjusted within "
        f"each family (one step through one client, or over one runtime); a verdict says "
        f"*faster*/*slower* only when p_adj < {alpha:g} **and** the ratio's CI excludes 1. "
        f"Outliers (|modified z| > {stats.OUTLIER_Z}) are counted, never dropped.")


# -- the figures ---------------------------------------------------------------

_FIGURE_TEXT = {
    "distribution": ("{step}: wall time per target",
                     "Every trial of `{step}` as a point over a box of the median and quartiles, "
                     "one box per target; red points are outliers (flagged, not dropped). Read "
                     "it for the spread and for slow trials: a tall box or scattered points mean "
                     "run-to-run noise. The y axis turns logarithmic when the values span more "
                     "than 10x."),
    "ecdf": ("{step}: cumulative distribution",
             "For each target, the fraction of `{step}` trials that finished within x seconds. "
             "A curve further left is faster; a steep curve is consistent; a long flat tail "
             "to the right means occasional slow trials."),
    "lifecycle": ("Lifecycle: where the time goes",
                  "One bar per target: the median of each step the total sums (the lifecycle's "
                  "create, start, kill and delete), stacked. "
                  "The black marker is the median of the per-trial totals with its 95% CI — "
                  "compare bars by these whiskers, not by the bar tops."),
    "ratios": ("{family}, {step}: pairwise ratios",
               "Median wall time of the row divided by the column's, for `{step}` within "
               "`{family}`; blue cells: the row is faster, red: slower. `*` marks a significant "
               "difference (Holm-adjusted p < alpha and the 95% CI of the ratio excludes 1)."),
}


def figure_caption(path: Path | str) -> tuple[str, str]:
    """(title, what the figure shows) for a figure file written by :func:`rtlab.analysis.analyze`."""
    stem = Path(path).stem
    kind, _, rest = stem.partition("_")
    if kind == "ratios":
        family, _, step = rest.rpartition("_")
        family = family.replace("-", "=", 1)
    else:
        family, step = "", rest
    title, text = _FIGURE_TEXT.get(kind, (stem, ""))
    return title.format(step=step, family=family), text.format(step=step, family=family)


def _figure_order(path: Path) -> tuple:
    kind, _, rest = path.stem.partition("_")
    step = rest.rpartition("_")[2] if kind == "ratios" else rest
    rank = {"lifecycle": 0, "distribution": 1, "ecdf": 2, "ratios": 3}.get(kind, 4)
    return (rank, stats.step_rank(step) if step else -1, path.stem)


def figure_files(paths: Iterable[Path | str], suffix: str = ".png") -> list[Path]:
    """The figures of one format, in reading order (lifecycle, distributions, ECDFs, ratios)."""
    return sorted((Path(p) for p in paths if Path(p).suffix == suffix), key=_figure_order)


def image_bundle(png: bytes, alt: str) -> dict:
    """A PNG as a display bundle: HTML with alternative text first (what the HTML report
    shows), the PNG itself for frontends that prefer it, the title as text."""
    import base64
    import html

    data = base64.b64encode(png).decode("ascii")
    return {
        "text/html": f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
                     'style="max-width:100%"/>',
        "image/png": data,
        "text/plain": f"[figure: {alt}]",
    }


def show_figures(paths: Iterable[Path | str]) -> int:
    """Display every PNG figure with its title and caption (embedded in the notebook).

    Returns
    -------
    int
        The number of figures shown.
    """
    from IPython.display import Markdown, display

    shown = 0
    for png in figure_files(paths):
        title, text = figure_caption(png)
        display(Markdown(f"#### {title}\n\n{text} (`figures/{png.name}`, also as SVG)"))
        display(image_bundle(png.read_bytes(), title), raw=True)
        shown += 1
    if not shown:
        display(Markdown("_No figure: no target has a successful trial._"))
    return shown


# -- the known study -------------------------------------------------------------


def study_table(against: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.reference.against_study` for reading."""
    columns = ["client", "runtime", "step", "study (s)", "rtlab median [95% CI] (s)", "n",
               "rtlab / study", "study value inside rtlab's CI"]
    if against.empty:
        return pd.DataFrame(columns=columns)
    inside = against["study_in_ci"].map(lambda v: "—" if v is pd.NA else ("yes" if v else "no"))
    return pd.DataFrame({
        "client": against["client"], "runtime": against["runtime"], "step": against["step"],
        "study (s)": against["study_s"].round(3),
        "rtlab median [95% CI] (s)": [
            f"{m:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo == lo and hi == hi else "")
            for m, lo, hi in zip(against["median_s"], against["ci_low_s"], against["ci_high_s"])],
        "n": against["n"], "rtlab / study": against["ratio"].round(2),
        "study value inside rtlab's CI": inside,
    }, columns=columns)


def conclusions_table(conclusions: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.reference.check_conclusions` for reading: agrees / disagrees / not testable."""
    def answer(value) -> str:
        if value is None or value is pd.NA:
            return "not testable here"
        return "agrees" if value else "DISAGREES"

    return pd.DataFrame({
        "the study concluded": conclusions["conclusion"],
        "rtlab's data": conclusions["rtlab_agrees"].map(answer),
        "evidence (and the reason where rtlab does not agree)": conclusions["evidence"],
    })


# -- run-to-run comparison --------------------------------------------------------


def changes_table(cmp: compare.RunComparison) -> pd.DataFrame:
    """:attr:`rtlab.compare.RunComparison.changes` for reading."""
    rows = []
    for r in cmp.changes.itertuples(index=False):
        change = (f"{r.change:+.1%} [{r.change_ci_low:+.1%}, {r.change_ci_high:+.1%}]"
                  if r.change == r.change else "—")
        rows.append({
            "target": stats.target_label(r.client, r.runtime), "step": r.step,
            "n A / B": f"{r.n_a} / {r.n_b}", "failed A / B": f"{r.n_failed_a} / {r.n_failed_b}",
            "median A (ms)": _ms(r.median_a_s), "median B (ms)": _ms(r.median_b_s),
            "change B vs A [95% CI]": change,
            "p_adj": f"{r.p_adj:.2g}" if r.p_adj == r.p_adj else "—",
            "verdict": r.verdict, "regression": "REGRESSION" if r.regression else "",
        })
    return pd.DataFrame(rows)


def show_change(cmp: compare.RunComparison, out_dir: Path | str | None = None) -> None:
    """Display :func:`change_plot` (embedded); also save it as ``change.png``/``.svg`` in
    ``out_dir`` when given."""
    import io

    from IPython.display import display

    ax = change_plot(cmp)
    if out_dir is not None:
        from rtlab.plots import save_figure

        save_figure(ax.figure, Path(out_dir) / "change")
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    display(image_bundle(buffer.getvalue(), f"change per target and step, {cmp.run_b} vs "
                                            f"{cmp.run_a}"), raw=True)


def change_plot(cmp: compare.RunComparison, *, ax=None):
    """Forest plot of the change B vs A per target and step, with CIs and the threshold.

    Parameters
    ----------
    cmp : rtlab.compare.RunComparison
        The comparison.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new Figure's Axes by default (no pyplot state).

    Returns
    -------
    matplotlib.axes.Axes
        One row per target and step: the change in median as a point with its
        95 % CI as a line, red for a regression, blue for significantly faster,
        grey otherwise; dashed lines at 0 and at +threshold.
    """
    from matplotlib.figure import Figure

    rows = cmp.changes[cmp.changes["change"].notna()]
    if ax is None:
        ax = Figure(figsize=(7.5, max(2.5, 0.28 * len(rows) + 1.2)),
                    layout="constrained").subplots()
    labels = [f"{stats.target_label(r.client, r.runtime)} {r.step}"
              for r in rows.itertuples(index=False)]
    y = np.arange(len(rows))[::-1]
    colours = ["tab:red" if r.regression else "tab:blue" if r.verdict == compare.FASTER
               else "0.45" for r in rows.itertuples(index=False)]
    for yi, r, colour in zip(y, rows.itertuples(index=False), colours):
        ax.plot([100 * r.change_ci_low, 100 * r.change_ci_high], [yi, yi], color=colour, lw=2)
        ax.plot(100 * r.change, yi, "o", color=colour, ms=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(100 * cmp.threshold, color="tab:red", lw=0.8, ls="--",
               label=f"threshold +{cmp.threshold:.0%}")
    ax.set_yticks(y, labels)
    ax.set_xlabel("change in median wall time, B vs A (%)")
    ax.set_ylabel("target and step")
    ax.set_title(f"{cmp.run_b} vs {cmp.run_a}\npoint: change in median; line: 95% CI")
    ax.legend(loc="lower right")
    return ax
