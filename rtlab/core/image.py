"""The offline test image: a busybox rootfs from busybox-static, and OCI bundles over it.

No registry and no download: the rootfs is the host's static busybox binary plus
one symlink per applet. The same rootfs is what the daemon clients import.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

# the checkout (or the user copy) rtlab runs from: notebooks/, data/, reports/ beside rtlab/
REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("RTLAB_STATE_DIR", "/var/lib/rtlab"))
RUNTIME_DIR = Path(os.environ.get("RTLAB_RUNTIME_DIR", "/run/rtlab"))

SLEEP_ARGS = ("sleep", "3600")
TRUE_ARGS = ("true",)


def repo_path(value: str | Path) -> Path:
    """``value`` as a path; a relative one is taken from the repository root (papermill,
    nbval and JupyterLab each start a notebook's kernel in another folder)."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def busybox_path() -> Path:
    found = shutil.which("busybox")
    if found is None:
        raise FileNotFoundError("busybox not found: install busybox-static (rtlab setup does)")
    return Path(found)


def _fingerprint(binary: Path) -> str:
    return hashlib.sha256(binary.read_bytes()).hexdigest()[:16]


def rootfs_dir(state_dir: Path = STATE_DIR) -> Path:
    return state_dir / "image" / "rootfs"


def build_rootfs(state_dir: Path = STATE_DIR) -> Path:
    """Build (or reuse) the busybox rootfs; return its path.

    Rebuilt only when missing or when the host's busybox changed.
    """
    busybox = busybox_path()
    root = rootfs_dir(state_dir)
    stamp = root.parent / "busybox.sha256"
    fingerprint = _fingerprint(busybox)
    if root.is_dir() and stamp.exists() and stamp.read_text().strip() == fingerprint:
        return root
    tmp = root.parent / "rootfs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("bin", "dev", "proc", "sys", "etc", "tmp", "root"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, tmp / "bin" / "busybox")
    applets = subprocess.run(
        [str(busybox), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (tmp / "bin" / applet).symlink_to("busybox")
    (tmp / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (tmp / "etc" / "group").write_text("root:x:0:\n")
    (tmp / "etc" / "hostname").write_text("rtlab\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    stamp.write_text(fingerprint + "\n")
    return root


def oci_config(args: Sequence[str], rootfs: Path, *, nofile: int = 1024) -> dict:
    """An OCI runtime config: no terminal, read-only root, a network namespace
    with no interfaces (no network), the runc defaults otherwise."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "rtlab",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


def write_bundle(path: Path, args: Sequence[str], rootfs: Path) -> Path:
    """Write an OCI bundle (a folder with config.json) whose root is ``rootfs``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(oci_config(args, rootfs), indent=1))
    return path


def derive_bundle(source: Path, path: Path, args: Sequence[str]) -> Path:
    """A bundle at ``path`` with ``source``'s config.json but process ``args``
    (its root made absolute, so the copy runs the same root filesystem)."""
    config = json.loads((source / "config.json").read_text())
    root = config.setdefault("root", {})
    root["path"] = str((source / root.get("path", "rootfs")).resolve())
    config.setdefault("process", {})["args"] = list(args)
    config["process"]["terminal"] = False
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return path
