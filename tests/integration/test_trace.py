"""Traced trials on the real runc and crun: bpftrace on tracepoints, phases named and ordered."""

from __future__ import annotations

import json
import os
import time

import pytest

from rtlab.collect import tracing
from rtlab.core import image
from rtlab.core.measure import run_timed
from tests.conftest import need_tools
from tests.integration.conftest import oci_leftovers


@pytest.fixture
def _bpftrace():
    need_tools("bpftrace")  # set-up installs it (host.DEBIAN_PACKAGES): make test fails without


@pytest.mark.usefixtures("_bpftrace")
def test_run_of_true_on_runc_and_crun_is_cut_into_ordered_phases(tmp_path):
    rootfs = image.build_rootfs(tmp_path / "state")
    bundle = image.write_bundle(tmp_path / "bundle", image.TRUE_ARGS, rootfs)
    windows = []
    tracer = tracing.Tracer(tmp_path / "trace" / "events.txt")
    with tracer:
        for i in range(2):
            for rt in ("runc", "crun"):
                cid = f"rtlab-20200101T000000Z-trace-{os.getpid()}-{rt}{i}"
                m = run_timed(
                    [
                        rt,
                        "--root",
                        str(tmp_path / f"root-{rt}"),
                        "run",
                        "--bundle",
                        str(bundle),
                        cid,
                    ],
                    30,
                )
                end = m.end_ns  # the reap's timestamp (a late return would shift the window)
                windows.append((rt, end - int(m.wall_s * 1e9), end, m))
    assert tracer.proc is not None and tracer.proc.poll() is not None  # the tracer is gone
    events = tracer.events()
    assert events, (tmp_path / "trace" / "events.err").read_text()
    for rt, start, end, m in windows:
        assert m.ok, m.describe_failure()
        got = tracing.phases(events, start, end, tracing.definitions(rt, "run"))
        names = [p.phase for p in got]
        assert tracing.UNATTRIBUTED not in names, (rt, got)
        expected = [name for name, _ in tracing.definitions(rt, "run")]
        assert names == expected and len(names) >= 6
        # ordered, contiguous, inside the measured wall time
        at = 0.0
        for p in got:
            assert p.dur_s >= 0 and abs(p.start_s - at) < 1e-9
            at = p.start_s + p.dur_s
        assert abs(at - m.wall_s) < 1e-6
        assert sum(p.dur_s for p in got) <= m.wall_s + 1e-6
    assert oci_leftovers(prefix="rtlab-20200101T000000Z-trace-") == []


@pytest.mark.usefixtures("_bpftrace")
def test_collect_trace_interleaves_traced_twins_and_writes_phases(tmp_path, rt_env):
    from rtlab.analysis import phasestats
    from rtlab.core.results import load_trials
    from tests.conftest import rtlab

    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "oci",
        "--runtimes",
        "runc,crun",
        "--steps",
        "run",
        "--trials",
        "3",
        "--warmup",
        "1",
        "--trace",
        "--out",
        str(out),
        env=rt_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    assert df.ok.all(), df[~df.ok][["runtime", "error"]].to_string()
    # traced and untraced: separate units, both in every round (interleaved)
    per_round = df.groupby("round")["traced"].nunique()
    assert (per_round == 2).all()
    assert set(df.groupby(["runtime", "traced"]).size()) == {4}
    meta = json.loads((out / "run.json").read_text())
    assert meta["parameters"]["trace"] is True and meta["trace"]["traced_steps"] == 8
    phases = phasestats.load_phases(out)
    traced_ids = set(df[df.traced.astype(str).str.lower() == "true"].container_id)
    assert set(phases.container_id) == traced_ids
    assert tracing_leftovers(meta) == []
    summary = phasestats.phase_summary(phases)
    for rt in ("runc", "crun"):
        names = list(summary[summary.runtime == rt].phase)
        assert names == [n for n, _ in tracing.definitions(rt, "run")] + [tracing.UNATTRIBUTED]
    assert oci_leftovers(prefix=f"rtlab-{meta['run_id'].split('-')[0]}") == []


def tracing_leftovers(meta) -> list[str]:
    """bpftrace processes still running that this test's run started (its pid is logged)."""
    import subprocess

    out = subprocess.run(["pgrep", "-a", "bpftrace"], capture_output=True, text=True).stdout
    return [
        line
        for line in out.splitlines()
        if str(meta.get("trace", {}).get("pid")) in line.split()[:1]
    ]


