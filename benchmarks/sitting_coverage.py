#!/usr/bin/env python3
"""Coverage of the concurrency section's across-runs intervals with a run-level effect
(issue 30, must-show 1).

A sitting moves the answer: on this host crun's k = 8 throughput was 70.7/s in one
sitting and ~100/s an hour later, far outside one sitting's CI. Simulated here: R runs
(sittings) of one target, each with its own run effect on the log scale (normal with sd
0, 0.1 or 0.3, or Student-t with 3 degrees of freedom scaled to 0.3: the heavy-tailed
case), then B batches of k containers as in benchmarks/percentile_coverage.py (a
shared batch effect and per-container noise). The truth is the typical sitting's value
(no run effect; the run effects have median 0): each quantity's median over batches of
a batch's own value, from 200,000 simulated batches.

Compared, per design (R = 2, 3, 5; B = 6, 20; k = 1, 4, 16) and quantity (p50, p95,
throughput):

- **across runs** (what rtlab prints when several runs of the same design are analysed
  together: ``concurrency_stats.across_runs``, Student's t over the runs' own
  estimates on the log scale);
- **pooled batches** (what one would get by pooling all runs' batches into one
  order-statistic interval, as if one sitting): its coverage falls as the run effect
  grows: why rtlab does not.

The first runs of each design also go through ``summarize`` itself (two or more run ids
in one frame), which must give the same numbers. Target for the across-runs interval:
coverage 0.93–0.97 under normal run effects at every design; the heavy-tailed case is
printed beside it.

Usage::

    .venv/bin/python benchmarks/sitting_coverage.py [--reps 1000]

Writes ``benchmarks/results/sitting_coverage.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402
from percentile_coverage import draw, frame, truth  # noqa: E402

from rtlab.analysis import concurrency_stats as cs  # noqa: E402

SHAPE = "batch-dominated"  # percentile_coverage.SHAPES: batch sd 0.30, container sd 0.10
RUN_EFFECTS = {  # name: (kind, scale)
    "none": ("normal", 0.0),
    "normal 0.1": ("normal", 0.1),
    "normal 0.3": ("normal", 0.3),
    "t3 0.3": ("t3", 0.3),
}
QUANTITIES = ("p50", "p95", "throughput")


def estimates(lat: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Each run's own estimates, as summarize makes them (the median over its batches of
    a batch's own value), for latencies shaped (analyses, runs, batches, k)."""
    out = {
        q: np.median(np.quantile(lat, cs.QUANTILES[q], axis=-1), axis=-1) for q in ("p50", "p95")
    }
    out["throughput"] = k / np.median(lat.max(axis=-1), axis=-1)
    return out


