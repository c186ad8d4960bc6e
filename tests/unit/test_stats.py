"""Known-answer tests of rtlab.analysis.stats on seeded synthetic samples."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from _synthetic import fail, make_trials, two_targets
from scipy import stats as sps

from rtlab.analysis import shift, stats

REPS = 300
SEED = 20261127


def three_se(p: float, reps: int) -> float:
    """Three standard errors of a proportion p estimated from reps trials."""
    return 3.0 * np.sqrt(p * (1.0 - p) / reps)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


# --- median CI ---------------------------------------------------------------


def test_median_ci_covers_the_true_median(rng: np.random.Generator) -> None:
    true_median_s = 0.4
    hits = 0
    for _ in range(REPS):
        x = rng.lognormal(np.log(true_median_s), 0.3, size=25)
        ci = stats.median_ci(x)
        hits += ci.low <= true_median_s <= ci.high
    assert hits / REPS >= 0.95 - three_se(0.95, REPS)


def test_median_ci_uses_exact_order_statistics(rng: np.random.Generator) -> None:
    # n = 10: P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024, so k = 2.
    ci = stats.median_ci(rng.permutation(np.arange(1.0, 11.0)))
    assert (ci.low, ci.high) == (2.0, 9.0)
    assert ci.coverage == pytest.approx(1 - 2 * 11 / 1024)
    # n = 6: the full range covers 1 - 2/64 >= 0.95; n = 5 cannot reach 95 %.
    assert stats.median_ci(np.arange(6.0))[:2] == (0.0, 5.0)
    assert np.isnan(stats.median_ci(np.arange(5.0)).low)


# --- ratio CI ----------------------------------------------------------------


def test_ratio_ci_covers_the_true_ratio(rng: np.random.Generator) -> None:
    median_a_s, median_b_s = 0.5, 0.4
    hits = 0
    for _ in range(REPS):
        a = rng.lognormal(np.log(median_a_s), 0.2, size=30)
        b = rng.lognormal(np.log(median_b_s), 0.3, size=30)
        low, high = stats.ratio_ci(a, b, n_boot=1000, seed=rng)
        hits += low <= median_a_s / median_b_s <= high
    assert hits / REPS >= 0.95 - three_se(0.95, REPS)


def test_ratio_ci_is_reproducible_with_a_seed(rng: np.random.Generator) -> None:
    a, b = rng.lognormal(0, 0.2, 20), rng.lognormal(0, 0.2, 20)
    assert stats.ratio_ci(a, b, n_boot=500, seed=7) == stats.ratio_ci(a, b, n_boot=500, seed=7)
    assert stats.ratio_ci(a, b, n_boot=500, seed=7) != stats.ratio_ci(a, b, n_boot=500, seed=8)


# --- tests, adjustment, effect size -----------------------------------------


def test_p_values_are_their_intervals_inversions(rng: np.random.Generator) -> None:
    """The p printed is the inversion of the printed interval (shift.paired_test): at most
    the exact rank test's (scipy's), never below the next attainable one, and below
    1 − level exactly when the interval at that level excludes 1 (issue 31, items 4, 6)."""
    # 15 and 18 trials in the same rounds: paired on the 15 common rounds
    a, b = rng.lognormal(0.0, 0.2, 15), rng.lognormal(0.1, 0.2, 18)
    row = stats.compare(two_targets(a, b)).iloc[0]
    d = np.log(a) - np.log(b[:15])
    exact = sps.wilcoxon(d, method="exact").pvalue
    assert row["p"] == shift.paired_test(d)[1]
    assert 0.0 < row["p"] <= exact
    assert row["method"].startswith("paired") and row["n_rounds"] == 15
    assert row["p_adj"] == row["p"]  # one pair: nothing to adjust
    # 6 and 18: too few common rounds to pair; the exact Mann–Whitney, not the asymptotic
    row = stats.compare(two_targets(a[:6], b)).iloc[0]
    la, lb = np.log(a[:6]), np.log(b)
    assert row["p"] == shift.unpaired_test(la, lb)[1]
    assert row["p"] <= sps.mannwhitneyu(la, lb, method="exact").pvalue
    assert row["method"].startswith("unpaired")
    for level in (0.8, 0.9, 0.95, 0.99):
        for (interval,), p in (shift.paired_test(d, level), shift.unpaired_test(la, lb, level)):
            assert (interval.low > 0 or interval.high < 0) == (p < 1 - level)
    omnibus = stats.omnibus(two_targets(a[:6], b)).iloc[0]
    assert omnibus["p"] == sps.kruskal(a[:6], b).pvalue
    assert omnibus["h"] == sps.kruskal(a[:6], b).statistic
    assert omnibus["method"].startswith("unpaired")


def test_friedman_equals_scipy(rng: np.random.Generator) -> None:
    table = rng.lognormal(0.0, 0.2, (12, 3))
    table[3, 1] = table[3, 0]  # a tie within a round
    expected = sps.friedmanchisquare(*table.T)
    assert stats.friedman(table) == pytest.approx((expected.statistic, expected.pvalue))


def test_holm_worked_example() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.04*1, 0.06) = 0.06
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    # capped at 1 and monotone: 0.4*3 = 1.2 -> 1, then max(0.45*2, 1.2) -> 1, 0.5 -> 1
    np.testing.assert_allclose(stats.holm([0.4, 0.45, 0.5]), [1.0, 1.0, 1.0])
    # NaN stays NaN and does not count: m = 2
    np.testing.assert_allclose(stats.holm([np.nan, 0.01, 0.02]), [np.nan, 0.02, 0.02])


def test_cliffs_delta_hand_example() -> None:
    # pairs (a, b): (1,2)< (1,4)< (2,2)= (2,4)< (3,2)> (3,4)<  ->  (1 - 4) / 6
    assert stats.cliffs_delta(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0])) == -0.5
    assert stats.cliffs_delta(np.array([5.0, 6.0]), np.array([1.0, 2.0])) == 1.0


def test_cliffs_delta_equals_brute_force(rng: np.random.Generator) -> None:
    a, b = rng.integers(0, 10, 40).astype(float), rng.integers(0, 10, 30).astype(float)
    brute = (np.sign(a[:, None] - b[None, :])).mean()
    assert stats.cliffs_delta(a, b) == pytest.approx(brute)


def test_same_distribution_rarely_gives_a_verdict(rng: np.random.Generator) -> None:
    alpha = 0.05
    verdicts = []
    for rep in range(REPS):
        a, b = rng.lognormal(0, 0.2, 20), rng.lognormal(0, 0.2, 20)
        verdicts.append(stats.compare(two_targets(a, b), alpha=alpha, seed=rep).iloc[0]["verdict"])
    verdicts = np.array(verdicts)
    assert (verdicts == stats.FASTER).mean() <= alpha + three_se(alpha, REPS)
    assert (verdicts != stats.NO_CLEAR_DIFFERENCE).mean() <= alpha + three_se(alpha, REPS)


def test_clear_difference_gets_a_verdict_about_a(rng: np.random.Generator) -> None:
    fast, slow = rng.lognormal(np.log(0.1), 0.05, 20), rng.lognormal(np.log(0.2), 0.05, 20)
    row = stats.compare(two_targets(fast, slow)).iloc[0]
    assert (row["a"], row["b"], row["verdict"]) == ("a", "b", stats.FASTER)
    # the Hodges–Lehmann ratio, close to the ratio of medians here (kept as a descriptive column)
    assert row["ratio_of_medians"] == pytest.approx(np.median(fast) / np.median(slow))
    assert row["ratio"] == pytest.approx(row["ratio_of_medians"], rel=0.05)
    assert row["ratio_ci_low"] < row["ratio"] < row["ratio_ci_high"] < 1
    assert row["effect"] == -1.0
    row = stats.compare(two_targets(slow, fast)).iloc[0]
    assert row["verdict"] == stats.SLOWER


# --- outliers ----------------------------------------------------------------


def test_modified_z_hand_example() -> None:
    # median 3, MAD 1: z = 0.6745 * (x - 3)
    np.testing.assert_allclose(
        stats.modified_z_scores(np.array([1.0, 2.0, 3.0, 4.0, 9.0])),
        0.6745 * np.array([-2.0, -1.0, 0.0, 1.0, 6.0]),
    )
    flagged = stats.flag_outliers(
        two_targets(np.array([1.0, 2.0, 3.0, 4.0, 9.0]), np.array([1.0, 2.0, 3.0, 4.0, 8.0]))
    )
    # 9: z = 4.05 > 3.5; 8: z = 3.37, not an outlier
    assert flagged.loc[flagged["outlier"], "wall_s"].tolist() == [9.0]


def test_zero_mad_flags_values_off_the_median() -> None:
    z = stats.modified_z_scores(np.array([1.0, 1.0, 1.0, 2.0]))
    assert z.tolist() == [0.0, 0.0, 0.0, np.inf]


def test_outliers_are_counted_not_dropped() -> None:
    summary = stats.summarize(
        two_targets(np.array([1.0, 2.0, 3.0, 4.0, 9.0, 2.5, 3.5]), np.arange(1.0, 8.0))
    )
    row = summary[summary["runtime"] == "a"].iloc[0]
    assert (row["n"], row["n_outliers"], row["max_s"]) == (7, 1, 9.0)


# --- totals, warm-ups, failures ---------------------------------------------


def one_target(n_trials: int = 8) -> pd.DataFrame:
    return make_trials(
        {
            ("oci", "runc"): {
                "create": 0.01,
                "start": 0.02,
                "kill": 0.005,
                "delete": 0.008,
                "run": 0.03,
            }
        },
        n_trials=n_trials,
        n_warmup=2,
    )


def test_total_is_the_sum_of_four_ok_steps() -> None:
    trials = one_target()
    trials = fail(trials, client="oci", runtime="runc", trial=4, step="start")
    trials = trials[~((trials["trial"] == 5) & (trials["step"] == "kill"))]  # a step never ran
    totals = stats.lifecycle_totals(trials)
    by_trial = totals.set_index("trial")
    assert not by_trial.loc[4, "ok"] and np.isnan(by_trial.loc[4, "wall_s"])
    assert not by_trial.loc[5, "ok"]
    life = trials[(trials["trial"] == 6) & trials["step"].isin(stats.LIFECYCLE_STEPS)]
    assert by_trial.loc[6, "wall_s"] == pytest.approx(life["wall_s"].sum())
    total = stats.summarize(trials).set_index("step").loc["total"]
    assert (total["n"], total["n_failed"]) == (6, 2)


def test_warmups_are_excluded() -> None:
    trials = one_target()
    trials.loc[trials["warmup"], "wall_s"] = 100.0
    summary = stats.summarize(trials).set_index("step")
    assert (summary["n"] == 8).all()
    assert (summary["max_s"] < 1.0).all()
    assert not stats.samples(trials)["warmup"].any()


def test_failed_rows_counted_in_n_failed() -> None:
    trials = fail(one_target(), client="oci", runtime="runc", trial=3, step="run")
    row = stats.summarize(trials).set_index("step").loc["run"]
    assert (row["n"], row["n_failed"]) == (7, 1)


def test_summary_columns_and_small_samples() -> None:
    summary = stats.summarize(one_target(n_trials=3))
    assert set(stats.SUMMARY_COLUMNS) <= set(summary.columns)
    assert summary["step"].tolist() == ["create", "start", "kill", "delete", "total", "run"]
    assert summary["ci_low_s"].isna().all()
    assert summary["ci_method"].str.contains("too few").all()
    assert summary["ci_method"].str.startswith("order-statistic (exact binomial)").all()


def test_mad_is_raw_and_iqr_linear() -> None:
    row = stats.summarize(
        two_targets(np.array([1.0, 2.0, 3.0, 4.0, 9.0]), np.arange(1.0, 6.0))
    ).iloc[0]
    assert (row["median_s"], row["mad_s"], row["iqr_s"]) == (3.0, 1.0, 2.0)


# --- families ----------------------------------------------------------------


def test_families_pair_each_member_once() -> None:
    comparisons = stats.compare(make_trials(n_trials=8))
    assert set(stats.COMPARISON_COLUMNS) <= set(comparisons.columns)
    runc_total = comparisons[
        (comparisons["family"] == "runtime=runc") & (comparisons["step"] == "total")
    ]
    assert list(zip(runc_total["a"], runc_total["b"])) == [
        ("ctr", "docker"),
        ("ctr", "podman"),
        ("docker", "podman"),
    ]
    docker = comparisons[comparisons["family"] == "client=docker"]
    assert set(docker["step"]) == {"create", "start", "kill", "delete", "total", "run"}
    # single-member families (client=ctr, client=podman, runtime=runsc) give no pairs
    assert set(comparisons["family"]) == {"client=docker", "runtime=runc"}


def test_holm_applies_within_family_and_step() -> None:
    comparisons = stats.compare(make_trials(n_trials=8))
    for _, block in comparisons.groupby(["family", "step"]):
        np.testing.assert_allclose(block["p_adj"], stats.holm(block["p"].to_numpy()))


def test_single_member_family_gives_empty_frames() -> None:
    assert stats.compare(one_target()).empty
    assert list(stats.omnibus(one_target()).columns) == stats.OMNIBUS_COLUMNS


def test_compare_is_reproducible() -> None:
    trials = make_trials(n_trials=8)
    pd.testing.assert_frame_equal(stats.compare(trials, seed=3), stats.compare(trials, seed=3))


# --- warnings and purity -----------------------------------------------------


def test_noise_warnings_say_what_to_do() -> None:
    quiet = stats.summarize(make_trials(n_trials=10, sigma=0.02))
    assert stats.noise_warnings(quiet) == []
    noisy = stats.summarize(make_trials(n_trials=10, sigma=0.5))
    messages = stats.noise_warnings(noisy)
    assert messages and all("--trials" in m and "quieter host" in m for m in messages)
    assert any(m.startswith("docker/runc start: noisy, cv") for m in messages)


def test_stats_never_imports_matplotlib() -> None:
    code = (
        "import sys, rtlab.analysis.stats; "
        "sys.exit(any(m.split('.')[0] in ('matplotlib', 'seaborn') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_robust_sd_is_the_normal_scaled_mad_or_the_sd():
    # scipy's median_abs_deviation(scale="normal") replaced rtlab's own 1.4826 × MAD: the
    # same figure up to the constant's rounding (1/Φ⁻¹(3/4) = 1.482602…)
    rng = np.random.default_rng(3)
    for x in (rng.lognormal(0, 0.3, 25), rng.normal(5, 2, 8), np.array([1.0, 2.0, 4.0])):
        own = 1.4826 * float(np.median(np.abs(x - np.median(x))))
        assert stats._robust_sd(x) == pytest.approx(own, rel=2e-6)
    tied = np.array([1.0, 1.0, 1.0, 1.0, 5.0])  # MAD 0: the sample SD
    assert stats._robust_sd(tied) == pytest.approx(float(np.std(tied, ddof=1)))
    assert np.isnan(stats._robust_sd(np.array([1.0])))
