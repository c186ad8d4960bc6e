#!/usr/bin/env python3
"""Coverage of every interval the concurrency section prints (issue 31, must-show 1).

Simulated runs go through the functions rtlab's ``concurrency_stats.summarize`` prints
from (``batch_quantile``, ``median_interval``, ``throughput``; the first runs of each
design also through ``summarize`` itself, which must give the same numbers): each batch of
k containers has a shared batch effect and per-container noise on the log scale
(three shapes: batch-dominated, container-dominated, and a bimodal container
noise like this host's after an idle gap), at 6 and 20 batches and k = 1, 2, 4, 16.
The truth of each quantity is its estimand, the median over batches of a batch's
own value (its p50, p95 or p99 of the k latencies; k / its makespan), computed
from 200,000 simulated batches. Prints, per design and quantity, how often the
printed 95% interval covered the truth, beside the distribution-free interval's exact
coverage from the binomial (0.969 at 6 batches, 0.959 at 20: inside the target band
0.93–0.97), which the simulation must match within 3 Monte Carlo standard errors, and
how often an interval was printed at all (none below MIN_BATCHES).

Usage::

    .venv/bin/python benchmarks/percentile_coverage.py [--reps 1000]

Writes ``benchmarks/results/percentile_coverage.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binom

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

from rtlab.analysis import concurrency_stats as cs  # noqa: E402

SHAPES = {
    # name: (batch effect sd, container noise sd, share of slow containers, slow factor)
    "batch-dominated": (0.30, 0.10, 0.0, 1.0),
    "container-dominated": (0.10, 0.30, 0.0, 1.0),
    "bimodal": (0.15, 0.08, 0.3, 1.5),
}
BASE_S = 0.03


def draw(rng, n_batches: int, k: int, shape: str) -> np.ndarray:
    sb, se, slow_share, slow = SHAPES[shape]
    log = (
        np.log(BASE_S)
        + rng.normal(0, sb, (n_batches, 1))
        + rng.normal(0, se, (n_batches, k))
        + np.log(slow) * (rng.random((n_batches, k)) < slow_share)
    )
    return np.exp(log)


def truth(rng, k: int, shape: str) -> dict[str, float]:
    lat = draw(rng, 200_000, k, shape)
    out = {q: float(np.median(np.quantile(lat, p, axis=1))) for q, p in cs.QUANTILES.items()}
    out["throughput"] = float(k / np.median(lat.max(axis=1)))
    return out


def frame(lat: np.ndarray, rep: int, k: int) -> pd.DataFrame:
    n_batches = lat.shape[0]
    return pd.DataFrame(
        {
            "run_id": "sim",
            "experiment": "concurrency",
            "client": "oci",
            "runtime": f"r{rep}",
            "round": np.repeat(np.arange(n_batches), k),
            "trial": np.repeat(np.arange(n_batches), k),
            "warmup": False,
            "step": "run",
            "wall_s": lat.ravel(),
            "ok": True,
            "pace_s": 0.0,
            "k": k,
            "batch": np.repeat(np.arange(n_batches), k) + rep * 10_000,
            "instance": np.tile(np.arange(k), n_batches),
            "offset_s": 0.0,
        }
    )


def intervals(lat: np.ndarray, k: int) -> dict[str, tuple[float, float, float]]:
    """What summarize prints for one run, from the functions it uses (estimate, low, high)."""
    out = {}
    for q, p in cs.QUANTILES.items():
        per = np.array([cs.batch_quantile(row, p) for row in lat])
        out[q] = (float(np.median(per)), *cs.median_interval(per))
    spans = lat.max(axis=1)
    low, high = cs.median_interval(spans)
    out["throughput"] = (cs.throughput(k, spans), k / high, k / low)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="simulated runs per design")
    parser.add_argument("--checked", type=int, default=10, help="runs per design also summarised")
    args = parser.parse_args()
    rng = np.random.default_rng(31)
    rows = []
    mismatches = 0
    for shape in SHAPES:
        for k in (1, 2, 4, 16):
            true = truth(rng, k, shape)
            for n_batches in (5, 6, 20):
                got = []
                for rep in range(args.reps):
                    lat = draw(rng, n_batches, k, shape)
                    got.append(intervals(lat, k))
                    if rep < args.checked:  # the same numbers through summarize itself
                        s = cs.summarize(frame(lat, rep, k)).iloc[0]
                        for q, (est, low, high) in got[-1].items():
                            cols = (
                                (f"{q}_s", f"{q}_low_s", f"{q}_high_s")
                                if q != "throughput"
                                else (
                                    "throughput_per_s",
                                    "throughput_low_per_s",
                                    "throughput_high_per_s",
                                )
                            )
                            mine = np.array([est, low, high])
                            theirs = s[list(cols)].to_numpy(dtype=float)
                            if not np.allclose(mine, theirs, equal_nan=True):
                                mismatches += 1
                for q in (*cs.QUANTILES, "throughput"):
                    est = np.array([g[q][0] for g in got])
                    low = np.array([g[q][1] for g in got])
                    high = np.array([g[q][2] for g in got])
                    printed = np.isfinite(low)
                    covered = (low <= true[q]) & (true[q] <= high)
                    rows.append(
                        {
                            "shape": shape,
                            "k": k,
                            "batches": n_batches,
                            "quantity": q,
                            "printed": float(printed.mean()),
                            "coverage": float(covered[printed].mean()) if printed.any() else None,
                            "estimate_inside": bool(((low <= est) & (est <= high))[printed].all()),
                        }
                    )
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    wide = table.pivot_table(
        index=["shape", "batches", "k"], columns="quantity", values="coverage", aggfunc="first"
    )
    print("coverage of the printed 95% intervals (NaN: none printed at that design)")
    print(wide.round(3).to_string())
    # the distribution-free interval's coverage is known exactly from the binomial; the
    # simulation must agree with it within 3 Monte Carlo standard errors
    exact = {n: 1 - 2 * binom.cdf(cs.median_ranks(n)[0] - 1, n, 0.5) for n in (6, 20)}
    table["exact"] = table["batches"].map(exact)
    se = np.sqrt(table["exact"] * (1 - table["exact"]) / args.reps)
    table["agrees"] = (table["coverage"] - table["exact"]).abs() <= 3 * se
    print("exact coverage: " + ", ".join(f"{v:.4f} at {n} batches" for n, v in exact.items()))
    shown = table[table["printed"] > 0]
    ok = (
        all(0.93 <= v <= 0.97 for v in exact.values())
        and bool(shown["agrees"].all())
        and (table[table.batches < cs.MIN_BATCHES].printed == 0).all()
    )
    print(f"summarize gave the same estimate and interval in every checked run: {mismatches == 0}")
    ok = ok and mismatches == 0
    print(
        f"simulated coverage agrees with the exact one (3 MC SE) everywhere: "
        f"{bool(shown['agrees'].all())} (range {shown['coverage'].min():.3f}–"
        f"{shown['coverage'].max():.3f}, {args.reps} runs a design); none printed below "
        f"{cs.MIN_BATCHES} batches: {bool((table[table.batches < cs.MIN_BATCHES].printed == 0).all())}; "
        f"every estimate inside its interval: {bool(shown['estimate_inside'].all())}"
    )
    save(
        "percentile_coverage",
        {
            "reps": args.reps,
            "shapes": SHAPES,
            "rows": rows,
            "mismatches": mismatches,
            "ok": bool(ok),
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
