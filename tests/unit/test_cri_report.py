"""cri-benchmark.json (critest's shape) and the report's CRI section, on a synthetic CRI run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rtlab.analysis import analysis, stats
from rtlab.report import cri_report

STEPS_S = {"pod_run": 0.20, "create": 0.03, "start": 0.06, "stop": 0.02, "remove": 0.01,
           "pod_stop": 0.05, "pod_remove": 0.02}
SPEED = {("runc", "host"): 1.0, ("crun", "host"): 0.8, ("runc", "cni"): 1.5,
         ("crun", "cni"): 1.25}
CRITEST_SET = {"operationsNames", "numParallel", "datapoints"}
CRITEST_POINT = {"sampleIndex", "startTime", "endTime", "operationsDurationsNs", "metaInfo"}


def cri_trials(n: int = 12, warmup: int = 1, fail: tuple = ()) -> pd.DataFrame:
    """A CRI run: per round, each (handler, network) runs the seven steps; ``fail``
    names (runtime, network, trial, step) whose step fails (the trial stops there)."""
    rng = np.random.default_rng(3)
    rows = []
    for trial in range(1, warmup + n + 1):
        for (runtime, network), speed in SPEED.items():
            for step, median in STEPS_S.items():
                failed = (runtime, network, trial, step) in fail
                rows.append({
                    "run_id": "20261129T010000Z-cri-beef", "experiment": "cri", "client": "cri",
                    "runtime": runtime, "round": trial, "trial": trial,
                    "warmup": trial <= warmup, "step": step,
                    "wall_s": median * speed * float(rng.lognormal(0, 0.05)),
                    "user_s": 0.0, "sys_s": 0.0, "ok": not failed,
                    "exit_code": pd.NA if failed else 0,
                    "error": "CRI StartContainer: <b>boom</b>" if failed else "",
                    "container_id": f"rtlab-beef-{trial}{runtime[0]}{network[0]}",
                    "pace_s": 0.0, "idle_s": 0.0, "caches_dropped": False, "network": network})
                if failed:
                    break
    return pd.DataFrame(rows)


def test_benchmark_has_critests_shape_and_mapping() -> None:
    trials = cri_trials(fail=(("runc", "cni", 5, "start"),))
    sets = cri_report.benchmark(trials)
    assert sorted(sets) == ["crun/cni", "crun/host", "runc/cni", "runc/host"]
    for key, result in sets.items():
        assert set(result) == CRITEST_SET
        assert result["operationsNames"] == ["RunPodSandbox", "CreateContainer",
                                              "StartContainer", "StopContainer",
                                              "RemoveContainer", "StopPodSandbox",
                                              "RemovePodSandbox"]
        assert result["numParallel"] == 1
        assert len(result["datapoints"]) == 12  # the warm-up trial left out
        for i, point in enumerate(result["datapoints"]):
            assert set(point) == CRITEST_POINT and point["sampleIndex"] == i
            assert all(isinstance(d, int) and d > 0 for d in point["operationsDurationsNs"])
            assert isinstance(point["startTime"], int) and isinstance(point["endTime"], int)
            assert all(isinstance(v, str) for v in point["metaInfo"].values())
    # durations are the rows' wall times in ns, in the CRI's call order
    row = trials[(trials["runtime"] == "crun") & (trials["network"] == "host")
                 & (trials["trial"] == 2)].set_index("step")["wall_s"]
    point = sets["crun/host"]["datapoints"][0]
    assert point["operationsDurationsNs"] == [int(round(row[s] * 1e9)) for s in STEPS_S]
    assert point["metaInfo"]["runtimeHandler"] == "crun" and point["metaInfo"]["trial"] == "2"
    # the failed trial keeps its datapoint: the two calls before it, and the error
    failed = sets["runc/cni"]["datapoints"][3]
    assert failed["metaInfo"]["trial"] == "5"
    assert len(failed["operationsDurationsNs"]) == 2
    assert failed["metaInfo"]["error"].startswith("StartContainer: ")


def test_analyze_writes_cri_benchmark_only_with_cri_rows(tmp_path: Path) -> None:
    result = analysis.analyze(cri_trials(), tmp_path / "cri", figures=None)
    path = tmp_path / "cri" / cri_report.BENCHMARK_FILE
    assert path in result.tables and set(json.loads(path.read_text())) == {
        "runc/host", "crun/host", "runc/cni", "crun/cni"}
    lifecycle = cri_trials().assign(experiment="lifecycle", client="oci", network="")
    analysis.analyze(lifecycle, tmp_path / "oci", figures=None)
    assert not (tmp_path / "oci" / cri_report.BENCHMARK_FILE).exists()


def test_section_answers_with_the_estimate_its_interval_is_for(tmp_path: Path) -> None:
    result = analysis.analyze(cri_trials(), tmp_path, figures=None)
    table = cri_report.pod_table(result.summary)
    assert len(table) == 4 and set(table["network"]) == {"host", "cni"}
    qa = dict(cri_report.answers(result.summary, result.comparisons))
    host = qa["Which runtime starts a pod fastest (host network)?"]
    assert host.startswith("Pod to running, host network: crun is fastest")
    # the factor beside the interval is the Hodges–Lehmann ratio of that comparison
    row = result.comparisons[(result.comparisons["family"] == "client=cri-host")
                             & (result.comparisons["step"] == "pod_to_running")].iloc[0]
    ratio = row["ratio"] if row["a"] == "cri/crun" or row["a"].endswith("crun") else 1 / row["ratio"]
    assert f"{1 / ratio:.2f}× faster than runc" in host
    assert "What does the pod network cost over runc?" in qa
    html = cri_report.section(result.summary, result.comparisons,
                              metas=[{"unavailable": {"cri-host/runsc": "<hangs>"}}]).data
    assert "&lt;hangs&gt;" in html and "<hangs>" not in html
    assert "starts a pod fastest" in html


def test_section_without_cri_says_so() -> None:
    empty = pd.DataFrame(columns=stats.SUMMARY_COLUMNS)
    assert "No CRI target" in cri_report.section(empty, empty).data
