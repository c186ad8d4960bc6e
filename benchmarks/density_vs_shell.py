"""Density's memavailable slope against a shell loop that is not rtlab, like with like.

The independent side is a bash script (below, ``SHELL``): ``sync`` and a page-cache
drop, ``MemAvailable`` plus the free pages on the kernel's per-CPU lists (the
``count`` lines of /proc/zoneinfo, which MemFree leaves out; rtlab adds them too)
read with awk at once, then containers brought up with the client's
own CLI (``docker create``/``docker start`` or the runtime's ``create``/``start`` on
the same busybox bundle rtlab uses) to N = 1, 3, 6, each level left idle 1 s, then
``sync`` + drop and MemAvailable read again: the fall at each N. The rtlab side is
``rtlab collect --experiment density`` at the same levels, settle and targets (the
ones make report's density run measures: oci and docker over runc and runsc), one
trial per round. The two sides alternate in one sitting (A B B A …, order flipped
each round), so a host that drifts moves both.

Per side and target: each trial's OLS slope of the fall against N (MB per container,
as rtlab's analysis/density_stats computes it), their mean with a Student-t 95% CI
across trials, and rtlab's verdict rule (resolvable when the CI's half-width is at
most half the estimate and the estimate is positive). Prints the ratio of the means.

Run as root from the repository root after ``make setup``:
``.venv/bin/python benchmarks/density_vs_shell.py --rounds 6``.
Writes benchmarks/results/density_vs_shell.json.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save  # noqa: E402

from rtlab.analysis import density_stats  # noqa: E402
from rtlab.core import image, runtimes, workload  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LEVELS = (1, 3, 6)
TARGETS = (("oci", "runc"), ("oci", "runsc"), ("docker", "runc"), ("docker", "runsc"))

SHELL = r"""
set -u
client=$1 runtime=$2 bundle=$3 image=$4 levels=$5
avail() {
  sync; echo 3 > /proc/sys/vm/drop_caches
  echo $(( $(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) * 1024
    + $(awk '$1 == "count:" {s += $2} END {print s + 0}' /proc/zoneinfo) * $(getconf PAGESIZE) ))
}
ids=()
cleanup() {
  for id in "${ids[@]}"; do
    if [ "$client" = docker ]; then docker rm -f "$id" >/dev/null 2>&1
    else $runtime kill "$id" KILL >/dev/null 2>&1; $runtime delete --force "$id" >/dev/null 2>&1; fi
  done
}
trap cleanup EXIT
a0=$(avail)
i=0
for n in $levels; do
  while [ "$i" -lt "$n" ]; do
    i=$((i + 1)); id="shcheck-$$-$i"; ids+=("$id")
    if [ "$client" = docker ]; then
      docker create --name "$id" --runtime "$runtime" --network none --pull never "$image" sleep 3600 >/dev/null || exit 1
      docker start "$id" >/dev/null || exit 1
    else
      $runtime create --bundle "$bundle" "$id" </dev/null >/dev/null 2>&1 || exit 1
      $runtime start "$id" || exit 1
    fi
  done
  sleep 1
  echo "$n $((a0 - $(avail)))"
done
"""


def shell_trial(client: str, runtime: str, bundle: Path, script: Path) -> list[tuple[int, int]]:
    """One trial of the shell side: (N, MemAvailable fall in bytes) per level."""
    done = subprocess.run(
        [
            "bash",
            str(script),
            client,
            runtime if client == "docker" else shlex.join(runtimes.KNOWN[runtime].argv),
            str(bundle),
            workload.DEFAULT_IMAGE,
            " ".join(map(str, LEVELS)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"shell trial {client}/{runtime} failed: {done.stderr.strip()}")
    return [(int(a), int(b)) for a, b in (line.split() for line in done.stdout.splitlines())]


def rtlab_round(
    out: Path, allow_concurrent: bool = False, target: tuple[str, str] | None = None
) -> pd.DataFrame:
    """One rtlab density trial of every target (one round), or of ``target`` alone; its
    memavailable rows. This checkout's rtlab (``python -m rtlab`` from ROOT), not an
    installed copy's."""
    clients = [target[0]] if target else sorted({c for c, _ in TARGETS})
    runtimes = [target[1]] if target else sorted({r for _, r in TARGETS})
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rtlab",
            "collect",
            "--experiment",
            "density",
            "--clients",
            ",".join(clients),
            "--runtimes",
            ",".join(runtimes),
            "--containers",
            ",".join(map(str, LEVELS)),
            "--trials",
            "1",
            "--warmup",
            "0",
            "--out",
            str(out),
            "--no-progress",
            *(["--allow-concurrent"] if allow_concurrent else []),
        ],
        check=True,
        capture_output=True,
        timeout=900,
        env=env,
        cwd=ROOT,
    )
    frame = pd.read_csv(out / "density.csv")
    return frame[(frame["method"] == "memavailable") & (frame["ok"].astype(str) == "True")]


