"""rtlab's own image registry (issue 33): Debian's ``docker-registry`` (distribution 2.8).

rtlab runs its own instance, never the package's service: its config, storage and
log under rtlab's folders (``/var/lib/rtlab/registry``, ``/var/log/rtlab``), its
pid file (pid and start time) beside the other daemons', listening on
``127.0.0.1:<port>`` only, a port rtlab picks (free at the time) and records in the
config it writes. A registry the user runs (Debian's service on ``:5000``, or any
other) is never stopped, read or written.

Installing the package starts and enables its service on a systemd host (the
postinst does; a ``policy-rc.d`` that says 101 prevents it). ``install`` records in
the ledger which of the registry's packages rtlab installed, and whether that
install started the package's service, which it then stops and disables; purge
(``purge``) stops rtlab's instance, removes its storage, and removes the packages
rtlab installed (so the service it disabled goes with them), or, for a package
that stays, enables and starts the service again.

Stdlib only: ``make purge`` runs this without the venv.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rtlab.core import procfs
from rtlab.core.image import STATE_DIR
from rtlab.host import daemons, host, ledger

Say = Callable[[str], None]

BINARY = "/usr/bin/docker-registry"
SERVICE = "docker-registry"
# Ledger kinds (ledger.py): the registry's packages rtlab installed, and the
# package services that install started and rtlab stopped and disabled.
INSTALLED = "registry_packages_installed"
SERVICE_STOPPED = "registry_services_stopped"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 5.0
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


class RegistryError(RuntimeError):
    """rtlab's registry cannot be started or asked; one line saying why."""


@dataclass(frozen=True)
class Registry:
    """One registry instance of rtlab's: its folder (config, storage), pid file and log."""

    root: Path
    run_dir: Path
    log: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "registry.pid"

    def port(self) -> int | None:
        """The port recorded in rtlab's config (None: no config yet)."""
        try:
            text = self.config.read_text()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.strip().partition(":")
            if key == "addr":
                return int(value.strip().strip('"').rpartition(":")[2])
        return None

    def address(self) -> str:
        port = self.port()
        if port is None:
            raise RegistryError(f"rtlab's registry has no config at {self.config}")
        return f"{HOST}:{port}"

    def started_pid(self) -> int | None:
        """The pid of the instance rtlab started, if it still runs."""
        return procfs.pinned_pid(self.pidfile)

    def answers(self) -> bool:
        """True when ``GET /v2/`` answers 200 on rtlab's address."""
        try:
            with urllib.request.urlopen(f"http://{self.address()}/v2/", timeout=1.0) as r:
                return r.status == 200
        except (OSError, RegistryError, ValueError):
            return False


def default() -> Registry:
    return Registry(STATE_DIR / "registry", daemons.PID_DIR, daemons.LOG_DIR / "registry.log")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def config_text(storage: Path, port: int) -> str:
    """distribution 2.8's config: filesystem storage, deletes allowed, loopback only."""
    return "\n".join(
        (
            "version: 0.1",
            "log:",
            "  level: warn",
            "  fields:",
            "    service: rtlab-registry",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {json.dumps(str(storage))}",
            "  delete:",
            "    enabled: true",
            "http:",
            f'  addr: "{HOST}:{port}"',
            "  headers:",
            "    X-Content-Type-Options: [nosniff]",
            "",
        )
    )


