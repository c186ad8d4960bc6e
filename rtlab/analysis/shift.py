"""Hodges–Lehmann shift estimates with the confidence intervals of their own rank tests.

Every comparison rtlab prints (comparisons.csv, the findings, the report's
headline, the heat maps, the pace figure, ``rtlab compare``) is one estimate on
the log scale with the interval that belongs to it (docs/DESIGN.md, "One
estimate, its interval, its test"):

- **paired** (two targets measured in the same rounds): the per-round log
  ratios ``d = log a - log b``; the estimate is their Hodges–Lehmann estimate,
  the median of the Walsh averages ``(d_i + d_j) / 2, i <= j``; its interval is
  the inversion of the Wilcoxon signed-rank test — ``[W_(k), W_(N+1-k)]`` over
  the ``N = n(n+1)/2`` sorted Walsh averages, ``k`` from the exact null
  distribution of the signed-rank statistic (normal approximation above
  :data:`EXACT_MAX` rounds); with the exact distribution each bound is
  interpolated linearly towards the next order statistic so the interval's
  coverage is the level asked for, not the conservative discrete one above it
  (at 12 rounds 95.8 % for a 95 % interval);
- **unpaired**: the two-sample Hodges–Lehmann shift, the median of all
  differences ``x_i - y_j``, with the inversion of the Mann–Whitney U test
  (exact null up to :data:`EXACT_MAX` per side, normal above);
- **across hosts** (:func:`unpaired_bm_test`, analysis/hosts.py): the same estimate with
  the inversion of the studentized permutation Brunner–Munzel test, whose level holds
  when the two samples' spreads and shapes differ (Mann–Whitney's needs a pure shift).

The estimate always lies inside its interval (the interval is a pair of order
statistics of the same Walsh averages or differences whose median it is), the
interval covers the true shift at its level whenever the test it inverts
is exact (symmetric per-round differences; a pure shift between the two
samples), and when the test rejects, the interval excludes 0 (the interpolated
interval lies inside the test's exact inversion). Large
samples never build the ``N`` averages: each order statistic is bracketed by
an ``O(n log n)`` count (from a sample's quantiles, then by bisection) and
picked exactly among the few members inside its bracket (:func:`_select`).
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

import numpy as np
from scipy import special

# Exact null distributions up to this many values per side; normal approximation above.
EXACT_MAX = 50
# Build every Walsh average / difference when there are at most this many.
_DIRECT_MAX = 250_000
_BISECT_STEPS = 64
# Large samples: members listed once a rank's bracket holds at most _BRACKET_MAX of them, or
# at most _STALLED_MAX after _STALLS bisection steps that removed none (a block of ties).
_BRACKET_MAX = 20_000
_STALLED_MAX = 1_000_000
_STALLS = 3
_SAMPLE_SIZE = 4_000
PAIRED_METHOD = (
    "Hodges–Lehmann estimate of the per-round log ratio; CI by inverting the "
    "Wilcoxon signed-rank test"
)
UNPAIRED_METHOD = (
    "two-sample Hodges–Lehmann shift of the log times; CI by inverting the Mann–Whitney U test"
)


class Shift(NamedTuple):
    """A shift estimate on the log scale with its interval and the interval's exact coverage."""

    estimate: float
    low: float
    high: float
    coverage: float


_NONE = Shift(np.nan, np.nan, np.nan, np.nan)


@cache
def _signed_rank_cdf(n: int) -> np.ndarray:
    """P(W+ <= w), w = 0 … n(n+1)/2, for n values without ties (exact)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for i in range(1, n + 1):
        counts[i:] = counts[i:] + counts[:-i].copy()
    return np.cumsum(counts) / counts.sum()


@cache
def _rank_sum_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u), u = 0 … mn, of the Mann–Whitney U of m and n values without ties (exact).

    The counts are the coefficients of the Gaussian binomial [m+n choose m], built
    one factor (1 - q^(n+i)) / (1 - q^i) at a time, each step a polynomial.
    """
    size = m * n + 1
    poly = np.zeros(size)
    poly[0] = 1.0
    for i in range(1, m + 1):
        nxt = poly.copy()
        shift = n + i
        if shift < size:
            nxt[shift:] -= poly[: size - shift]
        for r in range(i):  # divide by (1 - q^i): a running sum with stride i
            nxt[r::i] = np.cumsum(nxt[r::i])
        poly = nxt
    return np.cumsum(poly) / poly.sum()


