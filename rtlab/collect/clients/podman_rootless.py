"""podman run rootless, as rtlab's unprivileged user (rootless.py), over runc or crun.

Every podman call is behind rootless.py's ``setpriv`` wrapper, with podman's own
storage for the user (``--root``/``--runroot``/``--tmpdir`` in the user's home,
under rtlab's state folder: purge removes it with the user), the storage driver
``overlay`` (the kernel's own, unprivileged in a user namespace: kernel ≥ 5.11;
fuse-overlayfs not needed here; run.json's ``overlay`` says which podman used), ``--cgroup-manager cgroupfs`` (no systemd user
session), ``--events-backend file`` and, as rootful, ``--network none``. The
image is loaded into that storage from rtlab's archive before the first trial.
podman keeps a "pause" process holding the user namespace: :meth:`finish` ends
it (by the pid in its pid file, only when that process is the user's) after
the run's containers are removed.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from rtlab.collect.clients.podman import PodmanTarget, podman_binary
from rtlab.host import archive, rootless
from rtlab.host.cleanup import CONTAINER_PREFIX

RUNROOT_MAX = 50  # podman 4.3 refuses a longer --runroot
PAUSE_PID_FILES = ("tmp/pause.pid", "run/libpod/tmp/pause.pid")  # under the user's store


def podman_argv(binary: str, store: Path, driver: str = "overlay") -> list[str]:
    """podman with the rootless user's own storage under ``store`` (no wrapper)."""
    return [
        binary,
        "--root",
        str(store / "storage"),
        "--runroot",
        str(store / "run"),
        "--tmpdir",
        str(store / "tmp"),
        "--storage-driver",
        driver,
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
    ]


