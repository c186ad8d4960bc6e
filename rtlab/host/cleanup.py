"""Find and remove what containers leave on the host: processes, mounts, cgroups,
runsc's state files.

Everything rtlab creates carries the ``rtlab-<token>-`` prefix of its run in its
container id, so a sweep by prefix touches exactly one run's leftovers (or, for
``rtlab clean``, every dead run's) and never anybody else's.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from rtlab.core import procfs
from rtlab.core.image import RUNTIME_DIR
from rtlab.core.runtimes import KNOWN

CONTAINER_PREFIX = "rtlab-"


def _ancestors() -> set[int]:
    pids: set[int] = set()
    pid: int | None = os.getpid()
    while pid is not None and pid > 1:
        pids.add(pid)
        pid = procfs.parent(pid)
    return pids


def process_texts(token: str) -> dict[int, str]:
    """pid → command line and cgroup paths, for processes naming ``token`` (not rtlab itself)."""
    skip = _ancestors()
    found = {}
    for pid in procfs.pids():
        if pid in skip:
            continue
        cgroup = procfs.cgroup(pid)
        if cgroup is None:
            continue
        cmdline = " ".join(procfs.cmdline(pid))
        if token in cmdline or token in cgroup:
            found[pid] = f"{cmdline}\n{cgroup}"
    return found


def processes_matching(token: str) -> list[int]:
    """Pids whose command line or cgroup path names ``token`` (not rtlab itself)."""
    return list(process_texts(token))


def kill_processes(token: str) -> list[int]:
    """SIGKILL every process naming ``token``; return their pids."""
    pids = processes_matching(token)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def mounts_matching(token: str) -> list[str]:
    return [point for point in procfs.mount_points() if token in point]


def unmount(token: str) -> list[str]:
    """Lazily unmount mount points whose path names ``token``."""
    points = mounts_matching(token)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=10)
    return points


def remove_cgroups(token: str) -> list[str]:
    """Remove empty cgroup folders named after ``token`` (runc/crun leave them on kill)."""
    removed: list[str] = []
    root = Path("/sys/fs/cgroup")
    if not root.is_dir():
        return removed
    for hierarchy in root.iterdir():
        try:
            candidates = (
                [p for p in hierarchy.rglob(f"*{token}*") if p.is_dir()]
                if hierarchy.is_dir()
                else []
            )
        except OSError:
            continue
        for path in sorted(candidates, key=lambda p: len(p.parts), reverse=True):
            try:
                path.rmdir()
                removed.append(str(path))
            except OSError:
                pass
    return removed


# gVisor's runsc keeps per-container files in its state root (default below); a
# deleted container can leave its ``<sandbox>_sandbox:<container>.lock`` there.
RUNSC_ROOTS = (Path("/var/run/runsc"), Path("/run/runsc"))


def _runsc_listed() -> set[str] | None:
    """Ids runsc lists as existing (None: runsc cannot tell, so nothing is removed)."""
    try:
        out = subprocess.run(
            ["runsc", "list", "--quiet"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(out.stdout.split()) if out.returncode == 0 else None


def runsc_state_files(prefix: str) -> list[Path]:
    """Files in runsc's state root whose name starts with ``prefix``."""
    found: dict[str, Path] = {}
    for root in RUNSC_ROOTS:
        try:
            for path in root.iterdir():
                if path.name.startswith(prefix) and path.is_file():
                    found.setdefault(os.path.realpath(path), path)
        except OSError:
            continue
    return sorted(found.values())


def remove_runsc_state(prefix: str, live: Iterable[str] = ()) -> list[str]:
    """Remove runsc's files for containers named ``prefix``… that runsc no longer lists
    (never a live run's, never a name without ``prefix``); return their paths."""
    files = runsc_state_files(prefix)
    if not files:
        return []
    listed = _runsc_listed()
    if listed is None:
        return []
    live_prefixes = [f"{CONTAINER_PREFIX}{token}-" for token in live]
    removed = []
    for path in files:
        ids = path.name.removesuffix(".lock").removesuffix(".state").split("_sandbox:")
        if any(i in listed for i in ids) or any(path.name.startswith(p) for p in live_prefixes):
            continue
        try:
            path.unlink()
            removed.append(str(path))
        except OSError:
            pass
    return removed


