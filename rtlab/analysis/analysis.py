"""From a tidy trials frame to the statistics tables, figures and findings of a run.

:func:`analyze` is what ``rtlab analyze`` and the notebooks call. Figures are drawn
on ``matplotlib.figure.Figure`` objects, never through pyplot, so no backend is
chosen or needed and no window opens.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rtlab.analysis import (
    concurrency_plots,
    concurrency_stats,
    cri_benchmark,
    kube_burner,
    paces,
    phasestats,
    plots,
    reference,
    stats,
)
from rtlab.core import experiments

if TYPE_CHECKING:  # the figures' types, for annotations
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
from rtlab.core.conditions import format_pace
from rtlab.core.options import DEFAULT_ALPHA, DEFAULT_PACE_S

# The steps with a ratio heat map: each experiment's total and one-step chains.
HEATMAP_STEPS: tuple[str, ...] = tuple(
    dict.fromkeys(s for e in experiments.EXPERIMENTS.values() for s in e.heatmap_steps())
)
SUMMARY_FILE = "summary.csv"
COMPARISONS_FILE = "comparisons.csv"
OMNIBUS_FILE = "omnibus.csv"
PACES_FILE = "paces.csv"  # the comparisons at every pace (paces.pace_compare)
FIGURES_DIR = "figures"
# Every kind of figure analyze() can draw (a figure file's stem starts with its kind).
FIGURE_KINDS: tuple[str, ...] = (
    "overview",
    "lifecycle",
    "study",
    "pace",
    "ecdf",
    "distribution",
    "ratios",
)
# What the report shows open (notebook 02, rtlab report): drawn by default. The
# per-step distributions and ECDFs and the ratio heat maps are drawn on request
# (figures=FIGURE_KINDS, rtlab analyze --figures all); so is the SVG of each (svg=True).
REPORT_FIGURES: tuple[str, ...] = ("overview", "lifecycle", "study", "pace")

# What a subject does in a step ("crun runs a container 1.35x faster …") and the
# same for "no clear difference …": experiments.py's phrases.
_ACTION: dict[str, str] = {s: experiments.phrase(s, "action") for s in experiments.all_steps()}
_ACTIVITY: dict[str, str] = {s: experiments.phrase(s, "activity") for s in experiments.all_steps()}


@dataclass(frozen=True)
class AnalysisResult:
    """Everything :func:`analyze` computed and wrote.

    Attributes
    ----------
    summary, comparisons, omnibus : pandas.DataFrame
        Outputs of :func:`rtlab.analysis.stats.summarize`, :func:`rtlab.analysis.stats.compare`
        and :func:`rtlab.analysis.stats.omnibus`.
    warnings : list of str
        :func:`rtlab.analysis.stats.noise_warnings`: what to fix before trusting results.
    findings : list of str
        :func:`findings`: the verdicts as sentences.
    tables : list of pathlib.Path
        The CSV files written.
    figures : list of pathlib.Path
        Every figure file written (a PNG per figure, and an SVG when asked for);
        with several experiments, each experiment's in ``figures/<experiment>/``.
    experiments : list of str
        The experiments analysed, each on its own (never pooled).
    """

    summary: pd.DataFrame
    comparisons: pd.DataFrame
    omnibus: pd.DataFrame
    warnings: list[str]
    findings: list[str]
    tables: list[Path]
    figures: list[Path]
    trials: pd.DataFrame | None = None  # the rows analysed (one pace when several were run)
    pace_s: float | None = None  # their pace (None: not recorded)
    paces: list[float] = field(default_factory=list)  # every pace in the data
    pace_comparisons: pd.DataFrame | None = None  # paces.pace_compare when several
    experiments: list[str] = field(default_factory=list)
    phases: phasestats.PhaseResult | None = None  # traced runs (phasestats.analyze_phases)
    # the first screen's (question, answer) pairs of experiments the step tables leave
    # out (concurrency), by experiment
    answers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def of(self, experiment: str) -> AnalysisResult:
        """This result restricted to one experiment (its tables, findings and figures)."""

        def keep(frame):
            if frame is None or "experiment" not in frame.columns:
                return frame
            return frame[frame["experiment"] == experiment].reset_index(drop=True)

        several = len(self.experiments) > 1
        figures = [f for f in self.figures if not several or Path(f).parent.name == experiment]
        found = [
            f for f in self.findings if not several or f.startswith(experiment_prefix(experiment))
        ]
        return AnalysisResult(
            summary=keep(self.summary),
            comparisons=keep(self.comparisons),
            omnibus=keep(self.omnibus),
            warnings=self.warnings,
            findings=found,
            tables=self.tables,
            figures=figures,
            trials=keep(self.trials),
            pace_s=self.pace_s,
            paces=self.paces,
            pace_comparisons=keep(self.pace_comparisons),
            experiments=[experiment],
            phases=self.phases,
            answers={k: v for k, v in self.answers.items() if k == experiment},
        )


def experiment_prefix(experiment: str) -> str:
    """What starts each finding when several experiments are analysed together."""
    return f"{experiment.capitalize()} experiment: "


def _format_p(p: float) -> str:
    """A p-value for a sentence."""
    return "p_adj < 0.0001" if p < 0.0001 else f"p_adj {p:.2g}"


def _context(family: str) -> str:
    """``client=oci`` → "through oci"; ``runtime=runc`` → "over runc"."""
    kind, _, name = family.partition("=")
    return f"through {name}" if kind == "client" else f"over {name}"


def _bound(x: float) -> str:
    """A CI bound to 2 decimals, or 4 where 2 would show 1.00 for a bound that is not 1
    (0.9988 is not 1: the reader must see which side of 1 it lies)."""
    text = f"{x:.2f}"
    return f"{x:.4f}" if text == "1.00" and x != 1.0 else text


def _sentence(
    row: pd.Series,
    experiment: str = experiments.DEFAULT_EXPERIMENT,
    alpha: float = 0.05,
    family_size: int | None = None,
) -> str:
    """One comparison as a sentence about ``a``.

    Every factor printed beside an interval is the estimate that interval is for:
    the Hodges–Lehmann ratio (``ratio``) with its Holm-adjusted 95 % CI (the one the
    verdict is on: it excludes 1 exactly when the verdict is faster or slower), or, for
    equivalence, the same estimate with the (1 − 2·alpha) CI that decided it."""
    step = row["step"]
    context = _context(row["family"])
    p_text = _format_p(row["p_adj"])
    low, high, ratio = row["ratio_ci_low"], row["ratio_ci_high"], row["ratio"]
    label = stats.adjusted_ci_label(alpha)
    action = experiments.phrase(step, "action", experiment)
    activity = experiments.phrase(step, "activity", experiment)
    margin = row.get("margin", stats.MARGIN)
    margin = stats.MARGIN if margin != margin else margin
    faster = (
        f"{1.0 / ratio:.2f}x faster than {row['b']} {context} "
        f"({step}; {label} {_bound(1.0 / high)}–{_bound(1.0 / low)}, {p_text})"
    )
    slower = (
        f"{ratio:.2f}x slower than {row['b']} {context} "
        f"({step}; {label} {_bound(low)}–{_bound(high)}, {p_text})"
    )
    if row["verdict"] == stats.FASTER:
        return f"{row['a']} {action} {faster}."
    if row["verdict"] == stats.SLOWER:
        return f"{row['a']} {action} {slower}."
    if row["verdict"] == stats.EQUIVALENT:
        text = (
            f"{row['a']} and {row['b']} are equivalent within ±{margin:.0%} {activity} "
            f"{context} ({step}; ratio {ratio:.2f}, {1 - 2 * alpha:.0%} CI "
            f"{row['equiv_ci_low']:.2f}–{row['equiv_ci_high']:.2f} inside "
            f"{1 / (1 + margin):.2f}–{1 + margin:.2f})"
        )
        difference = row.get("difference", "")
        if difference == stats.FASTER:
            text += (
                f"; {row['a']} is {1.0 - ratio:.0%} faster ({label} "
                f"{1.0 - high:.0%}–{1.0 - low:.0%}, {p_text})"
            )
        elif difference == stats.SLOWER:
            text += (
                f"; {row['a']} is {ratio - 1.0:.0%} slower ({label} "
                f"{low - 1.0:.0%}–{high - 1.0:.0%}, {p_text})"
            )
        return text + "."
    needed = row.get("trials_needed")
    more = (
        ""
        if needed is None or pd.isna(needed)
        else f"; about {int(needed)} trials per target would probably settle it"
    )
    n = family_size or 0
    over = f" over the {n} comparisons of its family" if n > 1 else ""
    ci = f"{label}{over} {_bound(low)}–{_bound(high)}"
    return (
        f"{row['a']} and {row['b']} show no clear difference {activity} {context}, "
        f"nor equivalence within ±{margin:.0%} ({step}; ratio {ratio:.2f}, "
        f"{ci}, {p_text}{more})."
    )


def findings(comparisons: pd.DataFrame, summary: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """The comparisons' verdicts, and the gaps in the data, as sentences.

    Parameters
    ----------
    comparisons : pandas.DataFrame
        Output of :func:`rtlab.analysis.stats.compare`.
    summary : pandas.DataFrame
        Output of :func:`rtlab.analysis.stats.summarize`, for targets without samples.
    alpha : float
        The significance level the comparisons used (the equivalence CI is
        1 − 2·alpha).

    Returns
    -------
    list of str
        One sentence per comparison, e.g. "crun runs a container 1.35x faster
        than runc through oci (run; 95% CI 1.30–1.41, p_adj 0.0004)." — the
        factor is the Hodges–Lehmann ratio (inverted for "faster") and the CI
        its own; in ``runtime=`` families the subjects are clients ("ctr
        completes the lifecycle 1.8x faster than docker over runc …"). Then one
        sentence per target and measured step that has no successful trial.
        Each experiment's sentences use its own phrases; with several
        experiments each sentence starts with :func:`experiment_prefix`.
    """
    names = (
        stats.experiments_of(summary) if not summary.empty else stats.experiments_of(comparisons)
    )
    sentences: list[str] = []
    for experiment in names:
        comp = (
            comparisons[comparisons["experiment"] == experiment]
            if "experiment" in comparisons.columns
            else comparisons
        )
        summ = (
            summary[summary["experiment"] == experiment]
            if "experiment" in summary.columns
            else summary
        )
        if "experiment" not in summary.columns:
            experiment = experiments.of_steps(summary["step"]).name
        # Holm adjusts within a family and step: its size, for the sentence that says so
        sizes = comp.groupby(["family", "step"])["step"].transform("size") if len(comp) else []
        found = [
            _sentence(row, experiment, alpha, int(size))
            for (_, row), size in zip(comp.iterrows(), sizes)
        ]
        empty = summ[(summ["n"] == 0) & (summ["step"] != stats.TOTAL_STEP)]
        found += [
            f"{stats.target_label(row.client, row.runtime)} has no successful {row.step} trial "
            f"({row.n_failed} failed), so it is left out of the {row.step} comparisons."
            for row in empty.itertuples(index=False)
        ]
        prefix = experiment_prefix(experiment) if len(names) > 1 else ""
        sentences += [prefix + f for f in found]
    return sentences


def _save(note: str, fig: Figure, stem: Path, svg: bool = False) -> tuple[Path, ...]:
    """Save ``fig`` (PNG, and SVG when asked) with ``note`` (the pace) added to every title."""
    if note:
        suptitle = fig.get_suptitle()
        if suptitle:
            fig.suptitle(f"{suptitle} · {note}")
        for ax in fig.axes:
            if ax.get_title() and not suptitle:
                ax.set_title(f"{ax.get_title()} · {note}")
    return plots.save_figure(fig, stem, svg=svg)


# A figure job: draws one figure and saves it, returning the files written.
Job = Callable[[], list[Path]]
# Figures are drawn by this many worker processes at most (one per usable CPU).
MAX_FIGURE_WORKERS = 4
_JOBS: list[Job] = []  # what forked workers run (set just before the fork)


def _draw(
    note: str,
    draw: Callable[..., Axes],
    stem: Path,
    size_in: tuple[float, float],
    svg: bool = False,
) -> Job:
    """A job drawing one figure on a fresh Figure and saving it (PNG, SVG when asked):
    ``draw`` is a plot function with its data and options bound, called with ``ax=``."""
    from matplotlib.figure import Figure

    def job() -> list[Path]:
        fig = Figure(figsize=size_in, layout="constrained")
        draw(ax=fig.subplots())
        return list(_save(note, fig, stem, svg))

    return job


def _made(note: str, make: Callable[[], Figure], stem: Path, svg: bool = False) -> Job:
    """A job saving the figure ``make`` returns."""
    return lambda: list(_save(note, make(), stem, svg))


def _run_job(index: int) -> list[Path]:
    return _JOBS[index]()


def figure_workers(jobs: int) -> int:
    """Worker processes for ``jobs`` figures: one per usable CPU (at most
    :data:`MAX_FIGURE_WORKERS`); 1 (draw in this process) when there is one CPU or one
    job, or when this process runs other threads (a Jupyter kernel: forking it is unsafe)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(cpus or 1, MAX_FIGURE_WORKERS, jobs))


