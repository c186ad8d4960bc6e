#!/usr/bin/env python3
"""Why rtlab and hyperfine differ where they do (fidelity.py): the timer, and the kind of gap.

Two measurements, each side by side in alternating blocks (the order rotates
from block to block), ratios only:

1. **The timer.** The no-op ``/bin/true`` timed five ways, at pace 0 (back to
   back) and after 100 ms of idle host (``conditions.idle``):
   ``hyperfine -N``; rtlab's :func:`rtlab.core.measure.run_timed`; and three bare
   Python loops that add its parts one at a time — ``posix_spawn`` + ``waitpid``
   (*bare*), + ``setsid`` and the stdin/stdout/stderr redirections (*+ session
   and files*), + ``pidfd_open``/``poll``/``wait4`` (*+ pidfd wait*, which is
   run_timed's sequence without its bookkeeping). What each step adds is what
   rtlab's timer costs over hyperfine's, part by part. At 100 ms hyperfine's
   gap is a ``sleep`` process, so run_timed is also timed after such a
   process (*run_timed after a sleep process*): the same gap for both timers.
2. **The kind of gap.** ``crun run`` and ``runc run`` of ``true`` on rtlab's
   bundle at P = 10 ms and 100 ms, timed by run_timed after (a) rtlab's gap —
   the host idle for P (``conditions.idle``) — and (b) hyperfine's kind of gap
   — a ``sleep`` process of P minus its own spawn overhead, the timed command
   started as soon as it is reaped — and by (c) ``hyperfine -N --prepare
   'sleep S'`` with the same S. (a)/(c) is fidelity.py's ratio; (b)/(c) is the
   same timer-to-timer comparison with the gaps made alike; (a)/(b) is what the
   kind of gap alone does (a process exiting just before the timed command
   leaves the CPU awake).

Usage (root, about 6 min with the defaults)::

    flock /tmp/rtlab-real.lock .venv/bin/python benchmarks/timer_gap.py [--blocks 20] [--runs 10]

Writes ``benchmarks/results/timer_gap.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, hyperfine_block, need_root, save  # noqa: E402
from fidelity import ratio_ci, sleep_overhead  # noqa: E402

from rtlab.core import conditions, image  # noqa: E402
from rtlab.core.measure import run_timed  # noqa: E402

TIMEOUT_S = 30
PREFIX = f"rtlab-tg-{os.getpid()}"
TIMER_PACES = (0.0, 0.1)
GAP_PACES = (0.01, 0.1)
AFTER_SLEEP = "run_timed after a sleep process"


def bare(exe: str, argv: list[str], *, session_files: bool, pidfd: bool) -> float:
    """One spawn-and-reap of ``argv`` by the bare Python loop; wall seconds."""
    kwargs = {}
    if session_files:
        kwargs = {
            "file_actions": [
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            ],
            "setsid": True,
        }
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(exe, argv, os.environ, **kwargs)
    if pidfd:
        fd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(TIMEOUT_S * 1000)
        os.wait4(pid, 0)
        t1 = time.perf_counter_ns()
        os.close(fd)
    else:
        os.waitpid(pid, 0)
        t1 = time.perf_counter_ns()
    return (t1 - t0) / 1e9


def python_loop(once, pace_s: float, runs: int, *, sleep_s: float | None = None) -> list[float]:
    """``runs`` timed calls of ``once()`` (after one warm-up), each after the gap: idle for
    ``pace_s`` after the previous call, or (``sleep_s``) a ``sleep`` process of that length."""
    walls = []
    end = time.perf_counter()
    for i in range(runs + 1):
        if sleep_s is not None:
            run_timed(["sleep", f"{sleep_s:.6f}"], TIMEOUT_S)
        elif pace_s > 0:
            conditions.idle(pace_s, since=end)
        wall = once()
        end = time.perf_counter()
        if i:
            walls.append(wall)
    return walls


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--blocks", type=int, default=20)
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args()
    need_root()
    noop = shutil.which("true") or "/bin/true"
    work = Path(tempfile.mkdtemp(prefix="rtlab-timer-gap-"))
    counter = iter(range(10**9))

    def cid() -> str:
        return f"{PREFIX}-{next(counter)}"

    timers = {
        "hyperfine -N": None,
        "run_timed": lambda: run_timed([noop], TIMEOUT_S).wall_s,
        "bare": lambda: bare(noop, [noop], session_files=False, pidfd=False),
        "+ session and files": lambda: bare(noop, [noop], session_files=True, pidfd=False),
        "+ pidfd wait": lambda: bare(noop, [noop], session_files=True, pidfd=True),
    }
    sleep_over = {pc: sleep_overhead(pc) for pc in sorted({*GAP_PACES, *TIMER_PACES} - {0.0})}
    sleep_arg = {pc: max(pc - o, 0.0) for pc, o in sleep_over.items()}
    timer_data = {(t, pc): [] for t in [*timers, AFTER_SLEEP] for pc in TIMER_PACES}
    gap_data: dict = {}
    try:
        rootfs = image.build_rootfs()
        bundle = image.write_bundle(work / "bundle", image.TRUE_ARGS, rootfs)
        runtimes = {rt: shutil.which(rt) for rt in ("crun", "runc") if shutil.which(rt)}
        started = time.perf_counter()
        for block in range(args.blocks):
            names = list(timers)
            names = names[block % len(names) :] + names[: block % len(names)]
            for pc in TIMER_PACES:
                for name in names + ([AFTER_SLEEP] if pc else []):
                    if name == AFTER_SLEEP:
                        walls = python_loop(
                            timers["run_timed"], pc, args.runs, sleep_s=sleep_arg[pc]
                        )
                    elif timers[name] is None:
                        # after idle, hyperfine's gap is a sleep process (as in fidelity.py)
                        walls = hyperfine_block(
                            [noop],
                            args.runs,
                            prepare=(f"sleep {sleep_arg[pc]:.6f}" if pc else None),
                        )
                    else:
                        walls = python_loop(timers[name], pc, args.runs)
                    timer_data[(name, pc)].append(walls)
            for rt, path in runtimes.items():
                for pc in GAP_PACES:
                    kinds = ["idle gap", "sleep-process gap", "hyperfine"]
                    kinds = kinds[block % 3 :] + kinds[: block % 3]
                    for kind in kinds:
                        if kind == "hyperfine":
                            walls = hyperfine_block(
                                [path, "run", "--bundle", str(bundle), cid()],
                                args.runs,
                                prepare=f"sleep {sleep_arg[pc]:.6f}",
                            )
                        else:

                            def once(path=path) -> float:
                                m = run_timed(
                                    [path, "run", "--bundle", str(bundle), cid()], TIMEOUT_S
                                )
                                if not m.ok:
                                    raise SystemExit(m.describe_failure())
                                return m.wall_s

                            walls = python_loop(
                                once,
                                pc,
                                args.runs,
                                sleep_s=(sleep_arg[pc] if kind == "sleep-process gap" else None),
                            )
                        gap_data.setdefault((rt, pc, kind), []).append(walls)
            print(
                f"block {block + 1}/{args.blocks} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    finally:
        for path in {shutil.which(rt) for rt in ("crun", "runc")} - {None}:
            listed = run_timed([path, "list", "--quiet"], TIMEOUT_S, capture_stdout=True)
            for c in listed.stdout.split():
                if c.startswith(PREFIX):
                    run_timed([path, "delete", "--force", c], TIMEOUT_S)
        shutil.rmtree(work, ignore_errors=True)

    timer_rows = []
    for pc in TIMER_PACES:
        base = timer_data[("hyperfine -N", pc)]
        for name in [*timers, AFTER_SLEEP]:
            if not timer_data[(name, pc)]:
                continue
            walls = [x for b in timer_data[(name, pc)] for x in b]
            timer_rows.append(
                {
                    "timer": name,
                    "pace": conditions.format_pace(pc),
                    "median_ms": statistics.median(walls) * 1e3,
                    "ratio_to_hyperfine": ratio_ci(timer_data[(name, pc)], base),
                }
            )
    gap_rows = []
    for (rt, pc, kind), blocks in sorted(gap_data.items()):
        hyper = gap_data[(rt, pc, "hyperfine")]
        walls = [x for b in blocks for x in b]
        gap_rows.append(
            {
                "command": f"{rt} run (rtlab bundle)",
                "pace": conditions.format_pace(pc),
                "gap": kind,
                "median_ms": statistics.median(walls) * 1e3,
                "ratio_to_hyperfine": ratio_ci(blocks, hyper),
            }
        )

    def cell(r: list[float]) -> str:
        return f"{r[0]:.3f} [{r[1]:.3f}, {r[2]:.3f}]"

    md = [
        "# Why rtlab and hyperfine differ: the timer and the kind of gap",
        "",
        f"Written by `benchmarks/timer_gap.py` ({args.blocks} alternating blocks × "
        f"{args.runs} runs; ratio CI: paired block bootstrap).",
        "",
        "## The timer: the no-op, part by part",
        "",
        "| timer | pace | median (ms) | ÷ hyperfine -N [95% CI] |",
        "|---|---|---|---|",
    ]
    md += [
        f"| {r['timer']} | {r['pace']} | {r['median_ms']:.3f} | {cell(r['ratio_to_hyperfine'])} |"
        for r in timer_rows
    ]
    md += [
        "",
        "## The kind of gap: the same timer after an idle gap or a sleep process",
        "",
        "| command | pace | gap | median (ms) | ÷ hyperfine [95% CI] |",
        "|---|---|---|---|---|",
    ]
    md += [
        f"| {r['command']} | {r['pace']} | {r['gap']} | {r['median_ms']:.2f} | "
        f"{cell(r['ratio_to_hyperfine'])} |"
        for r in gap_rows
    ]
    text = "\n".join(md) + "\n"
    print(text)
    save(
        "timer_gap",
        {
            "blocks": args.blocks,
            "runs_per_block": args.runs,
            "sleep_overhead_ms": {
                conditions.format_pace(k): v * 1e3 for k, v in sleep_over.items()
            },
            "timer": timer_rows,
            "gap": gap_rows,
        },
    )
    (RESULTS / "timer_gap.md").write_text(text)
    print(f"saved {RESULTS / 'timer_gap.json'} and {RESULTS / 'timer_gap.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
