"""The daemons behind the high-level clients: containerd and dockerd (podman has none).

``rtlab setup`` starts what is not running (containerd, then dockerd on that
containerd), registers crun and runsc with docker, installs containerd shim
wrappers for the runtimes other than runc, and imports the offline busybox
image into docker, into containerd's ``rtlab`` namespace and into podman.
``rtlab setup --stop`` stops only what rtlab started. ``collect`` never starts
a daemon: the drivers ask :func:`down_reason` and report a missing one.

Where things live (known places):

- pid files of the daemons rtlab started: ``/run/rtlab/daemons/<name>.pid``
  (pid and kernel start time, so a reused pid is never signalled);
- their logs: ``/var/log/rtlab/<name>.log``;
- their state: the daemons' defaults (containerd ``/var/lib/containerd`` and
  ``/run/containerd``, dockerd ``/var/lib/docker`` and ``/var/run/docker``,
  podman ``/var/lib/containers``);
- docker's runtimes: ``/etc/docker/daemon.json`` (rtlab adds its entries, keeps the rest);
- containerd shim wrappers: ``/var/lib/rtlab/bin`` (on the PATH of the
  containerd rtlab starts), their ``runc`` stand-ins in ``/var/lib/rtlab/shim/<runtime>/``.

Why the shim wrappers: ``ctr run`` takes ``--runc-binary`` but ``ctr container
create`` takes no way to choose the runtime binary, so the separate lifecycle
steps over crun or runsc need another route. containerd maps a runtime name
``io.containerd.<name>.v2`` to the binary ``containerd-shim-<name>-v2`` on its
PATH; rtlab's wrapper ``containerd-shim-rtlab-crun-v2`` puts a folder first on
PATH whose ``runc`` is crun (or a script running ``runsc --network=none``) and
execs the stock ``containerd-shim-runc-v2``. That is how dockerd drives its
registered runtimes too (the runc shim with another binary; runtimeArgs via a
wrapper script).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rtlab.core import procfs
from rtlab.core.measure import run_timed
from rtlab.core.runtimes import KNOWN, Runtime, docker_registered
from rtlab.core.workload import DEFAULT_IMAGE
from rtlab.host import ledger, parts
from rtlab.host.archive import ARCHIVE_PATH, build_archive  # noqa: F401 (daemons.* names stay)
from rtlab.host.shims import (  # noqa: F401
    RUNC_SHIM,
    RUNC_SHIM_BINARY,
    SHIM_BIN_DIR,
    SHIM_RUNC_DIR,
    ensure_shim,
    install_shims,
    shim_paths,
    shim_runtime,
)

Say = Callable[[str], None]

# Host-wide, whatever RTLAB_RUNTIME_DIR says (that one isolates runs, e.g. in tests).
PID_DIR = Path(os.environ.get("RTLAB_DAEMON_DIR", "/run/rtlab/daemons"))
LOG_DIR = Path(os.environ.get("RTLAB_LOG_DIR", "/var/log/rtlab"))

CONTAINERD_SOCKET = Path("/run/containerd/containerd.sock")
DOCKER_SOCKET = Path("/var/run/docker.sock")
DOCKER_CONFIG = Path("/etc/docker/daemon.json")
DOCKER_MANAGED_CONTAINERD = Path("/var/run/docker/containerd/containerd.sock")
NAMESPACE = "rtlab"  # containerd namespace of rtlab's images and containers

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
CLIENT_TIMEOUT_S = 60.0
SOCKET_TIMEOUT_S = 1.0

# The low-level runtimes rtlab registers with docker (name → KNOWN runtime).
DOCKER_RUNTIMES = docker_registered()  # from each runtime's KNOWN entry
# Ledger entries (see ledger.py): the daemon.json runtime keys rtlab added, and
# whether rtlab created daemon.json.
DOCKER_RUNTIME_KEYS = "docker_runtime_keys"
DOCKER_CONFIG_CREATED = "docker_config_created"
IMAGE_STORES = "image_stores"  # the stores rtlab's image went into


# -- processes and sockets -----------------------------------------------------


class DaemonError(RuntimeError):
    """A daemon or image store rtlab setup could not prepare; one line saying why."""


def socket_answers(path: Path, timeout_s: float = SOCKET_TIMEOUT_S) -> bool:
    """True when something accepts connections on the unix socket ``path``."""
    return _socket_state(path, timeout_s) == "up"


def _socket_state(path: Path, timeout_s: float = SOCKET_TIMEOUT_S) -> str:
    """``up``, ``denied`` (exists, but we may not connect) or ``down``."""
    if not path.exists():
        return "down"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(path))
        return "up"
    except PermissionError:
        return "denied"
    except OSError:
        return "down"
    finally:
        s.close()


def docker_ping(path: Path = DOCKER_SOCKET, timeout_s: float = SOCKET_TIMEOUT_S) -> bool:
    """True when dockerd answers ``GET /_ping`` with OK on ``path``."""
    if not path.exists():
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(path))
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0]
    except OSError:
        return False
    finally:
        s.close()


# /proc through the one reader (procfs.py); the old names stay for importers.
_stat_fields = procfs.stat_fields
_start_time = procfs.start_time
_alive = procfs.alive
_cmdline = procfs.cmdline
pids_named = procfs.pids_named


# -- the daemons ---------------------------------------------------------------


@dataclass(frozen=True)
class Daemon:
    name: str
    socket: Path

    @property
    def pidfile(self) -> Path:
        return PID_DIR / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    def answers(self) -> bool:
        if self.name == "dockerd":
            return docker_ping(self.socket)
        return socket_answers(self.socket)

    def started_pid(self) -> int | None:
        """The pid of the instance rtlab started, if it still runs."""
        return procfs.pinned_pid(self.pidfile, self.name)

    def running_pid(self) -> int | None:
        """A pid of a running instance: rtlab's, else the one serving our socket."""
        pid = self.started_pid()
        if pid is not None:
            return pid
        for pid in pids_named(self.name):
            if str(DOCKER_MANAGED_CONTAINERD.parent) in " ".join(_cmdline(pid)):
                continue  # dockerd's private containerd, not the one on our socket
            return pid
        return None


