"""The CRI from Python: one pod lifecycle through containerd's CRI plugin, each call timed.

A trial is the kubelet's path for one pod with one container::

    pod_run (RunPodSandbox) → create (CreateContainer) → start (StartContainer)
    → [untimed: ContainerStatus until RUNNING] → stop (StopContainer, timeout 0:
    SIGKILL at once, as the other clients' kill) → [untimed: until EXITED]
    → remove (RemoveContainer) → pod_stop (StopPodSandbox) → pod_remove (RemovePodSandbox)

Each step is timed around its gRPC call with ``time.perf_counter_ns`` (the
call's deadline is the trial's timeout). A failed step keeps its row with the
error; the later steps get "not run" rows, and what exists is torn down
(untimed). The pod's network is a recorded condition: ``host`` (the host's
network namespace, NamespaceOption network=NODE) or ``cni`` (a network
namespace of its own on rtlab's CNI bridge; CNI set-up is part of pod_run,
its teardown part of pod_stop).

Names carry rtlab's prefix: the pod ``rtlab-<token>-<seq>s`` with label
``rtlab.run=<token>``, its container ``rtlab-<token>-<seq>c``, so clean and
purge find exactly rtlab's pods (:func:`remove_pods`).

Stubs: PyPI ``container-runtime-interface-api`` (``cri_api.v1``), pinned in
requirements.lock with grpcio and protobuf.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import grpc
from cri_api.v1 import api_pb2 as pb
from cri_api.v1 import api_pb2_grpc

from rtlab.core.workload import SLEEP_ARGS
from rtlab.host import cri
from rtlab.host.cleanup import CONTAINER_PREFIX

Say = Callable[[str], None]

LABEL = "rtlab.run"
POD_NAMESPACE = "rtlab"
STEPS = ("pod_run", "create", "start", "stop", "remove", "pod_stop", "pod_remove")
POD_TO_RUNNING = ("pod_run", "create", "start")  # the derived "pod to running"
DEFAULT_TIMEOUT_S = 60.0
TEARDOWN_TIMEOUT_S = 30.0
POLL_S = 0.005


class CriCallError(RuntimeError):
    """A CRI call failed; ``line`` says which, and names containerd when it is gone."""

    def __init__(self, line: str, daemon_gone: bool = False, timed_out: bool = False):
        super().__init__(line)
        self.daemon_gone, self.timed_out = daemon_gone, timed_out
        self.wall_ns: int | None = None  # the failed call's time, when it was timed


@dataclass
class StepResult:
    """One timed CRI call (a row of the trial)."""

    step: str
    wall_ns: int | None = None
    ok: bool = False
    error: str = ""
    pod_id: str = ""
    container_id: str = ""
    timed_out: bool = False
    daemon_gone: bool = False

    @property
    def wall_s(self) -> float | None:
        return None if self.wall_ns is None else self.wall_ns / 1e9

    def as_row(self) -> dict:
        return {
            "step": self.step,
            "wall_s": self.wall_s,
            "wall_ns": self.wall_ns,
            "ok": self.ok,
            "error": self.error,
            "pod_id": self.pod_id,
            "container_id": self.container_id,
            "timed_out": self.timed_out,
        }


class CriClient:
    """RuntimeService and ImageService of a containerd's CRI over its unix socket."""

    def __init__(self, paths: cri.CriPaths | None = None, address: str | None = None):
        self.paths = paths or cri.CriPaths.default()
        self.address = address or self.paths.address
        self.channel = grpc.insecure_channel(self.address)
        self.runtime = api_pb2_grpc.RuntimeServiceStub(self.channel)
        self.images = api_pb2_grpc.ImageServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> CriClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, request, timeout_s: float, service=None):
        """Call ``method``; raise CriCallError with one line (naming containerd when gone)."""
        stub = service or self.runtime
        try:
            return getattr(stub, method)(request, timeout=timeout_s)
        except grpc.RpcError as exc:
            raise self._error(method, exc, timeout_s) from None

    def timed(self, method: str, request, timeout_s: float):
        """(response, nanoseconds) of one call, timed around the gRPC call alone."""
        stub = getattr(self.runtime, method)
        t0 = time.perf_counter_ns()
        try:
            response = stub(request, timeout=timeout_s)
        except grpc.RpcError as exc:
            elapsed = time.perf_counter_ns() - t0
            err = self._error(method, exc, timeout_s)
            err.wall_ns = elapsed
            raise err from None
        return response, time.perf_counter_ns() - t0

    def _error(self, method: str, exc: grpc.RpcError, timeout_s: float) -> CriCallError:
        code = exc.code() if hasattr(exc, "code") else None
        details = (exc.details() if hasattr(exc, "details") else str(exc)) or ""
        details = " ".join(details.split())[:300]
        if code == grpc.StatusCode.UNAVAILABLE:
            return CriCallError(
                f"{method}: containerd is not answering on {self.address} ({details})",
                daemon_gone=True,
            )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return CriCallError(
                f"{method}: no answer from containerd within {timeout_s:g} s", timed_out=True
            )
        return CriCallError(f"{method}: {code.name if code else 'error'}: {details}")

    # -- plain queries ----------------------------------------------------------------
    def version(self, timeout_s: float = 5.0) -> dict:
        v = self.call("Version", pb.VersionRequest(), timeout_s)
        return {
            "runtime_name": v.runtime_name,
            "runtime_version": v.runtime_version,
            "runtime_api_version": v.runtime_api_version,
        }

    def handlers(self, timeout_s: float = 5.0) -> list[str]:
        """Runtime handlers the live daemon knows (from its verbose Status config)."""
        import json

        st = self.call("Status", pb.StatusRequest(verbose=True), timeout_s)
        try:
            config = json.loads(st.info.get("config", "{}"))
            return sorted(config["containerd"]["runtimes"])
        except (ValueError, KeyError, TypeError):
            return []

    def pods(self, prefix: str = CONTAINER_PREFIX, timeout_s: float = 10.0) -> list:
        """Sandboxes whose name starts with ``prefix`` (rtlab's, by default)."""
        r = self.call("ListPodSandbox", pb.ListPodSandboxRequest(), timeout_s)
        return [p for p in r.items if p.metadata.name.startswith(prefix)]

    def containers(self, pod_id: str | None = None, timeout_s: float = 10.0) -> list:
        flt = pb.ContainerFilter(pod_sandbox_id=pod_id) if pod_id else None
        r = self.call("ListContainers", pb.ListContainersRequest(filter=flt), timeout_s)
        return list(r.containers)

    def container_state(self, cid: str, timeout_s: float) -> int:
        r = self.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid), timeout_s)
        return r.status.state

    def wait_state(self, cid: str, wanted: int, timeout_s: float) -> str | None:
        """Untimed: poll ContainerStatus until ``wanted``; None, or why not."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                state = self.container_state(cid, max(0.1, deadline - time.monotonic()))
            except CriCallError as exc:
                return str(exc)
            if state == wanted:
                return None
            if state == pb.CONTAINER_EXITED and wanted == pb.CONTAINER_RUNNING:
                return "the container exited before it was seen running"
            if time.monotonic() > deadline:
                return (
                    f"container did not reach {pb.ContainerState.Name(wanted)} within "
                    f"{timeout_s:g} s (it is {pb.ContainerState.Name(state)})"
                )
            time.sleep(POLL_S)

    # -- teardown ---------------------------------------------------------------------
    def remove_pod(self, pod_id: str, timeout_s: float = TEARDOWN_TIMEOUT_S) -> list[str]:
        """Force-remove a pod and its containers (untimed); errors as lines."""
        errors = []
        try:
            for c in self.containers(pod_id, timeout_s):
                try:
                    self.call(
                        "RemoveContainer", pb.RemoveContainerRequest(container_id=c.id), timeout_s
                    )
                except CriCallError as exc:
                    errors.append(str(exc))
        except CriCallError as exc:
            errors.append(str(exc))
        for method, req in (
            ("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod_id)),
            ("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id)),
        ):
            try:
                self.call(method, req, timeout_s)
            except CriCallError as exc:
                if "not found" not in str(exc).lower():
                    errors.append(str(exc))
                if exc.daemon_gone:
                    break
        return errors


# -- the pod lifecycle ----------------------------------------------------------------


@dataclass
class PodSpec:
    """What one trial's pod is: names, handler, network, image and command."""

    token: str
    seq: int
    handler: str
    network: str = "host"  # "host" (NODE) or "cni"
    image: str = cri.WORKLOAD_IMAGE
    command: tuple[str, ...] = SLEEP_ARGS
    labels: dict = field(default_factory=dict)

    @property
    def pod_name(self) -> str:
        return f"{CONTAINER_PREFIX}{self.token}-{self.seq:05d}s"

    @property
    def container_name(self) -> str:
        return f"{CONTAINER_PREFIX}{self.token}-{self.seq:05d}c"

    def sandbox_config(self) -> pb.PodSandboxConfig:
        mode = pb.NODE if self.network == "host" else pb.POD
        labels = {LABEL: self.token, **self.labels}
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(
                name=self.pod_name, uid=str(uuid.uuid4()), namespace=POD_NAMESPACE, attempt=0
            ),
            # a pod in the host's network namespace shares its UTS namespace too: no hostname
            hostname="rtlab" if self.network == "cni" else "",
            labels=labels,
            linux=pb.LinuxPodSandboxConfig(
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=mode, pid=pb.CONTAINER, ipc=pb.POD)
                )
            ),
        )

    def container_config(self) -> pb.ContainerConfig:
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=self.container_name, attempt=0),
            image=pb.ImageSpec(image=self.image),
            command=list(self.command),
            labels={LABEL: self.token, **self.labels},
            linux=pb.LinuxContainerConfig(),
        )


