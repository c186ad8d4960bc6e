#!/usr/bin/env python3
"""What running a command as the rootless user costs rtlab's timer (rootless.py).

``/bin/true`` timed by rtlab's own timer (``measure.run_timed``) three ways, side
by side in alternating blocks (the order rotates from block to block): bare;
behind rtlab's wrapper ``setpriv --reuid --regid --init-groups --reset-env --``;
and behind ``runuser -u USER --`` (the alternative, which goes through PAM).
Prints each median, the difference to bare (the wrapper's overhead in every
rootless row) and the ratio. collect stores the same setpriv figure, measured at
the start of each run, in run.json's ``rootless_wrapper``.

Usage (root; the user from ``rtlab setup``, or ``RTLAB_ROOTLESS_USER``)::

    .venv/bin/python benchmarks/rootless_wrapper.py [--blocks 20] [--runs 20]

Writes ``benchmarks/results/rootless_wrapper.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_ms, need_root, save  # noqa: E402

from rtlab.core.measure import run_timed  # noqa: E402
from rtlab.host import rootless  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    need_root()
    acct = rootless.account()
    if acct is None:
        raise SystemExit(f"no user {rootless.USER}: run rtlab setup, or set RTLAB_ROOTLESS_USER")
    ways = {
        "bare": ["/bin/true"],
        "setpriv (rtlab)": [*rootless.wrapper(acct), "/bin/true"],
        "runuser": ["runuser", "-u", acct.name, "--", "/bin/true"],
    }
    times: dict[str, list[float]] = {k: [] for k in ways}
    names = list(ways)
    for block in range(args.blocks):
        order = names[block % len(names) :] + names[: block % len(names)]
        for name in order:
            for _ in range(args.runs):
                m = run_timed(ways[name], 5.0)
                if not m.ok:
                    raise SystemExit(f"{name}: {m.describe_failure()}")
                times[name].append(m.wall_s)
    bare = statistics.median(times["bare"])
    result = {}
    for name in names:
        med = statistics.median(times[name])
        result[name] = {
            "median_ms": median_ms(times[name]),
            "minus_bare_ms": (med - bare) * 1e3,
            "ratio_to_bare": med / bare,
            "n": len(times[name]),
        }
        print(
            f"{name:>16}: median {med * 1e3:.3f} ms, +{(med - bare) * 1e3:.3f} ms over bare, "
            f"ratio {med / bare:.2f}"
        )
    ratio = result["runuser"]["median_ms"] / result["setpriv (rtlab)"]["median_ms"]
    print(f"runuser / setpriv: {ratio:.2f}")
    path = save(
        "rootless_wrapper",
        {
            "user": acct.name,
            "blocks": args.blocks,
            "runs": args.runs,
            "results": result,
            "runuser_over_setpriv": ratio,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
