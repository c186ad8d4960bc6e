"""Starts under load: latency and throughput against k, one line per runtime with its CI band.

Tidy data in (concurrency_stats.summarize's table), Axes out; the aggregation is
concurrency_stats'. Like plots.py, no backend is chosen here. A value axis is logarithmic when its values span more than 10×.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rtlab.analysis import concurrency_stats as cs
from rtlab.analysis import plots

SPAN_FOR_LOG = 10.0
METRICS = {  # name → (estimate, low, high, label, scale)
    "p50": ("p50_s", "p50_low_s", "p50_high_s", "p50 latency (ms)", 1000.0),
    "p95": ("p95_s", "p95_low_s", "p95_high_s", "p95 latency (ms)", 1000.0),
    "throughput": (
        "throughput_per_s",
        "throughput_low_per_s",
        "throughput_high_per_s",
        "throughput (containers/s)",
        1.0,
    ),
}


def against_k(
    summary: pd.DataFrame, *, metric: str, ax: plt.Axes, title: str | None = None
) -> plt.Axes:
    """One line per runtime of ``metric`` against k, its 95% CI as a band (where it has one)."""
    est, low, high, label, scale = METRICS[metric]
    values = []
    for runtime, g in summary.groupby("runtime", sort=True):
        g = g.sort_values("k")
        k = g["k"].to_numpy(dtype=float)
        y = g[est].to_numpy(dtype=float) * scale
        (line,) = ax.plot(k, y, marker="o", label=str(runtime))
        lo, hi = g[low].to_numpy(dtype=float) * scale, g[high].to_numpy(dtype=float) * scale
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            ax.fill_between(k[ok], lo[ok], hi[ok], color=line.get_color(), alpha=0.2, linewidth=0)
        values += [v for v in np.concatenate([y, lo[ok], hi[ok]]) if np.isfinite(v) and v > 0]
    ks = sorted(summary["k"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(int(k)) for k in ks])
    if values and max(values) / min(values) > SPAN_FOR_LOG:
        plots.log_axis(ax)
    ax.set_xlabel("k (containers released together)")
    ax.set_ylabel(label)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def bands_text(summary: pd.DataFrame) -> str:
    """What the figure's bands are: one sitting's order-statistic CIs, or CIs across the
    runs of several sittings (the summary's ``ci_kind``), or both."""
    kinds = sorted(set(summary.get("ci_kind", pd.Series(dtype=str)).dropna().astype(str)))
    across = [k for k in kinds if k != cs.SITTING]
    parts = (
        ["this sitting's, order statistics over batches"]
        if cs.SITTING in kinds or not kinds
        else []
    )
    parts += [f"{k}, Student's t over the runs" for k in across]
    return "95% CI (" + "; ".join(parts) + ")"


def figure(summary: pd.DataFrame, *, mode: str = "run") -> Figure:
    """Rows: p50, p95, throughput; columns: the clients (one facet each) — for one mode."""
    rows = summary[summary["mode"] == mode]
    clients = sorted(rows["client"].unique()) or ["(none)"]
    fig = Figure(figsize=(4.2 * len(clients), 9.5), layout="constrained")
    axes = fig.subplots(3, len(clients), squeeze=False)
    what = "run to exit" if mode == "run" else "create + start"
    for j, client in enumerate(clients):
        sub = rows[rows["client"] == client]
        for i, metric in enumerate(METRICS):
            against_k(
                sub, metric=metric, ax=axes[i][j], title=f"{client}: {what}" if i == 0 else None
            )
    fig.suptitle(f"starts under load ({what})\nbands: {bands_text(rows)}")
    return fig
