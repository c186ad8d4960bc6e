#!/usr/bin/env python3
"""Like with like against hyperfine: ``rtlab collect`` and ``hyperfine -N`` at the same pace.

``rtlab collect --clients oci --steps run --pace P`` times, trial after trial,
only the run-to-exit of a container, leaving the host idle for P after rtlab's
own bookkeeping. ``hyperfine -N --prepare 'sleep S'`` does the same with its own
timer and a ``sleep`` process as the gap. This benchmark runs both, for real, at
P = 0, 10 ms and 100 ms, on:

- the no-op: ``/bin/true`` given to rtlab as a runtime (``--runtime
  noop=/bin/true``; ``true`` ignores the ``run --bundle … ID`` arguments), to
  hyperfine as the command — the timers' own overhead;
- ``runc run`` and ``crun run`` of ``true`` on (a) rtlab's own bundle and (b) a
  bundle made by ``runc spec`` over rtlab's busybox rootfs (``terminal:
  false``, args ``["true"]``, runc's default namespaces including a network
  namespace), given to rtlab with ``--bundle``.

Equal gaps. A ``sleep S`` process takes S plus its spawn, exec, exit and reap
(about 1 ms here), so ``--prepare 'sleep P'`` leaves a longer gap than rtlab's
P. The benchmark measures that overhead first (median of 30 ``sleep P`` runs)
and gives hyperfine ``sleep (P - overhead)``, so both gaps are P; the gap each
side actually had is saved (rtlab's ``idle_s``; the ``sleep S`` duration).
At P = 0 hyperfine runs back to back (no ``--prepare``) and rtlab with
``--pace 0`` (its bookkeeping between trials is the only gap).

The two timers run in alternating blocks (which goes first alternates, the
paces rotate), so drift in the host falls on both. For each command and pace:
both medians, the ratio rtlab/hyperfine and its 95 % CI by a *paired block
bootstrap* (blocks resampled with replacement, the same blocks for both timers,
the ratio of pooled medians recomputed; 4000 resamples), which keeps
block-to-block drift in the CI. Also saved, to explain a ratio away from 1: the
CPU contention during each block (share of time some task waited for a CPU,
``/proc/pressure/cpu``: other jobs on a shared machine), the ratio over the
*quiet* block pairs (both below 10 % stall), and the correlation of each pair's
log ratio with its stall difference.

Usage (root; about 15 min with the defaults, 20 blocks × 8 runs per timer)::

    flock /tmp/rtlab-real.lock .venv/bin/python benchmarks/fidelity.py [--blocks 20] [--runs 8]

Writes ``benchmarks/results/fidelity.{json,md}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, cpu_stall_us, hyperfine_block, need_root, save  # noqa: E402

from rtlab.core import conditions, image  # noqa: E402
from rtlab.core.measure import run_timed  # noqa: E402

PACES = (0.0, 0.01, 0.1)
RUNTIMES = ("runc", "crun")
TIMEOUT_S = 30
N_BOOT = 4000
TOLERANCE = 0.05  # the target: rtlab's median within 5 % of hyperfine's
# A block pair is "quiet" when, during each of its two blocks, some task waited for a CPU
# less than this share of the time (/proc/pressure/cpu): others' jobs hardly competed.
QUIET_STALL = 0.10
PREFIX = f"rtlab-fid-{os.getpid()}"
RTLAB = str(Path(sys.executable).with_name("rtlab"))


def rtlab_side(
    target: list[str], pace_s: float, runs: int, out: Path
) -> tuple[list[float], list[float]]:
    """``rtlab collect --clients oci TARGET --steps run --pace P --trials N --warmup 1``, for real.

    ``target``: the options naming the runtime (``--runtimes crun``, plus
    ``--bundle DIR`` or ``--runtime noop=/bin/true``). rtlab's own loop does
    everything: after each run's bookkeeping, ``conditions.idle(P)``, then the
    timed command. Returns the measured trials' wall times and recorded idle
    gaps (``idle_s``), seconds; a failed trial stops the benchmark.
    """
    argv = [
        RTLAB,
        "collect",
        "--clients",
        "oci",
        *target,
        "--steps",
        "run",
        "--pace",
        f"{pace_s:g}s",
        "--trials",
        str(runs),
        "--warmup",
        "1",
        "--out",
        str(out),
        "--no-progress",
    ]
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    with open(out / "trials.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["warmup"] != "true"]
    bad = [r["error"] for r in rows if r["ok"] != "true"]
    if bad:
        raise SystemExit(f"{' '.join(argv)}: {len(bad)} failed trial(s): {bad[0]}")
    shutil.rmtree(out, ignore_errors=True)
    return [float(r["wall_s"]) for r in rows], [float(r["idle_s"]) for r in rows]


def sleep_overhead(pace_s: float, n: int = 30) -> float:
    """What a ``sleep P`` process takes beyond P (spawn, exec, exit, reap), median seconds."""
    return statistics.median(
        run_timed(["sleep", f"{pace_s:g}"], TIMEOUT_S).wall_s - pace_s for _ in range(n)
    )


def hyperfine_side(argv: list[str], sleep_s: float | None, runs: int) -> list[float]:
    """``hyperfine -N [--prepare 'sleep S'] --warmup 1 --runs N``: its wall times, seconds."""
    prepare = f"sleep {sleep_s:.6f}" if sleep_s is not None else None
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


def ratio_ci(
    blocks_r: list[list[float]], blocks_h: list[list[float]], seed: int = 0
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
        boots[k] = np.median(np.concatenate([r[i] for i in pick])) / np.median(
            np.concatenate([h[i] for i in pick])
        )
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


def regimes(rtlab_blocks: list[list[float]], hyperfine_blocks: list[list[float]]) -> dict | None:
    """The two regimes of a bimodal cell, when there are two, and each timer's share of each.

    The pooled log times (both timers) are split in two where the within-group
    variance is least (1-D two-means); a split counts as two regimes when each
    holds at least 10 % of the samples and their medians differ by more than
    1.5×. Then the ratio of pooled medians mostly says which timer had more
    slow-regime runs, so this gives the slow share per timer and the
    rtlab/hyperfine ratio of medians *within* each regime.
    """
    r = np.log(np.concatenate([np.asarray(b) for b in rtlab_blocks]))
    h = np.log(np.concatenate([np.asarray(b) for b in hyperfine_blocks]))
    pooled = np.sort(np.concatenate([r, h]))
    n = pooled.size
    if n < 20:
        return None
    best, cut = np.inf, None
    for i in range(max(2, n // 10), n - max(2, n // 10)):
        left, right = pooled[:i], pooled[i:]
        cost = left.var() * left.size + right.var() * right.size
        if cost < best:
            best, cut = cost, (pooled[i - 1] + pooled[i]) / 2
    fast_r, slow_r, fast_h, slow_h = r[r <= cut], r[r > cut], h[h <= cut], h[h > cut]
    if min(fast_r.size + fast_h.size, slow_r.size + slow_h.size) < 0.1 * n or np.median(
        pooled[pooled > cut]
    ) - np.median(pooled[pooled <= cut]) < np.log(1.5):
        return None

    def ratio(x: np.ndarray, y: np.ndarray) -> float | None:
        return float(np.exp(np.median(x) - np.median(y))) if x.size >= 5 and y.size >= 5 else None

    return {
        "cut_ms": float(np.exp(cut) * 1e3),
        "slow_share": {"rtlab": float(np.mean(r > cut)), "hyperfine": float(np.mean(h > cut))},
        "ratio_fast": ratio(fast_r, fast_h),
        "ratio_slow": ratio(slow_r, slow_h),
    }


def regime_cell(r: dict) -> str:
    g = r.get("regimes")
    if not g:
        return "one"
    parts = [f"slow share {g['slow_share']['rtlab']:.2f} / {g['slow_share']['hyperfine']:.2f}"]
    for name in ("fast", "slow"):
        if g[f"ratio_{name}"] is not None:
            parts.append(f"{name} {g[f'ratio_{name}']:.3f}")
    return f"two (cut {g['cut_ms']:.1f} ms): " + "; ".join(parts)


def render_table(rows: list[dict]) -> str:
    header = (
        "| command | pace | rtlab median (ms) | hyperfine median (ms) | rtlab/hyperfine "
        "[95% CI] | within 5% | quiet blocks: ratio [95% CI] | CPU stall share rtlab / "
        "hyperfine | r(log block ratio, stall diff) | regimes: slow share rtlab / "
        "hyperfine; ratio within each | rtlab gap (ms) | hyperfine gap: `sleep S` (ms) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in sorted(rows, key=lambda r: (r["command"], r["pace_s"])):
        prep = f"{r['hyperfine_prepare_median_ms']:.2f}" if r["pace_s"] > 0 else "–"
        lines.append(
            f"| {r['command']} | {r['pace']} | {r['rtlab_median_ms']:.2f} | "
            f"{r['hyperfine_median_ms']:.2f} | {r['ratio']:.3f} "
            f"[{r['ratio_ci_low']:.3f}, {r['ratio_ci_high']:.3f}] | "
            f"{'yes' if r['within_5_percent'] else 'no'} | {quiet_cell(r)} | "
            f"{stall_cell(r)} | {corr_cell(r)} | {regime_cell(r)} | "
            f"{r['rtlab_idle_gap_median_ms']:.2f} | {prep} |"
        )
    return header + "\n".join(lines) + "\n"


def write_md(table: str, blocks: int, runs: int, name: str = "fidelity") -> Path:
    md = RESULTS / f"{name}.md"
    md.write_text(
        "# Fidelity: rtlab collect against hyperfine -N at the same pace\n\n"
        "Written by `benchmarks/fidelity.py` "
        f"({blocks} alternating blocks × {runs} runs per timer; ratio CI: "
        "paired block bootstrap; hyperfine's `sleep` shortened by its measured "
        "overhead so both gaps are P). Ratios only: the machine is shared. "
        "Where a cell has two regimes (a fast and a slow one, as `run` has near "
        "the 10 ms pace), the ratio of medians follows the share of slow-regime "
        "runs; the regimes column gives each timer's share and the ratio within "
        "each regime.\n\n" + table
    )
    return md


def reanalyse() -> int:
    """Recompute the regimes and the Markdown table from the saved JSON (no measuring)."""
    path = RESULTS / "fidelity.json"
    saved = json.loads(path.read_text())
    for r in saved["rows"]:
        r["regimes"] = regimes(r["samples_s"]["rtlab"], r["samples_s"]["hyperfine"])
    path.write_text(json.dumps(saved, indent=2) + "\n")
    table = render_table(saved["rows"])
    print(table)
    print(f"updated {path} and {write_md(table, saved['blocks'], saved['runs_per_block'])}")
    return 0


def main() -> int:
    global PACES
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--blocks", type=int, default=20, help="alternating blocks (default 20)")
    p.add_argument("--runs", type=int, default=8, help="samples per block per timer (default 8)")
    p.add_argument(
        "--reanalyse",
        action="store_true",
        help="recompute the regimes and the table from the saved JSON",
    )
    p.add_argument(
        "--paces",
        type=float,
        nargs="+",
        default=list(PACES),
        help="the idle gaps in s (default 0 0.01 0.1); others than the default are saved "
        "as fidelity_p<gaps>.json beside the full run's fidelity.json",
    )
    args = p.parse_args()
    if args.reanalyse:
        return reanalyse()
    out_name = "fidelity"
    if tuple(args.paces) != PACES:
        out_name = "fidelity_p" + "_".join(f"{g:g}" for g in args.paces)
        PACES = tuple(args.paces)
    need_root()
    work = Path(tempfile.mkdtemp(prefix="rtlab-fidelity-"))
    counter = iter(range(10**9))

    def new_id() -> str:
        return f"{PREFIX}-{next(counter)}"

    try:
        rootfs = image.build_rootfs()
        bundles = {"rtlab bundle": None}
        runc = shutil.which("runc")
        if runc:
            bundles["runc spec bundle"] = spec_bundle(work / "spec", runc, rootfs)
        true_bundle = image.write_bundle(work / "rtlab", image.TRUE_ARGS, rootfs)
        noop = shutil.which("true") or "/bin/true"
        # name → (rtlab collect's target options, hyperfine's command for a container id)
        commands = {
            "no-op (/bin/true)": (
                ["--runtime", f"noop={noop}", "--runtimes", "noop"],
                lambda cid: [noop],
            )
        }
        for rt in RUNTIMES:
            path = shutil.which(rt)
            if not path:
                print(f"{rt}: not installed, skipped")
                continue
            for label, bundle in bundles.items():
                target = ["--runtimes", rt] + (["--bundle", str(bundle)] if bundle else [])
                used = bundle or true_bundle  # rtlab writes the same bundle for its own
                commands[f"{rt} run ({label})"] = (
                    target,
                    lambda cid, path=path, used=used: [path, "run", "--bundle", str(used), cid],
                )
        overhead = {pace: sleep_overhead(pace) for pace in PACES if pace > 0}
        hyper_sleep = {
            pace: max(pace - overhead[pace], 0.0) if pace > 0 else None for pace in PACES
        }
        print(
            "hyperfine's prepare: "
            + ", ".join(
                f"P {conditions.format_pace(p)}: sleep {s * 1e3:.2f} ms (overhead "
                f"{overhead[p] * 1e3:.2f} ms)"
                for p, s in hyper_sleep.items()
                if s is not None
            )
        )
        cells = [(name, pace) for pace in PACES for name in commands]
        data = {
            cell: {
                "rtlab": [],
                "hyperfine": [],
                "gaps": [],
                "stall_rtlab": [],
                "stall_hyperfine": [],
            }
            for cell in cells
        }
        sleep_s = {pace: [] for pace in PACES if pace > 0}
        cpu_before = conditions.cpu_conditions()
        t_start = time.perf_counter()
        runs_made = 0
        for block in range(args.blocks):
            order = list(PACES[block % len(PACES) :] + PACES[: block % len(PACES)])
            for k, pace in enumerate(order):
                for j, (name, (target, argv_for)) in enumerate(commands.items()):
                    timers = ["rtlab", "hyperfine"]
                    if (block + j + k) % 2:
                        timers.reverse()
                    for timer in timers:
                        stall0, t0 = cpu_stall_us(), time.perf_counter()
                        if timer == "rtlab":
                            runs_made += 1
                            walls, gaps = rtlab_side(
                                target, pace, args.runs, work / f"run-{runs_made}"
                            )
                            data[(name, pace)]["gaps"] += gaps
                        else:
                            # one id per hyperfine block: `run` deletes the container on exit
                            walls = hyperfine_side(argv_for(new_id()), hyper_sleep[pace], args.runs)
                        data[(name, pace)][timer].append(walls)
                        if stall0 is not None:
                            share = (cpu_stall_us() - stall0) / 1e6 / (time.perf_counter() - t0)
                            data[(name, pace)][f"stall_{timer}"].append(share)
                if pace > 0:  # hyperfine's gap: the prepare command's own duration
                    sleep_s[pace] += [
                        run_timed(["sleep", f"{hyper_sleep[pace]:.6f}"], TIMEOUT_S).wall_s
                        for _ in range(3)
                    ]
            print(
                f"block {block + 1}/{args.blocks} done ({time.perf_counter() - t_start:.0f} s)",
                flush=True,
            )
    finally:
        left = leftovers()
        shutil.rmtree(work, ignore_errors=True)
    if left:
        print(f"removed leftover containers: {', '.join(left)}", file=sys.stderr)

    rows = []
    for (name, pace), d in data.items():
        ratio, low, high = ratio_ci(d["rtlab"], d["hyperfine"])
        quiet = [
            i
            for i, (a, b) in enumerate(zip(d["stall_rtlab"], d["stall_hyperfine"]))
            if a < QUIET_STALL and b < QUIET_STALL
        ]
        q_ratio = q_low = q_high = None
        if len(quiet) >= 3:
            q_ratio, q_low, q_high = ratio_ci(
                [d["rtlab"][i] for i in quiet], [d["hyperfine"][i] for i in quiet]
            )
        block_ratios = [
            statistics.median(a) / statistics.median(b) for a, b in zip(d["rtlab"], d["hyperfine"])
        ]
        stall_diff = [a - b for a, b in zip(d["stall_rtlab"], d["stall_hyperfine"])]
        corr = (
            float(np.corrcoef(np.log(block_ratios), stall_diff)[0, 1])
            if len(stall_diff) == len(block_ratios) > 2 and np.std(stall_diff) > 0
            else None
        )
        r_all = [x for b in d["rtlab"] for x in b]
        h_all = [x for b in d["hyperfine"] for x in b]
        rows.append(
            {
                "command": name,
                "pace_s": pace,
                "pace": conditions.format_pace(pace),
                "rtlab_median_ms": statistics.median(r_all) * 1e3,
                "hyperfine_median_ms": statistics.median(h_all) * 1e3,
                "ratio": ratio,
                "ratio_ci_low": low,
                "ratio_ci_high": high,
                "within_5_percent": abs(ratio - 1) <= TOLERANCE,
                "ci_includes_1": low <= 1 <= high,
                "n_each": len(r_all),
                "blocks": len(d["rtlab"]),
                "rtlab_idle_gap_median_ms": statistics.median(d["gaps"]) * 1e3,
                "rtlab_idle_gap_max_ms": max(d["gaps"]) * 1e3,
                "hyperfine_sleep_arg_ms": (hyper_sleep[pace] * 1e3 if pace > 0 else None),
                "hyperfine_prepare_median_ms": (
                    statistics.median(sleep_s[pace]) * 1e3 if pace > 0 else None
                ),
                "cpu_stall_share_median": {
                    t: (statistics.median(d[f"stall_{t}"]) if d[f"stall_{t}"] else None)
                    for t in ("rtlab", "hyperfine")
                },
                "quiet_blocks": len(quiet),
                "quiet_ratio": q_ratio,
                "quiet_ratio_ci": [q_low, q_high] if q_ratio is not None else None,
                "block_ratios": block_ratios,
                "block_stall_share": {"rtlab": d["stall_rtlab"], "hyperfine": d["stall_hyperfine"]},
                "corr_log_block_ratio_vs_stall_difference": corr,
                "samples_s": {"rtlab": d["rtlab"], "hyperfine": d["hyperfine"]},
            }
        )
    for r in rows:
        r["regimes"] = regimes(r["samples_s"]["rtlab"], r["samples_s"]["hyperfine"])
    table = render_table(rows)
    print(table)
    path = save(
        out_name,
        {
            "blocks": args.blocks,
            "runs_per_block": args.runs,
            "paces_s": list(PACES),
            "ratio_ci_method": f"paired block bootstrap over {args.blocks} blocks, "
            f"{N_BOOT} resamples, 2.5-97.5 percentiles",
            "rtlab_side": "rtlab collect --clients oci --runtimes RT [--bundle DIR] --steps run "
            "--pace P --trials N --warmup 1",
            "hyperfine_side": "hyperfine -N --warmup 1 [--prepare 'sleep (P - sleep overhead)']",
            "sleep_overhead_ms": {conditions.format_pace(p): o * 1e3 for p, o in overhead.items()},
            "quiet_stall_threshold": QUIET_STALL,
            "cpu_conditions_before": cpu_before,
            "leftovers_removed": left,
            "rows": rows,
        },
    )
    md = write_md(table, args.blocks, args.runs, out_name)
    print(f"saved {path} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
