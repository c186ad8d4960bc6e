"""rtlab.analysis.compare and `rtlab compare`: change per target/step, verdicts, the regression gate."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _forked_cli import run_many
from _runcopy import quietest_step, slowed_copy
from _synthetic import fail, make_trials

from rtlab.analysis import compare, stats
from rtlab.core import results
from rtlab.report import params

QUIET = {
    ("oci", "runc"): {
        "create": 0.040,
        "start": 0.010,
        "kill": 0.009,
        "delete": 0.012,
        "run": 0.050,
    },
    ("oci", "crun"): {
        "create": 0.015,
        "start": 0.007,
        "kill": 0.005,
        "delete": 0.007,
        "run": 0.025,
    },
}


def slowed(trials: pd.DataFrame, factor: float, *, runtime: str, step: str) -> pd.DataFrame:
    out = trials.copy()
    where = (out["runtime"] == runtime) & (out["step"] == step)
    out.loc[where, "wall_s"] *= factor
    return out


def row(changes: pd.DataFrame, runtime: str, step: str) -> pd.Series:
    return changes[(changes["runtime"] == runtime) & (changes["step"] == step)].iloc[0]


def test_a_run_against_itself_changes_nothing() -> None:
    trials = make_trials(QUIET, n_trials=15, seed=1)
    table = compare.changes(trials, trials, seed=0)
    assert list(table.columns) == compare.CHANGE_COLUMNS
    assert len(table) == 2 * 6  # five measured steps and the derived total, per target
    assert (table["change"] == 0).all()
    assert (table["verdict"] == compare.EQUIVALENT).all()  # identical, 15 trials, ±5%
    assert not table["regression"].any()
    assert (table["n_a"] == 15).all()  # warm-ups excluded


def test_thirty_percent_slower_step_is_a_regression_and_only_it() -> None:
    before = make_trials(QUIET, n_trials=15, sigma=0.05, seed=2)
    after = slowed(before, 1.3, runtime="crun", step="run")
    table = compare.changes(before, after, threshold=0.05, seed=0)
    hit = row(table, "crun", "run")
    assert hit["verdict"] == compare.SLOWER and hit["regression"]
    assert hit["change"] == pytest.approx(0.3)
    assert hit["change_ci_low"] > 0.05 and hit["change_ci_low"] <= 0.3 <= hit["change_ci_high"]
    assert table["regression"].sum() == 1


def test_slower_within_the_threshold_is_significant_but_passes_the_gate() -> None:
    before = make_trials(QUIET, n_trials=30, sigma=0.01, seed=3)
    after = make_trials(QUIET, n_trials=30, sigma=0.01, seed=4)
    after = slowed(after, 1.03, runtime="runc", step="start")
    table = compare.changes(before, after, threshold=0.05, seed=0)
    hit = row(table, "runc", "start")
    # 3% slower, significant, and within the ±5% margin: equivalent, with the difference
    assert (hit["verdict"], hit["difference"]) == (compare.EQUIVALENT, compare.SLOWER)
    assert not hit["regression"]
    # threshold 0: any slow-down rtlab is sure of fails the gate
    assert row(compare.changes(before, after, threshold=0.0, seed=0), "runc", "start")["regression"]


def test_faster_is_reported_and_never_gated() -> None:
    before = make_trials(QUIET, n_trials=15, seed=5)
    after = slowed(before, 0.7, runtime="runc", step="create")
    table = compare.changes(before, after, seed=0)
    hit = row(table, "runc", "create")
    assert hit["verdict"] == compare.FASTER and not hit["regression"]
    assert hit["change_ci_high"] < 0


def test_a_step_that_fails_every_trial_in_b_is_a_regression() -> None:
    before = make_trials(QUIET, n_trials=6, n_warmup=0, seed=6)
    after = before
    for trial in range(1, 7):
        after = fail(after, client="oci", runtime="crun", trial=trial, step="kill")
    table = compare.changes(before, after, seed=0)
    hit = row(table, "crun", "kill")
    assert hit["verdict"] == compare.FAILS_IN_B and hit["regression"]
    assert (hit["n_b"], hit["n_failed_b"]) == (0, 6)
    back = row(compare.changes(after, before, seed=0), "crun", "kill")
    assert back["verdict"] == compare.FIXED_IN_B and not back["regression"]


def test_same_seed_same_intervals() -> None:
    before = make_trials(QUIET, n_trials=10, sigma=0.2, seed=7)
    after = make_trials(QUIET, n_trials=10, sigma=0.2, seed=8)
    one = compare.changes(before, after, seed=11)
    two = compare.changes(before, after, seed=11)
    pd.testing.assert_frame_equal(one, two)


def test_holm_runs_over_every_row() -> None:
    before = make_trials(QUIET, n_trials=12, sigma=0.2, seed=9)
    after = make_trials(QUIET, n_trials=12, sigma=0.2, seed=10)
    table = compare.changes(before, after, seed=0)
    np.testing.assert_allclose(table["p_adj"], stats.holm(table["p"].to_numpy()))


# -- whole runs ------------------------------------------------------------------------


def write_run(folder: Path, trials: pd.DataFrame, **meta_changes) -> Path:
    folder.mkdir(parents=True)
    meta = {
        "format_version": results.FORMAT_VERSION,
        "run_id": folder.name,
        "status": "completed",
        "started_at": "2026-11-27T23:00:00+00:00",
        "parameters": {"trials": 15, "warmup": 2, "seed": 0},
        "host": {
            "hostname": "h",
            "kernel": "6.1",
            "cpu_model": "cpu",
            "cores": 2,
            "cgroup_mode": "hybrid",
        },
        "versions": {"runc": "runc 1.1", "crun": "crun 1.8"},
    }
    for key, value in meta_changes.items():
        meta[key] = {**meta[key], **value} if isinstance(value, dict) else value
    results.write_meta(folder, meta)
    out = trials.assign(container_id="c")
    out["warmup"] = out["warmup"].map({True: "true", False: "false"})
    out["ok"] = out["ok"].map({True: "true", False: "false"})
    out[list(results.COLUMNS)].to_csv(folder / "trials.csv", index=False)
    return folder


def test_different_hosts_are_refused_naming_what_differs(tmp_path: Path) -> None:
    trials = make_trials(QUIET, n_trials=4, seed=1)
    a = write_run(tmp_path / "a", trials)
    b = write_run(tmp_path / "b", trials, host={"hostname": "other", "cores": 4})
    with pytest.raises(compare.CompareError) as caught:
        compare.compare_runs(a, b)
    message = str(caught.value)
    assert "different hosts" in message
    assert "hostname: 'h' vs 'other'" in message and "cores: 2 vs 4" in message
    assert "\n" not in message


def test_versions_and_parameters_that_differ_are_listed(tmp_path: Path) -> None:
    trials = make_trials(QUIET, n_trials=4, seed=1)
    a = write_run(tmp_path / "a", trials)
    b = write_run(
        tmp_path / "b",
        trials,
        versions={"runc": "runc 1.2", "youki": "youki 0.3"},
        parameters={"trials": 20},
    )
    cmp = compare.compare_runs(a, b)
    assert "runc: 'runc 1.1' vs 'runc 1.2'" in cmp.version_differences
    assert "youki: 'youki 0.3' only in B" in cmp.version_differences
    assert "trials: 15 vs 20" in cmp.parameter_differences
    lines = compare.format_lines(cmp)
    assert any(
        line.startswith("versions that differ: runc: 'runc 1.1' vs 'runc 1.2'") for line in lines
    )
    assert lines[-1].startswith("no regression")


def test_targets_in_one_run_only_are_named(tmp_path: Path) -> None:
    trials = make_trials(QUIET, n_trials=4, seed=1)
    a = write_run(tmp_path / "a", trials)
    b = write_run(tmp_path / "b", trials[trials["runtime"] == "runc"])
    cmp = compare.compare_runs(a, b)
    assert cmp.only_in_one == ["oci/crun: only in A"]
    assert set(cmp.changes["runtime"]) == {"runc"}


def test_write_puts_changes_csv_with_both_run_ids(tmp_path: Path) -> None:
    trials = make_trials(QUIET, n_trials=4, seed=1)
    cmp = compare.compare_runs(write_run(tmp_path / "a", trials), write_run(tmp_path / "b", trials))
    assert compare.write(cmp, None) == []
    [path] = compare.write(cmp, tmp_path / "out")
    table = pd.read_csv(path)
    assert set(compare.CHANGE_COLUMNS) <= set(table.columns)
    assert set(table["run_a"]) == {"a"} and set(table["run_b"]) == {"b"}


# -- the command line on the committed sample ---------------------------------------------


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, dict]]:
    """The command line on the committed sample (and copies of it made here): each run as
    ``python -m rtlab compare`` would, each forked from one process that imported rtlab
    once (_forked_cli.py), with what each test checks it against."""
    tmp = tmp_path_factory.mktemp("cli")
    first, second = params.sample_runs()[:2]
    run = first
    cases: dict[str, tuple[list[str], dict]] = {"pass": (["compare", str(first), str(second)], {})}

    # a copy with one step 30% slower
    client, runtime, step = quietest_step(run)
    copy = slowed_copy(run, tmp / "slowed", client, runtime, step)
    out = tmp / "out"
    cases["slowed"] = (
        ["compare", str(run), str(copy), "--out", str(out)],
        {"client": client, "runtime": runtime, "step": step, "out": out},
    )

    # a copy from another host
    other = tmp / "other"
    shutil.copytree(run, other)
    meta = json.loads((other / "run.json").read_text())
    meta["host"]["hostname"] = "elsewhere"
    (other / "run.json").write_text(json.dumps(meta))
    cases["hosts"] = (["compare", str(run), str(other)], {})

    # a copy where 11 of crun's 12 starts fail
    copy = tmp / "failing"
    shutil.copytree(run, copy)
    trials = pd.read_csv(copy / "trials.csv", dtype=str, keep_default_na=False)
    where = (
        (trials["client"] == "oci")
        & (trials["runtime"] == "crun")
        & (trials["step"] == "start")
        & (trials["warmup"] == "false")
    )
    failing = trials.index[where][:11]
    trials.loc[failing, ["wall_s", "user_s", "sys_s"]] = ""
    trials.loc[failing, ["ok", "exit_code", "error"]] = ["false", "1", "synthetic failure"]
    trials.to_csv(copy / "trials.csv", index=False)
    meta = json.loads((copy / "run.json").read_text())
    meta["run_id"] += "-failing"
    (copy / "run.json").write_text(json.dumps(meta))
    cases["failing"] = (["compare", str(run), str(copy)], {"starts": int(where.sum())})

    runs = run_many([args for args, _ in cases.values()])
    return {name: (r, facts) for (name, (_, facts)), r in zip(cases.items(), runs)}


def test_cli_the_two_sample_runs_pass_the_gate(cli_runs) -> None:
    r, _ = cli_runs["pass"]
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("no regression")


def test_the_paced_sample_runs_pass_the_gate_and_name_their_pace() -> None:
    first, second = params.find_runs(params.REPO_ROOT / "data" / "sample-paced")[:2]
    cmp = compare.compare_runs(first, second)
    assert cmp.regressions.empty, cmp.regression_lines()
    assert cmp.notes[0] == "both runs at pace 100 ms"
    assert cmp.notes[1].startswith("the host as a whole was 1.6% slower in B (+1.6%: the median ")
    unpaced = compare.compare_runs(*params.sample_runs()[:2])
    assert any("neither run recorded a pace" in n and "catches less" in n for n in unpaced.notes)


def test_cli_a_copy_with_one_step_30_percent_slower_fails_naming_it(cli_runs) -> None:
    r, facts = cli_runs["slowed"]
    client, runtime, step = facts["client"], facts["runtime"], facts["step"]
    assert r.returncode == 1, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("REGRESSION beyond 5%") and f"{client}/{runtime} {step}" in last
    assert f"REGRESSION: {client}/{runtime} {step}: 30.0% slower in B" in r.stdout
    assert (facts["out"] / "changes.csv").is_file()
    assert (facts["out"] / "change.png").stat().st_size > 0


def test_cli_refuses_runs_from_different_hosts(cli_runs) -> None:
    r, _ = cli_runs["hosts"]
    assert r.returncode == 2
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("rtlab compare: error: cannot compare") and "different hosts" in line
    assert "hostname: " in line and "'elsewhere'" in line


def test_cli_eleven_of_twelve_failures_in_b_fail_the_gate_naming_the_step(cli_runs) -> None:
    r, facts = cli_runs["failing"]
    assert facts["starts"] == 12
    assert r.returncode == 1, r.stdout + r.stderr
    assert "oci/crun start" in r.stdout.strip().splitlines()[-1]
    assert "REGRESSION: oci/crun start: fails more often in B (11 of 12 trials)" in r.stdout


def test_failures_are_counted_in_the_gate_family() -> None:
    before = make_trials(QUIET, n_trials=12, seed=5)
    after = before
    for trial in range(3, 14):  # 11 of the 12 measured trials
        after = fail(after, client="oci", runtime="runc", trial=trial, step="kill")
    table = compare.changes(before, after, seed=0)
    hit = row(table, "runc", "kill")
    assert hit["verdict"] == compare.FAILS_MORE_IN_B and hit["regression"]
    assert hit["p_fail"] < 1e-4 and hit["p_fail_adj"] < 0.05
    assert not row(table, "crun", "kill")["regression"]
    # one failure more in B is not evidence of anything
    one = compare.changes(
        before, fail(before, client="oci", runtime="runc", trial=3, step="kill"), seed=0
    )
    assert not one["regression"].any()


def test_console_table_names_its_estimate(tmp_path: Path) -> None:
    trials = make_trials(QUIET, n_trials=4, seed=1)
    cmp = compare.compare_runs(write_run(tmp_path / "a", trials), write_run(tmp_path / "b", trials))
    lines = compare.format_lines(cmp)
    assert any("HL change [Holm-adj. CI]" in line for line in lines)
    assert any(line.startswith("HL change: Hodges–Lehmann shift of B over A") for line in lines)


def test_a_host_slower_as_a_whole_is_said_and_not_a_regression_of_every_target() -> None:
    """issue 31: B recorded in another sitting where the whole host is 20% slower: before,
    every row beyond the 10% threshold was a regression; now the host's shift is named
    and no target/step is flagged, while one target slowed 30% beyond it still is."""
    a = make_trials(QUIET, n_trials=20, seed=3)
    b = make_trials(QUIET, n_trials=20, seed=4)
    b = b.assign(wall_s=b["wall_s"] * 1.2)
    table = compare.changes(a, b)
    assert (table["change"] > 0.1).all()  # every row is slower beyond the threshold ...
    assert not table["regression"].any()  # ... and none is a regression of its own
    moved = compare.host_shift(table)
    assert moved is not None and abs(moved["change"] - 0.2) < 0.05
    # no interval: the rows share rounds (benchmarks/host_shift_coverage.py: 26-78%)
    assert np.isnan(moved["low"]) and np.isnan(moved["high"])
    line = compare.host_shift_line(moved)
    assert line.startswith("the host as a whole was ") and "no CI: the target/steps share" in line
    worse = slowed(b, 1.3, runtime="crun", step="create")
    table = compare.changes(a, worse)
    flagged = table[table["regression"]]
    assert set(zip(flagged["runtime"], flagged["step"])) <= {("crun", "create"), ("crun", "total")}
    assert row(table, "crun", "create")["regression"]


def test_the_host_shift_leaves_the_row_itself_out() -> None:
    shifts = np.log(np.array([1.0, 1.0, 1.0, 1.0, 1.0, 2.0]))
    steps = np.array(["create", "start", "kill", "delete", "run", "create"])
    got = compare.host_shifts(shifts, steps)
    assert got[-1] == 0.0  # the doubled row is not excused by itself
    assert np.allclose(got[:5], 0.0)  # the median of the others, the doubled one among them
    assert compare.host_shifts(shifts[:4], steps[:4]).tolist() == [0.0] * 4  # too few others


def test_no_change_verdict_beside_a_ci_that_excludes_zero() -> None:
    """issue 31: the change CI is at Holm's stopping level and p its own inversion, so
    "no clear change" never stands beside a CI that excludes 0, and a faster or slower
    verdict (not the gate's) always has one that does."""
    from rtlab.analysis import stats

    for seed in range(6):
        a = make_trials(QUIET, n_trials=8, seed=seed)
        b = make_trials(QUIET, n_trials=8, seed=seed + 100)
        ch = compare.changes(a, b, seed=0)
        measured = ch[ch["change"].notna()]
        assert len(measured)
        excludes = (measured["change_ci_low"] > 0) | (measured["change_ci_high"] < 0)
        decided = measured["difference"].isin([stats.FASTER, stats.SLOWER])
        assert not (excludes & ~decided).any()
        two_sided = decided & (measured["p_adj"] < 0.05)
        assert excludes[two_sided].all()
        assert ((measured["p_adj"] < 0.05) == excludes).all()


def test_a_run_made_on_a_busy_host_is_named_and_its_regressions_get_the_caveat():
    idle = {"host": {"cores": 2}, "load_before": [0.4, 0.5, 0.6], "load_after": [1.9, 1.0, 0.8]}
    busy = {"host": {"cores": 2}, "load_before": [0.9, 0.9, 1.0], "load_after": [7.24, 4.2, 2.3]}
    names, notes = compare.busy_runs(idle, busy)
    assert names == ["B"] and len(notes) == 1
    assert "run B ran on a busy host (1-minute load 7.24 after it, on 2 cores)" in notes[0]
    assert compare.busy_runs(idle, idle) == ([], [])
    assert compare.busy_runs({}, {"load_after": [9.0]}) == ([], [])  # no cores recorded
    rows = pd.DataFrame(
        [
            {
                "experiment": "lifecycle",
                "client": "oci",
                "runtime": "runc",
                "step": "kill",
                "regression": True,
            }
        ]
    )
    cmp = compare.RunComparison(
        "a", "b", Path("a"), Path("b"), {}, rows, [], [], [], 0.05, 0.05, busy=names
    )
    assert cmp.verdict_line().endswith(
        "oci/runc kill — run B ran on a busy host, so these may be the load"
    )