CONTAINERD = Daemon("containerd", CONTAINERD_SOCKET)
DOCKERD = Daemon("dockerd", DOCKER_SOCKET)
DAEMONS = {d.name: d for d in (CONTAINERD, DOCKERD)}


def dockerd_containerd_socket() -> Path:
    """The containerd socket the running dockerd uses (its --containerd, else its own)."""
    pid = DOCKERD.running_pid()
    args = _cmdline(pid) if pid else []
    for i, a in enumerate(args):
        if a.startswith("--containerd="):
            return Path(a.split("=", 1)[1])
        if a == "--containerd" and i + 1 < len(args):
            return Path(args[i + 1])
    try:
        configured = json.loads(DOCKER_CONFIG.read_text()).get("containerd")
    except (OSError, ValueError):
        configured = None
    if configured:
        return Path(configured)
    if pid is None:
        return CONTAINERD_SOCKET  # what rtlab's dockerd would use
    return DOCKER_MANAGED_CONTAINERD


def down_reason(name: str) -> str | None:
    """None when daemon ``name`` answers; else one line saying it is not running.

    Fast (a unix-socket connect): the scheduler calls it after a failed trial.
    """
    sock = CONTAINERD_SOCKET if name == "containerd" else DOCKER_SOCKET
    if _socket_state(sock) == "denied":
        return f"may not connect to {name} on {sock} (permission denied): run rtlab as root"
    if name == "containerd":
        if not socket_answers(CONTAINERD_SOCKET):
            return f"containerd is not running (no answer on {CONTAINERD_SOCKET}) — run rtlab setup"
        return None
    if name == "dockerd":
        if not docker_ping(DOCKER_SOCKET):
            return f"dockerd is not running (no answer on {DOCKER_SOCKET}) — run rtlab setup"
        sock = dockerd_containerd_socket()
        if not socket_answers(sock):
            return (
                f"containerd is not running (dockerd uses it at {sock}; "
                "dockerd cannot start containers without it) — run rtlab setup"
            )
        return None
    raise ValueError(f"unknown daemon {name!r}")


