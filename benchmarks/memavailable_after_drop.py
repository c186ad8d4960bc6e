"""MemAvailable in the tenths of a second after a page-cache drop: why density reads it at once.

Each repetition runs ``sync`` and writes ``3`` to /proc/sys/vm/drop_caches (density's
quiesce, conditions.drop_caches), reads /proc/meminfo at once, then again at fixed
delays; the control repetitions run ``sync`` alone. Per delay: the median change
since the first reading of MemAvailable, MemFree and Cached (MB), over the
repetitions, drop and control alternating.

With the drop, MemAvailable climbs as the page cache refills while MemFree hardly
falls: pages the drop freed wait on the kernel's per-CPU free lists, which MemFree
leaves out, and the refill is served from them. MemAvailable plus those pages
(PerCpuFree, from /proc/zoneinfo) is what stays flat, or not: printed beside. A MemAvailable read
that waits for something whose length grows with the level — density's process
scan, before the fix — reads more of them at higher N: the slope bends down.

Run as root from the repository root: ``.venv/bin/python
benchmarks/memavailable_after_drop.py --reps 20``. Writes
benchmarks/results/memavailable_after_drop.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save  # noqa: E402

from rtlab.core import conditions  # noqa: E402

DELAYS_MS = (2, 10, 30, 60, 100, 200, 400)
FIELDS = ("MemAvailable", "MemFree", "Cached", "PerCpuFree", "MemAvailable+PerCpuFree")
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def meminfo() -> dict[str, float]:
    """MemAvailable, MemFree and Cached of /proc/meminfo, the free pages on the per-CPU
    lists (every ``count`` of /proc/zoneinfo's pagesets) and the sum of the first and
    the last, in MB."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":", 1)
            if key in FIELDS:
                out[key] = int(value.split()[0]) / 1024
    with open("/proc/zoneinfo") as f:
        counts = (line.split() for line in f)
        out["PerCpuFree"] = sum(int(p[1]) for p in counts if len(p) == 2 and p[0] == "count:")
    out["PerCpuFree"] *= PAGE_MB
    out["MemAvailable+PerCpuFree"] = out["MemAvailable"] + out["PerCpuFree"]
    return out


def curve(drop: bool) -> dict[int, dict[str, float]]:
    """One repetition: each field's change at each delay since the reading at once."""
    if drop:
        conditions.drop_caches()
    else:
        os.sync()
    t0 = time.perf_counter()
    first = meminfo()
    out = {}
    for ms in DELAYS_MS:
        while (time.perf_counter() - t0) * 1000 < ms:
            pass
        now = meminfo()
        out[ms] = {k: now[k] - first[k] for k in FIELDS}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between repetitions")
    args = parser.parse_args()
    conditions.check_drop_caches_allowed()
    runs: dict[str, list[dict]] = {"drop": [], "sync_only": []}
    for rep in range(args.reps):
        for side in ("drop", "sync_only") if rep % 2 == 0 else ("sync_only", "drop"):
            runs[side].append(curve(side == "drop"))
            time.sleep(args.gap)
    table = {
        side: {
            str(ms): {k: round(statistics.median(r[ms][k] for r in reps), 1) for k in FIELDS}
            for ms in DELAYS_MS
        }
        for side, reps in runs.items()
    }
    for side, rows in table.items():
        print(side)
        for ms, row in rows.items():
            print(f"  {ms:>4} ms  " + "  ".join(f"{k} {v:+7.1f}" for k, v in row.items()))
    path = save(
        "memavailable_after_drop",
        {
            "method": __doc__.split("\n\n")[1],
            "reps": args.reps,
            "delays_ms": list(DELAYS_MS),
            "median_change_mb": table,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