def signed_rank_p(d: np.ndarray, alternative: str = "two-sided") -> float | None:
    """The exact signed-rank p-value of ``d`` against 0 from the same null distribution
    the intervals invert, or None when it does not apply (zeros, ties, more than
    :data:`EXACT_MAX` values): the caller then uses scipy's."""
    d = np.asarray(d, dtype=float)
    n = d.size
    if n == 0 or n > EXACT_MAX or np.any(d == 0):
        return None
    magnitude = np.abs(d)
    order = np.argsort(magnitude, kind="stable")
    if np.any(np.diff(magnitude[order]) == 0):
        return None
    ranks = np.empty(n)
    ranks[order] = np.arange(1, n + 1)
    w = int(ranks[d > 0].sum())
    cdf = _signed_rank_cdf(n)
    below = float(cdf[w])  # P(W+ <= w)
    above = 1.0 - (float(cdf[w - 1]) if w > 0 else 0.0)  # P(W+ >= w)
    if alternative == "greater":
        return above
    if alternative == "less":
        return below
    return min(1.0, 2.0 * min(below, above))


def _rank(cdf: np.ndarray | None, total: int, variance: float, confidence: float) -> int:
    """The 1-based rank k of the interval's lower order statistic (0: too few values).

    Exact: the largest k with ``P(T <= k - 1) <= (1 - confidence) / 2``; normal
    approximation when ``cdf`` is None.
    """
    tail = (1.0 - confidence) / 2.0
    if cdf is not None:
        allowed = np.flatnonzero(cdf <= tail + 1e-12)
        return int(allowed[-1]) + 1 if allowed.size else 0
    k = int(np.floor(total / 2.0 - special.ndtri(1.0 - tail) * np.sqrt(variance)))  # norm.ppf
    return max(k, 0)


def _coverage(cdf: np.ndarray | None, k: int, confidence: float) -> float:
    return 1.0 - 2.0 * float(cdf[k - 1]) if cdf is not None else confidence


def _kth(count_le, ranks: np.ndarray, low: float, high: float) -> np.ndarray:
    """The ``ranks``-th smallest (1-based) values of a set known only by ``count_le(t)``
    (how many members are <= t, vectorised over t), by bisection between ``low`` and
    ``high`` (the set's minimum and maximum). The reference for :func:`_select`."""
    lo = np.full(ranks.size, low, dtype=float)
    hi = np.full(ranks.size, high, dtype=float)
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2.0
        enough = count_le(mid) >= ranks
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
        if np.all(hi - lo <= 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(hi))):
            break
    return hi


