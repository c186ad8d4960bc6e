#!/usr/bin/env python3
"""rtlab's timing of a cold pull against hyperfine's, per client, size and compression
(issue 33's must-show 3: like with like).

Both tools time the same argv (the client's ``pull`` step of experiment pull) of the same
image from rtlab's registry, from the same state, prepared by the same code: before
every timed pull, untimed, the image is removed from the client's store (the pull
runner's removal: ``docker``/``podman rmi --force``, ``ctr images rm --sync``), the page
cache is dropped (``conditions.drop_caches``: ``sync``, ``echo 3 >
/proc/sys/vm/drop_caches``) and the harness sleeps the same idle gap. Then one arm
times the pull with ``measure.run_timed`` (what collect's pull step runs), the other
with ``hyperfine -N --runs 1`` (no warm-up, no preparation of its own). The arms
alternate pull by pull (A B, then B A) in one sitting, so a change of the host's load
falls on both arms of a pair.

Per point: both medians, and the ratio hyperfine / rtlab as the Hodges–Lehmann
estimate of the per-pair log ratio with its signed-rank 95% CI (analysis/shift.py, the
estimator ``rtlab compare`` uses for rounds), and whether that CI lies within ±10%.

Why the earlier version of this check disagreed by up to 16% (docs/DESIGN.md, issue
33): it alternated *blocks* of five pulls per arm (each hyperfine block with a discarded
warm-up pull), on a host loaded by other jobs. The load moved on the scale of a block,
so one arm's block medians took it and the other's did not (docker's rtlab blocks 1.03
to 1.31 s beside hyperfine blocks of 0.72 to 0.79 s). ``--protocol blocks`` reruns that
protocol beside this one for the record.

The CRI (client ``cri``) has no command-line client on this host (crictl is not in
Debian 12), so hyperfine has nothing to time there: not checked here.

Usage (root; rtlab setup done)::

    .venv/bin/python benchmarks/pull_check.py [--sizes 0,50MB,200MB]
        [--compressions gzip,zstd] [--clients docker,ctr,podman] [--pairs 8] [--gap 0.5]

Writes ``benchmarks/results/pull_check.json`` and ``pull_check.md``; ``--update`` replaces
only the points measured now (e.g. more pairs where a CI was too wide) and keeps the rest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, cpu_stall_us, need_root, save  # noqa: E402

from rtlab.analysis import shift  # noqa: E402
from rtlab.collect.clients import CLIENTS  # noqa: E402
from rtlab.core import conditions  # noqa: E402
from rtlab.core.measure import run_timed  # noqa: E402
from rtlab.core.pull import parse_size, size_label  # noqa: E402
from rtlab.core.runtimes import KNOWN  # noqa: E402
from rtlab.host import pull_images  # noqa: E402

TIMEOUT_S = 600.0
MARGIN = 0.10
CANNOT = {("docker", "zstd"): "docker 20.10 cannot unpack zstd layers"}


def hyperfine_once(argv: list[str]) -> float:
    """One run of ``argv`` timed by hyperfine (-N: no shell; no warm-up)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = [
            "hyperfine", "-N", "--style", "none", "--runs", "1", "--export-json", f.name,
            " ".join(argv),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return json.loads(Path(f.name).read_text())["results"][0]["times"][0]


def rtlab_once(argv: list[str]) -> float:
    m = run_timed(argv, TIMEOUT_S)
    if not m.ok:
        raise RuntimeError(m.describe_failure())
    return m.wall_s


ARMS = {"rtlab": rtlab_once, "hyperfine": hyperfine_once}


def cold(target, ref: str, gap_s: float) -> None:
    """The same untimed state before either arm's pull: image gone, page cache dropped,
    then the idle gap."""
    if target.has_image(ref):
        why = target.remove_image(ref, TIMEOUT_S)
        if why:
            raise RuntimeError(why)
    conditions.drop_caches()
    time.sleep(gap_s)


def paired_ratio(rt: list[float], hf: list[float]) -> dict:
    """hyperfine / rtlab: Hodges–Lehmann of the per-pair log ratios, signed-rank 95% CI."""
    d = np.log(np.asarray(hf)) - np.log(np.asarray(rt))
    (s,) = shift.paired(d, 0.95)
    low, high = float(np.exp(s.low)), float(np.exp(s.high))
    mad = float(np.median(np.abs(d - np.median(d)))) * 1.4826
    return {
        "pairs": int(d.size),
        "log_ratio_robust_sd": mad,  # the spread of one pair's log ratio (MAD × 1.4826)
        "ratio": float(np.exp(s.estimate)),
        "ratio_ci": [low, high],
        "ratio_of_medians": statistics.median(hf) / statistics.median(rt),
        "within_10pct": bool(1 - MARGIN <= low and high <= 1 + MARGIN),
    }


def point(target, ref: str, argv: list[str], pairs: int, gap_s: float, seed: int) -> dict:
    """``pairs`` pairs of cold pulls, one per arm, the order flipping every pair."""
    times: dict[str, list[float]] = {"rtlab": [], "hyperfine": []}
    stall, started = [], time.monotonic()
    for p in range(pairs):
        order = ("rtlab", "hyperfine") if (p + seed) % 2 == 0 else ("hyperfine", "rtlab")
        s0 = cpu_stall_us()
        t0 = time.monotonic()
        for arm in order:
            cold(target, ref, gap_s)
            times[arm].append(ARMS[arm](argv))
        s1 = cpu_stall_us()
        if s0 is not None and s1 is not None:
            stall.append((s1 - s0) / 1e6 / (time.monotonic() - t0))
    return {
        "rtlab_ms": statistics.median(times["rtlab"]) * 1e3,
        "hyperfine_ms": statistics.median(times["hyperfine"]) * 1e3,
        **paired_ratio(times["rtlab"], times["hyperfine"]),
        "times_s": times,
        "cpu_stall_share_per_pair": stall,
        "seconds": time.monotonic() - started,
    }


def exec_check(pairs: int, gap_s: float) -> list[dict]:
    """The harnesses alone: a command that pulls nothing (``podman --version``, ``ctr
    --version``, ``/bin/true``) timed by both arms, pair by pair, after a page-cache drop
    (as before a cold pull) and warm: what each timer adds to starting a command."""
    out = []
    for argv, drop in (
        (["podman", "--version"], True),
        (["ctr", "--version"], True),
        (["/bin/true"], True),
        (["podman", "--version"], False),
        (["/bin/true"], False),
    ):
        times: dict[str, list[float]] = {"rtlab": [], "hyperfine": []}
        for p in range(pairs):
            for arm in ("rtlab", "hyperfine") if p % 2 == 0 else ("hyperfine", "rtlab"):
                if drop:
                    conditions.drop_caches()
                time.sleep(gap_s)
                times[arm].append(ARMS[arm](argv))
        diff = [h - r for r, h in zip(times["rtlab"], times["hyperfine"])]
        out.append(
            {
                "argv": argv,
                "caches_dropped": drop,
                "rtlab_ms": statistics.median(times["rtlab"]) * 1e3,
                "hyperfine_ms": statistics.median(times["hyperfine"]) * 1e3,
                "median_diff_ms": statistics.median(diff) * 1e3,  # hyperfine − rtlab per pair
                **paired_ratio(times["rtlab"], times["hyperfine"]),
                "times_s": times,
            }
        )
        print(
            f"{' '.join(argv):16} {'cold' if drop else 'warm'}  rtlab {out[-1]['rtlab_ms']:6.2f} ms"
            f"  hyperfine {out[-1]['hyperfine_ms']:6.2f} ms  hyperfine − rtlab "
            f"{out[-1]['median_diff_ms']:+.2f} ms (median of pairs)",
            flush=True,
        )
    return out


def blocks(target, ref: str, argv: list[str], runs: int, n_blocks: int, gap_s: float) -> dict:
    """The earlier protocol: blocks of ``runs`` pulls per arm, alternating block by block."""
    times: dict[str, list[list[float]]] = {"rtlab": [], "hyperfine": []}
    for b in range(n_blocks):
        for arm in ("rtlab", "hyperfine") if b % 2 == 0 else ("hyperfine", "rtlab"):
            block = []
            for _ in range(runs):
                cold(target, ref, gap_s)
                block.append(ARMS[arm](argv))
            times[arm].append(block)
    flat = {arm: [t for blk in v for t in blk] for arm, v in times.items()}
    return {
        "rtlab_ms": statistics.median(flat["rtlab"]) * 1e3,
        "hyperfine_ms": statistics.median(flat["hyperfine"]) * 1e3,
        "ratio_of_medians": statistics.median(flat["hyperfine"]) / statistics.median(flat["rtlab"]),
        "block_medians_ms": {
            arm: [statistics.median(blk) * 1e3 for blk in v] for arm, v in times.items()
        },
    }


def main() -> None:
    need_root()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="0,50MB,200MB")
    ap.add_argument("--compressions", default="gzip,zstd")
    ap.add_argument("--clients", default="docker,ctr,podman")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--gap", type=float, default=0.5, help="idle seconds before each pull")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--update", action="store_true", help="merge into the stored results")
    ap.add_argument(
        "--append", action="store_true", help="with --update: add the pairs to the stored ones"
    )
    ap.add_argument(
        "--blocks", type=int, default=0, help="also run the earlier block protocol (blocks of 5)"
    )
    ap.add_argument(
        "--exec-only", action="store_true", help="only time the harnesses on --version, /bin/true"
    )
    ap.add_argument(
        "--md-only", action="store_true", help="only rewrite pull_check.md from the stored JSON"
    )
    args = ap.parse_args()
    if args.exec_only:  # the harnesses' own cost, stored beside the points
        stored = json.loads((RESULTS / "pull_check.json").read_text())
        stored["exec_check"] = exec_check(40, args.gap)
        (RESULTS / "pull_check.json").write_text(json.dumps(stored, indent=2) + "\n")
        (RESULTS / "pull_check.md").write_text(markdown(stored))
        return
    if args.md_only:  # the ratios recomputed from the stored times
        stored = json.loads((RESULTS / "pull_check.json").read_text())
        for p in stored["points"]:
            if "times_s" in p:
                p |= paired_ratio(p["times_s"]["rtlab"], p["times_s"]["hyperfine"])
        stored["pooled"] = pooled([p for p in stored["points"] if "times_s" in p])
        (RESULTS / "pull_check.md").write_text(markdown(stored))
        return
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    comps = args.compressions.split(",")
    for c in comps:
        if c not in pull_images.COMPRESSIONS:
            raise SystemExit(f"--compressions: {c!r}; known: {', '.join(pull_images.COMPRESSIONS)}")
    images = pull_images.push(sizes, tuple(comps), seed=args.seed, say=lambda line: None)
    out: dict = {
        "protocol": "per point, pairs of cold pulls (rtlab's run_timed, hyperfine -N --runs 1) "
        "alternating A B / B A; before each pull the image removed, the page cache dropped, "
        "then the idle gap; ratio hyperfine/rtlab = Hodges–Lehmann of per-pair log ratios "
        "with the signed-rank 95% CI",
        "pairs": args.pairs,
        "gap_s": args.gap,
        "images": [i.record() for i in images],
        "points": [],
    }
    for client in args.clients.split(","):
        target = CLIENTS[client](KNOWN["runc"], Path("/tmp"), timeout_s=TIMEOUT_S)
        for image in images:
            label = f"{client:6} {size_label(image.size_bytes):>5} {image.compression:4}"
            row = {
                "client": client,
                "size_bytes": image.size_bytes,
                "compression": image.compression,
            }
            if (client, image.compression) in CANNOT:
                out["points"].append(row | {"skipped": CANNOT[(client, image.compression)]})
                print(f"{label}  skipped: {CANNOT[(client, image.compression)]}", flush=True)
                continue
            target.use_image(image.ref)
            argv = target.step_commands("pull", "")[0]
            try:
                row |= {"argv": argv} | point(
                    target, image.ref, argv, args.pairs, args.gap, args.seed
                )
                if args.blocks:
                    row["blocks"] = blocks(target, image.ref, argv, 5, args.blocks, args.gap)
            except (RuntimeError, subprocess.CalledProcessError) as exc:
                row["error"] = str(exc).splitlines()[0]
                print(f"{label}  error: {row['error']}", flush=True)
            finally:
                if target.has_image(image.ref):
                    target.remove_image(image.ref, TIMEOUT_S)
            out["points"].append(row)
            if "ratio" in row:
                low, high = row["ratio_ci"]
                print(
                    f"{label}  rtlab {row['rtlab_ms']:7.1f} ms  hyperfine {row['hyperfine_ms']:7.1f}"
                    f" ms  ratio {row['ratio']:.3f} [{low:.3f}–{high:.3f}]"
                    f"  {'within' if row['within_10pct'] else 'NOT within'} 10%"
                    + (
                        f"  (blocks: {row['blocks']['ratio_of_medians']:.3f})"
                        if "blocks" in row
                        else ""
                    ),
                    flush=True,
                )
    stored = RESULTS / "pull_check.json"
    if args.update and stored.exists():
        old = json.loads(stored.read_text())
        if args.append:  # this sitting's pairs added to the stored ones of each point
            before = {_key(p): p for p in old.get("points", []) if "times_s" in p}
            for p in out["points"]:
                if "times_s" in p and _key(p) in before:
                    _extend(p, before[_key(p)])
        now = {_key(p) for p in out["points"]}
        out["points"] = [p for p in old.get("points", []) if _key(p) not in now] + out["points"]
        out["points"].sort(key=lambda p: (p["client"], p["size_bytes"], p["compression"]))
        out["images"] = old.get("images", []) + [
            i for i in out["images"] if i not in old.get("images", [])
        ]
    for p in out["points"]:  # points stored by an earlier version: their ratio recomputed
        if "times_s" in p and "pairs" not in p:
            p |= paired_ratio(p["times_s"]["rtlab"], p["times_s"]["hyperfine"])
    checked = [p for p in out["points"] if "ratio" in p]
    out["all_within_10pct"] = bool(checked) and all(p["within_10pct"] for p in checked)
    out["pooled"] = pooled(checked)
    print(f"{sum(p['within_10pct'] for p in checked)}/{len(checked)} points within 10%")
    path = save("pull_check", out)
    path.with_suffix(".md").write_text(markdown(out))
    print(path)


