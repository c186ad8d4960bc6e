"""podman (no daemon: conmon supervises each container) over a runtime binary.

Host quirks rtlab handles here, not the user:

- podman sets ``RLIMIT_NOFILE``/``RLIMIT_NPROC`` to 1048576 in the container by
  default, above this host's hard limits; without CAP_SYS_RESOURCE the runtime
  then fails with "setrlimit … Operation not permitted" (exit 126). rtlab
  passes ``--ulimit`` values within the host's hard limits: 1024 open files
  (what rtlab's OCI bundle gives) and 4096 processes (not enforced for root).
- runsc needs ``--network=none``: its global flags go through ``--runtime-flag``.
- ``podman create`` only records the container; the runtime first runs at ``start``.
"""

from __future__ import annotations

import json
import resource
import shutil
from pathlib import Path

from rtlab.collect.clients.base import Target
from rtlab.core.measure import run_timed
from rtlab.core.workload import DEFAULT_IMAGE
from rtlab.host import cleanup, daemons
from rtlab.host.cleanup import CONTAINER_PREFIX, token_of

LABEL = "rtlab.run"
REMOVE_TIMEOUT_S = 10.0
NOFILE = 1024
NPROC = 4096


def ulimits() -> list[str]:
    """``--ulimit`` flags within the host's hard limits (see the module docstring)."""
    out = []
    for name, want in (("nofile", NOFILE), ("nproc", NPROC)):
        _, hard = resource.getrlimit(getattr(resource, f"RLIMIT_{name.upper()}"))
        value = want if hard == resource.RLIM_INFINITY or hard < 0 else min(want, hard)
        out += ["--ulimit", f"{name}={value}:{value}"]
    return out


def podman_binary() -> str | None:
    return shutil.which("podman")


def podman_image_id(ref: str = DEFAULT_IMAGE) -> str | None:
    podman = podman_binary()
    if podman is None:
        return None
    m = run_timed(
        [podman, "image", "inspect", "--format", "{{.Id}}", ref],
        daemons.CLIENT_TIMEOUT_S,
        capture_stdout=True,
    )
    return ("sha256:" + m.stdout.strip().removeprefix("sha256:")) if m.ok else None