def render(jobs: Sequence[Job]) -> list[Path]:
    """Run the figure jobs, in forked worker processes when :func:`figure_workers` allows
    (each figure is independent: drawing them on every CPU takes most of ``rtlab
    analyze``'s fixed cost off); the files in job order either way."""
    global _JOBS
    workers = figure_workers(len(jobs))
    if workers == 1:
        return [path for job in jobs for path in job()]
    _JOBS = list(jobs)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            done = pool.map(_run_job, range(len(jobs)), chunksize=1)
    finally:
        _JOBS = []
    return [path for paths in done for path in paths]


def figure_kinds(kinds: str | Sequence[str] | None) -> tuple[str, ...]:
    """The figure kinds asked for: "report" (:data:`REPORT_FIGURES`), "all"
    (:data:`FIGURE_KINDS`), "none", or kinds named one by one (a sequence, or
    comma-separated); ValueError naming an unknown one."""
    if kinds is None:
        return ()
    names = [k.strip() for k in kinds.split(",")] if isinstance(kinds, str) else list(kinds)
    out: list[str] = []
    for name in filter(None, names):
        group = {"report": REPORT_FIGURES, "all": FIGURE_KINDS, "none": ()}.get(name)
        if group is None and name not in FIGURE_KINDS:
            raise ValueError(
                f"unknown figure kind {name!r}; known: report, all, none, {', '.join(FIGURE_KINDS)}"
            )
        out += group if group is not None else [name]
    return tuple(dict.fromkeys(out))


