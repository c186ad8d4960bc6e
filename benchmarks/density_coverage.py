#!/usr/bin/env python3
"""Coverage of the density section's interval, the trial as unit (issue 31, item 5).

Simulated density runs go through the functions the report prints from
(``density_stats.memory_slopes``: a least-squares slope per trial, the mean across
trials with its t-interval, the "not resolvable here" rule). The design is make
report's density run: its levels (``REPORT_EXTRAS["density"]["containers"]``, N = 1,
3, 6), each trial one growing batch read at every level, at make report's trial
count, the minimum for an interval (``MIN_TRIALS_CI``) and larger counts.

Each trial has its own slope (trial-to-trial variation) and each reading its own
noise, in four shapes:

- ``normal``: slope ~ Normal(10, 1.5) MB per container, reading noise Normal(0, 3);
- ``slope-varies``: slope ~ Normal(10, 3), reading noise Normal(0, 1) (the trials differ
  more than the readings: where pooling every reading as a point under-covers most);
- ``drift``: slope ~ Normal(10, 1.5), the noise a random walk across the trial's readings
  (the host moves between one level and the next: the readings of a trial are
  correlated, as the cumulative design makes them);
- ``skewed``: slope 10·exp(Normal(0, 0.3)) (right-skewed; the truth is its mean,
  10·exp(0.045)), reading noise Normal(0, 1) plus, with probability 0.15, a one-sided
  +40 MB jump (a neighbour's allocation lowering MemAvailable).

The truth is the mean slope over trials (the estimand of the mean of the trials'
slopes). Prints how often the printed 95% interval covered it (target ≥ 0.93), how
often an interval was printed, and, for contrast, the pooled Theil–Sen interval the
section printed before (every reading a point, Sen's CI). Then how often the
section says "not resolvable here": a true slope of 0 with MemAvailable-like noise,
a clearly positive one with MemAvailable-like noise, and a PSS-like one (small
noise), at each trial count.

Usage::

    .venv/bin/python benchmarks/density_coverage.py [--reps 2000]

Writes ``benchmarks/results/density_coverage.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

from rtlab.analysis import density_stats as ds  # noqa: E402
from rtlab.report.report import REPORT_EXTRAS  # noqa: E402

LEVELS = tuple(REPORT_EXTRAS["density"]["containers"])
REPORT_TRIALS = int(REPORT_EXTRAS["density"]["trials"])
TRIAL_COUNTS = sorted({2, ds.MIN_TRIALS_CI, REPORT_TRIALS, 10, 20})
SLOPE_MB = 10.0

# name: (slope sd across trials, reading noise sd, noise a random walk, skewed)
SHAPES = {
    "normal": (1.5, 3.0, False, False),
    "drift": (1.5, 2.0, True, False),
    "slope-varies": (3.0, 1.0, False, False),
    "skewed": (0.3, 1.0, False, True),
}
# resolvability: (true slope MB, slope sd across trials, reading noise sd)
RESOLVE = {
    "zero, memavailable-like": (0.0, 4.0, 12.0),
    "10 MB, memavailable-like": (10.0, 4.0, 12.0),
    "10 MB, pss-like": (10.0, 0.05, 0.05),
    "0.4 MB, cgroup-like": (0.4, 0.05, 0.05),
}


def truth(shape: str) -> float:
    tau = SHAPES[shape][0]
    return SLOPE_MB * float(np.exp(tau**2 / 2)) if SHAPES[shape][3] else SLOPE_MB


def readings(rng, trials: int, shape: str) -> np.ndarray:
    """MB read at each level of each trial: (trials, levels)."""
    tau, sigma, walk, skewed = SHAPES[shape]
    n = np.asarray(LEVELS, float)
    if skewed:
        slope = SLOPE_MB * np.exp(rng.normal(0, tau, (trials, 1)))
        noise = rng.normal(0, sigma, (trials, len(n))) + 40.0 * (
            rng.random((trials, len(n))) < 0.15
        )
    else:
        slope = rng.normal(SLOPE_MB, tau, (trials, 1))
        step = rng.normal(0, sigma, (trials, len(n)))
        noise = np.cumsum(step, axis=1) if walk else step
    return 3.0 + slope * n + noise


def frame(mb: np.ndarray) -> pd.DataFrame:
    """density.csv rows of ``reps`` simulated targets: mb is (reps, trials, levels)."""
    reps, trials, levels = mb.shape
    idx = np.indices(mb.shape).reshape(3, -1)
    return pd.DataFrame(
        {
            "client": "oci",
            "runtime": [f"r{i:05d}" for i in idx[0]],
            "method": "memavailable",
            "trial": idx[1],
            "warmup": False,
            "n": np.asarray(LEVELS)[idx[2]],
            "bytes": mb.ravel() * ds.MB,
            "daemons": "",
            "daemons_bytes": np.nan,
            "ok": True,
        }
    )


def pooled_theil_sen(mb: np.ndarray) -> tuple[float, float]:
    """The interval printed before: every reading of every trial a point, Sen's CI."""
    x = np.tile(np.asarray(LEVELS, float), mb.shape[0])
    res = sps.theilslopes(mb.ravel(), x, alpha=0.95)
    return float(res[2]), float(res[3])


