#!/usr/bin/env python3
"""What rtlab as a subreaper changes (core/reaper.py, issue 30): each runtime's
create, start, kill and delete through its own CLI, and the harness's cost.

One sitting, alternating blocks (the arm order rotates from block to block): in the
``subreaper`` arm rtlab reaps what the runtime leaves behind at once; in the
``pid1`` arm it does not, and the host's PID 1 does (late on these machines). Each
trial is the lifecycle collect times: create (a ``sleep`` bundle), start, kill,
an untimed wait for the stopped state, delete, with an idle gap before each step.
A block of ``/bin/true`` timed by ``measure.run_timed`` per arm measures what the
SIGCHLD handler costs every timed command. Prints, per runtime and step, each arm's
median, the ratio pid1/subreaper with a bootstrap 95% CI over the blocks (block
medians paired), and the handler's cost.

Usage (root; set-up done)::

    .venv/bin/python benchmarks/reaper.py [--blocks 4] [--trials 5] [--runtimes runc,crun,runsc]

Writes ``benchmarks/results/reaper.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import boot_ratio_ci, need_root, save  # noqa: E402

from rtlab.core import image, reaper  # noqa: E402
from rtlab.core.measure import run_timed  # noqa: E402
from rtlab.core.runtimes import KNOWN  # noqa: E402

STEPS = ("create", "start", "kill", "delete")
ARMS = ("subreaper", "pid1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=4, help="blocks per arm")
    parser.add_argument("--trials", type=int, default=5, help="trials per runtime per block")
    parser.add_argument("--runtimes", default="runc,crun,runsc")
    parser.add_argument("--pace-ms", type=float, default=100.0, help="idle before each step")
    parser.add_argument("--true-runs", type=int, default=200, help="/bin/true per arm per block")
    args = parser.parse_args()
    need_root()
    work = Path(tempfile.mkdtemp(prefix="rtlab-reaper-"))
    rootfs = image.build_rootfs(work / "state")
    bundle = image.write_bundle(work / "bundle", image.SLEEP_ARGS, rootfs)
    runtimes = [KNOWN[n] for n in args.runtimes.split(",")]
    walls: dict[tuple[str, str, str, int], list[float]] = {}
    true_walls: dict[tuple[str, int], list[float]] = {}
    failures: list[str] = []
    seq = 0

    def step(rt, root: Path, argv: list[str]):
        time.sleep(args.pace_ms / 1000)
        return run_timed([rt.binary, *rt.flags, "--root", str(root), *argv], 60)

    def trial(rt, arm: str, block: int) -> None:
        nonlocal seq
        seq += 1
        cid = f"rtlab-20200101T000000Z-reaper-{os.getpid()}-{seq}"
        root = work / f"root-{rt.name}"
        argvs = {
            "create": ["create", "--bundle", str(bundle), cid],
            "start": ["start", cid],
            "kill": ["kill", cid, "KILL"],
            "delete": ["delete", cid],
        }
        try:
            for name in STEPS:
                if name == "delete":  # untimed: until the container is stopped
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline:
                        m = run_timed(
                            [rt.binary, *rt.flags, "--root", str(root), "state", cid],
                            10,
                            capture_stdout=True,
                        )
                        if '"stopped"' in m.stdout:
                            break
                        time.sleep(0.01)
                m = step(rt, root, argvs[name])
                if not m.ok:
                    failures.append(f"{rt.name} {arm} {name}: {m.describe_failure()}")
                    return
                walls.setdefault((rt.name, arm, name, block), []).append(m.wall_s)
        finally:
            run_timed([rt.binary, *rt.flags, "--root", str(root), "delete", "--force", cid], 30)

    for block in range(args.blocks):
        order = ARMS if block % 2 == 0 else ARMS[::-1]
        for arm in order:
            ctx = reaper.subreaper() if arm == "subreaper" else contextlib.nullcontext({})
            with ctx:
                true_walls[(arm, block)] = [
                    run_timed(["/bin/true"], 5).wall_s for _ in range(args.true_runs)
                ]
                for _ in range(args.trials):
                    for rt in runtimes:
                        trial(rt, arm, block)

    rows = []
    for rt in runtimes:
        for name in STEPS:
            per_block = {
                arm: [
                    statistics.median(walls[(rt.name, arm, name, b)])
                    for b in range(args.blocks)
                    if (rt.name, arm, name, b) in walls
                ]
                for arm in ARMS
            }
            if not all(len(v) == args.blocks for v in per_block.values()):
                continue
            lo, hi = boot_ratio_ci(per_block["pid1"], per_block["subreaper"], seed=len(rows))
            sub_ms = 1000 * statistics.median(per_block["subreaper"])
            pid1_ms = 1000 * statistics.median(per_block["pid1"])
            rows.append(
                {
                    "runtime": rt.name,
                    "step": name,
                    "subreaper_ms": sub_ms,
                    "pid1_ms": pid1_ms,
                    "ratio_pid1_over_subreaper": pid1_ms / sub_ms,
                    "ci95": [lo, hi],
                }
            )
    true_block = {
        arm: [statistics.median(true_walls[(arm, b)]) for b in range(args.blocks)] for arm in ARMS
    }
    lo, hi = boot_ratio_ci(true_block["subreaper"], true_block["pid1"], seed=99)
    true_row = {
        "subreaper_ms": 1000 * statistics.median(true_block["subreaper"]),
        "pid1_ms": 1000 * statistics.median(true_block["pid1"]),
        "ratio_subreaper_over_pid1": statistics.median(true_block["subreaper"])
        / statistics.median(true_block["pid1"]),
        "ci95": [lo, hi],
    }
    print(
        f"{'runtime':8} {'step':7} {'subreaper ms':>13} {'PID 1 ms':>10}  PID1/subreaper [95% CI]"
    )
    for r in rows:
        print(
            f"{r['runtime']:8} {r['step']:7} {r['subreaper_ms']:13.1f} {r['pid1_ms']:10.1f}  "
            f"{r['ratio_pid1_over_subreaper']:.2f} [{r['ci95'][0]:.2f}–{r['ci95'][1]:.2f}]"
        )
    print(
        f"/bin/true (the handler's cost): subreaper {true_row['subreaper_ms']:.3f} ms, "
        f"PID 1 {true_row['pid1_ms']:.3f} ms, ratio {true_row['ratio_subreaper_over_pid1']:.3f} "
        f"[{lo:.3f}–{hi:.3f}]"
    )
    for f in failures:
        print("failed:", f)
    save(
        "reaper",
        {
            "args": vars(args),
            "rows": rows,
            "true": true_row,
            "failures": failures,
        },
    )
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
