"""The report's section on starts under load (issue 21): the knee per target, p50/p95 and
throughput against k with their CIs (the figure and a table), and the paired comparisons
between targets at each k.

:func:`section` reads what :func:`rtlab.analysis.analysis.analyze` wrote for the ``concurrency``
rows (``concurrency.csv``, ``concurrency_knees.csv``, ``concurrency_comparisons.csv`` and
``figures/concurrency/``): it computes nothing new, so the section says exactly what the
tables say. Every string from data is escaped (views.esc). One line when no concurrency
run is loaded.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rtlab.analysis import concurrency_stats as cs
from rtlab.report.html import esc
from rtlab.report.html import table as html_table

if TYPE_CHECKING:  # IPython is imported lazily: only notebooks render the section
    from IPython.display import HTML

_NONE = (
    "<p>No concurrency run in these runs (<code>rtlab collect --experiment concurrency "
    "--parallel 1,2,4,8</code> measures one).</p>"
)


def _table_of(result, name: str) -> pd.DataFrame | None:
    for path in getattr(result, "tables", []) or []:
        if Path(path).name == name and Path(path).exists():
            return pd.read_csv(path)
    return None


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _with_ci(est, low, high, scale: float, unit: str) -> str:
    if not _finite(est):
        return "—"
    ci = (
        f"[{float(low) * scale:.3g}–{float(high) * scale:.3g}]"
        if _finite(low) and _finite(high)
        else f"(no CI: fewer than {cs.MIN_BATCHES} batches)"
    )
    return f"{float(est) * scale:.3g} {unit} {ci}"


def latency_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per target, mode and k: p50, p95 and throughput, each with its 95% CI (bootstrap over
    batches), the batches, the failed containers and the p95 launch skew."""
    rows = []
    for r in summary.sort_values(["client", "runtime", "mode", "k"]).itertuples(index=False):
        rows.append(
            {
                "target": f"{r.client}/{r.runtime}",
                "mode": r.mode,
                "k": int(r.k),
                "p50 [95% CI]": _with_ci(r.p50_s, r.p50_low_s, r.p50_high_s, 1000, "ms"),
                "p95 [95% CI]": _with_ci(r.p95_s, r.p95_low_s, r.p95_high_s, 1000, "ms"),
                "throughput [95% CI]": _with_ci(
                    r.throughput_per_s, r.throughput_low_per_s, r.throughput_high_per_s, 1, "/s"
                ),
                "CI describes": cs.ci_kind(r),
                "batches": int(r.batches),
                "failed": int(r.failed),
                "launch skew p95": "—"
                if not _finite(r.skew_p95_s)
                else f"{float(r.skew_p95_s) * 1000:.3g} ms",
            }
        )
    return pd.DataFrame(rows)


def knee_lines(knees: pd.DataFrame) -> list[str]:
    """One sentence per target and mode: where its throughput stops growing."""
    lines = []
    for r in knees.sort_values(["client", "runtime", "mode"]).itertuples(index=False):
        what = "runs to exit" if r.mode == "run" else "create+start"
        peak = (
            f"; its highest throughput {float(r.peak_throughput_per_s):.3g}/s at k={int(r.peak_k)}"
            if _finite(r.peak_throughput_per_s)
            else ""
        )
        where = (
            f"throughput stops growing at k={int(r.knee)}"
            if _finite(r.knee)
            else f"throughput still grows at k={int(r.k_max)} (the knee lies beyond)"
        )
        lines.append(f"{r.client}/{r.runtime}, {what}: {where}{peak}.")
    return lines


def comparisons_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """The paired comparisons between targets at each k, one row per pair."""
    rows = []
    order = ["mode", "k", "quantity", "family", "a", "b"]
    for r in pairs.sort_values(order).itertuples(index=False):
        rows.append(
            {
                "mode": r.mode,
                "k": int(r.k),
                "batch quantity": r.quantity,
                "family": r.family,
                "a vs b": f"{r.a} vs {r.b}",
                "ratio a/b [Holm-adjusted 95% CI]": f"{r.ratio:.3f} [{r.ratio_ci_low:.3f}–{r.ratio_ci_high:.3f}]"
                if _finite(r.ratio)
                else "—",
                "p_adj (Holm)": f"{r.p_adj:.2g}" if _finite(r.p_adj) else "—",
                "verdict about a": r.verdict,
                "paired rounds": int(r.n_rounds),
            }
        )
    return pd.DataFrame(rows)


