"""The CRI's own outputs: critest-shaped ``cri-benchmark.json`` (the report's CRI section: report/cri_report.py).

``cri-benchmark.json`` (written by ``rtlab analyze`` beside its tables when the
runs hold CRI trials) is one object keyed ``"<handler>/<network>"``; each value
has the shape of critest's benchmark results file (cri-tools ``pkg/benchmark``,
``LifecycleBenchmarksResultsSet``): ``operationsNames`` (the CRI methods in the
order one trial calls them), ``numParallel`` (1: one pod at a time) and
``datapoints``, one per measured trial, each ``{sampleIndex, startTime, endTime,
operationsDurationsNs, metaInfo}``. The mapping is in docs/DESIGN.md ("The CRI").
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

EXPERIMENT = "cri"
BENCHMARK_FILE = "cri-benchmark.json"
# rtlab's step → the CRI method it times (collect/clients/cri.py), in the order a trial calls them
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("pod_run", "RunPodSandbox"),
    ("create", "CreateContainer"),
    ("start", "StartContainer"),
    ("stop", "StopContainer"),
    ("remove", "RemoveContainer"),
    ("pod_stop", "StopPodSandbox"),
    ("pod_remove", "RemovePodSandbox"),
)
# trials.csv's wall clock at each call's start (Unix ns; experiments.py "cri" columns)
STARTED = "started_ns"


def _bool(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().isin(("true", "1"))


def cri_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials frame's rows of experiment ``cri`` (none in a run without it)."""
    if "experiment" not in trials.columns:
        return trials.iloc[0:0]
    return trials[trials["experiment"].astype(str) == EXPERIMENT]


def benchmark(trials: pd.DataFrame) -> dict:
    """critest's benchmark results, one set per ``handler/network``, of the CRI trials.

    Warm-up trials are left out (critest's warm-up cycle is not recorded either).
    A trial whose step failed keeps its datapoint: ``operationsDurationsNs`` holds
    the operations that succeeded before it, in order (shorter than
    ``operationsNames``, as critest tolerates), and ``metaInfo.error`` names the
    failed operation and its error. ``startTime`` is the wall clock (Unix ns) at the
    trial's first call, ``endTime`` at the end of its last call that ran (its start
    plus its duration), as critest's; 0 for runs recorded before ``started_ns``."""
    rows = cri_rows(trials)
    if rows.empty:
        return {}
    rows = rows[~_bool(rows["warmup"])]
    network = (
        rows["network"].fillna("").astype(str)
        if "network" in rows.columns
        else pd.Series("", index=rows.index)
    )
    rows = rows.assign(_network=network)
    method = dict(OPERATIONS)
    order = {step: i for i, (step, _) in enumerate(OPERATIONS)}
    out: dict[str, dict] = {}
    for (runtime, net), target in rows.groupby(["runtime", "_network"], sort=True):
        points: list[dict] = []
        keys = [k for k in ("run_id", "round", "trial", "container_id") if k in target.columns]
        for key, trial in target.groupby(keys, sort=True):
            key = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
            trial = trial[trial["step"].isin(list(method))]
            trial = trial.assign(_order=trial["step"].map(order)).sort_values("_order")
            durations, error = [], None
            start_time = end_time = 0
            for _, row in trial.iterrows():
                ok = str(row["ok"]).lower() in ("true", "1")
                started, wall = _int(row.get(STARTED)), _float(row.get("wall_s"))
                if started is not None:
                    start_time = start_time or started
                    end_time = started + int(round((wall or 0.0) * 1e9))
                if not ok:
                    error = f"{method[row['step']]}: {row.get('error') or 'failed'}"
                    break
                durations.append(int(round(float(row["wall_s"]) * 1e9)))
            meta = {
                "runId": str(key.get("run_id", "")),
                "round": str(key.get("round", "")),
                "trial": str(key.get("trial", "")),
                "podSandboxName": str(key.get("container_id", "")),
                "runtimeHandler": str(runtime),
                "network": str(net),
            }
            if "pace_s" in trial.columns and len(trial):
                meta["paceS"] = str(trial["pace_s"].iloc[0])
            if error is not None:
                meta["error"] = error
            points.append(
                {
                    "sampleIndex": len(points),
                    "startTime": start_time,
                    "endTime": end_time,
                    "operationsDurationsNs": durations,
                    "metaInfo": meta,
                }
            )
        out[f"{runtime}/{net}" if net else str(runtime)] = {
            "operationsNames": [m for _, m in OPERATIONS],
            "numParallel": 1,
            "datapoints": points,
        }
    return out


def _int(value) -> int | None:
    """An integer cell (Int64, int or str: exact; float), None when empty."""
    try:
        return int(value)
    except (TypeError, ValueError):
        number = _float(value)
        return None if number is None else int(number)


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def write_benchmark(trials: pd.DataFrame, out_dir: Path | str) -> Path | None:
    """Write ``cri-benchmark.json`` into ``out_dir`` when the trials hold CRI rows."""
    sets = benchmark(trials)
    if not sets:
        return None
    path = Path(out_dir) / BENCHMARK_FILE
    path.write_text(json.dumps(sets, indent=1) + "\n")
    return path
