"""Rootless beside rootful: what running a client as rtlab's unprivileged user costs.

The cost (:func:`costs`) is one estimate with its own interval per runtime and
client (shift.py): paired by round (a target runs once per mode a round, so
rootless and rootful trials of one round ran back to back), the Hodges–Lehmann
estimate of the per-round difference ``rootless − rootful`` in seconds with the
signed-rank inversion CI; unpaired (fewer than stats.MIN_PAIRED_ROUNDS common
rounds), the two-sample Hodges–Lehmann shift with the Mann–Whitney inversion
CI. The ratio, its CI and the verdict (faster / slower / equivalent within the
margin / inconclusive) are the client comparison's (stats.compare: ``oci``
against ``oci-rootless`` over one runtime), read through :func:`modes.pairs`.

The headline sentence (:func:`headline`): "Rootless costs runc +X ms (95% CI …)
per lifecycle through its own CLI (oci); through podman +Y ms (…)". The
report's section (:func:`section`): that sentence, the paired table, how the
rootless targets ran (run.json: the user, podman's storage driver and network,
the wrapper's own cost) and a figure (median per mode with its 95% CI, and the
cost with its CI, per runtime and client).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rtlab.analysis import modes, plots, shift, stats
from rtlab.core import experiments
from rtlab.core.conditions import format_pace
from rtlab.report.html import _cell, esc

if TYPE_CHECKING:  # IPython is imported lazily: only notebooks render the section
    from IPython.display import HTML

COST_COLUMNS = [
    "experiment",
    "client",
    "runtime",
    "step",
    "n_rootful",
    "n_rootless",
    "median_rootful_s",
    "median_rootless_s",
    "cost_s",
    "cost_ci_low_s",
    "cost_ci_high_s",
    "cost_ci_coverage",
    "n_rounds",
    "cost_method",
]
PAIRED_METHOD = (
    "Hodges–Lehmann estimate of the per-round difference rootless − rootful; CI "
    "by inverting the Wilcoxon signed-rank test"
)
UNPAIRED_METHOD = (
    "two-sample Hodges–Lehmann shift rootless − rootful; CI by inverting the Mann–Whitney U test"
)


def _modes(trials: pd.DataFrame | None) -> bool:
    return (
        trials is not None
        and "mode" in trials.columns
        and trials["mode"].astype(str).eq("rootless").any()
    )


def costs(
    trials: pd.DataFrame | None,
    step: str = stats.TOTAL_STEP,
    *,
    confidence: float = stats.CONFIDENCE,
) -> pd.DataFrame:
    """Per experiment, runtime and client measured in both modes: what rootless adds to
    ``step`` in seconds, with its CI (columns :data:`COST_COLUMNS`; none without rootless
    rows)."""
    if not _modes(trials):
        return pd.DataFrame(columns=[*COST_COLUMNS, "pace_s"])
    assert trials is not None  # _modes: rows of both modes
    paces = (
        sorted(pd.to_numeric(trials["pace_s"], errors="coerce").dropna().unique())
        if "pace_s" in trials.columns
        else []
    )
    if len(paces) > 1:  # each pace its own condition: a cost per pace, never pooled
        pace = pd.to_numeric(trials["pace_s"], errors="coerce")
        return pd.concat(
            [
                costs(trials[pace == p], step, confidence=confidence).assign(pace_s=float(p))
                for p in paces
            ],
            ignore_index=True,
        )
    frame = stats.flag_outliers(trials)  # samples: warm-ups out, totals in, "c-rootless"
    frame = frame[stats.is_sample(frame) & (frame["step"] == step).to_numpy()]
    rows = []
    for experiment, rows_e in stats.by_experiment(frame):
        data = stats._Samples(rows_e).step(step)
        clients = set(rows_e["client"].astype(str))
        for runtime in plots.ordered_names(rows_e["runtime"].astype(str), plots.KNOWN_RUNTIMES):
            for client in sorted(c for c in clients if not c.endswith(modes.SUFFIX)):
                a = stats.target_label(client, runtime)
                b = stats.target_label(client + modes.SUFFIX, runtime)
                if a not in data.values or b not in data.values:
                    continue
                x, y = data.values[a], data.values[b]
                both = data.paired_rounds(a, b)
                if both is not None:
                    est = shift.paired(data.wide[b][both] - data.wide[a][both], confidence)[0]
                    n_rounds, method = int(both.sum()), PAIRED_METHOD
                else:
                    est = shift.unpaired(y, x, confidence)[0]
                    n_rounds, method = 0, UNPAIRED_METHOD
                rows.append(
                    {
                        "experiment": experiment,
                        "client": client,
                        "runtime": runtime,
                        "step": step,
                        "n_rootful": x.size,
                        "n_rootless": y.size,
                        "median_rootful_s": float(np.median(x)),
                        "median_rootless_s": float(np.median(y)),
                        "cost_s": float(est.estimate),
                        "cost_ci_low_s": float(est.low),
                        "cost_ci_high_s": float(est.high),
                        "cost_ci_coverage": float(est.coverage),
                        "n_rounds": n_rounds,
                        "cost_method": method,
                    }
                )
    out = pd.DataFrame(rows, columns=COST_COLUMNS)
    out["pace_s"] = float(paces[0]) if paces else np.nan
    return out


def ci_verdict(low: float, high: float) -> str:
    """What the cost's own 95% CI says about rootless: slower (CI above 0), faster (below),
    or no clear difference (it holds 0); "too few trials" without a CI."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "too few trials"
    return "slower" if low > 0 else "faster" if high < 0 else "no clear difference"