def _spawn_detached(argv: list[str], log: Path, env: dict[str, str]) -> int:
    """Start ``argv`` in a session of its own, not as our child (so no zombie is
    left with us when it dies), output appended to ``log``; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    script = 'exec setsid "$@" >>"$RTLAB_DAEMON_LOG" 2>&1 </dev/null'
    env = {**env, "RTLAB_DAEMON_LOG": str(log)}
    out = subprocess.run(
        ["sh", "-c", f"({script}) & echo $!", "rtlab-daemon", *argv],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def _log_tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _start(daemon: Daemon, argv: list[str], env: dict[str, str], say: Say) -> int:
    binary = shutil.which(argv[0])
    if binary is None:
        raise DaemonError(f"cannot start {daemon.name}: {argv[0]} not installed")
    if not daemon.log.parent.is_dir():
        daemon.log.parent.mkdir(parents=True, exist_ok=True)
        say(f"{daemon.name}: created the log folder {daemon.log.parent}")
    with daemon.log.open("a") as f:
        f.write(f"\n==== rtlab starts {' '.join(argv)} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
    pid = _spawn_detached([binary, *argv[1:]], daemon.log, env)
    # record pid and start time at once: even a daemon that fails to come up
    # stays ours to stop, never somebody else's
    deadline = time.monotonic() + 2.0
    start = _start_time(pid)
    while start is None and time.monotonic() < deadline:
        time.sleep(0.01)
        start = _start_time(pid)
    if not daemon.pidfile.parent.is_dir():
        daemon.pidfile.parent.mkdir(parents=True, exist_ok=True)
        say(f"{daemon.name}: created the pid folder {daemon.pidfile.parent}")
    daemon.pidfile.write_text(f"{pid} {start}\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if daemon.answers():
            say(f"{daemon.name}: started (pid {pid}, log {daemon.log})")
            return pid
        if not _alive(pid):
            daemon.pidfile.unlink(missing_ok=True)
            raise DaemonError(
                f"{daemon.name} exited while starting; its log {daemon.log} ends: "
                f"{_log_tail(daemon.log)}"
            )
        time.sleep(0.05)
    raise DaemonError(
        f"{daemon.name} (pid {pid}) did not answer on {daemon.socket} within "
        f"{START_TIMEOUT_S:g} s; see {daemon.log}"
    )


def _containerd_env() -> dict[str, str]:
    path = os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return {**os.environ, "PATH": f"{SHIM_BIN_DIR}:{path}"}


def start_containerd(say: Say = print) -> list[str]:
    if CONTAINERD.answers():
        pid = CONTAINERD.running_pid()
        ours = CONTAINERD.started_pid() is not None
        say(
            f"containerd: already running (pid {pid or '?'}"
            f"{', started by rtlab' if ours else ', not started by rtlab: using it'})"
        )
        if not ours and shim_dir_reason() is not None:
            say(f"containerd: {shim_dir_reason()}")
        return []
    install_shims(say)
    pid = _start(CONTAINERD, ["containerd"], _containerd_env(), say)
    return [f"started containerd (pid {pid}, log {CONTAINERD.log})"]


def start_dockerd(say: Say = print, extra: Iterable[Runtime] = ()) -> list[str]:
    changes = docker_config(say, extra)
    if DOCKERD.answers():
        pid = DOCKERD.running_pid()
        ours = DOCKERD.started_pid() is not None
        say(
            f"dockerd: already running (pid {pid or '?'}"
            f"{', started by rtlab' if ours else ', not started by rtlab: using it'})"
        )
        if changes and pid:
            if ours:
                os.kill(pid, signal.SIGHUP)  # dockerd reloads its runtimes on SIGHUP
                changes.append(f"reloaded dockerd (pid {pid}) to pick up the runtimes")
            else:
                say(
                    f"dockerd: reload it (kill -HUP {pid}) to pick up the runtimes rtlab added "
                    f"to {DOCKER_CONFIG}"
                )
        return changes
    argv = ["dockerd", f"--containerd={CONTAINERD_SOCKET}", f"--config-file={DOCKER_CONFIG}"]
    pid = _start(DOCKERD, argv, dict(os.environ), say)
    return changes + [f"started dockerd on {CONTAINERD_SOCKET} (pid {pid}, log {DOCKERD.log})"]


# daemon name → how rtlab starts it (purge starts one to remove rtlab's image)
STARTERS: dict[str, Callable[[Say], list[str]]] = {
    "containerd": lambda say: start_containerd(say),
    "dockerd": lambda say: start_dockerd(say),
}


def start_all(say: Say = print, extra: Iterable[Runtime] = ()) -> list[str]:
    """Start containerd, then dockerd on it, unless already running; return the changes.

    ``extra`` runtimes (``rtlab setup --runtime``) get a shim wrapper and a
    daemon.json entry like the known ones.
    """
    if os.geteuid() != 0:
        raise PermissionError("starting containerd and dockerd needs root")
    extra = list(extra)
    changes = install_shims(say, extra)
    changes += start_containerd(say)
    changes += start_dockerd(say, extra)
    return changes


def stop_instance(
    daemon: Daemon, say: Say = print, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S
) -> int | None:
    """Stop ``daemon`` if rtlab started it (its pid file: ``sig``, then SIGKILL) and
    remove its pid file; the pid stopped, None when rtlab's instance was not running."""
    pid = daemon.started_pid()
    if pid is None:
        daemon.pidfile.unlink(missing_ok=True)
        return None
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        say(
            f"{daemon.name}: did not stop within {timeout_s:g} s of "
            f"{signal.Signals(sig).name}: SIGKILL"
        )
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    daemon.pidfile.unlink(missing_ok=True)
    return pid


