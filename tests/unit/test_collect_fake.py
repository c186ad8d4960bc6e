"""Scheduling, timeouts, failures and cleanup, on the fake runc-compatible runtime."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import pytest
from _forked_cli import rtlab_forked as rtlab

from rtlab.collect.collect import Progress
from rtlab.core import results
from rtlab.core.results import load_trials
from tests.conftest import REPO, processes_naming

# These tests are about scheduling, timeouts and clean-up, not the idle before a step:
# back to back (--pace 0) instead of the default 100 ms keeps make test-fast short.
NO_PACE = ("--pace", "0")


def collect_args(out, *specs, trials=3, warmup=1) -> list[str]:
    """``rtlab collect``'s arguments for the fake runtimes ``specs`` (see the fake fixture)."""
    args = [
        "collect",
        "--no-progress",
        *NO_PACE,
        "--warmup",
        str(warmup),
        "--out",
        str(out),
        "--runtimes",
        ",".join(s.split("=")[0] for s in specs),
    ]
    if trials is not None:
        args += ["--trials", str(trials)]
    for s in specs:
        args += ["--runtime", s]
    return args


def collect(env, out, *specs, trials=3, warmup=1, extra=()):
    """``rtlab collect`` as a user runs it, forked from a process that imported the
    third-party libraries once (_forked_cli.py: about 1 s less each in make test-fast)."""
    return rtlab(*collect_args(out, *specs, trials=trials, warmup=warmup), *extra, env=env)


def test_rounds_interleave_every_target_once_through_the_cli(rt_env, fake, tmp_path):
    """The wiring of the seeded schedule (tests/unit/test_scheduler.py tests its logic)."""
    specs = [fake(n)[0] for n in ("fa", "fb", "fc")]
    out = tmp_path / "out"
    r = collect(rt_env, out, *specs, trials=2, warmup=1, extra=("--seed", "1"))
    assert r.returncode == 0, r.stderr
    df = load_trials(out)
    assert len(df) == 3 * 3 * 5  # targets × rounds × steps
    first = df[df.step == "create"]
    per_round = first.groupby("round").runtime.apply(list)
    assert all(sorted(v) == ["fa", "fb", "fc"] for v in per_round)  # each target once a round
    assert (first.groupby("runtime").warmup.sum() == 1).all()
    assert (df.experiment == "lifecycle").all()


def test_experiment_pause_and_steps_through_the_cli(rt_env, fake, tmp_path):
    spec, state = fake("fa")
    r = collect(rt_env, tmp_path / "p", spec, trials=1, warmup=0, extra=("--experiment", "pause"))
    assert r.returncode == 0, r.stderr
    df = load_trials(tmp_path / "p")
    assert list(df.step) == ["create", "start", "pause", "resume", "kill", "delete"]
    assert df.ok.all() and (df.experiment == "pause").all()
    meta = json.loads((tmp_path / "p" / "run.json").read_text())
    assert meta["parameters"]["experiment"] == "pause"
    assert meta["targets"][0]["argv"]["resume"][0][-2:] == ["resume", "{id}"]
    # which cgroup its containers get: probed once before the run (issue 30), its
    # container gone with the run's
    assert meta["targets"][0]["config"]["cgroup"], meta["targets"][0]["config"]
    r = collect(rt_env, tmp_path / "r", spec, trials=2, warmup=0, extra=("--steps", "run"))
    assert r.returncode == 0, r.stderr
    assert list(load_trials(tmp_path / "r").step) == ["run", "run"]
    assert list(state.iterdir()) == []


def test_run_json_records_parameters_host_versions_and_overhead(rt_env, fake, tmp_path):
    spec, _ = fake("fa")
    r = collect(rt_env, tmp_path / "out", spec, trials=2, warmup=0)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "out" / "run.json").read_text())
    assert meta["status"] == "completed" and meta["format_version"] == results.FORMAT_VERSION
    assert meta["parameters"]["trials"] == 2 and meta["parameters"]["seed"] == 0
    assert meta["versions"]["fa"] == "fake-runtime version 0.0.1"
    for key in ("kernel", "cgroup_mode", "cpu_model", "cores", "hostname"):
        assert meta["host"][key]
    assert meta["harness_overhead"]["median_s"] > 0
    assert meta["targets"][0]["argv"]["create"][0][-1] == "{id}"
    assert "oci/fa: 2/2 trials ok" in r.stdout


def test_failed_step_keeps_its_row_and_the_container_is_removed(rt_env, fake, tmp_path):
    spec, state = fake("fa", "fail-start")
    out = tmp_path / "out"
    r = collect(rt_env, out, spec, trials=2, warmup=0)
    df = load_trials(out)
    start = df[df.step == "start"]
    assert len(start) == 2 and not start.ok.any()
    assert (start.error == "exit 1: fake: start refused").all()
    assert df[df.step == "kill"].error.str.startswith("not run: start failed").all()
    assert df[df.step == "run"].ok.all()
    assert "failures: start x2: exit 1: fake: start refused" in r.stdout
    assert list(state.iterdir()) == []  # force-removed


