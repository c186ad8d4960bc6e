#!/usr/bin/env python3
"""How long does ``rtlab analyze`` take, beside the statistics alone, at 840 and 100k rows?

Side by side in one run (issue 18): the committed paced sample
(data/sample-paced/run-1, 840 measured rows) and a synthetic run of about 100k
rows built from it (whole measured rounds drawn with replacement and
renumbered, so every target still runs once per round, same trials.csv format).
Each is analysed in a fresh process ``--repeats`` times, interleaved, two ways:
``python -m rtlab analyze RUN --out DIR`` (the report's figures, the default) and
the reference ``--figures none`` (the statistics and tables alone). The medians
of the repeats and their ratios are printed; the child's peak resident memory
is read from ``wait4`` (ru_maxrss). Target: 840 rows in ≤ 4 s, 100k rows in
≤ 1.5× that.

    .venv/bin/python benchmarks/analysis_scale.py [--rows 100000] [--repeats 3]

Writes benchmarks/results/analysis_scale.json and .csv.
"""

from __future__ import annotations

import argparse
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
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, save  # noqa: E402


def build(source: Path, rows: int, into: Path, seed: int = 0) -> int:
    """A run folder of about ``rows`` rows resampled by whole rounds from ``source``."""
    trials = pd.read_csv(source / "trials.csv", dtype=str, keep_default_na=False)
    measured = trials[trials["warmup"] == "false"]
    by_round = {r: g for r, g in measured.groupby("round")}
    per_round = len(next(iter(by_round.values())))
    n_rounds = max(1, round(rows / per_round))
    rng = np.random.default_rng(seed)
    picked = rng.choice(sorted(by_round), size=n_rounds, replace=True)
    parts = []
    for i, r in enumerate(picked):
        part = by_round[r].copy()
        part["round"] = str(i)
        part["trial"] = str(i)
        part["container_id"] = part["container_id"] + f"-{i}"
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    into.mkdir(parents=True)
    shutil.copy2(source / "run.json", into / "run.json")
    meta = json.loads((into / "run.json").read_text())
    meta["parameters"]["trials"] = n_rounds
    meta["parameters"]["warmup"] = 0
    (into / "run.json").write_text(json.dumps(meta, indent=2))
    out.to_csv(into / "trials.csv", index=False)
    return len(out)


def timed_analyze(run: Path, out: Path, figures: str) -> tuple[float, float, int]:
    """(seconds, peak MB, exit code) of one ``rtlab analyze --figures FIGURES`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtlab",
            "analyze",
            str(run),
            "--out",
            str(out),
            "--figures",
            figures,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    return seconds, usage.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status)


TARGET_SMALL_S = 4.0  # 840 rows, report figures
TARGET_RATIO = 1.5  # 100k rows / 840 rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000, help="rows of the large synthetic run")
    p.add_argument("--repeats", type=int, default=3, help="fresh-process analyses per cell")
    args = p.parse_args()
    source = ROOT / "data" / "sample-paced" / "run-1"
    modes = {"report figures": "report", "statistics only": "none"}
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="rtlab-scale-") as tmp:
        big = Path(tmp) / "run-big"
        big_rows = build(source, args.rows, big)
        small = pd.read_csv(source / "trials.csv", dtype=str, keep_default_na=False)
        small_rows = len(small)  # every row, warm-ups included: 840
        measured = int((small["warmup"] == "false").sum())
        runs = {
            f"{small_rows} rows (data/sample-paced/run-1, {measured} measured)": (
                source,
                small_rows,
            ),
            f"{big_rows} rows (synthetic, resampled rounds)": (big, big_rows),
        }
        cells: dict[tuple[str, str], list[tuple[float, float, int, int]]] = {}
        for _ in range(args.repeats):  # interleaved: the machine's load falls on every cell
            for label, (run, _rows) in runs.items():
                for mode, figures in modes.items():
                    out = Path(tmp) / "out"
                    seconds, peak, code = timed_analyze(run, out, figures)
                    files = (
                        len(list((out / "figures").rglob("*.png")))
                        if (out / "figures").is_dir()
                        else 0
                    )
                    cells.setdefault((label, mode), []).append((seconds, peak, code, files))
    results = []
    for (label, mode), samples in cells.items():
        seconds = [s[0] for s in samples]
        results.append(
            {
                "run": label,
                "rows": runs[label][1],
                "mode": mode,
                "median_s": round(statistics.median(seconds), 2),
                "min_s": round(min(seconds), 2),
                "max_s": round(max(seconds), 2),
                "peak_mb": round(max(s[1] for s in samples), 1),
                "exit_code": max(s[2] for s in samples),
                "png_files": samples[0][3],
                "repeats": len(samples),
            }
        )
    table = pd.DataFrame(results)
    print(table.to_string(index=False))
    at = {(r["rows"], r["mode"]): r["median_s"] for r in results}
    small, big = small_rows, big_rows
    ratios = {
        "big_over_small_report": round(at[big, "report figures"] / at[small, "report figures"], 2),
        "big_over_small_statistics": round(
            at[big, "statistics only"] / at[small, "statistics only"], 2
        ),
        "figures_cost_small_s": round(
            at[small, "report figures"] - at[small, "statistics only"], 2
        ),
        "figures_cost_big_s": round(at[big, "report figures"] - at[big, "statistics only"], 2),
        "report_over_statistics_small": round(
            at[small, "report figures"] / at[small, "statistics only"], 2
        ),
        "report_over_statistics_big": round(
            at[big, "report figures"] / at[big, "statistics only"], 2
        ),
    }
    met = {
        "small_within_4s": at[small, "report figures"] <= TARGET_SMALL_S,
        "big_within_1.5x_small": ratios["big_over_small_report"] <= TARGET_RATIO,
    }
    print(
        f"ratio {big} / {small} rows (report figures): {ratios['big_over_small_report']}× "
        f"(target ≤ {TARGET_RATIO}×); statistics only: {ratios['big_over_small_statistics']}×"
    )
    print(
        f"report figures over statistics only: {ratios['report_over_statistics_small']}× at "
        f"{small} rows, {ratios['report_over_statistics_big']}× at {big} rows"
    )
    print(
        f"targets: {small} rows ≤ {TARGET_SMALL_S} s: {met['small_within_4s']}; "
        f"{big} rows ≤ {TARGET_RATIO}× that: {met['big_within_1.5x_small']}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / "analysis_scale.csv", index=False)
    path = save(
        "analysis_scale",
        {
            "source": str(source.relative_to(ROOT)),
            "command": "python -m rtlab analyze RUN --out DIR --figures report|none",
            "repeats": args.repeats,
            "results": results,
            "load_average_before": load_before,
            "ratios": ratios,
            "targets_met": met,
        },
    )
    print(f"saved {path}")
    return 0 if all(r["exit_code"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
