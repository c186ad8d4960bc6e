"""The run session: a token, its lock, its work folder, and the final sweep.

Everything a run creates on the host carries ``rtlab-<token>-`` (container ids,
hence processes, mounts and cgroups), so the sweep when the session ends removes
exactly this run's leftovers, whatever happened. collect, doctor and the study
probes each run inside one::

    with RunSession(folder) as session:
        cid = session.cid(1, "p")
        ...
    session.leftovers  # what the final sweep found
"""

from __future__ import annotations

import secrets
import shutil
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from rtlab.core.image import RUNTIME_DIR
from rtlab.host import cleanup


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    host_part = socket.gethostname().split(".")[0] or "host"
    return f"{now:%Y%m%dT%H%M%SZ}-{host_part}-{secrets.token_hex(2)}"


def run_token(run_id: str) -> str:
    """The part of the run id that goes into container ids: ``<stamp>-<hex>``."""
    parts = run_id.split("-")
    return f"{parts[0]}-{parts[-1]}"


class RunSession:
    """Token, lock (held while the session is open), work folder, sweep on exit.

    ``before_sweep`` callbacks run first when the session closes (collect removes
    its containers through each client there); the sweep's findings are in
    ``leftovers``. The lock tells ``rtlab clean`` and other runs this one is alive.
    """

    def __init__(self, folder: Path | None = None, run_id: str | None = None):
        self.run_id = run_id or new_run_id()
        self.token = run_token(self.run_id)
        self.workdir = RUNTIME_DIR / self.token
        self.lock = cleanup.RunLock(self.token, folder if folder is not None else self.workdir)
        self.before_sweep: list[Callable[[], None]] = []
        self.leftovers: dict = {}

    @property
    def prefix(self) -> str:
        return f"{cleanup.CONTAINER_PREFIX}{self.token}-"

    def cid(self, n: int, kind: str) -> str:
        return f"{self.prefix}{n:05d}{kind}"

    def open(self) -> RunSession:
        self.lock.acquire()
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
        except BaseException:
            self.lock.release()
            raise
        return self

    def close(self) -> dict:
        try:
            for callback in self.before_sweep:
                callback()
        finally:
            self.leftovers = cleanup.sweep(self.prefix)
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.lock.release()
        return self.leftovers

    def __enter__(self) -> RunSession:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
