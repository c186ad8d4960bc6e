#!/usr/bin/env python3
"""Coverage of the across-hosts interval (issue 34): B/A, two hosts' runs unpaired.

``rtlab compare --across-hosts`` and the report's hosts section print, per target,
condition and step, B/A as the two-sample Hodges–Lehmann ratio of the two hosts' wall
times (on the log scale) with a 95% CI (analysis/hosts.py ``across``). The estimand:
the median of the distribution of ``log B − log A`` for one B trial and one A trial
drawn independently (a pseudo-median) — the typical ratio of a B trial to an A trial.
It equals the ratio of the medians only when the two hosts' log times have one shape
(then both are the shift); with unequal spreads and a skew they differ. Each simulated
comparison goes through rtlab's code: ``shift.unpaired_test`` (the Mann–Whitney
inversion the table printed) and ``shift.unpaired_bm_test`` (the inversion of the
studentized permutation Brunner–Munzel test it prints now), and, for a few cells, ``hosts.across`` on synthetic hosts'
frames, checked to give the same numbers.

The designs: trials per host 10 (``rtlab collect``'s and data/two-hosts' count) and 20
(make report's ``TRIALS``), both hosts alike and 10 against 20 each way (two runs of
different counts compared), and 5 against 5 (below those designs: whether an interval
holds there). Host A's log time: a per-round effect Normal(0, 0.1) (the
trials of one row are in different rounds, so round effects add variance) plus each
trial's own Normal(0, 0.2); ``skewed`` adds, with probability 0.1, a one-sided ×1.5
spike (right skew, as pull_coverage.py). Host B's: the same noise with every part's
log-scale size times the spread ratio 1, 2 or 3 (data/two-hosts: the per-row log SD
ratio of the two runs has median 1.6 and 90th percentile 2.8, either way round), and a
true ratio 1.0 or 1.3 on its location.

The truths per cell from 10^6 simulated trials of each host: the estimand, the median
of all differences ``log B_j − log A_i`` (by bisection over the sorted samples), and
the ratio of medians. Prints each interval's coverage of both, with its binomial SE;
0.93–0.97 is the band (the project's standard), and checks that the estimate always
lies inside its own interval. Then the tails the Holm adjustment reads: how often each
test's p falls below 0.05, 0.01 and 0.05/60 when the hosts differ in spread only.

Usage::

    .venv/bin/python benchmarks/hosts_coverage.py [--reps 4000]

Writes ``benchmarks/results/hosts_coverage.json`` and ``hosts_coverage.md``.
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

from _common import RESULTS, save  # noqa: E402

from rtlab.analysis import hosts, shift  # noqa: E402

ROUND_SD, TRIAL_SD, SPIKE_P, SPIKE = 0.1, 0.2, 0.1, 1.5
BASE_S = 0.05
DESIGNS = ((10, 10), (20, 20), (10, 20), (20, 10), (5, 5))  # trials on A, on B
SPREADS = (1.0, 2.0, 3.0)
SHAPES = ("symmetric", "skewed")
RATIOS = (1.0, 1.3)
METHODS = {"mann-whitney": shift.unpaired_test, "brunner-munzel": shift.unpaired_bm_test}
BAND = (0.93, 0.97)
BIG = 1_000_000
TAIL_LEVELS = (0.05, 0.01, 0.05 / 60)


def log_times(rng: np.random.Generator, n: int, shape: str, spread: float, ratio: float):
    """``n`` trials' log wall times of one host (each trial in its own round)."""
    noise = rng.normal(0.0, ROUND_SD, n) + rng.normal(0.0, TRIAL_SD, n)
    if shape == "skewed":
        noise = noise + np.where(rng.random(n) < SPIKE_P, np.log(SPIKE), 0.0)
    return np.log(BASE_S * ratio) + spread * noise


def truths(
    rng: np.random.Generator, shape: str, spread: float, ratio: float, big: int = BIG
) -> dict:
    """The estimand (median of log B − log A over independent trials) and the log ratio
    of medians, from BIG simulated trials of each host."""
    a = np.sort(log_times(rng, big, shape, 1.0, 1.0))
    b = np.sort(log_times(rng, big, shape, spread, ratio))

    def share_le(t: float) -> float:  # P(log B − log A <= t) over all pairs
        return float(np.searchsorted(b, a + t, side="right").sum()) / (big * big)

    lo, hi = float(b[0] - a[-1]), float(b[-1] - a[0])
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (lo, mid) if share_le(mid) >= 0.5 else (mid, hi)
    return {
        "estimand_log": (lo + hi) / 2.0,
        "ratio_of_medians_log": float(np.median(b) - np.median(a)),
    }


