"""The committed sample data (data/sample/): readable, mergeable, and checked from outside.

hyperfine's own measurement of `run` of `true` under runc and crun, recorded in
the same sitting (scripts/record-sample.sh), is the outside check: rtlab's
verdict on crun vs runc must point the same way.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from rtlab.analysis import stats
from rtlab.core import results

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
RUNS = sorted(p.parent for p in SAMPLE.glob("*/run.json"))


def test_two_sample_runs_are_committed_and_merge():
    assert len(RUNS) >= 2, f"data/sample needs two recorded runs, found {RUNS}"
    metas, trials = results.load_runs(RUNS)
    assert {m["status"] for m in metas} == {"completed"}
    assert trials.ok.all(), trials[~trials.ok][["client", "runtime", "step", "error"]]
    assert {"runc", "crun", "runsc"} <= set(trials.runtime)


def test_crun_vs_runc_run_verdict_agrees_with_hyperfine():
    hf = json.loads((SAMPLE / "hyperfine-run-true.json").read_text())
    hf_median = {r["command"]: statistics.median(r["times"]) for r in hf["results"]}
    hyperfine_says_crun_faster = hf_median["crun"] < hf_median["runc"]

    _, trials = results.load_runs(RUNS)
    comparisons = stats.compare(trials[trials.client == "oci"], seed=0)
    row = comparisons[
        (comparisons.family == "client=oci")
        & (comparisons.step == "run")
        & (comparisons[["a", "b"]].apply(set, axis=1) == {"runc", "crun"})
    ]
    assert len(row) == 1
    row = row.iloc[0]
    crun_verdict = (
        row.verdict
        if row.a == "crun"
        else {"faster": "slower", "slower": "faster"}.get(row.verdict, row.verdict)
    )
    assert crun_verdict in ("faster", "slower"), f"rtlab finds no clear difference: {row.to_dict()}"
    assert (crun_verdict == "faster") == hyperfine_says_crun_faster, (row.to_dict(), hf_median)


@pytest.mark.parametrize("run", RUNS, ids=[r.name for r in RUNS])
def test_sample_run_json_carries_the_provenance(run):
    meta = results.read_meta(run)
    for key in ("kernel", "cpu_model", "cores", "cgroup_mode", "hostname"):
        assert meta["host"][key]
    assert meta["harness_overhead"]["median_s"] > 0
    assert meta["versions"]["runc"] and meta["versions"]["crun"]
    assert meta["rtlab"]["version"]


def test_rtlab_analyze_on_a_sample_run_writes_tables_and_every_figure(tmp_path, capsys):
    from rtlab.cli import main

    out = tmp_path / "analysis"
    assert (
        main(["analyze", str(RUNS[0]), "--out", str(out), "--figures", "all"]) == 0
    )  # warnings are errors here; every kind's SVG: test_analysis (synthetic trials)
    for name in ("summary.csv", "comparisons.csv"):
        assert (out / name).stat().st_size > 0
    figures = {p.name for p in (out / "figures").iterdir()}
    for step in ("create", "start", "kill", "delete", "run", "total"):
        assert {
            f"distribution_{step}.png",
            f"ecdf_{step}.png",
        } <= figures, step
    assert "lifecycle.png" in figures and not any(f.endswith(".svg") for f in figures)
    assert any(f.startswith("ratios_client-docker") for f in figures)
    assert any(f.startswith("ratios_runtime-runc") for f in figures)
    printed = capsys.readouterr().out
    assert "faster" in printed or "no clear difference" in printed
