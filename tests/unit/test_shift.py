"""Known answers for the one estimate per comparison (rtlab/analysis/shift.py), its coverage,
equivalence as practitioners mean it, and experiments never pooled (issue 18)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _synthetic import make_trials

from rtlab import cli
from rtlab.analysis import analysis, compare, shift, stats

RATIO = 1.15
ROUND_SD = 0.17  # each target's round effect
NOISE_SD = 0.05  # each trial's own noise
RHO = 0.7  # correlation of two targets' round effects
REPS = 2000


def paired_log_ratios(rng: np.random.Generator, reps: int, n: int, ratio: float) -> np.ndarray:
    """Per-round log(b / a) of ``reps`` simulated paired runs of ``n`` rounds, b = ratio × a."""
    cov = ROUND_SD**2 * np.array([[1.0, RHO], [RHO, 1.0]])
    rounds = rng.multivariate_normal([0.0, 0.0], cov, size=(reps, n))
    noise = rng.normal(0.0, NOISE_SD, size=(reps, n, 2))
    log_a = rounds[..., 0] + noise[..., 0]
    log_b = np.log(ratio) + rounds[..., 1] + noise[..., 1]
    return log_b - log_a


@pytest.mark.parametrize("n_rounds", [12, 20])
def test_ci_covers_the_true_ratio_at_its_level(n_rounds: int) -> None:
    rng = np.random.default_rng(18 + n_rounds)
    d = paired_log_ratios(rng, REPS, n_rounds, RATIO)
    estimate, low, high = shift.paired_many(d, stats.CONFIDENCE)
    covered = np.mean((low <= np.log(RATIO)) & (np.log(RATIO) <= high))
    se = np.sqrt(stats.CONFIDENCE * (1 - stats.CONFIDENCE) / REPS)
    # the nominal level ± 2 SE, and the interval's own exact level (discrete ranks) ± 2 SE
    assert abs(covered - stats.CONFIDENCE) <= 2 * se, (covered, se)
    # the estimate lies inside its own interval in every replicate
    assert np.all((low <= estimate) & (estimate <= high))


def test_vectorised_and_single_agree() -> None:
    d = paired_log_ratios(np.random.default_rng(3), 40, 12, RATIO)
    estimate, low, high = shift.paired_many(d, 0.95)
    for i in range(d.shape[0]):
        one = shift.paired(d[i], 0.95)[0]
        assert (one.estimate, one.low, one.high) == pytest.approx((estimate[i], low[i], high[i]))


def test_large_samples_by_bisection_match_the_direct_order_statistics(monkeypatch) -> None:
    rng = np.random.default_rng(4)
    d, x, y = rng.normal(0.1, 0.2, 900), rng.normal(0, 1, 700), rng.normal(0.3, 1, 500)
    direct = shift.paired(d, 0.95, 0.9), shift.unpaired(x, y, 0.95)
    monkeypatch.setattr(shift, "_DIRECT_MAX", 10)
    bisected = shift.paired(d, 0.95, 0.9), shift.unpaired(x, y, 0.95)
    for a, b in zip([*direct[0], *direct[1]], [*bisected[0], *bisected[1]]):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)


def test_interval_excludes_zero_whenever_the_test_rejects() -> None:
    rng = np.random.default_rng(5)
    rejected = 0
    for _ in range(300):
        d = rng.normal(0.05, 0.15, 12)
        (s,) = shift.paired(d, 0.95)
        if stats._wilcoxon(d) < 0.05:
            rejected += 1
            assert s.low > 0 or s.high < 0
    assert rejected > 20  # the check ran


def unpaired_frame(rng: np.random.Generator, n: int, ratio: float) -> pd.DataFrame:
    rows = []
    for name, factor in (("a", 1.0), ("b", ratio)):
        for r, w in enumerate(0.1 * factor * np.exp(rng.normal(0, 0.1, n))):
            rows.append(
                {
                    "run_id": f"r-{name}",
                    "client": "oci",
                    "runtime": name,
                    "round": r,
                    "trial": r,
                    "warmup": False,
                    "step": "run",
                    "wall_s": w,
                    "ok": True,
                    "user_s": 0.0,
                    "sys_s": 0.0,
                    "exit_code": 0,
                    "error": "",
                }
            )
    return pd.DataFrame(rows)


def test_every_comparison_prints_its_own_estimate_inside_its_own_ci() -> None:
    rng = np.random.default_rng(6)
    for _ in range(40):
        d = paired_log_ratios(rng, 1, 12, RATIO)[0]
        frame = frame_from_log_ratios(d)
        row = stats.compare(frame).iloc[0]
        assert row["method"].startswith("paired")
        assert row["ratio_ci_low"] <= row["ratio"] <= row["ratio_ci_high"]
        assert row["equiv_ci_low"] <= row["ratio"] <= row["equiv_ci_high"]
        (hl,) = shift.paired(-d, 0.95)  # a against b
        assert row["ratio"] == pytest.approx(np.exp(hl.estimate))
        row = stats.compare(unpaired_frame(rng, 15, RATIO)).iloc[0]
        assert row["method"].startswith("unpaired")
        assert row["ratio_ci_low"] <= row["ratio"] <= row["ratio_ci_high"]


def frame_from_log_ratios(d: np.ndarray) -> pd.DataFrame:
    """Targets a and b of one run, b = a × exp(d) round by round."""
    rng = np.random.default_rng(0)
    base = 0.1 * np.exp(rng.normal(0, 0.2, d.size))
    rows = []
    for name, walls in (("a", base), ("b", base * np.exp(d))):
        for r, w in enumerate(walls):
            rows.append(
                {
                    "run_id": "r",
                    "client": "oci",
                    "runtime": name,
                    "round": r,
                    "trial": r,
                    "warmup": False,
                    "step": "run",
                    "wall_s": float(w),
                    "ok": True,
                    "user_s": 0.0,
                    "sys_s": 0.0,
                    "exit_code": 0,
                    "error": "",
                }
            )
    return pd.DataFrame(rows)


# -- equivalence ---------------------------------------------------------------


def test_bounds_are_symmetric_on_the_log_scale() -> None:
    low, high = stats.equivalence_bounds(0.2)
    assert low == pytest.approx(1 / 1.2) and high == pytest.approx(1.2)
    assert np.log(low) == pytest.approx(-np.log(high))


@pytest.mark.parametrize(
    "p_adj, ci, equiv_ci, expected",
    [
        (0.5, (0.97, 1.02), (0.98, 1.01), (stats.EQUIVALENT, "")),
        (0.001, (0.97, 0.99), (0.975, 0.985), (stats.EQUIVALENT, stats.FASTER)),
        (0.001, (1.01, 1.03), (1.012, 1.028), (stats.EQUIVALENT, stats.SLOWER)),
        (0.001, (0.70, 0.80), (0.72, 0.78), (stats.FASTER, stats.FASTER)),
        (0.001, (1.20, 1.40), (1.22, 1.38), (stats.SLOWER, stats.SLOWER)),
        (0.30, (0.90, 1.15), (0.92, 1.12), (stats.INCONCLUSIVE, "")),
        # 1 - m = 0.95 would have counted this one; 1 / 1.05 = 0.952 does not
        (0.30, (0.94, 1.01), (0.951, 1.00), (stats.INCONCLUSIVE, "")),
    ],
)
def test_each_verdict_known_answer(p_adj, ci, equiv_ci, expected) -> None:
    assert stats.verdict(p_adj, *ci, *equiv_ci, 0.05, 0.05) == expected


def test_equivalent_and_significant_says_both() -> None:
    d = np.full(20, np.log(0.98)) + np.linspace(-0.004, 0.004, 20)  # a 2% faster, tightly
    row = stats.compare(frame_from_log_ratios(-d)).iloc[0]
    assert (row["verdict"], row["difference"]) == (stats.EQUIVALENT, stats.FASTER)
    (sentence,) = analysis.findings(pd.DataFrame([row]), stats.summarize(frame_from_log_ratios(-d)))
    assert "equivalent within ±5%" in sentence and "2% faster" in sentence
    assert f"ratio {row['ratio']:.2f}, 90% CI {row['equiv_ci_low']:.2f}–" in sentence


def test_identical_distributions_are_equivalent_at_margin_20_percent() -> None:
    """At the issue's noise (per-round log ratios with SD 0.15) a 12-round pair of
    identical targets is "equivalent" at ±20% in at least 95% of replicates; a
    significant difference without equivalence is a false positive whose rate is
    below alpha (the issue's report: "equivalent" not shown beside one)."""
    rng = np.random.default_rng(7)
    reps = 300
    rows = [
        stats.compare(
            frame_from_log_ratios(paired_log_ratios(rng, 1, 12, 1.0)[0]), margin=0.2
        ).iloc[0]
        for _ in range(reps)
    ]
    verdicts = [r["verdict"] for r in rows]
    assert np.mean([v == stats.EQUIVALENT for v in verdicts]) >= 0.95
    alone = np.mean([v in (stats.FASTER, stats.SLOWER) for v in verdicts])
    assert alone <= 0.05  # the false-positive rate of a significance test at alpha
    # every significant difference whose equivalence CI lies inside the bounds is
    # reported "equivalent" (with the difference beside it), never "faster/slower" alone
    for r in rows:
        inside = (r["equiv_ci_low"] > 1 / 1.2) and (r["equiv_ci_high"] < 1.2)
        assert (r["verdict"] == stats.EQUIVALENT) == inside


# -- experiments are never pooled ---------------------------------------------


def pause_trials(n_trials: int = 12) -> pd.DataFrame:
    medians = {
        ("docker", "runc"): {
            "create": 0.1,
            "start": 0.15,
            "pause": 0.03,
            "resume": 0.03,
            "kill": 0.05,
            "delete": 0.02,
        }
    }
    frame = make_trials(medians, n_trials=n_trials, n_warmup=0, seed=2)
    return frame.assign(experiment="pause", run_id="20261127T231500Z-test-0a0a")


def lifecycle_trials(n_trials: int = 12) -> pd.DataFrame:
    medians = {
        ("docker", "runc"): {
            "create": 0.1,
            "start": 0.15,
            "kill": 0.05,
            "delete": 0.02,
            "run": 0.3,
        },
        ("docker", "crun"): {
            "create": 0.1,
            "start": 0.12,
            "kill": 0.05,
            "delete": 0.02,
            "run": 0.25,
        },
    }
    return make_trials(medians, n_trials=n_trials, n_warmup=0, seed=3)


def test_lifecycle_and_pause_analysed_together_stay_apart(tmp_path: Path) -> None:
    trials = pd.concat([lifecycle_trials(), pause_trials()], ignore_index=True)
    result = analysis.analyze(trials, tmp_path, figures="report")
    assert result.experiments == ["lifecycle", "pause"]
    summary = result.summary.set_index(["experiment", "client", "runtime", "step"])
    for experiment in ("lifecycle", "pause"):
        assert summary.loc[(experiment, "docker", "runc", "create"), "n"] == 12  # not 24
    life = summary.loc[("lifecycle", "docker", "runc", "total"), "median_s"]
    pause = summary.loc[("pause", "docker", "runc", "total"), "median_s"]
    assert life == pytest.approx(0.32, rel=0.1) and pause == pytest.approx(0.38, rel=0.1)
    assert set(result.comparisons["experiment"]) == {"lifecycle"}  # one target in pause
    assert all(
        f.startswith(("Lifecycle experiment: ", "Pause experiment: ")) for f in result.findings
    )
    assert not any("pause cycle" in f for f in result.findings if f.startswith("Lifecycle"))
    on_disk = pd.read_csv(tmp_path / analysis.SUMMARY_FILE)
    assert on_disk.groupby(["experiment", "client", "runtime", "step"]).size().max() == 1
    assert {Path(f).parent.name for f in result.figures} <= {"lifecycle", "pause"}


def test_compare_refuses_runs_of_different_experiments(tmp_path: Path, capsys) -> None:
    source = Path(__file__).resolve().parents[2] / "data" / "sample-paced"
    run_a = source / "run-1"
    run_b = tmp_path / "run-2"
    shutil.copytree(source / "run-2", run_b)
    frame = pd.read_csv(run_b / "trials.csv", dtype=str, keep_default_na=False)
    frame.assign(experiment="pause").to_csv(run_b / "trials.csv", index=False)
    json.loads((run_b / "run.json").read_text())  # still a readable run
    code = cli.main(["compare", str(run_a), str(run_b)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "experiment lifecycle" in err[0] and "experiment pause" in err[0]
    with pytest.raises(compare.CompareError):
        compare.compare_runs(run_a, run_b)


def test_large_sample_selection_is_exactly_the_direct_order_statistics(monkeypatch) -> None:
    """The fast path (bracket by counting, list the few members inside) returns the very
    Walsh averages / differences the direct path sorts, and agrees with the plain
    bisection reference (:func:`shift._kth`) to rounding."""
    rng = np.random.default_rng(11)
    d = np.round(rng.normal(0.1, 0.2, 300), 3)  # ties included
    x, y = rng.normal(0, 1, 200), np.round(rng.normal(0.3, 1, 150), 2)
    direct = [*shift.paired(d, 0.95, 0.9), *shift.unpaired(x, y, 0.95)]
    monkeypatch.setattr(shift, "_DIRECT_MAX", 10)
    monkeypatch.setattr(shift, "_BRACKET_MAX", 50)
    fast = [*shift.paired(d, 0.95, 0.9), *shift.unpaired(x, y, 0.95)]
    assert np.array_equal(np.array(direct), np.array(fast))
    reference = shift._order_stats

    def bisection(values, total, ranks, bounds=None):
        return shift._kth(values()[0], np.asarray(ranks, dtype=float), *bounds)

    monkeypatch.setattr(shift, "_order_stats", bisection)
    bisected = [*shift.paired(d, 0.95, 0.9), *shift.unpaired(x, y, 0.95)]
    monkeypatch.setattr(shift, "_order_stats", reference)
    assert np.array(fast) == pytest.approx(np.array(bisected), rel=1e-12, abs=1e-12)
