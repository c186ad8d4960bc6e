"""Traced trials on the real runc and crun: bpftrace on tracepoints, phases named and ordered."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from rtlab import image, tracing
from rtlab.measure import run_timed
from tests.integration.conftest import oci_leftovers


@pytest.mark.skipif(shutil.which("bpftrace") is None, reason="bpftrace not installed")
def test_run_of_true_on_runc_and_crun_is_cut_into_ordered_phases(tmp_path):
    rootfs = image.build_rootfs(tmp_path / "state")
    bundle = image.write_bundle(tmp_path / "bundle", image.TRUE_ARGS, rootfs)
    windows = []
    tracer = tracing.Tracer(tmp_path / "trace" / "events.txt")
    with tracer:
        for i in range(2):
            for rt in ("runc", "crun"):
                cid = f"rtlab-20200101T000000Z-trace-{os.getpid()}-{rt}{i}"
                m = run_timed([rt, "--root", str(tmp_path / f"root-{rt}"), "run", "--bundle",
                               str(bundle), cid], 30)
                end = time.perf_counter_ns()
                windows.append((rt, end - int(m.wall_s * 1e9), end, m))
    assert tracer.proc is not None and tracer.proc.poll() is not None  # the tracer is gone
    events = tracer.events()
    assert events, (tmp_path / "trace" / "events.err").read_text()
    for rt, start, end, m in windows:
        assert m.ok, m.describe_failure()
        got = tracing.phases(events, start, end, tracing.definitions(rt, "run"))
        names = [p.phase for p in got]
        assert tracing.UNATTRIBUTED not in names, (rt, got)
        expected = [name for name, _ in tracing.definitions(rt, "run")]
        assert names == expected and len(names) >= 6
        # ordered, contiguous, inside the measured wall time
        at = 0.0
        for p in got:
            assert p.dur_s >= 0 and abs(p.start_s - at) < 1e-9
            at = p.start_s + p.dur_s
        assert abs(at - m.wall_s) < 1e-6
        assert sum(p.dur_s for p in got) <= m.wall_s + 1e-6
    assert oci_leftovers(prefix="rtlab-20200101T000000Z-trace-") == []
