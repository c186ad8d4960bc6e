"""``rtlab doctor``: what this host can measure, and why not."""

from __future__ import annotations

import argparse
import json

from rtlab.collect import doctor, front
from rtlab.collect.clients import CLIENTS
from rtlab.core.runtimes import default_names


def run(args: argparse.Namespace, values: dict, given: set) -> int:
    custom = values["custom_runtimes"]
    runtimes = front.check_runtimes(args.runtimes or default_names(custom), custom)
    clients = args.clients or list(CLIENTS)
    front.check_clients(clients)
    out = doctor.doctor(
        clients, runtimes, values["probe_timeout"], say=(lambda _: None) if args.json else print
    )
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    return 0
