"""The one /proc reader: process status, start time, names, command lines, cgroups, mounts.

Every module that looks at processes or mounts (cleanup.py's sweep, daemons.py's
pid checks) reads /proc through here. A process that exits while being read
gives None / "" / [] — never an exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

PROC = Path("/proc")


def read_text(path: str | Path) -> str:
    """A /proc (or any) file's text; "" when it cannot be read."""
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def pids() -> Iterator[int]:
    """Every pid in /proc now."""
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, …]; None when gone."""
    stat = read_text(PROC / str(pid) / "stat")
    return stat.rsplit(")", 1)[1].split() if stat else None


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22), as text."""
    fields = stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def parent(pid: int) -> int | None:
    fields = stat_fields(pid)
    try:
        return int(fields[1]) if fields else None
    except (IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    fields = stat_fields(pid)
    return fields is not None and len(fields) > 0 and fields[0] not in ("Z", "X")


def pinned_pid(pidfile: Path, name: str | None = None) -> int | None:
    """The pid a pid file written as ``"<pid> <start time>"`` names, if that very process
    still runs (same start time, and command ``name`` when given); else None."""
    try:
        pid_s, start = pidfile.read_text().split()
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    if alive(pid) and start_time(pid) == start and (name is None or comm(pid) == name):
        return pid
    return None


def comm(pid: int) -> str:
    return read_text(PROC / str(pid) / "comm").strip()


def cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def cgroup(pid: int) -> str | None:
    """/proc/<pid>/cgroup's text; None when it cannot be read."""
    try:
        return (PROC / str(pid) / "cgroup").read_text()
    except OSError:
        return None


def environ(pid: int) -> dict[str, str] | None:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out


def exe(pid: int) -> str | None:
    try:
        return str(Path(PROC / str(pid) / "exe").readlink())
    except OSError:
        return None


def mount_points() -> list[str]:
    """The mount points of this process's mount namespace (mountinfo field 5)."""
    return [
        line.split()[4]
        for line in read_text(PROC / "self" / "mountinfo").splitlines()
        if len(line.split()) > 4
    ]


def pids_named(name: str) -> list[int]:
    """Live processes whose command name is exactly ``name``."""
    return sorted(pid for pid in pids() if comm(pid) == name and alive(pid))


def socket_listeners(path: str | Path) -> list[int]:
    """Live processes holding the listening unix socket bound at ``path`` (the daemon
    serving it): its inodes from /proc/net/unix (flag ``__SO_ACCEPTCON``), then the
    processes whose fds are those sockets. The path is matched as given and resolved
    (/var/run is /run)."""
    names = {str(path)}
    try:
        names.add(str(Path(path).resolve()))
    except OSError:
        pass
    inodes = set()
    for line in read_text(PROC / "net" / "unix").splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and int(f[3], 16) & 0x10000 and (f[7] in names or _resolved(f[7]) in names):
            inodes.add(f"socket:[{f[6]}]")
    found: list[int] = []
    if not inodes:
        return found
    for pid in pids():
        try:
            fds = list((PROC / str(pid) / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if str(fd.readlink()) in inodes:
                    found.append(pid)
                    break
            except OSError:
                continue
    return sorted(p for p in found if alive(p))


def _resolved(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return path
