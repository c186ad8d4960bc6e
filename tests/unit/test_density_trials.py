"""Density with the trial as unit (issue 31, item 5): a slope per trial, the estimate and
its interval across trials, "not resolvable here", the spread keeping negative slopes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from rtlab.analysis import density_stats as ds
from rtlab.report import density_report as dr
from rtlab.report.report import REPORT_EXTRAS

LEVELS = (1, 3, 6)


def _frame(slopes: dict[tuple[str, str], list[float]], runtime: str = "runc") -> pd.DataFrame:
    """density.csv rows: per (client, method), one trial per slope, exact lines over N."""
    rows = []
    for (client, method), per_trial in slopes.items():
        for trial, b in enumerate(per_trial):
            for n in LEVELS:
                rows.append(
                    dict(
                        run_id="r",
                        client=client,
                        runtime=runtime,
                        method=method,
                        trial=trial,
                        warmup=False,
                        n=n,
                        bytes=(5 + b * n) * ds.MB,
                        daemons="",
                        daemons_bytes=np.nan,
                        ok=True,
                        error="",
                    )
                )
    return pd.DataFrame(rows)


def _one(slopes: pd.DataFrame, method: str):
    return slopes.set_index("method").loc[method]


def test_each_trial_gets_its_own_slope_over_its_own_levels():
    per = ds.memory_trial_slopes(_frame({("oci", "pss"): [1.0, 2.0, 9.0]}))
    assert per.mb.tolist() == pytest.approx([1.0, 2.0, 9.0])
    assert per.trial.tolist() == [0, 1, 2] and set(per.levels) == {"1,3,6"}


def test_the_interval_is_for_the_printed_estimate_the_mean_of_the_trials_slopes():
    """Trial slopes 1, 2, 9: the pooled readings' median pairwise slope is not their
    mean; the estimate printed is the mean (4) and the t-interval is centred on it."""
    s = _one(ds.memory_slopes(_frame({("oci", "pss"): [1.0, 2.0, 9.0]})), "pss")
    assert s.mb == pytest.approx(4.0)
    half = sps.t.ppf(0.975, 2) * np.std([1, 2, 9], ddof=1) / math.sqrt(3)
    assert (s.low, s.high) == pytest.approx((4 - half, 4 + half))
    assert (s.low + s.high) / 2 == pytest.approx(s.mb)
    pooled = sps.theilslopes(
        _frame({("oci", "pss"): [1.0, 2.0, 9.0]}).bytes / ds.MB, np.tile(LEVELS, 3)
    )[0]
    assert abs(pooled - s.mb) > 1  # the old estimand was another number


def test_runs_analysed_together_keep_their_trials_apart():
    a = _frame({("oci", "pss"): [1.0, 2.0, 3.0]})
    b = _frame({("oci", "pss"): [4.0, 5.0, 6.0]}).assign(run_id="s")
    s = _one(ds.memory_slopes(pd.concat([a, b])), "pss")
    assert s.trials == 6 and s.mb == pytest.approx(3.5)


@pytest.mark.parametrize(("share", "status"), [(0.49, ds.RESOLVED), (0.51, ds.UNRESOLVABLE)])
def test_unresolvable_when_the_half_width_exceeds_half_the_estimate(share, status):
    # three slopes 10 − d, 10, 10 + d: sd = d, half-width t(0.975, 2)·d/√3
    d = share * 10 * math.sqrt(3) / sps.t.ppf(0.975, 2)
    fit = ds.across_trials([10 - d, 10, 10 + d])
    assert fit["status"] == status and fit["estimate"] == pytest.approx(10)
    assert (fit["high"] - fit["estimate"]) == pytest.approx(share * 10)


def test_an_interval_holding_zero_is_unresolvable_and_the_report_prints_no_estimate():
    df = _frame({("oci", "memavailable"): [-5.0, 3.0, 14.0], ("oci", "pss"): [2.0, 2.1, 2.2]})
    s = ds.memory_slopes(df)
    found = dr.Density(
        runs=[],
        density=df,
        trials=pd.DataFrame(),
        slopes=s,
        trial_slopes=ds.memory_trial_slopes(df),
        methods=ds.disagreement(s),
        interference=pd.DataFrame(columns=["trials"]),
    )
    ma = _one(s, "memavailable")
    assert ma.status == ds.UNRESOLVABLE and ma.low < 0 < ma.high
    assert ma.mb == pytest.approx(4.0) and ma.trial_mb == "-5; 3; 14"  # kept in the frame
    cell = dr.memory_table(found).iloc[0]["memavailable (MB per container)"]
    assert cell.startswith("not resolvable here (95% CI ") and "4.0" not in cell
    assert dr.memory_table(found).iloc[0]["pss (MB per container)"].startswith("2.1 MB [")


def test_a_precise_negative_memory_slope_is_unresolvable_but_a_negative_start_slope_is_not():
    mem = ds.across_trials([-8.0, -9.0, -10.0], nonnegative=True)
    assert mem["status"] == ds.UNRESOLVABLE and mem["note"].startswith("memory fell")
    start = ds.across_trials([-8.0, -9.0, -10.0])
    assert start["status"] == ds.RESOLVED and start["estimate"] == pytest.approx(-9)


def test_fewer_than_the_minimum_trials_give_no_interval_and_say_why():
    assert ds.MIN_TRIALS_CI == 3
    fit = ds.across_trials([2.0, 3.0])
    assert fit["status"] == ds.NO_INTERVAL and math.isnan(fit["low"]) and math.isnan(fit["high"])
    assert fit["note"] == "no CI: 2 trials, an interval needs at least 3"
    cell = dr._cell(fit["estimate"], fit["low"], fit["high"], fit["status"], fit["note"], "MB")
    assert cell == "2.5 MB (no CI: 2 trials, an interval needs at least 3)"
    split = ds.across_trials([-2.0, 3.0])  # two trials disagreeing in sign: unresolvable
    assert split["status"] == ds.UNRESOLVABLE and "disagree in sign" in split["note"]
    assert ds.across_trials([])["status"] == ds.NO_SLOPE


def test_negative_slopes_are_kept_in_the_spread_table_and_the_note_says_why():
    df = _frame(
        {
            ("oci", "memavailable"): [-8.0, -9.0, -10.0],
            ("oci", "pss"): [2.0, 2.0, 2.0],
            ("oci", "cgroup"): [0.5, 0.5, 0.5],
            ("docker", "memavailable"): [-8.0, -9.0, -10.0],
            ("docker", "pss"): [2.0, 2.0, 2.0],
        }
    )
    d = ds.disagreement(ds.memory_slopes(df)).set_index("client")
    assert d.loc["oci", "memavailable"] == pytest.approx(-9)  # shown, not dropped
    assert d.loc["oci", "spread"] == pytest.approx(4)
    assert d.loc["oci", "spread_note"] == (
        "pss over cgroup; left out: memavailable not resolvable here"
    )
    assert math.isnan(d.loc["docker", "spread"])
    assert d.loc["docker", "spread_note"] == (
        "fewer than two methods to compare (memavailable not resolvable here)"
    )


def test_make_report_runs_enough_trials_for_an_interval():
    assert REPORT_EXTRAS["density"]["trials"] >= ds.MIN_TRIALS_CI


def test_the_headline_says_not_resolvable_without_an_estimate():
    df = pd.concat(
        [
            _frame({("oci", "pss"): [-5.0, 3.0, 14.0]}, runtime="runsc"),
            _frame({("oci", "pss"): [0.05, 0.05, 0.05]}, runtime="runc"),
        ]
    )
    (line,) = dr.headline(ds.memory_slopes(df))
    assert line.startswith("Through oci, by pss per container: runsc not resolvable here (")
    assert line.endswith("runc 0.05 MB [0.05, 0.05].") and "4.0" not in line


def _three(sandboxed: str, reference: str = "runc") -> pd.DataFrame:
    """pss slopes of three runtimes through oci: ``sandboxed`` 11 MB, ``reference`` 0.15,
    crun 0.10 (the cheapest, so costliest-against-cheapest would name crun)."""
    return pd.concat(
        [
            _frame({("oci", "pss"): [11.0, 11.1, 10.9]}, runtime=sandboxed),
            _frame({("oci", "pss"): [0.15, 0.15, 0.15]}, runtime=reference),
            _frame({("oci", "pss"): [0.10, 0.10, 0.10]}, runtime="crun"),
        ]
    )


@pytest.mark.parametrize(
    "sandboxed, reference",
    [("runsc", "runc"), ("runsc-kvm", "runc"), ("runsc-dev", "runc"), ("runsc", "runc-1.2")],
)
def test_the_headline_sets_a_sandboxed_runtime_against_the_reference_by_their_records(
    sandboxed, reference
):
    """core/runtimes.py's ``sandbox`` and ``reference``, read through a user's build too
    (runsc-dev is a runsc, runc-1.2 a runc): never names read in density_report.py."""
    (line,) = dr.headline(ds.memory_slopes(_three(sandboxed, reference)))
    assert line.startswith(f"Through oci, a {sandboxed} container costs 11.0 MB")
    assert f"against {reference}'s 0.15 MB" in line


def test_without_a_reference_the_headline_is_the_costliest_against_the_cheapest():
    df = pd.concat([_three("runsc")[lambda f: f.runtime != "runc"]])
    (line,) = dr.headline(ds.memory_slopes(df))
    assert "a runsc container costs 11.0 MB" in line and "against crun's 0.10 MB" in line
