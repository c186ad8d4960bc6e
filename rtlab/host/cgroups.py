"""cgroup v1 hierarchies on a hybrid host: where each controller is bound, and how
to give a controller back to the v2 hierarchy.

A controller is bound to exactly one hierarchy (``/proc/cgroups``' second
column; 0 is the v2 hierarchy). Mounting a v1 hierarchy with a controller moves
it there; unmounting gives it back to v2 only if no child cgroup is left below
the hierarchy's root. With children left the kernel keeps the hierarchy alive,
mounted nowhere (a *hidden* hierarchy), and the controller stays bound to it.
So :func:`release` removes the empty children, deepest first, before it
unmounts, and never touches a cgroup that holds a process. A removed cgroup is
freed a little later (the kernel's grace period), and an unmount made before
that still finds a child and keeps the hierarchy: measured here, an unmount right
after the last ``rmdir`` left ``hugetlb`` bound with ``num_cgroups`` 1. So
:func:`release` waits for ``/proc/cgroups`` to count the root alone before it
unmounts, and for the controller to be bound to v2 after.

Stdlib only: ``make purge`` runs this without the venv.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

PROC_CGROUPS = Path("/proc/cgroups")
PROC_MOUNTS = Path("/proc/self/mounts")
# The kernel frees a removed cgroup, and a released hierarchy, after a grace period:
# how long to wait for either before saying it did not happen.
SETTLE_S = 10.0
V2 = "v2"
HIDDEN = "hidden v1 hierarchy"


def _table() -> dict[str, tuple[int, int]]:
    """controller → (hierarchy, number of cgroups in it), enabled controllers only."""
    out: dict[str, tuple[int, int]] = {}
    try:
        lines = PROC_CGROUPS.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and not line.startswith("#") and parts[3] == "1":
            out[parts[0]] = (int(parts[1]), int(parts[2]))
    return out


def hierarchies() -> dict[str, int]:
    """controller → the hierarchy it is bound to (0: the v2 hierarchy), enabled ones only."""
    return {controller: row[0] for controller, row in _table().items()}


def _wait(done, timeout: float = SETTLE_S) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def v1_mount_points() -> dict[str, list[str]]:
    """controller → mount points of the v1 hierarchies that hold it (this mount namespace)."""
    out: dict[str, list[str]] = {}
    try:
        lines = PROC_MOUNTS.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "cgroup":
            for option in parts[3].split(","):
                out.setdefault(option, []).append(parts[1])
    return out


def bindings() -> dict[str, str]:
    """controller → where it is bound, by name: ``v2``, ``v1 at <mount points>`` or
    ``hidden v1 hierarchy`` (bound to a v1 hierarchy that is mounted nowhere here).
    Hierarchy numbers are left out: they change with every mount."""
    mounts = v1_mount_points()
    out = {}
    for controller, hierarchy in hierarchies().items():
        if hierarchy == 0:
            out[controller] = V2
        elif mounts.get(controller):
            out[controller] = "v1 at " + ", ".join(sorted(mounts[controller]))
        else:
            out[controller] = HIDDEN
    return out


def hidden() -> dict[int, list[str]]:
    """hierarchy → its controllers, for every hierarchy that is bound but mounted nowhere."""
    mounts = v1_mount_points()
    out: dict[int, list[str]] = {}
    for controller, hierarchy in hierarchies().items():
        if hierarchy != 0 and not mounts.get(controller):
            out.setdefault(hierarchy, []).append(controller)
    return out


def children(mount: Path) -> list[Path]:
    """The cgroups below the hierarchy's root, deepest first."""
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(mount):
        found += [Path(dirpath) / d for d in dirnames]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def busy(mount: Path) -> list[str]:
    """Cgroups below the hierarchy's root that hold a process (relative paths)."""
    out = []
    for cgroup in children(mount):
        try:
            if (cgroup / "cgroup.procs").read_text().strip():
                out.append(str(cgroup.relative_to(mount)))
        except OSError:
            continue
    return sorted(out)


