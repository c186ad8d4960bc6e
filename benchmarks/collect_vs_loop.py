#!/usr/bin/env python3
"""Is it ``rtlab collect`` or rtlab's timer? ``run`` at one pace, three ways, side by side.

fidelity.py compares a real ``rtlab collect --steps run --pace P`` with
``hyperfine -N``. Where they differ at a pace, this separates what collect does
between trials (its rows, its scheduler, its process) from rtlab's timer: the
same ``run`` of ``true`` (runc and crun; rtlab's bundle and a ``runc spec``
bundle) timed by

- ``rtlab collect --clients oci --runtimes RT [--bundle DIR] --steps run --pace P``;
- rtlab's loop: :func:`rtlab.core.measure.run_timed` after ``conditions.idle(P)`` in
  a bare loop, nothing else between commands;
- ``hyperfine -N --prepare 'sleep S'`` (S = P minus the ``sleep`` process's own
  overhead, as in fidelity.py),

in alternating blocks (the order rotates), with ratios to hyperfine and paired
block bootstrap CIs.

Usage (root; about 8 min with the defaults)::

    flock /tmp/rtlab-real.lock .venv/bin/python benchmarks/collect_vs_loop.py [--pace 100ms] [--blocks 24] [--runs 10]

Writes ``benchmarks/results/collect_vs_loop.{json,md}``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, hyperfine_block, need_root, save  # noqa: E402
from fidelity import PREFIX, TIMEOUT_S, leftovers, ratio_ci, rtlab_side, sleep_overhead, spec_bundle  # noqa: E402
from timer_gap import python_loop  # noqa: E402

from rtlab.core import conditions, image  # noqa: E402
from rtlab.core.measure import run_timed  # noqa: E402

WAYS = ("rtlab collect", "rtlab loop", "hyperfine")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--pace", default="100ms")
    p.add_argument("--blocks", type=int, default=24)
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args()
    pace = conditions.parse_duration(args.pace)
    need_root()
    work = Path(tempfile.mkdtemp(prefix="rtlab-cvl-"))
    counter = iter(range(10**9))
    data: dict = {}
    try:
        rootfs = image.build_rootfs()
        bundles = {
            "rtlab bundle": (None, image.write_bundle(work / "rtlab", image.TRUE_ARGS, rootfs))
        }
        runc = shutil.which("runc")
        if runc:
            spec = spec_bundle(work / "spec", runc, rootfs)
            bundles["runc spec bundle"] = (spec, spec)
        sleep_s = max(pace - sleep_overhead(pace), 0.0) if pace > 0 else None
        commands = [
            (rt, shutil.which(rt), label, given, used)
            for rt in ("runc", "crun")
            if shutil.which(rt)
            for label, (given, used) in bundles.items()
        ]
        started = time.perf_counter()
        for block in range(args.blocks):
            for j, (rt, path, label, given, used) in enumerate(commands):
                ways = list(WAYS[(block + j) % 3 :] + WAYS[: (block + j) % 3])
                for way in ways:
                    if way == "rtlab collect":
                        target = ["--runtimes", rt] + (["--bundle", str(given)] if given else [])
                        walls, _ = rtlab_side(
                            target, pace, args.runs, work / f"run-{next(counter)}"
                        )
                    elif way == "rtlab loop":

                        def once(path=path, used=used) -> float:
                            m = run_timed(
                                [path, "run", "--bundle", str(used), f"{PREFIX}-{next(counter)}"],
                                TIMEOUT_S,
                            )
                            if not m.ok:
                                raise SystemExit(m.describe_failure())
                            return m.wall_s

                        walls = python_loop(once, pace, args.runs)
                    else:
                        walls = hyperfine_block(
                            [path, "run", "--bundle", str(used), f"{PREFIX}-{next(counter)}"],
                            args.runs,
                            prepare=f"sleep {sleep_s:.6f}" if sleep_s is not None else None,
                        )
                    data.setdefault((f"{rt} run ({label})", way), []).append(walls)
            print(
                f"block {block + 1}/{args.blocks} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    finally:
        left = leftovers()
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for (command, way), blocks in sorted(data.items()):
        rows.append(
            {
                "command": command,
                "way": way,
                "pace": conditions.format_pace(pace),
                "median_ms": statistics.median(x for b in blocks for x in b) * 1e3,
                "ratio_to_hyperfine": ratio_ci(blocks, data[(command, "hyperfine")]),
            }
        )
    lines = [
        "# rtlab collect, rtlab's loop and hyperfine at one pace",
        "",
        f"Written by `benchmarks/collect_vs_loop.py` at pace {conditions.format_pace(pace)} "
        f"({args.blocks} alternating blocks × {args.runs} runs; ratio CI: paired block "
        "bootstrap).",
        "",
        "| command | timed by | median (ms) | ÷ hyperfine [95% CI] |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['command']} | {r['way']} | {r['median_ms']:.2f} | "
        f"{r['ratio_to_hyperfine'][0]:.3f} [{r['ratio_to_hyperfine'][1]:.3f}, "
        f"{r['ratio_to_hyperfine'][2]:.3f}] |"
        for r in rows
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    save(
        "collect_vs_loop",
        {
            "pace_s": pace,
            "blocks": args.blocks,
            "runs_per_block": args.runs,
            "leftovers_removed": left,
            "rows": rows,
        },
    )
    (RESULTS / "collect_vs_loop.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
