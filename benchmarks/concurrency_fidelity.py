#!/usr/bin/env python3
"""Harness fidelity of the concurrency experiment (issue 21), for real, side by side:

1. **k = 1 agrees with the lifecycle's run.** ``rtlab collect --experiment
   concurrency --parallel 1`` (its ``run`` rows: a barrier of one, timed from the
   release; ``--steps run``: the run chain only, as the other side, so neither has
   the other's create+start and teardown between its runs) against ``rtlab collect
   --steps run`` (the lifecycle's run: posix_spawn to reap), same runtime, same pace,
   in alternating blocks (which goes first
   alternates). Printed: both medians, the ratio concurrency/lifecycle of pooled
   medians and its 95 % CI by a paired block bootstrap (the same blocks resampled
   for both sides). Target: within 5 %.
2. **Launch skew at k = 1, 4, 16.** The batches' largest ``offset_s`` (release →
   the last command's execve) from a ``--parallel 1,4,16`` run: its median and
   p95, with the p95's bootstrap CI over batches. Target: p95 ≤ 1 ms at k = 16.

3. **Where the skew goes** (side by side, rotating batches, no containers):
   rtlab's barrier as it was (``run_released(wait_ready=False)``: released as soon
   as the k children are forked, some maybe not yet blocked on the barrier; since each
   child execs a small waiter before it blocks, this side now also waits for the
   waiters' start-up, about 10 ms, so its figures are larger than in the first
   results) and as
   it is (each child says it waits; the release waits for all), against a minimal static C
   waiter (k children posix_spawned beforehand, each blocked in ``read`` on the
   same kind of pipe, then ``clock_gettime`` and ``execve``: the least a barrier
   can do between the release and the exec), both launching ``<runtime>
   --version`` (and ``true``) at k = 1, 4, 16. When both give the same skew, the
   skew is the host's scheduler (k runnable children queueing for the cores with
   everything else that runs), not the barrier. Needs ``cc``; skipped without it.
   The CPU pressure (PSI "some" share) and load averages during each part are kept.

4. **Against a launcher that is not rtlab code** (``--parts launcher``; issue 30):
   rtlab's concurrency run (``--parallel k --steps run``, each batch timed from the
   barrier's release to the last container's exit) against a bash launcher (``runtime
   run`` of the same bundle, rtlab's own config written by :func:`rtlab.core.image.
   write_bundle`, k times with ``&`` then ``wait``, timed by bash's own clock,
   ``$EPOCHREALTIME``, around the forks and the wait), at k = 1, 2, 4, 8, 16, the same pace before each batch, in
   alternating blocks (which side goes first alternates), per runtime. Per side, the
   median makespan over batches and the throughput k / that median (rtlab's estimand);
   the ratio rtlab/bash of the throughputs with a paired block bootstrap CI. The bash
   side includes its own k forks of the runtime (rtlab's children are forked before
   the release), so at large k it is expected to be slower by about k forks of bash.
   Writes ``concurrency_fidelity_launcher.{json,md}``.

Usage (root; a few minutes)::

    .venv/bin/python benchmarks/concurrency_fidelity.py [--runtime runc] [--blocks 8] [--runs 6]
    .venv/bin/python benchmarks/concurrency_fidelity.py --parts launcher [--runtimes runc,crun]

Writes ``benchmarks/results/concurrency_fidelity.{json,md}``. Runs rtlab collect
with the shared RTLAB_RUNTIME_DIR (other runs' sweeps see its lock); leaves no
container (checked at the end).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, cpu_stall_us, need_root, save  # noqa: E402

from rtlab.core.measure import run_released  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_BOOT = 4000
LOCK_WAIT_S = 900.0  # how long one collect waits for another run's lock
WAITS: list[float] = []  # each time a collect found another run's lock
SKEW_KS = (1, 4, 16)

# The least a barrier can do between the release and the exec (part 3): blocked in read on
# fd 3 until the release (EOF), then one clock_gettime, one write of it on fd 4, the exec.
WAITER_C = r"""
#include <stdint.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv, char **envp) {
    char b; struct timespec ts;
    (void)argc;
    read(3, &b, 1);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    write(4, &ns, 8);
    close(3); close(4);
    execve(argv[1], argv + 1, envp);
    return 127;
}
"""


def collect(args: list[str], out: Path, env: dict) -> list[dict]:
    argv = [
        sys.executable,
        "-m",
        "rtlab",
        "collect",
        "--clients",
        "oci",
        "--no-progress",
        "--warmup",
        "1",
        "--out",
        str(out),
        *args,
    ]
    waited_until = time.monotonic() + LOCK_WAIT_S
    while True:  # another run's lock (a shared host): wait for it rather than interfere
        done = subprocess.run(
            argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        if (
            done.returncode == 0
            or "another rtlab collect is running" not in done.stderr
            or time.monotonic() > waited_until
        ):
            break
        WAITS.append(time.monotonic())
        time.sleep(3)
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
        boots[i] = np.median(np.concatenate([a_[j] for j in pick])) / np.median(
            np.concatenate([b_[j] for j in pick])
        )
    low, high = np.quantile(boots, [0.025, 0.975])
    return est, float(low), float(high)


def p95_ci(values: list[float], seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.asarray(values)
    boots = np.quantile(x[rng.integers(0, len(x), (N_BOOT, len(x)))], 0.95, axis=1)
    low, high = np.quantile(boots, [0.025, 0.975])
    return float(np.quantile(x, 0.95)), float(low), float(high)


class Pressure:
    """CPU pressure (PSI "some": share of the time some task waited for a CPU) and the
    load averages over a stretch of the benchmark: the load it ran under."""

    def __init__(self):
        self.t0, self.stall0, self.load0 = time.monotonic(), cpu_stall_us(), os.getloadavg()

    def done(self) -> dict:
        secs = time.monotonic() - self.t0
        stall = cpu_stall_us()
        share = None if stall is None or self.stall0 is None else (stall - self.stall0) / 1e6 / secs
        return {
            "seconds": round(secs, 1),
            "cpu_pressure_some": share,
            "load_1min_start": self.load0[0],
            "load_1min_end": os.getloadavg()[0],
        }


def waiter_binary(tmp: Path) -> Path | None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    src, exe = tmp / "waiter.c", tmp / "waiter"
    src.write_text(WAITER_C)
    done = subprocess.run([cc, "-O2", "-static", "-o", str(exe), str(src)], capture_output=True)
    if done.returncode != 0:
        done = subprocess.run([cc, "-O2", "-o", str(exe), str(src)], capture_output=True)
    return exe if done.returncode == 0 else None


def waiter_batch(waiter: Path, argv: list[str], k: int, timeout_s: float = 30.0) -> float:
    """k posix_spawned C waiters released together: the largest release → exec offset (s)."""
    barrier_r, barrier_w = os.pipe()
    kids = []
    try:
        for _ in range(k):
            report_r, report_w = os.pipe()
            actions = [
                (os.POSIX_SPAWN_DUP2, report_w, 9),
                (os.POSIX_SPAWN_DUP2, barrier_r, 8),
                (os.POSIX_SPAWN_CLOSE, barrier_w),
                (os.POSIX_SPAWN_DUP2, 8, 3),
                (os.POSIX_SPAWN_DUP2, 9, 4),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            ]
            pid = os.posix_spawn(
                str(waiter), [str(waiter), *argv], os.environ, file_actions=actions, setsid=True
            )
            os.close(report_w)
            kids.append((pid, report_r))
        os.close(barrier_r)
        barrier_r = -1
        time.sleep(0.02)  # every waiter blocked in read
        t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        os.close(barrier_w)  # the release
        barrier_w = -1
        offsets = []
        for pid, report_r in kids:
            said = os.read(report_r, 8)
            os.waitpid(pid, 0)
            if len(said) != 8:
                raise SystemExit(f"C waiter {pid}: no exec time reported")
            offsets.append((int.from_bytes(said, "little") - t0) / 1e9)
        return max(offsets)
    finally:
        for fd in (barrier_r, barrier_w):
            if fd >= 0:
                os.close(fd)
        for _, report_r in kids:
            os.close(report_r)


def rtlab_batch(argv: list[str], k: int, wait_ready: bool, timeout_s: float = 30.0) -> float:
    ms = run_released([argv] * k, timeout_s, wait_ready=wait_ready)
    bad = [m.describe_failure() for m in ms if not m.ok]
    if bad:
        raise SystemExit(f"{' '.join(argv)}: {bad[0]}")
    return max(m.offset_s for m in ms)


def where_it_goes(runtime: str, batches: int, tmp: Path) -> dict | None:
    waiter = waiter_binary(tmp)
    if waiter is None:
        return None
    out: dict = {}
    for label, argv in (
        (f"{runtime} --version", [shutil.which(runtime) or runtime, "--version"]),
        ("true", [shutil.which("true") or "/bin/true"]),
    ):
        for k in SKEW_KS:
            load = Pressure()
            got: dict[str, list[float]] = {"old": [], "new": [], "waiter": []}
            sides = [
                ("old", lambda argv=argv, k=k: rtlab_batch(argv, k, wait_ready=False)),
                ("new", lambda argv=argv, k=k: rtlab_batch(argv, k, wait_ready=True)),
                ("waiter", lambda argv=argv, k=k: waiter_batch(waiter, argv, k)),
            ]
            for b in range(batches):  # rotating which goes first
                for name, go in sides[b % 3 :] + sides[: b % 3]:
                    got[name].append(go())
            row = {name: p95_ci(v) for name, v in got.items()}
            row.update({f"{name}_median_ms": float(np.median(v) * 1e3) for name, v in got.items()})
            row.update(batches=batches, load=load.done())
            out[f"{label} k={k}"] = row
            print(
                f"where it goes, {label}, k={k}: p95 old {row['old'][0] * 1e3:.2f} ms, "
                f"new {row['new'][0] * 1e3:.2f} ms, C waiter {row['waiter'][0] * 1e3:.2f} ms",
                flush=True,
            )
    return out


LAUNCHER_KS = (1, 2, 4, 8, 16)
# The independent launchers, in bash: each prints one line per batch, "<makespan µs>
# <fork µs>" (bash's own clock, $EPOCHREALTIME: no fork), or "fail <rc>".
# "bash &": the clock starts, bash forks k `runtime run` of one bundle, then waits for all
# (its forks inside the clock; <fork µs>: from the clock's start to the last fork).
BASH_FORK_IN_CLOCK = r"""
rt="$1"; bundle="$2"; k="$3"; batches="$4"; pace="$5"; tag="$6"
for b in $(seq 1 "$batches"); do
  sleep "$pace"
  t0=${EPOCHREALTIME/./}
  pids=()
  for i in $(seq 1 "$k"); do
    "$rt" run -b "$bundle" "$tag-$b-$i" </dev/null >/dev/null 2>&1 & pids+=($!)
  done
  tf=${EPOCHREALTIME/./}
  rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=$?; done
  t1=${EPOCHREALTIME/./}
  if [ "$rc" -ne 0 ]; then echo "fail $rc"; else echo "$((t1 - t0)) $((tf - t0))"; fi
