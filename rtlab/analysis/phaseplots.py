"""Where the time goes, drawn: one stacked bar per target (its phases in order).

Tidy data in (phasestats.phase_summary), Axes out, like plots.py.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from rtlab.analysis import plots


def phase_bars(summary: pd.DataFrame, *, step: str = "run", ax: Axes | None = None) -> Axes:
    """Stacked bars of each phase's median (ms) per target for ``step``; the phases of a
    target in their order, the bar's total the sum of those medians, and the step's
    median wall time marked beside it (a black tick) so what the medians miss shows."""
    ax = ax if ax is not None else plt.gca()
    data = summary[summary["step"] == step]
    targets = sorted(data["target"].unique())
    names = list(dict.fromkeys(data.sort_values(["order"])["phase"]))
    colours = dict(zip(names, plt.get_cmap("tab20")(np.linspace(0, 1, max(len(names), 2)))))
    for i, target in enumerate(targets):
        rows = data[data["target"] == target].sort_values("order")
        bottom = 0.0
        for _, row in rows.iterrows():
            height = row["median_s"] * 1e3
            ax.bar(i, height, bottom=bottom, color=colours[row["phase"]], edgecolor="white",
                   width=0.6, label=plots.text(row["phase"]))
            bottom += height
        ax.plot([i + 0.32, i + 0.42], [rows["step_median_s"].iloc[0] * 1e3] * 2, color="black")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize="small", loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.set_xticks(range(len(targets)), [plots.text(t) for t in targets])
    ax.set_ylabel(f"median phase time (ms), step {step}; tick: step median")
    ax.set_title(f"where the time goes: {step}")
    return ax
