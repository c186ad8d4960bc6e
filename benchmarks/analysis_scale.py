#!/usr/bin/env python3
"""How long does ``rtlab analyze`` (figures included) take, and how much memory, as runs grow?

Builds run folders of about 1k, 10k, 100k and 1M rows from the committed sample
(data/sample/run-1): whole measured rounds drawn with replacement and renumbered,
so every target still runs once per round, in the same trials.csv format. Then
times ``python -m rtlab analyze RUN --out DIR`` in a fresh process per size and
reads the child's peak resident memory (``wait4`` rusage, ru_maxrss).

    /work/main/.venv/bin/python benchmarks/analysis_scale.py [--sizes 1000,10000,100000,1000000]

Writes benchmarks/results/analysis_scale.json and .csv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, save  # noqa: E402
from rtlab import params  # noqa: E402


def build(source: Path, rows: int, into: Path, seed: int = 0) -> int:
    """A run folder of about ``rows`` rows resampled by whole rounds from ``source``."""
    trials = pd.read_csv(source / "trials.csv", dtype=str, keep_default_na=False)
    measured = trials[trials["warmup"] == "false"]
    by_round = {r: g for r, g in measured.groupby("round")}
    per_round = len(next(iter(by_round.values())))
    n_rounds = max(1, round(rows / per_round))
    rng = np.random.default_rng(seed)
    picked = rng.choice(sorted(by_round), size=n_rounds, replace=True)
    parts = []
    for i, r in enumerate(picked):
        part = by_round[r].copy()
        part["round"] = str(i)
        part["trial"] = str(i)
        part["container_id"] = part["container_id"] + f"-{i}"
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    into.mkdir(parents=True)
    shutil.copy2(source / "run.json", into / "run.json")
    meta = json.loads((into / "run.json").read_text())
    meta["parameters"]["trials"] = n_rounds
    meta["parameters"]["warmup"] = 0
    (into / "run.json").write_text(json.dumps(meta, indent=2))
    out.to_csv(into / "trials.csv", index=False)
    return len(out)


def timed_analyze(run: Path, out: Path) -> tuple[float, float, int]:
    """(seconds, peak MB, exit code) of one ``rtlab analyze`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "rtlab", "analyze", str(run), "--out",
                              str(out)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024.0, child.returncode


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000,1000000",
                   help="comma-separated row counts (default 1k, 10k, 100k, 1M)")
    args = p.parse_args()
    source = params.sample_runs()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="rtlab-scale-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            run = Path(tmp) / f"run-{size}"
            rows = build(source, size, run)
            seconds, peak_mb, code = timed_analyze(run, Path(tmp) / f"out-{size}")
            figures = len(list((Path(tmp) / f"out-{size}" / "figures").glob("*")))
            entry = {"rows": rows, "seconds": round(seconds, 2), "peak_mb": round(peak_mb, 1),
                     "exit_code": code, "figure_files": figures}
            results.append(entry)
            print(entry, flush=True)
            shutil.rmtree(run)
    RESULTS.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(results).to_csv(RESULTS / "analysis_scale.csv", index=False)
    path = save("analysis_scale", {"source": str(source.relative_to(ROOT)),
                                   "command": "python -m rtlab analyze RUN --out DIR",
                                   "results": results})
    print(f"saved {path}")
    return 0 if all(r["exit_code"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