def pooled(points: list[dict]) -> dict:
    """Every pair of every point as one paired sample: a systematic difference between
    the two timers would show here, where the host's noise averages out."""
    rt = [t for p in points for t in p["times_s"]["rtlab"]]
    hf = [t for p in points for t in p["times_s"]["hyperfine"]]
    return paired_ratio(rt, hf) if rt else {}


def _extend(p: dict, old: dict) -> None:
    """``p``'s pairs after ``old``'s (two sittings of the same point), statistics redone."""
    for arm in ("rtlab", "hyperfine"):
        p["times_s"][arm] = old["times_s"][arm] + p["times_s"][arm]
    p["cpu_stall_share_per_pair"] = old["cpu_stall_share_per_pair"] + p["cpu_stall_share_per_pair"]
    p["seconds"] += old.get("seconds", 0.0)
    p["sittings"] = old.get("sittings", 1) + 1
    p["rtlab_ms"] = statistics.median(p["times_s"]["rtlab"]) * 1e3
    p["hyperfine_ms"] = statistics.median(p["times_s"]["hyperfine"]) * 1e3
    p |= paired_ratio(p["times_s"]["rtlab"], p["times_s"]["hyperfine"])


def _key(p: dict) -> tuple:
    return (p["client"], p["size_bytes"], p["compression"])


