"""Seaborn figures of rtlab results: a tidy frame in, a matplotlib Axes out.

Every function draws on ``ax`` (the current Axes when None) and returns it; the
numbers drawn come from :mod:`rtlab.stats`, nothing is aggregated here. This
module does not choose a matplotlib backend: notebooks keep theirs, scripts and
tests can set ``MPLBACKEND=Agg`` or draw on ``matplotlib.figure.Figure`` objects.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rtlab import experiments, stats

# Above this max/min spread of the values shown, wall time is drawn on a log axis.
LOG_SPREAD = 10.0
WALL_LABEL = "wall time (s)"
TARGET_LABEL = "target (client/runtime)"
OUTLIER_LABEL = f"outlier (|modified z| > {stats.OUTLIER_Z})"
SAMPLE_LABEL = "trial"
SIGNIFICANT_MARK = "*"


def _axes(ax: Axes | None) -> Axes:
    """The Axes to draw on: ``ax`` or pyplot's current Axes."""
    return plt.gca() if ax is None else ax


def _needs_log(values_s: np.ndarray) -> bool:
    """True when positive values spread over more than :data:`LOG_SPREAD`."""
    values_s = values_s[values_s > 0]
    return bool(values_s.size > 0 and values_s.max() / values_s.min() > LOG_SPREAD)


