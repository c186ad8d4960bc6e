"""``rtlab setup``: install, prepare and start what rtlab measures; ``--stop`` the daemons
rtlab started; ``--purge`` undo everything (rtlab/uninstall.py, every host part registered)."""

from __future__ import annotations

import argparse

from rtlab import uninstall
from rtlab.core.usage import UsageError
from rtlab.host import daemons
from rtlab.host import setup as host_setup


def run(args: argparse.Namespace, values: dict, given: set) -> int:
    if (args.stop or args.purge) and values["custom_runtimes"]:
        raise UsageError(
            f"--runtime {values['custom_runtimes'][0].name} registers a runtime; it "
            f"does not go with --{'stop' if args.stop else 'purge'}"
        )
    if args.stop:
        daemons.stop_started()
        return 0
    if args.purge:
        try:
            uninstall.purge()
        except (PermissionError, uninstall.PurgeError) as exc:
            raise UsageError(str(exc)) from None
        return 0
    try:
        host_setup.setup(extra=values["custom_runtimes"])
    except (PermissionError, daemons.DaemonError) as exc:
        raise UsageError(str(exc)) from None
    return 0
