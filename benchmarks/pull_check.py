#!/usr/bin/env python3
"""rtlab's timing of a cold pull against hyperfine's, per client (issue 33's check, like
with like).

Both tools time the same argv (the client's ``pull`` step of experiment pull) of the same
image from rtlab's registry, in the same cache state: before every timed pull, untimed,
every image of rtlab's pull repository is removed from the client's store (the pull
runner's own removal) and the page cache is dropped (``sync``; ``echo 3 >
/proc/sys/vm/drop_caches``). rtlab times with ``measure.run_timed`` (what collect's
pull step runs); hyperfine with ``-N`` and that preparation as its ``--prepare``. The
two arms alternate in blocks (the order flips each block), so drift falls on both.
Prints per client both medians, their ratio (hyperfine / rtlab) with a bootstrap 95%
CI over the blocks' medians, and whether it is within 10%.

Usage (root; rtlab setup done)::

    .venv/bin/python benchmarks/pull_check.py [--size 50MB] [--runs 5] [--blocks 4]

Writes ``benchmarks/results/pull_check.json``.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import boot_ratio_ci, hyperfine_block, need_root, save  # noqa: E402

from rtlab.collect.clients import CLIENTS  # noqa: E402
from rtlab.core import conditions  # noqa: E402
from rtlab.core.measure import run_timed  # noqa: E402
from rtlab.core.pull import parse_size  # noqa: E402
from rtlab.core.runtimes import KNOWN  # noqa: E402
from rtlab.host import pull_images  # noqa: E402

TIMEOUT_S = 600.0


def rtlab_block(target, ref: str, argv: list[str], runs: int) -> list[float]:
    """``runs`` cold pulls timed as collect's pull step: the image removed and the page
    cache dropped before each, untimed."""
    times = []
    for _ in range(runs):
        if target.has_image(ref):
            target.remove_image(ref, TIMEOUT_S)
        conditions.drop_caches()
        m = run_timed(argv, TIMEOUT_S)
        if not m.ok:
            raise SystemExit(f"{target.client}: pull failed: {m.describe_failure()}")
        times.append(m.wall_s)
    return times


def main() -> None:
    need_root()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="50MB")
    ap.add_argument("--compression", default="gzip", choices=pull_images.COMPRESSIONS)
    ap.add_argument("--clients", default="docker,ctr,podman")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    size = parse_size(args.size)
    (image,) = pull_images.push([size], (args.compression,), say=lambda line: None)
    out: dict = {"image": image.record(), "runs": args.runs, "blocks": args.blocks}
    for client in args.clients.split(","):
        target = CLIENTS[client](KNOWN["runc"], Path("/tmp"), timeout_s=TIMEOUT_S)
        target.use_image(image.ref)
        argv = target.step_commands("pull", "")[0]
        removal = target.remove_image_argv(target.find_binary() or client, image.ref)
        prepare = "sh -c " + shlex.quote(
            f"{shlex.join(removal)} >/dev/null 2>&1; sync; echo 3 > /proc/sys/vm/drop_caches"
        )

        blocks: dict[str, list[list[float]]] = {"rtlab": [], "hyperfine": []}
        for b in range(args.blocks):
            order = ("rtlab", "hyperfine") if (b + args.seed) % 2 == 0 else ("hyperfine", "rtlab")
            for arm in order:
                blocks[arm].append(
                    rtlab_block(target, image.ref, argv, args.runs)
                    if arm == "rtlab"
                    else hyperfine_block(argv, args.runs, prepare=prepare)
                )
        if target.has_image(image.ref):
            target.remove_image(image.ref, TIMEOUT_S)
        med = {arm: statistics.median(t for blk in v for t in blk) for arm, v in blocks.items()}
        per_block = {arm: [statistics.median(blk) for blk in v] for arm, v in blocks.items()}
        low, high = boot_ratio_ci(per_block["hyperfine"], per_block["rtlab"], args.seed)
        ratio = med["hyperfine"] / med["rtlab"]
        within = 0.9 <= low and high <= 1.1
        out[client] = {
            "argv": argv,
            "rtlab_ms": med["rtlab"] * 1e3,
            "hyperfine_ms": med["hyperfine"] * 1e3,
            "ratio": ratio,
            "ratio_ci": [low, high],
            "within_10pct": within,
            "blocks": blocks,
        }
        print(
            f"{client:7} rtlab {med['rtlab'] * 1e3:7.1f} ms  hyperfine {med['hyperfine'] * 1e3:7.1f} ms"
            f"  ratio {ratio:.3f} [{low:.3f}–{high:.3f}]  {'within' if within else 'NOT within'} 10%"
        )
    print(save("pull_check", out))


if __name__ == "__main__":
    main()
