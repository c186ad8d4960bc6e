"""Starts under load (issue 21) without a real runtime: the option, the rows of a batch on the
fake runtime (a timeout in one container fails that row only), the statistics on synthetic
batches with known answers, the knee, and the experiments never pooled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rtlab.analysis import concurrency_stats as cs
from rtlab.collect.clients.oci import OciTarget
from rtlab.collect.scheduler import Unit, UnitState
from rtlab.collect.trial import TrialRunner
from rtlab.core import experiments, options
from rtlab.core.concurrency import Widths
from rtlab.core.runtimes import parse_custom
from rtlab.report import concurrency_report

EXP = experiments.get("concurrency")


# -- the option -------------------------------------------------------------------------


def test_parallel_reads_checks_and_sorts():
    kind = Widths()
    assert kind.from_text("4,1,2", "--parallel") == [1, 2, 4]
    assert kind.check([8, 16], "parallel") == [8, 16]
    for text, message in (
        ("0", "--parallel: 0: must be from 1 to 256 containers"),
        ("1,x", "--parallel: 'x' is not a whole number"),
        ("2,2", "--parallel: 2,2: a k is given twice"),
    ):
        with pytest.raises(options.OptionError, match="^" + message):
            kind.from_text(text, "--parallel")
    assert options.get("parallel", "collect").experiments == ("concurrency",)


# -- one trial on the fake runtime ------------------------------------------------------


def _trial(fake, tmp_path, mode: str, k: int, timeout_s: float = 5.0):
    spec, state = fake(f"f-{mode}", mode)
    target = OciTarget(parse_custom(spec), tmp_path, timeout_s=timeout_s)
    runner = TrialRunner(
        EXP,
        EXP.steps,
        run_id="r",
        token="20261128T000000Z-c0c0",
        timeout_s=timeout_s,
        say=[].append,
    )
    return runner.run(UnitState(Unit(target, {"pace_s": 0.0, "k": k})), 0, False), state


def test_a_batch_gives_a_row_per_container_with_k_batch_and_offset(fake, tmp_path):
    rows, state = _trial(fake, tmp_path, "ok", 3)
    assert [(r["step"], r["instance"]) for r in rows] == [
        (s, i) for s in ("run", "create", "start") for i in range(3)
    ]
    assert all(r["ok"] and r["k"] == 3 for r in rows), [r["error"] for r in rows]
    assert {r["batch"] for r in rows if r["step"] == "run"} != {
        r["batch"] for r in rows if r["step"] == "create"
    }  # two batches, one per mode
    assert all(0 <= r["offset_s"] <= r["wall_s"] for r in rows)
    assert list(state.iterdir()) == []  # the up containers were torn down (untimed)


def test_k1_goes_through_the_barrier_too(fake, tmp_path):
    rows, _ = _trial(fake, tmp_path, "ok", 1)
    assert len(rows) == 3 and all(r["offset_s"] is not None for r in rows)


def test_one_container_timing_out_fails_its_row_only(fake, tmp_path):
    rows, state = _trial(fake, tmp_path, "hang-once-run", 3, timeout_s=1.0)
    run = [r for r in rows if r["step"] == "run"]
    assert sum(r["timed_out"] for r in run) == 1 and sum(r["ok"] for r in run) == 2, run
    assert all(r["ok"] for r in rows if r["step"] != "run")
    assert list(state.iterdir()) == []


# -- statistics on synthetic batches ----------------------------------------------------


def synthetic(
    throughputs: dict[int, float], batches: int = 20, seed: int = 1, experiment: str = "concurrency"
) -> pd.DataFrame:
    """Run-mode rows whose every batch of k has makespan k / T(k) (its slowest container)
    and the other containers a little faster."""
    rng = np.random.default_rng(seed)
    rows, batch = [], 0
    for k, t in throughputs.items():
        for b in range(batches):
            batch += 1
            span = k / t * (1 + 0.01 * rng.standard_normal())
            walls = [span] + list(span * rng.uniform(0.5, 0.99, k - 1))
            for i, w in enumerate(walls):
                rows.append(
                    {
                        "run_id": "s",
                        "experiment": experiment,
                        "client": "oci",
                        "runtime": "runc",
                        "round": b,
                        "trial": b,
                        "warmup": False,
                        "step": "run",
                        "wall_s": w,
                        "ok": True,
                        "pace_s": 0.0,
                        "k": k,
                        "batch": batch,
                        "instance": i,
                        "offset_s": 0.0001 * i,
                    }
                )
    return pd.DataFrame(rows)


def test_throughput_is_k_over_makespan_with_its_interval():
    s = cs.summarize(synthetic({1: 10.0, 2: 19.0, 4: 30.0}), n_boot=300)
    assert np.allclose(s["throughput_per_s"], [10, 19, 30], rtol=0.01)
    assert (s["throughput_low_per_s"] <= s["throughput_per_s"]).all()
    assert (s["throughput_per_s"] <= s["throughput_high_per_s"]).all()
    assert np.allclose(s["makespan_median_s"], [0.1, 2 / 19, 4 / 30], rtol=0.02)
    assert (s["batches"] == 20).all() and list(s["containers"]) == [20, 40, 80]
    for q in ("p50", "p95", "p99"):  # each estimate inside its own interval
        assert ((s[f"{q}_low_s"] <= s[f"{q}_s"]) & (s[f"{q}_s"] <= s[f"{q}_high_s"])).all()
    assert (s["skew_p95_s"] <= 0.0004).all()


def test_percentiles_of_a_known_distribution():
    rows = synthetic({1: 10.0}, batches=400)
    s = cs.summarize(rows, n_boot=200)
    assert s["p50_s"].iloc[0] == pytest.approx(0.1, rel=0.01)
    assert s["p50_low_s"].iloc[0] < 0.1 < s["p50_high_s"].iloc[0]


def test_few_batches_give_no_interval():
    s = cs.summarize(synthetic({2: 10.0}, batches=cs.MIN_BATCHES - 1), n_boot=100)
    assert s["p95_low_s"].isna().all() and s["throughput_low_per_s"].isna().all()
    assert s["p95_s"].notna().all()


def test_the_medians_interval_is_order_statistics_with_binomial_coverage():
    assert cs.median_ranks(5) is None  # min–max of 5 covers 1 - 2/32 = 0.9375 < 0.95
    assert cs.median_ranks(6) == (1, 6)  # 0.969
    assert cs.median_ranks(20) == (6, 15)  # 1 - 2 P(Bin(20, 1/2) <= 5) = 0.9586
    assert cs.MIN_BATCHES == 6


def test_a_tail_percentile_and_its_interval_are_over_batches_not_pooled():
    """Six batches of 4: each batch's p95 is its own; the estimate is their median and
    the interval their minimum–maximum (ranks 1 and 6) — the pooled p95 of all 24
    containers and the sample's maximum play no part."""
    rows = synthetic({4: 10.0}, batches=6, seed=7)
    s = cs.summarize(rows).iloc[0]
    per = [np.quantile(g.wall_s, 0.95) for _, g in rows.groupby("batch")]
    assert s["p95_s"] == pytest.approx(np.median(per))
    assert (s["p95_low_s"], s["p95_high_s"]) == pytest.approx((min(per), max(per)))
    spans = [g.wall_s.max() for _, g in rows.groupby("batch")]
    assert s["throughput_per_s"] == pytest.approx(4 / np.median(spans))
    assert (s["throughput_low_per_s"], s["throughput_high_per_s"]) == pytest.approx(
        (4 / max(spans), 4 / min(spans))
    )


