"""containerd's ``ctr`` in rtlab's own namespace, over containerd's runc shim.

runc goes through the stock ``io.containerd.runc.v2`` shim. Other runtimes go
through rtlab's shim wrapper ``io.containerd.rtlab-<name>.v2`` (see
daemons.py): ``ctr container create`` has no flag choosing the runtime binary,
so the wrapper makes the same runc shim run crun or runsc as its ``runc``.
``ctr container create`` only records the container and its snapshot; the
shim and the OCI runtime first run at ``ctr task start``.

Every ctr call carries ``--connect-timeout``: when containerd is gone, ctr
would otherwise wait 10 s per call before failing.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from rtlab.collect.clients.base import Target, state_name
from rtlab.core.measure import run_timed
from rtlab.core.workload import DEFAULT_IMAGE
from rtlab.host import daemons
from rtlab.host.cleanup import CONTAINER_PREFIX, token_of

LABEL = "rtlab.run"
CONNECT_TIMEOUT = "2s"


def normalize_ref(ref: str) -> str:
    """Docker-style short references as containerd stores them (``busybox`` →
    ``docker.io/library/busybox:latest``)."""
    name, digest = (ref.split("@", 1) + [""])[:2]
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"
    if not digest and not re.search(r":[^/]+$", name):
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def ctr_binary() -> str | None:
    return shutil.which("ctr")


def _quiet(argv: list[str]):
    return run_timed(argv, daemons.CLIENT_TIMEOUT_S, capture_stdout=True)


def ctr_image_id(ref: str = DEFAULT_IMAGE) -> str | None:
    """The config digest of ``ref`` in containerd's rtlab namespace."""
    ctr = ctr_binary()
    if ctr is None:
        return None
    m = _quiet([ctr, "-n", daemons.NAMESPACE, "images", "ls", f"name=={ref}"])
    lines = m.stdout.splitlines()[1:] if m.ok else []
    if not lines:
        return None
    digest = next((f for f in lines[0].split() if f.startswith("sha256:")), None)
    if digest is None:
        return None
    m = _quiet([ctr, "-n", daemons.NAMESPACE, "content", "get", digest])
    try:
        return json.loads(m.stdout)["config"]["digest"] if m.ok else None
    except (ValueError, KeyError, TypeError):
        return None


