"""Rootless mode: the unprivileged user rtlab measures as, its bundles and its wrapper.

A rootless trial runs the client as ``rtlab-rootless`` (``RTLAB_ROOTLESS_USER``
moves it, e.g. for tests), an account ``rtlab setup`` creates for the purpose —
never the invoking user's — with a range in ``/etc/subuid`` and
``/etc/subgid``; both are written to the ledger, and purge removes the user,
its ranges and its home (under rtlab's state folder). The timer stays in
rtlab's root process: each timed command is ``setpriv --reuid --regid
--init-groups --reset-env -- <argv>`` (:func:`wrapper`), and the wrapper's own
cost is measured beside ``/bin/true`` (:func:`wrapper_overhead`,
benchmarks/rootless_wrapper.py) and stored in run.json.

The OCI bundle is ``runc spec --rootless`` generated *as the user* (it maps the
invoking uid; a spec made as root maps uid 0 and ``newgidmap`` refuses it),
then given rtlab's rootfs, process and a network namespace with no interfaces
(as the rootful bundle). No cgroup: this host's cgroups are hybrid and none is
delegated to the user, so runc and crun run rootless without one. The
runtime's ``--root`` is a folder the user owns inside the run's work folder.

Stdlib only (the measurement half; purge runs without the venv).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pwd
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rtlab.core.image import RUNTIME_DIR, STATE_DIR
from rtlab.core.measure import run_timed
from rtlab.core.options import DEFAULT_MODE, MODES  # noqa: F401 (rootless.MODES: importers)
from rtlab.core.runtimes import KNOWN
from rtlab.host import cleanup, ledger, parts

USER = os.environ.get("RTLAB_ROOTLESS_USER", "rtlab-rootless")
HOME_ROOT = STATE_DIR / "rootless"
SUBID_COUNT = 65536
SUBID_FLOOR = 100000  # the shadow suite's own SUB_UID_MIN
LEDGER_USERS = "rootless_users"  # ledger kind: the accounts rtlab created
LEDGER_SUBIDS = "rootless_subids"  # ledger kind: account → "start-end" of its ranges
SUBID_FILES = (Path("/etc/subuid"), Path("/etc/subgid"))
# Where every command run as the user starts (and a collect's commands, rootful ones
# too: Collector.run): never the caller's folder, which the user may not enter (a root
# user's clone in /root, mode 0700: podman then fails with "cannot chdir").
CWD = "/"


@contextlib.contextmanager
def in_cwd():
    """The process in :data:`CWD` for the block; the caller's folder back after
    (contextlib.chdir is Python 3.11+)."""
    caller = os.getcwd()
    os.chdir(CWD)
    try:
        yield
    finally:
        os.chdir(caller)


def starts_in_cwd(fn):
    """Decorator: ``fn`` runs with the process in :data:`CWD` (the caller's folder comes
    back after), for entry points whose commands may run as the user (doctor, clean,
    setup; Collector.run does the same)."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with in_cwd():
            return fn(*args, **kwargs)

    return wrapped


# Why a runtime has no rootless mode here (doctor and collect say it in one line).
# (each known runtime's own entry in core/runtimes.py's KNOWN says it: no_rootless)
UNSUPPORTED = {r.name: r.no_rootless for r in KNOWN.values() if r.no_rootless}


def needs_root(uid: int | None = None) -> str:
    """collect's one line to an unprivileged caller: what needs root, what works without."""
    uid = os.geteuid() if uid is None else uid
    return (
        f"rtlab collect needs root (running as uid {uid}): rootful trials run the runtimes "
        f"and daemons as root, rootless ones switch to rtlab's user {USER} with setpriv, and "
        f"the run's lock and leftover sweep are in {RUNTIME_DIR}; without root, rtlab "
        "analyze, compare and report --runs work on runs on disk"
    )


class RootlessError(RuntimeError):
    """The rootless user cannot be made or used: one line saying why."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: Path


def account(name: str = USER) -> Account | None:
    """The account ``name`` (None when it does not exist)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def subid_ranges(name: str, files: Sequence[Path] = SUBID_FILES) -> dict[str, list[str]]:
    """``name``'s lines in each of /etc/subuid and /etc/subgid (``start:count``)."""
    found: dict[str, list[str]] = {}
    for path in files:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            lines = []
        found[str(path)] = [
            line.split(":", 1)[1] for line in lines if line.split(":", 1)[0] == name
        ]
    return found


def _free_start(files: Sequence[Path] = SUBID_FILES) -> int:
    """The first start above every range in the files (never overlapping another's)."""
    end = SUBID_FLOOR
    for path in files:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                end = max(end, int(parts[1]) + int(parts[2]))
    return end


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=CWD)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()
        raise RootlessError(
            f"{' '.join(argv)}: exit {done.returncode}" + (f": {tail[-1]}" if tail else "")
        )