@pytest.mark.parametrize(
    "curve, expected",
    [
        ({1: 10, 2: 19, 4: 30, 8: 31, 16: 30}, 4),  # grows 90%, 58%, then 3%: the knee is 4
        ({1: 10, 2: 10.4, 4: 10.3}, 1),  # 4% < 5% margin at once, and never more after
        ({1: 10, 2: 10.4, 4: 20}, None),  # a plateau, then growth again: no knee yet
        ({1: 10, 2: 19, 4: 19.5, 8: 30}, None),  # the make-report podman case: grows at 8
        ({1: 10, 2: 19, 4: 19.5, 8: 19.8}, 2),  # within 5% of k=2 from there on
        ({1: 10, 2: 19, 4: float("nan"), 8: 40}, 2),  # a NaN ends the curve
        ({1: 10, 2: 20, 4: 40}, None),  # still growing at the largest k
        ({1: 10, 2: 19, 4: 17}, 2),  # falls after 2
    ],
)
def test_the_knee_on_synthetic_curves(curve, expected):
    assert cs.knee(list(curve), list(curve.values()), margin=0.05) == expected


def test_the_knee_from_collected_batches():
    s = cs.summarize(
        synthetic({1: 10.0, 2: 19.0, 4: 30.0, 8: 31.0, 16: 30.0}, batches=10), n_boot=50
    )
    table = cs.knees(s)
    assert table["knee"].iloc[0] == 4 and table["peak_k"].iloc[0] == 8
    line = cs.headlines(s, table, cores=2)[0]
    assert line.startswith("through oci, runs to exit: runc's p95 goes from ")
    assert "its throughput stops growing at k=4" in line and "exceeds this host's 2 cores" in line


