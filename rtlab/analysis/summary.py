"""Per-target summaries: each (experiment, target, step)'s median with its order-statistic
CI, spread and outliers (flagged, never dropped), and the warnings about noisy or thin
targets.

Split out of stats.py (issue 32), which re-exports every name.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from rtlab.analysis.frames import (
    TOTAL_STEP,
    experiment_rank,
    is_sample,
    samples,
    step_rank,
    target_label,
)
from rtlab.core.noise import NOISY_CV

CONFIDENCE = 0.95
OUTLIER_Z = 3.5
MEDIAN_CI_METHOD = "order-statistic (exact binomial)"

SUMMARY_COLUMNS: list[str] = [
    "experiment",
    "client",
    "runtime",
    "step",
    "n",
    "n_failed",
    "median_s",
    "ci_low_s",
    "ci_high_s",
    "ci_coverage",
    "iqr_s",
    "mad_s",
    "mean_s",
    "sd_s",
    "min_s",
    "max_s",
    "cv",
    "n_outliers",
    "ci_method",
]


class MedianCI(NamedTuple):
    """A confidence interval for a median and its exact coverage."""

    low: float
    high: float
    coverage: float


def modified_z_scores(values: np.ndarray) -> np.ndarray:
    """Modified z-scores ``0.6745 * (x - median) / MAD`` (Iglewicz & Hoaglin, 1993).

    Boris Iglewicz and David Hoaglin, "How to Detect and Handle Outliers",
    ASQC Basic References in Quality Control vol. 16, 1993. MAD is the raw
    (unscaled) median absolute deviation; 0.6745 is the 0.75 quantile of the
    standard normal, so the score is in standard-deviation units for normal data.

    Parameters
    ----------
    values : numpy.ndarray
        One sample.

    Returns
    -------
    numpy.ndarray
        The score of each value. When MAD is 0 (more than half of the values are
        equal) a value equal to the median scores 0 and any other value ±inf,
        the limit of the formula (hyperfine's ``outlier_detection.rs`` does the
        same by replacing a zero MAD with machine epsilon).
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return x
    deviation = x - np.median(x)
    mad = np.median(np.abs(deviation))
    if mad == 0:
        return np.where(deviation == 0, 0.0, np.copysign(np.inf, deviation))
    return 0.6745 * deviation / mad


def flag_outliers(trials: pd.DataFrame, *, threshold: float = OUTLIER_Z) -> pd.DataFrame:
    """The measured rows with their modified z-score and an ``outlier`` flag.

    Outliers are flagged, never dropped: every statistic in this module still
    uses them.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame.
    threshold : float
        A sample is an outlier when ``|modified z| > threshold``; 3.5 is the
        cut-off Iglewicz & Hoaglin recommend (see :func:`modified_z_scores`).

    Returns
    -------
    pandas.DataFrame
        :func:`samples` of ``trials`` plus ``modified_z`` (NaN for failed rows,
        computed within each client, runtime and step) and ``outlier`` (bool,
        False for failed rows). A frame that already is such an output is
        returned as it is, so callers can flag once and pass the result on.
    """
    if "modified_z" in trials.columns and "outlier" in trials.columns:
        return trials
    frame = samples(trials)
    valid_rows = np.flatnonzero(is_sample(frame))
    wall_s = frame["wall_s"].to_numpy(dtype=float, na_value=np.nan)
    z = np.full(len(frame), np.nan)
    keys = ["experiment", "client", "runtime", "step"]
    groups = frame[keys].iloc[valid_rows].groupby(keys, sort=False)  # 4 columns, not 25
    for index in groups.indices.values():
        rows = valid_rows[index]
        z[rows] = modified_z_scores(wall_s[rows])
    frame["modified_z"] = z
    frame["outlier"] = np.abs(np.nan_to_num(z, nan=0.0)) > threshold
    return frame


def _order_statistic_rank(n: int, confidence: float) -> int | None:
    """The largest 1-based rank k with coverage of ``[x_(k), x_(n+1-k)]`` >= confidence."""
    if n < 1:
        return None
    cdf = sps.binom.cdf(np.arange(n), n, 0.5)
    allowed = np.flatnonzero(cdf <= (1.0 - confidence) / 2.0)
    return int(allowed[-1]) + 1 if allowed.size else None


def median_ci(values: np.ndarray, *, confidence: float = CONFIDENCE) -> MedianCI:
    """Distribution-free confidence interval for the median from order statistics.

    The interval ``[x_(k), x_(n+1-k)]`` covers the population median with
    probability ``1 - 2 * P(B <= k - 1)``, ``B ~ Binomial(n, 1/2)``, for any
    continuous distribution; ``k`` is the largest rank whose coverage is at
    least ``confidence`` (so the interval is exact and conservative).

    Parameters
    ----------
    values : numpy.ndarray
        One sample (no NaN).
    confidence : float
        Required coverage, 0.95 by default.

    Returns
    -------
    MedianCI
        ``low`` and ``high`` bounds and the interval's exact ``coverage``; all
        NaN when the sample is too small (for 95 %, fewer than 6 values: even
        the full range covers only ``1 - 2 / 2**n``).
    """
    x = np.sort(np.asarray(values, dtype=float))
    k = _order_statistic_rank(x.size, confidence)
    if k is None:
        return MedianCI(np.nan, np.nan, np.nan)
    coverage = 1.0 - 2.0 * float(sps.binom.cdf(k - 1, x.size, 0.5))
    return MedianCI(float(x[k - 1]), float(x[x.size - k]), coverage)