def pace_flips(table: pd.DataFrame) -> list[str]:
    """One sentence per runtime and client whose rootless verdict (the cost CI's) differs
    between two paces, both settled (slower or faster): "… flips with the pace: …"."""
    out: list[str] = []
    if "pace_s" not in table.columns or table["pace_s"].nunique() < 2:
        return out
    for (runtime, client), rows in table.groupby(["runtime", "client"], sort=False):
        said = [
            (r.pace_s, ci_verdict(r.cost_ci_low_s, r.cost_ci_high_s))
            for r in rows.sort_values("pace_s").itertuples(index=False)
        ]
        settled = {v for _, v in said if v in ("slower", "faster")}
        if len(settled) > 1:
            out.append(
                f"rootless {runtime} through {_through(client)} flips with the pace: "
                + ", ".join(f"{v} at pace {format_pace(p)}" for p, v in said)
            )
    return out


def cgroup_lines(metas: Sequence[dict]) -> list[str]:
    """Which cgroup each mode's containers got (run.json targets' ``cgroup``, probed by
    the OCI client before the run), one line per target and mode."""
    lines = []
    for meta in metas:
        for t in meta.get("targets") or []:
            c = t.get("config") or {}
            if c.get("cgroup"):
                mode = t.get("mode", c.get("mode")) or "rootful"
                lines.append(f"{t.get('client')}/{t.get('runtime')} {mode}: {c['cgroup']}")
    return list(dict.fromkeys(lines))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:+.3g} ms"