def _figures(
    trials: pd.DataFrame,
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    folder: Path,
    note: str = "",
    *,
    kinds: Sequence[str] = FIGURE_KINDS,
    svg: bool = False,
    experiment: str = experiments.DEFAULT_EXPERIMENT,
) -> list[Job]:
    """A job for every figure of ``kinds`` of one experiment's rows, written into
    ``folder``; ``note`` (the pace) joins each title."""
    if not kinds:
        return []
    n_targets = len(summary[["client", "runtime"]].drop_duplicates())
    wide_in = (max(6.0, 1.3 * n_targets + 2.0), 4.8)
    measured = summary[summary["n"] > 0]
    jobs: list[Job] = []
    for step in stats.ordered_steps(measured["step"].tolist()):
        if "distribution" in kinds:
            jobs.append(
                _draw(
                    note,
                    partial(plots.distribution_plot, trials, step=step),
                    folder / f"distribution_{step}",
                    wide_in,
                    svg,
                )
            )
        if "ecdf" in kinds:
            jobs.append(
                _draw(
                    note,
                    partial(plots.ecdf_plot, trials, step=step),
                    folder / f"ecdf_{step}",
                    (7.0, 4.8),
                    svg,
                )
            )
    if "overview" in kinds and (measured["step"] == stats.TOTAL_STEP).any():
        n_rows = len(measured[measured["step"] == stats.TOTAL_STEP])
        jobs.append(
            _draw(
                note,
                partial(plots.overview_plot, summary),
                folder / "overview",
                (6.4, max(3.0, 0.3 * n_rows + 1.6)),
                svg,
            )
        )
    if "lifecycle" in kinds and measured["step"].isin(stats.LIFECYCLE_STEPS).any():
        jobs.append(_made(note, lambda: plots.lifecycle_facets(summary), folder / "lifecycle", svg))
    if "study" in kinds and experiment == reference.EXPERIMENT:
        against = reference.against_study(summary, reference.load_study())
        if not against.empty:
            jobs.append(_made(note, lambda: plots.study_bars(against), folder / "study", svg))
    if "ratios" in kinds:
        shown = comparisons[comparisons["step"].isin(HEATMAP_STEPS)]
        for family, step in shown[["family", "step"]].drop_duplicates().itertuples(index=False):
            jobs.append(
                _draw(
                    note,
                    partial(plots.ratio_heatmap, comparisons, family=family, step=step),
                    folder / f"ratios_{family.replace('=', '-')}_{step}",
                    (6.5, 5.5),
                    svg,
                )
            )
    return jobs