class PodmanTarget(Target):
    client = "podman"
    package = "podman"
    image_store = "podman"
    package_commands = ("podman",)
    verbs = {"resume": ("unpause",)}  # experiment pause: podman unpause

    @staticmethod
    def find_binary() -> str | None:
        return podman_binary()

    @staticmethod
    def image_id(ref: str) -> str | None:
        return podman_image_id(ref)

    @staticmethod
    def remove_image_argv(binary: str, ref: str) -> list[str]:
        return [binary, "rmi", "--force", ref]

    @staticmethod
    def load_image_argv(binary: str, archive: str) -> list[str]:
        return [binary, "load", "-i", archive]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.binary = podman_binary() or "podman"
        self._static_ok = False
        self._info: dict | None = None

    @property
    def client_argv(self) -> list[str]:
        """podman and its global options before ``--runtime`` (rootless: its own storage)."""
        return [self.binary]

    @property
    def base(self) -> list[str]:
        """podman plus the runtime binary and its global flags (``--network=none`` →
        ``--runtime-flag network=none``), on every call: runtime flags are not stored
        with the container."""
        argv = [*self.client_argv, "--runtime", self.runtime.path() or self.runtime.binary]
        for flag in self.runtime.flags:
            argv += ["--runtime-flag", flag.lstrip("-")]
        return argv

    def _common(self, cid: str) -> list[str]:
        return [
            "--name",
            cid,
            "--label",
            f"{LABEL}={token_of(cid) or '{token}'}",
            "--network",
            "none",
            "--pull",
            "never",
            *ulimits(),
        ]

    # -- argv ---------------------------------------------------------------------
    def commands(self, step: str, cid: str) -> list[list[str]]:
        b, image = self.base, self.workload.image_ref()
        return {
            "create": [[*b, "create", *self._common(cid), image, *self.workload.lifecycle_args()]],
            "start": [[*b, "start", cid]],
            "kill": [[*b, "kill", cid]],  # SIGKILL is podman kill's default
            "delete": [[*b, "rm", cid]],
            "run": [[*b, "run", "--rm", *self._common(cid), image, *self.workload.run_args()]],
            # experiment pull (collect/pull.py): rtlab's registry speaks plain HTTP
            "pull": [[*b, "pull", "--quiet", "--tls-verify=false", image]],
        }[step]

    # -- what an interrupted pull leaves ------------------------------------------------
    IMAGE_COPY_TMP = Path("/var/tmp")  # containers.conf's image_copy_tmp_dir (its default)

    def pull_leftovers(self) -> set[str]:
        """podman's image-copy folders (``/var/tmp/storage<digits>``): a ``podman pull``
        killed midway leaves its folder with the blobs fetched so far."""
        try:
            return {
                str(p)
                for p in self.IMAGE_COPY_TMP.iterdir()
                if p.name.startswith("storage") and p.name[7:].isdigit() and p.is_dir()
            }
        except OSError:
            return set()

    def remove_pull_leftovers(self, items: set[str]) -> list[str]:
        errors = []
        for item in sorted(items):
            try:
                shutil.rmtree(item)
            except FileNotFoundError:
                pass
            except OSError as exc:
                errors.append(f"{self.label}: could not remove {item}: {exc.strerror or exc}")
        return errors

    # -- availability ----------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        if podman_binary() is None:
            return "podman not installed (Debian package podman; rtlab setup installs it)"
        if self._static_ok:  # no daemon to lose; runtime and image do not change mid-run
            return None
        version, why = self.runtime.version()
        if version is None:
            return why
        ref = self.workload.image_ref()
        m = self.quiet([self.binary, "image", "exists", ref])
        if m.exit_code == 1:
            if self.workload.image:
                return f"image {ref} is not in podman's store (rtlab never pulls: podman pull/load it first)"
            return f"image {ref} is not in podman's store — run rtlab setup"
        if not m.ok:
            return f"`podman image exists` failed: {m.describe_failure()}"
        self._static_ok = True
        return None

    # -- state, cleanup -----------------------------------------------------------------
    def wait_stopped(self, cid: str, timeout_s: float) -> str | None:
        m = self.quiet([*self.base, "wait", cid], timeout_s=timeout_s)
        return None if m.ok else f"`podman wait` failed: {m.describe_failure()}"

    def status(self, cid: str) -> str | None:
        return self.ps_state(cid)

    def remove(self, cid: str) -> list[str]:
        m = self.quiet([*self.client_argv, "container", "inspect", "--format", "{{.Id}}", cid])
        full_id = m.stdout.strip() if m.ok else ""
        if not full_id:
            return []
        m = self.quiet(
            [*self.base, "rm", "--force", "--time", "0", cid], timeout_s=REMOVE_TIMEOUT_S
        )
        # A runtime hung in create (runsc --platform=kvm here) survives `podman rm`:
        # its processes carry podman's full id, not our name.
        cleanup.sweep(full_id)
        # conmon killed under podman (a sweep, a purge) leaves the runtime's own state
        # (`runc list` shows podman's full id, stopped) after podman has forgotten it
        self.quiet([*self.runtime.argv, "delete", "--force", full_id], timeout_s=REMOVE_TIMEOUT_S)
        if not m.ok and cid in self.list_ids():
            m = self.quiet(
                [*self.base, "rm", "--force", "--time", "0", cid], timeout_s=REMOVE_TIMEOUT_S
            )
        if m.ok or cid not in self.list_ids():
            return []
        return [f"{self.label}: could not remove {cid}: {m.describe_failure()}"]

    def list_ids(self) -> list[str]:
        m = self.quiet(
            [
                *self.client_argv,
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
    def info(self) -> dict:
        if self._info is None:
            m = self.quiet([*self.base, "info", "--format", "json"])
            try:
                self._info = json.loads(m.stdout) if m.ok else {}
            except ValueError:
                self._info = {}
        return self._info

    def versions(self) -> dict[str, str | None]:
        m = self.quiet([self.binary, "version", "--format", "{{.Client.Version}}"])
        conmon = ((self.info().get("host") or {}).get("conmon") or {}).get("version")
        version, _ = self.runtime.version()
        return {
            "podman": m.stdout.strip() if m.ok else None,
            "conmon": conmon.split(",")[0].strip() if conmon else None,
            self.runtime.name: version,
        }

    def config(self) -> dict:
        info = self.info()
        host, store = info.get("host") or {}, info.get("store") or {}
        return {
            "client_binary": self.binary,
            "runtime_binary": self.runtime.path(),
            "runtime_flags": list(self.runtime.flags),
            "cgroup_manager": host.get("cgroupManager"),
            "cgroup_version": host.get("cgroupVersion"),
            "events_backend": host.get("eventLogger"),
            "conmon": (host.get("conmon") or {}).get("path"),
            "storage_driver": store.get("graphDriverName"),
            "graph_root": store.get("graphRoot"),
            "ulimits": ulimits(),
            "image": self.workload.image_ref(),
            "image_id": podman_image_id(self.workload.image_ref()),
            "network": "none",
        }

    def container_keys(self, cid: str) -> list[str]:
        """Its name and podman's full id (conmon's command line and the cgroup use it)."""
        m = self.quiet([*self.base, "inspect", "--format", "{{.Id}}", cid])
        return [cid, m.stdout.strip()] if m.ok and m.stdout.strip() else [cid]
