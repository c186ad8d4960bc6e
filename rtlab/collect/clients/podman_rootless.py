"""podman run rootless, as rtlab's unprivileged user (rootless.py), over runc or crun.

Every podman call is behind rootless.py's ``setpriv`` wrapper, with podman's own
storage for the user (``--root``/``--runroot``/``--tmpdir`` in the user's home,
under rtlab's state folder: purge removes it with the user), the storage driver
``overlay`` (the kernel's own, unprivileged in a user namespace: kernel ≥ 5.11;
fuse-overlayfs not needed here), ``--cgroup-manager cgroupfs`` (no systemd user
session), ``--events-backend file`` and, as rootful, ``--network none``. The
image is loaded into that storage from rtlab's archive before the first trial.
podman keeps a "pause" process holding the user namespace: :meth:`finish` ends
it (by the pid in its pid file, only when that process is the user's) after
the run's containers are removed.
"""

from __future__ import annotations

import os
import signal
from typing import Optional

from rtlab.host import archive, rootless
from rtlab.collect.clients.podman import PodmanTarget


RUNROOT_MAX = 50  # podman 4.3 refuses a longer --runroot


class RootlessPodmanTarget(PodmanTarget):
    mode = "rootless"
    STORAGE_DRIVER = "overlay"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = rootless.account()
        home = self.account.home if self.account else rootless.HOME_ROOT / rootless.USER
        self.store = home / "podman"

    @property
    def condition(self) -> dict:
        return {"mode": self.mode}

    @property
    def client_argv(self) -> list[str]:
        acct = self.account
        prefix = rootless.wrapper(acct) if acct else ["setpriv", "--reuid=<rtlab-rootless>", "--"]
        s = self.store
        return [*prefix, self.binary, "--root", str(s / "storage"), "--runroot", str(s / "run"),
                "--tmpdir", str(s / "tmp"), "--storage-driver", self.STORAGE_DRIVER,
                "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def unavailable_reason(self) -> Optional[str]:
        if self.runtime.name in rootless.UNSUPPORTED:
            return rootless.UNSUPPORTED[self.runtime.name]
        if os.geteuid() != 0:
            return "rootless trials need root to switch to the rootless user (setpriv)"
        if self.account is None:
            return (f"no user {rootless.USER}: rtlab setup creates it (with /etc/subuid and "
                    "/etc/subgid ranges)")
        if self.workload.image:
            return "rootless podman runs only rtlab's own image (loaded into the user's storage)"
        if self._static_ok:
            return None
        from rtlab.host import daemons
        if daemons.podman_binary() is None:
            return "podman not installed (Debian package podman; rtlab setup installs it)"
        version, why = self.runtime.version()
        if version is None:
            return why
        why = self._load_image()
        if why:
            return why
        self._static_ok = True
        return None

    def _load_image(self) -> Optional[str]:
        """rtlab's image in the user's own storage (loaded from the archive when absent)."""
        acct = self.account
        assert acct is not None
        if len(str(self.store / "run")) > RUNROOT_MAX:
            return (f"podman's runroot {self.store / 'run'} is longer than podman's "
                    f"{RUNROOT_MAX}-character limit: give {acct.name} a shorter home")
        for sub in ("", "storage", "run", "tmp"):
            rootless.user_dir(acct, self.store / sub if sub else self.store)
        os.chmod(self.store / "run", 0o700)
        ref = self.workload.image_ref()
        m = self.quiet([*self.client_argv, "image", "exists", ref])
        if m.ok:
            return None
        path, _ = archive.build_archive()
        m = self.quiet([*self.client_argv, "load", "-i", str(path)], timeout_s=120)
        return None if m.ok else f"could not load the image into {acct.name}'s podman storage: " \
                                 f"{m.describe_failure()}"

    def finish(self) -> list[str]:
        acct = self.account
        if acct is None:
            return []
        errors = []
        for pid_file in (self.store / "tmp" / "pause.pid", self.store / "run" / "libpod" / "tmp" / "pause.pid"):
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            if pid in rootless._pids_of(acct.uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                except OSError as exc:
                    errors.append(f"{self.label} (rootless): could not stop podman's pause "
                                  f"process {pid}: {exc}")
        return errors

    def config(self) -> dict:
        acct = self.account
        return {**super().config(), "mode": self.mode,
                "user": acct.name if acct else None, "uid": acct.uid if acct else None,
                "wrapper": rootless.wrapper(acct) if acct else None,
                "storage": str(self.store),
                "network": "none (no slirp4netns: --network none, as rootful)",
                "image_id": self._image_id()}

    def _image_id(self) -> Optional[str]:
        m = self.quiet([*self.client_argv, "image", "inspect", "--format", "{{.Id}}",
                        self.workload.image_ref()])
        return m.stdout.strip() or None if m.ok else None