def analyze(
    trials: pd.DataFrame,
    out_dir: Path | str,
    *,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    margin: float = stats.MARGIN,
    figures: str | Sequence[str] | None = "report",
    svg: bool = False,
    phases: pd.DataFrame | None = None,
) -> AnalysisResult:
    """Summarise, compare and plot a tidy trials frame; write the results.

    Experiments are never pooled: each experiment of the frame gets its own
    rows in every table (column ``experiment``), its own findings and its own
    figures (in ``figures/<experiment>/`` when there are several).

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame of one run (or of merged runs).
    out_dir : pathlib.Path or str
        Receives ``summary.csv``, ``comparisons.csv``, ``omnibus.csv``,
        ``cri-benchmark.json`` and ``kube-burner/`` (runs with CRI targets: cri_report.py,
        kube_burner.py) and
        ``figures/`` (created if missing; existing files are replaced).
    alpha : float
        Significance level for the Holm-adjusted verdicts.
    seed : int
        Kept for callers; the comparisons resample nothing (stats.compare).
    margin : float
        Equivalence margin of the comparisons (0.05: within ±5 %).
    figures : str, sequence of str or None
        Which figures to draw (:func:`figure_kinds`): by default the report's
        (overview, lifecycle, study, pace); "all" adds a distribution and an
        ECDF per measured step and a ratio heat map per family for ``total``
        and ``run``; None or "none" draws nothing (the statistics alone).
    svg : bool
        Also write every figure as SVG (by default PNG only).
    phases : pandas.DataFrame, optional
        The runs' phases.csv (phasestats.load_runs): with a traced run, the phase
        tables, the cost of tracing and the phase figures (phasestats.analyze_phases) too.

    Returns
    -------
    AnalysisResult
        The frames, the warnings and findings, and the paths written.
    """
    kinds = figure_kinds(figures)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # starts under load: its own tables, figures and headlines per k (concurrency_stats.py);
    # the step tables below would pool its k's, so its rows are left out of them
    conc_tables, conc_jobs, conc_found, conc_answers = _concurrency(
        trials, out_dir, alpha, margin, seed, kinds, svg
    )
    # density's starts are one per level N (density_report.py reads them, per N): the
    # step tables would pool its levels, so they are left out too; so are the pull
    # experiments' (pull_report.py reads them per size, compression and cache)
    every = trials
    trials = (
        trials[
            ~trials["experiment"].astype(str).isin(("concurrency", "density", "pull", "cri-pull"))
        ]
        if "experiment" in trials.columns
        else trials
    )
    # runs of concurrency or density alone still state the pace they were measured at
    all_paces = _paces(trials) if len(trials) else _paces(every)
    pace = primary_pace(all_paces)
    analysed = trials if pace is None else trials[pd.to_numeric(trials[paces.PACE_COLUMN]) == pace]
    flagged = stats.flag_outliers(analysed)  # once: every table and figure reuses it
    summary = stats.summarize(flagged)
    comparisons = stats.compare(flagged, alpha=alpha, seed=seed, margin=margin)
    omnibus = stats.omnibus(flagged)
    found = findings(comparisons, summary, alpha)
    names = stats.experiments_of(flagged)
    note = "" if pace is None else f"pace {format_pace(pace)}"
    jobs: list[Job] = []
    for name, rows in stats.by_experiment(flagged):
        folder = out_dir / FIGURES_DIR if len(names) == 1 else out_dir / FIGURES_DIR / name
        jobs += _figures(
            rows,
            summary[summary["experiment"] == name],
            comparisons[comparisons["experiment"] == name],
            folder,
            note,
            kinds=kinds,
            svg=svg,
            experiment=name,
        )
    if pace is not None:  # every table, figure title and finding states the pace
        summary, comparisons, omnibus = (
            f.assign(**{paces.PACE_COLUMN: pace}) for f in (summary, comparisons, omnibus)
        )
        found = [f"{f.rstrip('.')} (at pace {format_pace(pace)})." for f in found]
    tables = []
    for frame, name in (
        (summary, SUMMARY_FILE),
        (comparisons, COMPARISONS_FILE),
        (omnibus, OMNIBUS_FILE),
    ):
        frame.to_csv(out_dir / name, index=False)
        tables.append(out_dir / name)
    benchmark = cri_benchmark.write_benchmark(trials, out_dir)  # critest-shaped, of CRI runs
    if benchmark is not None:
        tables.append(benchmark)
    tables += kube_burner.write(trials, out_dir)  # kube-burner's podLatency shape, of CRI runs
    pace_table = None
    if len(all_paces) > 1 and len(trials):
        pace_table = paces.pace_compare(trials, alpha=alpha, seed=seed, margin=margin)
        pace_table.to_csv(out_dir / PACES_FILE, index=False)
        tables.append(out_dir / PACES_FILE)
        found = paces.pace_conclusions(pace_table) + found
        if "pace" in kinds:
            for name in names:
                folder = out_dir / FIGURES_DIR if len(names) == 1 else out_dir / FIGURES_DIR / name
                jobs += _pace_figures(pace_table[pace_table["experiment"] == name], folder, svg)
    tables += conc_tables
    found = conc_found + found
    traced = None
    if phases is not None:  # --trace runs: where the time goes, and the cost of tracing
        traced = phasestats.analyze_phases(phases, trials, out_dir, seed=seed, figures=bool(kinds))
        if traced is not None:
            tables += traced.tables
            found += phasestats.sentences(traced)
    names = names + (["concurrency"] if conc_found else [])
    figures_written = render(jobs + conc_jobs) + (traced.figures if traced else [])
    return AnalysisResult(
        summary=summary,
        comparisons=comparisons,
        omnibus=omnibus,
        warnings=stats.noise_warnings(summary),
        findings=found,
        tables=tables,
        figures=figures_written,
        trials=analysed,
        pace_s=pace,
        paces=all_paces,
        pace_comparisons=pace_table,
        experiments=names,
        phases=traced,
        answers={"concurrency": conc_answers} if conc_answers else {},
    )