def _interval(low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no 95% CI: too few trials"
    return f"95% CI {low * 1e3:+.3g} to {high * 1e3:+.3g} ms"


def _through(client: str) -> str:
    return "its own CLI (oci)" if client == "oci" else client


def _per(step: str, experiment: str) -> str:
    if step == stats.TOTAL_STEP:
        return (
            "per lifecycle"
            if experiment == experiments.DEFAULT_EXPERIMENT
            else f"per {experiment} total"
        )
    return f"per {step}"


def headline(
    comparisons: pd.DataFrame, trials: pd.DataFrame | None, step: str = stats.TOTAL_STEP
) -> str:
    """One sentence per runtime: what rootless costs it through each client, each cost
    beside its own CI and the verdict that CI gives (:func:`ci_verdict`: slower, faster
    or no clear difference; unadjusted, as the CI) ("" without rootless rows).

    "Rootless costs runc +12.3 ms (95% CI +10.1 to +14.2 ms, paired over 12 rounds:
    slower) per lifecycle through its own CLI (oci); through podman +45.6 ms (…)."
    """
    table = costs(trials, step)
    if table.empty:
        return ""
    if table["pace_s"].nunique() > 1:
        return _paced_headline(table, step)
    del comparisons  # the verdict beside a cost is its own CI's (issue 31: on one footing)
    sentences = []
    for (experiment, runtime), rows in table.groupby(["experiment", "runtime"], sort=False):
        parts = []
        for r in rows.itertuples(index=False):
            how = f"paired over {r.n_rounds} rounds" if r.n_rounds else "unpaired"
            verdict = ci_verdict(r.cost_ci_low_s, r.cost_ci_high_s)
            said = (
                f"{_ms(r.cost_s)} ({_interval(r.cost_ci_low_s, r.cost_ci_high_s)}, {how}"
                + (f": {verdict}" if verdict != "too few trials" else "")
                + ")"
            )
            parts.append((r.client, said))
        (first_client, first), rest = parts[0], parts[1:]
        text = (
            f"Rootless costs {runtime} {first} {_per(step, experiment)} through "
            f"{_through(first_client)}"
        )
        text += "".join(f"; through {_through(c)} {s}" for c, s in rest)
        sentences.append(text + ".")
    return " ".join(sentences)


def _paced_headline(table: pd.DataFrame, step: str) -> str:
    """Several paces: the cost at each pace with its own CI and what that CI says, per
    runtime and client, then the verdicts that flip with the pace, named."""
    sentences = []
    for (experiment, runtime), rows in table.groupby(["experiment", "runtime"], sort=False):
        parts = []
        for client, by_client in rows.groupby("client", sort=False):
            at = [
                f"at pace {format_pace(r.pace_s)} {_ms(r.cost_s)} "
                f"({_interval(r.cost_ci_low_s, r.cost_ci_high_s)}, "
                + (f"paired over {r.n_rounds} rounds" if r.n_rounds else "unpaired")
                + f": {ci_verdict(r.cost_ci_low_s, r.cost_ci_high_s)})"
                for r in by_client.sort_values("pace_s").itertuples(index=False)
            ]
            parts.append(f"through {_through(client)} " + ", ".join(at))
        sentences.append(
            f"Rootless costs {runtime} {_per(step, experiment)} " + "; ".join(parts) + "."
        )
    flips = pace_flips(table)
    if flips:
        sentences.append(
            "The verdict depends on the idle gap: " + "; ".join(flips) + " (a verdict is "
            "the cost's own 95% CI excluding 0, unadjusted)."
        )
    else:
        sentences.append("No verdict flips between the paces measured.")
    return " ".join(sentences)


def paired_table(
    trials: pd.DataFrame | None, comparisons: pd.DataFrame, step: str = stats.TOTAL_STEP
) -> pd.DataFrame:
    """The report's table: per runtime and client, the medians of each mode, the cost in ms
    with its CI, the ratio rootless/rootful with its CI, and the verdict."""
    table = costs(trials, step)
    ratios = {(p["client"], p["runtime"]): p for p in modes.pairs(comparisons, step)}
    margin = (
        comparisons["margin"].iloc[0]
        if len(comparisons) and "margin" in comparisons
        else stats.MARGIN
    )
    out = []
    paced = table["pace_s"].nunique() > 1
    for r in table.itertuples(index=False):
        p = ratios.get((r.client, r.runtime), {})
        verdict = p.get("verdict", "not compared")
        if verdict == stats.EQUIVALENT:
            verdict = f"equivalent within ±{margin:.0%}"
        if paced:  # per pace: the cost CI's own verdict (the comparisons pool no paces)
            p, verdict = {}, ci_verdict(r.cost_ci_low_s, r.cost_ci_high_s)
        out.append(
            {
                "runtime": r.runtime,
                "client": r.client,
                **({"pace": format_pace(r.pace_s)} if paced else {}),
                "n rootful / rootless": f"{r.n_rootful} / {r.n_rootless}",
                "median rootful ms": round(r.median_rootful_s * 1e3, 1),
                "median rootless ms": round(r.median_rootless_s * 1e3, 1),
                "cost ms": round(r.cost_s * 1e3, 1),
                "95% CI of the cost, ms": (
                    f"{r.cost_ci_low_s * 1e3:+.1f} to {r.cost_ci_high_s * 1e3:+.1f}"
                    if np.isfinite(r.cost_ci_low_s)
                    else "too few trials"
                ),
                "ratio rootless/rootful": round(p["ratio"], 3) if p else "—",
                "Holm-adjusted 95% CI of the ratio": (
                    f"{p['ratio_ci_low']:.3f}–{p['ratio_ci_high']:.3f}"
                    if p and np.isfinite(p["ratio_ci_low"])
                    else "—"
                ),
                "verdict": verdict,
                "paired": f"over {r.n_rounds} rounds" if r.n_rounds else "no (unpaired)",
            }
        )
    return pd.DataFrame(out)


def figure(trials: pd.DataFrame | None, summary: pd.DataFrame, step: str = stats.TOTAL_STEP):
    """Left: the median of ``step`` per runtime and client in each mode, its 95% CI as the
    bar's whisker; right: the cost (rootless − rootful) with its CI. None without rootless
    rows."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    table = costs(trials, step)
    if table.empty:
        return None
    table = table[table["experiment"] == table["experiment"].iloc[0]]
    summ = summary[
        (summary["step"] == step)
        & (summary.get("experiment", experiments.DEFAULT_EXPERIMENT) == table["experiment"].iloc[0])
    ]
    fig = Figure(figsize=(11, 0.9 + 0.75 * len(table)))
    left, right = fig.subplots(1, 2, sharey=True)
    paced = table["pace_s"].nunique() > 1  # a row per pace: its medians, no whisker
    labels = [
        f"{r.runtime} · {r.client}" + (f" @ {format_pace(r.pace_s)}" if paced else "")
        for r in table.itertuples(index=False)
    ]
    y = np.arange(len(table))
    for offset, mode, suffix, hatch in (
        (-0.2, "rootful", "", ""),
        (0.2, "rootless", modes.SUFFIX, "//"),
    ):
        med, low, high = [], [], []
        for r in table.itertuples(index=False):
            if paced:
                med.append(getattr(r, f"median_{mode}_s") * 1e3)
                low.append(0.0)
                high.append(0.0)
                continue
            row = summ[(summ["client"] == r.client + suffix) & (summ["runtime"] == r.runtime)]
            m = float(row["median_s"].iloc[0]) if len(row) else np.nan
            lo = float(row["ci_low_s"].iloc[0]) if len(row) else np.nan
            hi = float(row["ci_high_s"].iloc[0]) if len(row) else np.nan
            med.append(m * 1e3)
            low.append((m - lo) * 1e3 if np.isfinite(lo) else 0.0)
            high.append((hi - m) * 1e3 if np.isfinite(hi) else 0.0)
        colours = [plots.runtime_colour(r) for r in table["runtime"]]
        left.barh(
            y + offset,
            med,
            height=0.4,
            color=colours,
            hatch=hatch,
            edgecolor="black",
            xerr=[low, high],
            capsize=3,
            label=mode,
        )
    left.set_yticks(y, labels)
    left.invert_yaxis()
    left.set_xlabel(
        f"median {step} (ms), each pace's (no whisker)"
        if paced
        else f"median {step} (ms); whisker: its 95% CI (none: too few trials)"
    )
    left.legend(
        handles=[
            Patch(facecolor="white", edgecolor="black", label="rootful"),
            Patch(facecolor="white", edgecolor="black", hatch="//", label="rootless"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=2,
        frameon=False,
    )
    cost = table["cost_s"].to_numpy() * 1e3
    lo = table["cost_ci_low_s"].to_numpy() * 1e3
    hi = table["cost_ci_high_s"].to_numpy() * 1e3
    has = np.isfinite(lo) & np.isfinite(hi)
    right.errorbar(
        cost[has],
        y[has],
        xerr=[cost[has] - lo[has], hi[has] - cost[has]],
        fmt="o",
        color="black",
        capsize=4,
        label="cost, 95% CI",
    )
    if (~has).any():
        right.plot(
            cost[~has],
            y[~has],
            "o",
            mfc="white",
            color="black",
            label="cost, no CI (too few trials)",
        )
    right.axvline(0, color="grey", lw=1)
    right.set_xlabel("rootless − rootful (ms), Hodges–Lehmann; line: its 95% CI")
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.suptitle(f"Rootless beside rootful, {_per(step, table['experiment'].iloc[0])}")
    fig.tight_layout()
    return fig


def _how(metas: Sequence[dict]) -> list[str]:
    """How the rootless targets ran, from run.json (user, storage, network, the wrapper)."""
    lines = []
    for meta in metas:
        for t in meta.get("targets") or []:
            c = t.get("config") or {}
            if t.get("mode", c.get("mode")) != "rootless":
                continue
            bits = [f"as {c.get('user')} (uid {c.get('uid')})"]
            if c.get("storage_driver"):
                bits.append(
                    f"storage {c.get('storage_driver')}"
                    + (f" ({c['overlay']})" if c.get("overlay") else "")
                )
            if c.get("network"):
                bits.append(f"network {c.get('network')}")
            if c.get("cgroup"):
                bits.append(f"cgroup {c.get('cgroup')}")
            lines.append(f"{t.get('client')}/{t.get('runtime')}: " + ", ".join(bits))
        w = meta.get("rootless_wrapper") or {}
        if "overhead_median_s" in w:
            lines.append(
                f"the wrapper ({w.get('command')}) costs "
                f"{w['overhead_median_s'] * 1e3:.2f} ms a call (median of "
                f"{w.get('samples')} beside /bin/true, not subtracted: the rows "
                "include it)"
            )
        for label, reason in (meta.get("unavailable") or {}).items():
            if "rootless" in str(label):
                lines.append(f"not measured: {label}: {reason}")
    return list(dict.fromkeys(lines))


def section(
    trials: pd.DataFrame | None,
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    metas: Sequence[dict] = (),
    step: str = stats.TOTAL_STEP,
) -> HTML:
    """The report's rootless section as HTML (every string from data escaped); one line
    when the runs hold no rootless rows."""
    import base64
    import io

    from IPython.display import HTML

    if not _modes(trials):
        return HTML(
            "<p>No rootless trials in these runs (<code>--modes rootful,rootless</code> "
            "measures the clients as rtlab's unprivileged user beside root).</p>"
        )
    text = headline(comparisons, trials, step)
    table = paired_table(trials, comparisons, step)
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_cell(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    how = "".join(f"<li>{esc(line)}</li>" for line in _how(metas))
    groups = cgroup_lines(metas)
    cgroup_text = (
        "<p>Which cgroup each mode's containers got (probed before the run: one container "
        "created, its /proc/&lt;pid&gt;/cgroup read against rtlab's own): "
        + "; ".join(esc(line) for line in groups)
        + ". A container with no cgroup of its own skips the cgroup set-up a rootful "
        "one pays for: the two modes are not like with like there.</p>"
        if groups
        else "<p>Which cgroup each mode's containers got was not recorded in these runs.</p>"
    )
    img = ""
    fig = figure(trials, summary, step)
    if fig is not None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        img = (
            f'<img src="data:image/png;base64,{data}" alt="rootless beside rootful per '
            'runtime and client, medians and costs with 95% CIs" style="max-width:100%"/>'
        )
    return HTML(
        '<section id="rootless">'
        f"<p><strong>{esc(text) or 'No runtime and client measured in both modes.'}</strong></p>"
        + cgroup_text
        + "<p>Cost: the Hodges–Lehmann estimate of rootless − rootful with the 95% CI of "
        "its own rank test (paired by round when the modes share enough rounds); the "
        "verdict beside a cost (in the sentence above) is that CI's own: slower or faster "
        "when it excludes 0, unadjusted for the other costs. In the table, the ratio and "
        "its verdict are the client comparison of the rootless client against the "
        "rootful one over the same runtime (Holm-adjusted"
        + (
            "; with several paces the table's verdict is the cost CI's, per pace"
            if costs(trials, step)["pace_s"].nunique() > 1
            else ""
        )
        + ").</p>"
        f'<table class="rootless"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        + (f"<p>How the rootless targets ran:</p><ul>{how}</ul>" if how else "")
        + f"{img}</section>"
    )