def stop_daemon(
    name: str, say: Say = print, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S
) -> bool:
    """Stop daemon ``name`` if rtlab started it (SIGTERM, then SIGKILL); True if it stopped."""
    pid = stop_instance(DAEMONS[name], say, sig, timeout_s)
    if pid is not None:
        say(f"{name}: stopped (pid {pid})")
    return pid is not None


def stop_started(say: Say = print) -> list[str]:
    """Stop the daemons rtlab started (dockerd first); leave any other alone."""
    stopped = []
    for name in ("dockerd", "containerd"):
        if stop_daemon(name, say):
            stopped.append(name)
        elif DAEMONS[name].answers():
            say(f"{name}: running but not started by rtlab: left alone")
    if not stopped:
        say("setup --stop: no daemon started by rtlab is running")
    return stopped


def status() -> dict:
    """Each daemon: running, pid, started by rtlab, socket, log (for doctor and run.json)."""
    out = {}
    for name, daemon in DAEMONS.items():
        pid = daemon.running_pid()
        out[name] = {
            "running": daemon.answers(),
            "pid": pid,
            "started_by_rtlab": daemon.started_pid() is not None,
            "socket": str(daemon.socket),
            "log": str(daemon.log) if daemon.started_pid() else None,
            "binary": shutil.which(name),
        }
    out["dockerd"]["containerd_socket"] = str(dockerd_containerd_socket())
    return out


def status_line() -> str:
    parts = []
    for name, st in status().items():
        if st["running"]:
            who = "started by rtlab" if st["started_by_rtlab"] else "not started by rtlab"
            parts.append(f"{name} running (pid {st['pid']}, {who})")
        elif st["binary"] is None:
            parts.append(f"{name} not installed")
        else:
            parts.append(f"{name} not running — run rtlab setup")
    return "; ".join(parts)


# -- docker's registered runtimes ----------------------------------------------


def docker_runtime_entries(extra: Iterable[Runtime] = ()) -> dict[str, dict]:
    """What rtlab registers in daemon.json: runtime name → {path, runtimeArgs}."""
    entries = {}
    for rt in [*(KNOWN[name] for name in DOCKER_RUNTIMES), *extra]:
        name = rt.name
        path = rt.path()
        if path is None:
            continue
        entry: dict = {"path": path}
        if rt.flags:
            entry["runtimeArgs"] = list(rt.flags)
        entries[name] = entry
    return entries


def _read_docker_config() -> dict:
    try:
        config = json.loads(DOCKER_CONFIG.read_text()) if DOCKER_CONFIG.exists() else {}
    except ValueError as exc:
        raise DaemonError(f"{DOCKER_CONFIG} is not valid JSON ({exc}); fix it and rerun") from None
    if not isinstance(config, dict):
        raise DaemonError(f"{DOCKER_CONFIG} is not a JSON object; fix it and rerun")
    return config