class CtrTarget(Target):
    client = "ctr"
    package = "containerd"
    needs_daemons = ("containerd",)
    image_store = "containerd"
    store_description = f"containerd namespace {daemons.NAMESPACE!r}"
    package_commands = ("containerd", "ctr")
    verbs = {"pause": ("task", "pause"), "resume": ("task", "resume")}  # on the task

    @staticmethod
    def find_binary() -> str | None:
        return ctr_binary()

    @staticmethod
    def image_id(ref: str) -> str | None:
        return ctr_image_id(ref)

    @staticmethod
    def remove_image_argv(binary: str, ref: str) -> list[str]:
        # --sync: containerd's garbage collection has removed the image's content when it
        # returns (a cold pull then fetches every layer again)
        return [binary, "-n", daemons.NAMESPACE, "images", "rm", "--sync", ref]

    @staticmethod
    def load_image_argv(binary: str, archive: str) -> list[str]:
        return [binary, "-n", daemons.NAMESPACE, "images", "import", archive]

    @staticmethod
    def forget_store(say: Callable[[str], None]) -> list[str]:
        """Purge, after the image: containerd's namespace ``rtlab`` (when empty)."""
        ctr = ctr_binary()
        if ctr is None or not daemons.CONTAINERD.answers():
            return []
        listed = _quiet([ctr, "namespaces", "ls", "-q"])
        if not listed.ok or daemons.NAMESPACE not in listed.stdout.split():
            return []
        m = _quiet([ctr, "namespaces", "rm", daemons.NAMESPACE])
        if not m.ok:
            say(f"purge: containerd namespace {daemons.NAMESPACE!r} left: {m.describe_failure()}")
            return []
        say(f"purge: removed containerd namespace {daemons.NAMESPACE!r}")
        return [f"removed containerd namespace {daemons.NAMESPACE}"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.binary = ctr_binary() or "ctr"
        self.shim = daemons.shim_runtime(self.runtime)
        self._static_ok = False

    @property
    def base(self) -> list[str]:
        return [self.binary, "--connect-timeout", CONNECT_TIMEOUT, "-n", daemons.NAMESPACE]

    def image_ref(self) -> str:
        return normalize_ref(self.workload.image_ref())

    # -- argv ---------------------------------------------------------------------
    def commands(self, step: str, cid: str) -> list[list[str]]:
        b, image = self.base, self.image_ref()
        label = ["--label", f"{LABEL}={token_of(cid) or '{token}'}"]
        return {
            "create": [
                [
                    *b,
                    "container",
                    "create",
                    "--runtime",
                    self.shim,
                    *label,
                    image,
                    cid,
                    *self.workload.lifecycle_args(),
                ]
            ],
            "start": [[*b, "task", "start", "--detach", cid]],
            "kill": [[*b, "task", "kill", "--signal", "SIGKILL", cid]],
            "delete": [[*b, "task", "delete", cid], [*b, "container", "delete", cid]],
            "run": [
                [
                    *b,
                    "run",
                    "--rm",
                    "--runtime",
                    self.shim,
                    *label,
                    image,
                    cid,
                    *self.workload.run_args(),
                ]
            ],
            # experiment pull (collect/pull.py): fetch and unpack; rtlab's registry is plain HTTP
            "pull": [[*b, "images", "pull", "--plain-http", image]],
        }[step]

    # -- what an interrupted pull leaves ------------------------------------------------
    def pull_leftovers(self) -> set[str]:
        """The leases in rtlab's namespace: a ``ctr images pull`` killed midway keeps its
        lease (expiring after 24 h), which holds the blobs fetched so far and the layer
        still being written (``ctr content active``) from containerd's collection."""
        m = self.quiet([*self.base, "leases", "ls", "-q"])
        return set(m.stdout.split()) if m.ok else set()

    def remove_pull_leftovers(self, items: set[str]) -> list[str]:
        """Remove those leases, waiting for the collection (``--sync``) that frees what
        they held."""
        if not items:
            return []
        m = self.quiet([*self.base, "leases", "rm", "--sync", *sorted(items)])
        return [] if m.ok else [f"{self.label}: could not remove leases: {m.describe_failure()}"]

    # -- availability ----------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        if ctr_binary() is None:
            return "ctr not installed (Debian package containerd; rtlab setup installs it)"
        down = daemons.down_reason("containerd")  # fast: the scheduler asks after failures
        if down:
            return down
        if not self._static_ok:  # runtime, shim and image do not change mid-run
            why = self._check_runtime_and_image()
            if why:
                return why
            self._static_ok = True
        return None

    def _check_runtime_and_image(self) -> str | None:
        version, why = self.runtime.version()
        if version is None:
            return why
        if self.shim != daemons.RUNC_SHIM:
            no_shim = daemons.ensure_shim(self.runtime) or daemons.shim_dir_reason()
            if no_shim:
                return f"no containerd shim for {self.runtime.name}: {no_shim}"
        ref = self.image_ref()
        if ctr_image_id(ref) is None:
            if self.workload.image:
                return (
                    f"image {ref} is not in containerd namespace {daemons.NAMESPACE!r} "
                    f"(rtlab never pulls: ctr -n {daemons.NAMESPACE} images pull/import it first)"
                )
            return f"image {ref} is not in containerd namespace {daemons.NAMESPACE!r} — run rtlab setup"
        return None

    def prepare(self) -> None:
        daemons.ensure_shim(self.runtime)

    # -- state, cleanup -----------------------------------------------------------------
    def task_status(self, cid: str) -> str | None:
        m = self.quiet([*self.base, "task", "ls"], timeout_s=self.timeout_s)
        if not m.ok:
            return None
        for line in m.stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3 and fields[0] == cid:
                return fields[2]
        return "absent"

    def wait_stopped(self, cid: str, timeout_s: float) -> str | None:
        return self.poll_until_stopped(
            lambda: self.task_status(cid),
            "STOPPED",
            timeout_s,
            give_up=lambda: daemons.down_reason("containerd"),
        )

    def status(self, cid: str) -> str | None:
        """The task's state; a container without a task is stopped, without either gone."""
        task = self.task_status(cid)
        if task is None:
            return None
        if task != "absent":
            return state_name(task)
        m = self.quiet([*self.base, "container", "ls", "--quiet"], timeout_s=self.timeout_s)
        return ("stopped" if cid in m.stdout.split() else "gone") if m.ok else None

    def give_up(self) -> str | None:
        return daemons.down_reason("containerd")

    def remove(self, cid: str) -> list[str]:
        down = daemons.down_reason("containerd")
        if down:
            return [
                f"{self.label}: cannot remove {cid}: {down}; `rtlab clean` removes it "
                "once containerd runs again"
            ]
        b = self.base
        self.quiet([*b, "task", "delete", "--force", cid])
        m = self.quiet([*b, "container", "delete", cid])
        self.quiet([*b, "snapshots", "rm", cid])  # a snapshot left by a half-made container
        if m.ok or cid not in self.list_ids():
            return []
        return [f"{self.label}: could not delete {cid}: {m.describe_failure()}"]

    def list_ids(self) -> list[str]:
        if not daemons.socket_answers(daemons.CONTAINERD_SOCKET):
            return []
        m = self.quiet([*self.base, "container", "ls", "--quiet"])
        if not m.ok:
            return []
        return [c.strip() for c in m.stdout.splitlines() if c.strip().startswith(CONTAINER_PREFIX)]

    # -- metadata ------------------------------------------------------------------------
    def versions(self) -> dict[str, str | None]:
        m = self.quiet([self.binary, "--connect-timeout", CONNECT_TIMEOUT, "version"])
        client = server = None
        section = None
        for line in m.stdout.splitlines():
            if line.strip() in ("Client:", "Server:"):
                section = line.strip()
            elif line.strip().startswith("Version:"):
                value = line.split(":", 1)[1].strip()
                if section == "Client:":
                    client = value
                elif section == "Server:":
                    server = value
        version, _ = self.runtime.version()
        return {"ctr": client, "containerd": server, self.runtime.name: version}

    def config(self) -> dict:
        route: dict = {"runtime": self.shim}
        if self.shim == daemons.RUNC_SHIM:
            route["how"] = "containerd's runc shim, `runc` on containerd's PATH"
        else:
            wrapper, runc = daemons.shim_paths(self.runtime)
            route["how"] = (
                "rtlab's shim wrapper: containerd's runc shim with PATH set so "
                f"that its `runc` is {self.runtime.path()} {' '.join(self.runtime.flags)}".strip()
            )
            route["wrapper"] = str(wrapper)
            route["runc_stand_in"] = str(runc)
        return {
            "client_binary": self.binary,
            "namespace": daemons.NAMESPACE,
            "snapshotter": "overlayfs (ctr's default)",
            "connect_timeout": CONNECT_TIMEOUT,
            "shim": route,
            "containerd": daemons.status()["containerd"],
            "image": self.image_ref(),
            "image_id": ctr_image_id(self.image_ref()),
            "network": "a new network namespace with no interface (ctr's default)",
        }

    def daemon_sockets(self) -> list[tuple[str, Path]]:
        return [("containerd", daemons.CONTAINERD_SOCKET)]
