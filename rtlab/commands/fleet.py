"""``rtlab fleet manifests | fetch | gather``: rtlab on a Kubernetes cluster (issue 34).

A thin shell over host/fleet.py (cli.py adds its subparser with :func:`add_parser` and
runs :func:`run`): parse, call one function, bad input → one line, exit 2.
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from rtlab.core.usage import UsageError
from rtlab.host import fleet

EXIT_USAGE = 2


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_parser(sub) -> argparse.ArgumentParser:
    f = sub.add_parser(
        "fleet",
        help="rtlab on a Kubernetes cluster: Job manifests per node, fetch the runs, gather them",
    )
    fsub = f.add_subparsers(dest="fleet_command", required=True, parser_class=type(f))
    m = fsub.add_parser("manifests", help="write a Job per node, RuntimeClasses, a Namespace")
    where = m.add_mutually_exclusive_group(required=True)
    where.add_argument("--nodes", type=_csv, help="node names, e.g. node-a,node-b (nodeName)")
    where.add_argument("--selector", help="a node label selector k=v[,k=v] (with --count)")
    m.add_argument("--count", type=int, default=0, help="with --selector: how many nodes")
    m.add_argument("--image", required=True, help="the image the nodes pull (make image, pushed)")
    m.add_argument("--run", default=None, help="the run's name (default: fleet-<UTC time>)")
    m.add_argument("--namespace", default="rtlab")
    m.add_argument(
        "--handlers",
        type=_csv,
        default=list(fleet.DEFAULT_HANDLERS),
        help="RuntimeClass handlers to compare (default: %(default)s)",
    )
    m.add_argument(
        "--toleration",
        action="append",
        default=[],
        help="key[=value][:Effect], or * for every taint (repeatable)",
    )
    m.add_argument(
        "--collect",
        default=shlex.join(fleet.DEFAULT_COLLECT),
        help="rtlab collect's options on each node (default: %(default)s)",
    )
    m.add_argument(
        "--hold",
        type=int,
        default=fleet.DEFAULT_HOLD_S,
        help="seconds each pod stays up after its collect, for kubectl cp (default: %(default)s)",
    )
    m.add_argument("--out", type=Path, required=True, help="folder of the manifests (JSON)")

    fe = fsub.add_parser("fetch", help="kubectl cp every pod's run folder of a run")
    fe.add_argument("--run", required=True)
    fe.add_argument("--namespace", default="rtlab")
    fe.add_argument("--out", type=Path, required=True, help="folder: one run per node")

    g = fsub.add_parser("gather", help="runs of several hosts into one folder, by host")
    g.add_argument(
        "dirs", nargs="+", type=Path, metavar="DIR", help="run folders or folders of runs"
    )
    g.add_argument("--out", type=Path, required=True)
    return f


def run(args, values: dict, given: set) -> int:

    try:
        if args.fleet_command == "manifests":
            return _manifests(args)
        if args.fleet_command == "fetch":
            fleet.fetch(args.namespace, args.run, args.out)
            return 0
        runs = fleet.gather(args.dirs, args.out)
    except fleet.FleetError as exc:
        raise UsageError(str(exc)) from None
    hosts = sorted({r.host for r in runs})
    print(f"fleet: {len(runs)} run(s) of {len(hosts)} host(s) ({', '.join(hosts)}) in {args.out}")
    print(
        f"fleet: one report of them (a hosts section across them): rtlab report --runs {args.out}"
    )
    print(args.out / "hosts.json")
    return 0


def _manifests(args) -> int:
    spec = fleet.FleetSpec(
        image=args.image,
        run=args.run or time.strftime("fleet-%Y%m%d-%H%M%S", time.gmtime()),
        nodes=tuple(args.nodes or ()),
        selector=fleet.parse_selector(args.selector) if args.selector else {},
        count=args.count,
        namespace=args.namespace,
        handlers=tuple(args.handlers),
        tolerations=tuple(fleet.Toleration.parse(t) for t in args.toleration),
        collect_args=tuple(shlex.split(args.collect)),
        hold_s=args.hold,
    )
    paths = fleet.write(fleet.manifests(spec), args.out)
    for p in paths:
        print(p)
    print(f"fleet: run {spec.run}: kubectl apply -f {args.out}; then")
    print("  " + shlex.join(fleet.wait_argv(spec)))
    print(
        f"  rtlab fleet fetch --namespace {spec.namespace} --run {spec.run} --out runs/{spec.run}"
    )
    return 0
