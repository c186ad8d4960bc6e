"""rtlab.report.params: every notebook parameter is checked once, with one line naming value and fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtlab.collect import front
from rtlab.collect.clients import CLIENTS
from rtlab.collect.collect import REPO_ROOT, UsageError
from rtlab.report import params


def make_run(folder: Path, started: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"started_at": started}))
    return folder


def test_parameter_error_is_a_usage_error_shown_as_one_line() -> None:
    error = params.ParameterError("trials = 0: must be a whole number of at least 1")
    assert isinstance(error, UsageError)
    assert error._render_traceback_() == [
        "ParameterError: trials = 0: must be a whole number of at least 1"
    ]


def test_relative_paths_are_taken_from_the_repository_root(tmp_path: Path) -> None:
    assert params.repo_path("data/sample") == REPO_ROOT / "data" / "sample"
    assert params.repo_path(tmp_path) == tmp_path


def test_find_runs_expands_a_folder_of_runs_oldest_first(tmp_path: Path) -> None:
    late = make_run(tmp_path / "runs" / "a", "2026-11-28T00:00:00+00:00")
    early = make_run(tmp_path / "runs" / "b", "2026-11-27T00:00:00+00:00")
    single = make_run(tmp_path / "single", "2026-11-29T00:00:00+00:00")
    assert params.find_runs(str(tmp_path / "runs")) == [early, late]
    assert params.find_runs(f"{single}, {tmp_path / 'runs'}") == [single, early, late]
    assert params.find_runs([single, single]) == [single]


@pytest.mark.parametrize(
    "value,expected",
    [
        ("data/no-such", "run_dirs: 'data/no-such' ("),
        ("", "run_dirs is empty: give a run folder or a folder of runs, e.g. 'data/sample'"),
        (3, "run_dirs = 3: give a run folder or a folder of runs"),
    ],
)
def test_find_runs_refuses_with_one_line(value, expected) -> None:
    with pytest.raises(params.ParameterError) as caught:
        params.find_runs(value)
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


def test_a_folder_without_runs_is_named(tmp_path: Path) -> None:
    with pytest.raises(params.ParameterError, match="holds no run"):
        params.find_runs(str(tmp_path))
    (tmp_path / "file").write_text("")
    with pytest.raises(params.ParameterError, match="is not a folder"):
        params.find_runs(str(tmp_path / "file"))


def test_find_runs_from_another_base(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", "2026-11-27T00:00:00+00:00")
    assert params.find_runs("r", base=tmp_path) == [run]


def test_sample_runs_are_discovered_not_named() -> None:
    runs = params.sample_runs()
    assert len(runs) >= 2
    assert all(
        (r / "run.json").is_file() and r.parent == REPO_ROOT / "data" / "sample" for r in runs
    )


def test_collect_options_from_notebook_literals() -> None:
    opts = front.collect_options(
        clients="oci", runtimes="runc, crun", trials=3, warmup=1, timeout_s=10, seed=4, out_dir=""
    )
    assert (opts.clients, opts.runtimes) == (["oci"], ["runc", "crun"])
    assert (opts.trials, opts.warmup, opts.timeout_s, opts.seed) == (3, 1, 10.0, 4)
    assert opts.out is None and opts.progress is True and opts.allow_concurrent is False
    listed = front.collect_options(clients=["oci"], runtimes=["runc"], out_dir="data/x")
    assert listed.out == REPO_ROOT / "data" / "x"


@pytest.mark.parametrize(
    "changes,expected",
    [
        ({"runtimes": "runc,nope"}, "runtimes: unknown runtime 'nope'; known: runc, crun, runsc"),
        ({"clients": "oci,kube"}, f"clients: unknown client 'kube'; known: {', '.join(CLIENTS)}"),
        ({"clients": ""}, f"clients is empty: give one or more of {', '.join(CLIENTS)}"),
        ({"runtimes": ""}, "runtimes is empty: give one or more of runc"),
        ({"trials": 0}, "trials = 0: must be a whole number of at least 1"),
        ({"trials": 2.5}, "trials = 2.5: must be a whole number of at least 1"),
        ({"trials": True}, "trials = True: must be a whole number"),
        ({"warmup": -1}, "warmup = -1: must be a whole number of at least 0"),
        ({"timeout_s": 0}, "timeout_s = 0: must be a number of seconds above 0"),
        ({"timeout_s": "30"}, "timeout_s = '30': must be a number of seconds above 0"),
        ({"seed": "1"}, "seed = '1': must be a whole number"),
        (
            {"study": "everything"},
            "study = 'everything': unknown study; known: '' (clients x runtimes), lowlevel, clients, all",
        ),
        ({"out_dir": 5}, "out_dir = 5: must be a string"),
        (
            {"custom_runtimes": ["bad"]},
            "custom_runtimes: --runtime 'bad': expected name=/path/to/binary[:flags]",
        ),
        ({"bundle": "/nonexistent-bundle"}, "--bundle /nonexistent-bundle: no config.json there"),
        ({"allow_concurrent": "yes"}, "allow_concurrent = 'yes': must be True or False"),
    ],
)
def test_collect_options_refuse_bad_values_with_one_line(changes, expected) -> None:
    with pytest.raises(params.ParameterError) as caught:
        front.collect_options(**{"clients": "oci", "runtimes": "runc", **changes})
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_custom_runtime_becomes_a_known_name() -> None:
    opts = front.collect_options(runtimes="runc,mine", custom_runtimes=["mine=/opt/mine:--x"])
    assert opts.runtimes == ["runc", "mine"]
    assert opts.custom_runtimes[0].argv == ["/opt/mine", "--x"]


def test_a_used_out_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep").write_text("")
    with pytest.raises(params.ParameterError, match="exists and is not an empty folder"):
        front.collect_options(out_dir=str(tmp_path))


def test_analyze_params(tmp_path: Path) -> None:
    checked = params.analyze_params(out_dir=str(tmp_path / "out"), alpha=0.01, seed=2)
    assert checked.run_dirs == params.sample_runs()
    assert (checked.alpha, checked.seed, checked.out_dir) == (0.01, 2, tmp_path / "out")
    fresh = params.analyze_params()
    assert fresh.out_dir.is_dir() and fresh.out_dir.name.startswith("rtlab-analysis-")
    fresh.out_dir.rmdir()
    for alpha in (0, 1, "0.05", float("nan")):
        with pytest.raises(params.ParameterError, match="must be a significance level"):
            params.analyze_params(alpha=alpha)


def test_compare_params_default_to_the_two_sample_runs(tmp_path: Path) -> None:
    checked = params.compare_params()
    assert [checked.run_a, checked.run_b] == params.sample_runs()[:2]
    assert checked.out_dir is None and checked.threshold == 0.05
    with pytest.raises(params.ParameterError, match="names 2 runs; give one run folder"):
        params.compare_params(run_a="data/sample")
    with pytest.raises(params.ParameterError, match="relative slow-down of 0 or more"):
        params.compare_params(threshold=float("inf"))
    assert params.compare_params(out_dir=str(tmp_path)).out_dir == tmp_path


def test_load_runs_turns_format_errors_into_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    with pytest.raises(params.ParameterError, match="run_dirs: .*not valid JSON"):
        params.load_runs([broken])
