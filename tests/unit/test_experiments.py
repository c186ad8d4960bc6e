"""experiments.py: one definition of steps, order, total and phrases, read by stats and analysis."""

from __future__ import annotations

import pandas as pd
import pytest

from rtlab.analysis import analysis, stats
from rtlab.core import experiments, results
from rtlab.core.experiments import ExperimentError
from rtlab.report import params
from tests.unit._synthetic import make_trials

PAUSE_MEDIANS = {
    ("oci", "runc"): {
        "create": 0.01,
        "start": 0.02,
        "pause": 0.004,
        "resume": 0.003,
        "kill": 0.005,
        "delete": 0.008,
    },
    ("oci", "crun"): {
        "create": 0.005,
        "start": 0.01,
        "pause": 0.002,
        "resume": 0.002,
        "kill": 0.003,
        "delete": 0.004,
    },
}


def pause_trials(**kw) -> pd.DataFrame:
    return make_trials(PAUSE_MEDIANS, n_trials=8, n_warmup=0, **kw).assign(experiment="pause")


def test_the_total_sits_after_the_steps_it_sums():
    assert experiments.get("lifecycle").order == (
        "create",
        "start",
        "kill",
        "delete",
        "total",
        "run",
    )
    assert experiments.get("pause").order[-1] == "total"
    cri = experiments.get("cri")
    assert tuple(
        s
        for s in stats.STEP_ORDER
        if (s not in cri.order or s in ("create", "start", "total")) and s != "pull"
    ) == ("create", "start", "pause", "resume", "kill", "delete", "total", "run")
    assert cri.order == (
        "pod_run",
        "create",
        "start",
        "pod_to_running",
        "stop",
        "remove",
        "pod_stop",
        "pod_remove",
        "total",
    )
    assert tuple(s for s in stats.STEP_ORDER if s in cri.order and s != "total") == cri.order[:-1]


def test_unknown_names_say_what_is_accepted():
    with pytest.raises(ExperimentError, match="unknown experiment 'x'; known: lifecycle, pause"):
        experiments.get("x")
    with pytest.raises(
        ExperimentError, match="its steps: create, start, pause, resume, kill, delete"
    ):
        experiments.get("pause").select(["run"])
    assert experiments.get("pause").select(["resume", "create"]) == ("create", "resume")


def test_a_pause_total_sums_its_six_steps():
    trials = pause_trials()
    totals = stats.lifecycle_totals(trials)
    assert len(totals) == 2 * 8 and totals["ok"].all()
    one = trials[(trials["trial"] == 3) & (trials["runtime"] == "runc")]
    got = totals[(totals["trial"] == 3) & (totals["runtime"] == "runc")]["wall_s"].item()
    assert got == pytest.approx(one["wall_s"].sum())
    summary = stats.summarize(trials)
    assert summary[summary["runtime"] == "runc"]["step"].tolist() == [
        "create",
        "start",
        "pause",
        "resume",
        "kill",
        "delete",
        "total",
    ]


def test_a_subset_of_steps_has_no_total():
    trials = pause_trials()
    trials = trials[trials["step"].isin(["pause", "resume"])]
    assert stats.lifecycle_totals(trials).empty
    assert "total" not in set(stats.summarize(trials)["step"])


def test_findings_use_the_experiments_phrases():
    trials = pause_trials(seed=3)
    summary = stats.summarize(trials)
    comparisons = stats.compare(trials, seed=0)
    sentences = " ".join(analysis.findings(comparisons, summary))
    assert "the pause cycle" in sentences and "the lifecycle" not in sentences
    assert "pauses a container" in sentences or "pausing a container" in sentences


def test_format_1_runs_load_as_the_lifecycle():
    run = params.sample_runs()[0]
    assert results.read_meta(run)["format_version"] == 1
    frame = results.load_trials(run)
    assert (frame["experiment"] == "lifecycle").all()
    assert "total" in set(stats.summarize(frame)["step"])