def remove_dead_containers(acct: rootless.Account, say=print) -> list[str]:
    """rtlab's containers in ``acct``'s podman storage, removed (``rm --force``, as the user),
    then podman's pause process the calls started ended: for rootless.sweep_dead, after the
    user's processes are killed (no run of the user is live)."""
    import shutil
    import subprocess

    store = acct.home / "podman"
    binary = shutil.which("podman")
    if binary is None or not (store / "storage").is_dir():
        return []
    for pid_file in PAUSE_PID_FILES:  # its pause process is dead (maybe a zombie not reaped
        (store / pid_file).unlink(missing_ok=True)  # yet): podman would try to join it
    argv = [*rootless.wrapper(acct), *podman_argv(binary, store)]
    # the containers' conmon died with the run: podman refuses to start a new user namespace
    # while its database says they run, until "system migrate" stops them
    migrated = subprocess.run(
        [*argv, "system", "migrate"], capture_output=True, text=True, timeout=120, cwd=rootless.CWD
    )
    if migrated.returncode != 0:
        say(
            f"could not reset {acct.name}'s podman (system migrate): "
            f"{(migrated.stderr.strip().splitlines() or ['?'])[-1]}"
        )
    listed = subprocess.run(
        [*argv, "ps", "--all", "--filter", f"name={CONTAINER_PREFIX}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=rootless.CWD,
    )
    removed = []
    if listed.returncode != 0:
        say(
            f"could not list {acct.name}'s podman containers: "
            f"{(listed.stderr.strip().splitlines() or ['?'])[-1]}"
        )
    for name in listed.stdout.split():
        if not name.startswith(CONTAINER_PREFIX):
            continue
        done = subprocess.run(
            [*argv, "rm", "--force", "--time", "0", name],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=rootless.CWD,
        )
        if done.returncode == 0:
            removed.append(f"podman container {name} of {acct.name}")
        else:
            say(
                f"could not remove podman container {name} of {acct.name}: "
                f"{(done.stderr.strip().splitlines() or ['?'])[-1]}"
            )
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the pause process those calls started, gone
        pids = [pid for pid in rootless._pids_of(acct.uid) if not rootless._zombie(pid)]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return removed


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
        prefix = rootless.argv_prefix(self.account)
        return [*prefix, *podman_argv(self.binary, self.store, self.STORAGE_DRIVER)]

    def unavailable_reason(self) -> str | None:
        acct = self.account
        why = rootless.unavailable_reason(self.runtime.name, acct)
        if why or acct is None:
            return why
        if self.workload.image:
            return "rootless podman runs only rtlab's own image (loaded into the user's storage)"
        if self._static_ok:
            return None
        if podman_binary() is None:
            return "podman not installed (Debian package podman; rtlab setup installs it)"
        version, why = self.runtime.version()
        if version is None:
            return why
        rootless.start_run(self.workdir, acct=acct)  # dead runs' leftovers go first
        no_image = self._load_image()
        if no_image:
            return no_image
        self._static_ok = True
        return None

    def _load_image(self) -> str | None:
        """rtlab's image in the user's own storage (loaded from the archive when absent)."""
        acct = self.account
        assert acct is not None
        if len(str(self.store / "run")) > RUNROOT_MAX:
            return (
                f"podman's runroot {self.store / 'run'} is longer than podman's "
                f"{RUNROOT_MAX}-character limit: give {acct.name} a shorter home"
            )
        for sub in ("", "storage", "run", "tmp"):
            rootless.user_dir(acct, self.store / sub if sub else self.store)
        os.chmod(self.store / "run", 0o700)
        ref = self.workload.image_ref()
        m = self.quiet([*self.client_argv, "image", "exists", ref])
        if m.ok:
            return None
        path, _ = archive.build_archive()
        m = self.quiet([*self.client_argv, "load", "-i", str(path)], timeout_s=120)
        return (
            None
            if m.ok
            else f"could not load the image into {acct.name}'s podman storage: "
            f"{m.describe_failure()}"
        )

    def finish(self) -> list[str]:
        acct = self.account
        if acct is None:
            return []
        errors = []
        for pid_file in (self.store / f for f in PAUSE_PID_FILES):
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
                    errors.append(
                        f"{self.label} (rootless): could not stop podman's pause "
                        f"process {pid}: {exc}"
                    )
        return errors

    def config(self) -> dict:
        acct = self.account
        return {
            **super().config(),
            "mode": self.mode,
            "user": acct.name if acct else None,
            "uid": acct.uid if acct else None,
            "wrapper": rootless.wrapper(acct) if acct else None,
            "storage": str(self.store),
            "overlay": self.overlay_kind(),
            "network": "none (--network none, as rootful: no slirp4netns or pasta process)",
            "slirp4netns": self.slirp4netns(),
            "image_id": self._image_id(),
        }

    def overlay_kind(self) -> str | None:
        """Which overlay podman's storage uses, from ``podman info`` as the user: the
        kernel's own (native, unprivileged in a user namespace) or fuse-overlayfs (a
        ``mount_program``)."""
        store = self.info().get("store") or {}
        options, status = store.get("graphOptions") or {}, store.get("graphStatus") or {}
        program = next((v for k, v in options.items() if k.endswith("mount_program")), None)
        if program:
            return f"fuse-overlayfs ({program.get('Executable', program) if isinstance(program, dict) else program})"
        if store.get("graphDriverName") == "overlay":
            native = status.get("Native Overlay Diff")
            return "native kernel overlay" + (
                "" if native == "true" else f" (native overlay diff: {native})"
            )
        return None

    def slirp4netns(self) -> str | None:
        """The slirp4netns podman would use for a rootless network (not used: --network none)."""
        found = (self.info().get("host") or {}).get("slirp4netns") or {}
        version = str(found.get("version") or "").splitlines()
        return (
            f"{found.get('executable')} {version[0]}"
            if found.get("executable") and version
            else None
        )

    def _image_id(self) -> str | None:
        m = self.quiet(
            [
                *self.client_argv,
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                self.workload.image_ref(),
            ]
        )
        return m.stdout.strip() or None if m.ok else None
