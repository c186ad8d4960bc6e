"""Starts under load: latency percentiles, makespan, throughput and the knee (issue 21).

Pure statistics on the tidy frame of the ``concurrency`` experiment (never draws).
The unit is the **batch** (the k containers released together): containers of one
batch share the host at the same moment, so they are not independent; batches are.

Per target (client × runtime, and pace when several), mode and k, every quantity is
a batch's own, summarised by its **median over batches** with the median's
distribution-free 95% interval (order statistics over batches, the ranks from the
binomial: :func:`median_interval`; coverage at least 95% for any distribution of
independent batches, exactly 0.969 at 6 batches and 0.959 at 20; no interval below
:data:`MIN_BATCHES` = 6, where even the minimum–maximum covers less):

- latency: each container's time from the release — mode ``run``: its ``run``
  row; mode ``up``: its ``create`` + ``start`` (each stage released together);
  ``p50``, ``p95``, ``p99``: a batch's percentile of its k containers' latencies
  (linear interpolation; at k = 1 every one is the single latency), the median
  over batches. A pooled tail percentile over all containers with a bootstrap over
  batches covered its value 5–54% of the time (issue 31): a percentile bootstrap
  cannot reach past the sample's maximum;
- makespan: per batch, the slowest container (``up``: slowest create + slowest
  start, the second stage being released once the first is over); its median;
- throughput: containers per second of a batch, k / its makespan; the median over
  batches is k / the median makespan, its interval from the makespan's;
- a batch with a failed container gives no makespan (its ok containers still
  give latencies); the table counts the failed containers.

benchmarks/percentile_coverage.py checks these intervals' coverage by simulation at
6 and 20 batches and k = 1, 2, 4, 16.

The **knee** of a target and mode (docs/DESIGN.md, "Starts under load"): over the
k measured, k₁ < k₂ < …, the smallest kᵢ beyond which the throughput never grows by
more than the margin, max T(kⱼ), j > i, ≤ (1 + margin) · T(kᵢ) (a plateau that
growth follows is no knee); None when there is no such kᵢ (the knee lies beyond the
largest k).

**Between targets at each k, and between runs** the unit is again the batch:
:func:`batch_rows` turns each batch into one tidy row per mode and quantity —
``p50`` (the median of its containers' latencies) and ``p95`` (their 95th
percentile; none at k = 1, where it is the p50) — named by the step ``"<mode> <q>
k=<k>"`` (``"run p95 k=8"``), ``ok`` only when every container of the batch is.
:func:`compare_targets` hands those rows to :func:`rtlab.analysis.stats.compare`: targets
are paired by round (one batch of each per round, interleaved), each pair gets
the Hodges–Lehmann ratio with its signed-rank CI and p, Holm within each family,
quantity and k — exactly the lifecycle's comparison, one k at a time.
``rtlab compare`` gates two concurrency runs on the same rows (compare.py:
per target, mode, quantity and k).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import binom
from scipy.stats import t as student_t

from rtlab.analysis import stats
from rtlab.core.options import DEFAULT_MARGIN

EXPERIMENT = "concurrency"
MODES = {"run": ("run",), "up": ("create", "start")}  # mode → the steps one latency sums
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
CONFIDENCE = 0.95
N_BOOT = 2000
# fewer batches give no interval: the median's distribution-free 95% interval over n
# batches needs n >= 6 (from 6 batches' minimum to maximum it covers 1 - 2/2^6 = 0.969)
MIN_BATCHES = 6
# several runs (sittings) of one target and k: each run's own estimate, then a t interval
# over the runs on the log scale (n − 1 degrees of freedom), at least this many runs
MIN_RUNS = 2
SITTING = "this sitting"  # the ci_kind of one run's intervals (order statistics over batches)
KEYS = ["client", "runtime", "pace_s", "mode", "k"]
GATED = {"p50": 0.50, "p95": 0.95}  # per-batch quantities compared between targets and runs

SUMMARY_COLUMNS = [
    *KEYS,
    "batches",
    "containers",
    "failed",
    *(c for q in QUANTILES for c in (f"{q}_s", f"{q}_low_s", f"{q}_high_s")),
    "makespan_median_s",
    "throughput_per_s",
    "throughput_low_per_s",
    "throughput_high_per_s",
    "skew_p95_s",
    "runs",
    "ci_kind",
]


def containers(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per measured container and mode: ``latency_s`` (NaN when it failed),
    ``stages`` (mode up: create and start apart), ``offset_s``, its batch and k.

    Warm-up rows and other experiments' rows are left out: a run of another
    experiment analysed together never pools with these (its rows are not read).
    """
    frame = trials[
        (trials["experiment"].astype(str) == EXPERIMENT)
        & ~trials["warmup"].astype(str).str.lower().isin(["true", "1"])
    ]
    if frame.empty:
        return pd.DataFrame(
            columns=[
                *KEYS,
                "batch",
                "instance",
                "latency_s",
                "ok",
                "offset_s",
                "create_s",
                "start_s",
            ]
        )
    frame = frame.assign(
        k=pd.to_numeric(frame["k"]).astype(int),
        batch=pd.to_numeric(frame["batch"]).astype(int),
        instance=pd.to_numeric(frame["instance"]).astype(int),
        pace_s=pd.to_numeric(frame.get("pace_s", np.nan), errors="coerce"),
        offset_s=pd.to_numeric(frame["offset_s"], errors="coerce"),
        ok=frame["ok"].astype(str).str.lower().eq("true")
        & np.isfinite(pd.to_numeric(frame["wall_s"], errors="coerce")),
    )
    if "run_id" in frame.columns and frame["run_id"].nunique() > 1:
        # batch ids count from 0 in each run: runs merged in one analysis get one id per
        # (run, batch), so two runs' batch 3 are never taken for one batch
        frame = frame.assign(batch=frame.groupby(["run_id", "batch"], sort=True).ngroup())
    blocks = []
    for mode, steps in MODES.items():
        rows = frame[frame["step"].isin(steps)]
        if rows.empty:
            continue
        index = [
            "client",
            "runtime",
            "pace_s",
            "k",
            "batch",
            "instance",
            *(c for c in ("run_id", "round") if c in frame.columns),
        ]
        wide = (
            rows.assign(wall_s=pd.to_numeric(rows["wall_s"], errors="coerce"))
            .set_index([*index, "step"])[["wall_s", "ok", "offset_s"]]
            .unstack("step")
        )
        ok = np.ones(len(wide), dtype=bool)
        latency = np.zeros(len(wide))
        for s in steps:
            if ("ok", s) not in wide.columns:
                ok[:] = False
                continue
            ok &= wide[("ok", s)].fillna(False).astype(bool).to_numpy()
            latency = latency + wide[("wall_s", s)].astype(float).to_numpy()
        block = wide.index.to_frame(index=False)
        block["mode"] = mode
        block["ok"] = ok
        block["latency_s"] = np.where(ok, latency, np.nan)
        block["offset_s"] = wide[("offset_s", steps[0])].astype(float).to_numpy()
        for s in ("create", "start"):
            block[f"{s}_s"] = (
                wide[("wall_s", s)].astype(float).to_numpy()
                if mode == "up" and ("wall_s", s) in wide.columns
                else np.nan
            )
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)


