#!/usr/bin/env python3
"""Coverage of the host-wide shift's interval that ``rtlab compare`` prints (issue 31).

``rtlab compare`` says "the host as a whole was X% slower in B (95% CI …, order
statistics over rows)" (:func:`rtlab.analysis.compare.host_shift`: the median over the
target/steps of their change, the median's distribution-free interval over those rows).
Simulated as benchmarks/gate_power.py simulates runs (a smoothed round bootstrap of a
committed sample run): A and B drawn from the same run, every wall time of B multiplied
by 1 + s (s = 0, 5, 10, 20%: the host moved as a whole between sittings), so the true
host-wide shift is s; per sample and trial count, how often the printed interval holds
s. The rows share rounds (one host moment slows every target of a round), so they are
not independent: the interval may cover less than its 95%, which this measures.

Usage::

    .venv/bin/python benchmarks/host_shift_coverage.py [--reps 100]

Writes ``benchmarks/results/host_shift_coverage.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save  # noqa: E402
from gate_power import SOURCES, draw, load  # noqa: E402

from rtlab.analysis import compare  # noqa: E402
from rtlab.report import params  # noqa: E402

SHIFTS = (0.0, 0.05, 0.10, 0.20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--trials", default="12,20")
    args = parser.parse_args()
    rng = np.random.default_rng(31)
    rows = []
    for name, folder in SOURCES.items():
        sources = [load(r) for r in params.find_runs(folder, name)[:2]]
        for n in (int(t) for t in args.trials.split(",")):
            for s in SHIFTS:
                covered, width, estimates = 0, [], []
                for rep in range(args.reps):
                    source = sources[rep % len(sources)]
                    a = draw(source, n, rng, "A")
                    b = draw(source, n, rng, "B")
                    b["wall_s"] = b["wall_s"] * (1.0 + s)
                    found = compare.host_shift(compare.changes(a, b, seed=0))
                    if found is None or not np.isfinite(found["low"]):
                        continue
                    covered += found["low"] <= s <= found["high"]
                    width.append(found["high"] - found["low"])
                    estimates.append(found["change"])
                done = len(width)
                rows.append(
                    {
                        "sample": name,
                        "trials": n,
                        "host_shift": s,
                        "analyses": done,
                        "coverage": covered / done if done else None,
                        "median_width": float(np.median(width)) if width else None,
                        "median_estimate": float(np.median(estimates)) if estimates else None,
                    }
                )
                r = rows[-1]
                print(
                    f"{name} n={n} shift {s:.0%}: coverage {r['coverage']:.3f} over {done}, "
                    f"median estimate {r['median_estimate']:+.3f}, median CI width "
                    f"{r['median_width']:.3f}",
                    flush=True,
                )
    save("host_shift_coverage", {"reps": args.reps, "shifts": SHIFTS, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
