"""Rootless mode (rootless.py, drivers/oci_rootless.py): the user, its ranges, real trials.

Each test makes its own throw-away user (``rtlab-t<pid>``), ledger and work
folder, so it never touches a set-up host's ``rtlab-rootless``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rtlab.host import ledger, rootless


@pytest.fixture
def open_dir():
    """A folder under /tmp the rootless user can traverse (pytest's tmp_path is 0700)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="rtlab-rl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def user(tmp_path, open_dir, monkeypatch):
    """A fresh rootless account in a private ledger; removed (and checked) after."""
    monkeypatch.setattr(ledger, "LEDGER", tmp_path / "host-changes.json")
    monkeypatch.setattr(rootless, "HOME_ROOT", open_dir / "h")  # traversable; podman's runroot ≤ 50 chars
    name = f"rtlab-t{os.getpid() % 100000}"
    assert rootless.account(name) is None, f"{name} exists before the test"
    acct = rootless.create_user(name, say=lambda line: None)
    yield acct
    if rootless.account(name) is not None:
        rootless.remove_user(name, say=lambda line: None)


def test_user_created_with_ranges_and_purged(user):
    ranges = rootless.subid_ranges(user.name)
    assert all(len(r) == 1 and r[0].endswith(f":{rootless.SUBID_COUNT}") for r in ranges.values())
    assert user.name in ledger.items(rootless.LEDGER_USERS)
    assert user.name in ledger.mapping(rootless.LEDGER_SUBIDS)
    assert user.uid != 0 and user.uid != os.getuid() and user.home.is_dir()
    # idempotent: a second set-up changes nothing
    assert rootless.create_user(user.name, say=lambda line: None) == user
    assert rootless.subid_ranges(user.name) == ranges
    # the wrapper really drops root
    out = subprocess.run([*rootless.wrapper(user), "id", "-u"], capture_output=True, text=True)
    assert out.stdout.strip() == str(user.uid)
    assert rootless.purge(say=lambda line: None) == [
        f"user {user.name} and its subordinate ranges removed"]
    assert rootless.account(user.name) is None
    assert not any(rootless.subid_ranges(user.name).values())
    assert not user.home.exists()
    assert not ledger.items(rootless.LEDGER_USERS) and not ledger.mapping(rootless.LEDGER_SUBIDS)


def test_refuses_an_account_rtlab_did_not_create(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "LEDGER", tmp_path / "host-changes.json")
    with pytest.raises(rootless.RootlessError, match="rtlab did not create it"):
        rootless.create_user("nobody")
    assert rootless.purge(say=lambda line: None) == []


def _env(user, folder: Path) -> dict:
    return {**os.environ, "RTLAB_ROOTLESS_USER": user.name,
            "RTLAB_RUNTIME_DIR": str(folder / "run"), "RTLAB_STATE_DIR": str(folder / "state")}


def _alive(pid: int) -> bool:
    """Not a zombie: a dead container's init is reparented to pid 1, which reaps it late here."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _user_leftovers(user) -> list[str]:
    found = [f"process {pid} of {user.name}: " + Path(f"/proc/{pid}/cmdline").read_text()
             for pid in rootless._pids_of(user.uid) if _alive(pid)]
    found += [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if "rtlab-rl-" in line]
    return found


def test_rootless_beside_rootful_on_runc_and_crun(user, open_dir):
    from rtlab.core.results import load_trials
    from tests.conftest import rtlab
    from tests.integration.conftest import oci_leftovers

    out = open_dir / "data"
    r = rtlab("collect", "--no-progress", "--clients", "oci", "--runtimes", "runc,crun,runsc",
              "--modes", "rootful,rootless", "--trials", "3", "--warmup", "1", "--out", str(out),
              env=_env(user, open_dir))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipping oci/runsc (rootless): runsc --rootless" in r.stdout
    df = load_trials(out)
    rootless_rows = df[df["mode"] == "rootless"]
    assert set(rootless_rows.runtime) == {"runc", "crun"}
    assert set(df[df["mode"] == "rootful"].runtime) == {"runc", "crun", "runsc"}
    assert rootless_rows.ok.all(), rootless_rows[~rootless_rows.ok].error.tolist()
    assert len(rootless_rows) == 2 * 4 * 5
    meta = __import__("json").loads((out / "run.json").read_text())
    wrapper = meta["rootless_wrapper"]
    assert wrapper["wrapped_median_s"] > wrapper["true_median_s"] > 0
    configs = {(t["runtime"], t["mode"]): t["config"] for t in meta["targets"]}
    assert configs[("runc", "rootless")]["uid"] == user.uid
    assert configs[("runc", "rootless")]["wrapper"][0] == "setpriv"
    assert _user_leftovers(user) == [] and oci_leftovers(f"rtlab-{meta['token']}-") == []


def test_interrupted_rootless_run_leaves_nothing_of_the_user(user, open_dir):
    import signal
    import sys
    import time

    from tests.conftest import REPO

    out = open_dir / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtlab", "collect", "--no-progress", "--clients", "oci",
         "--runtimes", "runc,crun", "--modes", "rootless", "--trials", "20", "--warmup", "0",
         "--out", str(out)], cwd=REPO, env=_env(user, open_dir),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    csv = out / "trials.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (csv.exists() and len(csv.read_text().splitlines()) > 10):
        time.sleep(0.02)
    time.sleep(0.15)  # inside a trial, a rootless container alive
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert _user_leftovers(user) == []


def test_rootless_podman_over_runc_and_crun_in_its_own_storage(user, open_dir):
    import json
    import shutil

    from rtlab.core.results import load_trials
    from tests.conftest import rtlab

    if shutil.which("podman") is None:
        pytest.skip("podman not installed")
    out = open_dir / "data"
    r = rtlab("collect", "--no-progress", "--clients", "podman", "--runtimes", "runc,crun",
              "--modes", "rootless", "--trials", "2", "--warmup", "0", "--out", str(out),
              env=_env(user, open_dir))
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    assert df.ok.all(), df[~df.ok].error.tolist()
    assert set(df["mode"]) == {"rootless"} and set(df.runtime) == {"runc", "crun"}
    meta = json.loads((out / "run.json").read_text())
    for t in meta["targets"]:
        c = t["config"]
        assert c["storage_driver"] == "overlay" and c["graph_root"].startswith(str(user.home))
        assert c["network"].startswith("none") and c["image_id"]
    assert _user_leftovers(user) == []  # podman's pause process ended too
