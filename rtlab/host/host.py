"""Probe and prepare the host: cgroup mode, limits, packages; facts for run.json."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

from rtlab.core.runtimes import packages as runtime_packages
from rtlab.host import cgroups, container, ledger, parts

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Ledger entries (ledger.py): the cgroup hierarchies rtlab mounted, and the
# mount points it created for them.
CGROUP_MOUNTS = "cgroup_mounts"
CGROUP_MOUNT_DIRS = "cgroup_mount_dirs"
# controller → where it was bound before set-up moved it (cgroups.bindings()),
# what purge checks it gave back
CGROUP_BINDINGS = "cgroup_bindings_before"

# Debian packages rtlab needs, by the command each provides: the known runtimes'
# (runtimes.KNOWN: each entry names its package), then the tools.
DEBIAN_PACKAGES: dict[str, str] = {
    **runtime_packages(),
    "busybox": "busybox-static",
    "hyperfine": "hyperfine",
    # rootless trials (rootless.py): newuidmap/newgidmap, and podman's rootless network and storage
    "newuidmap": "uidmap",
    "slirp4netns": "slirp4netns",
    "fuse-overlayfs": "fuse-overlayfs",
    # collect --trace (collect/tracing.py): bpftrace on tracepoints
    "bpftrace": "bpftrace",
    # the CRI's pod network namespaces and bridge (cri.py)
    "ip": "iproute2",
    # the CNI plugins of rtlab's CRI pod network (cri.py): not on PATH, so by path
    "/usr/lib/cni/bridge": "containernetworking-plugins",
}


def client_packages() -> dict[str, str]:
    """command → Debian package of every registered client (collect/clients/: its ``package``
    and the ``package_commands`` whose absence means the package is missing)."""
    parts.require()
    return {
        cmd: cls.package
        for cls in parts.CLIENTS.values()
        if cls.package
        for cmd in cls.package_commands
    }


def command_packages() -> dict[str, str]:
    """command → Debian package: the runtimes and tools above, and the clients."""
    return {**DEBIAN_PACKAGES, **client_packages()}


def _read(path: Path | str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def fs_type(path: Path) -> str:
    """Filesystem type of the mount at ``path`` ("" when not a mount point)."""
    best = ("", "")
    for line in _read("/proc/self/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == str(path):
            best = (parts[1], parts[2])
    return best[1]


def cgroup_mode() -> str:
    """``v2`` (unified), ``hybrid`` (v1 controllers plus a v2 mount) or ``v1``."""
    if fs_type(CGROUP_ROOT) == "cgroup2":
        return "v2"
    if fs_type(CGROUP_ROOT / "unified") == "cgroup2":
        return "hybrid"
    return "v1"


def unified_controllers() -> list[str]:
    """Controllers the v2 hierarchy holds in hybrid mode."""
    return _read(CGROUP_ROOT / "unified" / "cgroup.controllers").split()


def rlimits() -> dict[str, list[int]]:
    """Soft and hard limits that container runtimes apply (-1 = unlimited)."""
    out = {}
    for name in ("NOFILE", "NPROC"):
        soft, hard = resource.getrlimit(getattr(resource, f"RLIMIT_{name}"))
        out[name.lower()] = [soft, hard]
    return out


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    return list(os.getloadavg())


def cpu_governor() -> str | None:
    return _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") or None


def cpu_frequency_mhz() -> float | None:
    value = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    return int(value) / 1000 if value.isdigit() else None


def security() -> dict[str, str | None]:
    apparmor = _read("/sys/module/apparmor/parameters/enabled") or None
    seccomp = _read("/proc/sys/kernel/seccomp/actions_avail") or None
    return {"apparmor": apparmor, "seccomp_actions": seccomp}


def identity() -> dict:
    """What must match to merge or compare runs (docs/DESIGN.md, "The data contract")."""
    return {
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cgroup_mode": cgroup_mode(),
    }


def facts() -> dict:
    """Host facts for ``run.json`` and ``rtlab doctor``."""
    try:
        mem_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem_bytes = None
    return {
        **identity(),
        "memory_bytes": mem_bytes,
        "os": _os_release(),
        "unified_controllers": unified_controllers(),
        "rlimits": rlimits(),
        "cpu_governor": cpu_governor(),
        "cpu_mhz": cpu_frequency_mhz(),
        "load_average": load_average(),
        "security": security(),
        "is_root": os.geteuid() == 0,
        # issue 34: whether this collect ran in a container (make image), and the node
        "container": container.facts(),
    }


# The Python packages whose versions can move a result (recorded in run.json).
PYTHON_PACKAGES = ("numpy", "pandas", "scipy", "matplotlib", "seaborn", "papermill")


def python_packages() -> dict[str, str | None]:
    """``python`` and each of :data:`PYTHON_PACKAGES` → installed version (None: absent).

    Read from the installed metadata, not by importing: collecting never loads them.
    """
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PYTHON_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _os_release() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def prepare_cgroups(say: Callable[[str], None] = print) -> list[str]:
    """Make the host's cgroups usable by every runtime; return what was changed.

    crun 1.8 refuses hybrid mode while the v2 hierarchy holds a controller (on
    these hosts ``hugetlb``). Mounting that controller's v1 hierarchy moves it
    off v2, and crun then works. Nothing is done in v1 or v2 mode, or when the
    v2 hierarchy is already empty. Where each controller was bound before is
    recorded in the ledger, for purge to check it gave it back.

    A controller bound to a hidden v1 hierarchy (mounted nowhere: an earlier
    unmount left child cgroups behind) is first given back to v2 when none of
    that hierarchy's cgroups holds a process; otherwise set-up says why not.
    """
    changed: list[str] = []
    if cgroup_mode() != "hybrid":
        return changed
    changed += _repair_hidden(say)
    for controller in unified_controllers():
        target = CGROUP_ROOT / controller
        if fs_type(target) == "cgroup":
            continue
        ledger.set_in(CGROUP_BINDINGS, controller, cgroups.bindings().get(controller, cgroups.V2))
        # /sys/fs/cgroup is a tmpfs in hybrid mode: a mount point can be made.
        made_dir = not target.exists()
        target.mkdir(exist_ok=True)
        subprocess.run(
            ["mount", "-t", "cgroup", "-o", controller, "cgroup", str(target)],
            check=True,
            capture_output=True,
            text=True,
        )
        ledger.add(CGROUP_MOUNTS, str(target))
        if made_dir:
            ledger.add(CGROUP_MOUNT_DIRS, str(target))
        msg = (
            f"mounted the v1 {controller} hierarchy at {target} "
            f"(moves {controller} off cgroup v2 so crun accepts hybrid mode)"
        )
        say(msg)
        changed.append(msg)
    return changed


def _repair_hidden(say: Callable[[str], None]) -> list[str]:
    """Give controllers bound to hidden v1 hierarchies back to v2 (see prepare_cgroups)."""
    changed = []
    for hierarchy, controllers in sorted(cgroups.hidden().items()):
        names = ",".join(sorted(controllers))
        why = cgroups.release_hidden(sorted(controllers))
        if why is None:
            msg = (
                f"gave {names} back to cgroup v2: it was bound to a hidden v1 hierarchy "
                f"({hierarchy}, mounted nowhere; an earlier unmount left empty cgroups in it)"
            )
        else:
            msg = (
                f"{names} is bound to a hidden v1 hierarchy ({hierarchy}, mounted nowhere) "
                f"that set-up cannot give back to v2: {why}"
            )
        say(msg)
        if why is None:
            changed.append(msg)
    return changed


# What scripts/bootstrap.sh installs before rtlab runs, and what `make test` adds
# for the browser test (tests only; rtlab itself never starts them).
BOOTSTRAP_PACKAGES = ("python3", "python3-venv", "git")
# The pull experiment's registry and image copier (registry.py, issue 33), by the file
# each provides: set-up installs them through registry.install, which records in the
# ledger the ones it installed, so purge removes exactly those.
REGISTRY_PACKAGES: dict[str, str] = {
    "/usr/bin/docker-registry": "docker-registry",
    "/usr/bin/skopeo": "skopeo",  # the independent check of a pull (issue 33)
    "/usr/bin/zstd": "zstd",  # the zstd images' layers (pull_images.py)
}
TEST_PACKAGES = ("chromium", "chromium-driver")


def setup_packages() -> set[str]:
    """Every Debian package set-up installs (rtlab setup and scripts/bootstrap.sh), with the
    packages that hold Debian's own python3 (python3's dependencies, e.g. python3-minimal
    and python3.11-minimal: the interpreter of set-up's user copy, user_copy.py)."""
    system_python = {
        package
        for p in ("/usr/bin/python3", os.path.realpath("/usr/bin/python3"))
        if os.path.exists(p) and (package := package_of(p))
    }
    return {
        *command_packages().values(),
        *BOOTSTRAP_PACKAGES,
        *REGISTRY_PACKAGES.values(),
        *system_python,
    }