def _makespan(group: pd.DataFrame) -> float:
    """One batch's makespan: the slowest container (mode up: slowest create + slowest start);
    NaN when one of its containers failed."""
    if not group["ok"].all():
        return float("nan")
    if group["mode"].iloc[0] == "up":
        return float(group["create_s"].max() + group["start_s"].max())
    return float(group["latency_s"].max())


def batches(cont: pd.DataFrame) -> pd.DataFrame:
    """One row per batch: makespan, its containers' launch skew (max ``offset_s``), k."""
    rows = []
    for key, group in cont.groupby([*KEYS, "batch"], sort=True, dropna=False):
        rows.append(
            {
                **dict(zip([*KEYS, "batch"], key)),
                "makespan_s": _makespan(group),
                "skew_s": float(group["offset_s"].max()),
                "failed": int((~group["ok"]).sum()),
            }
        )
    return pd.DataFrame(rows, columns=[*KEYS, "batch", "makespan_s", "skew_s", "failed"])


def throughput(k: int, makespans: np.ndarray) -> float:
    """Containers per second of a typical batch: k / the median makespan (NaN with none)."""
    makespans = makespans[np.isfinite(makespans)]
    return float(k / np.median(makespans)) if len(makespans) else float("nan")


def median_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """The 1-based ranks (r, n + 1 − r) of the distribution-free interval for the median
    of ``n`` independent values: the narrowest symmetric pair whose coverage,
    1 − 2·P(Binomial(n, ½) ≤ r − 1), is at least ``confidence``; None when even the
    minimum and maximum cover less (n ≤ 5 at 95%)."""
    best = None
    for r in range(1, n // 2 + 1):
        if 1 - 2 * float(binom.cdf(r - 1, n, 0.5)) >= confidence:
            best = (r, n + 1 - r)
        else:
            break
    return best


def median_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The median's distribution-free interval over ``values`` (NaN values left out):
    order statistics at :func:`median_ranks`; (NaN, NaN) with too few values."""
    values = np.sort(values[np.isfinite(values)])
    ranks = median_ranks(len(values), confidence)
    if ranks is None:
        return float("nan"), float("nan")
    return float(values[ranks[0] - 1]), float(values[ranks[1] - 1])


def across_runs(estimates: Sequence[float], confidence: float = CONFIDENCE):
    """Several runs' (sittings') own estimates of one quantity → (estimate, low, high, n).

    The estimate is their geometric mean, the interval Student's t over their logs
    (n − 1 degrees of freedom): each run's estimate is the truth times a run effect
    (the sitting: what else the host did, its caches, its clock) times its own sampling
    error, independent between runs, so the runs are the unit and the interval includes
    the between-sitting variation that a within-run interval cannot see. With 2 runs
    the t quantile is 12.7: wide by design (one degree of freedom for a variance), and
    it always contains both runs' estimates. (NaN, NaN, NaN, n) below :data:`MIN_RUNS`
    finite estimates. benchmarks/sitting_coverage.py checks its coverage with a
    run-level effect."""
    logs = np.log(np.asarray([e for e in estimates if np.isfinite(e) and e > 0], float))
    n = len(logs)
    if n < MIN_RUNS:
        return float("nan"), float("nan"), float("nan"), n
    centre = float(logs.mean())
    half = float(student_t.ppf(0.5 + confidence / 2, n - 1) * logs.std(ddof=1) / np.sqrt(n))
    return float(np.exp(centre)), float(np.exp(centre - half)), float(np.exp(centre + half)), n


def batch_quantile(latencies: np.ndarray, p: float) -> float:
    """A batch's ``p`` quantile of its ok containers' latencies (NaN when none is ok)."""
    ok = latencies[np.isfinite(latencies)]
    return float(np.quantile(ok, p)) if len(ok) else float("nan")


def summarize(
    trials: pd.DataFrame, *, confidence: float = CONFIDENCE, n_boot: int = N_BOOT, seed: int = 0
) -> pd.DataFrame:
    """Per target, pace, mode and k: each latency percentile and the throughput as the
    median over batches of each batch's own (its percentile of its k containers; k / its
    makespan), with the median's distribution-free 95% interval over batches (none with
    fewer than :data:`MIN_BATCHES`); the median makespan and the p95 launch skew.
    ``n_boot`` and ``seed`` are kept for callers; these intervals draw nothing."""
    del n_boot, seed
    cont = containers(trials)
    per_batch = batches(cont)
    out = []
    for key, group in cont.groupby(KEYS, sort=True, dropna=False):
        k = int(key[KEYS.index("k")])
        ids = np.array(sorted(group["batch"].unique()))
        lat_by_batch = [g["latency_s"].to_numpy(dtype=float) for _, g in group.groupby("batch")]
        spans = per_batch.set_index([*KEYS, "batch"]).loc[key]["makespan_s"].reindex(ids)
        spans = spans.to_numpy(dtype=float)
        all_lat = np.concatenate(lat_by_batch)
        row = {
            **dict(zip(KEYS, key)),
            "batches": len(ids),
            "containers": len(all_lat),
            "failed": int(np.isnan(all_lat).sum()),
        }
        for q, p in QUANTILES.items():
            per = np.array([batch_quantile(lat, p) for lat in lat_by_batch])
            finite = per[np.isfinite(per)]
            low, high = median_interval(per, confidence)
            row.update(
                {
                    f"{q}_s": float(np.median(finite)) if len(finite) else np.nan,
                    f"{q}_low_s": low,
                    f"{q}_high_s": high,
                }
            )
        finite = spans[np.isfinite(spans)]
        span_low, span_high = median_interval(spans, confidence)
        row.update(
            makespan_median_s=float(np.median(finite)) if len(finite) else np.nan,
            throughput_per_s=throughput(k, spans),
            # a longer makespan is a lower throughput: the interval's ends swap
            throughput_low_per_s=k / span_high if np.isfinite(span_high) else np.nan,
            throughput_high_per_s=k / span_low if np.isfinite(span_low) else np.nan,
            skew_p95_s=float(np.nanquantile(group.groupby("batch")["offset_s"].max(), 0.95))
            if group["offset_s"].notna().any()
            else np.nan,
            runs=1,
            ci_kind=SITTING,
        )
        if "run_id" in group.columns and group["run_id"].nunique() >= MIN_RUNS:
            row.update(_across_runs_row(group, per_batch, key, k, confidence))
        out.append(row)
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def _across_runs_row(group, per_batch, key, k: int, confidence: float) -> dict:
    """The quantities of one target, pace, mode and k from several runs: each run's own
    estimate (the median over its batches, as for one run), combined by
    :func:`across_runs`."""
    spans_of = per_batch.set_index([*KEYS, "batch"]).loc[key]["makespan_s"]
    per_run: dict[str, list[float]] = {q: [] for q in (*QUANTILES, "throughput")}
    for _, run in group.groupby("run_id", sort=True):
        lat_by_batch = [g["latency_s"].to_numpy(dtype=float) for _, g in run.groupby("batch")]
        for q, p in QUANTILES.items():
            per = np.array([batch_quantile(lat, p) for lat in lat_by_batch])
            per = per[np.isfinite(per)]
            per_run[q].append(float(np.median(per)) if len(per) else np.nan)
        spans = spans_of.reindex(sorted(run["batch"].unique())).to_numpy(dtype=float)
        per_run["throughput"].append(throughput(k, spans))
    row: dict = {}
    for q in QUANTILES:
        est, low, high, n = across_runs(per_run[q], confidence)
        row.update({f"{q}_s": est, f"{q}_low_s": low, f"{q}_high_s": high})
    est, low, high, n = across_runs(per_run["throughput"], confidence)
    row.update(
        throughput_per_s=est,
        throughput_low_per_s=low,
        throughput_high_per_s=high,
        makespan_median_s=k / est if np.isfinite(est) else np.nan,
        runs=n,
        ci_kind=f"across {n} runs",
    )
    return row


def knee(
    ks: Sequence[int], throughputs: Sequence[float], *, margin: float = DEFAULT_MARGIN
) -> int | None:
    """The smallest k beyond which throughput never grows by more than ``margin``.

    That is, the smallest kᵢ with max T(kⱼ), j > i, ≤ (1 + margin) · T(kᵢ). A plateau that growth
    follows is no knee. None when there is no such kᵢ (the knee is beyond the largest
    k), or with fewer than two k. A NaN throughput ends the curve at the k before it.
    """
    pairs = sorted((int(k), float(t)) for k, t in zip(ks, throughputs))
    finite = next((i for i, (_, t) in enumerate(pairs) if not np.isfinite(t)), len(pairs))
    ended = finite < len(pairs)  # a NaN ends the curve: the k before it is the last
    pairs = pairs[:finite]
    for i, (k, t) in enumerate(pairs):
        later = [t_next for _, t_next in pairs[i + 1 :]]
        if (later or ended) and all(t_next <= (1 + margin) * t for t_next in later):
            return k
    return None


def knees(summary: pd.DataFrame, *, margin: float = DEFAULT_MARGIN) -> pd.DataFrame:
    """The knee of each target, pace and mode (column ``knee``; NA: beyond the largest k)."""
    rows = []
    for key, group in summary.groupby(
        ["client", "runtime", "pace_s", "mode"], sort=True, dropna=False
    ):
        kn = knee(group["k"], group["throughput_per_s"], margin=margin)
        top = (
            group.loc[group["throughput_per_s"].idxmax()]
            if group["throughput_per_s"].notna().any()
            else None
        )
        rows.append(
            {
                **dict(zip(["client", "runtime", "pace_s", "mode"], key)),
                "knee": pd.NA if kn is None else kn,
                "k_max": int(group["k"].max()),
                "peak_throughput_per_s": np.nan if top is None else top["throughput_per_s"],
                "peak_k": pd.NA if top is None else int(top["k"]),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "client",
            "runtime",
            "pace_s",
            "mode",
            "knee",
            "k_max",
            "peak_throughput_per_s",
            "peak_k",
        ],
    )


def ci_kind(row) -> str:
    """What a summary row's intervals describe: "this sitting" (one run's batches) or
    "across N runs" (the runs' own estimates; :func:`across_runs`)."""
    kind = row.get("ci_kind") if hasattr(row, "get") else getattr(row, "ci_kind", None)
    return str(kind) if isinstance(kind, str) and kind else SITTING


def _ms(x: float) -> str:
    return f"{x * 1000:.3g} ms" if x < 1 else f"{x:.3g} s"


def headlines(
    summary: pd.DataFrame,
    knee_table: pd.DataFrame,
    *,
    cores: int | None = None,
    quantile: str = "p95",
) -> list[str]:
    """One sentence per client and mode: each runtime's p95 from the smallest to the
    largest k (estimates with their CIs), and where its throughput stops growing."""
    return [
        f"through {client}, {what}: {text}"
        for client, what, text in _headline_parts(
            summary, knee_table, cores=cores, quantile=quantile
        )
    ]


def answers(
    summary: pd.DataFrame, knee_table: pd.DataFrame, *, cores: int | None = None
) -> list[tuple[str, str]]:
    """The report's first screen for a concurrency run: (question, answer) per client and
    mode, the answer being :func:`headlines`' sentence (a runtime's name first, as is)."""
    return [
        (f"How do starts through {client} degrade under load ({what})?", text)
        for client, what, text in _headline_parts(summary, knee_table, cores=cores)
    ]


def _headline_parts(
    summary: pd.DataFrame,
    knee_table: pd.DataFrame,
    *,
    cores: int | None = None,
    quantile: str = "p95",
) -> list[tuple[str, str, str]]:
    lines = []
    for (client, mode), group in summary.groupby(["client", "mode"], sort=True):
        parts = []
        found_knee = False
        for runtime, g in group.groupby("runtime", sort=True):
            g = g.sort_values("k")
            lo, hi = g.iloc[0], g.iloc[-1]
            kn = knee_table[
                (knee_table["client"] == client)
                & (knee_table["runtime"] == runtime)
                & (knee_table["mode"] == mode)
            ]["knee"]
            kn = kn.iloc[0] if len(kn) else pd.NA
            found_knee = found_knee or not pd.isna(kn)
            where = (
                f"its throughput stops growing at k={int(kn)}"
                if not pd.isna(kn)
                else f"its throughput still grows at k={int(hi['k'])}"
            )
            ratio = hi[f"{quantile}_s"] / lo[f"{quantile}_s"]

            def est(r) -> str:
                low, high = r[f"{quantile}_low_s"], r[f"{quantile}_high_s"]
                ci = (
                    f"95% CI {_ms(low)}–{_ms(high)}, {ci_kind(r)}"
                    if np.isfinite(low)
                    else f"no CI: fewer than {MIN_BATCHES} batches"
                )
                return f"{_ms(r[f'{quantile}_s'])} ({ci}) at k={int(r['k'])}"

            parts.append(
                f"{runtime}'s {quantile} goes from {est(lo)} to {est(hi)} "
                f"({ratio:.1f}× as long; ratio of the estimates, no interval); {where}"
            )
        what = "runs to exit" if mode == "run" else "create+start"
        line = "; ".join(parts) + "."
        if cores and int(group["k"].max()) > cores:
            line += f" k above {cores} exceeds this host's {cores} cores" + (
                ": the knee is the finding, not a defect." if found_knee else "."
            )
        lines.append((str(client), what, line))
    return lines


def console_table(trials: pd.DataFrame, *, seed: int = 0) -> str:
    """What ``rtlab collect`` prints for the concurrency rows: per target and mode, p50
    [95% CI over batches] in ms at each k, and the throughput at each k."""
    s = summarize(trials, seed=seed)
    if s.empty:
        return "no concurrency rows to tabulate"

    def num(x: float) -> str:  # three significant digits, never 1.24e+03
        return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"

    def cell(est, low, high, scale=1000.0):
        if not np.isfinite(est):
            return "—"
        ci = "no CI" if not np.isfinite(low) else f"{num(low * scale)}–{num(high * scale)}"
        return f"{num(est * scale)} [{ci}]"

    ks = sorted(int(k) for k in s["k"].unique())
    lines = [
        "concurrency: a batch's p50 latency in ms, median over batches [95% CI, order "
        "statistics over batches] at each k, then throughput in containers/s [95% CI]; "
        + (
            "the CIs describe this sitting (one run): another sitting can move them by tens "
            "of per cent"
            if (s["ci_kind"] == SITTING).all()
            else "rows of several runs: the geometric mean of the runs' own estimates with "
            "a t interval across the runs"
        )
    ]
    head = f"{'target':<16}{'mode':<6}" + "".join(f"  {'k=' + str(k):>22}" for k in ks)
    lines.append(head)
    for (client, runtime, mode), g in s.groupby(["client", "runtime", "mode"], sort=True):
        by_k = {int(r.k): r for r in g.itertuples(index=False)}
        p50 = "".join(
            f"  {cell(by_k[k].p50_s, by_k[k].p50_low_s, by_k[k].p50_high_s) if k in by_k else '—':>22}"
            for k in ks
        )
        thr = "".join(
            f"  {cell(by_k[k].throughput_per_s, by_k[k].throughput_low_per_s, by_k[k].throughput_high_per_s, 1.0) if k in by_k else '—':>22}"
            for k in ks
        )
        lines.append(f"{client + '/' + runtime:<16}{mode:<6}{p50}")
        lines.append(f"{'':<16}{'/s':<6}{thr}")
    return "\n".join(lines)


SUMMARY_FILE = "concurrency.csv"
KNEES_FILE = "concurrency_knees.csv"
COMPARISONS_FILE = "concurrency_comparisons.csv"  # compare_targets


def findings(
    trials: pd.DataFrame, *, margin: float = DEFAULT_MARGIN, seed: int = 0, cores: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(summary, knees, headline sentences) of the concurrency rows of ``trials``."""
    s = summarize(trials, seed=seed)
    kn = knees(s, margin=margin)
    return s, kn, headlines(s, kn, cores=cores) if len(s) else []


def step_label(mode: str, quantity: str, k: int) -> str:
    """The step name of one batch quantity: ``"run p95 k=8"``."""
    return f"{mode} {quantity} k={int(k)}"


def parse_step(step: str) -> tuple[str, str, int] | None:
    """(mode, quantity, k) of a :func:`step_label`; None for any other step."""
    parts = str(step).split(" ")
    if (
        len(parts) != 3
        or parts[0] not in MODES
        or parts[1] not in GATED
        or not parts[2].startswith("k=")
    ):
        return None
    try:
        return parts[0], parts[1], int(parts[2][2:])
    except ValueError:
        return None


BATCH_ROW_COLUMNS = [
    "run_id",
    "experiment",
    "client",
    "runtime",
    "pace_s",
    "round",
    "trial",
    "warmup",
    "step",
    "wall_s",
    "user_s",
    "sys_s",
    "ok",
    "error",
    "batch",
    "k",
]


def batch_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The concurrency rows of ``trials`` as one tidy row per batch, mode and quantity.

    ``step`` is :func:`step_label` (``"run p50 k=4"``), ``wall_s`` the batch's
    quantity of its containers' latencies (:data:`GATED`), ``ok`` only when every
    container of the batch is ok (``error`` then counts the failed ones), ``round``
    the batch's round: what the comparisons between targets and the run-to-run
    gate are computed on (one sample per batch: containers of a batch are not
    independent). Warm-ups are left out; other experiments' rows are not read.
    """
    cont = containers(trials)
    if cont.empty or "round" not in cont.columns:
        return pd.DataFrame(columns=BATCH_ROW_COLUMNS)
    if "run_id" not in cont.columns:
        cont = cont.assign(run_id="")
    rows = []
    keys = ["run_id", "client", "runtime", "pace_s", "mode", "k", "batch"]
    for key, group in cont.groupby(keys, sort=True, dropna=False):
        info = dict(zip(keys, key))
        failed = int((~group["ok"]).sum())
        lat = group["latency_s"].to_numpy(dtype=float)
        for q, p in GATED.items():
            if q != "p50" and int(info["k"]) == 1:
                continue  # a batch of one has no tail of its own: its p95 is its p50
            rows.append(
                {
                    "run_id": info["run_id"],
                    "experiment": EXPERIMENT,
                    "client": info["client"],
                    "runtime": info["runtime"],
                    "pace_s": info["pace_s"],
                    "round": int(group["round"].iloc[0]),
                    "trial": int(group["round"].iloc[0]),
                    "warmup": False,
                    "step": step_label(info["mode"], q, info["k"]),
                    "wall_s": float(np.quantile(lat, p)) if not failed else np.nan,
                    "user_s": np.nan,
                    "sys_s": np.nan,
                    "ok": not failed,
                    "error": f"{failed} of {len(group)} containers failed" if failed else "",
                    "batch": int(info["batch"]),
                    "k": int(info["k"]),
                }
            )
    return pd.DataFrame(rows, columns=BATCH_ROW_COLUMNS)


def with_batch_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """``trials`` with its concurrency rows replaced by :func:`batch_rows` (the other
    experiments' rows as they are): what ``rtlab compare`` gates on."""
    if "experiment" not in trials.columns:
        return trials
    conc = trials["experiment"].astype(str) == EXPERIMENT
    if not conc.any():
        return trials
    return pd.concat([trials[~conc], batch_rows(trials)], ignore_index=True)


COMPARISON_COLUMNS = ["pace_s", "mode", "quantity", "k"]


def compare_targets(
    trials: pd.DataFrame, *, alpha: float, margin: float = DEFAULT_MARGIN, seed: int = 0
) -> pd.DataFrame:
    """Paired comparisons between targets at each k (:func:`rtlab.analysis.stats.compare` on the
    batch rows): the runtimes through each client and the clients over each runtime, per
    pace, mode, quantity (p50, p95 of a batch) and k; Holm within each family, quantity
    and k. Columns: ``pace_s``, ``mode``, ``quantity``, ``k``, then
    :data:`rtlab.analysis.stats.COMPARISON_COLUMNS`; no rows without two targets."""
    rows = batch_rows(trials)
    blocks = []
    for pace, group in rows.groupby("pace_s", sort=True, dropna=False):
        table = stats.compare(group.drop(columns=["pace_s"]), alpha=alpha, seed=seed, margin=margin)
        if table.empty:
            continue
        parsed = []
        for step in table["step"]:
            labels = parse_step(step)
            if labels is None:  # batch_rows names every step with step_label
                raise ValueError(f"not a concurrency batch step: {step!r}")
            parsed.append(labels)
        table.insert(0, "k", [p[2] for p in parsed])
        table.insert(0, "quantity", [p[1] for p in parsed])
        table.insert(0, "mode", [p[0] for p in parsed])
        table.insert(0, "pace_s", pace)
        blocks.append(table)
    if not blocks:
        return pd.DataFrame(columns=[*COMPARISON_COLUMNS, *stats.COMPARISON_COLUMNS])
    out = pd.concat(blocks, ignore_index=True)
    return out.sort_values(
        ["pace_s", "mode", "k", "quantity", "family", "a", "b"], kind="stable"
    ).reset_index(drop=True)
