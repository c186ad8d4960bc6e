"""rtlab on a Kubernetes cluster (issue 34): the manifests of ``rtlab fleet manifests``,
the ``kubectl`` commands that bring the runs back, and ``rtlab fleet gather``'s merge
of runs from several hosts into one folder.

Kubernetes cannot run on the machines rtlab is developed on (docs/DESIGN.md, "rtlab
on a cluster"), so what is written here is built against the published API and checked
offline against its schemas (kubernetes-validate, tests/unit/test_fleet.py); the image
the Jobs run is the one ``make image`` builds and runs here for real (host/container.py).

Objects, for a run named ``RUN``:

- a Namespace (``rtlab`` by default);
- one RuntimeClass per handler to compare (``rtlab-<handler>``, node.k8s.io/v1): what a
  workload names to run under that handler of the node's CRI runtime;
- per node (``--nodes``): a Job pinned with ``nodeName``; or, for a label selector
  (``--selector k=v --count N``), one Indexed Job of N pods, ``nodeSelector`` the
  selector and a required pod anti-affinity on the node, so no node runs two.
  Each pod is privileged, in the host's PID namespace and network, with host/container.py's
  ``MOUNTS`` as hostPath volumes at their own paths and ``OUT_HOST`` at ``/out``;
  its init container runs ``rtlab collect … --out /out/RUN``, then a container holds the
  pod Running for ``--hold`` seconds with the run folder readable, so
  ``kubectl cp`` can copy it out (``fetch_argv``); the run also stays on the node at
  ``OUT_HOST/RUN``.

Stdlib only: the host layer (manifests as plain dicts; JSON is valid YAML).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rtlab.core import options, runtimes
from rtlab.host.container import MOUNTS, OUT_MOUNT

# Where each node keeps the runs its pods wrote (hostPath, created when missing)
OUT_HOST = "/var/lib/rtlab-fleet"
LABEL_APP = "app.kubernetes.io/name"
LABEL_RUN = "rtlab.io/run"
LABEL_NODE = "rtlab.io/node"
# The collect a node runs by default: collect's default clients (the runtimes' own CLIs,
# which need nothing on the node but the kernel; ctr and cri need the node's containerd
# prepared by rtlab setup) over collect's default runtimes but the sandboxed ones (their
# records' ``sandbox``: runsc, asked for with --collect), 20 trials
DEFAULT_COLLECT = (
    "--clients",
    ",".join(options.DEFAULT_CLIENTS),
    "--runtimes",
    ",".join(n for n in options.DEFAULT_RUNTIMES if not runtimes.KNOWN[n].sandbox),
    "--trials",
    "20",
)
# The RuntimeClass handlers compared by default: collect's default runtimes' names
DEFAULT_HANDLERS = tuple(options.DEFAULT_RUNTIMES)
DEFAULT_HOLD_S = 3600

_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


class FleetError(ValueError):
    """Bad input to fleet manifests or gather (one line)."""


def dns_label(text: str, limit: int = 63) -> str:
    """``text`` as a DNS-1123 label (lower case, [a-z0-9-], at most ``limit``)."""
    label = _DNS_LABEL.sub("-", text.lower()).strip("-")[:limit].strip("-")
    if not label:
        raise FleetError(f"{text!r} has no letter or digit to name a Kubernetes object with")
    return label


@dataclass(frozen=True)
class Toleration:
    """A pod toleration: ``key[=value]:Effect``, or ``*`` (tolerate every taint)."""

    key: str | None
    value: str | None = None
    effect: str | None = None

    @classmethod
    def parse(cls, text: str) -> Toleration:
        if text.strip() == "*":
            return cls(None)
        head, _, effect = text.partition(":")
        key, eq, value = head.partition("=")
        if not key or (effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute")):
            raise FleetError(
                f"toleration {text!r}: give key[=value][:NoSchedule|PreferNoSchedule|NoExecute], or *"
            )
        return cls(key, value if eq else None, effect or None)

    def manifest(self) -> dict:
        if self.key is None:
            return {"operator": "Exists"}
        out: dict = {"key": self.key}
        out.update(
            {"operator": "Equal", "value": self.value}
            if self.value is not None
            else {"operator": "Exists"}
        )
        if self.effect:
            out["effect"] = self.effect
        return out


@dataclass(frozen=True)
class FleetSpec:
    """What ``rtlab fleet manifests`` writes."""

    image: str
    run: str
    nodes: tuple[str, ...] = ()
    selector: dict[str, str] = field(default_factory=dict)
    count: int = 0
    namespace: str = "rtlab"
    handlers: tuple[str, ...] = DEFAULT_HANDLERS
    tolerations: tuple[Toleration, ...] = ()
    collect_args: tuple[str, ...] = DEFAULT_COLLECT
    hold_s: int = DEFAULT_HOLD_S
    pull_policy: str = "IfNotPresent"

    def __post_init__(self) -> None:
        if bool(self.nodes) == bool(self.selector):
            raise FleetError("give either --nodes a,b or --selector k=v (with --count N)")
        if self.selector and self.count < 1:
            raise FleetError("--selector needs --count N: how many nodes (one pod each)")
        if not self.image:
            raise FleetError(
                "--image: the image the nodes pull (make image, pushed to your registry)"
            )
        if "--out" in self.collect_args or "--resume" in self.collect_args:
            raise FleetError("--collect: leave out --out and --resume (the Job sets --out)")
        if self.hold_s < 0:
            raise FleetError("--hold: seconds, 0 or more")
        dns_label(self.run)
        dns_label(self.namespace)


def parse_selector(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        key, eq, value = part.strip().partition("=")
        if not key or not eq:
            raise FleetError(f"--selector {text!r}: give key=value[,key=value]")
        out[key] = value
    return out


def runtime_class(handler: str) -> dict:
    """A RuntimeClass for ``handler`` (the name the node's CRI runtime gives it)."""
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": f"rtlab-{dns_label(handler, 56)}", "labels": {LABEL_APP: "rtlab"}},
        "handler": dns_label(handler),
    }