def slope(points: list[tuple[int, float]]) -> float:
    """One trial's slope of bytes against N, in MB per container (density_stats.ols_fit,
    as rtlab's analysis fits a trial)."""
    n, b = zip(*points)
    return density_stats.ols_fit(n, b)[0] / 1e6


def summary(slopes: list[float]) -> dict:
    """The trials' slopes as rtlab summarises them (density_stats.across_trials: the mean
    with its t-interval, "not resolvable here" when the interval is wider than ±50% of it
    or a memory slope is negative)."""
    fit = density_stats.across_trials(slopes, nonnegative=True)
    return {
        "slopes_mb": [round(s, 2) for s in slopes],
        "mean_mb": round(fit["estimate"], 2),
        "ci_mb": [round(fit["low"], 2), round(fit["high"], 2)],
        "resolvable": fit["status"] == density_stats.RESOLVED,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--allow-concurrent",
        action="store_true",
        help="let rtlab collect run beside another rtlab collect (a shared host; recorded)",
    )
    parser.add_argument(
        "--same-order",
        action="store_true",
        help="rtlab measures one target per run, in the shell's target order (so each "
        "target follows the same other target's teardown on both sides; recorded)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    shell: dict[str, list[float]] = {f"{c}/{r}": [] for c, r in TARGETS}
    ours: dict[str, list[float]] = {f"{c}/{r}": [] for c, r in TARGETS}
    with tempfile.TemporaryDirectory(prefix="rtlab-density-check-") as tmp:
        script = Path(tmp) / "density.sh"
        script.write_text(SHELL)
        bundle = image.write_bundle(
            Path(tmp) / "bundle", workload.Workload().lifecycle_args(), image.build_rootfs()
        )
        for rnd in range(args.rounds):
            order = ("shell", "rtlab") if rnd % 2 == 0 else ("rtlab", "shell")
            for side in order:
                if side == "shell":
                    for client, runtime in TARGETS:
                        pts = shell_trial(client, runtime, bundle, script)
                        shell[f"{client}/{runtime}"].append(slope(pts))
                else:
                    if args.same_order:  # one rtlab run per target, in the shell's order
                        rows = pd.concat(
                            rtlab_round(
                                Path(tmp) / f"run-{rnd}-{c}-{r}", args.allow_concurrent, (c, r)
                            )
                            for c, r in TARGETS
                        )
                    else:
                        rows = rtlab_round(Path(tmp) / f"run-{rnd}", args.allow_concurrent)
                    for (client, runtime), sub in rows.groupby(["client", "runtime"]):
                        pts = list(zip(sub["n"].astype(int), sub["bytes"].astype(float)))
                        ours[f"{client}/{runtime}"].append(slope(pts))
            print(f"round {rnd + 1}/{args.rounds} done", flush=True)
    table = {}
    for key in shell:
        a, b = summary(ours[key]), summary(shell[key])
        table[key] = {
            "rtlab": a,
            "shell": b,
            "ratio_of_means": round(a["mean_mb"] / b["mean_mb"], 3),
        }
        print(
            f"{key:14} rtlab {a['mean_mb']:7.2f} MB [{a['ci_mb'][0]:.2f}, {a['ci_mb'][1]:.2f}]"
            f" {'resolvable' if a['resolvable'] else 'not resolvable'}   shell "
            f"{b['mean_mb']:7.2f} MB [{b['ci_mb'][0]:.2f}, {b['ci_mb'][1]:.2f}]"
            f" {'resolvable' if b['resolvable'] else 'not resolvable'}   ratio "
            f"{table[key]['ratio_of_means']}"
        )
    path = save(
        "density_vs_shell",
        {
            "method": __doc__.split("\n\n")[1],
            "levels": list(LEVELS),
            "rounds": args.rounds,
            "allow_concurrent": args.allow_concurrent,
            "same_order": args.same_order,
            "targets": table,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
