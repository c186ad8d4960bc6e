"""The hosts view (issue 34): runs of several hosts side by side — notebook 02's hosts
section (:func:`section`, the main report) and the page ``rtlab compare --across-hosts
--out DIR`` writes (:func:`page`), both from analysis/hosts.py.

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

from rtlab.analysis import frames, hosts
from rtlab.analysis.hosts import DIFFERENCES_FILE, HOSTS_FILE, UNPAIRED_LABEL
from rtlab.report.html import esc, image_bundle
from rtlab.report.html import table as html_table

FIGURE = "hosts.png"
PAGE = "hosts.html"
HOST_DIRS = ("host-a", "host-b")
SECTION_DIR = "hosts"  # notebook 02's hosts section: its tables and figure under out_dir/hosts
NONE = (
    "One host measured these runs: nothing to compare across hosts (give `rtlab report "
    "--runs` runs of several hosts, e.g. what `rtlab fleet gather` wrote, and this section "
    "compares them)."
)


def _target(r) -> str:
    """client/runtime as the summaries name it (the CRI's network and rootless mode in the
    client, as frames.samples suffixes it)."""
    return f"{r.client}/{r.runtime}"


def figure(summaries: list[pd.DataFrame], labels: list[str], path: Path) -> Path:
    """One row per host, one column per experiment: per step, each target's median with
    its 95% CI, in ms, on a log axis shared down each column (the hosts read against each
    other)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    cmap = plt.get_cmap("tab20")  # 20 targets before a colour repeats
    every = pd.concat(summaries, ignore_index=True)
    if "experiment" not in every.columns:
        every = every.assign(experiment="lifecycle")
        summaries = [s.assign(experiment="lifecycle") for s in summaries]
    exps = list(dict.fromkeys(every["experiment"]))
    fig, axes = plt.subplots(
        len(summaries),
        len(exps),
        figsize=(max(9.0, 6.0 * len(exps)), 2.8 * len(summaries) + 0.6),
        sharex="col",
        sharey="col",
        squeeze=False,
    )
    for col, exp in enumerate(exps):
        rows_exp = every[every["experiment"] == exp]
        targets = sorted({_target(r) for r in rows_exp.itertuples()})
        steps = list(dict.fromkeys(rows_exp["step"]))
        width = 0.8 / max(1, len(targets))
        for row, (summary, label) in enumerate(zip(summaries, labels)):
            ax = axes[row, col]
            mine = summary[summary["experiment"] == exp]
            for i, target in enumerate(targets):
                rows = mine[[_target(r) == target for r in mine.itertuples()]]
                rows = rows.drop_duplicates("step").set_index("step").reindex(steps)
                x = [j - 0.4 + width * (i + 0.5) for j in range(len(steps))]
                med = rows["median_s"] * 1e3
                err = [med - rows["ci_low_s"] * 1e3, rows["ci_high_s"] * 1e3 - med]
                ax.errorbar(
                    x, med, yerr=err, fmt="o", ms=3.5, capsize=2.5, label=target, color=cmap(i % 20)
                )
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
            ax.margins(y=0.12)
            if col == 0:
                ax.set_ylabel("ms (median, 95% CI)")
            ax.set_title(f"{label} · {exp}", loc="left", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
            ax.set_xticks(
                range(len(steps)),
                steps,
                rotation=30 if len(steps) > 6 else 0,
                ha="right" if len(steps) > 6 else "center",
            )
        axes[-1, col].legend(  # below the column: over the points it would hide some
            fontsize=7,
            ncol=min(4, len(targets)),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.45 if len(steps) > 6 else -0.15),
            frameon=False,
        )
    fig.suptitle(
        "one row per host: each host's own medians (paired within the host); "
        "across hosts: unpaired",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _given(value) -> str:
    text = "" if value is None or value != value else str(value)
    return "" if text in ("nan", "None") else text


def _across_target(r) -> str:
    """A row of analysis/hosts.py's table as a target: client/runtime (network) mode."""
    network, mode = _given(getattr(r, "network", "")), _given(getattr(r, "mode", ""))
    return (
        f"{r.client}/{r.runtime}"
        + (f" ({network})" if network else "")
        + (f" {mode}" if mode and mode != "rootful" else "")
    )


def across_table(table: pd.DataFrame) -> pd.DataFrame:
    """The unpaired table as shown: per pair of hosts, target and step (the experiments,
    targets and steps in the report's order), the medians, B/A with its 95% CI, the
    Holm-adjusted p and the verdict, each labelled unpaired; the hosts' columns only
    when there are more than two hosts (else the heading names them)."""
    table = table.assign(
        _e=table.get("experiment", pd.Series("lifecycle", index=table.index)).map(
            frames.experiment_rank
        ),
        _t=[_across_target(r) for r in table.itertuples()],
        _s=table["step"].map(frames.step_rank),
    )
    table = table.sort_values(["host_b", "_e", "_t", "_s"], kind="stable").reset_index(drop=True)

    def num(col: str, fmt: str) -> pd.Series:
        return pd.to_numeric(table[col], errors="coerce").map(
            lambda v: "—" if v != v else fmt.format(v)
        )

    ratio = num("ratio", "{:.3f}")
    ci = "[" + num("ci_low", "{:.3f}") + ", " + num("ci_high", "{:.3f}") + "]"
    shown = pd.DataFrame(
        {
            "host A": table["host_a"],
            "host B": table["host_b"],
            "experiment": table.get("experiment", "lifecycle"),
            "target": table["_t"],
            "step": table["step"],
            "A median ms": num("median_a_ms", "{:.3g}"),
            "B median ms": num("median_b_ms", "{:.3g}"),
            "n A/B": table["n_a"].astype(str) + "/" + table["n_b"].astype(str),
            "B/A (typical B ÷ A trial, unpaired HL)": ratio,
            "95% CI (Brunner–Munzel)": ci.where(num("ci_low", "{:.3f}") != "—", "—"),
            "p Holm": num("p_adj", "{:.2g}"),
            "verdict": table["verdict"].astype(str) + " (unpaired)",
        }
    )
    if table["host_b"].nunique() == 1:
        shown = shown.drop(columns=["host A", "host B"])
    return shown


def verdict_counts(table: pd.DataFrame) -> str:
    """One sentence: how many rows of the unpaired table say what."""
    words = table["verdict"].astype(str).str.replace(r" on .*", "", regex=True)
    counts = words.value_counts()
    return f"{len(table)} rows (unpaired): " + ", ".join(f"{n} {w}" for w, n in counts.items())


def other_hosts(host_runs) -> list[str]:
    """The labels of every host but the first (the one the report's sections show)."""
    groups = [list(g) for g in host_runs]
    if len(groups) < 2:
        return []
    return [h.label for h in hosts.load_hosts([d for g in groups for d in g])[1:]]


def section(
    host_runs, out_dir: str | Path, *, alpha: float = 0.05, margin: float = 0.05, seed: int = 0
):
    """Notebook 02's hosts section (HTML): with runs of several hosts, which host the
    other sections show, what differs between the hosts, one figure row per host, the
    unpaired table and each host's own (paired) findings; one line with one host."""
    from IPython.display import HTML

    return HTML(section_html(host_runs, out_dir, alpha=alpha, margin=margin, seed=seed))


def section_html(
    host_runs, out_dir: str | Path, *, alpha: float = 0.05, margin: float = 0.05, seed: int = 0
) -> str:
    """:func:`section`'s HTML (every string from a run escaped)."""
    groups = [list(g) for g in host_runs]
    if len(groups) < 2:
        return f"<p>{esc(NONE)}</p>"
    found = hosts.load_hosts([d for g in groups for d in g])
    folder = Path(out_dir) / SECTION_DIR
    intro = (
        f"<p>These runs come from <b>{len(found)} hosts</b>: "
        + ", ".join(f"<b>{esc(h.label)}</b> ({len(h.metas)} run(s))" for h in found)
        + f". Every section after this one is <b>{esc(found[0].label)}</b>'s alone (the first "
        "host given), paired by round as always: runs of different hosts are never pooled. "
        "Here each host's own medians (paired within the host), what differs between the "
        f"hosts, and each other host against {esc(found[0].label)}, "
        f"<b>{esc(hosts.UNPAIRED_LABEL)}</b>: {esc(hosts.ESTIMAND)}; {esc(hosts.CI_METHOD)}; p "
        "Holm-adjusted over each pair's table, at the same pace only; a verdict of a "
        f"difference needs both the CI to exclude 1 and the adjusted p below {alpha:g} (the "
        "CI itself is not adjusted).</p>"
    )
    try:
        done = hosts.analyze_hosts(found, folder, alpha=alpha, margin=margin, seed=seed)
    except hosts.HostsError as exc:
        return '<section id="hosts">' + intro + f"<p>{esc(exc)}</p></section>"
    pair = (
        f"B = <b>{esc(found[1].label)}</b> against A = <b>{esc(found[0].label)}</b>"
        if len(found) == 2
        else f"each host B against A = <b>{esc(found[0].label)}</b>"
    )
    png = figure([r.summary for r in done.per_host], [h.label for h in found], folder / FIGURE)
    differ = hosts.differences(found, all_rows=True)
    facts = {label for label, _ in hosts.FACTS}
    differ = differ[differ["fact"].isin(facts) | differ["differs"]].astype(object)
    differ = differ.where(differ.notna(), "none")
    differ["differs"] = differ["differs"].map({True: "differs", False: ""})
    parts = [
        '<section id="hosts">',
        intro,
        "<h3>What differs between the hosts</h3>",
        "<p>The host facts each run recorded, and every runtime's and client's version "
        "that differs.</p>",
        html_table(differ, "hosts-differences"),
        image_bundle(
            png.read_bytes(),
            "each host's medians per target and step, one row per host",
            caption_html="<h3>Each host, one row</h3>",
        )["text/html"],
        f"<h3>Across hosts, per target and step: {pair} ({esc(hosts.UNPAIRED_LABEL)})</h3>",
        f"<p>{esc(verdict_counts(done.across))}.</p>",
        html_table(across_table(done.across), "hosts-across"),
        "<h3>Each host's own answers (paired by round within the host)</h3>",
    ]
    for h, result in zip(found, done.per_host):
        items = "".join(f"<li>{esc(f)}</li>" for f in result.findings) or "<li>none</li>"
        parts.append(
            f"<details><summary>{esc(h.label)}: {len(result.findings)} finding(s)</summary>"
            f"<ul>{items}</ul></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def page(out_dir: Path) -> Path:
    """hosts.html: what differs, the unpaired table, the figure."""
    across = pd.read_csv(out_dir / HOSTS_FILE, keep_default_na=False)
    diffs = pd.read_csv(out_dir / DIFFERENCES_FILE, keep_default_na=False)
    labels = [c for c in diffs.columns if c not in ("fact", "differs")]
    summaries = [pd.read_csv(out_dir / d / "summary.csv") for d in HOST_DIRS]
    png = figure(summaries, labels, out_dir / FIGURE)
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
<p>Across hosts every comparison is <b>{esc(UNPAIRED_LABEL)}</b>: {esc(hosts.ESTIMAND)};
{esc(hosts.CI_METHOD)}; p Holm-adjusted over the table. Within each host the answers are
paired by round (host-a/, host-b/).</p>
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
