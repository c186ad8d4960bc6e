"""What a released child runs until the release (``measure.run_released``).

A child of rtlab execs this file in a small interpreter of its own (``python -S -I``:
no site, no environment; about 9 MB) right after the fork. A child of rtlab exec'ing
the command straight after the release would tear down its copy of rtlab's address
space inside the timed window: +0.25 ms with rtlab at 17 MB, +1.28 ms at 84 MB, against
``run_timed``'s posix_spawn (measured side by side with /bin/true; +0.17 ms with this
waiter at both sizes).

Usage (fds inherited; ``READY_W`` -1: none)::

    python -S -I release_waiter.py BARRIER_R REPORT_W READY_W EXE ARGV...

Standard library only: it runs without rtlab on its path.
"""

from __future__ import annotations

import gc
import os
import sys
import time


def cannot_start(report_w: int, argv0: str, exc: OSError) -> None:
    """Tell the parent, on the report pipe, why the command did not start."""
    try:
        os.write(report_w, f"{argv0}: cannot start: {exc.strerror}".encode()[:512])
    except OSError:
        pass


def main(args: list[str]) -> None:
    """Say it is ready, wait for the release, report the time, exec. Never returns."""
    barrier_r, report_w, ready_w = (int(x) for x in args[:3])
    exe, argv = args[3], args[4:]
    try:
        gc.disable()  # nothing between the release and the exec but the stamp and the write
        stamp = time.perf_counter_ns
        stamp().to_bytes(8, "little")  # the path after the release, run once beforehand
        # Woken by the release as a real-time task (as root; else as any other), every
        # child takes its stamp before the commands already running get the CPU back:
        # k children woken on 2 cores otherwise queue behind them (launch skew of tens
        # of ms at k=16 here). Back to the normal policy before the exec: what is timed
        # runs as every other step does.
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            realtime = True
        except OSError:
            realtime = False
        if ready_w >= 0:
            os.write(ready_w, b"r")
            os.close(ready_w)
        os.read(barrier_r, 1)  # blocks until the parent closes the write end
        now = stamp()
        if realtime:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        os.close(barrier_r)
        os.write(report_w, now.to_bytes(8, "little"))
        os.set_inheritable(report_w, False)  # EOF at a successful execve
        os.execve(exe, argv, os.environ)
    except OSError as exc:
        cannot_start(report_w, argv[0], exc)
    os._exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
