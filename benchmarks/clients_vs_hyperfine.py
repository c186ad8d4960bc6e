"""rtlab's timing of a one-shot ``run`` of ``true`` against hyperfine's, per client over runc.

Both tools time the very same argv (the driver's ``run`` step), in the same
session, in interleaved blocks: every block runs each (client, tool) pair
``--runs`` times, in an order shuffled by ``--seed``, so drift in the host
(page cache, daemon state, load) falls on both tools alike. rtlab times with
``measure.run_timed`` (posix_spawn → wait4); hyperfine with ``-N`` (no shell,
so no shell start-up in its numbers) and ``--export-json``.

A container id may be reused run after run: every client's ``run`` removes
its container before it exits (``--rm``; ``runc run`` deletes on exit).

Usage (root; daemons started by ``rtlab setup``)::

    .venv/bin/python benchmarks/clients_vs_hyperfine.py [--runs 10] [--blocks 3]

Prints both medians side by side with their ratio and writes
``benchmarks/results/clients_vs_hyperfine.{json,csv}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from rtlab.collect.clients import CLIENTS
from rtlab.collect.collect import new_run_id, run_token
from rtlab.core.image import RUNTIME_DIR
from rtlab.core.measure import run_timed
from rtlab.core.runtimes import KNOWN
from rtlab.host import cleanup, host

RESULTS = Path(__file__).resolve().parent / "results"
TIMEOUT_S = 60.0


def time_with_rtlab(argv: list[str], runs: int) -> list[float]:
    walls = []
    for _ in range(runs):
        m = run_timed(argv, TIMEOUT_S)
        if not m.ok:
            raise RuntimeError(f"rtlab: {' '.join(argv)}: {m.describe_failure()}")
        walls.append(m.wall_s)
    return walls


def time_with_hyperfine(argv: list[str], runs: int, name: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "hf.json"
        cmd = [
            "hyperfine",
            "-N",
            "--runs",
            str(runs),
            "--warmup",
            "0",
            "--style",
            "none",
            "--command-name",
            name,
            "--export-json",
            str(export),
            shlex.join(argv),
        ]
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S * runs + 60,
            stdin=subprocess.DEVNULL,
        )
        if out.returncode != 0:
            raise RuntimeError(f"hyperfine: {' '.join(cmd)}: {out.stderr.strip()[-400:]}")
        return json.loads(export.read_text())["results"][0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", default="docker,ctr,podman,oci", help="comma-separated clients")
    p.add_argument("--runs", type=int, default=10, help="runs per (client, tool) in each block")
    p.add_argument("--blocks", type=int, default=3, help="interleaved blocks")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs per client before block 1")
    p.add_argument("--seed", type=int, default=0, help="seed of the order within blocks")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the .json and .csv")
    args = p.parse_args(argv)
    if shutil.which("hyperfine") is None:
        print(
            "hyperfine not installed (Debian package hyperfine; rtlab setup installs it)",
            file=sys.stderr,
        )
        return 2

    token = run_token(new_run_id())
    workdir = RUNTIME_DIR / token
    lock = cleanup.RunLock(token, workdir)
    lock.acquire()
    rows: list[dict] = []
    hyperfine_stats: dict[str, list[dict]] = {}
    targets = {}
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        for n, client in enumerate(c.strip() for c in args.clients.split(",") if c.strip()):
            target = CLIENTS[client](KNOWN["runc"], workdir, timeout_s=TIMEOUT_S)
            why = target.unavailable_reason()
            if why:
                print(f"skipping {target.label}: {why}", file=sys.stderr)
                continue
            target.prepare()
            cid = f"{cleanup.CONTAINER_PREFIX}{token}-{n:05d}b"
            targets[client] = (target, target.commands("run", cid)[0], cid)
        if not targets:
            print("nothing to measure", file=sys.stderr)
            return 1
        for _, run_argv, _ in targets.values():
            time_with_rtlab(run_argv, args.warmup)
        rng = random.Random(args.seed)
        for block in range(args.blocks):
            order = [(c, tool) for c in targets for tool in ("rtlab", "hyperfine")]
            rng.shuffle(order)
            for client, tool in order:
                run_argv = targets[client][1]
                if tool == "rtlab":
                    walls = time_with_rtlab(run_argv, args.runs)
                else:
                    result = time_with_hyperfine(run_argv, args.runs, client)
                    hyperfine_stats.setdefault(client, []).append(
                        {
                            k: result.get(k)
                            for k in ("mean", "stddev", "median", "user", "system", "min", "max")
                        }
                    )
                    walls = result["times"]
                rows += [
                    {
                        "client": client,
                        "runtime": "runc",
                        "tool": tool,
                        "block": block,
                        "run": i,
                        "wall_s": w,
                    }
                    for i, w in enumerate(walls)
                ]
                print(
                    f"block {block + 1}/{args.blocks} {client:<7} {tool:<9} "
                    f"median {statistics.median(walls) * 1e3:8.1f} ms",
                    file=sys.stderr,
                )
    finally:
        for target, _, cid in targets.values():
            target.remove(cid)
        cleanup.sweep(f"{cleanup.CONTAINER_PREFIX}{token}-")
        shutil.rmtree(workdir, ignore_errors=True)
        lock.release()

    summary = []
    print(f"\n{'client':<8} {'rtlab median':>14} {'hyperfine median':>18} {'ratio':>7}   n")
    for client in targets:
        mine = [r["wall_s"] for r in rows if r["client"] == client and r["tool"] == "rtlab"]
        theirs = [r["wall_s"] for r in rows if r["client"] == client and r["tool"] == "hyperfine"]
        med_r, med_h = statistics.median(mine), statistics.median(theirs)
        summary.append(
            {
                "client": client,
                "runtime": "runc",
                "rtlab_median_s": med_r,
                "hyperfine_median_s": med_h,
                "ratio_rtlab_over_hyperfine": med_r / med_h,
                "n_rtlab": len(mine),
                "n_hyperfine": len(theirs),
            }
        )
        print(
            f"{client:<8} {med_r * 1e3:11.1f} ms {med_h * 1e3:15.1f} ms {med_r / med_h:7.3f}   "
            f"{len(mine)}/{len(theirs)}"
        )

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / "clients_vs_hyperfine"
    hf_version = subprocess.run(
        ["hyperfine", "--version"], capture_output=True, text=True
    ).stdout.strip()
    versions: dict = {}
    for target, _, _ in targets.values():
        versions.update(target.versions())
    doc = {
        "format_version": 1,
        "what": "wall seconds of the `run` step (one-shot `true`) per client over runc, "
        "timed by rtlab and by hyperfine -N on the same argv, interleaved blocks",
        "created_at": datetime.now(timezone.utc).isoformat(),
        "parameters": {
            "runs_per_block": args.runs,
            "blocks": args.blocks,
            "warmup": args.warmup,
            "seed": args.seed,
        },
        "host": host.identity(),
        "versions": {**versions, "hyperfine": hf_version},
        "argv": {c: a for c, (_, a, _) in targets.items()},
        "summary": summary,
        "hyperfine_stats_per_block": hyperfine_stats,
        "samples": rows,
    }
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    with stem.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {stem.with_suffix('.json')} and {stem.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
