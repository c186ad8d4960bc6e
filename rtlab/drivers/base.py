"""What the scheduler needs from a (client, runtime) pair."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from ..measure import Measurement, run_timed
from ..runtimes import Runtime
from ..workload import Workload

LIFECYCLE = ("create", "start", "kill", "delete")
STEPS = (*LIFECYCLE, "run")

CLEANUP_TIMEOUT_S = 20.0
STATE_POLL_S = 0.005  # between state queries while waiting for the stopped state


class Target:
    """One client driving one runtime.

    Subclasses give the argv of each step (a step may be several commands,
    timed one after the other and summed, e.g. ctr's task + container delete),
    how to wait for the stopped state, and how to force-remove a container.
    """

    client: str = ""

    def __init__(self, runtime: Runtime, workdir: Path, *, timeout_s: float = 30.0,
                 workload: Optional[Workload] = None):
        self.runtime = runtime
        self.workdir = workdir
        self.timeout_s = timeout_s
        self.workload = workload or Workload()

    @property
    def label(self) -> str:
        return f"{self.client}/{self.runtime.name}"

    # -- what every driver provides -------------------------------------------
    def unavailable_reason(self) -> Optional[str]:
        """None when this target can run here, else one line saying why not."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Per-run preparation (bundles, images) before the first trial."""

    def commands(self, step: str, cid: str) -> list[list[str]]:
        raise NotImplementedError

    def wait_stopped(self, cid: str, timeout_s: float) -> Optional[str]:
        """Block until ``cid`` is stopped; an error line if it did not stop."""
        raise NotImplementedError

    def remove(self, cid: str) -> list[str]:
        """Force-remove ``cid`` whatever its state; the errors that mattered."""
        raise NotImplementedError

    def list_ids(self) -> list[str]:
        """Ids (or names) of every rtlab container this client/runtime holds."""
        raise NotImplementedError

    def versions(self) -> dict[str, Optional[str]]:
        raise NotImplementedError

    def config(self) -> dict:
        """The client's relevant configuration for run.json."""
        return {}

    # -- shared ---------------------------------------------------------------
    def argv_templates(self) -> dict[str, list[list[str]]]:
        return {step: self.commands(step, "{id}") for step in STEPS}

    def quiet(self, argv: list[str], timeout_s: float = CLEANUP_TIMEOUT_S) -> Measurement:
        """Run a bookkeeping command (not a timed step), keeping its stdout."""
        return run_timed(argv, timeout_s, capture_stdout=True)

    @staticmethod
    def poll_until_stopped(read_status: Callable[[], Optional[str]], stopped: str,
                           timeout_s: float,
                           give_up: Callable[[], Optional[str]] = lambda: None) -> Optional[str]:
        """Poll ``read_status`` until it returns ``stopped``; an error line if it never does.

        ``give_up`` is asked when the status cannot be read: a reason it returns
        (a daemon gone) ends the wait at once.
        """
        deadline = time.monotonic() + timeout_s
        status = None
        while time.monotonic() < deadline:
            status = read_status()
            if status == stopped:
                return None
            if status is None:
                reason = give_up()
                if reason:
                    return reason
            time.sleep(STATE_POLL_S)
        return f"container still {status or 'in an unknown state'} {timeout_s:g} s after kill"