@pytest.mark.usefixtures("_bpftrace")
def test_traced_lifecycle_create_and_start_have_their_phases(tmp_path, rt_env):
    from rtlab.analysis import phasestats
    from tests.conftest import rtlab

    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "oci",
        "--runtimes",
        "runc,crun",
        "--trials",
        "2",
        "--warmup",
        "0",
        "--trace",
        "--out",
        str(out),
        env=rt_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    phases = phasestats.load_phases(out)
    for rt in ("runc", "crun"):
        for step in ("create", "start", "kill", "delete", "run"):
            got = phases[(phases.runtime == rt) & (phases.step == step)]
            assert set(got.phase) == {n for n, _ in tracing.definitions(rt, step)}, (rt, step)
    assert set(phases.step) == {"create", "start", "kill", "delete", "run"}
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    assert oci_leftovers(prefix=f"rtlab-{run_id.split('-')[0]}") == []


def _tracefs_mounts() -> list[str]:
    from pathlib import Path

    return [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if " - tracefs " in line
    ]


@pytest.mark.usefixtures("_bpftrace")
def test_ctrl_c_during_a_traced_run_leaves_no_tracer_probe_or_mount(tmp_path, rt_env):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import REPO, processes_naming

    mounts_before = _tracefs_mounts()
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtlab",
            "collect",
            "--no-progress",
            "--clients",
            "oci",
            "--runtimes",
            "runc,crun",
            "--steps",
            "run",
            "--trials",
            "30",
            "--warmup",
            "0",
            "--trace",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=rt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    csv = out / "trials.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        csv.exists() and len(csv.read_text().splitlines()) > 6
    ):
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    tracer = [p for p in processes_naming(f" {proc.pid} 1") if "bpftrace" in p]
    assert tracer, "no bpftrace following the run while it ran"
    time.sleep(0.1)  # inside a trial
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted"
    pid = meta["trace"]["pid"]
    # the tracer is gone (its probes and perf buffers go with its file descriptors)
    assert not Path(f"/proc/{pid}").exists() or "bpftrace" not in Path(
        f"/proc/{pid}/cmdline"
    ).read_bytes().decode(errors="replace")
    assert [p for p in processes_naming(f" {proc.pid} 1") if "bpftrace" in p] == []
    assert _tracefs_mounts() == mounts_before  # no mount added by the run
    assert (out / "phases.csv").exists()  # the traced steps done before Ctrl-C are kept
    assert oci_leftovers(prefix=f"rtlab-{meta['run_id'].split('-')[0]}") == []


@pytest.mark.usefixtures("_bpftrace")
def test_docker_and_ctr_start_name_the_hand_offs(tmp_path, rt_env):
    need_tools("docker", "ctr")
    from rtlab.analysis import phasestats
    from tests.conftest import rtlab

    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "docker,ctr",
        "--runtimes",
        "runc",
        "--trials",
        "2",
        "--warmup",
        "0",
        "--trace",
        "--out",
        str(out),
        env=rt_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    phases = phasestats.load_phases(out)
    for client in ("docker", "ctr"):
        got = phases[(phases.client == client) & (phases.step == "start")]
        expected = [n for n, _ in tracing.definitions("runc", "start", client)]
        assert got.container_id.nunique() == 2
        for _, trial in got.groupby("container_id"):
            # every hand-off seen, in order, nothing unattributed
            assert list(trial.sort_values("start_s").phase) == expected, trial
    assert set(phases.step) == {"start"}  # the daemon clients' other steps: no definition


@pytest.mark.usefixtures("_bpftrace")
def test_resuming_an_interrupted_traced_run_measures_exactly_each_twins_missing_trials(
    tmp_path, rt_env
):
    """issue 32: the resume key held no ``traced``: the twins shared one count, so one
    twin was measured again from its first trial and the other got nothing more."""
    import signal

    from rtlab.core.results import load_trials
    from tests.conftest import rtlab
    from tests.unit.test_collect_fake import _interrupt_after

    out = tmp_path / "run"
    args = ["collect", "--no-progress", "--clients", "oci", "--runtimes", "runc,crun"]
    args += ["--steps", "run", "--trials", "6", "--warmup", "0", "--trace", "--out", str(out)]
    returncode, _, stderr = _interrupt_after(rt_env, args, out / "trials.csv", 9)
    assert returncode == 128 + signal.SIGINT, stderr
    before = load_trials(out)
    done = before.groupby(["runtime", before.traced.astype(str)]).trial.nunique()
    assert 0 < done.sum() < 24, done  # interrupted part-way
    r = rtlab("collect", "--no-progress", "--resume", str(out), env=rt_env)
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    for (rt, traced), rows in df.groupby(["runtime", df.traced.astype(str)]):
        # each twin: trials 0..5 exactly once each (no gap, nothing measured twice)
        assert sorted(rows.trial) == list(range(6)), (rt, traced, sorted(rows.trial))
    assert set(df.traced.astype(str)) == {"True", "False"}
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "completed" and len(meta["resumed"]) == 1
    assert oci_leftovers(prefix=f"rtlab-{meta['run_id'].split('-')[0]}") == []