def _concurrency(
    trials: pd.DataFrame,
    out_dir: Path,
    alpha: float,
    margin: float,
    seed: int,
    kinds: Sequence[str],
    svg: bool,
) -> tuple[list[Path], list[Job], list[str], list[tuple[str, str]]]:
    """The concurrency experiment's tables (summary, knees, the paired comparisons between
    targets at each k), figure jobs, headline findings and the first screen's answers
    (none without its rows)."""
    if (
        "experiment" not in trials.columns
        or not (trials["experiment"].astype(str) == "concurrency").any()
    ):
        return [], [], [], []
    summary, knee_table, lines = concurrency_stats.findings(
        trials, margin=margin, seed=seed, cores=os.cpu_count()
    )
    pairs = concurrency_stats.compare_targets(trials, alpha=alpha, margin=margin, seed=seed)
    tables = []
    for frame, name in (
        (summary, concurrency_stats.SUMMARY_FILE),
        (knee_table, concurrency_stats.KNEES_FILE),
        (pairs, concurrency_stats.COMPARISONS_FILE),
    ):
        frame.to_csv(out_dir / name, index=False)
        tables.append(out_dir / name)
    jobs = []
    if kinds:
        folder = out_dir / FIGURES_DIR / "concurrency"
        for mode in sorted(summary["mode"].unique()):
            jobs.append(
                _made(
                    "",
                    partial(concurrency_plots.figure, summary, mode=mode),
                    folder / f"concurrency_{mode}",
                    svg,
                )
            )
    prefix = experiment_prefix("concurrency")
    qa = concurrency_stats.answers(summary, knee_table, cores=os.cpu_count())
    return tables, jobs, [prefix + line[0].upper() + line[1:] for line in lines], qa


