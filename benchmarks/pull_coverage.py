#!/usr/bin/env python3
"""Coverage of every interval the pull section prints, at the pull experiment's design (issue 33).

Simulated pull runs go through the functions the report prints from
(``analysis/pull_stats.py``: ``trials_of``, ``shares``, ``size_slopes``,
``compression_pairs``). The design is issue 33's: image sizes 0, 50 and 200 MB, gzip
and zstd, cold and warm, every unit interleaved in each round, at 10 and 20 trials.

Per round a shared host effect ``u ~ Normal(0, 0.1)`` (log scale) moves every unit of
the round; each step of each trial has its own noise ``Normal(0, 0.15)`` and, with
probability 0.1, a one-sided ×1.5 spike (right skew, as the pulls measured here
have). The pull takes ``0.3 s + 12 ms per MB`` (zstd's per-MB part 0.8 of gzip's) when
cold, 0.05 s when warm; create 0.05 s, start 0.08 s.

The truths: each median's (the share, time to running, the pull) from 200,000
simulated trials of the unit; the slope's, the expected per-round least-squares
slope of time to running over the sizes (linear in the size, so exactly the per-MB
cost times the mean of the noise); the compression ratio's, the Hodges–Lehmann
estimand (the pseudo-median of the per-round log ratio zstd/gzip) from 4,000 rounds.
Prints how often each printed 95% interval covered its truth (target 0.93–0.97 for the
t-interval and the signed-rank inversion; at least 0.95 for the distribution-free
median intervals, which are conservative by construction) and how often it was printed.

Usage::

    .venv/bin/python benchmarks/pull_coverage.py [--reps 1000]

Writes ``benchmarks/results/pull_coverage.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save  # noqa: E402

from rtlab.analysis import pull_stats  # noqa: E402

SIZES_MB = (0, 50, 200)
COMPRESSIONS = {"gzip": 1.0, "zstd": 0.8}
CACHES = ("cold", "warm")
ROUND_SD, STEP_SD, SPIKE_P, SPIKE = 0.1, 0.15, 0.1, 1.5
BASE_S, PER_MB_S, WARM_S, CREATE_S, START_S = 0.3, 0.012, 0.05, 0.05, 0.08


def _noise(rng: np.random.Generator, shape) -> np.ndarray:
    spikes = np.where(rng.random(shape) < SPIKE_P, SPIKE, 1.0)
    return np.exp(rng.normal(0.0, STEP_SD, shape)) * spikes


def _pull_base(size_mb: float, compression: str, cache: str) -> float:
    if cache == "warm":
        return WARM_S
    return BASE_S + PER_MB_S * COMPRESSIONS[compression] * size_mb


def _units() -> list[tuple[float, str, str]]:
    return [(s, c, k) for s in SIZES_MB for c in COMPRESSIONS for k in CACHES]


def simulate(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A trials frame of one pull run of ``n`` rounds (every unit once per round)."""
    rows = []
    for r in range(n):
        u = np.exp(rng.normal(0.0, ROUND_SD))
        for size, comp, cache in _units():
            mult = _noise(rng, 3) * u
            times = {
                "pull": _pull_base(size, comp, cache) * mult[0],
                "create": CREATE_S * mult[1],
                "start": START_S * mult[2],
            }
            for step, wall in times.items():
                rows.append(
                    {
                        "experiment": "pull",
                        "warmup": False,
                        "client": "docker",
                        "runtime": "runc",
                        "network": "",
                        "compression": comp,
                        "cache": cache,
                        "image_size_bytes": int(size * pull_stats.MB),
                        "run_id": "sim",
                        "round": r,
                        "trial": r,
                        "step": step,
                        "ok": True,
                        "wall_s": wall,
                        "pull_lo_bytes": np.nan,
                    }
                )
    return pd.DataFrame(rows)


