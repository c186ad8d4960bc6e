"""The real OCI runtimes (runc, crun, runsc, runsc-kvm) through their own CLI."""

from __future__ import annotations

import json
import shutil
import subprocess

from rtlab.core import image
from rtlab.core.measure import run_timed
from rtlab.core.results import load_trials
from rtlab.core.runtimes import KNOWN
from rtlab.host import cleanup
from tests.conftest import rtlab
from tests.integration.conftest import oci_leftovers


def test_lifecycle_and_run_on_runc_crun_runsc(tmp_path, rt_env):
    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "oci",
        "--runtimes",
        "runc,crun,runsc",
        "--trials",
        "2",
        "--warmup",
        "1",
        "--out",
        str(out),
        env=rt_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    bad = df[~df.ok]
    assert bad.empty, bad[["runtime", "step", "error"]].to_string()
    measured = df[~df.warmup]
    counts = measured.groupby(["runtime", "step"]).size()
    assert set(counts.index.get_level_values(0)) == {"runc", "crun", "runsc"}
    assert (counts == 2).all() and len(counts) == 15
    assert (measured.wall_s > 0).all()
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "completed"
    assert set(meta["versions"]) == {"runc", "crun", "runsc"}
    assert all(meta["versions"].values())
    assert meta["host"]["kernel"] and meta["host"]["cgroup_mode"] in ("v1", "v2", "hybrid")
    assert meta["harness_overhead"]["median_s"] > 0
    for rt in ("runc", "crun", "runsc"):
        assert f"oci/{rt}: 2/2 trials ok" in r.stdout
    assert oci_leftovers() == []


def _runsc_kvm_outcome(tmp_path) -> str:
    """What runsc --platform=kvm does on this host, asked directly (not through rtlab):
    "ok", "hangs" (no answer within 5 s: nested virtualisation) or "refused"."""
    rt = KNOWN["runsc-kvm"]
    bundle = image.write_bundle(tmp_path / "probe", image.TRUE_ARGS, image.build_rootfs())
    cid = "rtlab-20200101T000000Z-0kvm-00001p"  # a dead run's id: `rtlab clean` would take it
    try:
        m = run_timed([*rt.argv, "run", "--bundle", str(bundle), cid], 5)
    finally:
        subprocess.run([*rt.argv, "delete", "--force", cid], capture_output=True, timeout=30)
        cleanup.sweep(cid)
    return "ok" if m.ok else "hangs" if m.timed_out else "refused"


def test_runsc_kvm_is_recorded_as_it_behaves_here_and_leaves_nothing(tmp_path, rt_env):
    expected = _runsc_kvm_outcome(tmp_path)
    out = tmp_path / "run"
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "oci",
        "--runtimes",
        "runsc-kvm",
        "--trials",
        "2",
        "--warmup",
        "0",
        "--timeout",
        "5",
        "--out",
        str(out),
        env=rt_env,
    )
    assert oci_leftovers() == []
    meta = json.loads((out / "run.json").read_text())
    df = load_trials(out)
    failed = df[~df.ok & ~df.error.str.startswith("not run")]
    if expected == "ok":
        assert r.returncode == 0 and len(df) == 10 and df.ok.all(), failed.error.tolist()
    elif expected == "hangs":
        assert list(failed.step) == ["create", "run"], failed.error.tolist()
        assert failed.error.str.startswith("timed out after 5.0 s").all()
        assert meta["dropped"]["oci/runsc-kvm"].startswith("dropped after 2 consecutive timeouts")
    else:  # refused at once: runsc's own message is kept, no timeout
        assert not failed.empty and not failed.error.str.startswith("timed out").any()
        assert failed.exit_code.notna().all() and failed.error.str.len().gt(10).all()


def test_clean_removes_dead_runs_containers_only(tmp_path):
    rootfs = image.build_rootfs()
    bundle = image.write_bundle(tmp_path / "b", image.SLEEP_ARGS, rootfs)
    dead, other = "rtlab-20200101T000000Z-dead-00001l", "notrtlab-keep-me"
    for cid in (dead, other):
        subprocess.run(
            ["runc", "create", "--bundle", str(bundle), cid],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
    try:
        r = rtlab("clean")
        assert r.returncode == 0, r.stderr
        assert f"removed oci/runc:{dead}" in r.stdout
        listed = subprocess.run(
            ["runc", "list", "--quiet"], capture_output=True, text=True
        ).stdout.split()
        assert dead not in listed and other in listed
    finally:
        subprocess.run(["runc", "delete", "--force", other], capture_output=True, timeout=30)
        subprocess.run(["runc", "delete", "--force", dead], capture_output=True, timeout=30)
    assert oci_leftovers() == []


def test_doctor_reports_every_runtime_with_a_reason(rt_env):
    r = rtlab("doctor", "--clients", "oci", "--json", "--timeout", "5", env=rt_env)
    assert r.returncode == 0, r.stderr
    targets = {t["runtime"]: t for t in json.loads(r.stdout)["targets"]}
    for rt in ("runc", "crun", "runsc"):
        assert targets[rt]["available"] and targets[rt]["version"], targets[rt]
    assert not targets["youki"]["available"]  # not installed here: test_youki_… below says why
    for t in targets.values():
        assert t["available"] or t["reason"]
    assert oci_leftovers() == []


# youki is not packaged for Debian and not installed on these hosts (docs/DESIGN.md,
# "Dependencies"); rtlab must say so, not measure it, and keep the reason.
YOUKI_REASON = "not installed (youki not found; optional: not packaged for Debian — install youki"


def assert_youki_not_measured(doctor_out: dict, run_dir, collect_stdout: str) -> None:
    """doctor's youki line and a collect asked for youki: unavailable, with the reason,
    no rows; the other runtime of the collect measured."""
    [youki] = [t for t in doctor_out["targets"] if t["runtime"] == "youki"]
    assert not youki["available"] and youki["version"] is None, youki
    assert youki["reason"].startswith(YOUKI_REASON), youki
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed"
    assert list(meta["unavailable"]) == ["oci/youki"]
    assert meta["unavailable"]["oci/youki"].startswith(YOUKI_REASON)
    df = load_trials(run_dir)
    assert "youki" not in set(df.runtime) and len(df) > 0 and df.ok.all()
    assert f"oci/youki: not measured: {YOUKI_REASON}" in collect_stdout


def test_youki_is_recorded_as_not_measured_with_its_reason(tmp_path, rt_env, fake):
    """Touches no real runtime: youki is absent, the runtime measured beside it is the fake."""
    assert shutil.which("youki") is None, (
        "youki is installed here now: this test expects a host without it"
    )
    d = rtlab("doctor", "--clients", "oci", "--runtimes", "youki", "--json", env=rt_env)
    assert d.returncode == 0, d.stderr
    spec, state = fake("fa")
    out = tmp_path / "data"  # tmp_path / "run" is rt_env's RTLAB_RUNTIME_DIR
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "oci",
        "--runtimes",
        "fa,youki",
        "--runtime",
        spec,
        "--trials",
        "1",
        "--warmup",
        "0",
        "--out",
        str(out),
        env=rt_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert_youki_not_measured(json.loads(d.stdout), out, r.stdout)
    assert list(state.iterdir()) == []