def release(mount: Path) -> str | None:
    """Remove the empty cgroups below ``mount`` (deepest first), wait for the kernel to
    free them, unmount it, and wait for its controllers to be bound to v2 again.
    None when done; else why not (nothing is removed or unmounted while a cgroup
    below holds a process)."""
    in_use = busy(mount)
    if in_use:
        return f"{len(in_use)} cgroup(s) below it hold a process ({', '.join(in_use[:3])})"
    controllers = [
        c for c, points in v1_mount_points().items() if str(mount) in points and c in hierarchies()
    ]
    for cgroup in children(mount):
        try:
            cgroup.rmdir()
        except OSError as exc:
            return f"could not remove the cgroup {cgroup}: {exc.strerror}"
    if not _wait(lambda: all(_table()[c][1] <= 1 for c in controllers)):
        counts = ", ".join(f"{c} {_table()[c][1]}" for c in controllers)
        return f"the kernel still counts cgroups in it after {SETTLE_S:.0f} s ({counts}); not unmounted"
    out = subprocess.run(["umount", str(mount)], capture_output=True, text=True)
    if out.returncode != 0:
        return f"could not unmount it: {out.stderr.strip()}"
    if not _wait(lambda: all(hierarchies().get(c) == 0 for c in controllers)):
        return (
            f"unmounted, but {', '.join(controllers)} still bound to hierarchy "
            f"{', '.join(str(hierarchies().get(c)) for c in controllers)} after {SETTLE_S:.0f} s"
        )
    return None


def release_hidden(controllers: list[str]) -> str | None:
    """Give a hidden hierarchy's ``controllers`` back to v2: mount the hierarchy on a
    temporary folder (the kernel re-attaches the existing one), then :func:`release`
    it. None when done; else why not."""
    point = Path(tempfile.mkdtemp(prefix="rtlab-cgroup-"))
    try:
        out = subprocess.run(
            ["mount", "-t", "cgroup", "-o", ",".join(controllers), "cgroup", str(point)],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            return f"could not mount it to look inside: {out.stderr.strip()}"
        why = release(point)
        if why is not None:
            subprocess.run(["umount", str(point)], capture_output=True)
        return why
    finally:
        try:
            point.rmdir()
        except OSError:
            pass


def parse_membership(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` → hierarchy → path: ``"v2"`` for the unified line
    (``0::/path``), ``"v1 <controllers>"`` for each v1 hierarchy; named ones as written."""
    out = {}
    for line in text.splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not hid:
            continue
        out["v2" if hid == "0" and not controllers else f"v1 {controllers}"] = path
    return out


def placement(container: str, parent: str) -> str:
    """Which cgroup a container's process got, from its ``/proc/<pid>/cgroup`` text and
    that of the process that started it: ``"none (…)"`` when it stayed in every one of
    its parent's cgroups (nothing was made for it), else each hierarchy where it has
    one of its own, v1 hierarchies of one path together, e.g. ``"v1 cpu,cpuacct,memory
    /rtlab-x; v2 /rtlab-x"``."""
    mine, theirs = parse_membership(container), parse_membership(parent)
    own: dict[str, list[str]] = {}  # path → the hierarchies where the container has it
    for h, path in sorted(mine.items()):
        if theirs.get(h) != path:
            own.setdefault(path, []).append(h)
    if not own:
        return "none (the container stays in the cgroups of the process that started it)"
    parts = []
    for path, names in own.items():
        v1 = [h.removeprefix("v1 ") for h in names if h.startswith("v1 ")]
        parts += [f"v1 {','.join(v1)} {path}"] if v1 else []
        parts += [f"v2 {path}"] if "v2" in names else []
    return "; ".join(sorted(parts, key=lambda x: (x.startswith("v2"), x)))


def placement_of(pid: int, parent_pid: int | None = None) -> str:
    """:func:`placement` of a live process against ``parent_pid`` (default: this one)."""
    mine = Path(f"/proc/{pid}/cgroup").read_text()
    theirs = Path(f"/proc/{parent_pid or 'self'}/cgroup").read_text()
    return placement(mine, theirs)
