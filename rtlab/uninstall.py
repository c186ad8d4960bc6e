"""``make purge``'s entry, ``python3 -m rtlab.uninstall``: undo everything rtlab did to
this host (host/purge.py), on the system python3 with no venv (stdlib only).

Above every layer: it registers the host parts the collect layer provides
(collect/registry.py: the clients, doctor's sweep of leftovers, tracing's tracefs,
and the CRI client's pod removal when gRPC is installed), then runs purge.
"""

from __future__ import annotations

import sys

from rtlab.collect.registry import register_host_parts
from rtlab.host.purge import PurgeError, main, purge  # noqa: F401 (cli: rtlab setup --purge)

if __name__ == "__main__":
    register_host_parts()
    sys.exit(main())