def _paces(trials: pd.DataFrame) -> list[float]:
    """The paces of the trials ([] when none was recorded: format 1 and 2 runs before --pace)."""
    if paces.PACE_COLUMN not in trials.columns or trials[paces.PACE_COLUMN].isna().all():
        return []
    return paces.paces_of(trials)  # refuses a mix of recorded and unrecorded paces


def primary_pace(all_paces: Sequence[float]) -> float | None:
    """The pace the main tables and figures are drawn at: rtlab's default pace when it
    was measured, else the largest (the condition of a container started on a quiet
    host); None when no pace was recorded. The other paces go into the pace analysis."""
    if not all_paces:
        return None
    return DEFAULT_PACE_S if DEFAULT_PACE_S in all_paces else max(all_paces)


def _pace_figures(table: pd.DataFrame, folder: Path, svg: bool = False) -> list[Job]:
    """One ``pace_<step>`` figure job per step with comparisons at several paces (total, run)."""
    jobs: list[Job] = []
    for step in stats.ordered_steps(table["step"].tolist()):
        if step not in HEATMAP_STEPS:
            continue
        n_pairs = len(table[table["step"] == step][paces.PAIR_KEYS].drop_duplicates())
        jobs.append(
            _draw(
                "",
                partial(paces.pace_plot, table, step=step),
                folder / f"pace_{step}",
                (8.0, max(4.8, 0.25 * n_pairs + 3.5)),
                svg,
            )
        )
    return jobs