def _select(
    count_le, between, sample, ranks: np.ndarray, low: float, high: float, total: int
) -> np.ndarray:
    """The ``ranks``-th smallest (1-based) members of a set of ``total`` values, exactly.

    The set is known by ``count_le(t)`` (members <= t, vectorised over t),
    ``between(lo, hi)`` (the members in ``(lo, hi]``) and ``sample(size)`` (members
    drawn at random). Ranks less than :data:`_BRACKET_MAX` apart form one cluster
    (an estimate and its interval's bounds usually do: they lie within a few
    standard deviations of the middle rank). Each cluster is bracketed by ``(lo, hi]``
    with ``count_le(lo) < first rank`` and ``last rank <= count_le(hi)``
    (:func:`_brackets`); its members are listed once and every rank of the cluster
    picked from them. ``O(n log n)`` per count; the answer does not depend on the
    sample or the clusters, only the time does.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    wanted = np.unique(ranks)
    cut = np.flatnonzero(np.diff(wanted) > _BRACKET_MAX) + 1
    first = wanted[np.concatenate(([0], cut))]
    last = wanted[np.concatenate((cut - 1, [wanted.size - 1]))]
    ends = np.unique(np.concatenate([first, last]))
    lo, c_lo, hi, c_hi = _brackets(count_le, sample, ends, low, high, total)
    found: dict[int, float] = {}
    for a, b in zip(first, last):
        i, j = np.searchsorted(ends, a), np.searchsorted(ends, b)
        members = between(float(lo[i]), float(hi[j]))  # (lo, hi]: c_hi[j] - c_lo[i] of them
        inside = wanted[(wanted >= a) & (wanted <= b)]
        offsets = inside - c_lo[i] - 1
        picked = np.partition(members, offsets)[offsets]
        found.update(zip(inside.tolist(), picked.tolist()))
    return np.array([found[int(r)] for r in ranks], dtype=float)


def _brackets(
    count_le, sample, ranks: np.ndarray, low: float, high: float, total: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each rank a bracket ``(lo, hi]`` with ``c_lo = count_le(lo) < rank <= c_hi =
    count_le(hi)``: first from quantiles of a sample (a guess, checked by counting),
    then by bisection until it holds at most :data:`_BRACKET_MAX` members (or at most
    :data:`_STALLED_MAX` after :data:`_STALLS` steps that removed none: a block of ties).
    Returns ``(lo, c_lo, hi, c_hi)``."""
    below = np.nextafter(low, -np.inf)
    lo = np.full(ranks.size, below)
    hi = np.full(ranks.size, float(high))
    c_lo = np.zeros(ranks.size, dtype=np.int64)
    c_hi = np.full(ranks.size, total, dtype=np.int64)
    drawn = np.sort(sample(_SAMPLE_SIZE))
    q = (ranks - 0.5) / total
    spread = 4.0 * np.sqrt(q * (1.0 - q) / drawn.size) + 2.0 / drawn.size
    guess = np.concatenate(
        [
            np.quantile(drawn, np.clip(q - spread, 0.0, 1.0)),
            np.quantile(drawn, np.clip(q + spread, 0.0, 1.0)),
        ]
    )
    counts = count_le(guess)
    g_lo, g_hi = guess[: ranks.size], guess[ranks.size :]
    n_lo, n_hi = counts[: ranks.size], counts[ranks.size :]
    use = n_lo < ranks
    lo, c_lo = np.where(use, g_lo, lo), np.where(use, n_lo, c_lo)
    use = n_hi >= ranks
    hi, c_hi = np.where(use, g_hi, hi), np.where(use, n_hi, c_hi)
    stalls = np.zeros(ranks.size, dtype=np.int64)
    for _ in range(4 * _BISECT_STEPS):
        width = c_hi - c_lo
        wide = (
            (width > _BRACKET_MAX)
            & ((stalls < _STALLS) | (width > _STALLED_MAX))
            & (np.nextafter(lo, np.inf) < hi)
        )
        if not wide.any():
            break
        mid = np.where(wide, lo + (hi - lo) / 2.0, lo)
        counts = count_le(mid)
        enough = wide & (counts >= ranks)
        short = wide & ~enough
        hi, c_hi = np.where(enough, mid, hi), np.where(enough, counts, c_hi)
        lo, c_lo = np.where(short, mid, lo), np.where(short, counts, c_lo)
        stalls = np.where(wide, np.where(c_hi - c_lo == width, stalls + 1, 0), stalls)
    return lo, c_lo, hi, c_hi


def _order_stats(values_or_count, total: int, ranks: list[int], bounds=None) -> np.ndarray:
    if callable(values_or_count):
        count_le, between, sample = values_or_count()
        low, high = bounds
        return _select(count_le, between, sample, np.asarray(ranks), low, high, total)
    part = np.partition(values_or_count, [r - 1 for r in ranks])
    return part[[r - 1 for r in ranks]]


def _weighted_order_stats(values: np.ndarray, weight: np.ndarray, ranks: list[int]) -> np.ndarray:
    """The ``ranks``-th smallest (1-based) members of the multiset holding each of
    ``values`` ``weight`` times: the same numbers as :func:`_order_stats` of the multiset
    written out."""
    order = np.argsort(values, kind="stable")
    ends = np.cumsum(weight[order])  # the last rank each sorted value holds
    return values[order][np.searchsorted(ends, np.asarray(ranks), side="left")]