def _path_variants(path: str) -> list[str]:
    """``path`` and its merged-/usr twins (dpkg records one of them)."""
    out = [path, os.path.realpath(path)]
    for p in list(out):
        for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/")):
            if p.startswith(a):
                out.append(b + p[len(a) :])
            elif p.startswith(b):
                out.append(a + p[len(b) :])
    return list(dict.fromkeys(out))


def package_of(path: str) -> str | None:
    """The Debian package that installed the file ``path`` (None: none, or no dpkg)."""
    if shutil.which("dpkg-query") is None:
        return None
    for candidate in _path_variants(path):
        out = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if line.startswith("diversion by "):
                return line.split()[2]
            pkg, sep, rest = line.partition(": ")
            if sep and rest.strip() == candidate:
                return pkg.split(":")[0].split(",")[0].strip()
    return None


def is_base_package(package: str) -> bool:
    """True for Debian's essential and required packages (on every Debian host)."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Essential} ${Priority}", package], capture_output=True, text=True
    )
    essential, _, priority = out.stdout.partition(" ")
    return out.returncode == 0 and (essential == "yes" or priority.strip() == "required")


def missing_packages() -> list[str]:
    """Debian packages whose command is not on PATH."""
    return sorted({pkg for cmd, pkg in command_packages().items() if shutil.which(cmd) is None})


def install_packages(packages: list[str], say: Callable[[str], None] = print) -> None:
    """Install Debian packages with apt-get (root)."""
    if not packages:
        return
    if shutil.which("apt-get") is None:
        raise RuntimeError(
            f"cannot install {', '.join(packages)}: apt-get not found "
            "(rtlab setup supports Debian and Ubuntu hosts)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say(f"installing Debian packages: {' '.join(packages)}")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    # with recommends: podman needs them (conmon helpers, netavark, slirp4netns) as tested here
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)
