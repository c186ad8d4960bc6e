"""``make purge``'s entry, ``python3 -m rtlab.uninstall``: undo everything rtlab did to
this host (host/purge.py), on the system python3 with no venv (stdlib only).

Above every layer: it imports the modules that register their host parts
(host/parts.py) — the clients, doctor's sweep of leftovers, tracing's tracefs, and
the CRI client's pod removal when gRPC is installed — then runs purge.
"""

from __future__ import annotations

import sys

from rtlab.collect import clients, doctor, tracing  # noqa: F401 (they register host parts)
from rtlab.host.purge import PurgeError, main, purge  # noqa: F401 (cli: rtlab setup --purge)

try:  # pod removal through the CRI; without grpcio, host/cri.py removes what is left by ctr
    from rtlab.collect import cri_client  # noqa: F401
except ImportError:
    pass

if __name__ == "__main__":
    sys.exit(main())