def _ranges(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with first[i] <= j < last[i], row by row."""
    size = np.maximum(last - first, 0)
    i = np.repeat(np.arange(first.size), size)
    starts = np.cumsum(size) - size
    j = np.arange(i.size) - np.repeat(starts, size) + np.repeat(first, size)
    return i, j


def _median_rank(total: int) -> list[int]:
    return [(total + 1) // 2, total // 2 + 1]


def _interpolated(lower: float, inner: float, cdf, k: int, confidence: float) -> float:
    """A bound between the k-th order statistic (``lower``, coverage c_k) and the
    (k+1)-th (``inner``, coverage c_(k+1) < confidence), linearly interpolated so the
    interval's coverage is ``confidence`` rather than the conservative c_k."""
    c_k = 1.0 - 2.0 * float(cdf[k - 1])
    c_next = 1.0 - 2.0 * float(cdf[k])
    if c_k <= c_next:
        return lower
    weight = min(1.0, max(0.0, (confidence - c_next) / (c_k - c_next)))
    return inner + weight * (lower - inner)


def _intervals(select, total: int, cdf, variance: float, levels: tuple[float, ...]) -> list[Shift]:
    ks = [_rank(cdf, total, variance, c) for c in levels]
    wanted = _median_rank(total)
    for k in ks:
        if k >= 1:
            inner = min(k + 1, total + 1 - k)
            wanted += [k, total + 1 - k, inner, total + 1 - inner]
    values = select(wanted)
    estimate = float((values[0] + values[1]) / 2.0)
    out, i = [], 2
    for k, c in zip(ks, levels):
        if k < 1:
            out.append(Shift(estimate, np.nan, np.nan, np.nan))
            continue
        low, high, low_in, high_in = (float(v) for v in values[i : i + 4])
        i += 4
        if cdf is not None:
            low = _interpolated(low, low_in, cdf, k, c)
            high = _interpolated(high, high_in, cdf, k, c)
        out.append(Shift(estimate, low, high, c))
    return out


class _Set(NamedTuple):
    """The Walsh averages (paired) or differences (unpaired) an estimate, its intervals and
    its p-value are read from: ``select(ranks)`` (order statistics, 1-based),
    ``count_le(t)`` (members <= each t), their number and the null distribution of the
    rank statistic (``cdf``, exact; None: normal with ``variance``)."""

    select: Any  # Callable[[ranks], np.ndarray]; None when empty
    count_le: Any  # Callable[[np.ndarray], np.ndarray]; None when empty
    total: int
    cdf: np.ndarray | None
    variance: float

    @classmethod
    def empty(cls) -> _Set:
        return cls(None, None, 0, None, np.nan)

    def intervals(self, levels: tuple[float, ...]) -> list[Shift]:
        if self.total == 0:
            return [_NONE for _ in levels]
        return _intervals(self.select, self.total, self.cdf, self.variance, levels)

    def p(self) -> float:
        """The two-sided p-value of the intervals themselves: the smallest alpha at which
        the (1 - alpha) interval of :meth:`intervals` excludes 0.

        With the estimate above 0 only the lower bound can exclude 0; let ``j`` be the
        members <= 0 (W_(j) <= 0 < W_(j+1)). Normal: the interval's rank
        ``floor(N/2 - z sd)`` reaches ``j + 1`` from ``z <= (N/2 - j - 1) / sd``, so
        ``p = 2 Phi(-(N/2 - j - 1) / sd)``. Exact: the interval excludes 0 at every level
        whose rank is above ``j`` (tail ``cdf[j]``), and at rank ``j`` while the bound
        interpolated from W_(j+1) towards W_(j) (:func:`_interpolated`) is still above 0,
        the fraction ``f = W_(j+1) / (W_(j+1) - W_(j))`` of the way: ``p = 2 cdf[j] -
        f (2 cdf[j] - 2 cdf[j-1])``, between the exact test's p (``2 cdf[j]``) and the next
        attainable one below it — the interpolated interval's own test. Below 0, the same
        from the top. NaN without members; 1 when the estimate is 0.
        """
        if self.total == 0:
            return np.nan
        mid = self.select(_median_rank(self.total))
        estimate = float((mid[0] + mid[1]) / 2.0)
        if estimate == 0:
            return 1.0
        total = self.total
        if estimate > 0:
            j = int(self.count_le(np.array([0.0]))[0])

            def value(r: int) -> float:
                return float(self.select([r])[0])
        else:  # mirror: V = -W, V_(r) = -W_(N+1-r)
            j = total - int(self.count_le(np.array([np.nextafter(0.0, -np.inf)]))[0])

            def value(r: int) -> float:
                return -float(self.select([total + 1 - r])[0])

        if self.cdf is None:
            z = (total / 2.0 - j - 1) / np.sqrt(self.variance)
            return float(min(1.0, 2.0 * special.ndtr(-z)))
        if j == 0:
            return float(min(1.0, 2.0 * self.cdf[0]))
        below, above = value(j), value(j + 1)  # below <= 0 < above
        f = above / (above - below)
        p_j, p_before = 2.0 * float(self.cdf[j]), 2.0 * float(self.cdf[j - 1])
        return float(min(1.0, p_j - f * (p_j - p_before)))


def paired(d: np.ndarray, *levels: float) -> list[Shift]:
    """Hodges–Lehmann estimate of the centre of ``d`` with signed-rank intervals at ``levels``.

    Parameters
    ----------
    d : numpy.ndarray
        Per-round differences (log a - log b); NaN-free.
    levels : float
        Coverages of the intervals wanted (e.g. 0.95, 0.90).

    Returns
    -------
    list of Shift
        One per level; the same estimate in each. Bounds NaN when ``d`` is too
        short for the level (95 %: fewer than 6 values); everything NaN when empty.
    """
    return _paired_set(d).intervals(levels)


def paired_test(d: np.ndarray, *levels: float) -> tuple[list[Shift], float]:
    """:func:`paired` and the p-value of the same inversion (:meth:`_Set.p`): the smallest
    alpha whose (1 - alpha) interval excludes 0, so the interval at any level excludes 0
    exactly when p is below 1 - level."""
    found = _paired_set(d)
    return found.intervals(levels), found.p()


def _paired_set(d: np.ndarray) -> _Set:
    """The Walsh averages of ``d`` as a :class:`_Set` (built, weighted or counted)."""
    d = np.sort(np.asarray(d, dtype=float))
    n = d.size
    if n == 0:
        return _Set.empty()
    total = n * (n + 1) // 2
    cdf = _signed_rank_cdf(n) if n <= EXACT_MAX else None
    variance = n * (n + 1) * (2 * n + 1) / 24.0
    values, counts = np.unique(d, return_counts=True) if total > _DIRECT_MAX else (d, None)
    if total <= _DIRECT_MAX:
        i, j = np.triu_indices(n)
        walsh = (d[i] + d[j]) / 2.0

        def select(ranks):
            return _order_stats(walsh, total, ranks)

        def count_le(t: np.ndarray) -> np.ndarray:
            return np.count_nonzero(walsh[None, :] <= np.asarray(t)[:, None], axis=1)
    elif values.size * (values.size + 1) // 2 <= _DIRECT_MAX:
        # few distinct values (ties): each distinct Walsh average once, with its multiplicity
        assert counts is not None  # np.unique's, above _DIRECT_MAX
        i, j = np.triu_indices(values.size)
        walsh = (values[i] + values[j]) / 2.0
        weight = np.where(i == j, counts[i] * (counts[i] + 1) // 2, counts[i] * counts[j])

        def select(ranks):
            return _weighted_order_stats(walsh, weight, ranks)

        def count_le(t: np.ndarray) -> np.ndarray:
            return (weight[None, :] * (walsh[None, :] <= np.asarray(t)[:, None])).sum(axis=1)
    else:

        def count_le(t: np.ndarray) -> np.ndarray:
            # pairs i <= j with d_i + d_j <= 2t: for each i, the j >= i with d_j <= 2t - d_i;
            # an i with d_i > t has none (d_j >= d_i), so only the i up to the largest t count
            m = int(np.searchsorted(d, np.max(t), side="right"))
            upto = np.searchsorted(d, 2.0 * t[:, None] - d[None, :m], side="right")
            return np.maximum(upto - np.arange(m)[None, :], 0).sum(axis=1)

        def between(lo: float, hi: float) -> np.ndarray:
            # the Walsh averages with 2lo < d_i + d_j <= 2hi, i <= j (so d_i <= hi)
            m = int(np.searchsorted(d, hi, side="right"))
            first = np.maximum(np.searchsorted(d, 2.0 * lo - d[:m], side="right"), np.arange(m))
            last = np.searchsorted(d, 2.0 * hi - d[:m], side="right")
            i, j = _ranges(first, last)
            return (d[i] + d[j]) / 2.0

        def sample(size: int) -> np.ndarray:
            rng = np.random.default_rng(n)
            a, b = rng.integers(0, n, size), rng.integers(0, n, size)
            return (d[a] + d[b]) / 2.0

        def select(ranks):
            return _order_stats(lambda: (count_le, between, sample), total, ranks, (d[0], d[-1]))

    return _Set(select, count_le, total, cdf, variance)


def paired_many(d: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`paired` of each row of a (replicates × n) array at one level, vectorised:
    (estimates, lows, highs). For simulations (tests, benchmarks/gate_power.py)."""
    d = np.sort(np.asarray(d, dtype=float), axis=1)
    n = d.shape[1]
    total = n * (n + 1) // 2
    i, j = np.triu_indices(n)
    walsh = np.sort((d[:, i] + d[:, j]) / 2.0, axis=1)
    k = _rank(
        _signed_rank_cdf(n) if n <= EXACT_MAX else None,
        total,
        n * (n + 1) * (2 * n + 1) / 24.0,
        confidence,
    )
    mid = _median_rank(total)
    estimate = (walsh[:, mid[0] - 1] + walsh[:, mid[1] - 1]) / 2.0
    if k < 1:
        nan = np.full(d.shape[0], np.nan)
        return estimate, nan, nan
    low, high = walsh[:, k - 1], walsh[:, total - k]
    if n <= EXACT_MAX:
        inner = min(k + 1, total + 1 - k)
        cdf = _signed_rank_cdf(n)
        low = np.array(
            [_interpolated(a, b, cdf, k, confidence) for a, b in zip(low, walsh[:, inner - 1])]
        )
        high = np.array(
            [_interpolated(a, b, cdf, k, confidence) for a, b in zip(high, walsh[:, total - inner])]
        )
    return estimate, low, high


def unpaired(x: np.ndarray, y: np.ndarray, *levels: float) -> list[Shift]:
    """Two-sample Hodges–Lehmann shift of ``x`` over ``y`` (median of ``x_i - y_j``) with
    Mann–Whitney intervals at ``levels``; see :func:`paired` for the shape of the answer."""
    return _unpaired_set(x, y).intervals(levels)


def unpaired_test(x: np.ndarray, y: np.ndarray, *levels: float) -> tuple[list[Shift], float]:
    """:func:`unpaired` and the p-value of the same inversion (see :func:`paired_test`)."""
    found = _unpaired_set(x, y)
    return found.intervals(levels), found.p()


def _unpaired_set(x: np.ndarray, y: np.ndarray) -> _Set:
    """The differences ``x_i - y_j`` as a :class:`_Set` (built, weighted or counted)."""
    x = np.sort(np.asarray(x, dtype=float))
    y = np.sort(np.asarray(y, dtype=float))
    m, n = x.size, y.size
    if m == 0 or n == 0:
        return _Set.empty()
    total = m * n
    cdf = _rank_sum_cdf(min(m, n), max(m, n)) if max(m, n) <= EXACT_MAX else None
    variance = m * n * (m + n + 1) / 12.0
    if total > _DIRECT_MAX:
        x_values, x_counts = np.unique(x, return_counts=True)
        y_values, y_counts = np.unique(y, return_counts=True)
    if total <= _DIRECT_MAX:
        diffs = (x[:, None] - y[None, :]).ravel()

        def select(ranks):
            return _order_stats(diffs, total, ranks)

        def count_le(t: np.ndarray) -> np.ndarray:
            return np.count_nonzero(diffs[None, :] <= np.asarray(t)[:, None], axis=1)
    elif x_values.size * y_values.size <= _DIRECT_MAX:
        # few distinct values (ties): each distinct difference once, with its multiplicity
        diffs = (x_values[:, None] - y_values[None, :]).ravel()
        weight = (x_counts[:, None] * y_counts[None, :]).ravel()

        def select(ranks):
            return _weighted_order_stats(diffs, weight, ranks)

        def count_le(t: np.ndarray) -> np.ndarray:
            return (weight[None, :] * (diffs[None, :] <= np.asarray(t)[:, None])).sum(axis=1)
    else:

        def count_le(t: np.ndarray) -> np.ndarray:
            # pairs with x_i - y_j <= t: for each i, the j with y_j >= x_i - t
            below = np.searchsorted(y, x[None, :] - t[:, None], side="left")
            return (n - below).sum(axis=1)

        def between(lo: float, hi: float) -> np.ndarray:
            # the differences with lo < x_i - y_j <= hi: x_i - hi <= y_j < x_i - lo
            first = np.searchsorted(y, x - hi, side="left")
            last = np.searchsorted(y, x - lo, side="left")
            i, j = _ranges(first, last)
            return x[i] - y[j]

        def sample(size: int) -> np.ndarray:
            rng = np.random.default_rng(m * n)
            return x[rng.integers(0, m, size)] - y[rng.integers(0, n, size)]

        def select(ranks):
            return _order_stats(
                lambda: (count_le, between, sample), total, ranks, (x[0] - y[-1], x[-1] - y[0])
            )

    return _Set(select, count_le, total, cdf, variance)


UNPAIRED_BM_METHOD = (
    "two-sample Hodges–Lehmann shift of the log times; CI by inverting the studentized "
    "permutation Brunner–Munzel test (unequal spreads and shapes allowed)"
)
# Brunner–Munzel's permutation null: every split of the pooled ranks when there are at most
# this many, else this many random ones (seeded by the sample sizes: the same every time).
_BM_SPLITS = 200_000


def _bm_stats(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """The Brunner–Munzel statistic ``(p̂ - 1/2) / se`` per row of placements (``px``:
    each x among the y, ``py``: each y among the x; ``p̂ = P(y < x) + P(y = x) / 2``).
    Without spread in the placements: ±infinite, or 0 when ``p̂`` is 1/2."""
    m, n = px.shape[1], py.shape[1]
    theta = px.mean(axis=1) / n
    scale = m * px.var(axis=1, ddof=1) + n * py.var(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (theta - 0.5) * m * n / np.sqrt(scale)
    flat = scale <= 0
    stat[flat] = np.where(theta[flat] == 0.5, 0.0, np.copysign(np.inf, theta[flat] - 0.5))
    return stat


@cache
def _bm_null(m: int, n: int) -> np.ndarray:
    """|Brunner–Munzel statistic| over the splits of the pooled ranks 1 … m+n into m and n
    (sorted): its permutation null, the same for any samples without ties (the statistic
    is a function of the ranks). Every split up to :data:`_BM_SPLITS`, else that many
    random ones."""
    from itertools import combinations
    from math import comb

    size = m + n
    if comb(size, m) <= _BM_SPLITS:
        chosen = np.array(list(combinations(range(size), m)), dtype=np.int16)
        mask = np.zeros((chosen.shape[0], size), dtype=bool)
        mask[np.arange(chosen.shape[0])[:, None], chosen] = True
    else:
        rng = np.random.default_rng([m, n])
        mask = np.zeros((_BM_SPLITS, size), dtype=bool)
        mask[:, :m] = True
        mask = rng.permuted(mask, axis=1)
    out = []
    for block in np.array_split(mask, max(1, mask.shape[0] // 20_000)):
        pos = np.argsort(~block, axis=1, kind="stable") + 1  # x's pooled ranks, then y's
        px = (pos[:, :m] - np.arange(1, m + 1)).astype(float)
        py = (pos[:, m:] - np.arange(1, n + 1)).astype(float)
        out.append(np.abs(_bm_stats(px, py)))
    return np.sort(np.concatenate(out))


def _brunner_munzel(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The Brunner–Munzel statistic of sorted ``x`` against sorted ``y`` and its two-sided
    p-value: from the permutation null of the ranks (:func:`_bm_null`, Neubert and
    Brunner's studentized permutation test: exact when the samples have one shape,
    asymptotically right when not) with at most :data:`EXACT_MAX` values a side and no
    ties, else the t approximation with Welch–Satterthwaite df. The statistic is
    ``scipy.stats.brunnermunzel``'s with the sign of ``x`` above ``y``."""
    m, n = x.size, y.size
    px = (np.searchsorted(y, x, "left") + np.searchsorted(y, x, "right")) / 2.0
    py = (np.searchsorted(x, y, "left") + np.searchsorted(x, y, "right")) / 2.0
    stat = float(_bm_stats(px[None, :], py[None, :])[0])
    ties = np.any(px != np.round(px)) or np.any(np.diff(x) == 0) or np.any(np.diff(y) == 0)
    if max(m, n) <= EXACT_MAX and not ties:
        null = _bm_null(m, n)
        beyond = null.size - np.searchsorted(null, abs(stat) * (1 - 1e-12), side="left")
        return stat, float(beyond) / null.size
    if not np.isfinite(stat) or stat == 0:
        return stat, 0.0 if stat else 1.0
    vx, vy = float(np.var(px, ddof=1)), float(np.var(py, ddof=1))
    df = (m * vx + n * vy) ** 2 / ((m * vx) ** 2 / (m - 1) + (n * vy) ** 2 / (n - 1))
    return stat, float(2.0 * special.stdtr(df, -abs(stat)))


def unpaired_bm_test(x: np.ndarray, y: np.ndarray, *levels: float) -> tuple[list[Shift], float]:
    """The two-sample Hodges–Lehmann shift of ``x`` over ``y`` (median of ``x_i - y_j``, as
    :func:`unpaired`) with intervals that invert the Brunner–Munzel test instead of the
    Mann–Whitney one, and the test's p-value at a shift of 0.

    Both intervals are for the same estimand, the median of the distribution of
    ``X - Y`` (one value of each sample's population): a shift ``s`` is inside the
    (1 - alpha) interval when the test of ``x - s`` against ``y`` (``P(Y < X - s) = 1/2``)
    has p >= alpha. Mann–Whitney's null distribution holds only when the two samples
    have one shape (a pure shift); Brunner–Munzel's variance is estimated from each
    sample's placements, so unequal spreads and shapes keep its level (approximately:
    a t approximation; benchmarks/hosts_coverage.py). Between two consecutive
    differences ``x_i - y_j`` the statistic is constant; each bound is the difference
    where the test first rejects going out from the estimate (bisection over the
    differences' ranks, the statistic taken as monotone there), so the estimate always
    lies inside. NaN intervals and p with an empty sample.
    """
    x = np.sort(np.asarray(x, dtype=float))
    y = np.sort(np.asarray(y, dtype=float))
    found = _unpaired_set(x, y)
    if found.total == 0:
        return [_NONE for _ in levels], np.nan
    total = found.total
    mid = found.select(_median_rank(total))
    estimate = float((mid[0] + mid[1]) / 2.0)

    def value(r: int) -> float:
        return float(found.select([r])[0])

    def p_segment(r: int) -> float:
        """p of a shift between the r-th and (r+1)-th differences (0 … total)."""
        if r <= 0:
            s = value(1) - 1.0
        elif r >= total:
            s = value(total) + 1.0
        else:
            s = (value(r) + value(r + 1)) / 2.0
        return _brunner_munzel(x - s, y)[1]

    centre = total // 2  # the segment holding (or next to) the estimate
    out = []
    for c in levels:
        alpha = 1.0 - c
        # lower: the smallest accepted segment at or below the centre
        lo, hi = 0, centre
        if p_segment(0) >= alpha:
            low = -np.inf
        else:
            while hi - lo > 1:  # segment lo rejected, segment hi accepted
                m = (lo + hi) // 2
                lo, hi = (lo, m) if p_segment(m) >= alpha else (m, hi)
            low = value(hi)
        lo, hi = centre, total
        if p_segment(total) >= alpha:
            high = np.inf
        else:
            while hi - lo > 1:  # segment lo accepted, segment hi rejected
                m = (lo + hi) // 2
                lo, hi = (m, hi) if p_segment(m) >= alpha else (lo, m)
            high = value(hi)
        out.append(Shift(estimate, min(low, estimate), max(high, estimate), c))
    return out, _brunner_munzel(x, y)[1]