def _describe(x: np.ndarray, confidence: float) -> dict[str, float | str]:
    """The summary statistics of one sample (possibly empty)."""
    n = x.size
    if n == 0:
        return {"ci_method": f"{MEDIAN_CI_METHOD}; no successful samples"}
    ci = median_ci(x, confidence=confidence)
    median_s = float(np.median(x))
    q25, q75 = np.percentile(x, [25, 75])
    mean_s = float(np.mean(x))
    sd_s = float(np.std(x, ddof=1)) if n > 1 else np.nan
    method = MEDIAN_CI_METHOD
    if np.isnan(ci.low):
        method += f"; n={n} is too few for a {confidence:.0%} interval"
    return {
        "median_s": median_s,
        "ci_low_s": ci.low,
        "ci_high_s": ci.high,
        "ci_coverage": ci.coverage,
        "iqr_s": float(q75 - q25),
        "mad_s": float(np.median(np.abs(x - median_s))),
        "mean_s": mean_s,
        "sd_s": sd_s,
        "min_s": float(np.min(x)),
        "max_s": float(np.max(x)),
        "cv": sd_s / mean_s if mean_s > 0 else np.nan,
        "ci_method": method,
    }


def summarize(trials: pd.DataFrame, *, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Summary statistics of wall time per client, runtime and step (and ``total``).

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame; warm-ups are excluded and totals derived here.
    confidence : float
        Coverage of the median's confidence interval.

    Returns
    -------
    pandas.DataFrame
        One row per (experiment, client, runtime, step), steps in lifecycle
        order, with the columns of :data:`SUMMARY_COLUMNS`:

        - ``n``: samples (ok rows with a wall time); ``n_failed``: other rows;
        - ``median_s`` with ``ci_low_s``/``ci_high_s`` from :func:`median_ci`,
          its exact ``ci_coverage`` and ``ci_method`` (which says when n is too
          small and the bounds are NaN);
        - ``iqr_s`` (75th minus 25th percentile, linear interpolation);
        - ``mad_s``: the *raw* median absolute deviation (not scaled; multiply
          by 1.4826 for a normal-consistent standard deviation);
        - ``mean_s``, ``sd_s`` (ddof=1), ``min_s``, ``max_s``, ``cv = sd/mean``;
        - ``n_outliers``: samples with ``|modified z| > 3.5`` (kept, not dropped;
          see :func:`flag_outliers`).
    """
    frame = flag_outliers(trials)
    valid = is_sample(frame)
    wall_s = frame["wall_s"].to_numpy(dtype=float, na_value=np.nan)
    outlier = frame["outlier"].to_numpy(dtype=bool)
    rows: list[dict[str, object]] = []
    keys = ["experiment", "client", "runtime", "step"]
    for (experiment, client, runtime, step), index in frame.groupby(
        keys, sort=False
    ).indices.items():
        good = index[valid[index]]
        rows.append(
            {
                "experiment": experiment,
                "client": client,
                "runtime": runtime,
                "step": step,
                "n": int(good.size),
                "n_failed": int(index.size - good.size),
                "n_outliers": int(outlier[good].sum()),
                **_describe(wall_s[good], confidence),
            }
        )
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    order = summary["step"].map(step_rank)
    return (
        summary.assign(_rank=order, _exp=summary["experiment"].map(experiment_rank))
        .sort_values(["_exp", "experiment", "client", "runtime", "_rank", "step"], kind="stable")
        .drop(columns=["_rank", "_exp"])
        .reset_index(drop=True)
    )


def noise_warnings(summary: pd.DataFrame, *, cv_limit: float = NOISY_CV) -> list[str]:
    """Warnings for noisy or thin targets, each saying what to do next.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarize`.
    cv_limit : float
        A (target, step) whose coefficient of variation exceeds this is noisy.

    Returns
    -------
    list of str
        One message per noisy (target, step), per (target, step) with too few
        samples for a median CI, and per (target, step) with failed rows (not
        repeated for the derived total).
    """
    messages: list[str] = []
    for row in summary.itertuples(index=False):
        where = f"{target_label(row.client, row.runtime)} {row.step}"
        if row.cv > cv_limit:
            messages.append(
                f"{where}: noisy, cv {row.cv:.2f} > {cv_limit:.2f} over {row.n} trials "
                f"({row.n_outliers} outliers). Collect more trials (--trials), run on a "
                "quieter host (stop other jobs, fix the CPU governor) and check the "
                "load before/after recorded in run.json."
            )
        if row.n > 0 and np.isnan(row.ci_low_s):
            messages.append(
                f"{where}: only {row.n} successful trials, too few for a "
                f"{CONFIDENCE:.0%} median CI. Collect at least 6 (--trials)."
            )
        if row.n_failed > 0 and row.step != TOTAL_STEP:
            messages.append(
                f"{where}: {row.n_failed} of {row.n + row.n_failed} trials failed. Read the "
                "error column of trials.csv; `rtlab doctor` checks the host setup."
            )
    return messages
