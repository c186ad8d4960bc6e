"""rtlab in a container (issue 34): the image ``make image`` builds, what a containerised
collect needs from the host it measures, how run.json says it ran in a container, and
purge's removal of the images and their build cache.

The image (scripts/image.sh) is a Debian rootfs made by mmdebstrap with the packages in
``IMAGE_PACKAGES`` and a venv of requirements.lock, rtlab on top, committed by buildah
to containers-storage as ``IMAGE_REPO:<tag>`` and ``:latest``. A containerised collect
measures the host, not the container: it runs privileged in the host's PID namespace,
network and cgroup namespace, with the host folders of ``MOUNTS`` at the same paths
(the daemons' sockets, so the shims a daemon starts find the FIFOs and bundles where
the client made them; ``/run/rtlab``, so the run lock is host-wide). ``podman_argv``
(this host) and host/fleet.py (a Kubernetes Job per node) are both built from
``MOUNTS``, never re-listed.

Stdlib only (host layer: make purge runs on the system python3).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rtlab.core import runtimes

Say = Callable[[str], None]

IMAGE_REPO = "localhost/rtlab/rtlab"
IMAGE_LATEST = f"{IMAGE_REPO}:latest"
# mmdebstrap's rootfs tars and the locked wheels, keyed by requirements.lock's hash
# (scripts/image.sh, RTLAB_IMAGE_CACHE); purge removes the folder
IMAGE_CACHE = Path(os.environ.get("RTLAB_IMAGE_CACHE", "/var/cache/rtlab/image"))
# scripts/image.sh's IMAGE_PACKAGES (tests/unit/test_container.py compares them): the
# known runtimes' Debian packages are their records' (core/runtimes.py ``package``)
IMAGE_PACKAGES = (
    "python3",
    "python3-venv",
    *dict.fromkeys(runtimes.packages().values()),
    "containerd",
    "busybox-static",
    "iproute2",
    "procps",
    "util-linux",
    "ca-certificates",
)
# Where the containerised collect writes its run folder (the mounted output folder)
OUT_MOUNT = "/out"


@dataclass(frozen=True)
class Mount:
    """A host folder a containerised collect sees at the same path."""

    name: str  # a DNS-1123 label: the Kubernetes volume's name
    path: str
    why: str
    read_only: bool = False
    kind: str = "Directory"  # hostPath type: Directory, DirectoryOrCreate, Socket
    # whether a Kubernetes Job mounts it (host/fleet.py): rtlab setup's own folders are
    # on this host, not on a cluster's nodes
    fleet: bool = True


MOUNTS: tuple[Mount, ...] = (
    Mount("cgroup", "/sys/fs/cgroup", "the host's cgroup tree: the runtimes create cgroups in it"),
    Mount(
        "containerd",
        "/run/containerd",
        "containerd's socket (ctr) and the FIFOs ctr makes for the shim, at the same path",
    ),
    Mount(
        "rtlab-run",
        "/run/rtlab",
        "the host-wide run lock, and rtlab's CRI containerd socket (run/rtlab/cri)",
        kind="DirectoryOrCreate",
    ),
    Mount(
        "containerd-state",
        "/var/lib/containerd",
        "containerd's snapshots: ctr mounts an image's rootfs itself to read its config",
    ),
    Mount("docker-sock", "/var/run/docker.sock", "dockerd's socket (docker)", kind="Socket"),
    Mount(
        "rtlab-cri",
        "/var/lib/rtlab/cri",
        "rtlab's CRI containerd's configuration (its handlers), made by rtlab setup",
        read_only=True,
        fleet=False,
    ),
)


# What says a process runs in a container, checked in order (the first found is recorded)
def container_signals(root: Path = Path("/")) -> list[str]:
    """The signs that this process runs in a container: ``/.dockerenv`` (docker),
    ``/run/.containerenv`` (podman, buildah), ``$container`` (podman, systemd-nspawn),
    ``KUBERNETES_SERVICE_HOST`` (a pod), a container engine's name in the cgroup path,
    and, with the host's PID namespace, a mount namespace other than PID 1's."""
    found = []
    for marker in ("/.dockerenv", "/run/.containerenv"):
        if (root / marker.lstrip("/")).exists():
            found.append(marker)
    if os.environ.get("container"):
        found.append(f"$container={os.environ['container']}")
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        found.append("$KUBERNETES_SERVICE_HOST")
    try:
        cgroup = (root / "proc/self/cgroup").read_text()
    except OSError:
        cgroup = ""
    for word in ("docker", "libpod", "kubepods", "containerd", "crio", "buildah"):
        if word in cgroup:
            found.append(f"cgroup path names {word}")
            break
    try:
        if os.readlink(root / "proc/self/ns/mnt") != os.readlink(root / "proc/1/ns/mnt"):
            found.append("mount namespace is not PID 1's")
    except OSError:
        pass
    return found


def cpu_limit(root: Path = Path("/")) -> float | None:
    """The CPU quota of this process's cgroup, in CPUs (None: no limit, or unreadable):
    cgroup v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``."""
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        try:
            if controllers == "" and (root / "sys/fs/cgroup/cpu.max").exists():
                max_quota, max_period = (
                    (root / "sys/fs/cgroup" / rel / "cpu.max").read_text().split()
                )
                return None if max_quota == "max" else int(max_quota) / int(max_period)
            if "cpu" in controllers.split(","):
                base = root / "sys/fs/cgroup" / controllers / rel
                if not base.is_dir():
                    base = root / "sys/fs/cgroup/cpu" / rel
                quota = int((base / "cpu.cfs_quota_us").read_text())
                period = int((base / "cpu.cfs_period_us").read_text())
                return None if quota < 0 else quota / period
        except (OSError, ValueError):
            continue
    return None


def facts() -> dict:
    """run.json's ``host.container``: whether the collect ran in a container, the signs,
    its CPU quota, the image (``RTLAB_IMAGE``, set by the image) and the node it says it measured
    (``RTLAB_NODE_NAME``: the Kubernetes Job sets it from the pod's spec.nodeName)."""
    signals = container_signals()
    return {
        "in_container": bool(signals),
        "signals": signals,
        "image": os.environ.get("RTLAB_IMAGE"),
        "node_name": os.environ.get("RTLAB_NODE_NAME"),
        # the CPU quota over rtlab and the clients it runs (e.g. podman --cpus)
        "cpu_limit": cpu_limit(),
    }


def _ulimits() -> list[str]:
    """Limits within this host's: podman's defaults (1048576) lie above what these hosts
    allow, and crun then fails (setrlimit "Operation not permitted"). Open files: this
    process's hard limit (a collect keeps many); processes: 4096, as podman.py's trials
    (not enforced for root; the host's hard limit was refused here)."""
    out = []
    for name, which, cap in (
        ("nofile", resource.RLIMIT_NOFILE, None),
        ("nproc", resource.RLIMIT_NPROC, 4096),
    ):
        _, hard = resource.getrlimit(which)
        if hard == resource.RLIM_INFINITY:
            continue
        value = hard if cap is None else min(cap, hard)
        out += ["--ulimit", f"{name}={value}:{value}"]
    return out


def podman_argv(
    image: str,
    out_dir: Path,
    args: Sequence[str],
    *,
    name: str | None = None,
    cpus: float | None = None,
) -> list[str]:
    """``podman run`` of the image against this host: privileged, the host's PID, network
    and cgroup namespaces, ``MOUNTS`` at their own paths and ``out_dir`` at ``OUT_MOUNT``;
    ``args`` are rtlab's (e.g. ``collect … --out /out/run``)."""
    argv = ["podman", "run", "--rm", "--privileged", "--pid=host", "--network=host"]
    argv += ["--cgroupns=host", "--security-opt", "label=disable", *_ulimits()]
    if name:
        argv += ["--name", name]
    if cpus is not None:  # a CPU limit on rtlab and the clients it runs (another "host")
        argv += [f"--cpus={cpus:g}"]
    for m in MOUNTS:
        if Path(m.path).exists():
            argv += ["-v", f"{m.path}:{m.path}{':ro' if m.read_only else ''}"]
    argv += ["-v", f"{out_dir}:{OUT_MOUNT}", image, *args]
    return argv


def _quiet(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd="/", check=False)


def images(tool: str = "buildah") -> list[str]:
    """rtlab's image references in containers-storage (``IMAGE_REPO:*``)."""
    if shutil.which(tool) is None:
        return []
    out = _quiet([tool, "images", "--format", "{{.Name}}:{{.Tag}}"])
    return sorted({ref for ref in out.stdout.split() if ref.startswith(IMAGE_REPO + ":")})


def purge(say: Say) -> list[str]:
    """make purge: remove rtlab's images from containers-storage and the build cache."""
    done = []
    for ref in images():
        m = _quiet(["buildah", "rmi", "--force", ref])
        if m.returncode == 0:
            say(f"purge: removed image {ref} (make image)")
            done.append(f"removed image {ref}")
        else:
            say(f"purge: could not remove image {ref}: {m.stderr.strip()[-200:]}")
    for folder in (IMAGE_CACHE, IMAGE_CACHE.parent):
        if folder.is_dir() and (folder == IMAGE_CACHE or not any(folder.iterdir())):
            shutil.rmtree(folder, ignore_errors=True)
            say(f"purge: removed {folder} (make image's build cache)")
            done.append(f"removed {folder}")
    return done