# runc's and crun's state roots: a `run`/`create` killed before the container existed (Ctrl-C
# in a batch) leaves a folder there, without its state file, that neither runtime lists,
# deletes or lets a new container of that name reuse
# each known runtime's state root and the file a complete container's folder holds
# (its own entry in core/runtimes.py's KNOWN says them)
OCI_STATE_ROOTS = {Path(r.state_root[0]): r.state_root[1] for r in KNOWN.values() if r.state_root}


def remove_half_created(prefix: str) -> list[str]:
    """Remove runc's/crun's state folders named ``prefix``… that hold no state file (the
    runtime does not know them: "container does not exist"); return their paths."""
    removed = []
    for root, state_file in OCI_STATE_ROOTS.items():
        try:
            entries = [p for p in root.iterdir() if p.name.startswith(prefix) and p.is_dir()]
        except OSError:
            continue
        for path in entries:
            if (path / state_file).exists():
                continue
            try:
                for child in path.iterdir():
                    child.unlink()
                path.rmdir()
                removed.append(str(path))
            except OSError:
                pass
    return removed


def sweep(token: str) -> dict[str, list]:
    """Kill processes, unmount and remove cgroups, runsc state files and runc/crun's
    half-created state folders naming ``token``."""
    return {
        "processes": kill_processes(token),
        "mounts": unmount(token),
        "cgroups": remove_cgroups(token),
        "runsc_state": remove_runsc_state(token),
        "half_created": remove_half_created(token),
    }


# -- one lock per live run ---------------------------------------------------

# Host-wide as root, whatever RTLAB_RUNTIME_DIR says: a run that keeps its work
# folders elsewhere (the tests, a developer's isolated run) is still seen alive by
# every other run's sweep, by ``rtlab clean`` and by purge, which would otherwise
# take its containers for a dead run's. An unprivileged user (who cannot write
# /run/rtlab) keeps its locks under its own runtime folder.
HOST_LOCK_DIR = Path("/run/rtlab/runs")


def _lock_dir() -> Path:
    return HOST_LOCK_DIR if os.geteuid() == 0 else RUNTIME_DIR / "runs"


def _lock_dirs() -> list[Path]:
    """Every folder a live run's lock may be in: the host's and this process's own."""
    return list(dict.fromkeys([HOST_LOCK_DIR, RUNTIME_DIR / "runs"]))


class RunLock:
    """An flock held for a run's lifetime: tells ``clean`` and other runs it is alive."""

    def __init__(self, token: str, run_dir: Path):
        self.token = token
        self.path = _lock_dir() / f"{token}.lock"
        self.run_dir = run_dir
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        # line 1: what a refusal names; line 2: the work-folder root the run uses
        os.write(fd, f"{os.getpid()} {self.run_dir}\n{RUNTIME_DIR}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None


def live_runs(*, same_runtime_dir: bool = False) -> dict[str, str]:
    """token → "pid run_dir" for every run whose lock is held now.

    ``same_runtime_dir``: only the runs whose work folders share this process's
    root (``RTLAB_RUNTIME_DIR``): the runs whose measurements collect refuses to
    share the host with. A test's or developer's isolated run (its own root) is
    alive for every sweep all the same."""
    live: dict[str, str] = {}
    paths = [p for d in _lock_dirs() if d.is_dir() for p in d.glob("*.lock")]
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            lines = path.read_text().splitlines() or [""]
            # a lock without line 2 (older rtlab) lives in its own root's runs/
            root = lines[1] if len(lines) > 1 else str(path.parent.parent)
            if not same_runtime_dir or root == str(RUNTIME_DIR):
                live[path.stem] = lines[0].strip()
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return live


def token_of(container_id: str) -> str | None:
    """The run token in an rtlab container id ``rtlab-<stamp>-<hex>-…``."""
    if not container_id.startswith(CONTAINER_PREFIX):
        return None
    parts = container_id[len(CONTAINER_PREFIX) :].split("-")
    return "-".join(parts[:2]) if len(parts) >= 3 else None


def iter_dead(ids: list[str], live: dict[str, str]) -> Iterator[str]:
    """Ids of rtlab containers whose run is not alive."""
    for cid in ids:
        token = token_of(cid)
        if token is not None and token not in live:
            yield cid
