#!/usr/bin/env python3
"""What tracing costs a step, and how much of the step its phases explain (issue 23).

``runc run`` and ``crun run`` of ``true`` (rtlab's busybox bundle, OCI CLI) timed by
rtlab's own timer three ways, side by side: with no tracer at all; with rtlab's
bpftrace attached but not following (an untraced twin in a ``--trace`` run); and
traced (followed: every event printed). Blocks alternate between no tracer and
the tracer attached (attaching takes 1–2 s, so not per trial); inside an attached
block the two tracer arms alternate trial by trial, as ``collect --trace`` does.
Prints each arm's median with its 95% CI, the ratios traced/none and
traced/untraced with bootstrap CIs (blocks paired: each block's medians), and,
from the traced trials' phases (tracing.PHASES), the named phases and the share of
the step's median their medians add up to (issue 23's must-show 1).

Usage (root)::

    .venv/bin/python benchmarks/trace_cost.py [--blocks 6] [--trials 10] [--pace 100ms]

Writes ``benchmarks/results/trace_cost.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import boot_ratio_ci, cpu_stall_us, need_root, save  # noqa: E402

from rtlab.analysis import phasestats, stats
from rtlab.collect import tracing  # noqa: E402
from rtlab.core import image
from rtlab.core.measure import run_timed  # noqa: E402

RUNTIMES = ("runc", "crun")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=6, help="blocks per arm kind (pairs)")
    parser.add_argument("--trials", type=int, default=10, help="trials per arm per block")
    parser.add_argument("--pace-ms", type=float, default=100.0, help="idle before each step")
    args = parser.parse_args()
    need_root()
    work = Path(tempfile.mkdtemp(prefix="rtlab-trace-cost-"))
    rootfs = image.build_rootfs(work / "state")
    bundle = image.write_bundle(work / "bundle", image.TRUE_ARGS, rootfs)
    rows, windows, seq = [], [], 0
    stall0, t0 = cpu_stall_us(), time.monotonic()

    def one(rt: str, arm: str, block: int, tracer=None) -> None:
        nonlocal seq
        seq += 1
        cid = f"rtlab-20200101T000000Z-tracecost-{os.getpid()}-{seq}"
        time.sleep(args.pace_ms / 1000)
        if tracer is not None and arm == "traced":
            tracer.on()
        try:
            m = run_timed(
                [rt, "--root", str(work / f"root-{rt}"), "run", "--bundle", str(bundle), cid], 30
            )
        finally:
            if tracer is not None and arm == "traced":
                tracer.off()
        end = time.perf_counter_ns()
        rows.append(
            {"runtime": rt, "arm": arm, "block": block, "wall_s": m.wall_s, "ok": m.ok, "cid": cid}
        )
        if arm == "traced" and m.ok:
            windows.append(
                tracing.Window(
                    {
                        "run_id": "bench",
                        "client": "oci",
                        "runtime": rt,
                        "pace_s": args.pace_ms / 1000,
                        "round": block,
                        "trial": seq,
                        "warmup": False,
                        "step": "run",
                        "container_id": cid,
                        "wall_s": m.wall_s,
                        "ok": True,
                    },
                    (m.end_ns or end) - int(m.wall_s * 1e9),
                    m.end_ns or end,
                )
            )

    for block in range(args.blocks):
        for kind in (("none",), ("untraced", "traced"))[:: 1 if block % 2 == 0 else -1]:
            if kind == ("none",):
                for _ in range(args.trials):
                    for rt in RUNTIMES:
                        one(rt, "none", block)
            else:
                tracer = tracing.Tracer(
                    work / f"events-{block}.txt", gated=True, wakes=False
                ).start()  # as collect --trace attaches it for the OCI CLI
                try:
                    for i in range(args.trials):
                        order = kind if i % 2 == 0 else kind[::-1]
                        for rt in RUNTIMES:
                            for arm in order:
                                one(rt, arm, block, tracer)
                finally:
                    tracer.stop()
                events = tracer.events()
                block_windows = [w for w in windows if w.row["round"] == block]
                phase_rows = tracing.phase_rows(events, block_windows, os.getpid())
                windows[:] = [w for w in windows if w.row["round"] != block]
                rows_phases.extend(phase_rows)
    stall = cpu_stall_us()
    frame = pd.DataFrame(rows)
    failed = frame[~frame.ok]
    frame = frame[frame.ok]
    out = {
        "blocks": args.blocks,
        "trials_per_block": args.trials,
        "pace_ms": args.pace_ms,
        "failed": len(failed),
        "cpu_contended_share": None
        if stall0 is None or stall is None
        else (stall - stall0) / 1e6 / (time.monotonic() - t0),
        "runtimes": {},
    }
    phases = pd.DataFrame(rows_phases)
    summary = phasestats.phase_summary(phases) if len(phases) else pd.DataFrame()
    coverage = phasestats.coverage(summary) if len(summary) else pd.DataFrame()
    print(f"{'runtime':8} {'arm':9} {'n':>4} {'median ms [95% CI]':>26}")
    for rt in RUNTIMES:
        d = frame[frame.runtime == rt]
        res = {}
        for arm in ("none", "untraced", "traced"):
            x = d[d.arm == arm].wall_s.to_numpy()
            ci = stats.median_ci(x)
            res[arm] = {
                "n": int(x.size),
                "median_ms": float(np.median(x) * 1e3),
                "ci_ms": [ci.low * 1e3, ci.high * 1e3],
            }
            print(
                f"{rt:8} {arm:9} {x.size:4d} {np.median(x) * 1e3:10.2f} "
                f"[{ci.low * 1e3:.2f}, {ci.high * 1e3:.2f}]"
            )
        blocks = sorted(set(d[d.arm == "traced"].block) & set(d[d.arm == "none"].block))
        # pair an attached block with the no-tracer block of the same index
        med = d.groupby(["arm", "block"]).wall_s.median()
        for num, den in (("traced", "none"), ("traced", "untraced"), ("untraced", "none")):
            a = [med[(num, b)] for b in blocks]
            b = [med[(den, b)] for b in blocks]
            ratio = float(np.median(d[d.arm == num].wall_s) / np.median(d[d.arm == den].wall_s))
            low, high = boot_ratio_ci(a, b, seed=stats.derive_seed(0, rt, num, den))
            res[f"{num}/{den}"] = {"ratio": ratio, "ci": [low, high]}
            print(
                f"{rt:8} {num}/{den}: ratio of medians {ratio:.3f} (95% CI {low:.3f}–{high:.3f},"
                f" {len(blocks)} paired blocks)"
            )
        if len(coverage):
            c = coverage[coverage.runtime == rt].iloc[0]
            res["phases"] = {
                "named_phases": int(c.named_phases),
                "named_share": c.named_share,
                "unattributed_share": c.unattributed_share,
                "n": int(c.n),
                "medians_ms": {
                    r.phase: r.median_s * 1e3 for r in summary[summary.runtime == rt].itertuples()
                },
            }
            print(
                f"{rt:8} phases: {c.named_phases} named, their medians add up to "
                f"{c.named_share:.1%} of the traced step's median ({c.step_median_s * 1e3:.2f} ms,"
                f" n {c.n}); unattributed {c.unattributed_share:.1%}"
            )
        out["runtimes"][rt] = res
    print(
        f"CPU contended {out['cpu_contended_share']:.0%} of the time"
        if out["cpu_contended_share"] is not None
        else ""
    )
    print(save("trace_cost", out))
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return 0


rows_phases: list[dict] = []

if __name__ == "__main__":
    sys.exit(main())
