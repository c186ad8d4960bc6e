"""The density section of a report (issue 22): tables, figures and the headline of
one or more runs' density.csv and their interference starts.

:func:`section` writes ``density_memory.csv`` (MB per container per target and
method, with CIs), ``density_methods.csv`` (the methods side by side and their
spread), ``density_interference.csv`` (ms per running container) and the figures
``figures/density/memory.png`` (memory against N, one line per target, a panel
per method) and ``figures/density/interference.png`` (start against N), and
returns the section as Markdown, every string from data escaped. The plot
functions take the tidy frame and draw on a given ``ax`` (plots.py's rule).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Iterable, Optional, Sequence

import pandas as pd

from rtlab.analysis import density_stats as ds
from rtlab.collect.density import METHODS
from rtlab.core.results import load_trials


def _fmt(mb: float, low: float, high: float, unit: str) -> str:
    if mb is None or (isinstance(mb, float) and math.isnan(mb)):
        return "—"
    ci = "no CI (fewer than 3 points)" if math.isnan(low) else f"[{low:.1f}, {high:.1f}]"
    return f"{mb:.1f} {unit} {ci}"


def memory_plot(density: pd.DataFrame, *, method: str, ax):
    """Memory (MB) against N for one method, one line per target (the median over trials)."""
    use = density[density.ok & ~density.warmup & (density.method == method)]
    for (client, runtime), g in use.groupby(["client", "runtime"], sort=True):
        med = g.groupby("n").bytes.median() / ds.MB
        ax.plot(med.index, med.values, marker="o", label=f"{client}/{runtime}")
    ax.set_xlabel("idle containers running (N)")
    ax.set_ylabel("MB")
    ax.set_title(method)
    if use.size:
        ax.legend(fontsize="small")
    return ax


def interference_plot(trials: pd.DataFrame, *, ax):
    """One more container's start (ms) against N, one line per target (the median)."""
    use = trials[(trials.experiment == "density") & trials.ok & ~trials.warmup
                 & (trials.step == "start")].copy()
    use["n"] = pd.to_numeric(use["n"], errors="coerce")
    for (client, runtime), g in use.groupby(["client", "runtime"], sort=True):
        med = g.groupby("n").wall_s.median() * 1000
        ax.plot(med.index, med.values, marker="o", label=f"{client}/{runtime}")
    ax.set_xlabel("idle containers running (N)")
    ax.set_ylabel("start (ms)")
    ax.set_title("start of one more container with N running")
    if len(use):
        ax.legend(fontsize="small")
    return ax


def headline(slopes: pd.DataFrame, method: str = "pss") -> str:
    """One sentence per client: the costliest and the cheapest runtime by ``method``."""
    out = []
    for client, g in slopes[(slopes.method == method) & slopes.mb.notna()].groupby("client"):
        if len(g) < 2:
            continue
        hi, lo = g.loc[g.mb.idxmax()], g.loc[g.mb.idxmin()]
        out.append(f"Through {client}, a {hi.runtime} container costs "
                   f"{_fmt(hi.mb, hi.low, hi.high, 'MB')} against {lo.runtime}'s "
                   f"{_fmt(lo.mb, lo.low, lo.high, 'MB')} ({method}).")
    return " ".join(out)


def section(run_dirs: Iterable[str | Path], out_dir: str | Path) -> Optional[str]:
    """Write the density tables and figures of the runs that have density.csv; the
    section's Markdown, or None when no run measured density."""
    runs = [Path(r) for r in run_dirs if (Path(r) / "density.csv").exists()]
    if not runs:
        return None
    out = Path(out_dir)
    (out / "figures" / "density").mkdir(parents=True, exist_ok=True)
    density = pd.concat([ds.load(r) for r in runs], ignore_index=True)
    trials = pd.concat([load_trials(r) for r in runs], ignore_index=True)
    slopes = ds.memory_slopes(density)
    methods = ds.disagreement(slopes)
    inter = ds.interference_slopes(trials)
    slopes.to_csv(out / "density_memory.csv", index=False)
    methods.to_csv(out / "density_methods.csv", index=False)
    inter.to_csv(out / "density_interference.csv", index=False)
    _figures(density, trials, out / "figures" / "density")
    def e(text) -> str:  # data strings in Markdown: HTML-escaped, table pipes too
        return html.escape(str(text)).replace("|", "&#124;")
    lines = ["## Memory per container at density", "",
             e(headline(slopes)) or "Fewer than two runtimes per client: no headline.", "",
             "MB per container: the Theil–Sen slope over N with its 95% CI, per method.", "",
             "| target | " + " | ".join(METHODS) + " | spread | daemons (MB per container) |",
             "|---|" + "---|" * (len(METHODS) + 2)]
    for (client, runtime), g in slopes.groupby(["client", "runtime"], sort=True):
        cells = []
        for m in METHODS:
            r = g[g.method == m]
            cells.append(_fmt(*r[["mb", "low", "high"]].iloc[0], "MB") if len(r) else "—")
        spread = methods[(methods.client == client) & (methods.runtime == runtime)].spread
        sp = "—" if spread.isna().all() else f"{spread.iloc[0]:.1f}×"
        lines.append(f"| {e(client)}/{e(runtime)} | " + " | ".join(cells) +
                     f" | {sp} | {g.daemons_mb.iloc[0]:.2f} |")
    lines += ["", "Start of one more container, ms per running container (Theil–Sen, 95% CI):",
              "", "| target | step | ms per container |", "|---|---|---|"]
    for r in inter.itertuples():
        lines.append(f"| {e(r.client)}/{e(r.runtime)} | {e(r.step)} | "
                     f"{_fmt(r.ms_per_container, r.low, r.high, 'ms')} |")
    lines += ["", "![memory against N](figures/density/memory.png)",
              "![start against N](figures/density/interference.png)"]
    return "\n".join(lines) + "\n"


def _figures(density: pd.DataFrame, trials: pd.DataFrame, folder: Path,
             methods: Sequence[str] = METHODS) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(methods), figsize=(4.5 * len(methods), 3.6), squeeze=False)
    for ax, m in zip(axes[0], methods):
        memory_plot(density, method=m, ax=ax)
    fig.tight_layout()
    fig.savefig(folder / "memory.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    interference_plot(trials, ax=ax)
    fig.tight_layout()
    fig.savefig(folder / "interference.png", dpi=100)
    plt.close(fig)