done
"""
# "bash, pre-forked": k subshells forked before the pace, each blocked opening a FIFO
# for reading; the clock starts, bash opens the FIFO for writing (every blocked open
# returns: the release), each subshell execs `runtime run`; bash waits for all. The same
# shape as rtlab's barrier (children forked before the release), none of rtlab's code.
BASH_PREFORKED = r"""
rt="$1"; bundle="$2"; k="$3"; batches="$4"; pace="$5"; tag="$6"
fifo=$(mktemp -u /tmp/rtlab-bench-fifo.XXXXXX)
for b in $(seq 1 "$batches"); do
  mkfifo "$fifo"
  pids=()
  for i in $(seq 1 "$k"); do
    ( exec 3<"$fifo"; exec 3<&-; exec "$rt" run -b "$bundle" "$tag-$b-$i" </dev/null >/dev/null 2>&1 ) &
    pids+=($!)
  done
  sleep "$pace"
  t0=${EPOCHREALTIME/./}
  exec 4>"$fifo"
  rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=$?; done
  t1=${EPOCHREALTIME/./}
  exec 4>&-
  rm -f "$fifo"
  if [ "$rc" -ne 0 ]; then echo "fail $rc"; else echo "$((t1 - t0)) 0"; fi
done
"""
LAUNCHERS = {"bash pre-forked": BASH_PREFORKED, "bash &": BASH_FORK_IN_CLOCK}
FORKS: dict[str, list[float]] = {}  # "runtime k" → "bash &"'s fork phase per batch (s)


def bash_block(
    script: str,
    runtime: str,
    bundle: Path,
    k: int,
    batches: int,
    pace_s: float,
    tag: str,
    forks: list[float] | None = None,
):
    """One block of a bash launcher: the batches' makespans (s)."""
    done = subprocess.run(
        [
            "bash",
            "-c",
            script,
            "bash",
            shutil.which(runtime) or runtime,
            str(bundle),
            str(k),
            str(batches),
            str(pace_s),
            tag,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
    if (
        done.returncode != 0
        or len(lines) != batches
        or any(len(x) != 2 or not all(v.isdigit() for v in x) for x in lines)
    ):
        raise SystemExit(
            f"bash launcher {runtime} k={k}: {done.stdout[-300:]} {done.stderr[-300:]}"
        )
    if forks is not None:
        forks += [int(x[1]) / 1e6 for x in lines]
    return [int(x[0]) / 1e6 for x in lines]


def rtlab_block(runtime: str, k: int, batches: int, pace: str, out: Path, env: dict):
    """One block of rtlab's concurrency run: each batch's makespan (s), release to the
    last exit (its largest ``wall_s``)."""
    rows = collect(
        [
            "--runtimes",
            runtime,
            "--pace",
            pace,
            "--trials",
            str(batches),
            "--experiment",
            "concurrency",
            "--parallel",
            str(k),
            "--steps",
            "run",
        ],
        out,
        env,
    )
    spans: dict[str, float] = {}
    for r in rows:
        spans[r["batch"]] = max(spans.get(r["batch"], 0.0), float(r["wall_s"]))
    return list(spans.values())


def launcher_part(runtimes: list[str], blocks: int, batches: int, pace: str, tmp: Path) -> dict:
    from rtlab.core import image

    pace_s = float(pace[:-2]) / 1e3 if pace.endswith("ms") else float(pace.rstrip("s"))
    bundle = image.write_bundle(tmp / "bundle-true", ["true"], image.build_rootfs())
    env = dict(os.environ)
    out: dict = {}
    for runtime in runtimes:
        for k in LAUNCHER_KS:
            load = Pressure()
            got: dict[str, list[list[float]]] = {"rtlab": [], **{n: [] for n in LAUNCHERS}}
            forks: list[float] = []

            def side(name, block, k=k, runtime=runtime, forks=forks):
                if name == "rtlab":
                    return rtlab_block(
                        runtime, k, batches, pace, tmp / f"l-{runtime}-{k}-{block}", env
                    )
                return bash_block(
                    LAUNCHERS[name],
                    runtime,
                    bundle,
                    k,
                    batches,
                    pace_s,
                    f"rtlab-bench-{os.getpid()}-{block}-{len(name)}",
                    forks if name == "bash &" else None,
                )

            names = list(got)
            for block in range(blocks):  # rotating which side goes first
                for name in names[block % 3 :] + names[: block % 3]:
                    got[name].append(side(name, block))
            row = {
                "blocks": blocks,
                "batches_per_block": batches,
                **{
                    f"{name}_throughput_per_s": float(k / np.median(np.concatenate(v)))
                    for name, v in got.items()
                },
                **{
                    f"{name}_block_throughputs_per_s": [float(k / np.median(b)) for b in v]
                    for name, v in got.items()
                },
                "bash_fork_phase_median_ms": float(np.median(forks) * 1e3),
                "load": load.done(),
            }
            for name in LAUNCHERS:
                # throughput ratio rtlab/launcher = the launcher's median makespan / rtlab's
                ratio, low, high = paired_ratio(got[name], got["rtlab"])
                row[f"ratio_rtlab_over_{name}"] = ratio
                row[f"ratio_ci95_{name}"] = [low, high]
            ratio = row["ratio_rtlab_over_bash pre-forked"]
            row["within_10_percent"] = bool(1 / 1.1 <= ratio <= 1.1)
            out[f"{runtime} k={k}"] = row
            print(
                f"launcher {runtime} k={k}: "
                + ", ".join(f"{n} {row[f'{n}_throughput_per_s']:.1f}/s" for n in got)
                + f"; rtlab/pre-forked {ratio:.3f}; bash & fork phase "
                f"{row['bash_fork_phase_median_ms']:.1f} ms",
                flush=True,
            )
    return out


def launcher_main(a) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="rtlab-concbench-"))
    try:
        result = {
            "runtimes": a.runtimes.split(","),
            "pace": a.pace,
            "ks": list(LAUNCHER_KS),
            "rows": launcher_part(a.runtimes.split(","), a.blocks, a.batches, a.pace, tmp),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    left = []
    for runtime in result["runtimes"]:
        listed = subprocess.run([runtime, "list", "-q"], capture_output=True, text=True).stdout
        left += [c for c in listed.split() if c.startswith("rtlab-")]
    result["leftovers"] = left
    result["lock_waits"] = len(WAITS)
    save("concurrency_fidelity_launcher", result)

    def ci(r, name):
        low, high = r[f"ratio_ci95_{name}"]
        return f"{r[f'ratio_rtlab_over_{name}']:.3f} [{low:.3f}–{high:.3f}]"

    md = [
        f"# concurrency fidelity: rtlab against two bash launchers (pace {a.pace})\n",
        f"{a.blocks} blocks × {a.batches} batches per side, k and runtime, the three sides in "
        "rotating order; `run` of `true` in rtlab's own bundle config on every side. "
        "Throughput: k / the median makespan over batches (rtlab's estimand). Ratios: "
        "rtlab's throughput over the launcher's, 95% CI by a paired block bootstrap. "
        "**bash pre-forked** (like with like): k subshells forked before the pace, each "
        "blocked opening a FIFO; the clock starts and bash opens the FIFO for writing (the "
        "release); each execs `runtime run`. **bash &**: the clock starts, then bash forks "
        "the k runtimes one after another (its fork phase, clock start → last fork, is "
        "measured and shown): rtlab forks its children before the release, so this "
        "launcher is slower by about its fork phase.\n",
        "| runtime, k | rtlab /s | bash pre-forked /s | bash & /s | rtlab / pre-forked "
        "[95% CI] | within 10% | rtlab / bash & [95% CI] | bash & fork phase | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in result["rows"].items():
        p = r["load"]["cpu_pressure_some"]
        md.append(
            f"| {key} | {r['rtlab_throughput_per_s']:.1f} | "
            f"{r['bash pre-forked_throughput_per_s']:.1f} | {r['bash &_throughput_per_s']:.1f} | "
            f"{ci(r, 'bash pre-forked')} | {'yes' if r['within_10_percent'] else 'no'} | "
            f"{ci(r, 'bash &')} | {r['bash_fork_phase_median_ms']:.1f} ms | load "
            f"{r['load']['load_1min_start']:.1f}→{r['load']['load_1min_end']:.1f}"
            + ("" if p is None else f", CPU pressure {p:.0%}")
            + " |"
        )
    md.append(f"\nLeftovers: {len(left)}")
    (RESULTS / "concurrency_fidelity_launcher.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if not left else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        default="all",
        choices=["all", "launcher"],
        help="launcher: only part 4 (rtlab against a bash launcher)",
    )
    parser.add_argument("--runtimes", default="runc,crun", help="part 4's runtimes")
    parser.add_argument("--batches", type=int, default=8, help="part 4: batches per block")
    parser.add_argument("--runtime", default="runc")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--runs", type=int, default=6, help="trials per block and side")
    parser.add_argument("--pace", default="100ms")
    parser.add_argument("--skew-trials", type=int, default=12)
    parser.add_argument(
        "--probe-batches",
        type=int,
        default=20,
        help="batches per side and k in part 3 (where the skew goes)",
    )
    a = parser.parse_args()
    need_root()
    if a.parts == "launcher":
        return launcher_main(a)
    tmp = Path(tempfile.mkdtemp(prefix="rtlab-concbench-"))
    env = dict(os.environ)
    result: dict = {
        "runtime": a.runtime,
        "pace": a.pace,
        "blocks": a.blocks,
        "runs_per_block": a.runs,
    }
    # 1. k = 1 against the lifecycle's run, paired blocks
    load = Pressure()
    common = ["--runtimes", a.runtime, "--pace", a.pace, "--trials", str(a.runs)]
    conc_blocks, life_blocks = [], []
    for block in range(a.blocks):
        sides = [
            ("conc", ["--experiment", "concurrency", "--parallel", "1", "--steps", "run"]),
            ("life", ["--steps", "run"]),
        ]
        for name, extra in sides if block % 2 == 0 else sides[::-1]:
            rows = collect([*common, *extra], tmp / f"{name}-{block}", env)
            walls = [float(r["wall_s"]) for r in rows if r["step"] == "run"]
            (conc_blocks if name == "conc" else life_blocks).append(walls)
        print(
            f"block {block + 1}/{a.blocks}: concurrency k=1 {np.median(conc_blocks[-1]) * 1e3:.1f} ms, "
            f"lifecycle run {np.median(life_blocks[-1]) * 1e3:.1f} ms",
            flush=True,
        )
    ratio, low, high = paired_ratio(conc_blocks, life_blocks)
    result.update(
        {
            "k1_median_ms": float(np.median(np.concatenate(conc_blocks)) * 1e3),
            "lifecycle_run_median_ms": float(np.median(np.concatenate(life_blocks)) * 1e3),
            "ratio_k1_over_lifecycle": ratio,
            "ratio_ci95": [low, high],
            "within_5_percent": bool(1 / 1.05 <= low and high <= 1.05),
            "k1_load": load.done(),
        }
    )
    # 2. skew in a real run at k = 1, 4, 16
    load = Pressure()
    rows = collect(
        [
            "--runtimes",
            a.runtime,
            "--pace",
            a.pace,
            "--trials",
            str(a.skew_trials),
            "--experiment",
            "concurrency",
            "--parallel",
            ",".join(map(str, SKEW_KS)),
        ],
        tmp / "skew",
        env,
    )
    skews: dict[tuple[str, str], float] = {}
    for r in rows:
        key = (r["k"], r["batch"])
        skews[key] = max(skews.get(key, 0.0), float(r["offset_s"]))
    result["skew"] = {}
    for k in SKEW_KS:
        skew = [v for (kk, _), v in skews.items() if int(kk) == k]
        s95, s_low, s_high = p95_ci(skew)
        result["skew"][f"k={k}"] = {
            "batches": len(skew),
            "median_ms": float(np.median(skew) * 1e3),
            "p95_ms": s95 * 1e3,
            "p95_ci95_ms": [s_low * 1e3, s_high * 1e3],
        }
    result["skew_load"] = load.done()
    result["skew_k16_p95_at_most_1ms"] = result["skew"]["k=16"]["p95_ms"] <= 1.0
    # 3. where it goes
    result["where_it_goes"] = where_it_goes(a.runtime, a.probe_batches, tmp)
    left = subprocess.run([a.runtime, "list", "--quiet"], capture_output=True, text=True).stdout
    result["lock_waits"] = len(WAITS)
    result["leftovers"] = [c for c in left.split() if c.startswith("rtlab-")]
    shutil.rmtree(tmp, ignore_errors=True)
    save("concurrency_fidelity", result)

    def load_text(d: dict) -> str:
        p = d["cpu_pressure_some"]
        return f"load {d['load_1min_start']:.1f}→{d['load_1min_end']:.1f}" + (
            "" if p is None else f", CPU pressure {p:.0%}"
        )

    md = [
        f"# concurrency fidelity ({a.runtime}, pace {a.pace})\n",
        "Shared 2-core host, loaded by other jobs (load: 1-minute averages at the start and "
        "end of each part; CPU pressure: share of the part's time some task waited for a CPU).\n",
        f"## k = 1 against the lifecycle's run ({a.blocks} paired blocks × {a.runs}; "
        f"{load_text(result['k1_load'])})\n",
        "| measure | value |",
        "|---|---|",
        f"| k=1 (concurrency) median | {result['k1_median_ms']:.2f} ms |",
        f"| lifecycle run median | {result['lifecycle_run_median_ms']:.2f} ms |",
        f"| ratio k=1 / lifecycle (pooled medians) [95% CI, paired block bootstrap] | "
        f"{ratio:.3f} [{low:.3f}–{high:.3f}] |",
        "",
        f"## Launch skew in a real run (largest offset per batch; {load_text(result['skew_load'])})\n",
        "| k | batches | median | p95 [95% CI] |",
        "|---|---|---|---|",
    ]
    for k in SKEW_KS:
        s = result["skew"][f"k={k}"]
        md.append(
            f"| {k} | {s['batches']} | {s['median_ms']:.2f} ms | {s['p95_ms']:.2f} ms "
            f"[{s['p95_ci95_ms'][0]:.2f}–{s['p95_ci95_ms'][1]:.2f}] |"
        )
    if result["where_it_goes"]:
        md += [
            "",
            "## Where it goes: the barrier before (old: released without waiting for the "
            "children to be blocked on it) and after (new: released once every child said it "
            f"waits), against a minimal C waiter ({a.probe_batches} batches each, rotating)\n",
            "| command, k | old p95 [95% CI] | new p95 [95% CI] | C waiter p95 [95% CI] | "
            "medians (old, new, C) | load |",
            "|---|---|---|---|---|---|",
        ]
        for key, r in result["where_it_goes"].items():
            cells = " | ".join(
                f"{r[n][0] * 1e3:.2f} ms [{r[n][1] * 1e3:.2f}–{r[n][2] * 1e3:.2f}]"
                for n in ("old", "new", "waiter")
            )
            md.append(
                f"| {key} | {cells} | {r['old_median_ms']:.2f}, {r['new_median_ms']:.2f}, "
                f"{r['waiter_median_ms']:.2f} ms | {load_text(r['load'])} |"
            )
    md += ["", f"Leftovers: {len(result['leftovers'])}", ""]
    (RESULTS / "concurrency_fidelity.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0 if not result["leftovers"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
