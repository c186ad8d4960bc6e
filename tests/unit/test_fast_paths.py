"""Vectorised statistics give the numbers of their plain reference loops (issue 18)."""

import numpy as np

from rtlab.analysis import stats


def test_friedman_tie_correction_matches_the_row_by_row_loop() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, k = int(rng.integers(1, 30)), int(rng.integers(2, 7))
        values = np.round(rng.normal(size=(n, k)), int(rng.integers(0, 2)))  # ties often
        reference = 0.0
        for row in np.sort(values, axis=1):
            _, counts = np.unique(row, return_counts=True)
            reference += float((counts**3 - counts).sum())
        assert stats._tie_sum(np.sort(values, axis=1)) == reference


# -- the analysis at 100k rows (issue 18): each fast path against the computation it
#    replaced, number for number ------------------------------------------------------

import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats as sps  # noqa: E402

from rtlab.analysis import shift  # noqa: E402
from rtlab.core import results  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample-paced" / "run-1"


def test_signed_rank_normal_approximation_is_scipys_to_the_last_bit() -> None:
    rng = np.random.default_rng(1)
    for i in range(300):
        d = rng.normal(rng.normal(0, 0.05), 0.1, int(rng.integers(51, 2000)))
        d = np.round(d, (3, 2, 8)[i % 3])  # ties often
        d = d[d != 0]
        for alternative in ("two-sided", "less", "greater"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                expected = float(sps.wilcoxon(d, alternative=alternative).pvalue)
            assert stats._wilcoxon(d, alternative) == expected


def test_robust_sd_is_scipys_median_abs_deviation() -> None:
    rng = np.random.default_rng(2)
    for n in (2, 3, 12, 13, 1667):
        x = rng.lognormal(0, 0.3, n)
        assert stats._robust_sd(x) == float(sps.median_abs_deviation(x, scale="normal"))


def test_few_distinct_values_give_the_direct_order_statistics(monkeypatch) -> None:
    """Long runs with ties (whole rounds repeated, a coarse timer) pick the order
    statistics from the distinct Walsh averages / differences with their multiplicities:
    the very numbers the direct path sorts."""
    rng = np.random.default_rng(3)
    d = rng.choice(np.round(rng.normal(0.1, 0.2, 40), 3), 800)
    x, y = rng.choice(rng.normal(0, 1, 30), 600), rng.choice(rng.normal(0.3, 1, 25), 500)
    monkeypatch.setattr(shift, "_DIRECT_MAX", 10**9)
    direct = [*shift.paired(d, 0.95, 0.9), *shift.unpaired(x, y, 0.95, 0.9)]
    monkeypatch.setattr(shift, "_DIRECT_MAX", 1000)  # 800 rounds: the weighted path
    weighted = [*shift.paired(d, 0.95, 0.9), *shift.unpaired(x, y, 0.95, 0.9)]
    assert np.array_equal(np.array(direct), np.array(weighted))


def _reference_totals(trials: pd.DataFrame, steps: tuple, name: str = "total") -> pd.DataFrame:
    """The grouping by every trial key that stats._totals replaced."""
    keys = ["run_id", "experiment", "client", "runtime", "round", "trial", "warmup"]
    keys += [c for c in ("pace_s", "network", "mode") if c in trials.columns]
    life = trials[trials["step"].isin(steps)]
    life = life.assign(_good=stats.is_sample(life))
    grouped = life.groupby(keys, sort=False, dropna=False)
    counts = grouped.agg(
        n_good=("_good", "sum"), n_steps=("step", "nunique"), n_rows=("step", "size")
    )
    times = grouped[["wall_s", "user_s", "sys_s"]].sum(min_count=len(steps))
    complete = (
        (counts["n_good"] == len(steps))
        & (counts["n_steps"] == len(steps))
        & (counts["n_rows"] == len(steps))
    )
    times.loc[~complete] = np.nan
    totals = times.reset_index()
    totals.insert(len(keys), "step", name)
    totals["ok"] = complete.to_numpy()
    totals["exit_code"] = pd.array([pd.NA] * len(totals), dtype="Int64")
    totals["error"] = np.where(
        complete.to_numpy(), "", f"derived: not all {len(steps)} steps of the total ran ok"
    )
    return totals


def _awkward_runs() -> list[pd.DataFrame]:
    base = results.load_run(SAMPLE)[1]
    rng = np.random.default_rng(4)
    failed = base.copy()
    failed.loc[failed.index[::13], "ok"] = False
    failed.loc[failed.index[::17], "wall_s"] = np.nan
    failed.loc[failed.index[::19], "pace_s"] = np.nan
    failed.loc[failed.index[::7], "network"] = np.nan
    return [
        base,
        base.drop(index=rng.choice(len(base), 40, replace=False)),
        pd.concat([base, base.iloc[rng.choice(len(base), 30)]], ignore_index=True),
        failed,
    ]


@pytest.mark.parametrize("case", range(4))
def test_totals_by_integer_codes_equal_the_grouping_by_trial_keys(case: int) -> None:
    trials = _awkward_runs()[case]
    steps = stats.LIFECYCLE_STEPS
    expected = _reference_totals(trials, steps)
    assert expected["ok"].sum() > 0 and (case == 0 or not expected["ok"].all())
    pd.testing.assert_frame_equal(stats._totals(trials, steps), expected, check_exact=True)


def test_labels_keys_and_distinct_rows_equal_the_row_by_row_strings() -> None:
    frame = stats.samples(
        pd.concat(
            [results.load_run(SAMPLE)[1], results.load_run(SAMPLE.parent / "run-2")[1]],
            ignore_index=True,
        )
    )
    labels = [stats.target_label(c, r) for c, r in zip(frame["client"], frame["runtime"])]
    assert list(stats._target_labels(frame)) == labels
    keys, inverse = stats._distinct_round_keys(frame)
    expected = (frame["run_id"].astype(str) + "\x1f" + frame["round"].astype(str)).tolist()
    assert list(keys[inverse]) == expected
    columns = ["client", "runtime", "step"]
    pd.testing.assert_frame_equal(
        stats._distinct_rows(frame, columns), frame[columns].drop_duplicates()
    )
