#!/usr/bin/env python3
"""What does the harness add around the timed steps?

Runs ``rtlab collect`` over the OCI study (runc, crun, runsc through their own
CLI) and divides its total wall time by the sum of the timed steps' wall times
in trials.csv (warm-ups included: they ran too). The rest is scheduling, the
untimed state waits, cleanup, writing rows, start-up and the host probes.
Target (reported, not asserted): at most 1.15.

    sudo .venv/bin/python benchmarks/collect_overhead.py [--trials 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import need_root, save  # noqa: E402

from rtlab.core.results import load_trials  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--runtimes", default="runc,crun,runsc")
    args = p.parse_args()
    need_root()
    with tempfile.TemporaryDirectory(prefix="rtlab-overhead-") as tmp:
        out = Path(tmp) / "run"
        argv = [
            sys.executable,
            "-m",
            "rtlab",
            "collect",
            "--no-progress",
            "--clients",
            "oci",
            "--runtimes",
            args.runtimes,
            "--trials",
            str(args.trials),
            "--warmup",
            str(args.warmup),
            "--out",
            str(out),
        ]
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        total_s = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"rtlab collect failed: {done.stderr or done.stdout}")
        df = load_trials(out)
        meta = json.loads((out / "run.json").read_text())
    timed_s = float(df.wall_s.sum())
    per_runtime = {rt: float(g.wall_s.sum()) for rt, g in df.groupby("runtime")}
    ratio = total_s / timed_s
    print(
        f"rtlab collect total wall {total_s:.2f} s; sum of timed steps {timed_s:.2f} s; "
        f"ratio {ratio:.3f} (target <= 1.15)"
    )
    for rt, s in per_runtime.items():
        print(f"  timed steps {rt:<8} {s:7.2f} s")
    path = save(
        "collect_overhead",
        {
            "argv": argv[2:],
            "total_wall_s": total_s,
            "timed_steps_wall_s": timed_s,
            "ratio": ratio,
            "timed_by_runtime_s": per_runtime,
            "rows": len(df),
            "harness_overhead_median_s": meta["harness_overhead"]["median_s"],
        },
    )
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
