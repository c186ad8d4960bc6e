"""The kubelet's path: containerd's CRI, over rtlab's own CRI containerd (cri.py).

A client of experiment ``cri`` only (experiments.py): each step is one gRPC call
timed in-process (an :class:`~rtlab.core.actions.Call`: ``pod_run`` RunPodSandbox,
``create`` CreateContainer, ``start`` StartContainer, ``stop`` StopContainer
with timeout 0, ``remove`` RemoveContainer, ``pod_stop`` StopPodSandbox,
``pod_remove`` RemovePodSandbox); the waits before ``stop`` (running) and
``remove`` (stopped) poll ContainerStatus, untimed. The pod network is the
target's condition (``network``: host or cni, a column of its rows); collect
makes one target per mode. The runtime is the CRI handler of the same name.

Names: the pod and its container are both named by the trial's container id
(``rtlab-<token>-<seq>l``), the pod labelled ``rtlab.run=<token>``, so
collect's clean-up, ``rtlab clean`` and purge find them (cri_client.remove_pods).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rtlab.collect.clients.base import Target
from rtlab.core.actions import Call, TimedAction
from rtlab.core.experiments import Step
from rtlab.host import cri
from rtlab.host.cleanup import CONTAINER_PREFIX, token_of

if TYPE_CHECKING:  # gRPC is imported lazily: only the CRI client needs it
    from rtlab.collect.cri_client import CriClient

# Measured here (issue 20): why a runtime cannot be a CRI handler on this host.
# (runsc itself runs through cri.py's wrapper, which stands in for the
# containerd-shim-runsc-v1 Debian does not ship.)
UNUSABLE = {
    "runsc-kvm": "runsc --platform=kvm hangs on this host (no usable KVM)",
}

_METHODS = {
    "pod_run": "RunPodSandbox",
    "create": "CreateContainer",
    "start": "StartContainer",
    "stop": "StopContainer",
    "remove": "RemoveContainer",
    "pod_stop": "StopPodSandbox",
    "pod_remove": "RemovePodSandbox",
}
# experiment cri-pull (collect/pull.py): the ImageService's call
_IMAGE_METHODS = {"pull": "PullImage"}


def _pb():
    from cri_api.v1 import api_pb2  # the venv's: only the CRI client needs gRPC

    return api_pb2


def _cri_client():
    """collect/cri_client.py, imported on first use: it imports grpc and the CRI's
    protobufs, which the system python3 of `make purge` lacks, and purge imports this
    module (the clients' registry fills host/parts.py)."""
    # function-level on purpose: grpc is the venv's only (make purge runs without it)
    from rtlab.collect import cri_client

    return cri_client


def _spec_class():
    PodSpec: Any = _cri_client().PodSpec  # a dataclass of cri_client.py

    @dataclass
    class NamedPod(PodSpec):
        """A PodSpec whose pod and container are named by the trial's container id."""

        name: str = ""

        @property
        def pod_name(self) -> str:
            return self.name

        @property
        def container_name(self) -> str:
            return self.name

    return NamedPod


class CriImages:
    """Experiment cri-pull's image through the CRI's ImageService (collect/pull.py):
    :class:`CriTarget`'s base, overriding :class:`~rtlab.collect.clients.base.PullStore`'s
    command-line defaults."""

    timeout_s: float
    pulled_image: str | None = None  # the trial's image

    def _image_call(self, method: str, request, timeout_s: float):
        raise NotImplementedError

    def use_image(self, ref: str) -> None:
        self.pulled_image = ref

    def has_image(self, ref: str) -> bool:
        pb = _pb()
        try:
            status = self._image_call(
                "ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=ref)), self.timeout_s
            )
        except Exception:  # noqa: BLE001 — CriCallError: cannot tell, so not there
            return False
        return bool(status.image.id)

    def remove_image(self, ref: str, timeout_s: float) -> str | None:
        pb = _pb()
        try:
            self._image_call(
                "RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)), timeout_s
            )
        except Exception as exc:  # noqa: BLE001 — CriCallError, one line
            return f"could not remove {ref} through the CRI: {exc}"
        return None

    def pull_untimed(self, ref: str, timeout_s: float) -> str | None:
        pb = _pb()
        try:
            self._image_call(
                "PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=ref)), timeout_s
            )
        except Exception as exc:  # noqa: BLE001 — CriCallError, one line
            return str(exc)
        return None


class CriTarget(CriImages, Target):
    client = "cri"
    package = "containerd"
    needs_daemons = ()  # rtlab's CRI containerd is cri.py's, not daemons.py's
    image_store = None  # cri.py imports its own pause and workload images into k8s.io
    package_commands = ("containerd",)
    experiment = "cri"

    def __init__(self, *args, network: str = cri.NETWORK_MODES[0], **kwargs):
        super().__init__(*args, **kwargs)
        self.network = network
        self.paths = cri.CriPaths.default()
        self._client: CriClient | None = None
        self._lock = threading.Lock()
        self.pulled_image: str | None = None  # experiment cri-pull: the trial's image
        self.pods: dict[
            str, dict
        ] = {}  # cid → {"pod_id", "container_id", "sandbox_config", "spec"}

    # -- conditions: one target per network mode --------------------------------------
    @property
    def condition(self) -> dict:
        return {"network": self.network}

    def variants(self, networks) -> list[Target]:
        return [
            CriTarget(
                self.runtime,
                self.workdir,
                timeout_s=self.timeout_s,
                workload=self.workload,
                network=n,
            )
            for n in networks
        ]

    # -- the gRPC client ------------------------------------------------------------
    @property
    def grpc(self):
        with self._lock:
            if self._client is None:
                self._client = _cri_client().CriClient(self.paths)
            return self._client

    def _image_call(self, method: str, request, timeout_s: float):
        return self.grpc.call(method, request, timeout_s, service=self.grpc.images)

    def _spec(self, cid: str):
        spec = _spec_class()(token_of(cid) or "", 0, self.runtime.name, self.network, name=cid)
        if self.pulled_image:
            spec.image = self.pulled_image
        return spec

    # -- steps ------------------------------------------------------------------------
    def step_actions(self, step: Step | str, cid: str) -> list[TimedAction]:
        name = step if isinstance(step, str) else step.name
        if name not in _METHODS and name not in _IMAGE_METHODS:
            raise KeyError(f"{self.client} has no step {name!r}")
        pb = _pb()
        method = _METHODS.get(name) or _IMAGE_METHODS[name]
        pod = self.pods.setdefault(cid, {"pod_id": "", "container_id": ""})
        box: dict = {}

        request = self._request(pb, name, pod, cid)  # built untimed: the call alone is timed
        service = self.grpc.images if name in _IMAGE_METHODS else self.grpc.runtime
        stub = getattr(service, method)

        def call() -> None:
            future = stub.future(request, timeout=self.timeout_s)
            box["future"] = future
            try:
                response = future.result()
            except Exception as exc:  # grpc.RpcError: one line, naming containerd when gone
                err = self.grpc._error(method, exc, self.timeout_s) if hasattr(exc, "code") else exc
                raise RuntimeError(str(err)) from None
            if name == "pod_run":
                pod["pod_id"] = response.pod_sandbox_id
            elif name == "create":
                pod["container_id"] = response.container_id

        def cancel() -> None:
            future = box.get("future")
            if future is not None:
                future.cancel()

        return [Call(call, f"CRI {method}", cancel)]

    def _request(self, pb, name: str, pod: dict, cid: str):
        if name == "pull":  # as the kubelet: the pod's sandbox config beside the image
            return pb.PullImageRequest(
                image=pb.ImageSpec(image=self.pulled_image or cri.WORKLOAD_IMAGE),
                sandbox_config=pod.get("sandbox_config"),
            )
        if name == "pod_run":
            spec = self._spec(cid)
            pod["spec"], pod["sandbox_config"] = spec, spec.sandbox_config()
            return pb.RunPodSandboxRequest(
                config=pod["sandbox_config"], runtime_handler=self.runtime.name
            )
        if name == "create":
            spec = pod.get("spec") or self._spec(cid)
            return pb.CreateContainerRequest(
                pod_sandbox_id=pod["pod_id"],
                config=spec.container_config(),
                sandbox_config=pod.get("sandbox_config"),
            )
        if name in ("start", "stop", "remove"):
            cls = {
                "start": pb.StartContainerRequest,
                "stop": pb.StopContainerRequest,
                "remove": pb.RemoveContainerRequest,
            }[name]
            extra = {"timeout": 0} if name == "stop" else {}  # SIGKILL at once, as a kill
            return cls(container_id=pod["container_id"], **extra)
        cls = pb.StopPodSandboxRequest if name == "pod_stop" else pb.RemovePodSandboxRequest
        return cls(pod_sandbox_id=pod["pod_id"])

    def argv_templates(self, steps=()) -> dict[str, list[list[str]]]:
        return {
            s: [
                [
                    "CRI",
                    _METHODS.get(s) or _IMAGE_METHODS[s],
                    f"handler={self.runtime.name}",
                    f"network={self.network}",
                ]
            ]
            for s in steps
            if s in _METHODS or s in _IMAGE_METHODS
        }

    def probe_actions(self, cid: str) -> Iterator[TimedAction]:
        """doctor's probe: one whole pod lifecycle (the CRI has no one-shot run)."""
        for step in _METHODS:  # each built once the step before it has run
            yield from self.step_actions(step, cid)

    # -- state ------------------------------------------------------------------------
    def status(self, cid: str) -> str | None:
        pb = _pb()
        container = self.pods.get(cid, {}).get("container_id")
        if not container:
            return "gone"
        try:
            state = self.grpc.container_state(container, self.timeout_s)
        except Exception as exc:  # noqa: BLE001 — CriCallError: not found is gone
            return "gone" if "not found" in str(exc).lower() else None
        return {
            pb.CONTAINER_CREATED: "created",
            pb.CONTAINER_RUNNING: "running",
            pb.CONTAINER_EXITED: "stopped",
        }.get(state)

    def wait_stopped(self, cid: str, timeout_s: float) -> str | None:
        return self.poll_until_stopped(
            lambda: self.status(cid), "stopped", timeout_s, give_up=self.give_up, what="after stop"
        )

    def give_up(self) -> str | None:
        return cri.down_reason(self.paths)

    # -- availability ---------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        if self.runtime.name in UNUSABLE:
            return UNUSABLE[self.runtime.name]
        _, missing = self.runtime.version()
        if missing:
            return missing  # e.g. "not installed (youki not found; …)", as every client says
        try:
            import grpc  # noqa: F401  (only whether it imports)
            from cri_api.v1 import api_pb2  # noqa: F401  (only whether it imports)
        except ImportError:
            return "the CRI client needs grpcio and container-runtime-interface-api (the venv)"
        if self.workload.image or self.workload.bundle or self.workload.cmd:
            return (
                "the cri client runs rtlab's own pause and workload images (cri.py); "
                "--image/--cmd/--bundle are not supported for it"
            )
        down = cri.down_reason(self.paths)
        if down:
            return f"{down}; `rtlab setup` starts it"
        if self.network not in cri.NETWORK_MODES:
            return (
                f"unknown CRI network {self.network!r}; choose from {', '.join(cri.NETWORK_MODES)}"
            )
        try:
            cri.check_handlers([self.runtime.name], self.paths)
        except cri.CriError as exc:
            return f"{exc} (`rtlab setup --runtime` adds one)"
        return None

    # -- clean-up -------------------------------------------------------------------
    def remove(self, cid: str) -> list[str]:
        self.pods.pop(cid, None)
        down = cri.down_reason(self.paths)
        if down:
            return [
                f"{self.label}: cannot remove pod {cid}: {down}; `rtlab clean` removes it "
                "once it runs again"
            ]
        errors = []
        try:
            pods = [p for p in self.grpc.pods(cid) if p.metadata.name == cid]
        except Exception as exc:  # noqa: BLE001 — CriCallError
            return [f"{self.label}: cannot list pods: {exc}"]
        for p in pods:
            errors += [f"{self.label}: pod {cid}: {e}" for e in self.grpc.remove_pod(p.id)]
        return errors

    def list_ids(self) -> list[str]:
        if cri.down_reason(self.paths):
            return []
        try:
            names = [p.metadata.name for p in self.grpc.pods(CONTAINER_PREFIX)]
        except Exception:  # noqa: BLE001
            return []
        return sorted(set(names))

    # -- metadata ---------------------------------------------------------------------
    def versions(self) -> dict[str, str | None]:
        version, _ = self.runtime.version()
        try:
            v = self.grpc.version()
            server = f"{v['runtime_name']} {v['runtime_version']} (CRI {v['runtime_api_version']})"
        except Exception:  # noqa: BLE001
            server = None
        return {"cri": server, self.runtime.name: version}

    def config(self) -> dict:
        return {
            "socket": str(self.paths.socket),
            "config": str(self.paths.config),
            "handler": self.runtime.name,
            "network": self.network,
            "handlers": cri.configured_handlers(self.paths),
            "pause_image": cri.PAUSE_IMAGE,
            "image": cri.WORKLOAD_IMAGE,
            "cni": {
                "conflist": str(self.paths.conflist),
                "bridge": cri.BRIDGE,
                "subnet": cri.SUBNET,
            }
            if self.network == "cni"
            else None,
            "timing": "each step one gRPC call, timed in-process (actions.Call)",
        }
