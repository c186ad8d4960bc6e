#!/usr/bin/env python3
"""How close are rtlab's timings to an independent timer (hyperfine -N)?

In one run, in interleaved blocks, the same commands are timed by rtlab's
measurement path (rtlab.measure.run_timed) and by ``hyperfine -N``: a no-op
(/bin/true), and ``run`` of ``true`` under runc and under crun. Prints, for
each, both medians and their ratio, and rtlab's per-call overhead against
hyperfine's on the no-op. Targets (reported, not asserted): within 5% for the
runtime commands; overhead within 0.5 ms.

    sudo .venv/bin/python benchmarks/fidelity.py [--blocks 5] [--runs 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import hyperfine_block, median_ms, need_root, save  # noqa: E402

from rtlab import image  # noqa: E402
from rtlab.measure import run_timed  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=5, help="interleaved blocks (default 5)")
    p.add_argument("--runs", type=int, default=10, help="samples per block per timer (default 10)")
    args = p.parse_args()
    need_root()
    work = Path(tempfile.mkdtemp(prefix="rtlab-fidelity-"))
    try:
        bundle = image.write_bundle(work / "true", image.TRUE_ARGS, image.build_rootfs())
        commands = {"no-op (/bin/true)": [shutil.which("true") or "/bin/true"]}
        for rt in ("runc", "crun"):
            if shutil.which(rt):
                commands[f"{rt} run true"] = [shutil.which(rt), "run", "--bundle", str(bundle),
                                              f"rtlab-fidelity-{rt}"]
        samples = {name: {"rtlab": [], "hyperfine": []} for name in commands}
        for block in range(args.blocks):
            for name, argv in commands.items():
                timers = ("rtlab", "hyperfine") if block % 2 == 0 else ("hyperfine", "rtlab")
                for timer in timers:
                    if timer == "hyperfine":
                        samples[name]["hyperfine"] += hyperfine_block(argv, args.runs)
                    else:
                        run_timed(argv, 30)  # warm-up, as hyperfine's --warmup 1
                        for _ in range(args.runs):
                            m = run_timed(argv, 30)
                            if not m.ok:
                                raise SystemExit(f"{name}: {m.describe_failure()}")
                            samples[name]["rtlab"].append(m.wall_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    print(f"{'command':<22} {'rtlab ms':>10} {'hyperfine ms':>13} {'ratio':>7}")
    for name, s in samples.items():
        r, h = median_ms(s["rtlab"]), median_ms(s["hyperfine"])
        rows.append({"command": name, "rtlab_median_ms": r, "hyperfine_median_ms": h,
                     "ratio": r / h, "n_each": len(s["rtlab"]), "samples_s": s})
        print(f"{name:<22} {r:>10.3f} {h:>13.3f} {r / h:>7.3f}")
    noop = rows[0]
    overhead = noop["rtlab_median_ms"] - noop["hyperfine_median_ms"]
    print(f"rtlab's per-call overhead beyond hyperfine's (no-op medians): {overhead:+.3f} ms "
          "(target: within 0.5 ms)")
    path = save("fidelity", {"blocks": args.blocks, "runs_per_block": args.runs, "rows": rows,
                             "overhead_vs_hyperfine_ms": overhead})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
