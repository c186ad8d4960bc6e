"""The gate over two runtimes measured in alternation in one run (rtlab/analysis/alternation.py,
``rtlab compare RUN --pair BASELINE,CANDIDATE``), on the real A/A run in data/alternation:
the same runc registered twice, so nothing but the host and the harness differs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rtlab.analysis import alternation
from rtlab.cli import main
from rtlab.core import results
from tests.conftest import REPO

AA = REPO / "data" / "alternation" / "aa-runc"


def _copy(tmp_path: Path, change) -> Path:
    """A copy of the A/A run whose trials ``change`` rewrites."""
    out = tmp_path / "run"
    shutil.copytree(AA, out)
    trials = pd.read_csv(out / "trials.csv")
    change(trials).to_csv(out / "trials.csv", index=False)
    return out


def _slower(trials: pd.DataFrame, client: str, step: str, factor: float) -> pd.DataFrame:
    where = (trials["runtime"] == "runc-new") & (trials["client"] == client)
    where &= trials["step"] == step
    return trials.assign(wall_s=np.where(where, trials["wall_s"] * factor, trials["wall_s"]))


def test_the_real_a_a_run_passes_both_ways(capsys):
    assert main(["compare", str(AA), "--pair", "runc,runc-new"]) == 0
    assert main(["compare", str(AA), "--pair", "runc-new,runc"]) == 0
    out = capsys.readouterr().out
    assert "paired by round" in out and "not adjusted for multiplicity" in out
    assert out.count("no regression") == 2


def test_a_30_percent_slower_step_is_the_one_regression(tmp_path, capsys):
    run = _copy(tmp_path, lambda t: _slower(t, "oci", "start", 1.3))
    assert main(["compare", str(run), "--pair", "runc,runc-new", "--out", str(tmp_path / "o")]) == 1
    lines = capsys.readouterr().out.splitlines()
    flagged = [line for line in lines if line.startswith("REGRESSION")]
    assert len(flagged) == 1 and flagged[0].startswith("REGRESSION oci start"), flagged
    assert lines[-1].startswith("regression: runc-new against runc at 1 row(s): oci start")
    table = pd.read_csv(tmp_path / "o" / "alternation.csv")
    row = table[(table["client"] == "oci") & (table["step"] == "start")].iloc[0]
    assert row["ci_low"] <= row["ratio"] <= row["ci_high"] and row["ratio"] > 1.15


def test_the_host_moving_mid_run_cancels_in_the_pairs(tmp_path):
    """Both runtimes of the second half of the rounds 20% slower: not a regression (an
    unpaired comparison of the halves would see a 20% move)."""

    def later_slower(t: pd.DataFrame) -> pd.DataFrame:
        late = t["round"] >= t["round"].median()
        return t.assign(wall_s=np.where(late, t["wall_s"] * 1.2, t["wall_s"]))

    run = _copy(tmp_path, later_slower)
    _, trials = results.load_run(run)
    table = alternation.gate(trials, "runc", "runc-new")
    assert not table["regression"].any()
    assert table["ratio"].between(0.85, 1.2).all()


def test_a_candidate_that_fails_a_step_is_a_regression(tmp_path):
    def fails(t: pd.DataFrame) -> pd.DataFrame:
        where = (t["runtime"] == "runc-new") & (t["client"] == "ctr") & (t["step"] == "kill")
        where &= ~t["warmup"].astype(bool)
        return t.assign(ok=np.where(where, False, t["ok"]))

    _, trials = results.load_run(_copy(tmp_path, fails))
    table = alternation.gate(trials, "runc", "runc-new")
    row = table[(table["client"] == "ctr") & (table["step"] == "kill")].iloc[0]
    assert row["regression"] and row["pairs"] == 0 and row["failed_candidate"] == 20
    assert table["regression"].sum() >= 1


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--pair", "runc,nope"], "runtime 'nope' is not in this run; it has: runc, runc-new"),
        (["--pair", "runc"], "--pair 'runc': give two runtimes, BASELINE,CANDIDATE"),
        (["--pair", "runc,runc"], "--pair names 'runc' twice"),
        ([], "RUN_B: missing; give the run after, or --pair BASELINE,CANDIDATE"),
        (["data/sample-paced/run-2", "--pair", "runc,runc-new"], "not with --pair"),
    ],
)
def test_bad_pairs_get_one_line_and_exit_2(argv, says, capsys):
    assert main(["compare", str(AA), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
