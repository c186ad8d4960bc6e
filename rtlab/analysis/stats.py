"""Pure statistics on the tidy trials frame (docs/DESIGN.md, "The data contract").

Every function here takes the tidy frame (or numpy samples) and returns frames,
arrays or strings; nothing here draws, so this module never imports matplotlib.

Conventions used throughout:

- Warm-up rows are excluded from every statistic.
- A *sample* is a row that is ``ok`` and has a finite ``wall_s``; ``n`` counts
  samples and ``n_failed`` counts the other rows of the same (target, step).
- The ``total`` of one trial is derived here, as the sum of the steps its
  experiment's ``total`` names (rtlab/core/experiments.py; the lifecycle's four),
  and only when all are ok; it is never stored. A frame without an
  ``experiment`` column is the lifecycle.
- A target is ``(client, runtime)``, labelled ``"client/runtime"``.
- Resampling functions (:func:`ratio_ci`, for benchmarks) take ``seed`` (an
  int, a ``numpy.random.Generator`` or None), as seaborn's
  ``algorithms.bootstrap`` does. :func:`compare` resamples nothing: each
  comparison is one Hodges–Lehmann estimate with the CI of its own rank test
  (:mod:`rtlab.analysis.shift`).
- Experiments are never pooled: totals, summaries, comparisons and the
  omnibus tests are computed per ``experiment`` (:func:`by_experiment`).
- Trials are interleaved: every target runs once per ``round``. Comparisons
  within a run pair trials by (run_id, round); see :func:`compare`.
"""

from __future__ import annotations

import hashlib
import secrets
import warnings
from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from rtlab.analysis import shift
from rtlab.core import experiments
from rtlab.core.conditions import ROOTLESS_SUFFIX
from rtlab.core.noise import NOISY_CV
from rtlab.core.options import DEFAULT_ALPHA, DEFAULT_MARGIN

LIFECYCLE_STEPS: tuple[str, ...] = experiments.EXPERIMENTS["lifecycle"].total
TOTAL_STEP = experiments.TOTAL_STEP
RUN_STEP = "run"
STEP_ORDER: tuple[str, ...] = experiments.step_order()

CONFIDENCE = 0.95
OUTLIER_Z = 3.5
MEDIAN_CI_METHOD = "order-statistic (exact binomial)"
RATIO_CI_METHOD = "percentile bootstrap"  # stats.ratio_ci (benchmarks), not compare
FASTER = "faster"
SLOWER = "slower"
EQUIVALENT = "equivalent"
INCONCLUSIVE = "inconclusive"
VERDICTS: tuple[str, ...] = (FASTER, SLOWER, EQUIVALENT, INCONCLUSIVE)
# Older name of the verdict that is neither faster nor slower.
NO_CLEAR_DIFFERENCE = INCONCLUSIVE
# Equivalence margin m: ratios within 1/(1 + m) … 1 + m count as the same
# (symmetric on the log scale; see equivalence_bounds).
MARGIN = DEFAULT_MARGIN  # rtlab/core/options.py
# Two targets are compared paired when they share at least this many rounds,
# covering at least this share of each one's samples.
MIN_PAIRED_ROUNDS = 6
MIN_PAIRED_SHARE = 0.75

# scipy.stats.median_abs_deviation's scale="normal": special.ndtri(0.75)
_NORMAL_MAD_SCALE = 0.6744897501960817
# Elements of one bootstrap index block; bounds memory for large samples.
_BOOT_BLOCK_ELEMENTS = 4_000_000
# The trial a lifecycle total belongs to.
_TRIAL_KEYS: list[str] = ["run_id", "client", "runtime", "round", "trial", "warmup"]

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
COMPARISON_COLUMNS: list[str] = [
    "experiment",
    "family",
    "step",
    "a",
    "b",
    "n_a",
    "n_b",
    "median_a_s",
    "median_b_s",
    "ratio_of_medians",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "ratio_ci_coverage",
    "p",
    "p_adj",
    "effect",
    "verdict",
    "difference",
    "ratio_ci_method",
    "method",
    "n_rounds",
    "margin",
    "equiv_low",
    "equiv_high",
    "equiv_ci_low",
    "equiv_ci_high",
    "p_equiv",
    "trials_needed",
    "unadj_ci_low",
    "unadj_ci_high",
]
OMNIBUS_COLUMNS: list[str] = ["experiment", "family", "step", "k", "n", "h", "p", "method"]


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
    absent) sums its own :attr:`~rtlab.core.experiments.Experiment.total`; an
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
    names = (
        trials["experiment"].astype(str)
        if "experiment" in trials.columns
        else pd.Series(experiments.DEFAULT_EXPERIMENT, index=trials.index)
    )
    blocks = []
    found = names.unique()
    for name in found:
        exp = experiments.EXPERIMENTS.get(name)
        rows = trials if len(found) == 1 else trials[(names == name).to_numpy()]
        if exp is None or not exp.total or not set(exp.total) <= set(rows["step"].unique()):
            continue
        blocks.append(_totals(rows, exp.total))
        for partial, steps in exp.partials.items():  # e.g. the CRI's pod to running
            blocks.append(_totals(rows, steps, partial))
    if not blocks:
        return trials.iloc[0:0][[*_TRIAL_KEYS, "step", "wall_s", "user_s", "sys_s", "ok"]]
    return pd.concat(blocks, ignore_index=True) if len(blocks) > 1 else blocks[0]


