"""rtlab fleet (issue 34): the manifests validate offline against the Kubernetes schemas
(kubernetes-validate), pin one pod per node, carry the image's mounts, and gather puts
runs of several hosts in one folder."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from rtlab import cli
from rtlab.host import container, fleet
from rtlab.report import params

# The Kubernetes releases checked: the newest kubernetes-validate ships and an older one
# still in wide use (RuntimeClass node.k8s.io/v1 and Indexed Jobs are GA in both)
VERSIONS = ("1.37.0", "1.29.0")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "run-1"


def spec(**kw) -> fleet.FleetSpec:
    base = dict(image="registry.example/rtlab/rtlab:1", run="r1", nodes=("node-a", "Node_B.x"))
    base.update(kw)
    return fleet.FleetSpec(**base)  # type: ignore[arg-type]


def validate(obj: dict) -> None:
    for version in VERSIONS:
        # strict: an unknown field is an error; a missing schema is a failure, not a skip
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    "made",
    [
        spec(tolerations=(fleet.Toleration.parse("*"),)),
        spec(tolerations=(fleet.Toleration.parse("dedicated=bench:NoSchedule"),)),
        spec(nodes=(), selector={"node-role.kubernetes.io/bench": ""}, count=3),
        spec(handlers=("runc", "crun", "runsc", "kata-qemu")),
    ],
)
def test_every_object_validates_against_the_kubernetes_schemas(made: fleet.FleetSpec) -> None:
    objs = fleet.manifests(made)
    kinds = [o["kind"] for o in objs]
    assert kinds[0] == "Namespace" and "RuntimeClass" in kinds and "Job" in kinds
    for obj in objs:
        validate(obj)


def test_the_validator_bites() -> None:
    """A negative control: the checks above would fail on a wrong field or type."""
    job = fleet.manifests(spec())[-1]
    bad = json.loads(json.dumps(job))
    bad["spec"]["template"]["spec"]["hostPid"] = True  # the field is hostPID
    with pytest.raises(ValidationError):
        validate(bad)
    bad = json.loads(json.dumps(job))
    bad["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"] = 5
    with pytest.raises(ValidationError):
        validate(bad)
    with pytest.raises(SchemaNotFoundError):
        kubernetes_validate.validate({**job, "apiVersion": "batch/v9"}, VERSIONS[0], strict=True)


def test_one_job_per_node_pinned_privileged_with_the_mounts() -> None:
    objs = fleet.manifests(spec(tolerations=(fleet.Toleration.parse("gpu:NoExecute"),)))
    jobs = [o for o in objs if o["kind"] == "Job"]
    assert [j["spec"]["template"]["spec"]["nodeName"] for j in jobs] == ["node-a", "Node_B.x"]
    assert [j["metadata"]["name"] for j in jobs] == ["rtlab-r1-node-a", "rtlab-r1-node-b-x"]
    pod = jobs[0]["spec"]["template"]["spec"]
    assert pod["hostPID"] and pod["hostNetwork"] and pod["restartPolicy"] == "Never"
    collect = pod["initContainers"][0]
    assert collect["securityContext"] == {"privileged": True}
    assert collect["args"][0] == "collect" and collect["args"][-2:] == ["--out", "/out/r1"]
    paths = {v["hostPath"]["path"] for v in pod["volumes"]}
    assert {m.path for m in container.MOUNTS if m.fleet} | {fleet.OUT_HOST} == paths
    assert {m["mountPath"] for m in collect["volumeMounts"]} == {
        m.path for m in container.MOUNTS if m.fleet
    } | {"/out"}
    env = {e["name"]: e for e in collect["env"]}
    assert env["RTLAB_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}]
    hold = pod["containers"][0]
    assert hold["command"] == ["sleep", str(fleet.DEFAULT_HOLD_S)]
    assert hold["volumeMounts"] == [{"name": "out", "mountPath": "/out", "readOnly": True}]
    classes = {o["metadata"]["name"]: o["handler"] for o in objs if o["kind"] == "RuntimeClass"}
    assert classes == {"rtlab-runc": "runc", "rtlab-crun": "crun", "rtlab-runsc": "runsc"}


def test_a_selector_gives_one_indexed_job_spread_one_pod_per_node() -> None:
    (job,) = [
        o
        for o in fleet.manifests(spec(nodes=(), selector={"pool": "b"}, count=4))
        if o["kind"] == "Job"
    ]
    body = job["spec"]
    assert (body["completionMode"], body["completions"], body["parallelism"]) == ("Indexed", 4, 4)
    pod = body["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "b"} and "nodeName" not in pod
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    labels = body["template"]["metadata"]["labels"]
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()  # its own pods


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"nodes": ()}, "either --nodes"),
        ({"selector": {"a": "b"}}, "either --nodes"),
        ({"nodes": (), "selector": {"a": "b"}}, "--count"),
        ({"collect_args": ("--out", "x")}, "leave out --out"),
        ({"image": ""}, "--image"),
        ({"run": "..."}, "no letter or digit"),
        ({"nodes": ("a.b", "a-b")}, "same Job name"),
    ],
)
def test_bad_specs_are_refused_in_one_line(kw: dict, words: str) -> None:
    with pytest.raises(fleet.FleetError, match=words):
        fleet.manifests(spec(**kw))


def test_the_command_writes_files_kubectl_applies(tmp_path: Path, capsys) -> None:
    out = tmp_path / "m"
    rc = cli.main(
        [
            "fleet",
            "manifests",
            "--nodes",
            "a,b",
            "--image",
            "r/x:1",
            "--run",
            "t1",
            "--toleration",
            "*",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    files = sorted(out.glob("*.json"))
    assert [f.name.split("-", 1)[0] for f in files] == ["00", "01", "02", "03", "04", "05"]
    for f in files:
        validate(json.loads(f.read_text()))
    said = capsys.readouterr().out
    assert "kubectl wait -n rtlab --for=condition=Ready pod -l rtlab.io/run=t1" in said
    assert "rtlab fleet fetch --namespace rtlab --run t1" in said
    with pytest.raises(SystemExit) as exited:  # neither --nodes nor --selector: argparse
        cli.main(["fleet", "manifests", "--image", "x", "--out", str(tmp_path / "n")])
    assert exited.value.code == 2
    rc = cli.main(
        [
            "fleet",
            "manifests",
            "--selector",
            "a",
            "--count",
            "1",
            "--image",
            "x",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2 and "key=value" in capsys.readouterr().err


def _run_copy(src: Path, dest: Path, hostname: str, node: str | None = None) -> Path:
    shutil.copytree(src, dest)
    meta = json.loads((dest / "run.json").read_text())
    meta["host"]["hostname"] = hostname
    meta["host"]["container"] = {
        "in_container": node is not None,
        "node_name": node,
        "image": "localhost/rtlab/rtlab:0123456789abcdef" if node else None,
    }
    (dest / "run.json").write_text(json.dumps(meta))
    return dest


def test_gather_puts_each_hosts_runs_under_its_name(tmp_path: Path, capsys) -> None:
    a = _run_copy(SAMPLE, tmp_path / "in" / "a" / "run1", "host-a")
    _run_copy(SAMPLE, tmp_path / "in" / "b" / "run1", "ignored", node="Node-B")
    out = tmp_path / "gathered"
    assert cli.main(["fleet", "gather", str(a), str(tmp_path / "in" / "b"), "--out", str(out)]) == 0
    hosts = json.loads((out / "hosts.json").read_text())
    assert sorted(h["host"] for h in hosts) == ["host-a", "node-b-rtlab-0123456789ab"]
    assert {h["run_id"] for h in hosts} == {h["folder"].split("/")[-1] for h in hosts}
    assert [h["in_container"] for h in sorted(hosts, key=lambda h: h["host"])] == [False, True]
    for h in hosts:
        assert (out / h["folder"] / "trials.csv").is_file()
    said = capsys.readouterr().out
    assert "2 run(s) of 2 host(s)" in said and f"rtlab report --runs {out}" in said
    # what gather wrote is what rtlab report --runs reads: two hosts, never pooled
    assert len(params.host_groups(params.find_runs(str(out)))) == 2
    assert cli.main(["fleet", "gather", str(a), "--out", str(out)]) == 2  # not empty
    assert cli.main(["fleet", "gather", str(tmp_path / "nope"), "--out", str(tmp_path / "g2")]) == 2


def test_fetch_copies_each_pods_run_with_kubectl_cp(tmp_path: Path) -> None:
    calls = []

    def runner(argv, **kw):
        calls.append(argv)
        out = "rtlab-t1-a-xyz node-a\nrtlab-t1-b-abc node-b\n" if argv[1] == "get" else ""
        return subprocess.CompletedProcess(argv, 0, out, "")

    got = fleet.fetch("rtlab", "t1", tmp_path, runner=runner, say=lambda _: None)
    assert got == [tmp_path / "node-a", tmp_path / "node-b"]
    assert (
        calls[0][:5] == ["kubectl", "get", "pods", "-n", "rtlab"] and "rtlab.io/run=t1" in calls[0]
    )
    assert calls[1] == [
        "kubectl",
        "cp",
        "-c",
        "hold",
        "rtlab/rtlab-t1-a-xyz:/out/t1",
        str(tmp_path / "node-a"),
    ]

    def empty(argv, **kw):
        return subprocess.CompletedProcess(argv, 0, "", "")

    with pytest.raises(fleet.FleetError, match="no pod labelled"):
        fleet.fetch("rtlab", "t1", tmp_path, runner=empty)
