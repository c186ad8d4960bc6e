"""rtlab: measure container runtime lifecycle timings through every client."""

import os as _os

__version__ = "0.1.0"


def _log_programs(path: str) -> None:
    """Append the argv of every program this process starts to ``path``, one JSON
    list a line (``RTLAB_EXEC_LOG=FILE``): how the tests check that each program
    rtlab runs comes from a package set-up installs."""
    import json
    import sys

    def hook(event: str, args: tuple) -> None:
        if event == "subprocess.Popen":
            argv = args[1]
        elif event == "os.posix_spawn":
            argv = args[1]
        else:
            return
        if isinstance(argv, (str, bytes)):
            argv = [argv]
        try:
            line = json.dumps([a.decode() if isinstance(a, bytes) else str(a) for a in argv])
            with open(path, "a") as f:
                f.write(line + "\n")
        except (OSError, TypeError):
            pass

    sys.addaudithook(hook)


if _os.environ.get("RTLAB_EXEC_LOG"):
    _log_programs(_os.environ["RTLAB_EXEC_LOG"])