def _host(label: str, logs: np.ndarray) -> hosts.Host:
    n = logs.size
    trials = pd.DataFrame(
        {
            "run_id": label,
            "experiment": "lifecycle",
            "client": "oci",
            "runtime": "runc",
            "mode": "rootful",
            "network": "",
            "pace_s": 0.1,
            "round": np.arange(n),
            "trial": np.arange(n),
            "warmup": False,
            "step": "run",
            "ok": True,
            "wall_s": np.exp(logs),
            "user_s": 0.0,
            "sys_s": 0.0,
        }
    )
    return hosts.Host(label, ({},), trials)


def measure(design, shape, spread, ratio, truth, reps, rng, via_across: int) -> dict:
    n_a, n_b = design
    est_log, rom_log = truth["estimand_log"], truth["ratio_of_medians_log"]
    hits = {m: {"estimand": 0, "ratio_of_medians": 0, "inside": 0, "width": []} for m in METHODS}
    same = {m: 0 for m in METHODS}
    for rep in range(reps):
        la = log_times(rng, n_a, shape, 1.0, 1.0)
        lb = log_times(rng, n_b, shape, spread, ratio)
        for name, test in METHODS.items():
            (s,), _p = test(lb, la, 0.95)
            h = hits[name]
            h["estimand"] += int(s.low <= est_log <= s.high)
            h["ratio_of_medians"] += int(s.low <= rom_log <= s.high)
            h["inside"] += int(s.low <= s.estimate <= s.high)
            h["width"].append(s.high - s.low)
            if rep < via_across:
                row = hosts.across(_host("A", la), _host("B", lb)).iloc[0]
                same[name] += int(
                    np.allclose(
                        np.log([row.ratio, row.ci_low, row.ci_high]),
                        [s.estimate, s.low, s.high],
                        rtol=0,
                        atol=1e-12,
                    )
                    and np.isclose(row.p, _p, rtol=1e-12)
                )
    out = {}
    for name, h in hits.items():
        cell = {}
        for what in ("estimand", "ratio_of_medians"):
            cov = h[what] / reps
            se = float(np.sqrt(cov * (1 - cov) / reps))
            cell[what] = {
                "coverage": round(cov, 4),
                "se": round(se, 4),
                "in_band": bool(BAND[0] <= cov <= BAND[1]),
            }
        cell["estimate_inside_share"] = h["inside"] / reps
        cell["median_width_log"] = round(float(np.median(h["width"])), 4)
        out[name] = cell
    if via_across:
        out["across_matches"] = {m: f"{k}/{via_across}" for m, k in same.items()}
    return out


def tails(design, spread, reps, rng) -> dict:
    """How often each test's p falls below 0.05, 0.01 and 0.05/60 (Holm's first threshold
    over data/two-hosts' 60 rows) when B and A differ only in spread (symmetric: the
    estimand is exactly 1)."""
    n_a, n_b = design
    found = {}
    for name, test in (
        ("mann-whitney", lambda b, a: shift._unpaired_set(b, a).p()),
        ("brunner-munzel", lambda b, a: shift._brunner_munzel(np.sort(b), np.sort(a))[1]),
    ):
        p = np.array(
            [
                test(
                    log_times(rng, n_b, "symmetric", spread, 1.0),
                    log_times(rng, n_a, "symmetric", 1.0, 1.0),
                )
                for _ in range(reps)
            ]
        )
        found[name] = {f"p<{q:.3g}": float(np.mean(p < q)) for q in TAIL_LEVELS}
    return found


