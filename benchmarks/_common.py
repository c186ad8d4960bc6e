"""Helpers shared by the benchmark scripts (not part of the rtlab package)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from rtlab.host import host

RESULTS = Path(__file__).resolve().parent / "results"


def hyperfine_block(argv: list[str], runs: int, *, prepare: str | None = None) -> list[float]:
    """Times of ``runs`` executions of ``argv`` by hyperfine without a shell (-N).

    ``prepare``: a command hyperfine runs (untimed) before each run, e.g. ``sleep 0.01``.
    """
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = " ".join(argv)
        extra = ["--prepare", prepare] if prepare else []
        subprocess.run(
            [
                "hyperfine",
                "-N",
                "--style",
                "none",
                "--warmup",
                "1",
                "--runs",
                str(runs),
                *extra,
                "--export-json",
                f.name,
                cmd,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return json.loads(Path(f.name).read_text())["results"][0]["times"]


def cpu_stall_us() -> int | None:
    """Cumulative µs during which some task waited for a CPU (/proc/pressure/cpu "some").

    The difference over an interval, divided by its length, is the share of that
    interval in which the CPUs were contended (other jobs on a shared machine);
    None when the kernel has no PSI.
    """
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first.rsplit("total=", 1)[1])


def machine() -> dict:
    facts = host.facts()
    return {
        k: facts[k]
        for k in (
            "hostname",
            "kernel",
            "cpu_model",
            "cores",
            "memory_bytes",
            "cgroup_mode",
            "load_average",
        )
    } | {"python": platform.python_version()}


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "at": datetime.now(timezone.utc).isoformat(),
        "machine": machine(),
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def need_root() -> None:
    if os.geteuid() != 0:
        raise SystemExit("this benchmark runs container runtimes: run it as root")


def boot_ratio_ci(a, b, seed: int, n: int = 4000) -> tuple[float, float]:
    """Bootstrap 95% CI of median(a)/median(b), the paired values (block medians)
    resampled together."""
    import numpy as np

    x, y = np.asarray(a, float), np.asarray(b, float)
    idx = np.random.default_rng(seed).integers(0, x.size, (n, x.size))
    r = np.median(x[idx], axis=1) / np.median(y[idx], axis=1)
    return float(np.quantile(r, 0.025)), float(np.quantile(r, 0.975))