def _volumes() -> tuple[list[dict], list[dict]]:
    volumes, mounts = [], []
    for m in (m for m in MOUNTS if m.fleet):
        volumes.append({"name": m.name, "hostPath": {"path": m.path, "type": m.kind}})
        mounts.append({"name": m.name, "mountPath": m.path, "readOnly": m.read_only})
    volumes.append({"name": "out", "hostPath": {"path": OUT_HOST, "type": "DirectoryOrCreate"}})
    mounts.append({"name": "out", "mountPath": OUT_MOUNT})
    return volumes, mounts


def pod_spec(spec: FleetSpec, node: str | None) -> dict:
    """The pod every node runs: collect in an init container, then hold for kubectl cp."""
    volumes, mounts = _volumes()
    out = f"{OUT_MOUNT}/{spec.run}"
    env = [
        {"name": "RTLAB_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "RTLAB_FLEET_RUN", "value": spec.run},
    ]
    security = {"privileged": True}
    pod: dict = {
        "restartPolicy": "Never",
        "hostPID": True,
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "initContainers": [
            {
                "name": "collect",
                "image": spec.image,
                "imagePullPolicy": spec.pull_policy,
                "args": ["collect", *spec.collect_args, "--no-progress", "--out", out],
                "env": env,
                "securityContext": security,
                "volumeMounts": mounts,
            }
        ],
        "containers": [
            {
                "name": "hold",
                "image": spec.image,
                "imagePullPolicy": spec.pull_policy,
                "command": ["sleep", str(spec.hold_s)],
                "volumeMounts": [{"name": "out", "mountPath": OUT_MOUNT, "readOnly": True}],
            }
        ],
        "volumes": volumes,
    }
    if node is not None:
        pod["nodeName"] = node
    else:
        pod["nodeSelector"] = dict(spec.selector)
        pod["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {LABEL_RUN: dns_label(spec.run)}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    if spec.tolerations:
        pod["tolerations"] = [t.manifest() for t in spec.tolerations]
    return pod


def job(spec: FleetSpec, node: str | None) -> dict:
    """One Job: pinned to ``node``, or (node None) an Indexed Job over the selector."""
    run = dns_label(spec.run)
    labels = {LABEL_APP: "rtlab", LABEL_RUN: run}
    if node is not None:
        labels[LABEL_NODE] = dns_label(node)
        name = dns_label(f"rtlab-{run}-{dns_label(node)}")
    else:
        name = dns_label(f"rtlab-{run}")
    body: dict = {
        "backoffLimit": 0,
        "template": {"metadata": {"labels": labels}, "spec": pod_spec(spec, node)},
    }
    if node is None:
        body.update(
            {"completionMode": "Indexed", "completions": spec.count, "parallelism": spec.count}
        )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": spec.namespace, "labels": labels},
        "spec": body,
    }


def manifests(spec: FleetSpec) -> list[dict]:
    """Every object of the run: the Namespace, the RuntimeClasses, the Jobs."""
    objs: list[dict] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": spec.namespace, "labels": {LABEL_APP: "rtlab"}},
        }
    ]
    objs += [runtime_class(h) for h in spec.handlers]
    if spec.nodes:
        names = [dns_label(n) for n in spec.nodes]
        if len(set(names)) != len(names):
            raise FleetError(f"--nodes {','.join(spec.nodes)}: two names give the same Job name")
        objs += [job(spec, n) for n in spec.nodes]
    else:
        objs.append(job(spec, None))
    return objs