def _rotate_ticks(ax: Axes) -> None:
    """Slant the x tick labels so long target names do not overlap."""
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def _step_samples(data: pd.DataFrame, step: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All measured rows of ``step`` (outliers flagged) and the successful ones."""
    flagged = stats.flag_outliers(data)
    rows = flagged[flagged["step"] == step]
    good = rows[stats.is_sample(rows)]
    if good.empty:
        raise ValueError(f"no successful {step!r} samples to plot")
    return rows, good


def distribution_plot(data: pd.DataFrame, *, step: str, ax: Axes | None = None) -> Axes:
    """Box plot of one step's wall time per target, with every trial as a point.

    Parameters
    ----------
    data : pandas.DataFrame
        The tidy trials frame (warm-ups are excluded, ``total`` is derived).
    step : str
        A lifecycle step, ``"total"`` or ``"run"``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the current Axes by default.

    Returns
    -------
    matplotlib.axes.Axes
        One box per target with successful samples (median, quartiles, whiskers
        at 1.5 IQR), trials as jittered points, outliers
        (:func:`rtlab.stats.flag_outliers`) in red; tick labels give n and the
        number of failed trials. Log scale when max/min exceeds 10x.
    """
    ax = _axes(ax)
    rows, good = _step_samples(data, step)
    targets = sorted(rows["target"].unique())
    boxed = [t for t in targets if (good["target"] == t).any()]
    positions = [targets.index(t) for t in boxed]
    ax.boxplot(
        [good.loc[good["target"] == t, "wall_s"].to_numpy(dtype=float) for t in boxed],
        positions=positions,
        widths=0.6,
        showfliers=False,
        patch_artist=True,
        boxprops={"facecolor": "0.92", "zorder": 1},
        medianprops={"color": "black", "zorder": 1},
    )
    points = good.assign(
        point=np.where(good["outlier"].to_numpy(dtype=bool), OUTLIER_LABEL, SAMPLE_LABEL)
    )
    sns.stripplot(
        data=points, x="target", y="wall_s", order=targets, hue="point",
        hue_order=[SAMPLE_LABEL, OUTLIER_LABEL],
        palette={SAMPLE_LABEL: "0.3", OUTLIER_LABEL: "tab:red"},
        size=3, jitter=0.2, zorder=2, ax=ax,
    )
    n_ok = good.groupby("target").size()
    n_failed = rows.groupby("target").size().sub(n_ok, fill_value=0)
    labels = [
        f"{t}\nn={int(n_ok.get(t, 0))}"
        + (f", {int(n_failed[t])} failed" if n_failed[t] > 0 else "")
        for t in targets
    ]
    ax.set_xticks(range(len(targets)), labels)
    _rotate_ticks(ax)
    if _needs_log(good["wall_s"].to_numpy(dtype=float)):
        ax.set_yscale("log")
    ax.set_xlabel(TARGET_LABEL)
    ax.set_ylabel(WALL_LABEL)
    ax.set_title(
        f"{step}: wall time per target\n"
        "box: median and quartiles, whiskers 1.5 IQR; points: trials"
    )
    ax.legend(title=None, loc="best")
    return ax


def ecdf_plot(data: pd.DataFrame, *, step: str, ax: Axes | None = None) -> Axes:
    """Empirical CDF of one step's wall time, one line per target.

    Parameters
    ----------
    data : pandas.DataFrame
        The tidy trials frame.
    step : str
        A lifecycle step, ``"total"`` or ``"run"``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the current Axes by default.

    Returns
    -------
    matplotlib.axes.Axes
        The ECDF lines, x on a log scale when max/min exceeds 10x.
    """
    ax = _axes(ax)
    _, good = _step_samples(data, step)
    targets = sorted(good["target"].unique())
    sns.ecdfplot(
        data=good, x="wall_s", hue="target", hue_order=targets,
        log_scale=_needs_log(good["wall_s"].to_numpy(dtype=float)), ax=ax,
    )
    ax.get_legend().set_title(TARGET_LABEL)
    ax.set_xlabel(WALL_LABEL)
    ax.set_ylabel("fraction of trials at or below")
    ax.set_title(f"{step}: cumulative distribution of wall time per target")
    return ax


def lifecycle_bars(summary: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Stacked bars of the median create/start/kill/delete time per target.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`rtlab.stats.summarize`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the current Axes by default.

    Returns
    -------
    matplotlib.axes.Axes
        One bar per target with a median for all four steps. The bar's height is
        the sum of the step medians; the black marker is the median of the
        per-trial totals with its 95 % CI as whiskers (the two differ slightly:
        a sum of medians is not the median of sums).
    """
    ax = _axes(ax)
    experiment = experiments.of_steps(summary["step"])
    steps = list(experiment.total)
    medians = summary.pivot_table(
        index=["client", "runtime"], columns="step", values="median_s", dropna=False
    ).reindex(columns=steps).dropna()
    if medians.empty:
        raise ValueError(f"no target has a median for all {len(steps)} steps of the "
                         f"{experiment.name} total")
    totals = (
        summary[summary["step"] == stats.TOTAL_STEP]
        .set_index(["client", "runtime"])
        .reindex(medians.index)
    )
    x = np.arange(len(medians))
    bottom = np.zeros(len(medians))
    for step, color in zip(steps, sns.color_palette(n_colors=len(steps))):
        heights = medians[step].to_numpy(dtype=float)
        ax.bar(x, heights, bottom=bottom, width=0.6, color=color, label=step)
        bottom += heights
    centre = totals["median_s"].to_numpy(dtype=float)
    whiskers = np.nan_to_num(
        np.vstack([centre - totals["ci_low_s"], totals["ci_high_s"] - centre]), nan=0.0
    )
    ax.errorbar(
        x, centre, yerr=whiskers, fmt="o", color="black", capsize=4, markersize=4,
        label="total: median, 95% CI",
    )
    ax.set_xticks(x, [stats.target_label(c, r) for c, r in medians.index])
    _rotate_ticks(ax)
    ax.set_xlabel(TARGET_LABEL)
    ax.set_ylabel(f"median {WALL_LABEL}")
    ax.set_title(f"{experiment.figure or experiment.name}: median wall time of each step, stacked")
    ax.legend(title="step", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def ratio_heatmap(
    comparisons: pd.DataFrame,
    *,
    family: str,
    step: str = stats.TOTAL_STEP,
    ax: Axes | None = None,
) -> Axes:
    """Heat map of pairwise median ratios (row / column) within one family and step.

    Parameters
    ----------
    comparisons : pandas.DataFrame
        Output of :func:`rtlab.stats.compare`.
    family : str
        E.g. ``"client=docker"`` (rows and columns are runtimes) or
        ``"runtime=runc"`` (clients).
    step : str
        The step compared.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the current Axes by default.

    Returns
    -------
    matplotlib.axes.Axes
        Cells annotated with ``median(row) / median(column)``, coloured by its
        log2 (blue: row faster, red: row slower), ``*`` where the verdict is
        faster/slower (Holm-adjusted p < alpha and the CI excludes 1).
    """
    ax = _axes(ax)
    pairs = comparisons[(comparisons["family"] == family) & (comparisons["step"] == step)]
    if pairs.empty:
        raise ValueError(f"no comparisons for family {family!r}, step {step!r}")
    members = sorted(set(pairs["a"]) | set(pairs["b"]))
    ratio = pd.DataFrame(np.nan, index=members, columns=members)
    marks = pd.DataFrame("", index=members, columns=members)
    for row in pairs.itertuples(index=False):
        mark = SIGNIFICANT_MARK if row.verdict in (stats.FASTER, stats.SLOWER) else ""
        ratio.loc[row.a, row.b] = row.ratio
        ratio.loc[row.b, row.a] = 1.0 / row.ratio
        marks.loc[row.a, row.b] = f"{row.ratio:.2f}{mark}"
        marks.loc[row.b, row.a] = f"{1.0 / row.ratio:.2f}{mark}"
    log_ratio = np.log2(ratio)
    limit = max(float(np.nanmax(np.abs(log_ratio.to_numpy()))), 0.1)
    sns.heatmap(
        log_ratio, annot=marks.to_numpy(), fmt="", cmap="vlag", vmin=-limit, vmax=limit,
        square=True, linewidths=0.5,
        cbar_kws={"label": "log2 of median ratio (row / column)"}, ax=ax,
    )
    kind = "runtime" if family.startswith("client=") else "client"
    ax.set_ylabel(f"{kind} (row)")
    ax.set_xlabel(f"{kind} (column)")
    ax.set_title(
        f"{family}, {step}: median wall time ratio, row / column\n"
        f"{SIGNIFICANT_MARK}: Holm-adjusted p < alpha and 95% CI excludes 1"
    )
    return ax


def save_figure(fig: Figure, path_stem: Path | str) -> tuple[Path, Path]:
    """Write ``fig`` as ``<path_stem>.png`` and ``<path_stem>.svg``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path_stem : pathlib.Path or str
        Path without suffix; missing parent folders are created.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the SVG path.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_name(f"{stem.name}.png")
    svg = stem.with_name(f"{stem.name}.svg")
    fig.savefig(png, dpi=150, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    return png, svg
