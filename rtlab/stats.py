"""Pure statistics on the tidy trials frame (docs/DESIGN.md, "The data contract").

Every function here takes the tidy frame (or numpy samples) and returns frames,
arrays or strings; nothing here draws, so this module never imports matplotlib.

Conventions used throughout:

- Warm-up rows are excluded from every statistic.
- A *sample* is a row that is ``ok`` and has a finite ``wall_s``; ``n`` counts
  samples and ``n_failed`` counts the other rows of the same (target, step).
- The ``total`` of one trial is derived here, as the sum of the steps its
  experiment's ``total`` names (rtlab/experiments.py; the lifecycle's four),
  and only when all are ok; it is never stored. A frame without an
  ``experiment`` column is the lifecycle.
- A target is ``(client, runtime)``, labelled ``"client/runtime"``.
- Resampling functions take ``seed`` (an int, a ``numpy.random.Generator`` or
  None), as seaborn's ``algorithms.bootstrap`` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from rtlab import experiments
from rtlab.noise import NOISY_CV

LIFECYCLE_STEPS: tuple[str, ...] = experiments.EXPERIMENTS["lifecycle"].total
TOTAL_STEP = experiments.TOTAL_STEP
RUN_STEP = "run"
STEP_ORDER: tuple[str, ...] = experiments.step_order()

CONFIDENCE = 0.95
OUTLIER_Z = 3.5
MEDIAN_CI_METHOD = "order-statistic (exact binomial)"
RATIO_CI_METHOD = "percentile bootstrap"
FASTER = "faster"
SLOWER = "slower"
NO_CLEAR_DIFFERENCE = "no clear difference"

# Elements of one bootstrap index block; bounds memory for large samples.
_BOOT_BLOCK_ELEMENTS = 4_000_000
# The trial a lifecycle total belongs to.
_TRIAL_KEYS: list[str] = ["run_id", "client", "runtime", "round", "trial", "warmup"]

SUMMARY_COLUMNS: list[str] = [
    "client", "runtime", "step", "n", "n_failed", "median_s", "ci_low_s", "ci_high_s",
    "ci_coverage", "iqr_s", "mad_s", "mean_s", "sd_s", "min_s", "max_s", "cv",
    "n_outliers", "ci_method",
]
COMPARISON_COLUMNS: list[str] = [
    "family", "step", "a", "b", "n_a", "n_b", "median_a_s", "median_b_s", "ratio",
    "ratio_ci_low", "ratio_ci_high", "p", "p_adj", "effect", "verdict", "ratio_ci_method",
]
OMNIBUS_COLUMNS: list[str] = ["family", "step", "k", "n", "h", "p"]


class MedianCI(NamedTuple):
    """A confidence interval for a median and its exact coverage."""

    low: float
    high: float
    coverage: float


def target_label(client: str, runtime: str) -> str:
    """Label a target as ``"client/runtime"``, e.g. ``"docker/runc"``."""
    return f"{client}/{runtime}"


def step_rank(step: str) -> int:
    """Position of ``step`` in :data:`STEP_ORDER`; unknown steps sort last."""
    return STEP_ORDER.index(step) if step in STEP_ORDER else len(STEP_ORDER)


def ordered_steps(steps: Sequence[str]) -> list[str]:
    """The distinct ``steps`` in lifecycle order (create … delete, total, run, others)."""
    return sorted(set(steps), key=lambda s: (step_rank(s), s))


def _as_bool(column: pd.Series) -> np.ndarray:
    """A boolean column as a numpy array, missing values read as False."""
    return column.to_numpy(dtype=bool, na_value=False)


def is_sample(frame: pd.DataFrame) -> np.ndarray:
    """Which rows of a tidy frame are samples: ok and with a finite ``wall_s``."""
    wall_s = frame["wall_s"].to_numpy(dtype=float, na_value=np.nan)
    return _as_bool(frame["ok"]) & np.isfinite(wall_s)


def lifecycle_totals(trials: pd.DataFrame) -> pd.DataFrame:
    """Derive one ``total`` row per trial from its experiment's total steps.

    Each experiment in the frame (column ``experiment``, the lifecycle when
    absent) sums its own :attr:`~rtlab.experiments.Experiment.total`; an
    experiment whose rows lack one of those steps altogether (``--steps``
    measured a subset) gets no totals. Below, "four" is the lifecycle's count.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame.

    Returns
    -------
    pandas.DataFrame
        One row per (run_id, client, runtime, round, trial, warmup) that has any
        lifecycle row, with ``step == "total"``. ``wall_s``, ``user_s`` and
        ``sys_s`` are the sums of the four steps; the row is ``ok`` only when
        each of create, start, kill and delete is present once, ok and timed.
        Otherwise ``ok`` is False and the times are NaN.
    """
    names = (trials["experiment"].astype(str) if "experiment" in trials.columns
             else pd.Series(experiments.DEFAULT_EXPERIMENT, index=trials.index))
    blocks = []
    for name in names.unique():
        exp = experiments.EXPERIMENTS.get(name)
        rows = trials[(names == name).to_numpy()]
        if exp is None or not exp.total or not set(exp.total) <= set(rows["step"]):
            continue
        blocks.append(_totals(rows, exp.total))
    if not blocks:
        return trials.iloc[0:0][[*_TRIAL_KEYS, "step", "wall_s", "user_s", "sys_s", "ok"]]
    return pd.concat(blocks, ignore_index=True) if len(blocks) > 1 else blocks[0]


def _totals(trials: pd.DataFrame, steps: tuple[str, ...]) -> pd.DataFrame:
    """:func:`lifecycle_totals` of the rows of one experiment whose total sums ``steps``."""
    keys = [*_TRIAL_KEYS[:1], "experiment", *_TRIAL_KEYS[1:]] \
        if "experiment" in trials.columns else _TRIAL_KEYS
    life = trials[trials["step"].isin(steps)]
    life = life.assign(_good=is_sample(life))
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
    totals.insert(len(keys), "step", TOTAL_STEP)
    totals["ok"] = complete.to_numpy()
    totals["exit_code"] = pd.array([pd.NA] * len(totals), dtype="Int64")
    totals["error"] = np.where(
        complete.to_numpy(), "", f"derived: not all {len(steps)} steps of the total ran ok"
    )
    return totals


def samples(trials: pd.DataFrame) -> pd.DataFrame:
    """The rows statistics are computed on: warm-ups dropped, totals appended.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame.

    Returns
    -------
    pandas.DataFrame
        The non-warm-up rows of ``trials`` followed by the derived ``total`` rows
        of the non-warm-up trials, with an added ``target`` column
        (``"client/runtime"``). Failed rows are kept (``ok`` False).
    """
    measured = trials[~_as_bool(trials["warmup"])]
    totals = lifecycle_totals(measured)
    frame = measured if totals.empty else pd.concat([measured, totals], ignore_index=True)
    labels = [target_label(c, r) for c, r in zip(frame["client"], frame["runtime"])]
    return frame.reset_index(drop=True).assign(target=labels)


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
        False for failed rows).
    """
    frame = samples(trials)
    valid_rows = np.flatnonzero(is_sample(frame))
    wall_s = frame["wall_s"].to_numpy(dtype=float, na_value=np.nan)
    z = np.full(len(frame), np.nan)
    groups = frame.iloc[valid_rows].groupby(["client", "runtime", "step"], sort=False)
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
        One row per (client, runtime, step), steps in lifecycle order, with the
        columns of :data:`SUMMARY_COLUMNS`:

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
    keys = ["client", "runtime", "step"]
    for (client, runtime, step), index in frame.groupby(keys, sort=False).indices.items():
        good = index[valid[index]]
        rows.append(
            {
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
        summary.assign(_rank=order)
        .sort_values(["client", "runtime", "_rank", "step"], kind="stable")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values for one family of tests.

    Sorted ascending, the i-th smallest of m p-values (1-based) becomes
    ``min(1, max_{j <= i} (m - j + 1) * p_(j))``. NaN p-values stay NaN and do
    not count in m.

    Parameters
    ----------
    p_values : sequence of float
        Unadjusted p-values of one family.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, in the input order.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return adjusted
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def cliffs_delta(a: np.ndarray, b: np.ndarray) -> float:
    """Cliff's delta: ``(#(a_i > b_j) - #(a_i < b_j)) / (n_a * n_b)``.

    Parameters
    ----------
    a, b : numpy.ndarray
        Two samples of wall times.

    Returns
    -------
    float
        In [-1, 1]; positive when values of ``a`` tend to be larger (for wall
        times: ``a`` slower), 0 for complete overlap; NaN if a sample is empty.
    """
    a = np.asarray(a, dtype=float)
    b = np.sort(np.asarray(b, dtype=float))
    if a.size == 0 or b.size == 0:
        return np.nan
    below = np.searchsorted(b, a, side="left")  # b_j < a_i
    above = b.size - np.searchsorted(b, a, side="right")  # b_j > a_i
    return float((below.sum() - above.sum()) / (a.size * b.size))


def _bootstrap_medians(
    x: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Medians of ``n_boot`` resamples (with replacement) of ``x``, in blocks."""
    medians = np.empty(n_boot)
    block = max(1, _BOOT_BLOCK_ELEMENTS // x.size)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        index = rng.integers(0, x.size, size=(stop - start, x.size))
        medians[start:stop] = np.median(x[index], axis=1)
    return medians


def ratio_ci(
    a: np.ndarray,
    b: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = 2000,
    seed: int | np.random.Generator | None = None,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of ``median(a) / median(b)``.

    ``a`` and ``b`` are resampled independently (they are independent samples),
    ``n_boot`` times each, vectorised with numpy.

    Parameters
    ----------
    a, b : numpy.ndarray
        Two non-empty samples of positive wall times.
    confidence : float
        Coverage of the interval.
    n_boot : int
        Number of bootstrap resamples.
    seed : int, numpy.random.Generator or None
        Seed or generator for the resampling.

    Returns
    -------
    tuple of float
        ``(low, high)`` percentiles of the bootstrap ratios.
    """
    rng = np.random.default_rng(seed)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = _bootstrap_medians(a, n_boot, rng) / _bootstrap_medians(b, n_boot, rng)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def _verdict(p_adj: float, low: float, high: float, alpha: float) -> str:
    """``a`` faster/slower only if significant after Holm and the CI excludes 1."""
    if not p_adj < alpha:
        return NO_CLEAR_DIFFERENCE
    if high < 1.0:
        return FASTER
    if low > 1.0:
        return SLOWER
    return NO_CLEAR_DIFFERENCE


def _families(frame: pd.DataFrame) -> Iterator[tuple[str, str, dict[str, np.ndarray]]]:
    """Each family and step with at least two members that have samples.

    A ``client=<c>`` family compares the runtimes driven through client c; a
    ``runtime=<r>`` family compares the clients driving runtime r. Members are
    in alphabetical order.
    """
    good = frame[is_sample(frame)]
    for fixed, member in (("client", "runtime"), ("runtime", "client")):
        for value in sorted(good[fixed].unique()):
            family = good[good[fixed] == value]
            for step in ordered_steps(family["step"].tolist()):
                rows = family[family["step"] == step]
                groups = {
                    str(name): rows.loc[rows[member] == name, "wall_s"].to_numpy(dtype=float)
                    for name in sorted(rows[member].unique())
                }
                if len(groups) >= 2:
                    yield f"{fixed}={value}", step, groups


def compare(
    trials: pd.DataFrame,
    *,
    alpha: float = 0.05,
    confidence: float = CONFIDENCE,
    n_boot: int = 2000,
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Pairwise comparisons of wall time within each family and step.

    A family is one step through one client (``family = "client=<name>"``,
    comparing its runtimes) or one step over one runtime
    (``family = "runtime=<name>"``, comparing the clients). Every unordered pair
    (a, b) of members appears once, a before b alphabetically. For each pair:

    - ``ratio = median(a) / median(b)`` with a 95 % percentile-bootstrap CI
      (:func:`ratio_ci`);
    - ``p``: two-sided Mann–Whitney U (``scipy.stats.mannwhitneyu``);
    - ``p_adj``: Holm-adjusted within the family and step (:func:`holm`);
    - ``effect``: Cliff's delta of a against b (positive: a slower);
    - ``verdict`` about a: ``"faster"`` or ``"slower"`` only when
      ``p_adj < alpha`` and the ratio CI excludes 1, otherwise
      ``"no clear difference"``.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame (warm-ups excluded and totals derived here).
    alpha : float
        Significance level for the Holm-adjusted p-values.
    confidence : float
        Coverage of the ratio CI.
    n_boot : int
        Bootstrap resamples per pair.
    seed : int, numpy.random.Generator or None
        Seed of the one generator used for all pairs, in row order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPARISON_COLUMNS`; no rows for single-member families.
    """
    rng = np.random.default_rng(seed)
    blocks: list[pd.DataFrame] = []
    for family, step, groups in _families(samples(trials)):
        rows = []
        for a, b in combinations(groups, 2):
            x, y = groups[a], groups[b]
            low, high = ratio_ci(x, y, confidence=confidence, n_boot=n_boot, seed=rng)
            rows.append(
                {
                    "family": family,
                    "step": step,
                    "a": a,
                    "b": b,
                    "n_a": x.size,
                    "n_b": y.size,
                    "median_a_s": float(np.median(x)),
                    "median_b_s": float(np.median(y)),
                    "ratio": float(np.median(x) / np.median(y)),
                    "ratio_ci_low": low,
                    "ratio_ci_high": high,
                    "p": float(sps.mannwhitneyu(x, y, alternative="two-sided").pvalue),
                    "effect": cliffs_delta(x, y),
                    "ratio_ci_method": f"{RATIO_CI_METHOD} (n_boot={n_boot})",
                }
            )
        block = pd.DataFrame(rows)
        block["p_adj"] = holm(block["p"].to_numpy())
        block["verdict"] = [
            _verdict(p, lo, hi, alpha)
            for p, lo, hi in zip(block["p_adj"], block["ratio_ci_low"], block["ratio_ci_high"])
        ]
        blocks.append(block)
    if not blocks:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    return pd.concat(blocks, ignore_index=True)[COMPARISON_COLUMNS]


def omnibus(trials: pd.DataFrame) -> pd.DataFrame:
    """Kruskal–Wallis H test across all members of each family and step.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame.

    Returns
    -------
    pandas.DataFrame
        Columns ``family``, ``step``, ``k`` (members), ``n`` (samples), ``h`` and
        ``p`` (``scipy.stats.kruskal``; when every sample value is identical
        there is no difference to find: h = 0, p = 1). p is not adjusted.
    """
    rows = []
    for family, step, groups in _families(samples(trials)):
        values = list(groups.values())
        pooled = np.concatenate(values)
        if np.all(pooled == pooled[0]):
            h, p = 0.0, 1.0
        else:
            result = sps.kruskal(*values)
            h, p = float(result.statistic), float(result.pvalue)
        rows.append(
            {"family": family, "step": step, "k": len(values), "n": pooled.size, "h": h, "p": p}
        )
    return pd.DataFrame(rows, columns=OMNIBUS_COLUMNS)


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
