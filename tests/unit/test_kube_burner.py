"""The CRI trials in kube-burner's podLatency shape (issue 34): one document per pod that
reached Running with its conditions' latencies in ms, and the quantile documents."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rtlab.analysis import analysis, kube_burner
from tests.unit.test_cri_report import STEPS_S, cri_trials, lifecycle_trials

POD_FIELDS = {  # kube-burner docs/measurements: podLatencyMeasurement
    "timestamp",
    "schedulingLatency",
    "initializedLatency",
    "containersReadyLatency",
    "podReadyLatency",
    "metricName",
    "uuid",
    "namespace",
    "podName",
    "nodeName",
    "jobName",
}
QUANTILE_FIELDS = {
    "quantileName",
    "uuid",
    "P99",
    "P95",
    "P50",
    "max",
    "avg",
    "timestamp",
    "metricName",
    "jobName",
}


def test_one_document_per_measured_pod_with_its_latencies_in_ms() -> None:
    trials = cri_trials(n=12, warmup=1)
    pods = kube_burner.pod_documents(trials, node="node-a")
    assert len(pods) == 12 * 4  # measured trials x (handler, network); warm-up left out
    for doc in pods:
        assert POD_FIELDS <= set(doc) and doc["metricName"] == "podLatencyMeasurement"
        assert doc["schedulingLatency"] == 0 and doc["nodeName"] == "node-a"
        exact = doc["rtlabMs"]
        assert all(doc[f] == round(exact[f]) and isinstance(doc[f], int) for f in exact)
        assert exact["containersReadyLatency"] == exact["podReadyLatency"]
        assert exact["initializedLatency"] < exact["containersReadyLatency"]
    one = trials[(trials["container_id"] == pods[0]["podName"])].set_index("step")["wall_s"]
    want = (one["pod_run"] + one["create"] + one["start"]) * 1e3
    assert abs(pods[0]["rtlabMs"]["podReadyLatency"] - want) < 1e-3  # kept to the µs
    assert pods[0]["timestamp"].endswith("Z") and pods[0]["timestamp"].startswith("20")


def test_a_pod_that_never_ran_is_left_out() -> None:
    full = kube_burner.pod_documents(cri_trials(n=12, warmup=1))
    failed = kube_burner.pod_documents(
        cri_trials(n=12, warmup=1, fail=(("runc", "host", 3, "start"),))
    )
    assert len(failed) == len(full) - 1


def test_quantiles_per_job_and_condition() -> None:
    pods = kube_burner.pod_documents(cri_trials(n=20, warmup=0))
    quantiles = kube_burner.quantile_documents(pods)
    assert len(quantiles) == 4 * 4  # jobs x conditions
    names = {q["quantileName"] for q in quantiles}
    assert names == {"PodScheduled", "Initialized", "ContainersReady", "Ready"}
    for q in quantiles:
        assert QUANTILE_FIELDS <= set(q) and q["metricName"] == "podLatencyQuantilesMeasurement"
        assert q["P50"] <= q["P95"] <= q["P99"] <= q["max"]
    ready = next(
        q for q in quantiles if q["quantileName"] == "Ready" and q["jobName"] == "runc/host"
    )
    values = sorted(d["rtlabMs"]["podReadyLatency"] for d in pods if d["jobName"] == "runc/host")
    assert ready["pods"] == 20 and ready["max"] == round(values[-1])
    assert ready["P50"] == round(values[9])  # nearest rank: ceil(0.5 * 20) = 10th
    assert abs(ready["avg"] - sum(values) / 20) < 1e-3
    base = sum(STEPS_S[s] for s in ("pod_run", "create", "start")) * 1e3
    assert 0.5 * base < ready["P50"] < 2 * base


def test_analyze_writes_the_files_only_with_cri_rows(tmp_path: Path) -> None:
    analysis.analyze(cri_trials(n=6, warmup=0), tmp_path / "cri", figures=())
    folder = tmp_path / "cri" / "kube-burner"
    pods = json.loads((folder / "podLatencyMeasurement.json").read_text())
    quantiles = json.loads((folder / "podLatencyQuantilesMeasurement.json").read_text())
    assert len(pods) == 6 * 4 and len(quantiles) == 4 * 4
    analysis.analyze(lifecycle_trials(n=6, warmup=0), tmp_path / "life", figures=())
    assert not (tmp_path / "life" / "kube-burner").exists()
    assert kube_burner.write(pd.DataFrame(), tmp_path / "none") == []
