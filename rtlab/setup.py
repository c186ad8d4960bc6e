"""``rtlab setup``: make this host ready to measure (idempotent, as root).

Installs the Debian packages that are missing, prepares cgroups for crun, builds
the offline busybox image, and (see daemons.py) starts the daemons that are not
running and imports the image into them. Says what it changed.
"""

from __future__ import annotations

import os
from typing import Callable

from . import host, image


def setup(say: Callable[[str], None] = print) -> list[str]:
    """Prepare the host; return the list of changes made."""
    if os.geteuid() != 0:
        raise PermissionError("rtlab setup needs root (it installs packages and mounts cgroups)")
    changes: list[str] = []
    missing = host.missing_packages()
    if missing:
        host.install_packages(missing, say)
        changes.append(f"installed Debian packages: {' '.join(missing)}")
    changes += host.prepare_cgroups(say)
    root = image.build_rootfs()
    say(f"image: busybox rootfs at {root}")
    try:
        from . import daemons
    except ImportError:
        daemons = None
    if daemons is not None:
        changes += daemons.start_all(say)
        changes += daemons.import_images(say)
    say("setup: " + ("; ".join(changes) if changes else "nothing to change, host is ready"))
    return changes
