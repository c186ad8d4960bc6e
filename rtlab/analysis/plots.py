"""Seaborn figures of rtlab results: a tidy frame in, a matplotlib Axes out.

Every function draws on ``ax`` (the current Axes when None) and returns it; the
numbers drawn come from :mod:`rtlab.analysis.stats`, nothing is aggregated here. This
module does not choose a matplotlib backend: notebooks keep theirs, scripts and
tests can set ``MPLBACKEND=Agg`` or draw on ``matplotlib.figure.Figure`` objects.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rtlab.analysis import stats
from rtlab.core import clientdefs, experiments, runtimes


def log_axis(ax: Axes, which: str = "y") -> None:
    """A logarithmic value axis labelled in plain numbers at 1, 2 and 5 × 10ⁿ (20, 50,
    100 …), not matplotlib's 2×10¹ minor labels, which overlap on short panels."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(ticker.LogLocator(base=10, subs=(3.0, 4.0, 6.0, 7.0, 8.0, 9.0)))
    axis.set_minor_formatter(ticker.NullFormatter())


# Above this max/min spread of the values shown, wall time is drawn on a log axis.
LOG_SPREAD = 10.0
WALL_LABEL = "wall time (s)"
TARGET_LABEL = "target (client/runtime)"
OUTLIER_LABEL = f"outlier (|modified z| > {stats.OUTLIER_Z})"
SAMPLE_LABEL = "trial"
SIGNIFICANT_MARK = "*"
# Above this many strip points, they are drawn as one raster image inside vector files.
RASTERIZE_POINTS = 2000

# One colour per runtime and one marker/hatch per client, the same in every figure.
# A runtime's slot of the colour-blind palette is on its record (core/runtimes.py
# ``colour``), a client's marker and hatch on its (core/clientdefs.py); others get a
# stable spare one by hash.
KNOWN_RUNTIMES: tuple[str, ...] = tuple(runtimes.KNOWN)
KNOWN_CLIENTS: tuple[str, ...] = clientdefs.figure_order()
_PALETTE = sns.color_palette("colorblind", 10)
_SPARE_SLOTS = (7, 8, 9, 3)
_SPARE_MARKERS = ("v", "P", "X", "*", "h")
_SPARE_HATCHES = ("\\\\\\", "---", "+++", "ooo")
STUDY_LABEL = "study (2018)"
RTLAB_LABEL = "rtlab: median, 95% CI"


def _stable(name: str, choices: tuple):
    return choices[zlib.crc32(str(name).encode("utf-8")) % len(choices)]


def runtime_colour(runtime: str) -> tuple[float, float, float]:
    """The colour of ``runtime`` in every figure (RGB)."""
    known = runtimes.KNOWN.get(runtime)
    slot = known.colour if known else None
    return _PALETTE[slot if slot is not None else _stable(runtime, _SPARE_SLOTS)]


def client_marker(client: str) -> str:
    """The matplotlib marker of ``client`` in every figure."""
    known = clientdefs.CLIENTS.get(client)
    return (known.marker if known else None) or _stable(client, _SPARE_MARKERS)


def client_hatch(client: str) -> str:
    """The bar hatch of ``client`` in every figure ("" for docker)."""
    known = clientdefs.CLIENTS.get(client)
    hatch = known.hatch if known else None
    return hatch if hatch is not None else _stable(client, _SPARE_HATCHES)


def ordered_names(names, known: tuple[str, ...]) -> list[str]:
    """Known names in their fixed order, then the others alphabetically."""
    names = set(names)
    return [n for n in known if n in names] + sorted(names - set(known))


# Longer names from data are cut in figures (the tables show them in full).
MAX_LABEL = 32


