#!/usr/bin/env python3
"""What else moves the numbers: the step just before, the idle gap, the page cache, the CPU.

For ``runc run`` and ``crun run`` of ``true`` on rtlab's own bundle, each timed
run is preceded by one *level* of a factor; the levels are interleaved (a
seeded shuffle per round, both runtimes in each), so drift falls on all:

preceding step (what ran just before, with no gap after it)
    ``back to back``: an untimed run of the same command;
    ``after teardown``: another container's create/start/kill/delete (same
    runtime, rtlab's sleep bundle; kill's stop awaited by polling ``state``);
    ``after runsc exit``: a runsc container's run of ``true`` to exit (runsc
    deletes it on exit).
idle gap (pace)
    an untimed run of the same command, then :func:`rtlab.core.conditions.idle` for
    10, 25, 50, 100 or 200 ms from its end (``back to back`` is the 0).
page cache
    ``warm`` is the 100 ms level; ``dropped``: an untimed run, ``sync`` and
    ``3 > /proc/sys/vm/drop_caches``, then 100 ms idle from the drop's end.
CPU
    the cpufreq governor and cpuidle states as /sys reports them (recorded,
    not varied: changing them would change a shared host), and per level the
    number of cpuidle entries (both CPUs, all states) across gap + timed run,
    and the share of that time in which some task waited for a CPU
    (/proc/pressure/cpu: other jobs on the shared machine).

For each level and runtime: the median with its 95 % CI (order statistic,
:func:`rtlab.analysis.stats.median_ci`), the ratio to ``back to back`` of the same
runtime, and runc/crun with a 95 % percentile-bootstrap CI
(:func:`rtlab.analysis.stats.ratio_ci`). Also the overshoot of ``idle`` (the gap it
returned minus the pace asked for).

Usage (root; ~3 min with the defaults)::

    flock /tmp/rtlab-real.lock .venv/bin/python benchmarks/conditions.py [--rounds 80]

Writes ``benchmarks/results/conditions.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, cpu_stall_us, need_root, save  # noqa: E402

from rtlab.analysis import stats  # noqa: E402
from rtlab.core import conditions, image
from rtlab.core.measure import run_timed  # noqa: E402

RUNTIMES = ("runc", "crun")
TIMEOUT_S = 30
PACE_LEVELS_S = (0.01, 0.025, 0.05, 0.1, 0.2)
WARM_PACE_S = 0.1
PREFIX = f"rtlab-cond-{os.getpid()}"
RUNSC = ("runsc", "--network=none")  # as rtlab's registry runs it


def level_names(with_runsc: bool, with_drop: bool) -> list[str]:
    names = [
        "back to back",
        *(f"idle {conditions.format_pace(p)}" for p in PACE_LEVELS_S),
        "after teardown",
    ]
    if with_runsc:
        names.append("after runsc exit")
    if with_drop:
        names.append("page cache dropped, idle 100 ms")
    return names


def cpuidle_entries() -> int:
    """Total cpuidle entries over all CPUs and states (0 when not readable)."""
    total = 0
    for usage in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpuidle/state[0-9]*/usage"):
        try:
            total += int(usage.read_text())
        except (OSError, ValueError):
            pass
    return total


class Bench:
    def __init__(self, work: Path):
        rootfs = image.build_rootfs()
        self.true_b = image.write_bundle(work / "true", image.TRUE_ARGS, rootfs)
        self.sleep_b = image.write_bundle(work / "sleep", image.SLEEP_ARGS, rootfs)
        self.n = 0
        self.runsc = shutil.which("runsc")
        self.paths = {rt: shutil.which(rt) for rt in RUNTIMES}

    def cid(self) -> str:
        self.n += 1
        return f"{PREFIX}-{self.n}"

    def must(self, argv: list[str]) -> float:
        m = run_timed(argv, TIMEOUT_S, capture_stdout=True)
        if not m.ok:
            raise SystemExit(f"{' '.join(argv)}: {m.describe_failure()}")
        return m.wall_s

    def run_true(self, rt: str) -> float:
        return self.must([self.paths[rt], "run", "--bundle", str(self.true_b), self.cid()])

    def teardown_cycle(self, rt: str) -> None:
        path, cid = self.paths[rt], self.cid()
        self.must([path, "create", "--bundle", str(self.sleep_b), cid])
        self.must([path, "start", cid])
        self.must([path, "kill", cid, "KILL"])
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            m = run_timed([path, "state", cid], TIMEOUT_S, capture_stdout=True)
            if '"status": "stopped"' in m.stdout:
                break
            time.sleep(0.005)
        self.must([path, "delete", cid])

    def runsc_exit(self) -> None:
        self.must([self.runsc, *RUNSC[1:], "run", "--bundle", str(self.true_b), self.cid()])

    def one(self, rt: str, level: str) -> dict:
        """Prepare ``level``, then time one run; returns the sample."""
        pace = 0.0
        if level == "after teardown":
            self.teardown_cycle(rt)
        elif level == "after runsc exit":
            self.runsc_exit()
        else:
            self.run_true(rt)
        end = time.perf_counter()
        if level.startswith("page cache dropped"):
            conditions.drop_caches()
            end, pace = time.perf_counter(), WARM_PACE_S
        elif level.startswith("idle "):
            pace = conditions.parse_duration(level.split(" ", 1)[1])
        entries0, stall0 = cpuidle_entries(), cpu_stall_us()
        gap = conditions.idle(pace, since=end) if pace > 0 else time.perf_counter() - end
        wall = self.run_true(rt)
        stall = (
            None
            if stall0 is None
            else (cpu_stall_us() - stall0) / 1e6 / (time.perf_counter() - end)
        )
        return {
            "runtime": rt,
            "level": level,
            "wall_s": wall,
            "pace_s": pace,
            "gap_s": gap,
            "cpuidle_entries": cpuidle_entries() - entries0,
            "cpu_stall_share": stall,
        }

    def leftovers(self) -> list[str]:
        found = []
        for name, path in [*self.paths.items(), ("runsc", self.runsc)]:
            if not path:
                continue
            flags = list(RUNSC[1:]) if name == "runsc" else []
            m = run_timed([path, *flags, "list", "--quiet"], TIMEOUT_S, capture_stdout=True)
            for cid in m.stdout.split():
                if cid.startswith(PREFIX):
                    found.append(f"{name}:{cid}")
                    run_timed([path, *flags, "kill", cid, "KILL"], TIMEOUT_S)
                    run_timed([path, *flags, "delete", "--force", cid], TIMEOUT_S)
        return found


def summarize(samples: list[dict], levels: list[str]) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    by = {(s["runtime"], s["level"]): [] for s in samples}
    for s in samples:
        by[(s["runtime"], s["level"])].append(s)
    for level in levels:
        row: dict = {"level": level}
        walls = {}
        for rt in RUNTIMES:
            group = by.get((rt, level), [])
            if not group:
                continue
            x = np.array([s["wall_s"] for s in group])
            walls[rt] = x
            ci = stats.median_ci(x)
            base = np.array([s["wall_s"] for s in by[(rt, "back to back")]])
            lo, hi = stats.ratio_ci(x, base, seed=rng)
            row[rt] = {
                "n": int(x.size),
                "median_ms": float(np.median(x)) * 1e3,
                "ci_low_ms": ci.low * 1e3,
                "ci_high_ms": ci.high * 1e3,
                "ci_coverage": ci.coverage,
                "vs_back_to_back": float(np.median(x) / np.median(base)),
                "vs_back_to_back_ci": [lo, hi],
                "gap_median_ms": float(np.median([s["gap_s"] for s in group])) * 1e3,
                "cpuidle_entries_median": float(np.median([s["cpuidle_entries"] for s in group])),
                "cpu_stall_share_median": (
                    float(np.median([s["cpu_stall_share"] for s in group]))
                    if group[0]["cpu_stall_share"] is not None
                    else None
                ),
            }
        if "runc" in walls and "crun" in walls:
            lo, hi = stats.ratio_ci(walls["runc"], walls["crun"], seed=rng)
            row["runc_over_crun"] = float(np.median(walls["runc"]) / np.median(walls["crun"]))
            row["runc_over_crun_ci"] = [lo, hi]
        out.append(row)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=80, help="rounds of all levels (default 80)")
    p.add_argument("--seed", type=int, default=0, help="seed of the level order (default 0)")
    args = p.parse_args()
    need_root()
    try:
        conditions.check_drop_caches_allowed()
        with_drop = True
    except conditions.DropCachesError as exc:
        print(f"page cache level skipped: {exc}")
        with_drop = False
    work = Path(tempfile.mkdtemp(prefix="rtlab-conditions-"))
    bench = Bench(work)
    levels = level_names(bench.runsc is not None, with_drop)
    order_rng = random.Random(args.seed)
    samples: list[dict] = []
    cpu_before = conditions.cpu_conditions()
    t0 = time.perf_counter()
    try:
        for rt in RUNTIMES:  # one untimed warm-up of each
            bench.run_true(rt)
        for r in range(args.rounds):
            plan = [(rt, level) for rt in RUNTIMES for level in levels]
            order_rng.shuffle(plan)
            for rt, level in plan:
                samples.append(bench.one(rt, level) | {"round": r})
            if (r + 1) % 5 == 0:
                print(f"round {r + 1}/{args.rounds} ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        left = bench.leftovers()
        shutil.rmtree(work, ignore_errors=True)
    cpu_after = conditions.cpu_conditions()
    rows = summarize(samples, levels)
    overshoot = np.array([(s["gap_s"] - s["pace_s"]) * 1e6 for s in samples if s["pace_s"] > 0])
    idle_precision = {
        "n": int(overshoot.size),
        "median_us": float(np.median(overshoot)),
        "p95_us": float(np.quantile(overshoot, 0.95)),
        "max_us": float(overshoot.max()),
        "note": "gap returned by conditions.idle minus the pace asked for (sleep, no busy wait)",
    }

    lines = [
        "| level | runc median ms [95% CI] | crun median ms [95% CI] | runc/crun [95% CI] "
        "| crun vs back to back | cpuidle entries (crun, median) | CPU stall share (crun, median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cell = {
            rt: (
                f"{row[rt]['median_ms']:.1f} [{row[rt]['ci_low_ms']:.1f}, "
                f"{row[rt]['ci_high_ms']:.1f}]"
                if rt in row
                else "–"
            )
            for rt in RUNTIMES
        }
        ratio = (
            f"{row['runc_over_crun']:.2f} [{row['runc_over_crun_ci'][0]:.2f}, "
            f"{row['runc_over_crun_ci'][1]:.2f}]"
            if "runc_over_crun" in row
            else "–"
        )
        crun = row.get("crun", {})
        vs = (
            f"{crun['vs_back_to_back']:.2f} [{crun['vs_back_to_back_ci'][0]:.2f}, "
            f"{crun['vs_back_to_back_ci'][1]:.2f}]"
            if crun
            else "–"
        )
        entries = f"{crun['cpuidle_entries_median']:.0f}" if crun else "–"
        stall = (
            f"{crun['cpu_stall_share_median']:.2f}"
            if crun and crun["cpu_stall_share_median"] is not None
            else "–"
        )
        lines.append(
            f"| {row['level']} | {cell['runc']} | {cell['crun']} | {ratio} | {vs} "
            f"| {entries} | {stall} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    print(
        f"idle() overshoot: median {idle_precision['median_us']:.0f} µs, "
        f"p95 {idle_precision['p95_us']:.0f} µs, max {idle_precision['max_us']:.0f} µs"
    )
    governors = sorted({c["scaling_governor"] for c in cpu_before["cpus"].values()})
    path = save(
        "conditions",
        {
            "rounds": args.rounds,
            "seed": args.seed,
            "levels": levels,
            "rows": rows,
            "idle_precision": idle_precision,
            "cpu": {"governor": governors, "before": cpu_before, "after": cpu_after},
            "leftovers_removed": left,
            "median_ci_method": stats.MEDIAN_CI_METHOD,
            "ratio_ci_method": f"{stats.RATIO_CI_METHOD} (n_boot=2000)",
            "samples": samples,
        },
    )
    md = RESULTS / "conditions.md"
    md.write_text(
        "# Conditions: what moves `run` of `true` (runc, crun; rtlab's bundle)\n\n"
        f"Written by `benchmarks/conditions.py` ({args.rounds} interleaved rounds). "
        "Medians with 95% order-statistic CIs; ratios with 95% bootstrap CIs. "
        "The machine is shared: read the ratios.\n\n"
        + table
        + f"\nidle() overshoot over {idle_precision['n']} gaps: median "
        f"{idle_precision['median_us']:.0f} µs, p95 {idle_precision['p95_us']:.0f} µs, "
        f"max {idle_precision['max_us']:.0f} µs.\n\n"
        f"CPU: cpufreq governor {', '.join(governors)}; cpuidle driver "
        f"{cpu_before['cpuidle_driver']}, governor {cpu_before['cpuidle_governor']}; "
        f"haltpoll parameters {cpu_before.get('haltpoll', conditions.NOT_READABLE)}.\n"
    )
    print(f"saved {path} and {md}")
    if left:
        print(f"removed leftover containers: {', '.join(left)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