def test_hung_runtime_times_out_is_dropped_after_two_and_leaves_nothing(rt_env, fake, tmp_path):
    hung, hung_state = fake("hung", "hang")
    good, _ = fake("good")
    out = tmp_path / "out"
    r = collect(rt_env, out, hung, good, trials=3, warmup=0, extra=("--timeout", "1"))
    assert r.returncode == 0, r.stderr
    df = load_trials(out)
    hung_rows = df[df.runtime == "hung"]
    attempted = hung_rows[hung_rows.error.str.startswith("timed out")]
    assert list(attempted.step) == ["create", "run"]  # two consecutive timeouts, then dropped
    assert hung_rows.trial.max() == 0  # no second trial
    assert df[df.runtime == "good"].ok.all() and df[df.runtime == "good"].trial.nunique() == 3
    meta = json.loads((out / "run.json").read_text())
    assert meta["dropped"]["oci/hung"].startswith("dropped after 2 consecutive timeouts")
    assert "dropped after 2 consecutive timeouts" in r.stdout
    assert list(hung_state.iterdir()) == []
    assert processes_naming(str(hung_state)) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_keeps_finished_trials_and_cleans_up(rt_env, fake, tmp_path, sig):
    spec, state = fake("slow", "slow-start")  # a container exists most of the time
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtlab", *collect_args(out, spec, trials=50, warmup=0)],
        cwd=REPO,
        env=rt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    csv = out / "trials.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if csv.exists() and len(csv.read_text().splitlines()) >= 1 + 2 * 5:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert "finished trials are kept" in stdout
    df = load_trials(out)
    assert len(df) >= 10 and len(df) % 5 == 0  # whole trials only
    assert df.groupby("trial").size().eq(5).all()
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert list(state.iterdir()) == []
    assert processes_naming(str(state)) == []