def _figures(result) -> list[str]:
    out = []
    for path in sorted(Path(p) for p in getattr(result, "figures", []) or []):
        if path.suffix == ".png" and path.parent.name == "concurrency":
            mode = path.stem.partition("_")[2]
            title = ("runs to exit" if mode == "run" else "create+start") + " against k"
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            out.append(
                f"<h4>{esc(title)}</h4><p>p50 and p95 latency and throughput against k, "
                f"one line per runtime, a panel row per client; each a batch's own, the "
                f"median over batches; bands: 95% CIs (the table's \u201cCI describes\u201d "
                f"column says which kind).</p>"
                f'<img src="data:image/png;base64,{data}" alt="{esc(title)}" '
                f'style="max-width:100%"/>'
            )
    return out


def sittings_sentence(summary: pd.DataFrame) -> str:
    """What the section's CIs describe: one sitting, or several runs (sittings)."""
    kinds = [cs.ci_kind(r) for r in summary.to_dict("records")]
    one = (
        "A CI marked \u201cthis sitting\u201d describes one run: another sitting of the same "
        "host can move its estimate by tens of per cent, far outside it."
    )
    if all(k == cs.SITTING for k in kinds):
        return one
    runs = sorted({k for k in kinds if k != cs.SITTING})
    text = (
        f"Rows marked {', '.join(chr(8220) + k + chr(8221) for k in runs)} come from runs "
        "of the same design in different sittings: each run's own estimate (its median over "
        "batches), their geometric mean, and a 95% CI by Student's t over the runs on the "
        "log scale, so it includes how much the sitting moves the answer; with 2 runs "
        "(one degree of freedom) it is wide by design."
    )
    return text + (" " + one if cs.SITTING in kinds else "")


def _cores(metas: Sequence[dict]) -> int | None:
    cores = {m.get("host", {}).get("cores") for m in metas} - {None}
    return int(next(iter(cores))) if len(cores) == 1 else None


def section(result, metas: Sequence[dict] = (), alpha: float = 0.05) -> HTML:
    """The report's concurrency section as HTML (one line without a concurrency run)."""
    from IPython.display import HTML

    summary = _table_of(result, cs.SUMMARY_FILE)
    if summary is None or summary.empty:
        return HTML(_NONE)
    knees = _table_of(result, cs.KNEES_FILE)
    pairs = _table_of(result, cs.COMPARISONS_FILE)
    cores = _cores(metas)
    heads = cs.headlines(summary, knees if knees is not None else cs.knees(summary), cores=cores)
    parts = [
        "<p>k containers of one target released together from one barrier, each timed from "
        "the release (run: <code>run</code> of <code>true</code> to exit; up: create+start to "
        "running). The unit is the batch (containers of one batch share the host at the "
        "same moment, so they are not independent; batches are): each pN is a batch's "
        "N-th percentile of its k latencies, and the throughput a batch's k / makespan, "
        "each given as the median over batches with the median's distribution-free 95% "
        f"CI (order statistics over batches; none below {cs.MIN_BATCHES} batches, where "
        "even the minimum–maximum covers less than 95%). "
        + sittings_sentence(summary)
        + " The knee: the smallest k beyond which throughput never grows by more than the "
        "margin."
        + (
            f" This host has {cores} cores: k above {cores} queues for them, so a knee "
            "there is the finding, not a defect."
            if cores
            else ""
        )
        + "</p>",
        "<h4>The knee per target</h4><ul>"
        + "".join(f"<li>{esc(line)}</li>" for line in knee_lines(knees))
        + "</ul>"
        if knees is not None and len(knees)
        else "",
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in heads) + "</ul>",
        *_figures(result),
        "<h4>p50, p95 and throughput at each k</h4>",
        html_table(latency_table(summary)),
        f"<h4>Targets compared at each k (paired by round; Holm at alpha {esc(alpha)})</h4>",
    ]
    if pairs is None or pairs.empty:
        parts.append("<p>No comparison: each client and runtime has a single target here.</p>")
    else:
        parts.append(
            "<p>Each batch gives one sample per quantity: the p50 (median) and p95 of "
            "its containers' latencies (at k=1 the p50 only). Ratio a/b: the "
            "Hodges–Lehmann estimate of the per-round log ratio with its signed-rank "
            "CI, Holm-adjusted (at the level Holm's step-down stopped at in its family, "
            "so it excludes 1 exactly when the verdict is faster or slower); p_adj: the "
            "same inversion's p, Holm within each family, quantity "
            "and k (as the lifecycle's comparisons; "
            f"<code>{esc(cs.COMPARISONS_FILE)}</code>).</p>"
        )
        parts.append(html_table(comparisons_table(pairs)))
    return HTML('<section id="concurrency">' + "".join(parts) + "</section>")
