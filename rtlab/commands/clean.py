"""``rtlab clean``: remove what crashed rtlab runs left behind."""

from __future__ import annotations

import argparse

from rtlab.collect import doctor
from rtlab.collect.clients import CLIENTS


def run(args: argparse.Namespace, values: dict, given: set) -> int:
    doctor.clean(list(CLIENTS), doctor.all_runtimes(values["custom_runtimes"]))
    return 0