def across(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cs.across_runs over the last axis, vectorised (checked against it below)."""
    logs = np.log(values)
    n = values.shape[-1]
    half = student_t.ppf(0.975, n - 1) * logs.std(axis=-1, ddof=1) / np.sqrt(n)
    return np.exp(logs.mean(axis=-1) - half), np.exp(logs.mean(axis=-1) + half)


def pooled(lat: np.ndarray, k: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All runs' batches pooled into one order-statistic interval (as if one sitting)."""
    flat = lat.reshape(lat.shape[0], -1, k)  # (analyses, runs × batches, k)
    r, s = cs.median_ranks(flat.shape[1])
    out = {}
    for q in ("p50", "p95"):
        per = np.sort(np.quantile(flat, cs.QUANTILES[q], axis=-1), axis=-1)
        out[q] = (per[:, r - 1], per[:, s - 1])
    spans = np.sort(flat.max(axis=-1), axis=-1)
    out["throughput"] = (k / spans[:, s - 1], k / spans[:, r - 1])
    return out


def simulate(rng, reps: int, n_runs: int, n_batches: int, k: int, kind: str, scale: float):
    lat = draw(rng, reps * n_runs * n_batches, k, SHAPE).reshape(reps, n_runs, n_batches, k)
    if kind == "t3":
        effect = scale * rng.standard_t(3, (reps, n_runs)) / np.sqrt(3.0)  # sd of t3: sqrt(3)
    else:
        effect = rng.normal(0, scale, (reps, n_runs))
    return lat * np.exp(effect)[:, :, None, None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="simulated analyses per design")
    parser.add_argument("--checked", type=int, default=5, help="analyses also summarised")
    args = parser.parse_args()
    rng = np.random.default_rng(30)
    rows, mismatches = [], 0
    for k in (1, 4, 16):
        true = truth(rng, k, SHAPE)
        for effect, (kind, scale) in RUN_EFFECTS.items():
            for n_runs in (2, 3, 5):
                for n_batches in (6, 20):
                    lat = simulate(rng, args.reps, n_runs, n_batches, k, kind, scale)
                    est = estimates(lat, k)
                    pool = pooled(lat, k)
                    hits = {}
                    for q in QUANTITIES:
                        low, high = across(est[q])
                        hits[q] = (
                            float(((low <= true[q]) & (true[q] <= high)).mean()),
                            float(((pool[q][0] <= true[q]) & (true[q] <= pool[q][1])).mean()),
                        )
                    for rep in range(args.checked):  # the same numbers through summarize
                        both = pd.concat(
                            [
                                frame(lat[rep, i], rep, k).assign(run_id=f"run{i}")
                                for i in range(n_runs)
                            ],
                            ignore_index=True,
                        )
                        s = cs.summarize(both).iloc[0]
                        for q in QUANTITIES:
                            cols = (
                                [f"{q}_s", f"{q}_low_s", f"{q}_high_s"]
                                if q != "throughput"
                                else [
                                    "throughput_per_s",
                                    "throughput_low_per_s",
                                    "throughput_high_per_s",
                                ]
                            )
                            mine = cs.across_runs(list(est[q][rep]))[:3]
                            ok = np.allclose(s[cols].to_numpy(float), mine)
                            ok = ok and s["ci_kind"] == f"across {n_runs} runs"
                            mismatches += not ok
                    for q in QUANTITIES:
                        rows.append(
                            {
                                "k": k,
                                "run_effect": effect,
                                "runs": n_runs,
                                "batches": n_batches,
                                "quantity": q,
                                "across_runs": hits[q][0],
                                "pooled_batches": hits[q][1],
                            }
                        )
            print(f"k={k}, run effect {effect}: done", flush=True)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print("coverage of 95% intervals: across runs (printed) | pooled batches (not printed)")
    print(
        table.pivot_table(
            index=["run_effect", "runs", "batches"],
            columns="quantity",
            values=["across_runs", "pooled_batches"],
            aggfunc="mean",
        )
        .round(3)
        .to_string()
    )
    normal = table[table.run_effect.str.startswith("normal") | (table.run_effect == "none")]
    mc = 3 * np.sqrt(0.95 * 0.05 / args.reps)
    ok = bool(normal.across_runs.between(0.93 - mc, 0.97 + mc).all()) and mismatches == 0
    print(
        f"across runs, normal run effects: {normal.across_runs.min():.3f}–"
        f"{normal.across_runs.max():.3f} (target 0.93–0.97 within 3 MC SE {mc:.3f}); "
        f"heavy-tailed t3: {table[table.run_effect == 't3 0.3'].across_runs.min():.3f}–"
        f"{table[table.run_effect == 't3 0.3'].across_runs.max():.3f}; pooled batches with "
        f"run effect 0.3: {table[table.run_effect == 'normal 0.3'].pooled_batches.min():.3f}–"
        f"{table[table.run_effect == 'normal 0.3'].pooled_batches.max():.3f}; summarize "
        f"agreed in every checked analysis: {mismatches == 0}"
    )
    save(
        "sitting_coverage",
        {
            "reps": args.reps,
            "shape": SHAPE,
            "run_effects": RUN_EFFECTS,
            "rows": rows,
            "mismatches": mismatches,
            "ok": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
