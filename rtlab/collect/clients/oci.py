"""The runtime's own CLI (runc, crun, runsc …): the OCI lifecycle directly."""

from __future__ import annotations

import json

from rtlab.collect.clients.base import Target, state_name
from rtlab.core import image
from rtlab.host import cgroups


class OciTarget(Target):
    client = "oci"
    package = None  # the runtime's own package (runtimes.py)
    engine = False

    @property
    def rt_argv(self) -> list[str]:
        """The runtime's argv before a subcommand (rootless: wrapped, with its own --root)."""
        return list(self.runtime.argv)

    @property
    def base(self) -> list[str]:
        return self.rt_argv

    def prepare(self) -> None:
        wl = self.workload
        if wl.bundle is not None:  # the user's bundle as is; `run` gets a copy running `true`
            self.sleep_bundle = wl.bundle
            self.true_bundle = image.derive_bundle(
                wl.bundle, self.workdir / "bundle-true", wl.run_args()
            )
            return
        rootfs = image.build_rootfs()
        self.sleep_bundle = image.write_bundle(
            self.workdir / "bundle-sleep", wl.lifecycle_args(), rootfs
        )
        self.true_bundle = image.write_bundle(self.workdir / "bundle-true", wl.run_args(), rootfs)

    def probe_cgroup(self) -> str:
        """Which cgroup this target's containers get (issue 30): one container created
        from the lifecycle's bundle, its process's ``/proc/<pid>/cgroup`` read against
        rtlab's own (:func:`rtlab.host.cgroups.placement`), then removed. Untimed; run
        once per target before the run (run.json's target ``config``: ``cgroup``)."""
        cid = f"rtlab-{self.workdir.name}-probe-{self.runtime.name}-{self.mode}"
        made = self.quiet(
            [*self.rt_argv, "create", "--bundle", str(self.sleep_bundle), cid],
            timeout_s=self.timeout_s,
        )
        try:
            if not made.ok:
                return f"unknown (the probe container was not created: {made.describe_failure()})"
            m = self.quiet([*self.rt_argv, "state", cid], timeout_s=self.timeout_s)
            try:
                pid = int(json.loads(m.stdout).get("pid") or 0) if m.ok else 0
            except ValueError:
                pid = 0
            if pid <= 0:
                return "unknown (the probe container's state gave no pid)"
            try:
                return cgroups.placement_of(pid)
            except OSError as exc:
                return f"unknown (could not read /proc/{pid}/cgroup: {exc.strerror})"
        finally:
            self.remove(cid)

    def unavailable_reason(self) -> str | None:
        version, why = self.runtime.version()
        return None if version else why

    def commands(self, step: str, cid: str) -> list[list[str]]:
        rt = self.rt_argv
        sleep_b = str(getattr(self, "sleep_bundle", "<bundle-sleep>"))
        true_b = str(getattr(self, "true_bundle", "<bundle-true>"))
        return {
            "create": [[*rt, "create", "--bundle", sleep_b, cid]],
            "start": [[*rt, "start", cid]],
            "kill": [[*rt, "kill", cid, "KILL"]],
            "delete": [[*rt, "delete", cid]],
            "run": [[*rt, "run", "--bundle", true_b, cid]],
        }[step]

    def state(self, cid: str) -> str | None:
        m = self.quiet([*self.rt_argv, "state", cid], timeout_s=self.timeout_s)
        if not m.ok:
            return None
        try:
            return json.loads(m.stdout).get("status")
        except ValueError:
            return None

    def wait_stopped(self, cid: str, timeout_s: float) -> str | None:
        return self.poll_until_stopped(lambda: self.state(cid), "stopped", timeout_s)

    def status(self, cid: str) -> str | None:
        state = self.state(cid)
        if state is not None:
            return state_name(state)
        m = self.quiet([*self.rt_argv, "list", "--quiet"], timeout_s=self.timeout_s)
        return ("gone" if cid not in m.stdout.split() else None) if m.ok else None

    def remove(self, cid: str) -> list[str]:
        rt = self.rt_argv
        self.quiet([*rt, "kill", cid, "KILL"])
        m = self.quiet([*rt, "delete", "--force", cid])
        if m.ok or cid not in self.list_ids():
            return []
        return [f"{self.label}: could not delete {cid}: {m.describe_failure()}"]

    def list_ids(self) -> list[str]:
        m = self.quiet([*self.rt_argv, "list", "--quiet"])
        if not m.ok:
            return []
        return [line.strip() for line in m.stdout.splitlines() if line.strip().startswith("rtlab-")]

    def versions(self) -> dict[str, str | None]:
        version, _ = self.runtime.version()
        return {self.runtime.name: version}

    def config(self) -> dict:
        out = {"binary": self.runtime.path(), "flags": list(self.runtime.flags)}
        if self.cgroup:
            out["cgroup"] = self.cgroup
        return out