def _write_docker_config(config: dict) -> None:
    DOCKER_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    tmp = DOCKER_CONFIG.with_suffix(".json.rtlab-tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    tmp.replace(DOCKER_CONFIG)


def docker_config(say: Say = print, extra: Iterable[Runtime] = ()) -> list[str]:
    """Add rtlab's runtimes (and ``extra`` ones) to /etc/docker/daemon.json, keeping
    every other key; each key added, and the file if rtlab created it, goes into the
    ledger so ``rtlab setup --purge`` removes exactly those."""
    created = not DOCKER_CONFIG.exists()
    config = _read_docker_config()
    runtimes = config.setdefault("runtimes", {})
    added = []
    for name, entry in docker_runtime_entries(extra).items():
        if name not in runtimes:
            runtimes[name] = entry
            added.append(name)
        elif runtimes[name] != entry:
            if name in ledger.items(DOCKER_RUNTIME_KEYS):  # ours: follow the new path/flags
                runtimes[name] = entry
                added.append(name)
                continue
            say(
                f"docker: runtime {name!r} is registered as {runtimes[name]} in {DOCKER_CONFIG}: "
                "left as the user set it"
            )
    if not added:
        return []
    if created:
        ledger.flag(DOCKER_CONFIG_CREATED)
    for name in added:
        ledger.add(DOCKER_RUNTIME_KEYS, name)
    _write_docker_config(config)
    msg = f"registered runtimes {', '.join(added)} in {DOCKER_CONFIG}"
    say(f"docker: {msg}")
    return [msg]


# -- containerd shim wrappers (shims.py) -----------------------------------------


def shim_dir_reason() -> str | None:
    """None when the running containerd can find rtlab's shim wrappers; else why not."""
    pid = CONTAINERD.running_pid()
    if pid is None:
        return None  # down_reason says it
    env = procfs.environ(pid)
    if env is None:
        return None  # cannot tell: let the step say
    path = env.get("PATH", "")
    exe = procfs.exe(pid)
    exe_dir = str(Path(exe).parent) if exe else ""
    if str(SHIM_BIN_DIR) in path.split(":") or exe_dir == str(SHIM_BIN_DIR):
        return None
    return (
        f"containerd (pid {pid}, not started by rtlab) cannot find rtlab's shim wrappers: "
        f"{SHIM_BIN_DIR} is not on its PATH (stop it and run rtlab setup, or link "
        f"{SHIM_BIN_DIR}/containerd-shim-rtlab-* into its PATH)"
    )


# -- the offline image in every store (the archive: archive.py) -------------------


def _quiet(argv: list[str], timeout_s: float = CLIENT_TIMEOUT_S):
    return run_timed(argv, timeout_s, capture_stdout=True)


def import_images(say: Say = print) -> list[str]:
    """Import the busybox image into docker, containerd (namespace rtlab) and podman,
    each only when missing or out of date; say which store was skipped and why."""
    archive, image_id = build_archive()
    changes = []
    stores, cls_of = [], {}
    for cls in parts.CLIENTS.values():  # the client modules say how their store is filled
        if not cls.image_store:
            continue
        binary = cls.find_binary()
        down = (
            next((why for d in cls.needs_daemons if (why := down_reason(d))), None)
            if binary
            else None
        )
        cls_of[cls.image_store] = cls
        stores.append(
            (
                cls.image_store,
                binary,
                down,
                lambda cls=cls: cls.image_id(DEFAULT_IMAGE),
                lambda b, cls=cls: cls.load_image_argv(b, str(archive)),
            )
        )
    for store, binary, down, current_id, load in stores:
        if binary is None:
            say(f"image: {store} not installed: not imported there")
            continue
        if down:
            say(f"image: not imported into {store}: {down}")
            continue
        if current_id() == image_id:
            ledger.add(IMAGE_STORES, store)
            continue
        m = _quiet(load(binary), timeout_s=120.0)
        if not m.ok:
            raise DaemonError(
                f"importing {DEFAULT_IMAGE} into {store} failed: {m.describe_failure()}"
            )
        got = current_id()
        if got != image_id:
            raise DaemonError(
                f"imported {DEFAULT_IMAGE} into {store} but it reports image id "
                f"{got}, expected {image_id}"
            )
        ledger.add(IMAGE_STORES, store)
        where = cls_of[store].store_description or store
        msg = f"imported {DEFAULT_IMAGE} ({image_id[:19]}) into {where}"
        say(f"image: {msg}")
        changes.append(msg)
    return changes
