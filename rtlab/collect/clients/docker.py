"""docker (the CLI shipped with dockerd) over a runtime registered with dockerd.

``docker create`` only registers the container and prepares its root
filesystem; dockerd first calls the OCI runtime (its create and start) during
``docker start``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from rtlab.collect.clients.base import Target
from rtlab.core.measure import run_timed
from rtlab.core.workload import DEFAULT_IMAGE
from rtlab.host import cleanup, daemons
from rtlab.host.cleanup import CONTAINER_PREFIX, token_of

LABEL = "rtlab.run"
REMOVE_TIMEOUT_S = 10.0


def docker_binary() -> str | None:
    """The docker client that ships with dockerd (``/usr/bin/docker``) when it exists.

    Another docker client may come first on PATH (here /usr/local/bin/docker is
    an unrelated newer CLI); the one from the same package as dockerd is the
    one the known study used.
    """
    dockerd = shutil.which("dockerd")
    if dockerd:
        sibling = Path(dockerd).resolve().parent.parent / "bin" / "docker"
        if sibling.is_file() and os.access(sibling, os.X_OK):
            return str(sibling)
    if Path("/usr/bin/docker").is_file():
        return "/usr/bin/docker"
    return shutil.which("docker")


def docker_image_id(ref: str = DEFAULT_IMAGE) -> str | None:
    docker = docker_binary()
    if docker is None:
        return None
    m = run_timed(
        [docker, "image", "inspect", "--format", "{{.Id}}", ref],
        daemons.CLIENT_TIMEOUT_S,
        capture_stdout=True,
    )
    return m.stdout.strip() if m.ok else None


class DockerTarget(Target):
    client = "docker"
    package = "docker.io"
    needs_daemons = ("containerd", "dockerd")
    image_store = "docker"
    package_commands = ("docker", "dockerd")
    verbs = {"resume": ("unpause",)}  # experiment pause: docker unpause

    @staticmethod
    def find_binary() -> str | None:
        return docker_binary()

    @staticmethod
    def image_id(ref: str) -> str | None:
        return docker_image_id(ref)

    @staticmethod
    def remove_image_argv(binary: str, ref: str) -> list[str]:
        return [binary, "rmi", "--force", ref]

    @staticmethod
    def load_image_argv(binary: str, archive: str) -> list[str]:
        return [binary, "load", "-i", archive]

    @property
    def base(self) -> list[str]:
        return [self.binary]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.binary = docker_binary() or "docker"
        self._static_reason: str | None = None
        self._static_checked = False
        self._info: dict | None = None

    # -- argv ---------------------------------------------------------------------
    def _common(self, cid: str) -> list[str]:
        return [
            "--name",
            cid,
            "--label",
            f"{LABEL}={token_of(cid) or '{token}'}",
            "--runtime",
            self.runtime.name,
            "--network",
            "none",
            "--pull",
            "never",
        ]

    def commands(self, step: str, cid: str) -> list[list[str]]:
        d, image = self.binary, self.workload.image_ref()
        return {
            "create": [[d, "create", *self._common(cid), image, *self.workload.lifecycle_args()]],
            "start": [[d, "start", cid]],
            "kill": [[d, "kill", cid]],  # SIGKILL is docker kill's default
            "delete": [[d, "rm", cid]],
            "run": [[d, "run", "--rm", *self._common(cid), image, *self.workload.run_args()]],
            # experiment pull (collect/pull.py): 127.0.0.0/8 is an insecure registry by default
            "pull": [[d, "pull", "--quiet", image]],
        }[step]

    # -- availability ----------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        if docker_binary() is None:
            return "docker client not installed (Debian package docker.io; rtlab setup installs it)"
        down = daemons.down_reason("dockerd")
        if down:
            return down
        if not self._static_checked:  # registered runtimes and images do not change mid-run
            self._static_reason = self._check_runtime_and_image()
            self._static_checked = self._static_reason is None
        return self._static_reason

    def _check_runtime_and_image(self) -> str | None:
        version, why = self.runtime.version()
        if version is None:
            return why
        info = self.info()
        if info is None:
            return "`docker info` failed: dockerd does not answer properly (see its log)"
        runtimes = info.get("Runtimes") or {}
        if self.runtime.name not in runtimes:
            spec = f"{self.runtime.name}={self.runtime.path() or self.runtime.binary}"
            if self.runtime.flags:
                spec += ":" + " ".join(self.runtime.flags)
            return (
                f"runtime {self.runtime.name!r} is not registered with dockerd "
                f"(registered: {', '.join(sorted(runtimes))}); register it with "
                f"`rtlab setup --runtime {spec}`"
            )
        ref = self.workload.image_ref()
        if docker_image_id(ref) is None:
            if self.workload.image:
                return f"image {ref} is not in docker's store (rtlab never pulls: docker pull/load it first)"
            return f"image {ref} is not in docker's store — run rtlab setup"
        return None

    def info(self) -> dict | None:
        if self._info is None:
            m = self.quiet([self.binary, "info", "--format", "{{json .}}"])
            if m.ok:
                try:
                    self._info = json.loads(m.stdout)
                except ValueError:
                    self._info = None
        return self._info

    # -- state, cleanup -----------------------------------------------------------------
    def wait_stopped(self, cid: str, timeout_s: float) -> str | None:
        m = self.quiet([self.binary, "wait", cid], timeout_s=timeout_s)
        if m.ok:
            return None
        return f"`docker wait` failed: {m.describe_failure()}"

    def status(self, cid: str) -> str | None:
        return self.ps_state(cid)

    def give_up(self) -> str | None:
        return daemons.down_reason("dockerd")

    def remove(self, cid: str) -> list[str]:
        if not daemons.docker_ping():
            return [
                f"{self.label}: cannot remove {cid}: {daemons.down_reason('dockerd')}; "
                "`rtlab clean` removes it once dockerd runs again"
            ]
        full_id = self._full_id(cid)
        if full_id is None:
            return []
        m = self.quiet([self.binary, "rm", "--force", cid], timeout_s=REMOVE_TIMEOUT_S)
        if not m.ok:
            # A runtime hung in create/start (runsc --platform=kvm here) blocks the
            # removal: kill its processes (they carry docker's full id, not our
            # name), then remove again.
            cleanup.sweep(full_id)
            m = self.quiet([self.binary, "rm", "--force", cid], timeout_s=REMOVE_TIMEOUT_S)
        cleanup.sweep(full_id)
        if m.ok or cid not in self.list_ids():
            return []
        return [f"{self.label}: could not remove {cid}: {m.describe_failure()}"]

    def _full_id(self, cid: str) -> str | None:
        # `docker ps` reads dockerd's container view; `inspect` would wait for
        # the container's lock, which a hung start holds.
        m = self.quiet(
            [
                self.binary,
                "ps",
                "--all",
                "--no-trunc",
                "--filter",
                f"name={cid}",
                "--format",
                "{{.ID}} {{.Names}}",
            ]
        )
        for line in m.stdout.splitlines() if m.ok else []:
            fields = line.split()
            if len(fields) == 2 and fields[1] == cid:
                return fields[0]
        return None

    def list_ids(self) -> list[str]:
        if not daemons.docker_ping():
            return []
        m = self.quiet(
            [
                self.binary,
                "ps",
                "--all",
                "--filter",
                f"name={CONTAINER_PREFIX}",
                "--format",
                "{{.Names}}",
            ]
        )
        if not m.ok:
            return []
        return [n.strip() for n in m.stdout.splitlines() if n.strip().startswith(CONTAINER_PREFIX)]

    # -- metadata ------------------------------------------------------------------------
    def versions(self) -> dict[str, str | None]:
        m = self.quiet([self.binary, "version", "--format", "{{json .}}"])
        try:
            v = json.loads(m.stdout) if m.ok else {}
        except ValueError:
            v = {}
        server = v.get("Server") or {}
        components = {c.get("Name"): c.get("Version") for c in server.get("Components") or []}
        version, _ = self.runtime.version()
        return {
            "docker": (v.get("Client") or {}).get("Version"),
            "dockerd": server.get("Version"),
            "containerd": components.get("containerd"),
            self.runtime.name: version,
        }

    def config(self) -> dict:
        info = self.info() or {}
        keys = (
            "ServerVersion",
            "Driver",
            "CgroupDriver",
            "CgroupVersion",
            "DefaultRuntime",
            "Runtimes",
            "SecurityOptions",
            "DockerRootDir",
            "LoggingDriver",
            "InitBinary",
            "ContainerdCommit",
            "RuncCommit",
            "KernelVersion",
            "LiveRestoreEnabled",
        )
        status = daemons.status()
        return {
            "client_binary": self.binary,
            "runtime": self.runtime.name,
            "runtime_registration": (info.get("Runtimes") or {}).get(self.runtime.name),
            "daemon": {k: info.get(k) for k in keys},
            "dockerd": status["dockerd"],
            "containerd": status["containerd"],
            "daemon_json": str(daemons.DOCKER_CONFIG),
            "image": self.workload.image_ref(),
            "image_id": docker_image_id(self.workload.image_ref()),
            "network": "none",
        }

    def daemon_sockets(self) -> list[tuple[str, Path]]:
        return [
            ("dockerd", daemons.DOCKER_SOCKET),
            ("containerd", daemons.dockerd_containerd_socket()),
        ]

    def container_keys(self, cid: str) -> list[str]:
        """Its name and docker's full id (the shim's command line and the cgroup use it)."""
        m = self.quiet([*self.base, "inspect", "--format", "{{.Id}}", cid])
        return [cid, m.stdout.strip()] if m.ok and m.stdout.strip() else [cid]
