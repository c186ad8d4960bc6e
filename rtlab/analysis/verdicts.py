"""The tests and decisions behind a comparison: the rank tests' p-values (signed-rank,
Mann–Whitney, Friedman), Holm's adjustment and its stopping level, equivalence (TOST
and its bounds), the verdict words, Cliff's delta, trials needed, seeds and the
bootstrap ratio CI of the benchmarks.

Split out of stats.py (issue 32), which re-exports every name.
"""

from __future__ import annotations

import hashlib
import secrets
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from rtlab.analysis import shift
from rtlab.analysis.summary import CONFIDENCE
from rtlab.core.options import DEFAULT_ALPHA, DEFAULT_MARGIN

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

# scipy.stats.median_abs_deviation's scale="normal": special.ndtri(0.75)
_NORMAL_MAD_SCALE = 0.6744897501960817
# Elements of one bootstrap index block; bounds memory for large samples.
_BOOT_BLOCK_ELEMENTS = 4_000_000


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