def truths(rng: np.random.Generator, big: int = 200_000, rounds: int = 4000) -> dict:
    """Each printed quantity's true value per unit (see the module docstring)."""
    medians = {}
    for size, comp, cache in _units():
        u = np.exp(rng.normal(0.0, ROUND_SD, big))
        pull = _pull_base(size, comp, cache) * _noise(rng, big) * u
        run = pull + CREATE_S * _noise(rng, big) * u + START_S * _noise(rng, big) * u
        medians[(size, comp, cache)] = {
            "share": float(np.median(pull / run)),
            "to_running_s": float(np.median(run)),
            "pull_s": float(np.median(pull)),
        }
    mean_mult = np.exp(ROUND_SD**2 / 2) * np.exp(STEP_SD**2 / 2) * (1 + SPIKE_P * (SPIKE - 1))
    slopes = {(c, "cold"): PER_MB_S * f * 1e3 * mean_mult for c, f in COMPRESSIONS.items()}
    slopes.update({(c, "warm"): 0.0 for c in COMPRESSIONS})
    ratios = {}
    for size in SIZES_MB:
        for cache in CACHES:
            u = np.exp(rng.normal(0.0, ROUND_SD, rounds))
            per = {}
            for comp in COMPRESSIONS:
                pull = _pull_base(size, comp, cache) * _noise(rng, rounds) * u
                run = pull + CREATE_S * _noise(rng, rounds) * u + START_S * _noise(rng, rounds) * u
                per[comp] = {"pull": pull, "to running": run}
            for measure in pull_stats.MEASURES:
                d = np.log(per["zstd"][measure]) - np.log(per["gzip"][measure])
                walsh = (d[:, None] + d[None, :])[np.triu_indices(rounds)] / 2
                ratios[(size, cache, measure)] = float(np.median(walsh))
    return {"medians": medians, "slopes": slopes, "ratios": ratios}


def measure(n: int, reps: int, truth: dict, rng: np.random.Generator) -> dict:
    """How often each interval covered its truth, and how often it was printed."""
    hits: dict[str, list[int]] = {}
    printed: dict[str, list[int]] = {}

    def count(name: str, low: float, high: float, true: float) -> None:
        shown = bool(np.isfinite(low) and np.isfinite(high))
        printed.setdefault(name, []).append(int(shown))
        if shown:
            hits.setdefault(name, []).append(int(low <= true <= high))

    for _ in range(reps):
        trials = pull_stats.trials_of(simulate(n, rng))
        for r in pull_stats.shares(trials).itertuples(index=False):
            key = (r.image_size_bytes / pull_stats.MB, r.compression, r.cache)
            true = truth["medians"][key]
            count("share median", r.share_low, r.share_high, true["share"])
            count("to running median", r.to_running_low, r.to_running_high, true["to_running_s"])
            count("pull median", r.pull_low, r.pull_high, true["pull_s"])
        for r in pull_stats.size_slopes(trials).itertuples(index=False):
            count(
                f"slope ms/MB ({r.cache})", r.low, r.high, truth["slopes"][(r.compression, r.cache)]
            )
        for r in pull_stats.compression_pairs(trials).itertuples(index=False):
            size = r.image_size_bytes / pull_stats.MB
            true = np.exp(truth["ratios"][(size, r.cache, r.measure)])
            count(f"zstd/gzip ({r.measure})", r.ratio_low, r.ratio_high, true)
    return {
        name: {
            "coverage": float(np.mean(hits[name])) if hits.get(name) else None,
            "intervals": len(hits.get(name, [])),
            "printed_share": float(np.mean(printed[name])),
        }
        for name in printed
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.reps < 1:
        parser.error(f"--reps {args.reps}: give at least 1 simulated run")
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    truth = truths(rng)
    designs = {}
    for n in (10, 20):
        designs[str(n)] = measure(n, args.reps, truth, rng)
        for name, r in designs[str(n)].items():
            cov = "—" if r["coverage"] is None else f"{r['coverage']:.3f}"
            print(f"{n:3d} trials  {name:28} coverage {cov}  printed {r['printed_share']:.2f}")
    path = save(
        "pull_coverage",
        {
            "method": __doc__.split("\n\n")[1] + "\n\n" + __doc__.split("\n\n")[2],
            "reps": args.reps,
            "designs": designs,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