def test_a_lifecycle_run_analysed_with_it_is_never_pooled():
    conc = synthetic({1: 10.0, 2: 19.0})
    life = synthetic({1: 1.0}, experiment="lifecycle").assign(k=pd.NA, batch=pd.NA)
    both = pd.concat([conc, life], ignore_index=True)
    assert cs.summarize(both, n_boot=50).equals(cs.summarize(conc, n_boot=50))


# -- the pace's gap and the sweep ------------------------------------------------------


def test_the_gap_of_a_released_step_comes_after_the_forks(fake, tmp_path, monkeypatch):
    import rtlab.core.measure as measure

    seen = []
    real = measure.run_released

    def spy(argvs, timeout_s, *, env=None, before_release=None):
        def before():
            seen.append(("gap", len(argvs)))
            if before_release is not None:
                before_release()

        seen.append(("forks", len(argvs)))
        return real(argvs, timeout_s, env=env, before_release=before)

    monkeypatch.setattr("rtlab.core.actions.run_released", spy)
    rows, _ = _trial(fake, tmp_path, "ok", 2)
    # each timed stage: forked, then the gap, then the release (kill/delete: no gap)
    assert seen[:4] == [("forks", 2), ("gap", 2), ("forks", 2), ("gap", 2)]
    assert all(r["idle_s"] is not None for r in rows)


def test_the_sweep_removes_half_created_runc_and_crun_folders(tmp_path, monkeypatch):
    from rtlab.host import cleanup

    runc, crun = tmp_path / "runc", tmp_path / "crun"
    monkeypatch.setattr(cleanup, "OCI_STATE_ROOTS", {runc: "state.json", crun: "status"})
    for root, name, state in (
        (runc, "rtlab-T-00001r", None),
        (runc, "rtlab-T-00002r", "state.json"),
        (crun, "rtlab-T-00003r", None),
        (runc, "other-00001r", None),
    ):
        (root / name).mkdir(parents=True)
        (root / name / "exec.fifo").write_text("")
        if state:
            (root / name / state).write_text("{}")
    assert sorted(cleanup.remove_half_created("rtlab-T-")) == [
        str(crun / "rtlab-T-00003r"),
        str(runc / "rtlab-T-00001r"),
    ]
    assert sorted(p.name for p in runc.iterdir()) == ["other-00001r", "rtlab-T-00002r"]


# -- paired comparisons between targets at each k, and the run-to-run gate per k ---------


def _two_targets(slower_at: dict[int, float], batches: int = 12, seed: int = 3) -> pd.DataFrame:
    """oci/runc and oci/crun, one batch of each per round; crun's latencies × factor at k."""
    a = synthetic({1: 10.0, 4: 30.0}, batches=batches, seed=seed)
    b = synthetic({1: 10.0, 4: 30.0}, batches=batches, seed=seed + 1).assign(runtime="crun")
    b["batch"] += 10_000
    b["wall_s"] *= b["k"].map(lambda k: slower_at.get(k, 1.0))
    return pd.concat([a, b], ignore_index=True)


def test_batch_rows_one_sample_per_batch_and_quantity():
    rows = cs.batch_rows(_two_targets({}))
    assert set(rows["step"]) == {"run p50 k=1", "run p50 k=4", "run p95 k=4"}  # no p95 at k=1
    assert len(rows[rows["step"] == "run p95 k=4"]) == 24  # 12 batches × 2 targets
    assert cs.parse_step("run p95 k=4") == ("run", "p95", 4) and cs.parse_step("run") is None
    trials = _two_targets({})
    first = trials.index[(trials["k"] == 4) & (trials["runtime"] == "runc")][0]
    trials.loc[first, "ok"] = False  # one container of one batch fails: that batch's rows fail
    rows = cs.batch_rows(trials)
    bad = rows[~rows["ok"]]
    assert len(bad) == 2 and set(bad["step"]) == {"run p50 k=4", "run p95 k=4"}
    assert bad["error"].iloc[0] == "1 of 4 containers failed" and bad["wall_s"].isna().all()


def test_targets_are_compared_paired_at_each_k():
    table = cs.compare_targets(_two_targets({4: 1.5}), alpha=0.05)
    assert list(zip(table["quantity"], table["k"])) == [("p50", 1), ("p50", 4), ("p95", 4)]
    assert (table["family"] == "client=oci").all() and (table["a"] == "crun").all()
    assert table["method"].str.startswith("paired over 12 rounds").all()
    k1, p50, p95 = (table.iloc[i] for i in range(3))
    assert k1["verdict"] == "equivalent" and k1["ratio_ci_low"] < 1 < k1["ratio_ci_high"]
    for row in (p50, p95):  # the known answer: 1.5× at k=4, inside its CI
        assert row["verdict"] == "slower" and row["p_adj"] < 0.05
        assert row["ratio_ci_low"] < 1.5 < row["ratio_ci_high"]
        assert row["ratio_ci_low"] <= row["ratio"] <= row["ratio_ci_high"]


