"""Fault tolerance on the real runtimes: signals mid-run, resume, concurrent runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from rtlab.core.results import load_trials
from tests.conftest import REPO, rtlab
from tests.integration.conftest import oci_leftovers


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_then_resume_completes_it(tmp_path, rt_env, sig):
    out = tmp_path / "run"
    args = [
        "collect",
        "--no-progress",
        "--clients",
        "oci",
        "--runtimes",
        "runc,crun,runsc",
        "--trials",
        "3",
        "--warmup",
        "0",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtlab", *args],
        cwd=REPO,
        env=rt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    csv = out / "trials.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        csv.exists() and len(csv.read_text().splitlines()) > 10
    ):
        time.sleep(0.02)
    time.sleep(0.15)  # land the signal inside a trial, with containers alive
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, stderr
    assert oci_leftovers() == []
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted"
    before = load_trials(out)
    assert before.groupby(["runtime", "trial"]).size().eq(5).all()  # only whole trials
    assert before.ok.all(), before[~before.ok].error.tolist()

    r = rtlab("collect", "--no-progress", "--resume", str(out), env=rt_env)
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    assert df.iloc[: len(before)].equals(before)
    assert df.ok.all()
    assert (df.groupby("runtime").trial.nunique() == 3).all() and len(df) == 3 * 3 * 5
    assert json.loads((out / "run.json").read_text())["status"] == "completed"
    assert oci_leftovers() == []


def test_two_runs_at_once_refused_then_allowed_and_both_clean(tmp_path, rt_env):
    args = [
        "collect",
        "--no-progress",
        "--clients",
        "oci",
        "--runtimes",
        "runc,runsc",
        "--trials",
        "2",
        "--warmup",
        "0",
    ]
    first = subprocess.Popen(
        [sys.executable, "-m", "rtlab", *args, "--out", str(tmp_path / "a")],
        cwd=REPO,
        env=rt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "a" / "trials.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    refused = rtlab(*args, "--out", str(tmp_path / "b"), env=rt_env)
    second = rtlab(*args, "--out", str(tmp_path / "c"), "--allow-concurrent", env=rt_env)
    first_out, first_err = first.communicate(timeout=300)
    assert refused.returncode == 2 and "another rtlab collect is running" in refused.stderr
    assert second.returncode == 0, second.stderr
    assert first.returncode == 0, first_err
    for name in ("a", "c"):
        df = load_trials(tmp_path / name)
        assert df.ok.all() and len(df) == 2 * 2 * 5
    assert oci_leftovers() == []
