#!/usr/bin/env python3
"""Harness fidelity of the concurrency experiment (issue 21), for real, side by side:

1. **k = 1 agrees with the lifecycle's run.** ``rtlab collect --experiment
   concurrency --parallel 1`` (its ``run`` rows: a barrier of one, timed from the
   release) against ``rtlab collect --steps run`` (the lifecycle's run: posix_spawn
   to reap), same runtime, same pace, in alternating blocks (which goes first
   alternates). Printed: both medians, the ratio concurrency/lifecycle of pooled
   medians and its 95 % CI by a paired block bootstrap (the same blocks resampled
   for both sides). Target: within 5 %.
2. **Launch skew at k = 16.** The batches' largest ``offset_s`` (release → the
   last command's execve) from ``--parallel 16`` runs: its median and p95, with
   the p95's bootstrap CI over batches. Target: p95 ≤ 1 ms.

Usage (root; a few minutes)::

    .venv/bin/python benchmarks/concurrency_fidelity.py [--runtime runc] [--blocks 8] [--runs 6]

Writes ``benchmarks/results/concurrency_fidelity.{json,md}``. Uses a private
RTLAB_RUNTIME_DIR; leaves no container (checked at the end).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, need_root, save  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_BOOT = 4000


def collect(args: list[str], out: Path, env: dict) -> list[dict]:
    argv = [sys.executable, "-m", "rtlab", "collect", "--clients", "oci", "--no-progress",
            "--warmup", "1", "--out", str(out), *args]
    done = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    with open(out / "trials.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["warmup"] != "true"]
    shutil.rmtree(out, ignore_errors=True)
    bad = [r["error"] for r in rows if r["ok"] != "true"]
    if bad:
        raise SystemExit(f"{' '.join(argv)}: {len(bad)} failed row(s): {bad[0]}")
    return rows


def paired_ratio(a: list[list[float]], b: list[list[float]], seed: int = 0):
    rng = np.random.default_rng(seed)
    a_, b_ = [np.asarray(x) for x in a], [np.asarray(x) for x in b]
    est = float(np.median(np.concatenate(a_)) / np.median(np.concatenate(b_)))
    boots = np.empty(N_BOOT)
    for i in range(N_BOOT):
        pick = rng.integers(0, len(a_), len(a_))
        boots[i] = np.median(np.concatenate([a_[j] for j in pick])) / \
            np.median(np.concatenate([b_[j] for j in pick]))
    low, high = np.quantile(boots, [0.025, 0.975])
    return est, float(low), float(high)


def p95_ci(values: list[float], seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.asarray(values)
    boots = np.quantile(x[rng.integers(0, len(x), (N_BOOT, len(x)))], 0.95, axis=1)
    low, high = np.quantile(boots, [0.025, 0.975])
    return float(np.quantile(x, 0.95)), float(low), float(high)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="runc")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--runs", type=int, default=6, help="trials per block and side")
    parser.add_argument("--pace", default="100ms")
    parser.add_argument("--skew-trials", type=int, default=15)
    a = parser.parse_args()
    need_root()
    tmp = Path(tempfile.mkdtemp(prefix="rtlab-concbench-"))
    env = {**os.environ, "RTLAB_RUNTIME_DIR": str(tmp / "run")}
    common = ["--runtimes", a.runtime, "--pace", a.pace, "--trials", str(a.runs)]
    conc_blocks, life_blocks = [], []
    for block in range(a.blocks):
        sides = [("conc", ["--experiment", "concurrency", "--parallel", "1"]),
                 ("life", ["--steps", "run"])]
        for name, extra in (sides if block % 2 == 0 else sides[::-1]):
            rows = collect([*common, *extra], tmp / f"{name}-{block}", env)
            walls = [float(r["wall_s"]) for r in rows if r["step"] == "run"]
            (conc_blocks if name == "conc" else life_blocks).append(walls)
        print(f"block {block + 1}/{a.blocks}: concurrency k=1 {np.median(conc_blocks[-1]) * 1e3:.1f} ms, "
              f"lifecycle run {np.median(life_blocks[-1]) * 1e3:.1f} ms", flush=True)
    ratio, low, high = paired_ratio(conc_blocks, life_blocks)
    rows = collect(["--runtimes", a.runtime, "--pace", a.pace, "--trials", str(a.skew_trials),
                    "--experiment", "concurrency", "--parallel", "16"], tmp / "skew", env)
    skews: dict[str, float] = {}
    for r in rows:
        skews[r["batch"]] = max(skews.get(r["batch"], 0.0), float(r["offset_s"]))
    skew = list(skews.values())
    s95, s_low, s_high = p95_ci(skew)
    left = subprocess.run([a.runtime, "list", "--quiet"], capture_output=True, text=True).stdout
    leftovers = [c for c in left.split() if c.startswith("rtlab-")]
    shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "runtime": a.runtime, "pace": a.pace, "blocks": a.blocks, "runs_per_block": a.runs,
        "k1_median_ms": float(np.median(np.concatenate(conc_blocks)) * 1e3),
        "lifecycle_run_median_ms": float(np.median(np.concatenate(life_blocks)) * 1e3),
        "ratio_k1_over_lifecycle": ratio, "ratio_ci95": [low, high],
        "within_5_percent": bool(1 / 1.05 <= low and high <= 1.05),
        "skew_k16_batches": len(skew), "skew_k16_median_ms": float(np.median(skew) * 1e3),
        "skew_k16_p95_ms": s95 * 1e3, "skew_k16_p95_ci95_ms": [s_low * 1e3, s_high * 1e3],
        "skew_p95_at_most_1ms": s95 <= 1e-3, "leftovers": leftovers,
    }
    save("concurrency_fidelity", result)
    md = (f"# concurrency fidelity ({a.runtime}, pace {a.pace}, {a.blocks} blocks × {a.runs})\n\n"
          f"| measure | value |\n|---|---|\n"
          f"| k=1 (concurrency) median | {result['k1_median_ms']:.2f} ms |\n"
          f"| lifecycle run median | {result['lifecycle_run_median_ms']:.2f} ms |\n"
          f"| ratio k=1 / lifecycle (pooled medians) [95% CI, paired block bootstrap] | "
          f"{ratio:.3f} [{low:.3f}–{high:.3f}] |\n"
          f"| launch skew at k=16, p95 over {len(skew)} batches [95% CI] | {s95 * 1e3:.3f} ms "
          f"[{s_low * 1e3:.3f}–{s_high * 1e3:.3f}] (median {result['skew_k16_median_ms']:.3f} ms) |\n"
          f"| leftovers | {len(leftovers)} |\n")
    (RESULTS / "concurrency_fidelity.md").write_text(md)
    print(md)
    return 0 if not leftovers else 1


if __name__ == "__main__":
    raise SystemExit(main())