def test_compare_gates_each_k_on_p50_and_p95():
    from rtlab.analysis import compare

    before = _two_targets({}, seed=5)
    after = _two_targets({4: 1.4}, seed=7).assign(run_id="t")  # crun 40% slower at k=4 only
    table = compare.changes(before, after, alpha=0.05, threshold=0.10)
    table = table.set_index(["runtime", "step"])
    assert set(table.index.get_level_values("step")) == {
        "run p50 k=1",
        "run p50 k=4",
        "run p95 k=4",
    }
    flagged = set(table.index[table["regression"]])
    assert flagged == {("crun", "run p50 k=4"), ("crun", "run p95 k=4")}
    row = table.loc[("crun", "run p95 k=4")]
    assert row["change_ci_low"] < 0.4 < row["change_ci_high"]
    assert compare.where(table.reset_index().iloc[0]).endswith("(concurrency)")


# -- the report's section ---------------------------------------------------------------


def test_the_section_is_one_line_without_a_concurrency_run(tmp_path):
    from types import SimpleNamespace

    html = concurrency_report.section(SimpleNamespace(tables=[], figures=[]), [], 0.05).data
    assert html.count("<p>") == 1 and "No concurrency run" in html


def test_the_section_names_the_knee_compares_at_each_k_and_escapes(tmp_path):
    from types import SimpleNamespace

    trials = _two_targets({4: 1.5})
    trials["runtime"] = trials["runtime"].replace({"crun": "<b>x</b>"})
    summary, knees, _ = cs.findings(trials, seed=0)
    pairs = cs.compare_targets(trials, alpha=0.05)
    paths = []
    for frame, name in (
        (summary, cs.SUMMARY_FILE),
        (knees, cs.KNEES_FILE),
        (pairs, cs.COMPARISONS_FILE),
    ):
        frame.to_csv(tmp_path / name, index=False)
        paths.append(tmp_path / name)
    html = concurrency_report.section(
        SimpleNamespace(tables=paths, figures=[]), [{"host": {"cores": 2}}], 0.05
    ).data
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    # T(1) = 10/s, T(4) = 30/s: still growing at the largest k
    assert (
        "oci/runc, runs to exit: throughput still grows at k=4 (the knee lies beyond); "
        "its highest throughput 30"
    ) in html
    assert "This host has 2 cores" in html
    row = pairs[(pairs["k"] == 4) & (pairs["quantity"] == "p50")].iloc[0]
    assert f"{row['ratio']:.3f} [{row['ratio_ci_low']:.3f}–{row['ratio_ci_high']:.3f}]" in html


def test_two_runs_batches_of_the_same_number_stay_apart():
    # two runs of the same target, each numbering its batches from 1: run b's batches
    # are twice as slow; taken as one batch per number, every "batch" would have 2k
    # containers and the makespan of run b's alone
    a = synthetic({2: 20.0}, batches=12)
    b = synthetic({2: 10.0}, batches=12, seed=2).assign(run_id="t")
    s = cs.summarize(pd.concat([a, b], ignore_index=True), n_boot=200)
    assert s["batches"].iloc[0] == 24 and s["containers"].iloc[0] == 48
    # two sittings: each run's own throughput (20/s and 10/s), their geometric mean,
    # a t interval across the 2 runs, labelled as such
    row = s.iloc[0]
    assert row["runs"] == 2 and row["ci_kind"] == "across 2 runs"
    assert row["throughput_per_s"] == pytest.approx(np.sqrt(20.0 * 10.0), rel=0.02)
    assert row["throughput_low_per_s"] < 10.0 * 0.98 and row["throughput_high_per_s"] > 20.0 * 1.02
    assert row["makespan_median_s"] == pytest.approx(2 / row["throughput_per_s"])


def test_across_runs_is_a_t_interval_over_the_runs_logs():
    est, low, high, n = cs.across_runs([10.0, 20.0, 40.0])
    logs = np.log([10.0, 20.0, 40.0])
    half = 4.302652729911275 * logs.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert n == 3 and est == pytest.approx(20.0)
    assert (low, high) == pytest.approx((np.exp(logs.mean() - half), np.exp(logs.mean() + half)))
    # two runs: the interval holds both runs' estimates (t(0.975, 1) = 12.7)
    est, low, high, n = cs.across_runs([70.7, 94.0])
    assert low < 70.7 and high > 94.0 and est == pytest.approx(np.sqrt(70.7 * 94.0))
    # one finite run: no across-runs interval
    assert all(np.isnan(cs.across_runs([5.0, float("nan")])[:3]))