def write(objs: Iterable[dict], out_dir: Path) -> list[Path]:
    """One JSON file per object (valid YAML for kubectl apply -f DIR), in apply order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, obj in enumerate(objs):
        path = out_dir / f"{i:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.json"
        path.write_text(json.dumps(obj, indent=2) + "\n")
        written.append(path)
    return written


def wait_argv(spec: FleetSpec, timeout_s: int = 7200) -> list[str]:
    """Wait until every pod of the run holds its finished run (its init container done)."""
    return [
        "kubectl",
        "wait",
        "-n",
        spec.namespace,
        "--for=condition=Ready",
        "pod",
        "-l",
        f"{LABEL_RUN}={dns_label(spec.run)}",
        f"--timeout={timeout_s}s",
    ]


def fetch_argv(namespace: str, pod: str, run: str, dest: Path) -> list[str]:
    """``kubectl cp`` of one pod's run folder (the hold container has tar)."""
    return ["kubectl", "cp", "-c", "hold", f"{namespace}/{pod}:{OUT_MOUNT}/{run}", str(dest)]


# --- gather: runs of several hosts in one folder ---------------------------------------


@dataclass(frozen=True)
class GatheredRun:
    host: str
    run_id: str
    source: Path
    dest: Path
    in_container: bool


def _run_dirs(paths: Sequence[Path]) -> list[Path]:
    found = []
    for p in paths:
        if (p / "run.json").is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(q.parent for q in p.glob("*/run.json"))
            found += sorted(q.parent for q in p.glob("*/*/run.json"))
        else:
            raise FleetError(f"{p}: not a run folder (no run.json) nor a folder of runs")
    if not found:
        raise FleetError(f"no run folder (with run.json) in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))


def gather(paths: Sequence[Path], out_dir: Path) -> list[GatheredRun]:
    """Copy every run under ``paths`` to ``out_dir/<host>/<run-id>/`` (``<host>``: the
    Kubernetes node, else run.json's hostname, plus ``-rtlab-<tag>`` when measured from
    rtlab's image, as analysis/hosts.py tells hosts apart) and write
    ``out_dir/hosts.json`` (one record per run: host, run id, where it came from, whether
    it ran in a container). Runs of one host stay mergeable with each other; runs of
    different hosts are compared only across hosts (unpaired)."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FleetError(f"--out {out_dir}: not empty")
    runs = []
    for src in _run_dirs(paths):
        try:
            meta = json.loads((src / "run.json").read_text())
        except (OSError, ValueError) as exc:
            raise FleetError(f"{src}/run.json: {exc}") from None
        host = (meta.get("host") or {}).get("hostname") or "unknown-host"
        facts = (meta.get("host") or {}).get("container") or {}
        host_dir = dns_label(facts.get("node_name") or host)
        if facts.get("image"):  # measured from rtlab's image: apart from native runs
            host_dir = dns_label(f"{host_dir}-rtlab-{str(facts['image']).rsplit(':', 1)[-1][:12]}")
        run_id = str(meta.get("run_id") or src.name)
        dest = out_dir / host_dir / re.sub(r"[^A-Za-z0-9._-]+", "-", run_id)
        if dest.exists():
            raise FleetError(f"{src}: run {run_id} of {host} is already gathered")
        shutil.copytree(src, dest)
        container = ((meta.get("host") or {}).get("container") or {}).get("in_container")
        runs.append(GatheredRun(host_dir, run_id, src, dest, bool(container)))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "hosts.json").write_text(
        json.dumps(
            [
                {
                    "host": r.host,
                    "run_id": r.run_id,
                    "source": str(r.source),
                    "folder": str(r.dest.relative_to(out_dir)),
                    "in_container": r.in_container,
                }
                for r in runs
            ],
            indent=2,
        )
        + "\n"
    )
    return runs


def fetch(namespace: str, run: str, dest: Path, *, runner=subprocess.run, say=print) -> list[Path]:
    """``kubectl cp`` every pod's run folder of ``run`` to ``dest/<node>/`` (the pods found
    by their run label; each copied while its hold container runs)."""
    listing = runner(
        [
            "kubectl",
            "get",
            "pods",
            "-n",
            namespace,
            "-l",
            f"{LABEL_RUN}={dns_label(run)}",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{'\\n'}{end}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        raise FleetError(f"kubectl get pods failed: {listing.stderr.strip()[-300:]}")
    pods = [line.split() for line in listing.stdout.splitlines() if line.strip()]
    if not pods:
        raise FleetError(f"no pod labelled {LABEL_RUN}={dns_label(run)} in namespace {namespace}")
    got = []
    for name, *node in pods:
        target = dest / dns_label(node[0] if node else name)
        target.parent.mkdir(parents=True, exist_ok=True)
        m = runner(
            fetch_argv(namespace, name, run, target), capture_output=True, text=True, check=False
        )
        if m.returncode != 0:
            raise FleetError(f"kubectl cp from {name} failed: {m.stderr.strip()[-300:]}")
        say(f"fleet: copied {namespace}/{name}'s run to {target}")
        got.append(target)
    return got
