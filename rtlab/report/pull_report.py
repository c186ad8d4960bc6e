"""Experiments pull and cri-pull's report (issue 33): how much of a cold start is the pull,
per client, runtime, image size and compression, and time to running against size.

:func:`write` writes ``pull_shares.csv`` (per unit: the pull's share of time to running,
its median with the median's CI, time to running and the pull, loopback bytes),
``pull_slopes.csv`` (ms of time to running per MB of image, the rounds' slopes' mean
with its t-interval) and ``figures/pull/cold_start.png``. :func:`answers` is the first
screen's entry, :func:`section` notebook 02's section (HTML, every string from data
escaped; one line when no run measured a pull). The pull runs are read only here (their
``experiment`` is pull or cri-pull), never pooled with another experiment. Statistics:
analysis/pull_stats.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rtlab.analysis import pull_stats as ps
from rtlab.core.pull import size_label
from rtlab.core.results import load_trials
from rtlab.report.html import esc, image_bundle
from rtlab.report.html import table as html_table
from rtlab.report.tables import text_table

NOTHING = (
    "No pull run in these runs (<code>rtlab collect --experiment pull</code> measures cold "
    "starts through rtlab's registry)."
)
QUESTION = "How much of a cold start is the pull?"


@dataclass
class Pulls:
    runs: list[Path]
    trials: pd.DataFrame  # one row per trial (pull_stats.trials_of)
    shares: pd.DataFrame
    slopes: pd.DataFrame
    compression: pd.DataFrame  # zstd / gzip paired by round (pull_stats.compression_pairs)
    tables: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)


def load(run_dirs: Iterable[str | Path]) -> Pulls | None:
    runs, frames = [], []
    for r in run_dirs:
        try:
            t = load_trials(Path(r))
        except (OSError, ValueError):
            continue
        t = t[t["experiment"].isin(ps.EXPERIMENTS)]
        if len(t):
            runs.append(Path(r))
            frames.append(t)
    if not frames:
        return None
    trials = ps.trials_of(pd.concat(frames, ignore_index=True))
    return Pulls(
        runs, trials, ps.shares(trials), ps.size_slopes(trials), ps.compression_pairs(trials)
    )


def _trials(n: int) -> str:
    return f"{n} trial{'s' if n != 1 else ''}"


def _client(r) -> str:
    return f"{r.client}-{r.network}" if r.network else str(r.client)


def _ms(seconds: float) -> str:
    return "—" if pd.isna(seconds) else f"{seconds * 1e3:.0f}"


def _pct(est: float, low: float, high: float) -> str:
    if est is None or math.isnan(est):
        return "—"
    if math.isnan(low) or math.isnan(high):
        return f"{est:.0%} (no CI: too few trials)"
    return f"{est:.0%} [{low:.0%}–{high:.0%}]"


def headline(shares: pd.DataFrame) -> list[str]:
    """Per client and runtime, cold: the pull's share at the largest size (gzip, which every
    client pulls; zstd beside it where measured)."""
    cold = shares[(shares["cache"] == "cold") & shares["share"].notna()]
    out = []
    for (client, runtime, network), g in cold.groupby(["client", "runtime", "network"], sort=True):
        size = g["image_size_bytes"].max()
        parts = []
        for comp, r in g[g["image_size_bytes"] == size].set_index("compression").iterrows():
            parts.append(
                f"{_pct(r.share, r.share_low, r.share_high)} with {comp} "
                f"({r.pull_s * 1e3:.0f} ms of {r.to_running_s * 1e3:.0f} ms to running)"
            )
        who = f"{client}-{network}" if network else client
        out.append(
            f"Through {who} over {runtime}, the pull is {'; '.join(parts)} of a cold start of "
            f"the {size_label(int(size))} image (median over {_trials(int(g.complete.max()))})."
        )
    return out


def answers(run_dirs: Iterable[str | Path]) -> dict[str, list[tuple[str, str]]]:
    """The report's first screen: ``{"pull": [(question, answer), …]}``; ``{}`` without a
    pull run."""
    found = load(run_dirs)
    if found is None:
        return {}
    lines = headline(found.shares) or ["no cold trial completed: see the pull section."]
    return {"pull": [(QUESTION, text) for text in lines]}


def cold_start_plot(shares: pd.DataFrame, *, ax, compression: str = "gzip"):
    """Time to running (solid) and the pull (dashed) against the image's size, cold, one
    colour per client and runtime; medians with their CIs as bars."""
    use = shares[(shares["cache"] == "cold") & (shares["compression"] == compression)]
    for n, ((client, runtime, network), g) in enumerate(
        use.groupby(["client", "runtime", "network"], sort=True)
    ):
        g = g.sort_values("image_size_bytes")
        mb = g["image_size_bytes"] / ps.MB
        color = f"C{n % 10}"
        who = f"{client}-{network}" if network else client
        ax.errorbar(
            mb,
            g["to_running_s"] * 1e3,
            yerr=[
                (g["to_running_s"] - g["to_running_low"]).fillna(0) * 1e3,
                (g["to_running_high"] - g["to_running_s"]).fillna(0) * 1e3,
            ],
            color=color,
            marker="o",
            label=f"{who}/{runtime} to running",
        )
        ax.plot(mb, g["pull_s"] * 1e3, color=color, linestyle="--", label=f"{who}/{runtime} pull")
    ax.set_xlabel("image size beyond busybox (MB)")
    ax.set_ylabel("ms (median, 95% CI)")
    ax.set_title(f"cold start, {compression}")
    if use.shape[0]:
        ax.legend(fontsize="x-small")
    return ax


def _figures(shares: pd.DataFrame, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = [c for c in ("gzip", "zstd") if c in set(shares["compression"])]
    if not comps:
        return []
    fig, axes = plt.subplots(1, len(comps), figsize=(6 * len(comps), 4), squeeze=False)
    for ax, comp in zip(axes[0], comps):
        cold_start_plot(shares, ax=ax, compression=comp)
    fig.tight_layout()
    path = folder / "cold_start.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]


def write(
    run_dirs: Iterable[str | Path], out_dir: str | Path, *, draw: bool = True
) -> Pulls | None:
    found = load(run_dirs)
    if found is None:
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for frame, name in (
        (found.shares, "pull_shares.csv"),
        (found.slopes, "pull_slopes.csv"),
        (found.compression, "pull_compression.csv"),
    ):
        frame.to_csv(out / name, index=False)
        found.tables.append(out / name)
    if draw:
        folder = out / "figures" / "pull"
        folder.mkdir(parents=True, exist_ok=True)
        found.figures = _figures(found.shares, folder)
    return found


def console_table(frame: pd.DataFrame) -> str:
    """What ``rtlab collect`` prints for the pull experiments: one line per target, image
    size, compression and cache (never pooled over them): the pull's and time to
    running's medians [95% CI] in ms, the pull's share, trials complete."""
    shares = ps.shares(ps.trials_of(frame))
    if shares.empty:
        return "no pull trial to tabulate"

    def ms(est: float, low: float, high: float) -> str:
        if math.isnan(est):
            return "—"
        if math.isnan(low) or math.isnan(high):
            return f"{est * 1e3:.0f} [no CI]"
        return f"{est * 1e3:.0f} [{low * 1e3:.0f}–{high * 1e3:.0f}]"

    header = [
        "target",
        "size",
        "compression",
        "cache",
        "pull",
        "to running",
        "pull share",
        "complete",
    ]
    lines = [
        [
            f"{_client(r)}/{r.runtime}",
            size_label(int(r.image_size_bytes)),
            str(r.compression),
            str(r.cache),
            ms(r.pull_s, r.pull_low, r.pull_high),
            ms(r.to_running_s, r.to_running_low, r.to_running_high),
            "—" if math.isnan(r.share) else f"{r.share:.0%}",
            f"{r.complete}/{r.trials}",
        ]
        for r in shares.itertuples(index=False)
    ]
    return "\n".join(
        [
            "pull: median [95% CI] in ms, per target, image size, compression and cache:",
            *text_table(header, lines, left=4),
        ]
    )


def shares_table(found: Pulls) -> pd.DataFrame:
    rows = []
    for r in found.shares.itertuples(index=False):
        rows.append(
            {
                "target": f"{_client(r)}/{r.runtime}",
                "size": size_label(int(r.image_size_bytes)),
                "compression": r.compression,
                "cache": r.cache,
                "pull share of to running": _pct(r.share, r.share_low, r.share_high),
                "to running (ms)": _ms(r.to_running_s),
                "pull (ms)": _ms(r.pull_s),
                "loopback bytes": "—" if math.isnan(r.pull_lo_bytes) else f"{r.pull_lo_bytes:.0f}",
                "trials complete": f"{r.complete}/{r.trials}",
            }
        )
    return pd.DataFrame(rows)


def slopes_table(found: Pulls) -> pd.DataFrame:
    rows = []
    for r in found.slopes.itertuples(index=False):
        if math.isnan(r.estimate):
            cell = "—"
        elif math.isnan(r.low):
            cell = f"{r.estimate:.2f} ({r.note})"
        else:
            cell = f"{r.estimate:.2f} [{r.low:.2f}, {r.high:.2f}] ({r.status})"
        rows.append(
            {
                "target": f"{_client(r)}/{r.runtime}",
                "compression": r.compression,
                "cache": r.cache,
                "ms per MB": cell,
                "sizes (MB)": r.sizes,
            }
        )
    return pd.DataFrame(rows)


def compression_table(found: Pulls) -> pd.DataFrame:
    """zstd / gzip per target, size, cache and measure, paired by round."""
    rows = []
    for r in found.compression.itertuples(index=False):
        if pd.isna(r.ratio):
            cell = f"— ({r.note})"
        elif pd.isna(r.ratio_low):
            cell = f"{r.ratio:.3f} ({r.note})"
        else:
            cell = f"{r.ratio:.3f} [{r.ratio_low:.3f}–{r.ratio_high:.3f}], p = {r.p:.3g}"
        rows.append(
            {
                "target": f"{_client(r)}/{r.runtime}",
                "size": size_label(int(r.image_size_bytes)),
                "cache": r.cache,
                "measure": r.measure,
                "gzip (ms)": _ms(r.gzip_s),
                "zstd (ms)": _ms(r.zstd_s),
                "zstd / gzip": cell,
                "rounds paired": r.rounds,
            }
        )
    return pd.DataFrame(rows)


def section(run_dirs: Iterable[str | Path], out_dir: str | Path, figures: str = "report"):
    """Notebook 02's pull section as HTML; one line when no run measured a pull."""
    from IPython.display import HTML

    found = write(run_dirs, out_dir, draw=figures != "none")
    if found is None:
        return HTML(f"<p>{NOTHING}</p>")
    lines = headline(found.shares) or ["No cold trial completed."]
    parts = [
        '<section id="pull">',
        "".join(f"<p><strong>{esc(s)}</strong></p>" for s in lines),
        "<p>The trial as unit: to running is the experiment's total (pull, create, start; "
        "the CRI's pod_run too) when every step succeeded; the share is the pull's part of "
        "it; medians with the order-statistic 95% CI of the median. A failed step keeps its "
        "row: a unit with fewer complete trials than trials says so.</p>",
        html_table(shares_table(found), "pull-shares"),
        "<p>Time to running per MB of image: the least-squares slope over the sizes within "
        "each round, then the mean of the rounds' slopes with its t-interval.</p>",
        html_table(slopes_table(found), "pull-slopes"),
    ]
    if len(found.compression):
        parts += [
            "<p>zstd against gzip, paired by round (the two compressions are units of one "
            "target, interleaved in each round): the Hodges–Lehmann estimate of the "
            "per-round ratio zstd / gzip with the 95% CI of its signed-rank test (below 1: "
            "zstd faster).</p>",
            html_table(compression_table(found), "pull-compression"),
        ]
    for png in found.figures:
        title = "Cold start against image size: to running (solid) and the pull (dashed)"
        parts.append(
            image_bundle(png.read_bytes(), title, caption_html=f"<h4>{esc(title)}</h4>")[
                "text/html"
            ]
        )
    parts.append("</section>")
    return HTML("".join(parts))
