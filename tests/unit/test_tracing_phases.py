"""Phases cut from a trace (synthetic events: the cutting and the statistics, no tracer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rtlab.analysis import phasestats
from rtlab.collect import tracing

MS = 1_000_000


def _events(*items):
    return tracing.parse(
        f"E {t * MS} {pid} {pid} {kind} {arg}".rstrip() for t, pid, kind, arg in items
    )


def _runc_run(offset_ms=0):
    o = offset_ms
    return _events(
        (o + 1, 10, "exec", "/usr/sbin/runc"),
        (o + 12, 11, "exec", "/proc/self/exe"),
        (o + 20, 12, "ns", "unshare 6c020000"),
        (o + 30, 13, "mount", "/"),
        (o + 31, 13, "pivot_root", ""),
        (o + 33, 13, "sec", "prctl 24"),
        (o + 36, 13, "exec", "/bin/true"),
        (o + 37, 13, "exit", ""),
        (o + 40, 10, "exit", ""),
    )


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
    assert tracing.definitions("runc", "pause") is None
    assert len(tracing.definitions("crun", "run")) >= 6
    for rt in ("runc", "crun", "runsc"):  # every lifecycle step and run, per runtime family
        for step in ("create", "start", "kill", "delete", "run"):
            assert tracing.definitions(rt, step), (rt, step)
    # the daemon clients' hand-offs replace the runtime's phases (over runc only)
    names = [n for n, _ in tracing.definitions("runc", "start", "docker")]
    assert names[1].startswith("docker CLI") and "dockerd → containerd" in names
    assert tracing.definitions("crun", "start", "docker") is None


def test_runsc_delete_names_the_wait_for_the_sandbox_pid():
    events = _events(
        (1, 10, "exec", "/usr/bin/runsc"),
        (20, 10, "kill", "9 500"),
        (21, 10, "kill", "0 500"),
        (120, 10, "kill", "0 500"),
        (1220, 10, "kill", "0 500"),
        (1221, 10, "kill", "9 501"),
        (1223, 10, "exit", ""),
    )
    got = tracing.phases(events, 0, 1224 * MS, tracing.definitions("runsc", "delete"))
    wait = [p for p in got if p.phase.startswith("waiting for the sandbox")]
    assert len(wait) == 1 and abs(wait[0].dur_s - 1.201) < 1e-9
    assert tracing.UNATTRIBUTED not in [p.phase for p in got]


def test_docker_start_hand_offs_in_order():
    events = _events(
        (1, 10, "exec", "/usr/bin/docker"),
        (30, 10, "wake", "docker>dockerd 7"),
        (31, 7, "wake", "dockerd>containerd 8"),
        (40, 20, "exec", "/usr/bin/containerd-shim-runc-v2"),
        (60, 21, "exec", "/usr/bin/runc"),
        (70, 22, "exec", "/proc/self/exe"),
        (90, 23, "exec", "/usr/bin/runc"),
        (95, 23, "exit", ""),
        (110, 10, "exit", ""),
    )
    got = tracing.phases(events, 0, 111 * MS, tracing.definitions("runc", "start", "docker"))
    assert [p.phase for p in got] == [n for n, _ in tracing.definitions("runc", "start", "docker")]
    assert [round(p.dur_s * 1e3, 6) for p in got] == [1, 29, 1, 9, 20, 10, 20, 5, 15, 1]


def _phase_rows(runtime="runc", pace=0.1, stretch=None, trials=8, seed=0, client="oci"):
    """phases.csv rows of ``trials`` traced runc runs; ``stretch`` (phase → factor) lengthens one."""
    rng = np.random.default_rng(seed)
    rows = []
    for trial in range(trials):
        got = tracing.phases(_runc_run(), 0, 42 * MS, tracing.definitions("runc", "run"))
        durs = [
            p.dur_s * (1 + 0.01 * rng.standard_normal()) * ((stretch or {}).get(p.phase, 1.0))
            for p in got
        ]
        for p, d in zip(got, durs):
            rows.append(
                {
                    "run_id": "r1",
                    "client": client,
                    "runtime": runtime,
                    "pace_s": pace,
                    "round": trial,
                    "trial": trial,
                    "warmup": trial == 0,
                    "step": "run",
                    "container_id": f"{runtime}{pace}c{trial}",
                    "wall_s": sum(durs),
                    "phase": p.phase,
                    "start_s": p.start_s,
                    "dur_s": d,
                }
            )
    return rows


def test_summary_orders_phases_unattributed_last_and_always_shown():
    summary = phasestats.phase_summary(pd.DataFrame(_phase_rows()))
    named = [n for n, _ in tracing.definitions("runc", "run")]
    assert list(summary["phase"]) == named + [tracing.UNATTRIBUTED]
    assert summary.iloc[-1]["median_s"] == 0.0
    assert (summary["n"] == 7).all()
    assert 0.95 < summary["share"].sum() < 1.05
    assert (summary["ci_low_s"] <= summary["median_s"]).all()
    assert (summary["median_s"] <= summary["ci_high_s"]).all()
    cov = phasestats.coverage(summary)
    assert cov["named_phases"].iloc[0] == len(named) and cov["named_share"].iloc[0] > 0.95


def test_a_trial_missing_a_marker_counts_zero_for_it_and_its_time_unattributed():
    rows = _phase_rows()
    # trial 3 lost its pivot_root: its mounts + masked paths become one unattributed stretch
    lost = [r for r in rows if r["trial"] == 3]
    keep = [r for r in rows if r["trial"] != 3]
    merged = [r for r in lost if r["phase"] not in ("mounts + pivot_root", "masked/readonly paths")]
    gap = sum(
        r["dur_s"] for r in lost if r["phase"] in ("mounts + pivot_root", "masked/readonly paths")
    )
    merged.append({**lost[0], "phase": tracing.UNATTRIBUTED, "dur_s": gap})
    wide = phasestats.per_trial(pd.DataFrame(keep + merged))
    row = wide[wide.container_id == "runc0.1c3"].iloc[0]
    assert row["mounts + pivot_root"] == 0.0 and abs(row[tracing.UNATTRIBUTED] - gap) < 1e-12
    summary = phasestats.phase_summary(pd.DataFrame(keep + merged))
    assert (summary["n"] == 7).all()  # every trial counted for every phase


def test_differences_name_the_phase_that_grew():
    frame = pd.DataFrame(
        _phase_rows(pace=0.0) + _phase_rows(pace=0.1, seed=1, stretch={"namespaces + cgroups": 3.0})
    )
    diff = phasestats.differences(frame, by="pace")
    top = diff[diff.explains]
    assert len(top) == 1 and top["phase"].iloc[0] == "namespaces + cgroups"
    assert top["a"].iloc[0].endswith("pace 0 ms")  # a − b: the faster pace first
    assert top["diff_high_s"].iloc[0] < 0  # its CI excludes no difference
    assert phasestats.differences(frame, by="runtime").empty  # one runtime


def test_differences_by_mode_pair_rootful_and_rootless_of_one_target():
    # the rootful container's cgroup set-up grows (no cgroup for the rootless one)
    rows = _phase_rows(client="oci", stretch={"namespaces + cgroups": 3.0}) + [
        {**r, "container_id": "rl" + r["container_id"]}
        for r in _phase_rows(client="oci-rootless", seed=1)
    ]
    diff = phasestats.differences(pd.DataFrame(rows), by="mode")
    top = diff[diff.explains]
    assert len(top) == 1 and top["phase"].iloc[0] == "namespaces + cgroups"
    assert {top["a"].iloc[0], top["b"].iloc[0]} == {
        "oci/runc @ pace 100 ms",
        "oci-rootless/runc @ pace 100 ms",
    }
    # the two modes ran in the same rounds: paired, the Hodges–Lehmann of the differences
    assert (diff["paired_rounds"] == 7).all()
    d = phasestats.per_trial(pd.DataFrame(rows))
    a = d[d.client == "oci"].set_index("round")["namespaces + cgroups"]
    b = d[d.client == "oci-rootless"].set_index("round")["namespaces + cgroups"]
    from rtlab.analysis import shift

    want = shift.paired((a - b.reindex(a.index)).to_numpy(), 0.95)[0].estimate
    got = top["diff_s"].iloc[0] * (1 if top["a"].iloc[0].startswith("oci/") else -1)
    assert got == pytest.approx(want)
    # nothing to pair without a rootless twin
    assert phasestats.differences(pd.DataFrame(_phase_rows()), by="mode").empty


def test_tracing_cost_pairs_twins_by_round():
    trials = pd.DataFrame(
        {
            "run_id": "r1",
            "client": "oci",
            "runtime": "runc",
            "step": "run",
            "pace_s": 0.1,
            "warmup": False,
            "ok": True,
            "round": np.repeat(np.arange(10), 2),
            "traced": [True, False] * 10,
            "wall_s": [0.05, 0.04] * 10,
        }
    )
    cost = phasestats.tracing_cost(trials)
    assert len(cost) == 1 and abs(cost["ratio"].iloc[0] - 1.25) < 1e-9
    assert cost["n_pairs"].iloc[0] == 10
    assert cost["ratio_low"].iloc[0] <= 1.25 <= cost["ratio_high"].iloc[0]


def test_section_escapes_names_from_data_and_says_when_nothing_was_traced(tmp_path):
    from rtlab.report import phase_report

    assert "No traced run" in phase_report.html(None).data
    rows = _phase_rows(client="<img src=x onerror=alert(1)>")
    trials = pd.DataFrame(
        [
            {
                "run_id": "r1",
                "client": r["client"],
                "runtime": "runc",
                "step": "run",
                "pace_s": 0.1,
                "warmup": r["warmup"],
                "ok": True,
                "round": r["round"],
                "traced": t,
                "wall_s": r["wall_s"],
            }
            for r in rows
            if r["phase"] == "workload"
            for t in (True, False)
        ]
    )
    result = phase_report.analyze_phases(pd.DataFrame(rows), trials, tmp_path, figures=True)
    out = phase_report.html(result).data
    assert "<img src=x" not in out and "&lt;img src=x" in out
    assert (tmp_path / phase_report.SUMMARY_FILE).exists()
    assert any(p.name == "phases_run.png" for p in result.figures)


def test_the_client_is_what_the_root_forked_not_another_followed_exec():
    # a shim of another container (followed: containerd forked it) execs runc first
    events = _events(
        (0, 99, "exec", "/usr/bin/runc"),
        (1, 5, "fork", "10"),
        (2, 10, "exec", "/usr/bin/ctr"),
        (30, 10, "wake", "ctr>containerd 7"),
        (40, 20, "exec", "/usr/bin/containerd-shim-runc-v2"),
        (60, 21, "exec", "/usr/bin/runc"),
        (70, 22, "exec", "/proc/self/exe"),
        (90, 23, "exec", "/usr/bin/runc"),
        (95, 23, "exit", ""),
        (99, 99, "exit", ""),
        (110, 10, "exit", ""),
    )
    definition = tracing.definitions("runc", "start", "ctr")
    got = tracing.phases(events, 0, 111 * MS, definition, root_pid=5)
    assert [p.phase for p in got] == [n for n, _ in definition]
    assert got[0].dur_s == 0.002 and got[-2].dur_s == 0.015  # ctr's exec and ctr's exit
    # without the root, the other exec is taken for the client: its exit ends the wrong phase
    wrong = tracing.phases(events, 0, 111 * MS, definition)
    assert wrong[0].dur_s == 0.0


def test_tracing_cost_is_the_paired_hodges_lehmann_of_the_twins():
    """Issue 31 item 6: the twins compared paired — the Hodges–Lehmann of the per-round log
    ratios with the signed-rank CI (shift.paired), not a ratio of bootstrapped medians."""
    from rtlab.analysis import shift

    rng = np.random.default_rng(3)
    base = rng.lognormal(-3.0, 0.3, 12)  # a round effect both twins share
    traced = base * rng.lognormal(0.1, 0.05, 12)
    walls = np.column_stack([traced, base]).ravel()
    trials = pd.DataFrame(
        {
            "run_id": "r1",
            "client": "oci",
            "runtime": "runc",
            "step": "run",
            "pace_s": 0.1,
            "warmup": False,
            "ok": True,
            "round": np.repeat(np.arange(12), 2),
            "traced": [True, False] * 12,
            "wall_s": walls,
        }
    )
    row = phasestats.tracing_cost(trials).iloc[0]
    (want,) = shift.paired(np.log(traced) - np.log(base), 0.95)
    assert row["ratio"] == pytest.approx(np.exp(want.estimate))
    assert (row["ratio_low"], row["ratio_high"]) == pytest.approx(
        (np.exp(want.low), np.exp(want.high))
    )
    assert row["ratio_low"] > 1.0  # the round effect cancels: a clear 10% cost