def text(value) -> str:
    """A name from data as plain text in a figure: at most :data:`MAX_LABEL` characters
    (cut with "…"), ``$`` escaped so it never starts mathtext."""
    value = str(value)
    if len(value) > MAX_LABEL:
        value = value[: MAX_LABEL - 1] + "…"
    return value.replace("$", r"\$")


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
        (:func:`rtlab.analysis.stats.flag_outliers`) in red; tick labels give n and the
        number of failed trials. Log scale when max/min exceeds 10x.
    """
    ax = _axes(ax)
    rows, good = _step_samples(data, step)
    targets = sorted(rows["target"].unique())
    boxed = [t for t in targets if (good["target"] == t).any()]
    positions = [targets.index(t) for t in boxed]
    parts = ax.boxplot(
        [good.loc[good["target"] == t, "wall_s"].to_numpy(dtype=float) for t in boxed],
        positions=positions,
        widths=0.6,
        showfliers=False,
        patch_artist=True,
        boxprops={"facecolor": "0.92", "zorder": 1},
        medianprops={"color": "black", "zorder": 1},
    )
    owners = rows.drop_duplicates("target").set_index("target")
    for box, t in zip(parts["boxes"], boxed):
        box.set_facecolor((*runtime_colour(owners.at[t, "runtime"]), 0.45))
        box.set_hatch(client_hatch(owners.at[t, "client"]))
    points = good.assign(
        point=np.where(good["outlier"].to_numpy(dtype=bool), OUTLIER_LABEL, SAMPLE_LABEL)
    )
    sns.stripplot(
        data=points,
        x="target",
        y="wall_s",
        order=targets,
        hue="point",
        # only the kinds drawn: the legend must not name outliers where there are none
        hue_order=[k for k in (SAMPLE_LABEL, OUTLIER_LABEL) if (points["point"] == k).any()],
        palette={SAMPLE_LABEL: "0.3", OUTLIER_LABEL: "tab:red"},
        size=3,
        jitter=0.2,
        zorder=2,
        ax=ax,
        rasterized=len(points) > RASTERIZE_POINTS,  # dense points: one image inside the SVG
    )
    n_ok = good.groupby("target").size()
    n_failed = rows.groupby("target").size().sub(n_ok, fill_value=0)
    labels = [
        f"{text(t)}\nn={int(n_ok.get(t, 0))}"
        + (f", {int(n_failed[t])} failed" if n_failed[t] > 0 else "")
        for t in targets
    ]
    ax.set_xticks(range(len(targets)), labels)
    _rotate_ticks(ax)
    if _needs_log(good["wall_s"].to_numpy(dtype=float)):
        log_axis(ax)
    ax.set_xlabel(TARGET_LABEL)
    ax.set_ylabel(WALL_LABEL)
    ax.set_title(
        f"{step}: wall time per target\nbox: median and quartiles, whiskers 1.5 IQR; points: trials"
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
    owners = good.drop_duplicates("target").set_index("target")
    for t in targets:
        x = np.sort(good.loc[good["target"] == t, "wall_s"].to_numpy(dtype=float))
        y = np.arange(1, x.size + 1) / x.size
        ax.step(
            np.r_[x[0], x],
            np.r_[0.0, y],
            where="post",
            label=text(t),
            color=runtime_colour(owners.at[t, "runtime"]),
            marker=client_marker(owners.at[t, "client"]),
            markevery=max(1, x.size // 5),
            markersize=5,
        )
    if _needs_log(good["wall_s"].to_numpy(dtype=float)):
        log_axis(ax, "x")
    ax.set_ylim(0, 1.02)
    ax.legend(title=TARGET_LABEL, loc="lower right", fontsize="small")
    ax.set_xlabel(WALL_LABEL)
    ax.set_ylabel("fraction of trials at or below")
    ax.set_title(f"{step}: cumulative distribution of wall time per target")
    return ax


def lifecycle_bars(summary: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Stacked bars of the median create/start/kill/delete time per target.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`rtlab.analysis.stats.summarize`.
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
    medians = (
        summary.pivot_table(
            index=["client", "runtime"], columns="step", values="median_s", dropna=False
        )
        .reindex(columns=steps)
        .dropna()
    )
    if medians.empty:
        raise ValueError(
            f"no target has a median for all {len(steps)} steps of the {experiment.name} total"
        )
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
        x,
        centre,
        yerr=whiskers,
        fmt="o",
        color="black",
        capsize=4,
        markersize=4,
        label="total: median, 95% CI",
    )
    ax.set_xticks(x, [text(stats.target_label(c, r)) for c, r in medians.index])
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
    """Heat map of pairwise Hodges–Lehmann ratios (row / column) within one family and step.

    Parameters
    ----------
    comparisons : pandas.DataFrame
        Output of :func:`rtlab.analysis.stats.compare`.
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
        faster/slower (Holm-adjusted p < alpha; its Holm-adjusted CI excludes 1).
    """
    ax = _axes(ax)
    pairs = comparisons[(comparisons["family"] == family) & (comparisons["step"] == step)]
    if pairs.empty:
        raise ValueError(f"no comparisons for family {family!r}, step {step!r}")
    members = sorted(set(pairs["a"]) | set(pairs["b"]))
    shown = [text(m) for m in members]
    ratio = pd.DataFrame(np.nan, index=members, columns=members)
    marks = pd.DataFrame("", index=members, columns=members)
    for row in pairs.itertuples(index=False):
        mark = SIGNIFICANT_MARK if row.verdict in (stats.FASTER, stats.SLOWER) else ""
        ratio.loc[row.a, row.b] = row.ratio
        ratio.loc[row.b, row.a] = 1.0 / row.ratio
        marks.loc[row.a, row.b] = f"{row.ratio:.2f}{mark}"
        marks.loc[row.b, row.a] = f"{1.0 / row.ratio:.2f}{mark}"
    log_ratio = np.log2(ratio)
    log_ratio.index, log_ratio.columns = shown, shown
    limit = max(float(np.nanmax(np.abs(log_ratio.to_numpy()))), 0.1)
    sns.heatmap(
        log_ratio,
        annot=marks.to_numpy(),
        fmt="",
        cmap="vlag",
        vmin=-limit,
        vmax=limit,
        square=True,
        linewidths=0.5,
        cbar_kws={"label": "log2 of the Hodges–Lehmann ratio (row / column)"},
        ax=ax,
    )
    kind = "runtime" if family.startswith("client=") else "client"
    ax.set_ylabel(f"{kind} (row)")
    ax.set_xlabel(f"{kind} (column)")
    ax.set_title(
        f"{text(family)}, {step}: wall time ratio row / column (Hodges–Lehmann)\n"
        f"{SIGNIFICANT_MARK}: Holm-adjusted p < alpha (its Holm-adjusted 95% CI excludes 1)"
    )
    return ax


def _bar_whiskers(median, low, high) -> np.ndarray:
    """Error bar lengths (2 x n) of medians and CIs; 0 where there is no CI."""
    median, low, high = (np.asarray(v, dtype=float) for v in (median, low, high))
    return np.clip(np.nan_to_num(np.vstack([median - low, high - median]), nan=0.0), 0, None)


def overview_plot(
    summary: pd.DataFrame, *, step: str = stats.TOTAL_STEP, ax: Axes | None = None
) -> Axes:
    """Every target's median of ``step`` with its 95 % CI, grouped by client: the headline figure.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`rtlab.analysis.stats.summarize`.
    step : str
        The step shown (the lifecycle ``total`` by default).
    ax : matplotlib.axes.Axes, optional
        Where to draw; the current Axes by default.

    Returns
    -------
    matplotlib.axes.Axes
        One row per target (clients in a fixed order, runtimes fastest first
        within a client): a point at the median in the runtime's colour with the
        client's marker, the CI as a horizontal line. Log x when max/min > 10x.
    """
    ax = _axes(ax)
    rows = summary[(summary["step"] == step) & (summary["n"] > 0)]
    if rows.empty:
        raise ValueError(f"no target has a successful {step!r} trial")
    ordered = []
    for client in ordered_names(rows["client"], KNOWN_CLIENTS):
        ordered.append(rows[rows["client"] == client].sort_values("median_s"))
    rows = pd.concat(ordered)
    y = np.arange(len(rows))[::-1]
    whiskers = _bar_whiskers(rows["median_s"], rows["ci_low_s"], rows["ci_high_s"])
    for yi, r, lo, hi in zip(y, rows.itertuples(index=False), whiskers[0], whiskers[1]):
        colour = runtime_colour(r.runtime)
        ax.errorbar(
            r.median_s,
            yi,
            xerr=[[lo], [hi]],
            fmt=client_marker(r.client),
            color=colour,
            markersize=7,
            capsize=3,
            elinewidth=1.5,
            markeredgecolor="black",
            markeredgewidth=0.5,
        )
    ax.set_yticks(
        y, [text(stats.target_label(c, rt)) for c, rt in zip(rows["client"], rows["runtime"])]
    )
    clients = rows["client"].to_numpy()
    for boundary in np.flatnonzero(clients[1:] != clients[:-1]):
        ax.axhline(y[boundary] - 0.5, color="0.8", lw=0.8)
    if _needs_log(rows["median_s"].to_numpy(dtype=float)):
        log_axis(ax, "x")
    ax.grid(axis="x", color="0.9")
    ax.set_xlabel(f"median {WALL_LABEL}, {step}")
    ax.set_ylabel(TARGET_LABEL)
    ax.set_title(
        f"{step}: median per target (point) and 95% CI (line)\n"
        "colour: runtime; marker: client; left is faster"
    )
    return ax


def lifecycle_facets(summary: pd.DataFrame, *, fig: Figure | None = None) -> Figure:
    """The median of each lifecycle step per runtime, one panel per client.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`rtlab.analysis.stats.summarize`.
    fig : matplotlib.figure.Figure, optional
        Where to draw; a new constrained-layout Figure by default.

    Returns
    -------
    matplotlib.figure.Figure
        Per client a panel of grouped bars: x the four steps, one bar per
        runtime (its colour, the client's hatch) at the median with its 95 % CI.
        Each panel has its own y axis, logarithmic when its medians span more
        than 10x, so one slow bar does not flatten the others.
    """
    experiment = experiments.of_steps(summary["step"])
    steps = list(experiment.total or stats.LIFECYCLE_STEPS)
    rows = summary[summary["step"].isin(steps) & (summary["n"] > 0)]
    if rows.empty:
        raise ValueError("no target has a successful lifecycle step")
    clients = ordered_names(rows["client"], KNOWN_CLIENTS)
    many = len(steps) > 4  # the CRI's seven: slanted labels, a wider panel
    if fig is None:
        panel_in = max(3.6, 0.75 * len(steps))
        fig = Figure(
            figsize=(max(6.0, panel_in * len(clients)), 4.6 if many else 4.2), layout="constrained"
        )
    axes = np.atleast_1d(fig.subplots(1, len(clients), squeeze=False)[0])
    runtimes_all = ordered_names(rows["runtime"], KNOWN_RUNTIMES)
    for ax, client in zip(axes, clients):
        mine = rows[rows["client"] == client]
        runtimes = [r for r in runtimes_all if (mine["runtime"] == r).any()]
        width = 0.8 / max(1, len(runtimes))
        for i, runtime in enumerate(runtimes):
            cells = mine[mine["runtime"] == runtime].set_index("step").reindex(steps)
            x = np.arange(len(steps)) - 0.4 + width * (i + 0.5)
            ax.bar(
                x,
                cells["median_s"],
                width=width,
                color=runtime_colour(runtime),
                hatch=client_hatch(client),
                edgecolor="black",
                linewidth=0.4,
                label=text(runtime),
                yerr=_bar_whiskers(cells["median_s"], cells["ci_low_s"], cells["ci_high_s"]),
                error_kw={"elinewidth": 0.8, "capsize": 2},
            )
        ax.set_xticks(
            range(len(steps)), steps, rotation=30 if many else 0, ha="right" if many else "center"
        )
        if _needs_log(mine["median_s"].to_numpy(dtype=float)):
            log_axis(ax)
        ax.set_title(f"through {text(client)}")
        ax.set_xlabel("step")
        ax.legend(title="runtime", fontsize="small", loc="best")  # where it hides no bar
    axes[0].set_ylabel(f"median {WALL_LABEL}")
    fig.suptitle(
        f"{experiment.figure or experiment.name}: median wall time of each step (bar) "
        "and its 95% CI, per client\n"
        "each panel has its own y axis (log when it spans more than 10x)"
    )
    return fig


def study_bars(against: pd.DataFrame, *, fig: Figure | None = None) -> Figure:
    """The known study's bar charts redrawn with rtlab's medians beside its values.

    Parameters
    ----------
    against : pandas.DataFrame
        Output of :func:`rtlab.analysis.reference.against_study`.
    fig : matplotlib.figure.Figure, optional
        Where to draw; a new constrained-layout Figure by default.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per study table present (``lowlevel``: docker over each
        runtime; ``clients``: each client over runc), laid out like the
        study's charts: x the steps, a pair of bars per member — the study's
        value (pale, outlined) and rtlab's median with its 95 % CI (solid) in
        the runtime's colour and the client's hatch.
    """
    if against.empty:
        raise ValueError("no cell in common with the study")
    panels = [
        (t, kind)
        for t, kind in (("lowlevel", "runtime"), ("clients", "client"))
        if against["tables"].str.split(",").map(lambda ts, t=t: t in ts).any()
    ]
    if fig is None:
        fig = Figure(figsize=(6.5 * len(panels), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)[0])
    for ax, (table, kind) in zip(axes, panels):
        cells = against[against["tables"].str.split(",").map(lambda ts, t=table: t in ts)]
        steps = stats.ordered_steps(cells["step"].unique().tolist())
        members = ordered_names(cells[kind], KNOWN_RUNTIMES if kind == "runtime" else KNOWN_CLIENTS)
        width = 0.8 / (2 * len(members))
        for i, member in enumerate(members):
            mine = cells[cells[kind] == member].set_index("step").reindex(steps)
            client = mine["client"].dropna().iloc[0]
            runtime = mine["runtime"].dropna().iloc[0]
            colour, hatch = runtime_colour(runtime), client_hatch(client)
            x = np.arange(len(steps)) - 0.4 + width * (2 * i + 0.5)
            ax.bar(
                x,
                mine["study_s"],
                width=width,
                color=(*colour, 0.25),
                edgecolor=colour,
                linewidth=1.0,
                hatch=hatch,
                label=f"{text(member)}: {STUDY_LABEL}",
            )
            ax.bar(
                x + width,
                mine["median_s"],
                width=width,
                color=colour,
                hatch=hatch,
                edgecolor="black",
                linewidth=0.4,
                label=f"{text(member)}: rtlab",
                yerr=_bar_whiskers(mine["median_s"], mine["ci_low_s"], mine["ci_high_s"]),
                error_kw={"elinewidth": 0.8, "capsize": 2},
            )
        ax.set_xticks(range(len(steps)), steps)
        values = np.r_[cells["study_s"].to_numpy(float), cells["median_s"].to_numpy(float)]
        if _needs_log(values[np.isfinite(values)]):
            log_axis(ax)
        ax.set_xlabel("step")
        ax.set_ylabel(WALL_LABEL)
        ax.set_title("docker over each runtime" if table == "lowlevel" else "each client over runc")
        ax.legend(
            fontsize="x-small", ncol=len(members), loc="upper center", bbox_to_anchor=(0.5, -0.14)
        )
    fig.suptitle(
        "against the 2018 study: its value (pale) beside rtlab's median and 95% CI (solid)"
    )
    return fig


def save_figure(fig: Figure, path_stem: Path | str, *, svg: bool = True) -> tuple[Path, ...]:
    """Write ``fig`` as ``<path_stem>.png`` and, when ``svg``, ``<path_stem>.svg``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path_stem : pathlib.Path or str
        Path without suffix; missing parent folders are created.
    svg : bool
        Also write the SVG (it costs about as much again as the PNG).

    Returns
    -------
    tuple of pathlib.Path
        The PNG path, then the SVG path when written.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_name(f"{stem.name}.png")
    fig.savefig(png, dpi=150, bbox_inches="tight")
    if not svg:
        return (png,)
    vector = stem.with_name(f"{stem.name}.svg")
    fig.savefig(vector, bbox_inches="tight", metadata={"Date": None})
    return png, vector