def check_request(handler: str, network: str, client: CriClient, timeout_s: float = 5.0) -> None:
    """Refuse (CriError, one line) a handler the live daemon does not know, or an unknown
    network mode, before anything runs."""
    if network not in cri.NETWORK_MODES:
        raise cri.CriError(
            f"unknown CRI network {network!r}; choose from {', '.join(cri.NETWORK_MODES)}"
        )
    try:
        known = client.handlers(timeout_s)
    except CriCallError as exc:
        raise cri.CriError(str(exc)) from None
    if handler not in known:
        raise cri.CriError(
            f"unknown CRI runtime handler {handler!r}; containerd on "
            f"{client.address} has: {', '.join(known) or 'none'}"
        )


def pod_lifecycle(
    client: CriClient,
    spec: PodSpec,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    before_step: Callable[[str], None] = lambda step: None,
    say: Say = lambda line: None,
) -> list[StepResult]:
    """One pod through the seven CRI steps; a StepResult per step, always seven.

    ``before_step(name)`` runs just before each timed call (where the trial
    runner's pace and cache drops go). A failure keeps its row with the error;
    the later steps are "not run"; the pod and its container are removed
    (untimed) whatever happened. containerd gone: the error names containerd and
    the remaining rows say so; ``rtlab clean`` removes the pod once it is back.
    """
    results: list[StepResult] = []
    pod_id = cid = ""
    sandbox_config = spec.sandbox_config()
    requests = {
        "pod_run": lambda: (
            "RunPodSandbox",
            pb.RunPodSandboxRequest(config=sandbox_config, runtime_handler=spec.handler),
        ),
        "create": lambda: (
            "CreateContainer",
            pb.CreateContainerRequest(
                pod_sandbox_id=pod_id, config=spec.container_config(), sandbox_config=sandbox_config
            ),
        ),
        "start": lambda: ("StartContainer", pb.StartContainerRequest(container_id=cid)),
        "stop": lambda: ("StopContainer", pb.StopContainerRequest(container_id=cid, timeout=0)),
        "remove": lambda: ("RemoveContainer", pb.RemoveContainerRequest(container_id=cid)),
        "pod_stop": lambda: ("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod_id)),
        "pod_remove": lambda: (
            "RemovePodSandbox",
            pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id),
        ),
    }
    waits = {"start": pb.CONTAINER_RUNNING, "stop": pb.CONTAINER_EXITED}
    failed: StepResult | None = None
    for step in STEPS:
        if failed is not None:
            why = "containerd is gone" if failed.daemon_gone else f"{failed.step} failed"
            results.append(
                StepResult(step, error=f"not run: {why}", pod_id=pod_id, container_id=cid)
            )
            continue
        before_step(step)
        method, request = requests[step]()
        r = StepResult(step, pod_id=pod_id, container_id=cid)
        try:
            response, r.wall_ns = client.timed(method, request, timeout_s)
            r.ok = True
        except CriCallError as exc:
            r.wall_ns = getattr(exc, "wall_ns", None)
            r.error, r.timed_out, r.daemon_gone = str(exc), exc.timed_out, exc.daemon_gone
            failed = r
            results.append(r)
            continue
        if step == "pod_run":
            pod_id = r.pod_id = response.pod_sandbox_id
        elif step == "create":
            cid = r.container_id = response.container_id
        elif step == "remove":
            cid_removed = cid
            r.container_id = cid_removed
        if step in waits:
            not_there = client.wait_state(cid, waits[step], timeout_s)
            if not_there:
                r.ok, r.error = False, f"after {method}: {not_there}"
                failed = r
        results.append(r)
    if failed is not None and not failed.daemon_gone:
        # a RunPodSandbox that failed after containerd made the sandbox leaves it
        # (NOTREADY, with its network): find it by name
        ids = [pod_id] if pod_id else [p.id for p in _pods_named(client, spec.pod_name)]
        for pid_ in ids:
            for err in client.remove_pod(pid_):
                say(f"cri cleanup: {err}")
    return results


