"""Phases cut from a trace (synthetic events: the cutting and the statistics, no tracer)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rtlab.analysis import phasestats
from rtlab.collect import tracing

MS = 1_000_000


def _events(*items):
    return tracing.parse(f"E {t * MS} {pid} {pid} {kind} {arg}".rstrip() for t, pid, kind, arg in items)


def _runc_run(offset_ms=0):
    o = offset_ms
    return _events((o + 1, 10, "exec", "/usr/sbin/runc"), (o + 12, 11, "exec", "/proc/self/exe"),
                   (o + 20, 12, "ns", "unshare 6c020000"), (o + 30, 13, "mount", "/"),
                   (o + 31, 13, "pivot_root", ""), (o + 33, 13, "sec", "prctl 24"),
                   (o + 36, 13, "exec", "/bin/true"), (o + 37, 13, "exit", ""),
                   (o + 40, 10, "exit", ""))


def test_phases_are_contiguous_named_in_order_and_add_up_to_the_window():
    got = tracing.phases(_runc_run(), 0, 42 * MS, tracing.definitions("runc", "run"))
    assert [p.phase for p in got] == [n for n, _ in tracing.definitions("runc", "run")]
    assert [round(p.dur_s * 1e3, 6) for p in got] == [1, 11, 8, 10, 1, 2, 3, 1, 5]
    assert abs(sum(p.dur_s for p in got) - 0.042) < 1e-12


def test_a_marker_not_seen_leaves_unattributed_time_not_a_made_up_phase():
    events = [e for e in _runc_run() if e.kind != "pivot_root"]
    got = tracing.phases(events, 0, 42 * MS, tracing.definitions("runc", "run"))
    names = [p.phase for p in got]
    assert "mounts + pivot_root" not in names and "masked/readonly paths" not in names
    assert tracing.UNATTRIBUTED in names
    assert abs(sum(p.dur_s for p in got) - 0.042) < 1e-12


def test_events_outside_the_window_are_ignored():
    events = _runc_run(0) + _runc_run(100)
    later = tracing.phases(events, 100 * MS, 142 * MS, tracing.definitions("runc", "run"))
    assert [round(p.dur_s * 1e3, 6) for p in later] == [1, 11, 8, 10, 1, 2, 3, 1, 5]


def test_family_and_unknown_steps():
    assert tracing.family("runsc-kvm") == "runsc"
    assert tracing.definitions("runc", "kill") is None
    assert len(tracing.definitions("crun", "run")) >= 6


def test_summary_orders_phases_and_cost_compares_twins():
    rng = np.random.default_rng(0)
    rows = []
    for trial in range(8):
        got = tracing.phases(_runc_run(), 0, 42 * MS, tracing.definitions("runc", "run"))
        for p in got:
            rows.append({"client": "oci", "runtime": "runc", "step": "run", "trial": trial,
                         "warmup": trial == 0, "container_id": f"c{trial}", "wall_s": 0.042,
                         "phase": p.phase, "start_s": p.start_s,
                         "dur_s": p.dur_s * (1 + 0.01 * rng.standard_normal())})
    summary = phasestats.phase_summary(pd.DataFrame(rows))
    assert list(summary["phase"]) == [n for n, _ in tracing.definitions("runc", "run")]
    assert (summary["n"] == 7).all()
    assert 0.95 < summary["share"].sum() < 1.05
    assert (summary["ci_low_s"] <= summary["median_s"]).all()
    assert (summary["median_s"] <= summary["ci_high_s"]).all()
    trials = pd.DataFrame({"client": "oci", "runtime": "runc", "step": "run", "pace_s": 0.1,
                           "warmup": False, "ok": True, "traced": [True, False] * 10,
                           "wall_s": [0.05, 0.04] * 10})
    cost = phasestats.tracing_cost(trials)
    assert len(cost) == 1 and abs(cost["ratio"].iloc[0] - 1.25) < 1e-9
