"""rtlab.analysis.reference: the study's table, the side-by-side, and its conclusions tested."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _synthetic import STUDY_LIKE_MEDIANS_S, make_trials

from rtlab.analysis import reference, stats


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    return reference.load_study()


def value(study: pd.DataFrame, table: str, client: str, runtime: str, step: str) -> float:
    cell = study[
        (study["table"] == table)
        & (study["client"] == client)
        & (study["runtime"] == runtime)
        & (study["step"] == step)
    ]
    assert len(cell) == 1
    return float(cell["value_s"].iloc[0])


def test_study_holds_the_slides_values(study: pd.DataFrame) -> None:
    assert list(study.columns) == reference.STUDY_COLUMNS
    assert len(study) == 7 * 5 + 3 * 5
    assert value(study, "lowlevel", "docker", "runc", "start") == 0.632
    assert value(study, "clients", "docker", "runc", "start") == 0.632
    assert value(study, "clients", "ctr", "runc", "total") == 0.786
    assert value(study, "lowlevel", "docker", "kata-runtime", "start") == 2.24
    assert value(study, "lowlevel", "docker", "runsc-kvm", "kill") == 0.521
    assert value(study, "clients", "podman", "runc", "delete") == 0.265
    assert set(study["step"]) == {"create", "start", "kill", "delete", "total"}
    assert set(study["runtime"]) == {
        "runc",
        "kata-runtime",
        "railcar",
        "runq",
        "runsc",
        "runsc-kvm",
        "runnc",
    }
    assert set(study["client"]) == {"docker", "ctr", "podman"}
    assert study["note"].map(type).eq(str).all()


def test_load_study_reads_another_path(study: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    study.head(3).to_csv(path, index=False)
    assert len(reference.load_study(path)) == 3
    assert reference.STUDY_PATH.is_file()


def test_against_study_pairs_shared_cells(study: pd.DataFrame) -> None:
    summary = stats.summarize(make_trials(n_trials=8))
    side = reference.against_study(summary, study)
    # docker/runc is in both tables but appears once per step
    docker_runc = side[(side["client"] == "docker") & (side["runtime"] == "runc")]
    assert sorted(docker_runc["step"]) == sorted(["create", "start", "kill", "delete", "total"])
    assert set(docker_runc["tables"]) == {"lowlevel,clients"}
    assert len(side) == 4 * 5  # run is not in the study; every target's five steps are
    row = side[(side["client"] == "ctr") & (side["step"] == "total")].iloc[0]
    assert row["study_s"] == 0.786
    assert row["ratio"] == pytest.approx(row["median_s"] / 0.786)
    assert row["study_in_ci"] == (row["ci_low_s"] <= 0.786 <= row["ci_high_s"])


def verdicts(medians_s: dict, study: pd.DataFrame) -> list[object]:
    trials = make_trials(medians_s, n_trials=12, sigma=0.03, seed=5)
    summary = stats.summarize(trials)
    result = reference.check_conclusions(summary, stats.compare(trials), study)
    assert list(result.columns) == ["conclusion", "rtlab_agrees", "evidence"]
    assert result["evidence"].str.len().gt(20).all()
    return result["rtlab_agrees"].tolist()


def test_conclusions_hold_on_agreeing_data(study: pd.DataFrame) -> None:
    assert verdicts(STUDY_LIKE_MEDIANS_S, study) == [True, True, True, True]


def test_conclusions_fail_on_disagreeing_data(study: pd.DataFrame) -> None:
    medians_s = {
        # podman is fastest over the whole lifecycle
        ("docker", "runc"): {"create": 0.10, "start": 0.60, "kill": 0.40, "delete": 0.07},
        ("ctr", "runc"): {"create": 0.10, "start": 0.40, "kill": 0.10, "delete": 0.25},
        ("podman", "runc"): {"create": 0.10, "start": 0.30, "kill": 0.08, "delete": 0.10},
        # through docker: create and delete differ by 2x, start is the same
        ("docker", "runsc"): {"create": 0.20, "start": 0.60, "kill": 0.40, "delete": 0.14},
    }
    assert verdicts(medians_s, study) == [False, False, False, False]


def test_conclusions_without_data_are_not_testable(study: pd.DataFrame) -> None:
    only = {("docker", "runc"): STUDY_LIKE_MEDIANS_S[("docker", "runc")]}
    trials = make_trials(only, n_trials=8)
    result = reference.check_conclusions(stats.summarize(trials), stats.compare(trials), study)
    assert result["rtlab_agrees"].tolist() == [None, None, None, None]
    assert result["evidence"].str.startswith("not testable").all()


def test_small_significant_spread_still_counts_as_flat(study: pd.DataFrame) -> None:
    medians_s = {
        ("docker", "runc"): {"create": 0.150, "start": 0.6, "kill": 0.4, "delete": 0.070},
        ("docker", "runsc"): {"create": 0.156, "start": 0.9, "kill": 0.4, "delete": 0.073},
    }
    trials = make_trials(medians_s, n_trials=30, sigma=0.005, seed=2)
    comparisons = stats.compare(trials)
    create = comparisons[comparisons["step"] == "create"].iloc[0]
    # 4 % apart, clearly significant, and equivalent within ±5% (issue 18: both said)
    assert (create["verdict"], create["difference"]) == (stats.EQUIVALENT, stats.FASTER)
    result = reference.check_conclusions(stats.summarize(trials), comparisons, study)
    assert result["rtlab_agrees"].tolist()[1] is True
    assert "within 10%" in result["evidence"].iloc[1]


def test_oriented_reads_a_pair_either_way() -> None:
    import pandas as pd

    from rtlab.analysis import reference as ref

    rows = pd.DataFrame(
        [
            {
                "family": "client=docker",
                "step": "total",
                "a": "runc",
                "b": "crun",
                "ratio": 1.25,
                "ratio_ci_low": 1.1,
                "ratio_ci_high": 1.4,
                "p_adj": 0.01,
                "verdict": "slower",
            }
        ]
    )
    there = ref.oriented(rows, "client=docker", "total", "runc", "crun")
    back = ref.oriented(rows, "client=docker", "total", "crun", "runc")
    assert there["ratio"] == 1.25 and there["verdict"] == "slower"
    assert back["ratio"] == 0.8 and back["verdict"] == "faster"
    assert back["low"] == 1 / 1.4 and back["high"] == 1 / 1.1
    assert ref.oriented(rows, "client=docker", "run", "crun", "runc") is None