def _totals(trials: pd.DataFrame, steps: tuple[str, ...], name: str = TOTAL_STEP) -> pd.DataFrame:
    """:func:`lifecycle_totals` of the rows of one experiment whose total sums ``steps``."""
    keys = (
        [*_TRIAL_KEYS[:1], "experiment", *_TRIAL_KEYS[1:]]
        if "experiment" in trials.columns
        else list(_TRIAL_KEYS)
    )
    if "pace_s" in trials.columns:  # with several paces a target runs once per pace a round
        keys.append("pace_s")
    if "network" in trials.columns:  # the CRI runs a target once per network mode a round
        keys.append("network")
    if "mode" in trials.columns:  # a target runs once per mode (rootful, rootless) a round
        keys.append("mode")
    if "n" in trials.columns:  # density times one more container per level N a trial
        keys.append("n")
    life = trials[trials["step"].isin(steps)]
    # one group per trial (the keys, NaN a value like any other), in order of appearance;
    # integer codes instead of grouping by ten columns of 100k strings
    group, first = _group_codes(life, keys)
    size = first.size
    n_rows = np.bincount(group, minlength=size)
    n_good = np.bincount(group, weights=is_sample(life), minlength=size)
    step_codes, step_names = pd.factorize(life["step"])
    pairs = pd.unique(group * max(len(step_names), 1) + step_codes)
    n_steps = np.bincount(pairs // max(len(step_names), 1), minlength=size)
    complete = (n_good == len(steps)) & (n_steps == len(steps)) & (n_rows == len(steps))
    times = (
        life[["wall_s", "user_s", "sys_s"]]
        .groupby(group, sort=False)
        .sum(min_count=len(steps))
        .reset_index(drop=True)
    )
    times.loc[~complete] = np.nan
    totals = pd.concat([life[keys].iloc[first].reset_index(drop=True), times], axis=1)
    totals.insert(len(keys), "step", name)
    totals["ok"] = complete
    totals["exit_code"] = pd.array([pd.NA] * len(totals), dtype="Int64")
    totals["error"] = np.where(
        complete, "", f"derived: not all {len(steps)} steps of the total ran ok"
    )
    return totals


def _group_codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(group of each row, first row of each group) for the distinct combinations of
    ``columns`` (NaN equal to NaN), groups numbered in order of first appearance like
    ``groupby(columns, sort=False, dropna=False)``."""
    group = np.zeros(len(frame), dtype=np.int64)
    for column in columns:
        codes, names = pd.factorize(frame[column], use_na_sentinel=False)
        group, _ = pd.factorize(group * max(len(names), 1) + codes)
    group = group.astype(np.int64, copy=False)
    # codes are numbered in order of appearance: a group's first row raises the running maximum
    new = np.ones(group.size, dtype=bool)
    running = np.maximum.accumulate(group)
    new[1:] = running[1:] > running[:-1]
    return group, np.flatnonzero(new)


def _shared_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of an experiment's steps that mean the same as a default-experiment step
    (:attr:`~rtlab.core.experiments.Experiment.shares`: the CRI's create and start), as rows
    of the default experiment, so the client comparison puts the CRI beside the others
    on them. Only when the frame has the default experiment's rows too."""
    if "experiment" not in frame.columns:
        return frame.iloc[0:0]
    names = frame["experiment"].astype(str)
    if not (names == experiments.DEFAULT_EXPERIMENT).any():
        return frame.iloc[0:0]
    blocks = []
    for name, exp in experiments.EXPERIMENTS.items():
        if not exp.shares or name == experiments.DEFAULT_EXPERIMENT:
            continue
        rows = frame[(names == name).to_numpy() & frame["step"].isin(list(exp.shares)).to_numpy()]
        if len(rows):
            blocks.append(
                rows.assign(
                    experiment=experiments.DEFAULT_EXPERIMENT, step=rows["step"].map(exp.shares)
                )
            )
    return pd.concat(blocks, ignore_index=True) if blocks else frame.iloc[0:0]


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
    if "network" in measured.columns:
        # the CRI's network mode is part of what is measured: "cri-host", "cri-cni"
        net = measured["network"].fillna("").astype(str)
        measured = _suffix_clients(measured, (net != "").to_numpy(), "-" + net)
    if "mode" in measured.columns:
        # rootless is part of what is measured: "oci-rootless" beside "oci" (rootless.py),
        # so the client comparison over a runtime pairs them by round
        rootless = measured["mode"].fillna("").astype(str).eq("rootless").to_numpy()
        measured = _suffix_clients(measured, rootless, ROOTLESS_SUFFIX)
    if "traced" in measured.columns:
        # traced trials (--trace, tracing.py) are their own unit, never pooled: "oci+traced"
        traced = (measured["traced"].astype(str).str.lower() == "true").to_numpy()
        measured = _suffix_clients(measured, traced, "+traced")
    totals = lifecycle_totals(measured)
    frame = measured if totals.empty else pd.concat([measured, totals], ignore_index=True)
    frame = pd.concat([frame, _shared_rows(frame)], ignore_index=True)
    frame = frame.reset_index(drop=True).assign(target=_target_labels(frame))
    if "experiment" not in frame.columns:
        frame = frame.assign(experiment=experiments.DEFAULT_EXPERIMENT)
    return frame


def _suffix_clients(measured: pd.DataFrame, where: np.ndarray, suffix) -> pd.DataFrame:
    """``measured`` with ``suffix`` (a string, or a Series aligned with it) appended to the
    client of the rows ``where`` is True; the frame itself when there are none (100k-row
    runs of one network and mode then build no strings)."""
    if not where.any():
        return measured
    clients = measured["client"]
    return measured.assign(client=np.where(where, clients.astype(str) + suffix, clients))


def _target_labels(frame: pd.DataFrame) -> np.ndarray:
    """:func:`target_label` of every row, formatted once per distinct (client, runtime)."""
    clients, client_names = pd.factorize(frame["client"], use_na_sentinel=False)
    runtimes, runtime_names = pd.factorize(frame["runtime"], use_na_sentinel=False)
    width = max(len(runtime_names), 1)
    pairs, inverse = np.unique(clients.astype(np.int64) * width + runtimes, return_inverse=True)
    labels = np.array(
        [target_label(client_names[p // width], runtime_names[p % width]) for p in pairs.tolist()],
        dtype=object,
    )
    return labels[inverse.reshape(-1)]


def experiment_rank(name: str) -> int:
    """Position of an experiment in the registry (lifecycle first); unknown ones last."""
    names = list(experiments.EXPERIMENTS)
    return names.index(name) if name in names else len(names)


def experiments_of(frame: pd.DataFrame) -> list[str]:
    """The experiments of a tidy frame or a table, in registry order (lifecycle when the
    frame has no ``experiment`` column)."""
    if "experiment" not in frame.columns:
        return [experiments.DEFAULT_EXPERIMENT]
    return sorted(
        {str(e) for e in frame["experiment"].dropna().unique()},
        key=lambda e: (experiment_rank(e), e),
    )


def by_experiment(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(experiment, its rows) for each experiment of ``frame``, in registry order.

    Experiments are never pooled: every table, total, comparison, finding and
    figure is computed on one experiment's rows (docs/DESIGN.md, "Experiments are
    never pooled")."""
    if "experiment" not in frame.columns:
        yield experiments.DEFAULT_EXPERIMENT, frame
        return
    names = frame["experiment"].astype(str).to_numpy()
    found = experiments_of(frame)
    if len(found) == 1 and frame["experiment"].notna().all():
        yield found[0], frame  # one experiment: its rows are the frame (no 100k-row copy)
        return
    for name in found:
        yield name, frame[names == name]


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


def holm_alpha(p_adj: Sequence[float] | np.ndarray, alpha: float) -> float:
    """The level at which Holm's step-down stopped in one family: ``alpha / (m - R)``,
    ``m`` the finite p-values, ``R`` those Holm rejects (adjusted p < ``alpha``);
    ``alpha`` when it rejects every one.

    The family's printed intervals are at ``1 - holm_alpha``: every comparison Holm
    rejects has ``p < alpha / (m - i + 1) <= holm_alpha`` (i its place in the order),
    every other ``p >= alpha / (m - R)``; so with p-values that are their intervals'
    own inversions (:func:`rtlab.analysis.shift.paired_test`), an interval excludes no
    effect exactly when Holm calls the comparison significant. Not a simultaneous
    interval (Bonferroni's ``1 - alpha / m`` is, and would disagree with Holm's verdicts).
    """
    p = np.asarray(p_adj, dtype=float)
    m = int(np.isfinite(p).sum())
    rejected = int((p < alpha).sum())
    return alpha / max(m - rejected, 1)


def adjusted_ci_label(alpha: float = DEFAULT_ALPHA) -> str:
    """How every interval printed beside a verdict is labelled: "Holm-adjusted 95% CI"."""
    return f"Holm-adjusted {1 - alpha:.0%} CI"


class VerdictError(AssertionError):
    """A verdict and the interval printed beside it disagree (a bug, never the data's)."""


def verdict_disagreements(
    comparisons: pd.DataFrame,
    low: str = "ratio_ci_low",
    high: str = "ratio_ci_high",
    no_effect: float = 1.0,
) -> pd.DataFrame:
    """The rows whose verdict and printed interval disagree: a faster/slower difference
    whose interval (columns ``low``, ``high``) does not exclude ``no_effect`` on its side,
    or a row without a difference whose interval excludes it. Empty by construction
    (:func:`compare`); :func:`check_verdicts` asserts it where the report's tables are made.
    """
    if comparisons.empty:
        return comparisons
    lo = comparisons[low].to_numpy(dtype=float)
    hi = comparisons[high].to_numpy(dtype=float)
    difference = comparisons["difference"].fillna("").astype(str).to_numpy()
    excludes = (lo > no_effect) | (hi < no_effect)
    wrong_side = ((difference == FASTER) & ~(hi < no_effect)) | (
        (difference == SLOWER) & ~(lo > no_effect)
    )
    unsettled = ~np.isin(difference, (FASTER, SLOWER)) & excludes
    return comparisons[wrong_side | unsettled]


def check_verdicts(comparisons: pd.DataFrame, what: str = "comparisons", **columns) -> None:
    """Raise :class:`VerdictError` naming the first rows of :func:`verdict_disagreements`."""
    bad = verdict_disagreements(comparisons, **columns)
    if len(bad):
        shown = bad.head(3).to_dict("records")
        raise VerdictError(f"{len(bad)} {what} print a CI that disagrees with the verdict: {shown}")


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


def _bootstrap_medians(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of ``n_boot`` resamples (with replacement) of ``x``, in blocks."""
    medians = np.empty(n_boot)
    block = max(1, _BOOT_BLOCK_ELEMENTS // x.size)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        index = rng.integers(0, x.size, size=(stop - start, x.size))
        medians[start:stop] = np.median(x[index], axis=1)
    return medians


def derive_seed(seed: int | None, *names: object) -> int:
    """A seed for one resampling, derived from the run ``seed`` and ``names``.

    The same ``(seed, names)`` always gives the same integer, whatever else is
    in the data or the order rows are computed in, so removing a target does not
    change any other comparison's interval. ``seed=None`` draws fresh entropy.
    """
    if seed is None:
        seed = secrets.randbits(128)  # what np.random.SeedSequence() draws for its entropy
    text = "\x1f".join([str(int(seed)), *map(str, names)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _round_keys(frame: pd.DataFrame) -> pd.Series:
    """The pairing key of each row: its run and round (trials of one round ran together)."""
    return frame["run_id"].astype(str) + "\x1f" + frame["round"].astype(str)


def _distinct_round_keys(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(keys, inverse): :func:`_round_keys` of each distinct (run_id, round) of ``frame``
    and, per row, the position of its own in ``keys`` (``keys[inverse]`` is
    :func:`_round_keys`), formatting one string per round, not per row."""
    runs, run_names = pd.factorize(frame["run_id"], use_na_sentinel=False)
    rounds, round_names = pd.factorize(frame["round"], use_na_sentinel=False)
    width = max(len(round_names), 1)
    pairs, inverse = np.unique(runs.astype(np.int64) * width + rounds, return_inverse=True)
    run_text = pd.Series(run_names[pairs // width]).astype(str)
    round_text = pd.Series(round_names[pairs % width]).astype(str)
    keys = (run_text + "\x1f" + round_text).to_numpy(dtype=object)
    return keys, inverse.reshape(-1)


class _StepData:
    """One step's samples, by target and by round.

    ``wide[target]`` holds the wall times over the experiment's rounds (NaN where the
    target has no sample). Targets with more than one sample in a round cannot
    be paired. ``medians[target]`` is the median of ``values[target]``.
    """

    def __init__(
        self,
        step: str,
        n_rounds: int,
        column: np.ndarray,
        wall_s: np.ndarray,
        targets: np.ndarray,
        target_names: Sequence[str],
    ) -> None:
        """``column``, ``wall_s`` and ``targets`` (codes into ``target_names``) describe
        the step's rows in frame order: each row's round (0 … n_rounds - 1), wall time
        and target."""
        self.step = step
        self.values: dict[str, np.ndarray] = {}
        self.wide: dict[str, np.ndarray] = {}
        self.medians: dict[str, float] = {}
        order = np.argsort(targets, kind="stable")  # by target, each in frame order
        starts = np.flatnonzero(np.r_[True, targets[order][1:] != targets[order][:-1]])
        for index in np.split(order, starts[1:]) if order.size else []:
            target = target_names[targets[index[0]]]
            self.values[target] = wall_s[index]
            self.medians[target] = np.median(self.values[target])
            cols = column[index]
            if np.unique(cols).size == cols.size:
                line = np.full(n_rounds, np.nan)
                line[cols] = wall_s[index]
                self.wide[target] = line

    def paired_rounds(self, a: str, b: str) -> np.ndarray | None:
        """Rounds where both have a sample, or None when a and b cannot be paired.

        Paired needs at least :data:`MIN_PAIRED_ROUNDS` common rounds covering at
        least :data:`MIN_PAIRED_SHARE` of each target's samples.
        """
        if a not in self.wide or b not in self.wide:
            return None
        both = ~np.isnan(self.wide[a]) & ~np.isnan(self.wide[b])
        k = int(both.sum())
        if k < MIN_PAIRED_ROUNDS or k < MIN_PAIRED_SHARE * max(
            self.values[a].size, self.values[b].size
        ):
            return None
        return both


def _wilcoxon(d: np.ndarray, alternative: str = "two-sided") -> float:
    """Signed-rank p-value of ``d`` against 0; 1 when every difference is 0."""
    if d.size == 0:
        return np.nan
    if np.all(d == 0):
        return 1.0
    exact = shift.signed_rank_p(d, alternative)
    if exact is not None:  # the distribution the CI inverts (shift.py); scipy's otherwise
        return exact
    if d.size > shift.EXACT_MAX and not np.any(d == 0) and not np.any(np.isnan(d)):
        return _wilcoxon_normal(d, alternative)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(sps.wilcoxon(d, alternative=alternative).pvalue)


def _wilcoxon_normal(d: np.ndarray, alternative: str) -> float:
    """scipy's ``wilcoxon(d, alternative=...)`` p-value for more than 50 values without zeros
    (its normal approximation with the tie correction, no continuity correction), computed
    the same way to the last bit without scipy's per-call overhead (comparisons of long runs
    call it three times per pair; tests/unit/test_fast_paths.py checks the equality)."""
    order = np.argsort(np.abs(d), kind="stable")
    magnitude = np.abs(d)[order]
    n = magnitude.size
    starts = np.flatnonzero(np.concatenate(([True], magnitude[1:] != magnitude[:-1])))
    sizes = np.diff(np.append(starts, n))
    counts = sizes.astype(float)
    ranks = np.repeat(starts + 1.0 + (counts - 1.0) / 2.0, sizes)  # average ranks, sorted
    r_plus = float(ranks[d[order] > 0].sum())  # whole and half numbers: the sum is exact
    count = float(n)
    mean = count * (count + 1.0) * 0.25
    se = count * (count + 1.0) * (2.0 * count + 1.0)
    se = np.sqrt((se - float((counts**3 - counts).sum()) / 2) / 24)
    z = (r_plus - mean) / se
    if alternative == "less":
        return float(special.ndtr(z))
    if alternative == "greater":
        return float(special.ndtr(-z))
    return float(2 * special.ndtr(-abs(z)))


def _mannwhitney(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided") -> float:
    if x.size == 0 or y.size == 0:
        return np.nan
    return float(sps.mannwhitneyu(x, y, alternative=alternative).pvalue)


def equivalence_p(log_a: np.ndarray, log_b: np.ndarray | None, margin: float) -> float:
    """TOST p-value that the ratio of a to b lies within :func:`equivalence_bounds`.

    Two one-sided rank tests of the log-scale shift against ``-log(1 + margin)``
    and ``log(1 + margin)``; the p-value is the larger of the two. With
    ``log_b`` None, ``log_a`` holds paired per-round differences ``log a - log b``
    (Wilcoxon signed-rank); otherwise a and b are independent (Mann–Whitney U).
    """
    low, high = -np.log1p(margin), np.log1p(margin)
    if log_b is None:
        return max(_wilcoxon(log_a - low, "greater"), _wilcoxon(log_a - high, "less"))
    return max(
        _mannwhitney(log_a - low, log_b, "greater"), _mannwhitney(log_a - high, log_b, "less")
    )


def _robust_sd(x: np.ndarray) -> float:
    """The MAD scaled to the normal SD (scipy's ``scale="normal"``, 1.4826 × MAD), or the
    sample SD when the MAD is 0."""
    if x.size < 2:
        return np.nan
    # scipy.stats.median_abs_deviation(x, scale="normal"), bit for bit, without its overhead
    mad = float(np.median(np.abs(x - np.median(x))) / _NORMAL_MAD_SCALE)
    return mad if mad > 0 else float(np.std(x, ddof=1))


def trials_needed(
    shift: float,
    sd: float,
    margin: float,
    *,
    paired: bool,
    alpha: float = DEFAULT_ALPHA,
    power: float = 0.8,
) -> float:
    """Trials per target that would probably settle an inconclusive comparison.

    Normal approximation from the observed log-scale ``shift`` and spread
    ``sd`` (per-round differences when ``paired``, else per trial, both sides
    alike): the fewer of the trials that show the observed shift is not 0
    (two-sided ``alpha``) and those that show it lies within ±``margin`` (TOST),
    each with probability ``power``. NaN when neither can be reached.
    """
    if not (np.isfinite(shift) and np.isfinite(sd)) or sd <= 0:
        return np.nan
    factor = 1.0 if paired else 2.0
    z_power = special.ndtri(power)  # sps.norm.ppf, without its per-call overhead
    candidates = []
    if shift != 0:
        candidates.append(factor * ((special.ndtri(1 - alpha / 2) + z_power) * sd / shift) ** 2)
    room = np.log1p(margin) - abs(shift)
    if room > 0:
        candidates.append(factor * ((special.ndtri(1 - alpha) + z_power) * sd / room) ** 2)
    return float(np.ceil(min(candidates))) if candidates else np.nan


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


def equivalence_bounds(margin: float) -> tuple[float, float]:
    """The equivalence bounds of a ratio for margin m: ``(1 / (1 + m), 1 + m)``.

    Symmetric on the log scale (``±log(1 + m)``), so "a within ±m of b" and
    "b within ±m of a" are the same statement (``1 - m`` would not be: at m = 0.2
    it is 0.80, not 1 / 1.2 = 0.833).
    """
    return 1.0 / (1.0 + margin), 1.0 + margin


def verdict(
    p_adj: float,
    low: float,
    high: float,
    equiv_low: float,
    equiv_high: float,
    margin: float,
    alpha: float,
) -> tuple[str, str]:
    """(verdict, difference) of one comparison of a against b.

    ``difference`` is ``"faster"``/``"slower"`` when ``p_adj < alpha`` and the
    CI (``low``, ``high``) of the ratio excludes 1, else ``""``. The verdict is
    ``"equivalent"`` when the (1 − 2·alpha) CI (``equiv_low``, ``equiv_high``)
    lies inside :func:`equivalence_bounds` — whether or not a smaller difference
    is also significant (the sentence then says both: "equivalent within ±5%;
    2% faster"); else the difference; else ``"inconclusive"``.
    """
    difference = ""
    if p_adj < alpha and high < 1.0:
        difference = FASTER
    elif p_adj < alpha and low > 1.0:
        difference = SLOWER
    lower, upper = equivalence_bounds(margin)
    if equiv_low > lower and equiv_high < upper:
        return EQUIVALENT, difference
    return (difference or INCONCLUSIVE), difference


def _families(good: pd.DataFrame) -> Iterator[tuple[str, str, dict[str, str]]]:
    """Each family and step with at least two members that have samples.

    ``good`` holds the sample rows (:func:`is_sample`) of one experiment. A
    ``client=<c>`` family compares the runtimes driven through client c; a
    ``runtime=<r>`` family compares the clients driving runtime r. Yields the
    family, the step and ``{member: target label}``, members in alphabetical order.
    """
    present = list(
        _distinct_rows(good, ["client", "runtime", "step"]).itertuples(index=False, name=None)
    )  # (client, runtime, step)
    for fixed, at, other in (("client", 0, 1), ("runtime", 1, 0)):
        for value in sorted({row[at] for row in present}):
            family = [row for row in present if row[at] == value]
            for step in ordered_steps([row[2] for row in family]):
                members = {
                    str(row[other]): target_label(row[0], row[1])
                    for row in family
                    if row[2] == step
                }
                if len(members) >= 2:
                    yield f"{fixed}={value}", step, dict(sorted(members.items()))


def _distinct_rows(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame[columns].drop_duplicates()`` (the first row of each distinct combination,
    in frame order), from integer codes: no hashing of 100k-row string columns at once."""
    _, first = _group_codes(frame, columns)
    return frame[columns].iloc[first]


class _Samples:
    """One experiment's sample rows (:func:`is_sample`), coded once for :func:`compare`
    and :func:`omnibus`: its families (:func:`_families`) and, per step, a
    :class:`_StepData` (built when first asked for)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        columns = [
            c
            for c in ("run_id", "round", "client", "runtime", "step", "target", "wall_s")
            if c in frame.columns
        ]
        good = frame.loc[is_sample(frame), columns]
        self.families = list(_families(good))
        self._steps: dict[str, _StepData] = {}
        if good.empty:
            return
        keys, inverse = _distinct_round_keys(good)
        rounds = np.array(sorted(set(keys.tolist())))  # the order of the round keys
        self._n_rounds = rounds.size
        self._column = np.searchsorted(rounds, keys)[inverse]
        self._wall = good["wall_s"].to_numpy(dtype=float)
        self._targets, self._target_names = pd.factorize(good["target"])
        codes, names = pd.factorize(good["step"])
        self._rows = {str(name): np.flatnonzero(codes == i) for i, name in enumerate(names)}

    def step(self, step: str) -> _StepData:
        if step not in self._steps:
            rows = self._rows[step]
            self._steps[step] = _StepData(
                step,
                self._n_rounds,
                self._column[rows],
                self._wall[rows],
                self._targets[rows],
                self._target_names,
            )
        return self._steps[step]


def _sample_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """:func:`samples` of ``trials``, or ``trials`` itself when it already is one."""
    return (
        trials if "target" in trials.columns and "modified_z" in trials.columns else samples(trials)
    )


def _pair_row(
    data: _StepData,
    a: str,
    b: str,
    *,
    confidence: float,
    margin: float,
    alpha: float,
    family_size: int = 1,
) -> dict[str, object]:
    """The statistics of one pair of targets in one step (before Holm).

    One estimate, its interval and its test (:mod:`rtlab.analysis.shift`): paired, the
    Hodges–Lehmann estimate of the per-round log ratio with the signed-rank
    inversion CI and the Wilcoxon signed-rank p; unpaired, the two-sample
    Hodges–Lehmann shift with the Mann–Whitney inversion CI and the Mann–Whitney
    p. ``ratio_of_medians`` is descriptive only: no interval is computed for it.

    ``p`` is the inversion's own (:func:`rtlab.analysis.shift.paired_test`): the interval
    at any level excludes 1 exactly when ``p`` is below 1 − level. ``_holm`` holds the
    intervals at ``1 − alpha / i``, ``i = 1 … family_size``, one of which Holm's stopping
    level picks (:func:`holm_alpha`).
    """
    x, y = data.values[a], data.values[b]
    both = data.paired_rounds(a, b)
    holm_levels = [1.0 - alpha / i for i in range(1, family_size + 1)]
    levels = (confidence, 1.0 - 2.0 * alpha, *holm_levels)
    if both is not None:
        d = np.log(data.wide[a][both]) - np.log(data.wide[b][both])
        (main, equiv, *at_holm), p = shift.paired_test(d, *levels)
        p_equiv = equivalence_p(d, None, margin)
        spread, sd = float(main.estimate), _robust_sd(d)
        n_rounds = int(both.sum())
        method = f"paired over {n_rounds} rounds: Wilcoxon signed-rank on the per-round log ratios"
        ci_method = shift.PAIRED_METHOD
    else:
        la, lb = np.log(x), np.log(y)
        (main, equiv, *at_holm), p = shift.unpaired_test(la, lb, *levels)
        p_equiv = equivalence_p(la, lb, margin)
        spread = float(main.estimate)
        sd = float(np.sqrt((_robust_sd(la) ** 2 + _robust_sd(lb) ** 2) / 2.0))
        n_rounds = 0
        method = "unpaired: Mann–Whitney U (targets not measured in the same rounds)"
        ci_method = shift.UNPAIRED_METHOD
    lower, upper = equivalence_bounds(margin)
    return {
        "n_a": x.size,
        "n_b": y.size,
        "median_a_s": float(data.medians[a]),
        "median_b_s": float(data.medians[b]),
        "ratio_of_medians": float(data.medians[a] / data.medians[b]),
        "ratio": float(np.exp(main.estimate)),
        "ratio_ci_low": float(np.exp(main.low)),
        "ratio_ci_high": float(np.exp(main.high)),
        "ratio_ci_coverage": main.coverage,
        "p": p,
        "effect": cliffs_delta(x, y),
        "ratio_ci_method": ci_method,
        "method": method,
        "n_rounds": n_rounds,
        "margin": margin,
        "equiv_low": lower,
        "equiv_high": upper,
        "equiv_ci_low": float(np.exp(equiv.low)),
        "equiv_ci_high": float(np.exp(equiv.high)),
        "p_equiv": p_equiv,
        "_needed": trials_needed(spread, sd, margin, paired=both is not None, alpha=alpha),
        "_holm": at_holm,
    }


def compare(
    trials: pd.DataFrame,
    *,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = CONFIDENCE,
    seed: int | None = 0,
    margin: float = MARGIN,
) -> pd.DataFrame:
    """Pairwise comparisons of wall time within each experiment, family and step.

    Experiments are never pooled: each experiment's rows are compared on their
    own (column ``experiment``). A family is one step through one client
    (``family = "client=<name>"``, comparing its runtimes) or one step over one
    runtime (``family = "runtime=<name>"``, comparing the clients). Every
    unordered pair (a, b) of members appears once, a before b alphabetically.

    Paired wherever the trials were interleaved: when a and b were measured in
    the same rounds (pairing key: run and round; at least
    :data:`MIN_PAIRED_ROUNDS` common rounds covering
    :data:`MIN_PAIRED_SHARE` of each side's samples) everything is computed on
    the per-round log ratios ``d = log a - log b``; otherwise (a target missing
    rounds, trials from different runs) on the two samples of log times. The
    ``method`` column says which. For each pair, one estimate with the interval
    and the test that belong to it (:mod:`rtlab.analysis.shift`, docs/DESIGN.md):

    - ``ratio``: ``exp`` of the Hodges–Lehmann estimate of the per-round log
      ratio (paired) or of the two-sample log shift (unpaired);
      ``ratio_ci_low``/``ratio_ci_high``: its Holm-adjusted CI, the inversion of
      the signed-rank (paired) or Mann–Whitney (unpaired) test at the level
      ``ratio_ci_coverage`` = 1 − :func:`holm_alpha` of its family (1 − alpha when
      Holm rejects every comparison of the family), so it excludes 1 exactly when
      the verdict is faster or slower (:func:`check_verdicts` asserts it);
      ``unadj_ci_low``/``unadj_ci_high``: the same interval at ``confidence``,
      unadjusted, never printed beside a verdict; ``ratio`` lies inside both;
    - ``p``: that inversion's own two-sided p-value (the smallest alpha whose
      1 − alpha interval excludes 1: :func:`rtlab.analysis.shift.paired_test`,
      between the exact rank test's p and the next attainable one); ``p_adj``:
      Holm within the experiment, family and step (:func:`holm`);
    - ``ratio_of_medians``: ``median(a) / median(b)``, descriptive only (no CI
      is ever printed beside it);
    - ``equiv_ci_low``/``equiv_ci_high``: the same estimate's (1 − 2·alpha) CI,
      which decides equivalence against ``equiv_low``/``equiv_high``
      (:func:`equivalence_bounds`); ``p_equiv``: the matching TOST p-value
      (:func:`equivalence_p`), for information;
    - ``effect``: Cliff's delta of a against b (positive: a slower);
    - ``verdict`` and ``difference`` about a (:func:`verdict`), with
      ``trials_needed`` (:func:`trials_needed`) for an inconclusive one.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame (warm-ups excluded and totals derived here), or
        the output of :func:`flag_outliers`.
    alpha : float
        Significance level for the Holm-adjusted p-values; the equivalence CI
        has coverage 1 − 2·alpha.
    confidence : float
        Coverage of the unadjusted ratio CI (``unadj_ci_low``/``unadj_ci_high``).
    seed : int or None
        Unused by the comparisons (the intervals are exact rank-test inversions
        and draw no random numbers); kept so callers can pass the run seed.
    margin : float
        Equivalence margin m, a fraction (0.05: ratios within 1/1.05–1.05).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPARISON_COLUMNS`; no rows for single-member families.
    """
    frame = _sample_frame(trials)
    blocks: list[pd.DataFrame] = []
    for experiment, rows in by_experiment(frame):
        blocks += _compare_experiment(
            rows, experiment, alpha=alpha, confidence=confidence, margin=margin
        )
    if not blocks:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    table = pd.concat(blocks, ignore_index=True)[COMPARISON_COLUMNS]
    check_verdicts(table)  # every table analyze and the report print is made here
    return table


def _compare_experiment(
    frame: pd.DataFrame, experiment: str, *, alpha: float, confidence: float, margin: float
) -> list[pd.DataFrame]:
    """:func:`compare`'s blocks (one per family and step) of one experiment's rows."""
    coded = _Samples(frame)
    blocks: list[pd.DataFrame] = []
    for family, step, members in coded.families:
        rows = []
        pairs = list(combinations(members, 2))
        for a, b in pairs:
            rows.append(
                {
                    "experiment": experiment,
                    "family": family,
                    "step": step,
                    "a": a,
                    "b": b,
                    **_pair_row(
                        coded.step(step),
                        members[a],
                        members[b],
                        confidence=confidence,
                        margin=margin,
                        alpha=alpha,
                        family_size=len(pairs),
                    ),
                }
            )
        block = pd.DataFrame(rows)
        block["p_adj"] = holm(block["p"].to_numpy())
        # the printed CI is the one Holm's verdict is on: at 1 − alpha / (m − R)
        level = holm_alpha(block["p_adj"].to_numpy(), alpha)
        at = int(round(alpha / level)) - 1
        block["unadj_ci_low"] = block["ratio_ci_low"]
        block["unadj_ci_high"] = block["ratio_ci_high"]
        block["ratio_ci_low"] = [float(np.exp(h[at].low)) for h in block["_holm"]]
        block["ratio_ci_high"] = [float(np.exp(h[at].high)) for h in block["_holm"]]
        block["ratio_ci_coverage"] = [h[at].coverage for h in block["_holm"]]
        decided = [
            verdict(p, lo, hi, elo, ehi, margin, alpha)
            for p, lo, hi, elo, ehi in zip(
                block["p_adj"],
                block["ratio_ci_low"],
                block["ratio_ci_high"],
                block["equiv_ci_low"],
                block["equiv_ci_high"],
            )
        ]
        block["verdict"] = [v for v, _ in decided]
        block["difference"] = [d for _, d in decided]
        block["trials_needed"] = pd.array(
            [
                int(n) if v == INCONCLUSIVE and np.isfinite(n) else pd.NA
                for v, n in zip(block["verdict"], block["_needed"])
            ],
            dtype="Int64",
        )
        blocks.append(block)
    return blocks


def _tie_sum(rows: np.ndarray) -> int:
    """Sum over the rows of a row-sorted array of ``t**3 - t`` over its runs of equal
    values (the tie correction), all rows at once."""
    n, k = rows.shape
    if n == 0 or k == 0:
        return 0
    starts = np.ones((n, k), dtype=bool)
    starts[:, 1:] = rows[:, 1:] != rows[:, :-1]
    flat = np.flatnonzero(starts.ravel())  # run starts in row-major order; rows start runs
    counts = np.diff(np.append(flat, n * k)).astype(np.int64)
    return int((counts**3 - counts).sum())


def friedman(values: np.ndarray) -> tuple[float, float]:
    """Friedman's chi-square (tie-corrected) and p for a rounds × members array.

    Each row is one round (a block), each column one member; ranks are taken
    within rounds. Works for two members too (where scipy requires three).
    When every round is all ties there is nothing to find: (0, 1).
    """
    n, k = values.shape
    ranks = sps.rankdata(values, axis=1)
    sums = ranks.sum(axis=0)
    ties = float(_tie_sum(np.sort(values, axis=1)))
    denominator = 1.0 - ties / (n * k * (k * k - 1))
    if denominator <= 0:
        return 0.0, 1.0
    chi2 = (12.0 / (n * k * (k + 1)) * float((sums**2).sum()) - 3.0 * n * (k + 1)) / denominator
    return float(chi2), float(sps.chi2.sf(chi2, k - 1))


def omnibus(trials: pd.DataFrame) -> pd.DataFrame:
    """One test across all members of each family and step.

    Friedman (paired by round) over the rounds in which every member has a
    sample, when those rounds are at least :data:`MIN_PAIRED_ROUNDS` and cover
    :data:`MIN_PAIRED_SHARE` of each member's samples; otherwise Kruskal–Wallis
    (unpaired). The ``method`` column says which.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame (or the output of :func:`flag_outliers`).

    Returns
    -------
    pandas.DataFrame
        Columns ``family``, ``step``, ``k`` (members), ``n`` (samples, or
        rounds × k for Friedman), ``h`` (the chi-square or H statistic), ``p``
        (not adjusted; when every value is identical: h = 0, p = 1) and ``method``.
    """
    frame = _sample_frame(trials)
    rows = []
    for experiment, part in by_experiment(frame):
        rows += _omnibus_experiment(part, experiment)
    return pd.DataFrame(rows, columns=OMNIBUS_COLUMNS)


def _omnibus_experiment(frame: pd.DataFrame, experiment: str) -> list[dict[str, object]]:
    """:func:`omnibus`'s rows of one experiment."""
    coded = _Samples(frame)
    rows = []
    for family, step, members in coded.families:
        data = coded.step(step)
        targets = list(members.values())
        complete = None
        if all(t in data.wide for t in targets):
            complete = np.all([~np.isnan(data.wide[t]) for t in targets], axis=0)
            k_rounds = int(complete.sum())
            if k_rounds < MIN_PAIRED_ROUNDS or any(
                k_rounds < MIN_PAIRED_SHARE * data.values[t].size for t in targets
            ):
                complete = None
        if complete is not None:
            table = np.column_stack([data.wide[t][complete] for t in targets])
            h, p = friedman(table)
            n = table.size
            method = f"paired: Friedman over {table.shape[0]} complete rounds"
        else:
            values = [data.values[t] for t in targets]
            pooled = np.concatenate(values)
            n = pooled.size
            if np.all(pooled == pooled[0]):
                h, p = 0.0, 1.0
            else:
                result = sps.kruskal(*values)
                h, p = float(result.statistic), float(result.pvalue)
            method = "unpaired: Kruskal–Wallis (members not measured in the same rounds)"
        rows.append(
            {
                "experiment": experiment,
                "family": family,
                "step": step,
                "k": len(targets),
                "n": n,
                "h": h,
                "p": p,
                "method": method,
            }
        )
    return rows


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
