"""rtlab as a child subreaper (rtlab/core/reaper.py): orphans of the commands it runs are
reaped at once, its own children never; no zombie or orphan after a run, Ctrl-C included.
The fake runtime's ``orphan`` mode has runsc's shape (a sandbox orphaned at create, a
delete that waits until the sandbox is gone, zombie included)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from _forked_cli import rtlab_forked as rtlab

from rtlab.core import reaper
from rtlab.core.measure import run_released, run_timed
from rtlab.core.results import load_trials
from tests.unit.test_collect_fake import _interrupt_after, collect_args


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_an_orphan_is_reaped_at_once_and_own_children_keep_their_status(tmp_path):
    pid_file = tmp_path / "pid"
    with reaper.subreaper() as record:
        assert record["subreaper"] is True
        m = run_timed(["sh", "-c", f"sleep 0.2 & echo $! > {pid_file}; exit 3"], 5)
        assert m.exit_code == 3  # the timed command's own status, not taken by the reaper
        orphan = int(pid_file.read_text())
        # like runsc delete: wait until the orphan has disappeared, zombie included
        wait = run_timed(["sh", "-c", f"while [ -e /proc/{orphan} ]; do sleep 0.005; done"], 5)
        assert wait.ok and wait.wall_s < 0.6, wait
        released = run_released([["sh", "-c", "exit 4"], ["sh", "-c", "sleep 0.05 & exit 5"]], 5)
        assert [r.exit_code for r in released] == [4, 5]
        late = subprocess.run(["sh", "-c", "exit 6"])  # subprocess's children: never taken
        assert late.returncode == 6
        time.sleep(0.3)  # the released command's orphan ends (and is reaped at once)
    assert _gone(orphan)
    assert record["orphans_reaped"] >= 2 and record["orphans_running_at_end"] == []
    assert not reaper.active()


def _sandboxes(state: Path) -> list[int]:
    folder = Path(str(state) + ".sandboxes")
    return [int(p.read_text()) for p in folder.iterdir()] if folder.is_dir() else []


def test_a_run_reaps_what_the_runtime_left_and_delete_does_not_wait_for_pid_1(
    rt_env, fake, tmp_path
):
    spec, state = fake("orph", "orphan")
    out = tmp_path / "out"
    r = rtlab(*collect_args(out, spec, trials=4, warmup=1), env=rt_env)
    assert r.returncode == 0, r.stderr
    df = load_trials(out)
    assert df.ok.all(), df[~df.ok].error.tolist()
    meta = json.loads((out / "run.json").read_text())
    assert meta["reaper"]["subreaper"] is True
    assert meta["reaper"]["orphans_reaped"] >= 5  # a sandbox per create
    assert meta["reaper"]["orphans_running_at_end"] == []
    # delete waits for its sandbox to disappear: reaped at once, not when PID 1 gets to it
    assert df[df.step == "delete"].wall_s.median() < 0.3
    pids = _sandboxes(state)
    assert len(pids) >= 5 and all(_gone(p) for p in pids)  # no zombie, no orphan left


def test_ctrl_c_leaves_no_zombie_and_no_orphan(rt_env, fake, tmp_path):
    spec, state = fake("orphc", "orphan")
    out = tmp_path / "out"
    args = collect_args(out, spec, trials=200, warmup=0)
    returncode, _, stderr = _interrupt_after(rt_env, args, out / "trials.csv", 12)
    assert returncode == 128 + signal.SIGINT, stderr
    pids = _sandboxes(state)
    assert pids and [p for p in pids if not _gone(p)] == []
    assert list(state.iterdir()) == []
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted" and meta["reaper"]["orphans_running_at_end"] == []
