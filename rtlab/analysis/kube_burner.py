"""The CRI pod-start trials in kube-burner's podLatency shape (issue 34), beside
critest's (analysis/cri_benchmark.py).

kube-burner's ``podLatency`` measurement (its docs/measurements) indexes one
``podLatencyMeasurement`` document per pod that reached Running, with the latency of
each pod condition in ms (``schedulingLatency``, ``initializedLatency``,
``containersReadyLatency``, ``podReadyLatency``), and one
``podLatencyQuantilesMeasurement`` document per condition (``quantileName``
``PodScheduled``, ``Initialized``, ``ContainersReady``, ``Ready``) with ``P99``, ``P95``,
``P50``, ``max`` and ``avg``. Its local indexer writes each metric as a JSON array in a
file named after it; so does ``write``, into ``kube-burner/`` beside the tables, one
job per handler/network (``jobName``).

Mapping of one CRI trial (a pod, collect/clients/cri.py), the kubelet's path without
the API server:

- ``schedulingLatency``: 0 — no scheduler: the pod is on its node when
  ``RunPodSandbox`` is called (the ``PodScheduled`` quantiles are 0, kept so a
  dashboard of kube-burner's four conditions reads them);
- ``initializedLatency``: ``RunPodSandbox`` (no init containers: a pod is Initialized
  once its sandbox is up);
- ``containersReadyLatency`` and ``podReadyLatency``: ``RunPodSandbox`` +
  ``CreateContainer`` + ``StartContainer`` (no readiness probe: Ready when started) —
  the sum of the timed calls, without rtlab's idle gap (the pace) between them.

kube-burner's latencies are whole milliseconds; these fields are too (rounded), and
each document keeps rtlab's exact values in ``rtlabMs`` (sub-millisecond). Warm-up
trials and pods that did not reach Running are left out, as kube-burner indexes only
pods that ran. Quantiles are nearest-rank over the pods of a job (kube-burner's own
quantile rule is not specified by its docs).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from rtlab.analysis.cri_benchmark import STARTED, cri_rows

FOLDER = "kube-burner"
POD_METRIC = "podLatencyMeasurement"
QUANTILE_METRIC = "podLatencyQuantilesMeasurement"
# kube-burner's per-pod field → the quantile document's condition, and rtlab's steps in it
CONDITIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("schedulingLatency", "PodScheduled", ()),
    ("initializedLatency", "Initialized", ("pod_run",)),
    ("containersReadyLatency", "ContainersReady", ("pod_run", "create", "start")),
    ("podReadyLatency", "Ready", ("pod_run", "create", "start")),
)
NAMESPACE = "rtlab-cri"


def _ok(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().isin(("true", "1"))


def _timestamp(ns) -> str:
    try:
        value = int(ns)
    except (TypeError, ValueError):
        return ""
    return datetime.fromtimestamp(value / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def pod_documents(trials: pd.DataFrame, *, node: str = "") -> list[dict]:
    """One ``podLatencyMeasurement`` per measured CRI pod that reached Running."""
    rows = cri_rows(trials)
    if rows.empty:
        return []
    rows = rows[~_ok(rows["warmup"])]
    net = rows["network"].fillna("").astype(str) if "network" in rows else ""
    rows = rows.assign(_network=net)
    keys = [k for k in ("run_id", "runtime", "_network", "round", "trial", "container_id")]
    keys = [k for k in keys if k in rows.columns]
    docs = []
    for key, pod in rows.groupby(keys, sort=True):
        key = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        by_step = {str(r["step"]): r for _, r in pod.iterrows()}
        needed = {s for _, _, steps in CONDITIONS for s in steps}
        if not all(s in by_step and _ok(pd.Series([by_step[s]["ok"]])).iloc[0] for s in needed):
            continue  # never Running: kube-burner indexes only pods that ran
        exact = {
            field: sum(float(by_step[s]["wall_s"]) * 1e3 for s in steps)
            for field, _, steps in CONDITIONS
        }
        job = f"{key.get('runtime', '')}/{key.get('_network', '')}".rstrip("/")
        doc: dict = {
            "timestamp": _timestamp(by_step["pod_run"].get(STARTED)),
            **{field: int(round(ms)) for field, ms in exact.items()},
            "metricName": POD_METRIC,
            "uuid": str(key.get("run_id", "")),
            "namespace": NAMESPACE,
            "podName": str(key.get("container_id", "")),
            "nodeName": node,
            "jobName": job,
            "runtimeHandler": str(key.get("runtime", "")),
            "rtlabMs": {field: round(ms, 3) for field, ms in exact.items()},
        }
        docs.append(doc)
    return docs


def _nearest_rank(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[max(0, math.ceil(q * len(sorted_ms)) - 1)]


def quantile_documents(pods: list[dict]) -> list[dict]:
    """Per job (handler/network) and condition: P99, P95, P50, max, avg in ms."""
    out = []
    jobs: dict[tuple[str, str], list[dict]] = {}
    for d in pods:
        jobs.setdefault((d["uuid"], d["jobName"]), []).append(d)
    for (uuid, job), docs in sorted(jobs.items()):
        stamp = max(d["timestamp"] for d in docs)
        for field, name, _ in CONDITIONS:
            ms = sorted(d["rtlabMs"][field] for d in docs)
            out.append(
                {
                    "quantileName": name,
                    "uuid": uuid,
                    "P99": int(round(_nearest_rank(ms, 0.99))),
                    "P95": int(round(_nearest_rank(ms, 0.95))),
                    "P50": int(round(_nearest_rank(ms, 0.50))),
                    "max": int(round(ms[-1])),
                    "avg": round(sum(ms) / len(ms), 3),
                    "timestamp": stamp,
                    "metricName": QUANTILE_METRIC,
                    "jobName": job,
                    "pods": len(ms),
                }
            )
    return out


def write(trials: pd.DataFrame, out_dir: Path | str, *, node: str = "") -> list[Path]:
    """``kube-burner/podLatencyMeasurement.json`` and
    ``kube-burner/podLatencyQuantilesMeasurement.json`` when the trials hold CRI pods."""
    pods = pod_documents(trials, node=node)
    if not pods:
        return []
    folder = Path(out_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric, docs in ((POD_METRIC, pods), (QUANTILE_METRIC, quantile_documents(pods))):
        path = folder / f"{metric}.json"
        path.write_text(json.dumps(docs, indent=1) + "\n")
        paths.append(path)
    return paths
