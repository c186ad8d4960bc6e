"""cri-benchmark.json (critest's shape) and the report's CRI section, on a synthetic CRI run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rtlab.analysis import analysis, stats
from rtlab.report import cri_report

STEPS_S = {
    "pod_run": 0.20,
    "create": 0.03,
    "start": 0.06,
    "stop": 0.02,
    "remove": 0.01,
    "pod_stop": 0.05,
    "pod_remove": 0.02,
}
SPEED = {("runc", "host"): 1.0, ("crun", "host"): 0.8, ("runc", "cni"): 1.5, ("crun", "cni"): 1.25}
CRITEST_SET = {"operationsNames", "numParallel", "datapoints"}
T0_NS = 1_795_000_000_123_456_789  # a wall clock in 2026, beyond a float's exact integers
CRITEST_POINT = {"sampleIndex", "startTime", "endTime", "operationsDurationsNs", "metaInfo"}


def cri_trials(n: int = 12, warmup: int = 1, fail: tuple = ()) -> pd.DataFrame:
    """A CRI run: per round, each (handler, network) runs the seven steps; ``fail``
    names (runtime, network, trial, step) whose step fails (the trial stops there)."""
    rng = np.random.default_rng(3)
    rows = []
    clock = T0_NS
    for trial in range(1, warmup + n + 1):
        for (runtime, network), speed in SPEED.items():
            for step, median in STEPS_S.items():
                failed = (runtime, network, trial, step) in fail
                wall_s = median * speed * float(rng.lognormal(0, 0.05))
                clock += 1_000_003  # rtlab's own work between two calls
                rows.append(
                    {
                        "run_id": "20261129T010000Z-cri-beef",
                        "experiment": "cri",
                        "client": "cri",
                        "runtime": runtime,
                        "round": trial,
                        "trial": trial,
                        "warmup": trial <= warmup,
                        "step": step,
                        "wall_s": wall_s,
                        "started_ns": clock,
                        "user_s": 0.0,
                        "sys_s": 0.0,
                        "ok": not failed,
                        "exit_code": pd.NA if failed else 0,
                        "error": "CRI StartContainer: <b>boom</b>" if failed else "",
                        "container_id": f"rtlab-beef-{trial}{runtime[0]}{network[0]}",
                        "pace_s": 0.0,
                        "idle_s": 0.0,
                        "caches_dropped": False,
                        "network": network,
                    }
                )
                clock += int(wall_s * 1e9)
                if failed:
                    break
    return pd.DataFrame(rows)


def test_benchmark_has_critests_shape_and_mapping() -> None:
    trials = cri_trials(fail=(("runc", "cni", 5, "start"),))
    sets = cri_report.benchmark(trials)
    assert sorted(sets) == ["crun/cni", "crun/host", "runc/cni", "runc/host"]
    for result in sets.values():
        assert set(result) == CRITEST_SET
        assert result["operationsNames"] == [
            "RunPodSandbox",
            "CreateContainer",
            "StartContainer",
            "StopContainer",
            "RemoveContainer",
            "StopPodSandbox",
            "RemovePodSandbox",
        ]
        assert result["numParallel"] == 1
        assert len(result["datapoints"]) == 12  # the warm-up trial left out
        for i, point in enumerate(result["datapoints"]):
            assert set(point) == CRITEST_POINT and point["sampleIndex"] == i
            assert all(isinstance(d, int) and d > 0 for d in point["operationsDurationsNs"])
            assert isinstance(point["startTime"], int) and isinstance(point["endTime"], int)
            assert all(isinstance(v, str) for v in point["metaInfo"].values())
    # durations are the rows' wall times in ns, in the CRI's call order
    row = trials[
        (trials["runtime"] == "crun") & (trials["network"] == "host") & (trials["trial"] == 2)
    ].set_index("step")["wall_s"]
    point = sets["crun/host"]["datapoints"][0]
    assert point["operationsDurationsNs"] == [int(round(row[s] * 1e9)) for s in STEPS_S]
    assert point["metaInfo"]["runtimeHandler"] == "crun" and point["metaInfo"]["trial"] == "2"
    # the failed trial keeps its datapoint: the two calls before it, and the error
    failed = sets["runc/cni"]["datapoints"][3]
    assert failed["metaInfo"]["trial"] == "5"
    assert len(failed["operationsDurationsNs"]) == 2
    assert failed["metaInfo"]["error"].startswith("StartContainer: ")


def test_benchmark_times_are_the_wall_clock_of_the_first_and_last_call() -> None:
    trials = cri_trials(fail=(("runc", "cni", 5, "start"),))
    sets = cri_report.benchmark(trials)
    for key, trial, point in (
        ("crun/host", 2, sets["crun/host"]["datapoints"][0]),
        ("runc/cni", 5, sets["runc/cni"]["datapoints"][3]),
    ):
        runtime, network = key.split("/")
        rows = trials[
            (trials["runtime"] == runtime)
            & (trials["network"] == network)
            & (trials["trial"] == trial)
        ]
        first, last = rows.iloc[0], rows.iloc[-1]  # the failed call is the last that ran
        assert point["startTime"] == first["started_ns"] > T0_NS
        assert point["endTime"] == last["started_ns"] + int(round(last["wall_s"] * 1e9))
        assert point["endTime"] - point["startTime"] > sum(point["operationsDurationsNs"])
    # runs recorded before the column: 0, as before
    old = cri_report.benchmark(trials.drop(columns="started_ns"))
    assert {p["startTime"] for s in old.values() for p in s["datapoints"]} == {0}


def test_started_ns_reads_back_exactly_from_trials_csv(tmp_path: Path) -> None:
    from rtlab.core import results

    trials = cri_trials(n=2, warmup=0, fail=(("runc", "cni", 1, "start"),))
    writer = results.TrialWriter(tmp_path / "trials.csv", results.trial_columns(1, ("started_ns",)))
    rows = trials.to_dict("records")
    rows.append(
        {
            **rows[-1],
            "step": "stop",
            "ok": False,
            "wall_s": None,
            "started_ns": None,
            "error": "not run: start failed",
        }
    )
    writer.write_trial(rows)
    writer.close()
    back = results.load_trials(tmp_path)
    assert str(back["started_ns"].dtype) == "Int64"
    assert list(back["started_ns"].iloc[:-1]) == list(trials["started_ns"])
    assert back["started_ns"].isna().iloc[-1]


def test_analyze_writes_cri_benchmark_only_with_cri_rows(tmp_path: Path) -> None:
    result = analysis.analyze(cri_trials(), tmp_path / "cri", figures=None)
    path = tmp_path / "cri" / cri_report.BENCHMARK_FILE
    assert path in result.tables and set(json.loads(path.read_text())) == {
        "runc/host",
        "crun/host",
        "runc/cni",
        "crun/cni",
    }
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
    row = result.comparisons[
        (result.comparisons["family"] == "client=cri-host")
        & (result.comparisons["step"] == "pod_to_running")
    ].iloc[0]
    ratio = (
        row["ratio"] if row["a"] == "cri/crun" or row["a"].endswith("crun") else 1 / row["ratio"]
    )
    assert f"{1 / ratio:.2f}× faster than runc" in host
    assert "What does the pod network cost over runc?" in qa
    html = cri_report.section(
        result.summary, result.comparisons, metas=[{"unavailable": {"cri-host/runsc": "<hangs>"}}]
    ).data
    assert "&lt;hangs&gt;" in html and "<hangs>" not in html
    assert "starts a pod fastest" in html


def test_section_without_cri_says_so() -> None:
    empty = pd.DataFrame(columns=stats.SUMMARY_COLUMNS)
    assert "No CRI target" in cri_report.section(empty, empty).data


def lifecycle_trials(n: int = 12, warmup: int = 1) -> pd.DataFrame:
    """oci and docker over runc (experiment lifecycle), in the same run as cri_trials."""
    rng = np.random.default_rng(5)
    medians = {
        "oci": {"create": 0.02, "start": 0.01, "kill": 0.01, "delete": 0.01},
        "docker": {"create": 0.10, "start": 0.30, "kill": 0.10, "delete": 0.05},
    }
    rows = []
    for trial in range(1, warmup + n + 1):
        for client, steps in medians.items():
            for step, median in steps.items():
                rows.append(
                    {
                        "run_id": "20261129T010000Z-cri-beef",
                        "experiment": "lifecycle",
                        "client": client,
                        "runtime": "runc",
                        "round": trial,
                        "trial": trial,
                        "warmup": trial <= warmup,
                        "step": step,
                        "wall_s": median * float(rng.lognormal(0, 0.05)),
                        "user_s": 0.0,
                        "sys_s": 0.0,
                        "ok": True,
                        "exit_code": 0,
                        "error": "",
                        "container_id": f"rtlab-beef-{trial}{client}",
                        "pace_s": 0.0,
                        "idle_s": 0.0,
                        "caches_dropped": False,
                        "network": "",
                    }
                )
    return pd.DataFrame(rows)


def test_section_puts_the_cri_beside_the_clients_over_runc_and_escapes(tmp_path: Path) -> None:
    trials = pd.concat([cri_trials(), lifecycle_trials()], ignore_index=True)
    trials["runtime"] = trials["runtime"].replace("crun", "<i>crun</i>")
    result = analysis.analyze(trials, tmp_path, figures=None)
    beside = cri_report.clients_table(result.summary)
    assert list(beside["client"]) == ["docker", "oci", "cri-host", "cri-cni"]
    assert list(beside.columns) == [
        "client",
        "create: median ms",
        "create: 95% CI, ms",
        "start: median ms",
        "start: 95% CI, ms",
    ]
    life = result.summary[
        (result.summary["experiment"] == "lifecycle") & (result.summary["runtime"] == "runc")
    ].set_index(["client", "step"])
    for _, row in beside.iterrows():
        assert row["start: median ms"] == round(
            life.loc[(row["client"], "start"), "median_s"] * 1000, 1
        )
    html = cri_report.section(result.summary, result.comparisons).data
    assert 'class="cri-clients"' in html and ">cri-cni<" in html and ">docker<" in html
    assert "&lt;i&gt;crun&lt;/i&gt;" in html and "<i>crun" not in html
    # a CRI-only run has no other client to stand beside
    alone = analysis.analyze(cri_trials(), tmp_path / "alone", figures=None)
    assert cri_report.clients_table(alone.summary).empty
    assert "cri-clients" not in cri_report.section(alone.summary, alone.comparisons).data
