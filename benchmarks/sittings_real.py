#!/usr/bin/env python3
"""Two concurrency runs of one design from different sittings, analysed alone and
together (issue 30, must-show 1): does one sitting's CI cover the other sitting's
estimate, and does the across-runs CI (``concurrency_stats.across_runs``) cover both?

Usage (any user; the runs are read, not made)::

    .venv/bin/python benchmarks/sittings_real.py RUN_1 RUN_2

Make the runs with the same design in two sittings, e.g. ``rtlab collect --experiment
concurrency --clients oci --runtimes runc,crun --parallel 1,2,4,8 --trials 8 --steps run``
before and after something else ran. Writes ``benchmarks/results/sittings_real.{json,md}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save  # noqa: E402

from rtlab.analysis import concurrency_stats as cs  # noqa: E402
from rtlab.core.results import load_trials, read_meta  # noqa: E402

QUANTITIES = {
    "throughput": ("throughput_per_s", "throughput_low_per_s", "throughput_high_per_s"),
    "p95": ("p95_s", "p95_low_s", "p95_high_s"),
}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: sittings_real.py RUN_1 RUN_2", file=sys.stderr)
        return 2
    runs = [Path(a) for a in argv]
    alone = [
        cs.summarize(load_trials(r)).set_index(["client", "runtime", "mode", "k"]) for r in runs
    ]
    both = cs.summarize(pd.concat([load_trials(r) for r in runs], ignore_index=True)).set_index(
        ["client", "runtime", "mode", "k"]
    )
    rows = []
    for key in both.index:
        for q, (est, low, high) in QUANTITIES.items():
            a, b, x = alone[0].loc[key], alone[1].loc[key], both.loc[key]
            scale = 1.0 if q == "throughput" else 1e3
            rows.append(
                {
                    "target": f"{key[0]}/{key[1]}",
                    "mode": key[2],
                    "k": int(key[3]),
                    "quantity": q,
                    "sitting_1": [a[est] * scale, a[low] * scale, a[high] * scale],
                    "sitting_2": [b[est] * scale, b[low] * scale, b[high] * scale],
                    "1_covers_2": bool(a[low] <= b[est] <= a[high]),
                    "2_covers_1": bool(b[low] <= a[est] <= b[high]),
                    "across": [x[est] * scale, x[low] * scale, x[high] * scale],
                    "ci_kind": x["ci_kind"],
                    "across_covers_both": bool(
                        x[low] <= min(a[est], b[est]) and max(a[est], b[est]) <= x[high]
                    ),
                }
            )
    started = [read_meta(r).get("started_at") for r in runs]
    save("sittings_real", {"runs": [str(r) for r in runs], "started": started, "rows": rows})
    fmt = lambda v: f"{v[0]:.3g} [{v[1]:.3g}–{v[2]:.3g}]"  # noqa: E731
    md = [
        "# Two sittings of one concurrency design, alone and together\n",
        f"Runs started {started[0]} and {started[1]} (UTC). Throughput in containers/s, p95 "
        "in ms; each sitting alone: the median over its batches with the order-statistic "
        "95% CI; together: the geometric mean of the two sittings' own estimates with a "
        "Student-t 95% CI across the 2 runs.\n",
        "| target, mode, k | quantity | sitting 1 | sitting 2 | 1's CI covers 2 | 2's CI covers 1 | across 2 runs | covers both |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['target']} {r['mode']} k={r['k']} | {r['quantity']} | {fmt(r['sitting_1'])} | "
            f"{fmt(r['sitting_2'])} | {'yes' if r['1_covers_2'] else '**no**'} | "
            f"{'yes' if r['2_covers_1'] else '**no**'} | {fmt(r['across'])} ({r['ci_kind']}) | "
            f"{'yes' if r['across_covers_both'] else 'no'} |"
        )
    missed = sum(not r["1_covers_2"] for r in rows) + sum(not r["2_covers_1"] for r in rows)
    md.append(
        f"\nOne sitting's CI missed the other sitting's estimate {missed} times of "
        f"{2 * len(rows)}; the across-runs CI held both estimates in "
        f"{sum(r['across_covers_both'] for r in rows)} of {len(rows)} rows."
    )
    (RESULTS / "sittings_real.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
