"""The runtime's own CLI run rootless, as rtlab's unprivileged user (rootless.py).

Same steps and argv as collect/clients/oci.py, each behind ``setpriv --reuid --regid
--init-groups --reset-env --`` (the timer stays in rtlab's root process; the
wrapper's cost is in run.json's ``rootless_wrapper``), with ``--root`` a folder
the user owns in the run's work folder and a bundle ``runc spec --rootless``
generated as the user. No cgroup (none is delegated on this hybrid host): what each
container got is probed before the run (OciTarget.probe_cgroup) and kept in run.json.
"""

from __future__ import annotations

from rtlab.collect.clients.oci import OciTarget
from rtlab.core import image
from rtlab.host import rootless


class RootlessOciTarget(OciTarget):
    mode = "rootless"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = rootless.account()
        self.folder = self.workdir / f"rootless-{self.runtime.name}"

    @property
    def condition(self) -> dict:
        return {"mode": self.mode}

    @property
    def rt_argv(self) -> list[str]:
        prefix = rootless.argv_prefix(self.account)
        return [*prefix, *self.runtime.argv, "--root", str(self.folder / "root")]

    def unavailable_reason(self) -> str | None:
        acct = self.account
        why = rootless.unavailable_reason(self.runtime.name, acct)
        if why or acct is None:
            return why
        if not all(rootless.subid_ranges(acct.name).values()):
            return f"user {acct.name} has no /etc/subuid or /etc/subgid range: run rtlab setup"
        if self.workload.bundle is not None:
            return "rootless runs only rtlab's own bundle (runc spec --rootless), not --bundle"
        why = super().unavailable_reason()
        if why is None:  # what dead runs of the user left goes before this run acts as it
            rootless.start_run(self.workdir, acct)
        return why

    def prepare(self) -> None:
        acct = self.account
        assert acct is not None
        rootless.user_dir(acct, self.folder)
        rootless.user_dir(acct, self.folder / "root")
        rootfs = image.build_rootfs()
        wl = self.workload
        self.sleep_bundle = rootless.write_bundle(
            acct, self.folder / "bundle-sleep", wl.lifecycle_args(), rootfs
        )
        self.true_bundle = rootless.write_bundle(
            acct, self.folder / "bundle-true", wl.run_args(), rootfs
        )

    def config(self) -> dict:
        acct = self.account
        return {
            **super().config(),
            "mode": self.mode,
            "user": acct.name if acct else None,
            "uid": acct.uid if acct else None,
            "wrapper": rootless.wrapper(acct) if acct else None,
            "root": str(self.folder / "root"),
            "bundle": "runc spec --rootless, generated as the user; rtlab's rootfs read-only",
            "user_namespace": "uid/gid 0 → the user's own id (size 1)",
            "cgroup": getattr(self, "cgroup", None)
            or "not probed (no cgroup is delegated to the user on this hybrid host)",
            "network": "a network namespace with no interfaces (as rootful)",
        }
