"""A live run's lock is seen by every other run, whatever folder each works in."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from rtlab.host import cleanup

HOLD = """
import sys, time
from rtlab.host import cleanup
lock = cleanup.RunLock(sys.argv[1], cleanup.RUNTIME_DIR)
lock.acquire()
print(lock.path, flush=True)
time.sleep(60)
"""


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="the host-wide lock folder is root's")
def test_a_run_with_its_own_runtime_dir_is_alive_for_a_run_with_another(tmp_path, monkeypatch):
    token = f"20260101T000000Z-{os.getpid():x}"
    env = {**os.environ, "RTLAB_RUNTIME_DIR": str(tmp_path / "theirs")}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, token], env=env, text=True, stdout=subprocess.PIPE
    )
    try:
        path = holder.stdout.readline().strip()
        assert path == str(cleanup.HOST_LOCK_DIR / f"{token}.lock")
        # this process works in another folder: before the fix it looked only there
        monkeypatch.setattr(cleanup, "RUNTIME_DIR", tmp_path / "ours")
        assert token in cleanup.live_runs()
        # but collect refuses to share the host only with runs of its own root
        assert token not in cleanup.live_runs(same_runtime_dir=True)
        monkeypatch.setattr(cleanup, "RUNTIME_DIR", tmp_path / "theirs")
        assert token in cleanup.live_runs(same_runtime_dir=True)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    deadline = time.monotonic() + 5
    while token in cleanup.live_runs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert token not in cleanup.live_runs()  # a killed holder's flock is gone with it


def test_an_unprivileged_run_keeps_its_lock_in_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(cleanup.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(cleanup, "RUNTIME_DIR", tmp_path)
    monkeypatch.setattr(cleanup, "HOST_LOCK_DIR", tmp_path / "host-not-writable")
    lock = cleanup.RunLock("20260101T000000Z-beef", tmp_path)
    lock.acquire()
    try:
        assert lock.path.parent == tmp_path / "runs"
        assert "20260101T000000Z-beef" in cleanup.live_runs()
    finally:
        lock.release()
    assert "20260101T000000Z-beef" not in cleanup.live_runs()