def markdown(out: dict) -> str:
    """The short table beside the JSON."""
    lines = [
        "# A cold pull timed by rtlab and by hyperfine (issue 33, must-show 3)",
        "",
        f"Written by `benchmarks/pull_check.py`: {out['protocol']}; idle gap {out['gap_s']} s.",
        "",
        "| client | size | compression | pairs | rtlab (ms) | hyperfine (ms) "
        "| hyperfine / rtlab [95% CI] | within 10% | pair log-ratio sd | CPU contended |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in out["points"]:
        head = f"| {p['client']} | {size_label(p['size_bytes'])} | {p['compression']} |"
        if "ratio" not in p:
            lines.append(f"{head} | | | {p.get('skipped') or p.get('error')} | | | |")
            continue
        stall = p["cpu_stall_share_per_pair"]
        busy = f"{statistics.median(stall):.0%}" if stall else "—"
        low, high = p["ratio_ci"]
        lines.append(
            f"{head} {p['pairs']} | {p['rtlab_ms']:.0f} | {p['hyperfine_ms']:.0f} | "
            f"{p['ratio']:.3f} [{low:.3f}–{high:.3f}] | {'yes' if p['within_10pct'] else 'no'} | "
            f"{p['log_ratio_robust_sd']:.3f} | {busy} |"
        )
    if out.get("pooled"):
        q = out["pooled"]
        low, high = q["ratio_ci"]
        lines += [
            "",
            f"All {q['pairs']} pairs of all points as one paired sample: hyperfine / rtlab "
            f"{q['ratio']:.3f} [{low:.3f}–{high:.3f}] (pair log-ratio sd "
            f"{q['log_ratio_robust_sd']:.3f}).",
        ]
    if out.get("exec_check"):
        lines += [
            "",
            "The harnesses alone (no pull; 40 pairs each; hyperfine − rtlab, median of pairs):",
            "",
            "| command | page cache | rtlab (ms) | hyperfine (ms) | hyperfine − rtlab (ms) |",
            "|---|---|---|---|---|",
        ]
        for e in out["exec_check"]:
            lines.append(
                f"| `{' '.join(e['argv'])}` | {'dropped' if e['caches_dropped'] else 'warm'} | "
                f"{e['rtlab_ms']:.2f} | {e['hyperfine_ms']:.2f} | {e['median_diff_ms']:+.2f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