def coverage_rows(rng, reps: int) -> list[dict]:
    rows = []
    for shape in SHAPES:
        true = truth(shape)
        for trials in TRIAL_COUNTS:
            mb = np.stack([readings(rng, trials, shape) for _ in range(reps)])
            s = ds.memory_slopes(frame(mb))
            printed = s.low.notna().to_numpy()
            covered = ((s.low <= true) & (true <= s.high)).to_numpy()
            inside = ((s.low <= s.mb) & (s.mb <= s.high)).to_numpy()
            old = np.array([pooled_theil_sen(m) for m in mb[: min(reps, 1000)]])
            rows.append(
                {
                    "shape": shape,
                    "trials": trials,
                    "truth_mb": true,
                    "printed": float(printed.mean()),
                    "coverage": float(covered[printed].mean()) if printed.any() else None,
                    "mc_se": float(np.sqrt(0.95 * 0.05 / max(printed.sum(), 1))),
                    "estimate_inside": bool(inside[printed].all()),
                    "estimate_is_mean_of_trials": bool(
                        np.allclose(
                            s.mb.to_numpy(),
                            [np.polyfit(LEVELS, t.T, 1)[0].mean() for t in mb],
                        )
                    ),
                    "unresolvable": float((s.status == ds.UNRESOLVABLE).mean()),
                    "pooled_theil_sen_coverage": float(
                        ((old[:, 0] <= true) & (true <= old[:, 1])).mean()
                    ),
                }
            )
    return rows


def resolve_rows(rng, reps: int) -> list[dict]:
    rows = []
    n = np.asarray(LEVELS, float)
    for case, (beta, tau, sigma) in RESOLVE.items():
        for trials in TRIAL_COUNTS:
            slope = rng.normal(beta, tau, (reps, trials, 1))
            mb = 3.0 + slope * n + rng.normal(0, sigma, (reps, trials, len(n)))
            s = ds.memory_slopes(frame(mb))
            rows.append(
                {
                    "case": case,
                    "trials": trials,
                    "unresolvable": float((s.status == ds.UNRESOLVABLE).mean()),
                    "resolved": float((s.status == ds.RESOLVED).mean()),
                    "no_interval": float((s.status == ds.NO_INTERVAL).mean()),
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="simulated runs per design")
    args = parser.parse_args()
    rng = np.random.default_rng(31)
    cov = pd.DataFrame(coverage_rows(rng, args.reps))
    res = pd.DataFrame(resolve_rows(rng, args.reps))
    pd.set_option("display.width", 160)
    print(
        f"levels N = {LEVELS}; make report runs {REPORT_TRIALS} trials; an interval from "
        f"{ds.MIN_TRIALS_CI}; {args.reps} simulated runs a design"
    )
    print("coverage of the printed 95% interval (mean of the trials' slopes, t-interval):")
    print(
        cov.pivot_table(index="trials", columns="shape", values="coverage", aggfunc="first")
        .round(3)
        .to_string()
    )
    print("the interval printed before (pooled Theil–Sen over every reading, Sen's CI):")
    print(
        cov.pivot_table(
            index="trials", columns="shape", values="pooled_theil_sen_coverage", aggfunc="first"
        )
        .round(3)
        .to_string()
    )
    print('share "not resolvable here":')
    print(
        res.pivot_table(index="trials", columns="case", values="unresolvable", aggfunc="first")
        .round(3)
        .to_string()
    )
    shown = cov[cov.printed > 0]
    at_report = shown[shown.trials >= REPORT_TRIALS]
    ok = (
        bool((at_report.coverage >= 0.93).all())
        and bool(shown.estimate_inside.all())
        and bool(cov.estimate_is_mean_of_trials.all())
        and bool((cov[cov.trials < ds.MIN_TRIALS_CI].printed == 0).all())
    )
    print(
        f"coverage ≥ 0.93 at {REPORT_TRIALS}+ trials in every shape: "
        f"{bool((at_report.coverage >= 0.93).all())} (range {at_report.coverage.min():.3f}–"
        f"{at_report.coverage.max():.3f}; at {ds.MIN_TRIALS_CI} trials "
        f"{shown[shown.trials == ds.MIN_TRIALS_CI].coverage.min():.3f}–"
        f"{shown[shown.trials == ds.MIN_TRIALS_CI].coverage.max():.3f}); every estimate the "
        f"mean of its trials' slopes and inside its interval: "
        f"{bool(cov.estimate_is_mean_of_trials.all() and shown.estimate_inside.all())}; "
        f"no interval below {ds.MIN_TRIALS_CI} trials: "
        f"{bool((cov[cov.trials < ds.MIN_TRIALS_CI].printed == 0).all())}"
    )
    save(
        "density_coverage",
        {
            "reps": args.reps,
            "levels": list(LEVELS),
            "report_trials": REPORT_TRIALS,
            "min_trials_ci": ds.MIN_TRIALS_CI,
            "max_half_width_share": ds.MAX_HALF_WIDTH_SHARE,
            "shapes": SHAPES,
            "resolve_cases": RESOLVE,
            "coverage": cov.to_dict(orient="records"),
            "resolvability": res.to_dict(orient="records"),
            "ok": bool(ok),
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
