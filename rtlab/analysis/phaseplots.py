"""Where the time goes, drawn: one stacked bar per target (its phases in order) and the
timeline of one typical traced trial per target.

Tidy data in (phasestats.phase_summary, phases.csv's frame), Axes out, like plots.py.
"""

from __future__ import annotations

import zlib

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes

from rtlab.analysis import plots, stats
from rtlab.core import phasedefs


def _label(target: str, pace) -> str:
    return target if pace is None or pace != pace else f"{target}\n@ {pace * 1e3:g} ms"


def _colours(names) -> dict:
    """A colour per phase name, the same in every figure (from the name), unattributed grey."""
    palette = plt.get_cmap("tab20").colors  # type: ignore[attr-defined]  # a ListedColormap
    colours = {n: palette[zlib.crc32(str(n).encode()) % len(palette)] for n in dict.fromkeys(names)}
    colours[phasedefs.UNATTRIBUTED] = (0.6, 0.6, 0.6, 1.0)
    return colours


def phase_bars(summary: pd.DataFrame, *, step: str = "run", ax: Axes | None = None) -> Axes:
    """Stacked bars of each phase's median (ms) per target (and pace) for ``step``; the
    phases of a target in their order, ``unattributed`` grey on top, the bar's total the
    sum of those medians, and the step's median wall time marked beside it (a black tick)
    so what the medians miss shows."""
    ax = ax if ax is not None else plt.gca()
    data = summary[summary["step"] == step]
    groups = list(data.groupby(["target", "pace_s"], dropna=False, sort=True))
    colours = _colours(data.sort_values(["order"])["phase"])
    for i, (_, rows) in enumerate(groups):
        rows = rows.sort_values("order")
        bottom = 0.0
        for _, row in rows.iterrows():
            height = row["median_s"] * 1e3
            ax.bar(
                i,
                height,
                bottom=bottom,
                color=colours[row["phase"]],
                edgecolor="white",
                width=0.6,
                label=plots.text(row["phase"]),
            )
            bottom += height
        ax.plot([i + 0.32, i + 0.42], [rows["step_median_s"].iloc[0] * 1e3] * 2, color="black")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(
        unique.values(),
        unique.keys(),
        fontsize="small",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    ax.set_xticks(range(len(groups)), [plots.text(_label(t, p)) for (t, p), _ in groups])
    ax.set_ylabel("median phase time (ms); tick: step median")
    ax.set_title(f"where the time goes: {plots.text(step)}")
    return ax


def typical_trials(phases: pd.DataFrame, step: str) -> pd.DataFrame:
    """Per target and pace, the phases of the traced trial whose wall time is nearest
    the median (non-warm-up trials of ``step``)."""
    data = phases[(phases["step"] == step) & ~phases["warmup"]]
    out = []
    for _, g in data.groupby(["client", "runtime", "pace_s"], dropna=False, sort=True):
        walls = g.drop_duplicates("container_id").set_index("container_id")["wall_s"]
        cid = (walls - walls.median()).abs().idxmin()
        out.append(g[g["container_id"] == cid])
    return pd.concat(out, ignore_index=True) if out else data


def timeline(phases: pd.DataFrame, *, step: str = "run", ax: Axes | None = None) -> Axes:
    """One typical trial per target (and pace) as a row of its phases laid out in time
    (ms from the step's start)."""
    ax = ax if ax is not None else plt.gca()
    data = typical_trials(phases, step)
    colours = _colours(data["phase"])
    rows = list(data.groupby(["client", "runtime", "pace_s"], dropna=False, sort=True))
    for i, (_, g) in enumerate(rows):
        for _, p in g.iterrows():
            ax.barh(
                i,
                p["dur_s"] * 1e3,
                left=p["start_s"] * 1e3,
                color=colours[p["phase"]],
                edgecolor="white",
                height=0.6,
                label=plots.text(p["phase"]),
            )
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(
        unique.values(),
        unique.keys(),
        fontsize="small",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    ax.set_yticks(
        range(len(rows)), [plots.text(_label(stats.target_label(c, r), p)) for (c, r, p), _ in rows]
    )
    ax.invert_yaxis()
    ax.set_xlabel("ms from the step's start")
    ax.set_title(f"one typical traced {plots.text(step)} per target (median wall time)")
    return ax
