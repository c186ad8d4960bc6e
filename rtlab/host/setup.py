"""``rtlab setup``: make this host ready to measure (idempotent, as root).

Installs the Debian packages that are missing, prepares cgroups for crun, builds
the offline busybox image, and (see daemons.py) starts the daemons that are not
running and imports the image into them. Says what it changed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable

from rtlab.core import image
from rtlab.core.runtimes import Runtime
from rtlab.host import cri, daemons, host, registry, rootless, user_copy


@rootless.starts_in_cwd
def setup(say: Callable[[str], None] = print, extra: Iterable[Runtime] = ()) -> list[str]:
    """Prepare the host; return the list of changes made.

    ``extra`` runtimes (``rtlab setup --runtime NAME=/PATH``) are registered with
    dockerd and get a containerd shim wrapper, so docker/NAME and ctr/NAME work.
    """
    if os.geteuid() != 0:
        raise PermissionError("rtlab setup needs root (it installs packages and mounts cgroups)")
    changes: list[str] = []
    missing = host.missing_packages()
    if missing:
        host.install_packages(missing, say)
        changes.append(f"installed Debian packages: {' '.join(missing)}")
    changes += host.prepare_cgroups(say)
    if not image.rootfs_dir().is_dir():
        say(
            f"image: building the busybox rootfs in {image.rootfs_dir()} (folders created as needed)"
        )
    root = image.build_rootfs()
    say(f"image: busybox rootfs at {root}")
    try:  # the unprivileged user of rootless trials (rootless.py)
        rootless.create_user(say=say)
    except rootless.RootlessError as exc:
        say(f"setup: rootless trials cannot run: {exc}")
    try:  # rtlab for users who cannot read this checkout (user_copy.py)
        changes += user_copy.install(say)
    except user_copy.UserCopyError as exc:
        say(f"setup: no user copy (analyze, compare and report for other users): {exc}")
    changes += daemons.start_all(say, extra)
    changes += daemons.import_images(say)
    # rtlab's own containerd for the CRI (cri.py), after the other daemons: the cri client
    try:
        served = cri.start(cri.default_runtimes(extra), say=say)
        changes.append(
            f"rtlab's CRI containerd serves handlers {', '.join(h.name for h in served)}"
        )
    except cri.CriError as exc:
        say(f"setup: the CRI is not ready: {exc}")
    try:  # the pull experiment's registry (registry.py): its packages, rtlab's own instance
        changes += registry.install(say)
        changes.append(f"rtlab's registry serves on {registry.start(say=say)}")
    except (registry.RegistryError, OSError, subprocess.CalledProcessError) as exc:
        say(f"setup: no registry for the pull experiment: {exc}")
    say("setup: " + ("; ".join(changes) if changes else "nothing to change, host is ready"))
    return changes
