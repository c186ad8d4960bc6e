"""The hosts view (issue 34): runs of several hosts side by side, from what
``rtlab compare --across-hosts --out DIR`` wrote (analysis/hosts.py).

``hosts.png``: one row per host, each step's median and 95% CI per target (from that
host's own summary.csv), on one time axis shared by the rows, so a host's rows read
against the others'. ``hosts.html``: one self-contained page (the figure embedded,
no script, a Content-Security-Policy forbidding every request) with what differs
between the hosts and the unpaired table; every string from a run is escaped.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd

from rtlab.analysis.hosts import DIFFERENCES_FILE, HOSTS_FILE, UNPAIRED_LABEL
from rtlab.report.html import esc
from rtlab.report.html import table as html_table

FIGURE = "hosts.png"
PAGE = "hosts.html"
HOST_DIRS = ("host-a", "host-b")


def figure(out_dir: Path, labels: list[str]) -> Path:
    """One row per host: per step, each target's median with its 95% CI, in ms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    summaries = [pd.read_csv(out_dir / d / "summary.csv") for d in HOST_DIRS]
    targets = sorted({f"{r.client}/{r.runtime}" for s in summaries for r in s.itertuples()})
    steps = list(dict.fromkeys(st for s in summaries for st in s["step"]))
    fig, axes = plt.subplots(
        len(summaries),
        1,
        figsize=(9, 2.6 * len(summaries)),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    width = 0.8 / max(1, len(targets))
    for ax, summary, label in zip(axes[:, 0], summaries, labels):
        for i, target in enumerate(targets):
            client, runtime = target.split("/", 1)
            rows = summary[(summary["client"] == client) & (summary["runtime"] == runtime)]
            rows = rows.set_index("step").reindex(steps)
            x = [j - 0.4 + width * (i + 0.5) for j in range(len(steps))]
            med = rows["median_s"] * 1e3
            err = [med - rows["ci_low_s"] * 1e3, rows["ci_high_s"] * 1e3 - med]
            ax.errorbar(x, med, yerr=err, fmt="o", capsize=3, label=target)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.margins(y=0.12)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_ylabel("ms (median, 95% CI)")
        ax.set_title(label, loc="left", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].set_xticks(range(len(steps)), steps)
    axes[0, 0].legend(fontsize=8, ncol=min(4, len(targets)), loc="upper right")
    fig.suptitle("each host's own medians (paired within the host); across hosts: unpaired")
    fig.tight_layout()
    path = out_dir / FIGURE
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def page(out_dir: Path) -> Path:
    """hosts.html: what differs, the unpaired table, the figure."""
    across = pd.read_csv(out_dir / HOSTS_FILE, keep_default_na=False)
    diffs = pd.read_csv(out_dir / DIFFERENCES_FILE, keep_default_na=False)
    labels = [c for c in diffs.columns if c not in ("fact", "differs")]
    png = figure(out_dir, labels)
    differ = diffs[diffs["differs"].astype(str) == "True"].drop(columns="differs")
    differ = differ.replace("", "none")
    shown = across.copy()
    for col in ("ratio", "ci_low", "ci_high"):
        shown[col] = pd.to_numeric(shown[col], errors="coerce").map("{:.3f}".format)
    for col in ("median_a_ms", "median_b_ms"):
        shown[col] = pd.to_numeric(shown[col], errors="coerce").map("{:.3g}".format)
    shown["p_adj"] = pd.to_numeric(shown["p_adj"], errors="coerce").map("{:.2g}".format)
    cols = [
        "client",
        "runtime",
        "network",
        "step",
        "median_a_ms",
        "median_b_ms",
        "ratio",
        "ci_low",
        "ci_high",
        "p_adj",
        "verdict",
    ]
    shown = shown[[c for c in cols if c in shown.columns]]
    data = base64.b64encode(png.read_bytes()).decode()
    title = f"Hosts: {' vs '.join(labels)}"
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{esc(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1em auto}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:2px 6px}}</style>
</head><body>
<h1>{esc(title)}</h1>
<p>Across hosts every comparison is <b>{esc(UNPAIRED_LABEL)}</b>: B/A is the two-sample
Hodges–Lehmann ratio of the hosts' times with the 95% CI that inverts the Mann–Whitney
test, p Holm-adjusted over the table. Within each host the answers are paired by round
(host-a/, host-b/).</p>
<h2>What differs between the hosts</h2>
{html_table(differ) if len(differ) else "<p>Nothing recorded differs but the host's name.</p>"}
<h2>Each host, one row</h2>
<img alt="each host's medians per target and step" src="data:image/png;base64,{data}">
<h2>Host B against host A, per target and step (unpaired)</h2>
{html_table(shown)}
</body></html>
"""
    path = out_dir / PAGE
    path.write_text(html)
    return path
