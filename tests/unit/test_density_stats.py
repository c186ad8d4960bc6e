"""Experiment density's statistics (issue 22; the trial as unit, issue 31): known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from rtlab.analysis import density_stats as ds
from rtlab.core import options
from rtlab.core.runtimes import KNOWN


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(22)


def test_ols_fit_exact_line_and_one_level_has_no_slope():
    assert ds.ols_fit([1, 3, 6], [3, 7, 13]) == pytest.approx((2.0, 1.0))  # y = 2x + 1
    assert all(math.isnan(v) for v in ds.ols_fit([5, 5, 5], [1, 2, 3]))
    assert all(math.isnan(v) for v in ds.ols_fit([], []))


def test_grouped_ols_gives_ols_fit_of_each_group(rng):
    f = pd.DataFrame({"k": np.repeat([0, 1, 2], 3), "x": [1, 3, 6] * 3, "y": rng.normal(0, 5, 9)})
    f.loc[6:, "x"] = 4  # group 2: one level, no slope
    got = ds.grouped_ols(f, ["k"], "x", "y").set_index("k")
    for k in (0, 1):
        g = f[f.k == k]
        assert tuple(got.loc[k, ["slope", "intercept"]]) == pytest.approx(ds.ols_fit(g.x, g.y))
    assert math.isnan(got.loc[2, "slope"])


def _density(rng) -> pd.DataFrame:
    rows = []
    for runtime, per in (("runc", 5.0), ("runsc", 20.0)):
        for trial in range(3):
            for n in (1, 5, 10, 25):
                for method, scale in (("memavailable", 1.0), ("pss", 0.5), ("cgroup", 0.25)):
                    b = (per * scale * n + 3 + rng.normal(0, 0.01)) * 1e6
                    rows.append(
                        dict(
                            client="oci",
                            runtime=runtime,
                            trial=trial,
                            warmup=False,
                            n=n,
                            method=method,
                            bytes=b,
                            daemons_bytes=0.1e6 * n,
                            ok=True,
                            error="",
                        )
                    )
    rows.append(
        dict(
            client="oci",
            runtime="runc",
            trial=9,
            warmup=True,
            n=25,
            method="pss",
            bytes=9e12,
            daemons_bytes=0,
            ok=True,
            error="",
        )
    )
    rows.append(
        dict(
            client="oci",
            runtime="runc",
            trial=9,
            warmup=False,
            n=25,
            method="pss",
            bytes=None,
            daemons_bytes=None,
            ok=False,
            error="x",
        )
    )
    return pd.DataFrame(rows)


def test_memory_slopes_per_target_and_method(rng):
    s = ds.memory_slopes(_density(rng))
    got = {(r.runtime, r.method): r for r in s.itertuples()}
    assert len(got) == 6
    assert got[("runc", "memavailable")].mb == pytest.approx(5, abs=0.01)
    assert got[("runc", "pss")].mb == pytest.approx(2.5, abs=0.01)
    assert got[("runsc", "cgroup")].mb == pytest.approx(5, abs=0.01)
    for r in s.itertuples():
        assert r.low <= r.mb <= r.high and r.trials == 3 and r.levels == "1,5,10,25"
        assert r.daemons_mb == pytest.approx(0.1) and r.status == ds.RESOLVED
        assert len(r.trial_mb.split("; ")) == 3
    assert list(s.method[:3]) == ["memavailable", "pss", "cgroup"]


def test_a_client_without_daemons_has_no_daemon_slope_and_a_restart_drops_only_its_rows(rng):
    df = _density(rng)
    df["daemons"] = ""
    df["daemons_bytes"] = np.nan
    assert ds.memory_slopes(df).daemons_mb.isna().all()
    df["daemons"] = "dockerd,containerd"
    df["daemons_bytes"] = 0.2e6 * df.n
    df.loc[df.n == 25, ["daemons", "daemons_bytes"]] = ["dockerd,containerd (restarted)", np.nan]
    s = ds.memory_slopes(df)
    assert np.allclose(s.daemons_mb, 0.2) and (s.mb > 0).all()
    assert set(s.daemons) == {"dockerd,containerd; dockerd,containerd (restarted)"}


def test_socket_listeners_finds_the_process_serving_a_unix_socket(tmp_path):
    import os
    import socket

    from rtlab.core import procfs

    path = tmp_path / "d.sock"
    assert procfs.socket_listeners(path) == []
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(str(path))
        assert procfs.socket_listeners(path) == []  # bound, not listening: no daemon
        s.listen(1)
        assert procfs.socket_listeners(path) == [os.getpid()]
    finally:
        s.close()


def test_disagreement_shows_each_method_and_the_spread(rng):
    d = ds.disagreement(ds.memory_slopes(_density(rng)))
    runc = d[d.runtime == "runc"].iloc[0]
    assert runc.spread == pytest.approx(4, rel=0.01)  # memavailable 5 over cgroup 1.25


def test_interference_slope_in_ms_per_running_container():
    rows = []
    for trial in range(3):
        for n in (1, 5, 10, 25):
            for step, ms in (("create", 50 + 0.2 * n), ("start", 20 + (0.4 + 0.1 * trial) * n)):
                rows.append(
                    dict(
                        experiment="density",
                        client="oci",
                        runtime="runc",
                        trial=trial,
                        warmup=False,
                        ok=True,
                        step=step,
                        n=n,
                        wall_s=ms / 1000,
                    )
                )
    per = ds.interference_trial_slopes(pd.DataFrame(rows))
    starts = per[per.step == "start"].sort_values("trial").ms_per_container
    assert starts.tolist() == pytest.approx([0.4, 0.5, 0.6])  # one slope per trial
    got = ds.interference_slopes(pd.DataFrame(rows)).set_index("step")
    assert got.loc["start", "ms_per_container"] == pytest.approx(0.5)
    half = sps.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)  # the t-interval over the 3 trials
    assert (got.loc["start", "low"], got.loc["start", "high"]) == pytest.approx(
        (0.5 - half, 0.5 + half)
    )
    assert got.loc["start", "trials"] == 3 and got.loc["start", "status"] == ds.RESOLVED
    assert got.loc["create", "ms_per_container"] == pytest.approx(0.2)
    assert got.loc["total", "ms_per_container"] == pytest.approx(0.7)
    assert got.loc["total", "intercept_ms"] == pytest.approx(70)


@pytest.mark.parametrize("text", ["5,1", "0,1", "1,a", "", "1,1"])
def test_containers_option_refuses_bad_levels_in_one_line(text):
    with pytest.raises(options.OptionError, match=r"^--containers: .*increasing whole numbers"):
        options.get("containers", "collect").kind.from_text(text, "--containers")


def test_containers_option_reads_levels():
    kind = options.get("containers", "collect").kind
    assert kind.from_text("1,5,10", "--containers") == [1, 5, 10]
    assert kind.check([1, 3], "containers") == [1, 3]
    assert np.array_equal(options.default("containers"), [1, 5, 10, 25, 50])


def _density_run(tmp_path, rng, client="oci|<b>") -> Path:
    run = tmp_path / "run"
    run.mkdir()
    d = _density(rng)
    d["client"] = client  # hostile text from data
    d["daemons"] = ""
    d.loc[d.index[0], ["ok", "error"]] = [False, "no process found for <script>"]
    d.assign(run_id="r", round=0, processes=1, cgroups=1).to_csv(run / "density.csv", index=False)
    trials = [
        dict(
            run_id="r",
            experiment="density",
            client=client,
            runtime="runc",
            round=0,
            trial=t,
            warmup=False,
            step=s,
            wall_s=(0.02 + 0.0005 * n),
            user_s=0,
            sys_s=0,
            ok=True,
            exit_code=0,
            error="",
            container_id="c",
            n=n,
        )
        for t in range(3)
        for n in (1, 5, 10, 25)
        for s in ("create", "start")
    ]
    pd.DataFrame(trials).to_csv(run / "trials.csv", index=False)
    return run


def test_report_section_writes_tables_figures_and_escapes(tmp_path, rng):
    from rtlab.report import density_report

    run = _density_run(tmp_path, rng)
    text = density_report.section([run, tmp_path / "none"], tmp_path / "out").data
    assert "<b>" not in text and "<script>" not in text
    assert "oci|&lt;b&gt;/runsc" in text and "no process found for &lt;script&gt;" in text
    assert (
        "Through oci|&lt;b&gt;, a runsc container costs 10.0 MB [10.0, 10.0] against "
        "runc&#x27;s 2.5 MB [2.5, 2.5] (pss, per container)."
    ) in text
    assert text.count("<img ") == 2 and "none (no daemon)" in text
    assert "The unit is the trial (3 trials per target here)" in text
    assert "N = 1, 5, 10, 25" in text and "Theil" not in text
    assert "0.50 ms [0.50, 0.50]" in text  # start: 0.5 ms per running container
    for name in (
        "density_memory.csv",
        "density_trial_slopes.csv",
        "density_methods.csv",
        "density_interference.csv",
        "figures/density/memory.png",
        "figures/density/interference.png",
    ):
        assert (tmp_path / "out" / name).stat().st_size > 0
    one = density_report.section([tmp_path / "none"], tmp_path / "o2").data
    assert one.count("<p>") == 1 and "No density run" in one and not (tmp_path / "o2").exists()
    # figures "none" (notebook 02's parameter, --figures none): tables, no figure
    bare = density_report.section([run], tmp_path / "o3", figures="none").data
    assert "<img " not in bare and "0.50 ms [0.50, 0.50]" in bare
    assert (tmp_path / "o3" / "density_memory.csv").is_file()
    assert not (tmp_path / "o3" / "figures").exists()


def test_console_table_has_the_headline_every_method_and_the_start_slope(tmp_path, rng):
    from rtlab.report import density_report

    run = _density_run(tmp_path, rng, client="oci")
    text = density_report.console_table(run)
    assert text.splitlines()[0].startswith("Through oci, a runsc container costs 10.0 MB")
    for m in ("memavailable", "pss", "cgroup"):
        assert m in text
    assert "5.0 MB [5.0, 5.0]" in text and "0.50 ms [0.50, 0.50]" in text


def test_analysis_leaves_density_to_its_section_never_pooled_with_lifecycle(tmp_path):
    """A density run analysed with a lifecycle run: the step tables hold the lifecycle's
    rows only (density's starts are per level N, read by density_report)."""
    from rtlab.analysis import analysis, stats

    rows = []
    for exp, ms, ns in (("lifecycle", 10.0, [None]), ("density", 500.0, [1, 5])):
        for trial in range(5):
            for n in ns:
                for step in ("create", "start"):
                    rows.append(
                        dict(
                            run_id="r",
                            experiment=exp,
                            client="oci",
                            runtime="runc",
                            round=trial,
                            trial=trial,
                            warmup=False,
                            step=step,
                            wall_s=ms / 1000,
                            user_s=0.0,
                            sys_s=0.0,
                            ok=True,
                            exit_code=0,
                            error="",
                            container_id=f"c{trial}{n}",
                            n=n,
                        )
                    )
    trials = pd.DataFrame(rows)
    result = analysis.analyze(trials, tmp_path / "a", figures="none")
    assert set(result.summary.experiment) == {"lifecycle"}
    assert (result.summary[result.summary.step == "create"].median_s == 0.010).all()
    # density's total (create + start) is one per level N of a trial, none failed
    totals = stats._totals(trials[trials.experiment == "density"], ("create", "start"))
    assert len(totals) == 10 and totals.ok.all()
    assert totals.wall_s.tolist() == pytest.approx([1.0] * 10)


class _Target:
    label = "oci/runsc"
    runtime = KNOWN["runsc"]  # expected_mb 40 (its record's density prior)


def _runner(tmp_path, available_mb: float, floor_mb: int):
    from rtlab.collect import density
    from rtlab.core import experiments

    return density.DensityRunner(
        experiments.get("density"),
        ("create", "start"),
        levels=[1, 5],
        out_dir=tmp_path,
        floor_mb=floor_mb,
        available=lambda: int(available_mb * 1e6),
        run_id="r",
        token="t",
        timeout_s=5,
    )


def test_a_level_over_the_floor_is_refused_in_one_line_with_its_estimate(tmp_path):
    r = _runner(tmp_path, available_mb=2500, floor_mb=2048)
    # N=10 from 5 running, 30 MB each read at the last level: 6 × 40 MB (the prior wins)
    assert r.refusal(_Target, 10, 5, 30e6) == ""  # 240 MB leaves 2260 MB
    text = r.refusal(_Target, 25, 5, 50e6)
    assert (
        "\n" not in text
        and "needs about 1050 MB (50.0 MB per container, from the last level)" in text
        and "MemAvailable at 1450 MB" in text
    )
    assert r.refusal(_Target, 5, 1, 50e6) == ""  # 250 MB leaves 2250 MB


def test_prior_is_used_before_any_level_is_read(tmp_path):
    r = _runner(tmp_path, available_mb=2100, floor_mb=2048)
    assert "40.0 MB per container, from the prior" in r.refusal(_Target, 1, 0, 0.0)


def test_constant_readings_give_a_zero_slope_without_a_warning():
    assert ds.ols_fit([1, 2, 3], [0, 0, 0])[0] == 0
    fit = ds.across_trials([0.0, 0.0, 0.0], nonnegative=True)
    assert fit["estimate"] == 0 and fit["low"] == fit["high"] == 0
    assert fit["status"] == ds.RESOLVED


def test_batch_processes_are_new_processes_naming_a_key_and_their_descendants():
    import os
    import signal
    import subprocess
    import time

    from rtlab.collect import density

    def spawn(argv):  # its own process group: killed with its children
        return subprocess.Popen(argv, start_new_session=True)

    def end(p):
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    old = spawn(["sh", "-c", "sleep 30; : rtlab-key-old"])
    try:
        before = density.snapshot()
        new = spawn(["sh", "-c", "sleep 30; : rtlab-key-new"])
        other = spawn(["sleep", "30"])
        try:
            time.sleep(0.3)
            found = density.batch_processes(["rtlab-key-new", "rtlab-key-old"], before)
            assert new.pid in found and old.pid not in found and other.pid not in found
            kids = [p for p in found if p != new.pid]
            assert len(kids) == 1 and density.procfs.comm(kids[0]) == "sleep"  # its child
            assert density.pss(new.pid) > 0 and density.pss(2**22 + 7) == 0
        finally:
            for p in (new, other):
                end(p)
    finally:
        end(old)


def test_collect_density_without_root_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    from rtlab import cli
    from rtlab.core import conditions

    monkeypatch.setattr(conditions.os, "geteuid", lambda: 1000)
    code = cli.main(
        [
            "collect",
            "--experiment",
            "density",
            "--clients",
            "oci",
            "--runtimes",
            "runc",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (
        "rtlab collect: error: experiment density drops the page cache "
        "before each memory reading: needs root (it writes 3 to "
        "/proc/sys/vm/drop_caches); run rtlab as root"
    )
    assert not (tmp_path / "out").exists()


def test_bad_containers_on_the_command_line_is_one_line(tmp_path, capsys):
    from rtlab import cli

    code = cli.main(
        ["collect", "--experiment", "density", "--containers", "5,1", "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (
        "rtlab collect: error: --containers: '5,1': give increasing "
        "whole numbers of at least 1 separated by commas, e.g. '1,5,10'"
    )


def test_the_first_screen_answers_density_and_names_it_among_the_experiments(tmp_path, rng):
    """issue 30: "These runs hold N experiments" names density, answered on its own."""
    from rtlab.analysis import stats as st
    from rtlab.report import density_report, views

    run = _density_run(tmp_path, rng)
    got = density_report.answers([run])
    (question, answer), *_ = got["density"]
    assert "one more idle container cost in memory" in question and "3 trials" in question
    assert "runsc" in answer and "runc" in answer  # runsc against runc, by pss
    assert density_report.answers([tmp_path]) == {}  # no density run: nothing
    empty = pd.DataFrame(columns=st.SUMMARY_COLUMNS)
    conc = {"concurrency": [("How do starts degrade?", "<i>x</i>")]}
    page = views.headline([{}], empty, pd.DataFrame(), more={**conc, **got})["text/html"]
    assert "These runs hold 2 experiments (concurrency, density)" in page
    assert "one more idle container cost in memory" in page and "<i>x</i>" not in page
    density_block = page[page.index('data-experiment="density"') :]
    assert "a slope over N per trial" in density_block
    assert "released together" not in density_block  # not the concurrency block's lead


def _synthetic_host(monkeypatch, tmp_path, host, *, drop, mem_available, per_cpu_free, pss):
    """A DensityRunner at levels 1, 3, 6 over a synthetic host: ``host["running"]``
    processes (one per container), the memory readings given, nothing in any cgroup."""
    from rtlab.collect import density
    from rtlab.core import experiments

    monkeypatch.setattr(density, "mem_available", mem_available)
    monkeypatch.setattr(density, "per_cpu_free", per_cpu_free, raising=False)
    monkeypatch.setattr(density, "pss", pss)
    monkeypatch.setattr(
        density, "batch_processes", lambda keys, before, skip=(): list(range(host["running"]))
    )
    monkeypatch.setattr(density, "cgroup_usage", lambda pids, keys: (0, 0))
    monkeypatch.setattr(density.procfs, "cmdline", lambda pid: [f"key-{pid}"])
    monkeypatch.setattr(density.procfs, "cgroup", lambda pid: "")
    return density.DensityRunner(
        experiments.get("density"),
        ("create", "start"),
        levels=[1, 3, 6],
        out_dir=tmp_path,
        quiesce=drop,
        run_id="r",
        token="t",
        timeout_s=5,
    )


def _memavailable_falls(runner, host, avail0: int) -> list[int]:
    """The memavailable fall the runner records at each of its levels (each must be ok)."""
    falls = []
    for n in runner.levels:
        host["running"] = n
        keys = {f"key-{p}": [f"key-{p}"] for p in range(n)}
        rows = runner._memory_rows({}, n, keys, set(), avail0, [], None)
        (row,) = [r for r in rows if r["method"] == "memavailable"]
        assert row["ok"], row["error"]
        falls.append(row["bytes"])
    return falls


def test_memavailable_is_read_at_once_after_the_drop_not_after_the_scan(tmp_path, monkeypatch):
    """Right after a page-cache drop, pages it freed are not yet counted in MemAvailable
    and come back as the host works (measured: docs/DESIGN.md, density). A synthetic host
    where each process the level's scan reads returns part of that pool: the fall must be
    the containers' memory alone, so the slope is their cost per container (a reading
    taken after the scan, which grows with N, read more of the pool at higher N)."""
    from rtlab.collect import density

    each, pool = 3_000_000, 50_000_000  # a container's memory; the pool a drop hides
    host = {"running": 0, "hidden": 0}

    def drop():
        host["hidden"] = pool

    def scan_one(pid):  # the scan's work brings part of the pool back into view
        host["hidden"] = max(0, host["hidden"] - pool // 10)
        return 0

    runner = _synthetic_host(
        monkeypatch,
        tmp_path,
        host,
        drop=drop,
        mem_available=lambda: 10**10 - each * host["running"] - host["hidden"],
        per_cpu_free=lambda: 0,
        pss=scan_one,
    )
    runner.quiesce()  # the baseline, as a trial reads it before the batch: no scan
    falls = _memavailable_falls(runner, host, density.mem_available())
    assert falls == [each * n for n in runner.levels]
    assert ds.ols_fit(runner.levels, falls)[0] == pytest.approx(each)


def test_per_cpu_free_sums_every_zones_pagesets_in_pages(tmp_path):
    from rtlab.collect import density

    counts = {"DMA32": (117, 40), "Normal": (80537, 61003)}  # per zone, per CPU
    text = "".join(
        f"Node 0, zone {zone}\n  pages free     5\n        high     99\n  pagesets\n"
        + "".join(
            f"    cpu: {cpu}\n              count:    {n}\n              high:     99\n"
            f"              batch:    63\n"
            for cpu, n in enumerate(ns)
        )
        + "  vm stats threshold: 24\n"
        for zone, ns in counts.items()
    )
    (tmp_path / "zoneinfo").write_text(text)
    pages = sum(sum(ns) for ns in counts.values())
    assert density.per_cpu_free(tmp_path / "zoneinfo") == pages * density.PAGE
    assert density.per_cpu_free(tmp_path / "absent") == 0


def test_memavailable_counts_the_per_cpu_lists_free_pages(tmp_path, monkeypatch, rng):
    """Free pages on the kernel's per-CPU lists are left out of MemAvailable and move by
    hundreds of MB as the host frees and allocates (measured: docs/DESIGN.md, density).
    A synthetic host whose lists hold a different amount at every reading: the fall
    must be the containers' memory alone."""
    from rtlab.collect import density

    each = 3_000_000
    host = {"running": 0, "lists": 0}

    def drop():  # each drop leaves another amount on the lists
        host["lists"] = int(rng.uniform(0, 600e6))

    runner = _synthetic_host(
        monkeypatch,
        tmp_path,
        host,
        drop=drop,
        mem_available=lambda: 10**10 - each * host["running"] - host["lists"],
        per_cpu_free=lambda: host["lists"],
        pss=lambda pid: 0,
    )
    runner.quiesce()
    # the baseline, lists counted
    falls = _memavailable_falls(runner, host, density.mem_available() + host["lists"])
    assert falls == [each * n for n in runner.levels]
