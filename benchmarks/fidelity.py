#!/usr/bin/env python3
"""Like with like against hyperfine: rtlab's timer and ``hyperfine -N`` at the same pace.

``rtlab collect --steps run --pace P`` times, trial after trial, only the
run-to-exit of a container, with the host left idle for P after the previous
command ended (rtlab's bookkeeping first, then :func:`rtlab.conditions.idle`).
``hyperfine -N --prepare 'sleep P'`` does the same thing with its own timer
(for P = 0: no ``--prepare``, hyperfine's back-to-back loop). This benchmark
times, at P = 0, 10 ms and 100 ms:

- the no-op ``/bin/true`` (the timers' own overhead);
- ``runc run`` and ``crun run`` of ``true`` on (a) a bundle made by
  ``runc spec`` over rtlab's busybox rootfs (``terminal: false``, args
  ``["true"]``, runc's default namespaces including a network namespace) and
  (b) rtlab's own bundle (:func:`rtlab.image.write_bundle`).

The two timers run in alternating blocks (which goes first alternates from
block to block, the paces rotate), so drift in the host falls on both. For
each command and pace: both medians, the ratio rtlab/hyperfine and its 95 % CI
by a *paired block bootstrap*: the blocks are resampled with replacement (the
same blocks for both timers, since adjacent blocks share the host's state) and
the ratio of the pooled medians recomputed; the CI is the 2.5–97.5 percentiles
of 4000 resamples. Resampling blocks rather than single samples keeps the
block-to-block drift in the CI instead of pretending the samples independent.

Also measured, to explain a ratio away from 1: the CPU contention during each
block (the share of its time in which some task waited for a CPU, from
``/proc/pressure/cpu``: other engineers' jobs on a shared machine), the ratio
over the *quiet* block pairs only (both blocks below 10 % stall) and the
correlation of each pair's log ratio with its stall difference; rtlab's idle
gaps (what ``idle`` returned); the duration of hyperfine's ``sleep P``
prepare command as rtlab times it (hyperfine's gap is that plus its own loop
overhead); and, for P > 0, a third timer "rtlab+sleep": rtlab's loop with
hyperfine's kind of gap (a ``sleep P`` process, the timed command started as
soon as it is reaped) instead of ``idle``, which separates what the timer does
from what the kind of gap does.

The rtlab side is one function, :func:`rtlab_side`; it emulates
``rtlab collect --steps run --pace P`` and can be switched to call it.

Usage (root; takes ~8 min with the defaults: 20 blocks × 8 runs per timer)::

    flock /tmp/rtlab-real.lock .venv/bin/python benchmarks/fidelity.py [--blocks 20] [--runs 8]

Writes ``benchmarks/results/fidelity.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, cpu_stall_us, hyperfine_block, need_root, save  # noqa: E402

from rtlab import conditions, image  # noqa: E402
from rtlab.measure import run_timed  # noqa: E402

PACES = (0.0, 0.01, 0.1)
RUNTIMES = ("runc", "crun")
TIMEOUT_S = 30
N_BOOT = 4000
TOLERANCE = 0.05  # the target: rtlab's median within 5 % of hyperfine's
# A block pair is "quiet" when, during each of its two blocks, some task waited for a CPU
# less than this share of the time (/proc/pressure/cpu): others' jobs hardly competed.
QUIET_STALL = 0.10
PREFIX = f"rtlab-fid-{os.getpid()}"


def rtlab_side(argv_for: Callable[[str], list[str]], pace_s: float, runs: int,
               ids: Callable[[], str], *, sleep_process: bool = False
               ) -> tuple[list[float], list[float]]:
    """Time ``runs`` commands as ``rtlab collect --steps run --pace P`` would.

    One warm-up first (as hyperfine's ``--warmup 1``). Each command ends →
    bookkeeping (check, record, next id) → ``conditions.idle(P, since=end)`` →
    the next timed command. Returns (wall times, idle gaps), seconds.

    ``sleep_process``: instead of ``idle``, run a ``sleep P`` process and start
    the timed command as soon as it is reaped, as hyperfine's ``--prepare``
    does (the explanation variant, "rtlab+sleep").
    """
    walls, gaps = [], []
    end = time.perf_counter()
    for i in range(runs + 1):
        argv = argv_for(ids())
        if sleep_process and pace_s > 0:
            run_timed(["sleep", f"{pace_s:g}"], TIMEOUT_S)
            gap = time.perf_counter() - end
        else:
            gap = conditions.idle(pace_s, since=end) if pace_s > 0 else time.perf_counter() - end
        m = run_timed(argv, TIMEOUT_S)
        end = time.perf_counter()
        if not m.ok:
            raise SystemExit(f"{' '.join(argv)}: {m.describe_failure()}")
        if i > 0:
            walls.append(m.wall_s)
            gaps.append(gap)
    return walls, gaps


def hyperfine_side(argv: list[str], pace_s: float, runs: int) -> list[float]:
    """``hyperfine -N [--prepare 'sleep P'] --warmup 1 --runs N``: its wall times, seconds."""
    prepare = f"sleep {pace_s:g}" if pace_s > 0 else None
    return hyperfine_block(argv, runs, prepare=prepare)


def spec_bundle(path: Path, runc: str, rootfs: Path) -> Path:
    """A bundle made by ``runc spec``, its root rtlab's busybox rootfs, running ``true``."""
    path.mkdir(parents=True)
    subprocess.run([runc, "spec"], cwd=path, check=True)
    config = json.loads((path / "config.json").read_text())
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["true"]
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return path


def ratio_ci(blocks_r: list[list[float]], blocks_h: list[list[float]], seed: int = 0
             ) -> tuple[float, float, float]:
    """Ratio of pooled medians rtlab/hyperfine and its paired-block bootstrap 95 % CI."""
    rng = np.random.default_rng(seed)
    n = len(blocks_r)
    r = [np.asarray(b) for b in blocks_r]
    h = [np.asarray(b) for b in blocks_h]
    ratio = float(np.median(np.concatenate(r)) / np.median(np.concatenate(h)))
    boots = np.empty(N_BOOT)
    for k in range(N_BOOT):
        pick = rng.integers(0, n, n)
        boots[k] = np.median(np.concatenate([r[i] for i in pick])) / \
            np.median(np.concatenate([h[i] for i in pick]))
    low, high = np.quantile(boots, [0.025, 0.975])
    return ratio, float(low), float(high)


def quiet_cell(r: dict) -> str:
    if r["quiet_ratio"] is None:
        return f"{r['quiet_blocks']} quiet (too few)"
    low, high = r["quiet_ratio_ci"]
    return f"{r['quiet_ratio']:.3f} [{low:.3f}, {high:.3f}] ({r['quiet_blocks']} quiet)"


def stall_cell(r: dict) -> str:
    s = r["cpu_stall_share_median"]
    return "–" if s["rtlab"] is None else f"{s['rtlab']:.2f} / {s['hyperfine']:.2f}"


def sleep_cell(r: dict) -> str:
    if r["rtlab_sleep_process_ratio"] is None:
        return "–"
    low, high = r["rtlab_sleep_process_ratio_ci"]
    return f"{r['rtlab_sleep_process_ratio']:.3f} [{low:.3f}, {high:.3f}]"


def corr_cell(r: dict) -> str:
    c = r["corr_log_block_ratio_vs_stall_difference"]
    return "–" if c is None else f"{c:+.2f}"


def leftovers() -> list[str]:
    """Our containers still known to runc or crun (deleted with --force on the way)."""
    found = []
    for rt in RUNTIMES:
        path = shutil.which(rt)
        if not path:
            continue
        m = run_timed([path, "list", "--quiet"], TIMEOUT_S, capture_stdout=True)
        for cid in m.stdout.split():
            if cid.startswith(PREFIX):
                found.append(f"{rt}:{cid}")
                run_timed([path, "delete", "--force", cid], TIMEOUT_S)
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=20, help="alternating blocks (default 20)")
    p.add_argument("--runs", type=int, default=8, help="samples per block per timer (default 8)")
    args = p.parse_args()
    need_root()
    work = Path(tempfile.mkdtemp(prefix="rtlab-fidelity-"))
    counter = iter(range(10**9))

    def new_id() -> str:
        return f"{PREFIX}-{next(counter)}"

    try:
        rootfs = image.build_rootfs()
        bundles = {"rtlab bundle": image.write_bundle(work / "rtlab", image.TRUE_ARGS, rootfs)}
        runc = shutil.which("runc")
        if runc:
            bundles["runc spec bundle"] = spec_bundle(work / "spec", runc, rootfs)
        noop = shutil.which("true") or "/bin/true"
        commands: dict[str, Callable[[str], list[str]]] = {"no-op (/bin/true)": lambda cid: [noop]}
        for rt in RUNTIMES:
            path = shutil.which(rt)
            if not path:
                print(f"{rt}: not installed, skipped")
                continue
            for label, bundle in bundles.items():
                commands[f"{rt} run ({label})"] = (
                    lambda cid, path=path, bundle=bundle: [path, "run", "--bundle", str(bundle), cid])
        cells = [(name, pace) for pace in PACES for name in commands]
        data = {cell: {"rtlab": [], "hyperfine": [], "rtlab+sleep": [], "gaps": [],
                       "stall_rtlab": [], "stall_hyperfine": [], "stall_rtlab+sleep": []}
                for cell in cells}
        sleep_s = {pace: [] for pace in PACES if pace > 0}
        cpu_before = conditions.cpu_conditions()
        t_start = time.perf_counter()
        for block in range(args.blocks):
            order = list(PACES[block % len(PACES):] + PACES[:block % len(PACES)])
            for k, pace in enumerate(order):
                for j, name in enumerate(commands):
                    argv_for = commands[name]
                    timers = ["rtlab", "hyperfine"] + (["rtlab+sleep"] if pace > 0 else [])
                    turn = (block + j + k) % len(timers)
                    for timer in timers[turn:] + timers[:turn]:
                        stall0, t0 = cpu_stall_us(), time.perf_counter()
                        if timer == "rtlab+sleep":
                            walls, _ = rtlab_side(argv_for, pace, args.runs, new_id,
                                                  sleep_process=True)
                            data[(name, pace)]["rtlab+sleep"].append(walls)
                        elif timer == "rtlab":
                            walls, gaps = rtlab_side(argv_for, pace, args.runs, new_id)
                            data[(name, pace)]["rtlab"].append(walls)
                            data[(name, pace)]["gaps"] += gaps
                        else:
                            # one id per hyperfine block: `run` deletes the container on exit
                            walls = hyperfine_side(argv_for(new_id()), pace, args.runs)
                            data[(name, pace)]["hyperfine"].append(walls)
                        if stall0 is not None:
                            share = (cpu_stall_us() - stall0) / 1e6 / (time.perf_counter() - t0)
                            data[(name, pace)][f"stall_{timer}"].append(share)
                if pace > 0:  # what hyperfine's prepare command takes (its gap is that + its loop)
                    sleep_s[pace] += [run_timed(["sleep", f"{pace:g}"], TIMEOUT_S).wall_s
                                      for _ in range(3)]
            print(f"block {block + 1}/{args.blocks} done "
                  f"({time.perf_counter() - t_start:.0f} s)", flush=True)
    finally:
        left = leftovers()
        shutil.rmtree(work, ignore_errors=True)
    if left:
        print(f"removed leftover containers: {', '.join(left)}", file=sys.stderr)

    rows = []
    for (name, pace), d in data.items():
        ratio, low, high = ratio_ci(d["rtlab"], d["hyperfine"])
        quiet = [i for i, (a, b) in enumerate(zip(d["stall_rtlab"], d["stall_hyperfine"]))
                 if a < QUIET_STALL and b < QUIET_STALL]
        q_ratio = q_low = q_high = None
        if len(quiet) >= 3:
            q_ratio, q_low, q_high = ratio_ci([d["rtlab"][i] for i in quiet],
                                              [d["hyperfine"][i] for i in quiet])
        block_ratios = [statistics.median(a) / statistics.median(b)
                        for a, b in zip(d["rtlab"], d["hyperfine"])]
        stall_diff = [a - b for a, b in zip(d["stall_rtlab"], d["stall_hyperfine"])]
        s_ratio = s_low = s_high = None
        if d["rtlab+sleep"]:
            s_ratio, s_low, s_high = ratio_ci(d["rtlab+sleep"], d["hyperfine"])
        corr = (float(np.corrcoef(np.log(block_ratios), stall_diff)[0, 1])
                if len(stall_diff) == len(block_ratios) > 2 and np.std(stall_diff) > 0 else None)
        r_all = [x for b in d["rtlab"] for x in b]
        h_all = [x for b in d["hyperfine"] for x in b]
        rows.append({
            "command": name, "pace_s": pace, "pace": conditions.format_pace(pace),
            "rtlab_median_ms": statistics.median(r_all) * 1e3,
            "hyperfine_median_ms": statistics.median(h_all) * 1e3,
            "ratio": ratio, "ratio_ci_low": low, "ratio_ci_high": high,
            "within_5_percent": abs(ratio - 1) <= TOLERANCE,
            "ci_includes_1": low <= 1 <= high,
            "n_each": len(r_all), "blocks": len(d["rtlab"]),
            "rtlab_idle_gap_median_ms": statistics.median(d["gaps"]) * 1e3,
            "rtlab_idle_gap_max_ms": max(d["gaps"]) * 1e3,
            "hyperfine_prepare_median_ms": (statistics.median(sleep_s[pace]) * 1e3
                                            if pace > 0 else None),
            "cpu_stall_share_median": {
                t: (statistics.median(d[f"stall_{t}"]) if d[f"stall_{t}"] else None)
                for t in ("rtlab", "hyperfine")},
            "quiet_blocks": len(quiet), "quiet_ratio": q_ratio,
            "quiet_ratio_ci": [q_low, q_high] if q_ratio is not None else None,
            "block_ratios": block_ratios, "block_stall_share": {
                "rtlab": d["stall_rtlab"], "hyperfine": d["stall_hyperfine"]},
            "corr_log_block_ratio_vs_stall_difference": corr,
            "rtlab_sleep_process_ratio": s_ratio,
            "rtlab_sleep_process_ratio_ci": [s_low, s_high] if s_ratio is not None else None,
            "samples_s": {"rtlab": d["rtlab"], "hyperfine": d["hyperfine"],
                          "rtlab+sleep": d["rtlab+sleep"]},
        })
    header = (f"| command | pace | rtlab median (ms) | hyperfine median (ms) | rtlab/hyperfine "
              f"[95% CI] | within 5% | quiet blocks: ratio [95% CI] | CPU stall share rtlab / "
              f"hyperfine | r(log block ratio, stall diff) | rtlab+sleep/hyperfine [95% CI] | rtlab idle gap (ms) | "
              f"hyperfine `sleep P` (ms) |\n"
              f"|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in sorted(rows, key=lambda r: (r["command"], r["pace_s"])):
        prep = f"{r['hyperfine_prepare_median_ms']:.2f}" if r["pace_s"] > 0 else "–"
        lines.append(f"| {r['command']} | {r['pace']} | {r['rtlab_median_ms']:.2f} | "
                     f"{r['hyperfine_median_ms']:.2f} | {r['ratio']:.3f} "
                     f"[{r['ratio_ci_low']:.3f}, {r['ratio_ci_high']:.3f}] | "
                     f"{'yes' if r['within_5_percent'] else 'no'} | {quiet_cell(r)} | "
                     f"{stall_cell(r)} | {corr_cell(r)} | {sleep_cell(r)} | "
                     f"{r['rtlab_idle_gap_median_ms']:.2f} | {prep} |")
    table = header + "\n".join(lines) + "\n"
    print(table)
    path = save("fidelity", {
        "blocks": args.blocks, "runs_per_block": args.runs, "paces_s": list(PACES),
        "ratio_ci_method": f"paired block bootstrap over {args.blocks} blocks, "
                           f"{N_BOOT} resamples, 2.5-97.5 percentiles",
        "rtlab_side": "emulation of `rtlab collect --steps run --pace P` "
                      "(run_timed; bookkeeping; conditions.idle(P, since=end))",
        "hyperfine_side": "hyperfine -N --warmup 1 [--prepare 'sleep P']",
        "quiet_stall_threshold": QUIET_STALL,
        "cpu_conditions_before": cpu_before, "leftovers_removed": left, "rows": rows})
    md = RESULTS / "fidelity.md"
    md.write_text("# Fidelity: rtlab against hyperfine -N at the same pace\n\n"
                  "Written by `benchmarks/fidelity.py` "
                  f"({args.blocks} alternating blocks × {args.runs} runs per timer; ratio CI: "
                  "paired block bootstrap). Ratios only: the machine is shared.\n\n" + table)
    print(f"saved {path} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