def create_user(name: str = USER, say=print) -> Account:
    """Create the rootless account with its subordinate ranges (idempotent), in the ledger.

    Refuses an existing account rtlab did not create: rtlab never measures as
    someone else's user, nor changes their ranges."""
    found = account(name)
    if found is not None and name not in ledger.items(LEDGER_USERS):
        raise RootlessError(
            f"user {name} exists and rtlab did not create it: set "
            "RTLAB_ROOTLESS_USER to a name that is free"
        )
    home = HOME_ROOT / name
    if found is None:
        _run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                str(home),
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                "rtlab rootless measurements",
                name,
            ]
        )
        ledger.add(LEDGER_USERS, name)
        say(f"created user {name} for rootless trials")
    acct = account(name)
    assert acct is not None
    if not all(subid_ranges(name).values()):
        start = _free_start()
        span = f"{start}-{start + SUBID_COUNT - 1}"
        ledger.set_in(LEDGER_SUBIDS, name, span)
        _run(["usermod", "--add-subuids", span, "--add-subgids", span, name])
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, acct.uid, acct.gid)
    return acct


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == uid:
                pids.append(int(entry.name))
    return pids


def _zombie(pid: int) -> bool:
    """Exited, awaiting its parent's wait (nothing left to kill)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def remove_user(name: str, say=print) -> list[str]:
    """Remove an account rtlab created: its processes (by pid), ranges, home, the
    account; the problems left (empty: all gone, ledger entries dropped)."""
    problems: list[str] = []
    acct = account(name)
    if acct is not None:
        for pid in _pids_of(acct.uid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        span = ledger.mapping(LEDGER_SUBIDS).get(name)
        if span and any(subid_ranges(name).values()):
            try:
                _run(["usermod", "--del-subuids", span, "--del-subgids", span, name])
            except RootlessError as exc:
                problems.append(str(exc))
        try:
            _run(["userdel", name])
        except RootlessError as exc:
            problems.append(str(exc))
        shutil.rmtree(acct.home, ignore_errors=True)
    shutil.rmtree(HOME_ROOT / name, ignore_errors=True)
    left = {f: r for f, r in subid_ranges(name).items() if r}
    if left:
        problems.append(f"{name}'s ranges are still in {', '.join(left)}")
    if account(name) is not None:
        problems.append(f"user {name} still exists")
    if not problems:
        ledger.discard(LEDGER_USERS, name)
        data = ledger.read()
        data.get(LEDGER_SUBIDS, {}).pop(name, None)
        ledger.replace(data)
        say(f"removed user {name} and its subordinate ranges")
    return problems


def purge(say=print) -> list[str]:
    """Remove every account the ledger says rtlab created; what was removed (each
    problem is said, and its account stays in the ledger)."""
    done: list[str] = []
    for name in ledger.items(LEDGER_USERS):
        problems = remove_user(name, say=say)
        for problem in problems:
            say(f"rootless: {problem}")
        if not problems:
            done.append(f"user {name} and its subordinate ranges removed")
    return done


def wrapper(acct: Account) -> list[str]:
    """The argv prefix that runs a command as ``acct`` (no shell, one exec)."""
    return [
        "setpriv",
        f"--reuid={acct.uid}",
        f"--regid={acct.gid}",
        "--init-groups",
        "--reset-env",
        "--",
    ]


def argv_prefix(acct: Account | None) -> list[str]:
    """:func:`wrapper` for ``acct``; without the account (not set up yet) a placeholder
    that shows in argv templates and is never run (the targets are unavailable then)."""
    return wrapper(acct) if acct else ["setpriv", "--reuid=<rtlab-rootless>", "--"]


def unavailable_reason(runtime: str, acct: Account | None) -> str | None:
    """Why ``runtime`` cannot run rootless here, from what every rootless client needs (a
    runtime with a rootless mode, root to switch users, the account); None when it can."""
    if runtime in UNSUPPORTED:
        return UNSUPPORTED[runtime]
    if os.geteuid() != 0:
        return "rootless trials need root to switch to the rootless user (setpriv)"
    if acct is None:
        return f"no user {USER}: rtlab setup creates it (with /etc/subuid and /etc/subgid ranges)"
    return None


def user_dir(acct: Account, path: Path) -> Path:
    """``path`` created and owned by ``acct`` (its parents stay root's, traversable)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, acct.uid, acct.gid)
    return path


def write_bundle(
    acct: Account, path: Path, args: Sequence[str], rootfs: Path, spec_binary: str = "runc"
) -> Path:
    """A rootless bundle: ``runc spec --rootless`` run as ``acct``, then rtlab's
    rootfs (read-only), ``args``, no terminal and a network namespace of its own."""
    user_dir(acct, path)
    config = path / "config.json"
    config.unlink(missing_ok=True)
    _run([*wrapper(acct), spec_binary, "spec", "--rootless", "--bundle", str(path)])
    spec = json.loads(config.read_text())
    spec["root"] = {"path": str(rootfs), "readonly": True}
    spec["hostname"] = "rtlab"
    spec["process"]["terminal"] = False
    spec["process"]["args"] = list(args)
    spec["process"]["env"] = ["PATH=/bin", "TERM=xterm"]
    spaces = spec["linux"].setdefault("namespaces", [])
    if not any(ns.get("type") == "network" for ns in spaces):
        spaces.append({"type": "network"})
    maps = spec["linux"].get("uidMappings") or []
    if not maps or maps[0].get("hostID") != acct.uid:
        raise RootlessError(
            f"runc spec --rootless as {acct.name} mapped {maps!r}, not uid {acct.uid}"
        )
    config.write_text(json.dumps(spec, indent=1))
    os.chown(config, acct.uid, acct.gid)
    return path


def wrapper_overhead(acct: Account | None, samples: int = 30, timeout_s: float = 5.0) -> dict:
    """The wrapper's own cost: ``setpriv … /bin/true`` against ``/bin/true``,
    alternating, timed as rtlab times a step (measure.run_timed); medians in s."""

    if acct is None:
        return {"error": f"no account {USER!r}: the wrapper was not timed"}

    plain: list[float] = []
    wrapped: list[float] = []
    for _ in range(samples):
        for argv, sink in ((["/bin/true"], plain), ([*wrapper(acct), "/bin/true"], wrapped)):
            m = run_timed(argv, timeout_s)
            if m.ok:
                sink.append(m.wall_s)
    if not plain or not wrapped:
        return {"error": "could not time the wrapper around /bin/true"}
    return {
        "command": " ".join(wrapper(acct)) + " /bin/true",
        "samples": samples,
        "true_median_s": statistics.median(plain),
        "wrapped_median_s": statistics.median(wrapped),
        "overhead_median_s": statistics.median(wrapped) - statistics.median(plain),
        "note": "not subtracted from the rows; rootless rows include it",
    }


# -- leftovers of a dead rootless run (collect killed with SIGKILL: no final sweep ran) --------

MARKER = "rootless-user"  # in a run's work folder while the run acts as the rootless user


def claim(workdir: Path, acct: Account) -> None:
    """Mark the run of ``workdir`` as using ``acct`` (before it starts anything as the user)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text(acct.name + "\n")


def start_run(workdir: Path, acct: Account, say=print) -> None:
    """Before a run first acts as ``acct``: remove what dead runs of the user left (unless
    another live run acts as it), then claim the user for this run (its work folder's name
    is its token, its parent the runtime folder of every run's lock)."""
    if (workdir / MARKER).is_file():
        return  # claimed by this run's other rootless target
    live = {t: v for t, v in cleanup.live_runs().items() if t != workdir.name}
    for line in sweep_dead(live, workdir.parent, acct.name, say=say):
        say(f"removed {line} (left by a dead run)")
    claim(workdir, acct)


def users_in_use(live, runtime_dir: Path) -> set[str]:
    """The rootless accounts the live runs (token → lock text) act as."""
    used = set()
    for token in live:
        try:
            used.add((runtime_dir / token / MARKER).read_text().strip())
        except OSError:
            continue
    return used


def fuse_mounts(uid: int, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Mount points of fuse file systems (fuse-overlayfs, …) mounted by ``uid``."""
    points: list[str] = []
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return points
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if (
            len(fields) > 4
            and len(rest) > 2
            and rest[0].startswith("fuse")
            and f"user_id={uid}" in rest[2].split(",")
        ):
            points.append(fields[4].replace("\\040", " "))
    return points


def sweep_dead(live, runtime_dir: Path, name: str = USER, say=print) -> list[str]:
    """What dead rootless runs of ``name`` left, removed when no live run acts as the user
    (a live one's processes are its own; the next clean or rootless run removes them):
    every process of the user (containers in its user namespaces, conmon, podman's pause
    process, slirp4netns, fuse-overlayfs), the user's fuse mounts, and the dead containers
    in its podman storage. What was removed, one line each."""
    acct = account(name)
    if acct is None or name in users_in_use(live, runtime_dir):
        return []
    import time

    removed: list[str] = []
    killed: set[int] = set()
    for _ in range(5):  # a process forked while the first were killed is found next round
        pids = [pid for pid in _pids_of(acct.uid) if not _zombie(pid)]
        if not pids:
            break
        for pid in pids:
            try:
                text = " ".join(
                    Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
                ).strip()
                os.kill(pid, 9)
            except (ProcessLookupError, OSError):
                continue
            if pid not in killed:
                killed.add(pid)
                removed.append(f"process {pid} of {name} ({text[:80]})")
        time.sleep(0.05)
    deadline = time.monotonic() + 5  # zombies reaped: podman would try to join their namespaces
    while _pids_of(acct.uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    for point in sorted(fuse_mounts(acct.uid), key=len, reverse=True):
        done = subprocess.run(["umount", "-l", point], capture_output=True, text=True)
        if done.returncode == 0:
            removed.append(f"fuse mount {point} of {name}")
        else:
            say(f"could not unmount {point}: {done.stderr.strip()}")
    parts.require()
    for sweep in parts.ACCOUNT_SWEEPS:  # the user's own stores (podman_rootless.py's)
        removed += sweep(acct, say=say)
    return removed


# -- doctor ---------------------------------------------------------------------------


def rootless_clients() -> list[str]:
    """The registered clients with a rootless mode (collect/clients/*_rootless.py)."""
    parts.require()
    return [c for c, cls in parts.CLIENTS.items() if "rootless" in cls.modes()]


DOCKERD_ROOTLESS = Path("/usr/share/docker.io/contrib/dockerd-rootless.sh")


TUN = Path("/dev/net/tun")
FUSE = Path("/dev/fuse")


def _others_can_open(device: Path) -> bool:
    """Whether an unprivileged user can open ``device`` read-write (its mode's other bits)."""
    try:
        return device.stat().st_mode & 0o006 == 0o006
    except OSError:
        return False


def _mode(device: Path) -> str:
    try:
        return f"mode {device.stat().st_mode & 0o777:04o}"
    except OSError:
        return "absent"


def docker_missing() -> str:
    """Why rootless docker is not measured here, naming what is missing (one line).

    dockerd-rootless.sh (Debian's docker.io ships it in contrib/) starts dockerd inside
    rootlesskit, whose network is slirp4netns (needs /dev/net/tun), vpnkit or lxc-user-nic."""
    missing = []
    if not DOCKERD_ROOTLESS.is_file():
        missing.append(f"{DOCKERD_ROOTLESS} (Debian package docker.io)")
    if shutil.which("rootlesskit") is None:
        missing.append("rootlesskit (Debian package rootlesskit, not installed)")
    if (
        not _others_can_open(TUN)
        and shutil.which("vpnkit") is None
        and shutil.which("lxc-user-nic") is None
    ):
        missing.append(
            f"a network rootlesskit can give the user: slirp4netns cannot open {TUN} "
            f"({_mode(TUN)}, root's only), vpnkit is not packaged by Debian 12, "
            "lxc-user-nic (Debian package lxc) is not installed"
        )
    missing.append(
        "an rtlab driver for a per-user dockerd (dockerd-rootless.sh with its "
        "XDG_RUNTIME_DIR, data root and socket)"
    )
    return "docker rootless not measured: missing " + "; ".join(missing)


def devices_line() -> str:
    """What this host's devices allow a rootless user: a slirp4netns network, fuse mounts."""
    net = (
        "slirp4netns networks"
        if _others_can_open(TUN)
        else f"no slirp4netns network ({TUN} {_mode(TUN)}: podman runs --network none)"
    )
    fuse = (
        "fuse-overlayfs"
        if _others_can_open(FUSE)
        else f"no fuse-overlayfs ({FUSE} {_mode(FUSE)}: podman uses the kernel's overlay)"
    )
    return f"rootless  {net}; {fuse}"


def doctor_lines(name: str = USER) -> list[str]:
    """doctor's rootless lines: the user and its ranges, what runs rootless, what does not."""
    acct = account(name)
    if acct is None:
        user = f"no user {name}: rtlab setup creates it (rootless trials are skipped until then)"
    else:
        ranges = subid_ranges(name)
        shown = ", ".join(f"{Path(f).name} {r[0] if r else 'none'}" for f, r in ranges.items())
        user = f"user {name} uid {acct.uid}, {shown}"
    return [
        f"rootless  {user}",
        f"rootless  {', '.join(rootless_clients())} over runc and crun; "
        + "; ".join(UNSUPPORTED.values()),
        devices_line(),
        f"rootless  {docker_missing()}; "
        f"{' and '.join(c for c in parts.CLIENTS if c not in rootless_clients())}: "
        "no rootless mode in rtlab",
    ]