def table_md(cells: list[dict]) -> str:
    lines = [
        "| trials A/B | shape | spread B/A | true ratio | estimand | ratio of medians "
        "| MW: estimand | MW: ratio of medians | BM: estimand | BM: ratio of medians |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(c):
        return f"{c['coverage']:.3f} ± {c['se']:.3f}" + ("" if c["in_band"] else " ✗")

    for c in cells:
        mw, bm = c["mann-whitney"], c["brunner-munzel"]
        lines.append(
            f"| {c['n_a']}/{c['n_b']} | {c['shape']} | {c['spread']:g} | {c['ratio']:g} "
            f"| {np.exp(c['estimand_log']):.4f} | {np.exp(c['ratio_of_medians_log']):.4f} "
            f"| {fmt(mw['estimand'])} | {fmt(mw['ratio_of_medians'])} "
            f"| {fmt(bm['estimand'])} | {fmt(bm['ratio_of_medians'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--across", type=int, default=50, help="comparisons a cell through across")
    parser.add_argument("--tail-reps", type=int, default=20_000)
    parser.add_argument("--big", type=int, default=BIG, help="simulated trials a host for truths")
    args = parser.parse_args()
    if args.reps < 1:
        parser.error(f"--reps {args.reps}: give at least 1 simulated comparison")
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    truth = {
        (shape, spread, ratio): truths(rng, shape, spread, ratio, args.big)
        for shape in SHAPES
        for spread in SPREADS
        for ratio in RATIOS
    }
    cells = []
    for design in DESIGNS:
        for shape in SHAPES:
            for spread in SPREADS:
                for ratio in RATIOS:
                    t = truth[(shape, spread, ratio)]
                    via = args.across if design in ((10, 10), (20, 10)) and ratio == 1.3 else 0
                    found = measure(design, shape, spread, ratio, t, args.reps, rng, via)
                    cell = {
                        "n_a": design[0],
                        "n_b": design[1],
                        "shape": shape,
                        "spread": spread,
                        "ratio": ratio,
                        **t,
                        **found,
                    }
                    cells.append(cell)
                    mw, bm = found["mann-whitney"], found["brunner-munzel"]
                    print(
                        f"{design[0]:2d}/{design[1]:2d} {shape:9} spread {spread:g} ratio "
                        f"{ratio:g}: MW {mw['estimand']['coverage']:.3f} "
                        f"(medians {mw['ratio_of_medians']['coverage']:.3f})  "
                        f"BM {bm['estimand']['coverage']:.3f} "
                        f"(medians {bm['ratio_of_medians']['coverage']:.3f})"
                        + (f"  across matches {found['across_matches']}" if via else ""),
                        flush=True,
                    )
    tail = []
    for design in DESIGNS:
        for spread in SPREADS:
            found = tails(design, spread, args.tail_reps, rng)
            tail.append({"n_a": design[0], "n_b": design[1], "spread": spread, **found})
            print(f"tails {design[0]}/{design[1]} spread {spread:g}: {found}", flush=True)
    md = table_md(cells)
    md += (
        "\n## Tails: share of p below each level, B and A differing only in spread "
        f"(symmetric, true ratio 1; {args.tail_reps} comparisons)\n\n"
        "| trials A/B | spread B/A | "
        + " | ".join(f"MW p<{q:.3g}" for q in TAIL_LEVELS)
        + " | "
        + " | ".join(f"BM p<{q:.3g}" for q in TAIL_LEVELS)
        + " |\n|"
        + "---|" * (2 + 2 * len(TAIL_LEVELS))
        + "\n"
    )
    for t in tail:
        mw = " | ".join(f"{v:.4f}" for v in t["mann-whitney"].values())
        bm = " | ".join(f"{v:.4f}" for v in t["brunner-munzel"].values())
        md += f"| {t['n_a']}/{t['n_b']} | {t['spread']:g} | {mw} | {bm} |\n"
    (RESULTS / "hosts_coverage.md").write_text(
        "# Coverage of the across-hosts B/A interval (benchmarks/hosts_coverage.py)\n\n"
        f"{args.reps} simulated comparisons a cell; coverage ± binomial SE; ✗ outside "
        f"{BAND[0]}–{BAND[1]}. MW: the Mann–Whitney inversion (shift.unpaired_test); BM: "
        "the Brunner–Munzel inversion (shift.unpaired_bm_test). estimand: the median of "
        "B/A over independent trials (what the HL ratio estimates); ratio of medians: "
        "median B / median A.\n\n" + md
    )
    path = save(
        "hosts_coverage",
        {
            "method": "\n\n".join(__doc__.split("\n\n")[1:4]),
            "reps": args.reps,
            "band": BAND,
            "cells": cells,
            "tails": tail,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    print(md)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
