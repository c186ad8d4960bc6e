#!/usr/bin/env python3
"""hyperfine -N over `runc run` and `crun run` of `true` (rtlab's busybox bundle).

Usage: hyperfine_run_true.py OUT.json [RUNS]
Writes hyperfine's own JSON export (one result per runtime, command names
"runc" and "crun"), the outside check the sample-data tests compare against.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rtlab.core import image


def main(out: str, runs: str = "30") -> int:
    with tempfile.TemporaryDirectory(prefix="rtlab-hf-") as tmp:
        bundle = image.write_bundle(Path(tmp) / "true", image.TRUE_ARGS, image.build_rootfs())
        cmds = []
        for rt in ("runc", "crun"):
            cmds += ["-n", rt, f"{shutil.which(rt)} run --bundle {bundle} rtlab-hyperfine-{rt}"]
        subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", runs, "--export-json", out,
                        *cmds], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
