"""The across-hosts interval (benchmarks/hosts_coverage.py): B/A is said to be the typical
ratio of a B trial to an A trial, its CI inverts the Brunner–Munzel test (whose coverage
holds when the hosts' spreads differ, where the Mann–Whitney inversion's did not), and
below hosts.MIN_TRIALS_CI trials on a host the estimate is printed without a CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from rtlab.analysis import hosts, shift
from rtlab.report import hosts_report


def _host(label: str, wall: np.ndarray) -> hosts.Host:
    n = wall.size
    trials = pd.DataFrame(
        {
            "run_id": label,
            "experiment": "lifecycle",
            "client": "oci",
            "runtime": "runc",
            "mode": "rootful",
            "network": "",
            "pace_s": 0.1,
            "round": np.arange(n),
            "trial": np.arange(n),
            "warmup": False,
            "step": "run",
            "ok": True,
            "wall_s": wall,
            "user_s": 0.0,
            "sys_s": 0.0,
        }
    )
    return hosts.Host(label, ({},), trials)


def _pair(n_a: int, n_b: int, seed: int = 7) -> tuple[hosts.Host, hosts.Host]:
    rng = np.random.default_rng(seed)
    a = 0.05 * np.exp(rng.normal(0, 0.2, n_a))
    b = 0.06 * np.exp(rng.normal(0, 0.6, n_b))  # B three times as spread (log scale)
    return _host("A", a), _host("B", b)


def test_the_ci_is_the_brunner_munzel_inversion_around_the_hodges_lehmann_ratio() -> None:
    a, b = _pair(10, 20)
    row = hosts.across(a, b).iloc[0]
    la, lb = np.log(a.trials["wall_s"].to_numpy()), np.log(b.trials["wall_s"].to_numpy())
    (bm,), p = shift.unpaired_bm_test(lb, la, 0.95)
    (mw,), _ = shift.unpaired_test(lb, la, 0.95)
    assert np.isclose(np.log(row.ratio), bm.estimate) and np.isclose(bm.estimate, mw.estimate)
    assert np.isclose(np.log(row.ci_low), bm.low) and np.isclose(np.log(row.ci_high), bm.high)
    assert (bm.low, bm.high) != (mw.low, mw.high) and np.isclose(row.p, p)
    assert row.ci_low <= row.ratio <= row.ci_high


def test_below_min_trials_ci_the_estimate_is_printed_without_a_ci() -> None:
    a, b = _pair(hosts.MIN_TRIALS_CI - 1, 20)
    table = hosts.across(a, b)
    row = table.iloc[0]
    assert np.isfinite(row.ratio) and np.isnan(row.ci_low) and np.isnan(row.ci_high)
    assert np.isnan(row.p) and row.verdict == hosts.NO_CI
    lines = hosts.format_lines(table, hosts.differences([a, b]))
    assert "no CI" in lines[-1] and hosts.NO_CI in lines[-1]
    shown = hosts_report.across_table(table)
    assert shown.filter(like="95% CI").iloc[0, 0] == "—"


def test_the_estimand_is_said_where_the_ratio_is_printed() -> None:
    a, b = _pair(10, 10)
    table = hosts.across(a, b)
    sentence = "the typical ratio of a B trial to an A trial"
    assert sentence in hosts.ESTIMAND and "Brunner–Munzel" in hosts.CI_METHOD
    lines = hosts.format_lines(table, hosts.differences([a, b]))
    assert hosts.ESTIMAND in lines[1] and hosts.CI_METHOD in lines[1]
    shown = hosts_report.across_table(table)
    assert any("Brunner–Munzel" in c for c in shown.columns)
    assert not any("Mann–Whitney" in c for c in shown.columns)


def test_brunner_munzel_statistic_and_its_permutation_null() -> None:
    rng = np.random.default_rng(1)
    x, y = np.sort(rng.normal(0.3, 1, 12)), np.sort(rng.normal(0, 0.3, 9))
    stat, _ = shift._brunner_munzel(x, y)
    assert np.isclose(stat, -sps.brunnermunzel(x, y).statistic)
    # ties: the t approximation, scipy's p
    tx, ty = np.sort(np.round(x, 0)), np.sort(np.round(y, 0))
    assert np.isclose(shift._brunner_munzel(tx, ty)[1], sps.brunnermunzel(tx, ty).pvalue)
    # the permutation null of 3 and 3 is the 20 splits: complete separation is p 2/20
    assert shift._brunner_munzel(np.array([4.0, 5, 6]), np.array([1.0, 2, 3]))[1] == 0.1