def start(reg: Registry | None = None, say: Say = print, port: int | None = None) -> str:
    """Start rtlab's registry unless it runs; return its address (``127.0.0.1:PORT``).

    The port stays what the config recorded while that port is free; else a new one.
    """
    reg = reg or default()
    if reg.started_pid() is not None and reg.answers():
        return reg.address()
    if not Path(BINARY).is_file():
        raise RegistryError(f"cannot start rtlab's registry: {BINARY} not installed (rtlab setup)")
    stop(reg, say=lambda line: None)
    recorded = reg.port()
    if port is None:
        port = recorded if recorded is not None and _port_free(recorded) else free_port()
    reg.storage.mkdir(parents=True, exist_ok=True)
    reg.config.write_text(config_text(reg.storage, port))
    reg.log.parent.mkdir(parents=True, exist_ok=True)
    with reg.log.open("a") as f:
        f.write(f"\n==== rtlab starts {BINARY} serve {reg.config} at {time.strftime('%FT%T%z')}\n")
    pid = daemons._spawn_detached([BINARY, "serve", str(reg.config)], reg.log, dict(os.environ))
    begun = procfs.start_time(pid)
    deadline = time.monotonic() + 2.0
    while begun is None and time.monotonic() < deadline:
        time.sleep(0.01)
        begun = procfs.start_time(pid)
    reg.run_dir.mkdir(parents=True, exist_ok=True)
    reg.pidfile.write_text(f"{pid} {begun}\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if reg.answers():
            say(f"registry: started on {HOST}:{port} (pid {pid}, storage {reg.storage})")
            return f"{HOST}:{port}"
        if not procfs.alive(pid):
            reg.pidfile.unlink(missing_ok=True)
            raise RegistryError(
                f"docker-registry exited while starting; {reg.log} ends: {daemons._log_tail(reg.log)}"
            )
        time.sleep(0.05)
    stop(reg, say=lambda line: None)
    raise RegistryError(
        f"docker-registry did not answer on {HOST}:{port} within {START_TIMEOUT_S:g} s"
    )


def _port_free(port: int) -> bool:
    """Whether the registry could listen on ``port`` (Go sets SO_REUSEADDR: a port whose
    last connections are in TIME_WAIT is free to it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def stop(reg: Registry | None = None, say: Say = print) -> int | None:
    """Stop rtlab's instance (SIGTERM, then SIGKILL); the pid stopped, None when none ran."""
    reg = reg or default()
    pid = reg.started_pid()
    reg_pidfile = reg.pidfile
    if pid is None:
        reg_pidfile.unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while procfs.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if procfs.alive(pid):
        os.kill(pid, signal.SIGKILL)
        while procfs.alive(pid):
            time.sleep(0.05)
    reg_pidfile.unlink(missing_ok=True)
    say(f"registry: stopped (pid {pid})")
    return pid


STARGZ_DAEMON = "containerd-stargz-grpc"


def doctor_lines(reg: Registry | None = None) -> list[str]:
    """doctor's lines: rtlab's registry, and why lazy pulling cannot be measured here."""
    reg = reg or default()
    pid = reg.started_pid()
    if pid is not None and reg.answers():
        line = f"registry  rtlab's on {reg.address()} (pid {pid}, storage {reg.storage})"
    elif not Path(BINARY).is_file():
        line = "registry  not installed (docker-registry): rtlab setup installs and starts it"
    else:
        line = (
            "registry  rtlab's is not running: rtlab setup starts it (the pull experiment needs it)"
        )
    lazy = (
        f"lazy pull available: {STARGZ_DAEMON} is installed (rtlab does not measure it yet)"
        if shutil.which(STARGZ_DAEMON)
        else (
            f"lazy pull unavailable: no stargz snapshotter daemon ({STARGZ_DAEMON}); Debian's "
            "stargz-snapshotter ships ctr-remote only, so every pull here fetches whole layers"
        )
    )
    return [line, lazy]


# -- asking it (the registry's HTTP API v2) -----------------------------------


def _get(reg: Registry, path: str, accept: str = "") -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(f"http://{reg.address()}{path}")
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as r:
            return r.read(), {k.lower(): v for k, v in r.headers.items()}
    except (OSError, urllib.error.HTTPError) as exc:
        raise RegistryError(f"GET {path} from rtlab's registry: {exc}") from exc


def catalog(reg: Registry | None = None) -> list[str]:
    """The repositories rtlab's registry holds."""
    body, _ = _get(reg or default(), "/v2/_catalog")
    return list(json.loads(body).get("repositories") or [])


def tags(repo: str, reg: Registry | None = None) -> list[str]:
    body, _ = _get(reg or default(), f"/v2/{repo}/tags/list")
    return list(json.loads(body).get("tags") or [])


def manifest(repo: str, ref: str, reg: Registry | None = None) -> tuple[dict, str]:
    """The manifest of ``repo:ref`` and its digest (the registry's Docker-Content-Digest)."""
    body, headers = _get(reg or default(), f"/v2/{repo}/manifests/{ref}", MANIFEST_TYPES)
    return json.loads(body), headers.get("docker-content-digest", "")


# -- the package and its service ----------------------------------------------


def _systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def service_running() -> bool:
    """True when the package's own service runs (systemd's word, else its init script's pid file)."""
    if _systemd():
        out = subprocess.run(["systemctl", "is-active", "--quiet", SERVICE], check=False)
        return out.returncode == 0
    try:
        pid = int(Path(f"/var/run/{SERVICE}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return procfs.alive(pid) and procfs.comm(pid) == SERVICE


def _service(action: str) -> list[list[str]]:
    """argv lists that stop and disable (``off``) or enable and start (``on``) the service."""
    if _systemd():
        verb = "disable" if action == "off" else "enable"
        return [["systemctl", verb, "--now", SERVICE]]
    script = f"/etc/init.d/{SERVICE}"
    if action == "off":
        return [[script, "stop"], ["update-rc.d", SERVICE, "disable"]]
    return [["update-rc.d", SERVICE, "enable"], [script, "start"]]


def _run_all(argvs: list[list[str]]) -> str | None:
    for argv in argvs:
        out = subprocess.run(argv, capture_output=True, text=True, check=False, cwd="/")
        if out.returncode != 0:
            return f"{' '.join(argv)}: exit {out.returncode}: {out.stderr.strip()[-200:]}"
    return None


def installed(package: str) -> bool:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return out.returncode == 0 and out.stdout.strip().endswith(" installed")


def install(say: Say = print) -> list[str]:
    """Install the registry's packages that are missing, recording them; stop and disable
    the package service that install started (recorded too). The changes made."""
    missing = sorted({pkg for cmd, pkg in host.REGISTRY_PACKAGES.items() if not Path(cmd).exists()})
    if not missing:
        return []
    was_running = service_running()
    host.install_packages(missing, say)
    changes = [f"installed Debian packages: {' '.join(missing)}"]
    for package in missing:
        ledger.add(INSTALLED, package)
    if SERVICE in missing and not was_running and service_running():
        problem = _run_all(_service("off"))
        ledger.add(SERVICE_STOPPED, SERVICE)
        if problem:
            say(f"registry: could not stop the {SERVICE} service its install started: {problem}")
        else:
            say(f"registry: stopped and disabled the {SERVICE} service its install started (:5000)")
            changes.append(f"stopped and disabled the {SERVICE} service its install started")
    return changes


def purge(say: Say = print, reg: Registry | None = None) -> list[str]:
    """Stop rtlab's registry, remove its folder, remove the packages rtlab installed
    (or give back a service rtlab disabled whose package stays). What was undone."""
    reg = reg or default()
    done = []
    if stop(reg, say) is not None:
        done.append("stopped rtlab's registry")
    if reg.root.exists():
        shutil.rmtree(reg.root)
        say(f"registry: removed {reg.root} (config and storage)")
        done.append("removed the registry's storage")
    packages = [p for p in ledger.items(INSTALLED) if installed(p)]
    if packages:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        out = subprocess.run(
            ["apt-get", "purge", "-y", "-qq", *packages],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if out.returncode != 0:
            say(f"registry: could not remove {' '.join(packages)}: {out.stderr.strip()[-300:]}")
            return done
        say(f"registry: removed the Debian packages rtlab installed: {' '.join(packages)}")
        done.append(f"removed Debian packages {' '.join(packages)}")
    for package in ledger.items(INSTALLED):
        ledger.discard(INSTALLED, package)
    for service in ledger.items(SERVICE_STOPPED):
        if installed(service):  # the package stayed: its service runs again as before
            problem = _run_all(_service("on"))
            if problem:
                say(f"registry: could not start the {service} service again: {problem}")
                continue
            say(f"registry: enabled and started the {service} service again")
            done.append(f"started the {service} service again")
        ledger.discard(SERVICE_STOPPED, service)
    return done