def test_one_run_is_labelled_this_sitting_in_the_table_and_the_section(tmp_path):
    s = cs.summarize(synthetic({1: 10.0, 2: 19.0}, batches=8), n_boot=100)
    assert set(s["ci_kind"]) == {cs.SITTING} and set(s["runs"]) == {1}
    assert set(concurrency_report.latency_table(s)["CI describes"]) == {"this sitting"}
    assert "describes one run" in concurrency_report.sittings_sentence(s)
    two = pd.concat(
        [
            synthetic({2: 20.0}, batches=8),
            synthetic({2: 10.0}, batches=8, seed=2).assign(run_id="t"),
        ],
        ignore_index=True,
    )
    text = concurrency_report.sittings_sentence(cs.summarize(two))
    assert "across 2 runs" in text and "Student's t" in text and "describes one run" not in text


def test_a_concurrency_run_alone_is_answered_first_and_states_its_pace(tmp_path):
    """make report of `collect --experiment concurrency` said "Nothing to compare" on its
    first screen and "These runs recorded no pace": the step tables leave its rows out."""
    from rtlab.analysis import analysis
    from rtlab.report import views

    trials = _two_targets({4: 1.5}).assign(pace_s=0.1, user_s=0.001, sys_s=0.001)
    result = analysis.analyze(trials, tmp_path, figures="report")
    assert list(result.answers) == ["concurrency"]
    page = views.headline(
        [{"host": {"hostname": "h"}}],
        result.summary,
        result.comparisons,
        result.figures,
        result.trials,
        more=result.answers,
    )["text/html"]
    assert "Nothing to compare" not in page
    assert "How do starts through oci degrade under load (runs to exit)?" in page
    assert "crun&#x27;s p95 goes from" in page or "crun's p95 goes from" in page
    assert 'alt="latency and throughput against k' in page  # its own figure, embedded
    assert "100 ms of idle host" in views.pace_section(result).data
    # beside a lifecycle run: both answered, each in its own block, never pooled
    life = analysis.analyze(
        pd.concat([trials, _lifecycle_rows()], ignore_index=True), tmp_path / "both"
    )
    page = views.headline(
        [{}], life.summary, life.comparisons, life.figures, life.trials, more=life.answers
    )["text/html"]
    assert "These runs hold 2 experiments (lifecycle, concurrency)" in page
    assert page.count('class="experiment"') == 2


def _lifecycle_rows() -> pd.DataFrame:
    rows = []
    for rnd in range(6):
        for rt, base in (("runc", 0.03), ("crun", 0.02)):
            for step in ("create", "start", "kill", "delete", "run"):
                rows.append(
                    {
                        "run_id": "l",
                        "experiment": "lifecycle",
                        "client": "oci",
                        "runtime": rt,
                        "round": rnd,
                        "trial": rnd,
                        "warmup": False,
                        "step": step,
                        "wall_s": base * (1 + 0.01 * rnd),
                        "user_s": 0.001,
                        "sys_s": 0.001,
                        "ok": True,
                        "pace_s": 0.1,
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "curve, says_knee", [({1: 10, 2: 20, 4: 40}, False), ({1: 10, 2: 19, 4: 19.5}, True)]
)
def test_the_knee_is_called_the_finding_only_when_there_is_one(curve, says_knee):
    """issue 31: 'the knee is the finding' was printed beside a curve with no knee."""
    s = cs.summarize(synthetic(curve, batches=6))
    lines = cs.headlines(s, cs.knees(s), cores=2)
    assert lines and all("exceeds this host's 2 cores" in line for line in lines)
    assert all(("the knee is the finding" in line) == says_knee for line in lines)


def test_the_figure_says_which_kind_of_band_it_draws():
    from rtlab.analysis import concurrency_plots

    one = cs.summarize(synthetic({1: 10.0, 2: 19.0}, batches=8))
    assert "this sitting's" in concurrency_plots.bands_text(one)
    two = cs.summarize(
        pd.concat(
            [
                synthetic({2: 20.0}, batches=8),
                synthetic({2: 10.0}, batches=8, seed=2).assign(run_id="t"),
            ],
            ignore_index=True,
        )
    )
    text = concurrency_plots.bands_text(two)
    assert "across 2 runs" in text and "this sitting" not in text