def _pods_named(client: CriClient, name: str) -> list:
    try:
        return [p for p in client.pods(name) if p.metadata.name == name]
    except CriCallError:
        return []


def remove_pods(
    token: str | None = None,
    paths: cri.CriPaths | None = None,
    say: Say = print,
    live: Iterable[str] = (),
) -> list[str]:
    """Remove every rtlab pod (of ``token``, or of every run not in ``live``) from rtlab's
    CRI containerd, with its containers and its network; return what was removed."""
    paths = paths or cri.CriPaths.default()
    if cri.down_reason(paths):
        return []
    prefix = f"{CONTAINER_PREFIX}{token}-" if token else CONTAINER_PREFIX
    live_prefixes = tuple(f"{CONTAINER_PREFIX}{t}-" for t in live)
    removed = []
    with CriClient(paths) as client:
        try:
            pods = client.pods(prefix)
        except CriCallError as exc:
            say(f"cri: could not list pods: {exc}")
            return []
        for pod in pods:
            if live_prefixes and pod.metadata.name.startswith(live_prefixes):
                continue
            errors = client.remove_pod(pod.id)
            for err in errors:
                say(f"cri: could not remove pod {pod.metadata.name}: {err}")
            if not errors:
                removed.append(f"cri pod {pod.metadata.name}")
    return removed