def test_second_collect_is_refused_while_one_runs(rt_env, fake, tmp_path):
    spec, state = fake("slow", "slow")
    first = subprocess.Popen(
        [sys.executable, "-m", "rtlab", *collect_args(tmp_path / "a", spec, trials=40, warmup=0)],
        cwd=REPO,
        env=rt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "a" / "trials.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        spec2, _ = fake("other")
        r = collect(rt_env, tmp_path / "b", spec2, trials=1, warmup=0)
        assert r.returncode == 2
        assert "another rtlab collect is running" in r.stderr and str(tmp_path / "a") in r.stderr
        assert not (tmp_path / "b").exists()  # nothing created for the refused run
        r = collect(
            rt_env, tmp_path / "c", spec2, trials=1, warmup=0, extra=("--allow-concurrent",)
        )
        assert r.returncode == 0, r.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert list(state.iterdir()) == []


def _interrupt_after(env, args, csv, rows, sig=signal.SIGINT):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtlab", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if csv.exists() and len(csv.read_text().splitlines()) >= 1 + rows:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_resume_completes_an_interrupted_run_to_its_count(rt_env, fake, tmp_path):
    a, state_a = fake("sa", "slow-start")
    b, _ = fake("sb", "slow-start")
    out = tmp_path / "out"
    code, _, err = _interrupt_after(
        rt_env,
        collect_args(out, a, b, trials=3, warmup=1),
        out / "trials.csv",
        3 * 5,
    )
    assert code == 130, err
    before = load_trials(out)
    assert 3 <= before.groupby("runtime").trial.nunique().sum() < 8
    r = rtlab("collect", "--no-progress", "--resume", str(out), env=rt_env)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout
    df = load_trials(out)
    assert df.iloc[: len(before)].equals(before)  # finished trials untouched
    for rt in ("sa", "sb"):
        rows = df[df.runtime == rt]
        assert sorted(rows.trial.unique()) == list(range(4))  # 1 warm-up + 3, no gap, no extra
        assert rows[rows.trial == 0].warmup.all() and not rows[rows.trial > 0].warmup.any()
        assert rows.groupby("trial").size().eq(5).all()
    assert df[df.step.isin(["create", "run"])].container_id.is_unique  # one container each
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "completed" and len(meta["resumed"]) == 1
    assert list(state_a.iterdir()) == []


def test_resume_refuses_when_versions_changed(rt_env, fake, tmp_path):
    spec, _ = fake("fa")
    out = tmp_path / "out"
    assert collect(rt_env, out, spec, trials=1, warmup=0).returncode == 0
    meta = json.loads((out / "run.json").read_text())
    meta["versions"]["fa"] = "fake-runtime version 0.0.0"
    (out / "run.json").write_text(json.dumps(meta))
    r = rtlab("collect", "--resume", str(out), env=rt_env)
    assert r.returncode == 2
    assert (
        "the host or versions changed" in r.stderr
        and "fa: 'fake-runtime version 0.0.0'" in r.stderr
    )
    assert len(load_trials(out)) == 5


def test_until_ci_options_reach_the_schedule_and_it_says_why_it_stopped(rt_env, fake, tmp_path):
    """The wiring; test_scheduler.py tests the adaptive stop itself on made-up durations
    (real ones would make a CI-met stop depend on this host's noise)."""
    spec, _ = fake("fa")
    out = tmp_path / "tight"
    r = collect(
        rt_env,
        out,
        spec,
        trials=None,
        warmup=0,
        extra=("--until-ci", "0.0001", "--min-trials", "2", "--max-trials", "4"),
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["stopped"]["oci/fa"] == "--max-trials 4 reached before the CI was within ±0.0001"
    assert load_trials(out).trial.nunique() == 4


def test_until_ci_with_trials_is_refused(rt_env, fake, tmp_path):
    spec, _ = fake("fa")
    r = collect(rt_env, tmp_path / "o", spec, trials=3, extra=("--until-ci", "0.05"))
    assert (
        r.returncode == 2 and "--until-ci 0.05 decides the trial count: drop --trials 3" in r.stderr
    )


def test_a_second_ctrl_c_during_cleanup_does_not_cut_it_short(rt_env, fake, tmp_path):
    spec, state = fake("slow", "slow")  # every fake call takes 0.2 s, so cleanup takes a while
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtlab", *collect_args(out, spec, trials=50, warmup=0)],
        cwd=REPO,
        env={**rt_env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60

    def trial_containers():  # the cgroup probe's container (before the run) is not a trial's
        return [p for p in state.iterdir() if "-probe-" not in p.name]

    while time.monotonic() < deadline and not trial_containers():
        time.sleep(0.02)
    assert trial_containers(), "no container was created"  # inside a trial
    proc.send_signal(signal.SIGINT)
    said = []
    for line in proc.stdout:  # the first signal's message comes before the cleanup starts
        said.append(line)
        if "cleaning up" in line:
            break
    # the cleanup (list, kill, delete: 0.2 s each) is running now: the process must still be
    # alive to receive the second signal, else this test proves nothing
    assert proc.poll() is None, "".join(said)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "cleanup: removed 1 container(s) left by this run" in stdout
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert list(state.iterdir()) == []
    assert processes_naming(str(state)) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_off_a_terminal_keeps_the_plain_line(monkeypatch):
    clock = iter([100.0, 102.0, 106.0])
    monkeypatch.setattr("rtlab.collect.unitrun.time.monotonic", lambda: next(clock))
    out = io.StringIO()
    progress = Progress(4, True, stream=out)
    progress.advance("runc/oci")
    progress.advance("crun/oci")
    progress.close()
    # 1/4 after 2 s: eta 2 × 3 = 6 s; 2/4 after 6 s: eta 3 × 2 = 6 s
    assert out.getvalue() == (
        "\r[#######.......................] 1/4 trials  runc/oci           eta    6 s "
        "\r[###############...............] 2/4 trials  crun/oci           eta    6 s \n"
    )


def test_progress_on_a_terminal_is_tqdm_from_the_resumed_count():
    out = _Terminal()
    progress = Progress(4, True, done=1, stream=out)
    progress.advance("runc/oci")
    progress.close()
    text = out.getvalue()
    assert "2/4" in text and "50%|" in text and "runc/oci" in text and "trial/s" in text
    assert "trials  " not in text  # not the plain line


@pytest.mark.parametrize("stream", [io.StringIO, _Terminal])
def test_progress_disabled_writes_nothing(stream):
    out = stream()
    progress = Progress(4, False, stream=out)
    progress.advance("runc/oci")
    progress.close()
    assert out.getvalue() == "" and progress.done == 1


def test_a_ctrl_c_whose_exception_was_swallowed_still_stops_the_run(fake, tmp_path, monkeypatch):
    """Python ignores an exception raised in an at-fork hook or a finaliser; a SIGINT whose
    Interrupted was lost so must still stop the run before its next trial, keeping the rows
    written and cleaning up (collect's checkpoint)."""
    from rtlab import cli
    from rtlab.collect import collect, session, trial
    from rtlab.host import cleanup

    monkeypatch.setattr(cleanup, "RUNTIME_DIR", tmp_path / "run-dir")
    monkeypatch.setattr(session, "RUNTIME_DIR", tmp_path / "run-dir")
    inner = trial.TrialRunner.run
    calls = []

    def run(self, state, rnd, warmup):
        rows = inner(self, state, rnd, warmup)
        calls.append(rnd)
        if len(calls) == 1:  # the handler runs, its exception is swallowed
            try:
                signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
            except collect.Interrupted:
                pass
        return rows

    monkeypatch.setattr(trial.TrialRunner, "run", run)
    spec, state_dir = fake("fake")
    out = tmp_path / "out"
    code = cli.main([*collect_args(out, spec, trials=5, warmup=0)])
    assert code == 128 + signal.SIGINT
    assert calls == [0]  # no trial after the swallowed one
    assert len(load_trials(out)) == len(load_trials(out)[lambda d: d.trial == 0]) > 0
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert list(state_dir.iterdir()) == []  # its containers removed
