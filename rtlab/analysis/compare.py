"""Run-to-run comparison: did anything get slower between run A (before) and run B (after)?

Protocol. Both runs must come from one host (the identity in
:data:`rtlab.core.results.IDENTITY_KEYS`); their runtime and client versions may
differ — that is usually the point — and are listed. For every target and step
measured in both runs (the derived lifecycle ``total`` included, warm-ups
excluded, see :mod:`rtlab.analysis.stats`):

- Two runs are not interleaved with each other, so A and B are compared
  unpaired; within each run the interleaving is used to remove the shared
  effect of each round (:func:`round_adjusted_logs`), which takes most of the
  run-to-run noise out of every target's times.
- ``change``: ``exp(s) - 1``, ``s`` the two-sample Hodges–Lehmann shift of B's
  round-adjusted log times over A's, with the 95 % CI that inverts the same
  Mann–Whitney U test that gives ``p`` (:func:`rtlab.analysis.shift.unpaired`): one
  estimate, its interval and its test, as in :func:`rtlab.analysis.stats.compare`.
  ``median_a_s``/``median_b_s`` are descriptive (no interval is printed for
  their ratio).
- ``p``: two-sided Mann–Whitney U of B against A on the round-adjusted log
  times, ``p_adj`` Holm over every row; equivalence: the (1 − 2·alpha) CI of
  the change (``equiv_ci_low``/``equiv_ci_high``) inside
  :func:`rtlab.analysis.stats.equivalence_bounds` (``p_equiv``: the matching TOST p).
- The gate's tests, one family over every row (``p_slower_adj``,
  ``p_fail_adj``, adjusted by :func:`conditional_holm`): per row, ``p_slower``
  is one-sided against the threshold (H0: B is at most ``threshold`` slower,
  :func:`gate_p`), and ``p_fail`` Fisher's exact test that B fails more often
  than A (only rows with a failure count in the family).
- ``verdict``: ``"fails in B"`` (A has samples, every trial of B failed),
  ``"fixed in B"`` (the reverse), ``"fails more in B"`` (``p_fail_adj < alpha``),
  ``"slower"`` (``p_slower_adj < alpha``: slower beyond the threshold),
  ``"equivalent"`` (the equivalence CI inside the bounds, even when a smaller
  difference is also significant: ``difference`` says so), ``"slower"`` or
  ``"faster"`` (``p_adj < alpha`` with the CI above or below 0), else
  ``"inconclusive"`` with ``trials_needed``.
- Runs of different experiments are never compared (:class:`CompareError`);
  every row is keyed by its ``experiment``.
- The ``concurrency`` experiment is compared per target, mode, k and quantity:
  each batch gives one sample of its containers' p50 and (k > 1) p95 latency,
  step ``"run p95 k=8"`` (:func:`rtlab.analysis.concurrency_stats.batch_rows`; a batch
  with a failed container is a failed sample), so the gate holds p50 and p95 at
  every k, never pooled over k.

The regression gate: a row is a regression when it is ``"fails in B"``, when
``p_fail_adj < alpha`` or when ``p_slower_adj < alpha`` — B fails more often,
or is slower by more than the threshold, at family-wise level alpha over all
rows, so noise between two recordings of the same software does not fail a CI
job. Two runs are two sittings, and this host moves by tens of per cent between
sittings, not evenly: ``p_slower`` tests B's row against A's after taking off
the shift the *other* rows expect of it (:func:`host_shifts`, analysis/drift.py:
the host's median shift plus its client's and its step's drift, fitted without
the row, when B is slower), so a host 10% slower overall, or a docker daemon
that drifted, is said as such (:func:`host_shift`, a note of
:func:`compare_runs`) and not as a regression of every target; a target/step is
a regression when it moved beyond that and the threshold. ``benchmarks/gate_power.py``
measures its false-alarm rate on runs from two sittings, with host-wide shifts of 5,
10 and 20%, and its power.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from rtlab.analysis import drift, shift, stats
from rtlab.analysis.analysis import primary_pace
from rtlab.analysis.concurrency_stats import with_batch_rows
from rtlab.analysis.drift import host_shift_line, host_shifts
from rtlab.core import experiments, noise, results
from rtlab.core.conditions import format_pace
from rtlab.core.options import DEFAULT_ALPHA
from rtlab.core.options import DEFAULT_THRESHOLD as _THRESHOLD

SLOWER = "slower"
FASTER = "faster"
EQUIVALENT = stats.EQUIVALENT
INCONCLUSIVE = stats.INCONCLUSIVE
# Older name of the verdict that is neither slower, faster nor equivalent.
NO_CLEAR_CHANGE = INCONCLUSIVE
FAILS_IN_B = "fails in B"
FAILS_MORE_IN_B = "fails more in B"
FIXED_IN_B = "fixed in B"
DEFAULT_THRESHOLD = _THRESHOLD  # rtlab/core/options.py

CHANGE_COLUMNS: list[str] = [
    "experiment",
    "client",
    "runtime",
    "step",
    "n_a",
    "n_b",
    "n_failed_a",
    "n_failed_b",
    "median_a_s",
    "median_b_s",
    "change",
    "change_ci_low",
    "change_ci_high",
    "p",
    "p_adj",
    "verdict",
    "difference",
    "regression",
    "p_slower",
    "p_slower_adj",
    "p_fail",
    "p_fail_adj",
    "margin",
    "equiv_ci_low",
    "equiv_ci_high",
    "p_equiv",
    "trials_needed",
    "method",
    "ci_level",  # the change CI's level: Holm's stopping level (stats.holm_alpha)
]
# Columns computed after every row is known (Holm, verdicts).
_DERIVED = (
    "p_adj",
    "p_slower_adj",
    "p_fail_adj",
    "verdict",
    "difference",
    "regression",
    "trials_needed",
)
# Gate tests with p above this do not count in the family (see conditional_holm).
GATE_TAU = 0.5
# A round's shared effect is estimated from at least this many other targets.
MIN_OTHERS = 3
METHOD = (
    "unpaired across runs: Hodges–Lehmann shift of round-adjusted log times with the "
    "Mann–Whitney U test and its inversion CI; gate one-sided against +threshold beyond "
    "the shift the other rows expect, allowing for their spread between sittings; "
    "failures by Fisher's exact test"
)
# run.json parameters worth mentioning when they differ between A and B.
_PARAMETERS = ("trials", "warmup", "timeout_s", "seed", "workload", "study")


class CompareError(results.RunFormatError):
    """Runs that must not be compared (different hosts); one line saying what differs."""

    def _render_traceback_(self) -> list[str]:
        # IPython (the notebooks) shows this one line instead of a traceback.
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class RunComparison:
    """What :func:`compare_runs` found.

    Attributes
    ----------
    run_a, run_b : str
        The run ids (A = before, B = after).
    dir_a, dir_b : pathlib.Path
        Their folders.
    host : dict
        The shared host identity.
    changes : pandas.DataFrame
        One row per (client, runtime, step) measured in both runs, columns
        :data:`CHANGE_COLUMNS`, in target then lifecycle order.
    version_differences : list of str
        "name: 'A' vs 'B'" for each runtime/client version that differs, then
        the versions only one run recorded.
    parameter_differences : list of str
        Collection parameters that differ (trials, warm-up, workload …).
    only_in_one : list of str
        Targets measured in one run only (not compared).
    alpha, threshold : float
        The significance level and the gate's threshold.
    """

    run_a: str
    run_b: str
    dir_a: Path
    dir_b: Path
    host: dict
    changes: pd.DataFrame
    version_differences: list[str]
    parameter_differences: list[str]
    only_in_one: list[str]
    alpha: float
    threshold: float
    notes: list[str] = field(default_factory=list)
    host_shift: dict | None = None  # :func:`host_shift`: the host-wide change from A to B
    busy: list[str] = field(default_factory=list)  # :func:`busy_runs`: runs made on a busy host

    @property
    def regressions(self) -> pd.DataFrame:
        """The rows that fail the gate."""
        return self.changes[self.changes["regression"]]

    def regression_lines(self) -> list[str]:
        """One sentence per regression, naming the target and step."""
        return [regression_sentence(row, self.threshold) for _, row in self.regressions.iterrows()]

    def verdict_line(self) -> str:
        """The gate's outcome in one line."""
        bad = self.regressions
        if bad.empty:
            return (
                f"no regression: no target/step is slower by more than "
                f"{self.threshold:.0%} or fails more often in B (conditional Holm over "
                f"every test, alpha {self.alpha:g})"
            )
        names = ", ".join(where(r) for r in bad.itertuples(index=False))
        beyond = (
            " and the host's own shift"
            if self.host_shift is not None and self.host_shift["change"] > 0
            else ""
        )
        caveat = (
            f" — run {' and '.join(self.busy)} ran on a busy host, so these may be the load"
            if self.busy
            else ""
        )
        return (
            f"REGRESSION beyond {self.threshold:.0%}{beyond} in {len(bad)} target/step(s): "
            f"{names}{caveat}"
        )


def busy_runs(meta_a: dict, meta_b: dict) -> tuple[list[str], list[str]]:
    """Which runs ("A", "B") were made on a busy host — the 1-minute load average before or
    after the run above the host's cores, as run.json recorded — and a note for each.

    Other work on the host does not slow it as a whole: on make report's runs from two
    sittings, one of them with the cores loaded ~3.5 times over (data/sittings), the
    target/steps' changes spread from -14% to +71% around the host's +17%, so testing
    each beyond the others' shift (:func:`host_shifts`) no longer separates the software
    from the load (benchmarks/gate_power.py measures the false alarms on that pair)."""
    names, notes = [], []
    for label, meta in (("A", meta_a), ("B", meta_b)):
        cores = (meta.get("host") or {}).get("cores") or 0
        over = noise.busy_loads(meta, cores)
        if over:
            when, load = max(over, key=lambda x: x[1])
            names.append(label)
            notes.append(
                f"run {label} ran on a busy host (1-minute load {load:.2f} {when} it, on "
                f"{cores} cores): other work slows target/steps unevenly, which the host-wide "
                "shift does not take off, so a regression flagged here may be the load "
                "(benchmarks/gate_power.py, data/sittings); compare runs made on an idle host"
            )
    return names, notes


def where(row) -> str:
    """ "client/runtime step", with the experiment when it is not the lifecycle."""
    get = row.get if hasattr(row, "get") else lambda k, d=None: getattr(row, k, d)
    experiment = get("experiment", experiments.DEFAULT_EXPERIMENT)
    label = f"{stats.target_label(get('client'), get('runtime'))} {get('step')}"
    return label if experiment == experiments.DEFAULT_EXPERIMENT else f"{label} ({experiment})"


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def regression_sentence(row: pd.Series, threshold: float) -> str:
    """A regression row as one sentence."""
    where_ = where(row)
    if row["verdict"] == FAILS_IN_B:
        return (
            f"{where_}: every trial failed in B ({row['n_failed_b']} failed) while A has "
            f"{row['n_a']} successful trials"
        )
    if (
        row["p_fail_adj"] == row["p_fail_adj"]
        and row["regression"]
        and not row["p_slower_adj"] < row["p_fail_adj"]
    ):
        return (
            f"{where_}: fails more often in B ({row['n_failed_b']} of "
            f"{row['n_failed_b'] + row['n_b']} trials) than in A ({row['n_failed_a']} of "
            f"{row['n_failed_a'] + row['n_a']}; Fisher exact, p_adj {row['p_fail_adj']:.2g})"
        )
    return (
        f"{where_}: {row['change']:.1%} slower in B (Holm-adjusted CI {_pct(row['change_ci_low'])} … "
        f"{_pct(row['change_ci_high'])}; medians {row['median_a_s']:.4f} s → "
        f"{row['median_b_s']:.4f} s), beyond the {threshold:.0%} threshold "
        f"(one-sided p_adj {row['p_slower_adj']:.2g})"
    )


def round_adjusted_logs(frame: pd.DataFrame) -> np.ndarray:
    """Log wall time of each sample minus the shared effect of its round.

    Within one run every target runs once per round, so a slow round slows all
    of them. For a sample of target t in round r and step s, the round effect is
    the median, over the *other* targets measured in r and s, of their log wall
    time minus their own median log wall time in the run; it is left at 0 when
    fewer than :data:`MIN_OTHERS` other targets are there. Leaving t out means a
    change of t itself never leaks into its own correction; subtracting each
    target's own median means a target that is slower in every round does not
    move the others' correction either.

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`rtlab.analysis.stats.samples` of a run (failed rows allowed: they get NaN).

    Returns
    -------
    numpy.ndarray
        One value per row of ``frame`` (NaN for rows that are not samples).
    """
    good = stats.is_sample(frame)
    out = np.full(len(frame), np.nan)
    if not good.any():
        return out
    rows = np.flatnonzero(good)
    sub = frame.iloc[rows]
    logs = np.log(sub["wall_s"].to_numpy(dtype=float))
    centre = (
        pd.Series(logs)
        .groupby([sub["run_id"].to_numpy(), sub["target"].to_numpy(), sub["step"].to_numpy()])
        .transform("median")
        .to_numpy()
    )
    resid = logs - centre
    effect = np.zeros(rows.size)
    groups = pd.DataFrame(
        {"r": sub["run_id"].to_numpy(), "s": sub["step"].to_numpy(), "k": sub["round"].to_numpy()}
    ).groupby(["r", "s", "k"], sort=False)
    for index in groups.indices.values():
        if index.size < MIN_OTHERS + 1:
            continue
        values = resid[index]
        others = np.broadcast_to(values, (index.size, index.size)).copy()
        np.fill_diagonal(others, np.nan)
        effect[index] = np.nanmedian(others, axis=1)
    out[rows] = logs - effect
    return out


def gate_p(adj_a: np.ndarray, adj_b: np.ndarray, threshold: float) -> float:
    """One-sided p that B is slower than A by more than ``threshold``.

    Mann–Whitney U of the round-adjusted log times of B, shifted down by
    ``log(1 + threshold)``, against those of A (H0: B is at most ``threshold``
    slower). NaN when a side has no samples.
    """
    if adj_a.size == 0 or adj_b.size == 0:
        return np.nan
    return float(sps.mannwhitneyu(adj_b - np.log1p(threshold), adj_a, alternative="greater").pvalue)


def gate_p_beyond(
    adj_a: np.ndarray,
    adj_b: np.ndarray,
    expected: float,
    log_shift: float,
    se: float,
    tau: float,
    threshold: float,
) -> float:
    """The gate's p of one row: B slower than A by more than ``threshold`` beyond the shift
    the other rows expect of it (``expected``, when a slowdown). The larger of the rank
    test (:func:`gate_p`, its own noise) and the normal test that also allows for the
    rows' own moves between sittings (:func:`rtlab.analysis.drift.beyond_p`, ``tau``;
    0 within one sitting). NaN when a side has no samples."""
    if not (adj_a.size and adj_b.size):
        return np.nan
    rank = gate_p(adj_a, adj_b - max(expected, 0.0), threshold)
    return float(np.fmax(rank, drift.beyond_p(log_shift, expected, se, tau, threshold)))


def failure_p(failed_a: int, n_a: int, failed_b: int, n_b: int) -> float:
    """One-sided Fisher exact p that B fails more often than A; NaN when nothing failed."""
    if failed_a + failed_b == 0:
        return np.nan
    table = [[failed_b, n_b], [failed_a, n_a]]
    return float(sps.fisher_exact(table, alternative="greater").pvalue)


def conditional_holm(p_values: np.ndarray, tau: float = GATE_TAU) -> np.ndarray:
    """Holm over the p-values at most ``tau``, each divided by ``tau``; the rest become 1.

    The conditional Holm procedure of Zhao, Small and Su (2019), "Multiple
    testing when many p-values are uniformly conservative, with application to
    testing qualitative interaction in educational interventions", JASA 114(527).
    The p-value of a one-sided test of a composite null (here "B is at most
    ``threshold`` slower", "B fails no more often") is uniform at the null's
    boundary and conservative inside it; given ``p <= tau`` its ``p / tau`` is
    still valid, so rows that are nowhere near a regression (p > tau, e.g. every
    row whose change is below the threshold when tau = 0.5) do not spend alpha.
    NaN stays NaN and does not count.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.where(np.isfinite(p), 1.0, np.nan)
    selected = np.flatnonzero(np.isfinite(p) & (p <= tau))
    if selected.size:
        adjusted[selected] = stats.holm(p[selected] / tau)
    return adjusted


def host_shift(changes: pd.DataFrame) -> dict | None:
    """The host's shift from A to B and each client's and step's drift beyond it, from a
    :func:`changes` table (:func:`rtlab.analysis.drift.host_shift`)."""
    found = drift.host_shift(
        np.log1p(changes["change"].to_numpy(dtype=float)),
        changes["step"].to_numpy(),
        changes["client"].to_numpy(),
    )
    if found is not None and "tau" in changes.attrs:
        found["tau"] = float(np.expm1(changes.attrs["tau"]))
    return found


def gate_decisions(
    p_gate: np.ndarray, p_fail: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gate's one family: every slowdown test and every failure test of the comparison.

    Adjusted by :func:`conditional_holm` (family-wise error rate ``alpha`` over
    all rows); failure tests are NaN where nothing failed and then do not count.
    Returns the adjusted slowdown p, the adjusted failure p and the regression flags.
    """
    adjusted = conditional_holm(np.concatenate([p_gate, p_fail]))
    gate_adj, fail_adj = adjusted[: p_gate.size], adjusted[p_gate.size :]
    return gate_adj, fail_adj, (gate_adj < alpha) | (fail_adj < alpha)


def _counts(
    frame: pd.DataFrame, adjusted: np.ndarray
) -> dict[tuple[str, str, str, str], tuple[np.ndarray, np.ndarray, int]]:
    """(experiment, client, runtime, step) → (wall times, round-adjusted log times, failed
    rows)."""
    good = stats.is_sample(frame)
    wall_s = frame["wall_s"].to_numpy(dtype=float, na_value=np.nan)
    out: dict[tuple[str, str, str, str], tuple[np.ndarray, np.ndarray, int]] = {}
    keys = ["experiment", "client", "runtime", "step"]
    for key, index in frame.groupby(keys, sort=False).indices.items():
        ok = index[good[index]]
        experiment, client, runtime, step = map(str, key)
        out[experiment, client, runtime, step] = (
            wall_s[ok],
            adjusted[ok],
            int(index.size - ok.size),
        )
    return out


def _order(key: tuple[str, str, str, str]) -> tuple:
    experiment, client, runtime, step = key
    return (
        stats.experiment_rank(experiment),
        experiment,
        client,
        runtime,
        stats.step_rank(step),
        step,
    )


def _verdict(r, alpha: float) -> tuple[str, str]:
    """(verdict, difference) of one row; see the module docstring."""
    if r.n_a and not r.n_b:
        return FAILS_IN_B, ""
    if r.n_b and not r.n_a:
        return FIXED_IN_B, ""
    if r.p_fail_adj < alpha:
        return FAILS_MORE_IN_B, ""
    if not r.n_a:
        return INCONCLUSIVE, ""
    if r.p_slower_adj < alpha:
        return SLOWER, SLOWER
    return stats.verdict(
        r.p_adj,
        1.0 + r.change_ci_low,
        1.0 + r.change_ci_high,
        1.0 + r.equiv_ci_low,
        1.0 + r.equiv_ci_high,
        r.margin,
        alpha,
    )


def changes(
    trials_a: pd.DataFrame,
    trials_b: pd.DataFrame,
    *,
    alpha: float = DEFAULT_ALPHA,
    threshold: float = DEFAULT_THRESHOLD,
    margin: float = stats.MARGIN,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Per target and step, the change from A to B (see the module docstring).

    Parameters
    ----------
    trials_a, trials_b : pandas.DataFrame
        The tidy trials frames of run A (before) and run B (after).
    alpha : float
        Significance level for the Holm-adjusted p-values.
    threshold : float
        The gate: a row is a regression when B is slower than A by more than
        this fraction (one-sided test, see :func:`gate_p`).
    margin : float
        Equivalence margin m: "equivalent" when the (1 − 2·alpha) CI of the
        change lies within 1/(1 + m) − 1 … m.
    seed : int or None
        Unused (the intervals are exact rank-test inversions); kept for callers.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CHANGE_COLUMNS`; only (experiment, target, step) present in both runs.
    """
    frame_a = stats.samples(with_batch_rows(trials_a))
    frame_b = stats.samples(with_batch_rows(trials_b))
    a = _counts(frame_a, round_adjusted_logs(frame_a))
    b = _counts(frame_b, round_adjusted_logs(frame_b))
    rows = []
    adjusted: list[tuple[np.ndarray, np.ndarray]] = []  # (A, B) per row, for the gate below
    for key in sorted(set(a) & set(b), key=_order):
        (x, adj_x, failed_x), (y, adj_y, failed_y) = a[key], b[key]
        adjusted.append((adj_x, adj_y))
        row = {
            "experiment": key[0],
            "client": key[1],
            "runtime": key[2],
            "step": key[3],
            "n_a": x.size,
            "n_b": y.size,
            "n_failed_a": failed_x,
            "n_failed_b": failed_y,
            "median_a_s": np.nan,
            "median_b_s": np.nan,
            "change": np.nan,
            "change_ci_low": np.nan,
            "change_ci_high": np.nan,
            "p": np.nan,
            "p_slower": np.nan,
            "p_equiv": np.nan,
            "margin": margin,
            "equiv_ci_low": np.nan,
            "equiv_ci_high": np.nan,
            "p_fail": failure_p(failed_x, x.size, failed_y, y.size),
            "_needed": np.nan,
            "method": METHOD,
        }
        if x.size and y.size:
            # p is the inversion of the same intervals (shift.unpaired_test): the printed
            # CI excludes 0 exactly when the (adjusted) test calls a difference
            (main, equiv), p_row = shift.unpaired_test(
                adj_y, adj_x, stats.CONFIDENCE, 1.0 - 2.0 * alpha
            )
            sd = float(np.sqrt((stats._robust_sd(adj_x) ** 2 + stats._robust_sd(adj_y) ** 2) / 2))
            row.update(
                median_a_s=float(np.median(x)),
                median_b_s=float(np.median(y)),
                change=float(np.expm1(main.estimate)),
                change_ci_low=float(np.expm1(main.low)),
                change_ci_high=float(np.expm1(main.high)),
                equiv_ci_low=float(np.expm1(equiv.low)),
                equiv_ci_high=float(np.expm1(equiv.high)),
                p=float(p_row),
                _shift=float(main.estimate),
                _se=drift.standard_error(main.low, main.high, stats.CONFIDENCE),
                p_equiv=stats.equivalence_p(adj_y, adj_x, margin),
                _needed=stats.trials_needed(main.estimate, sd, margin, paired=False, alpha=alpha),
            )
        elif x.size:
            row["median_a_s"] = float(np.median(x))
        elif y.size:
            row["median_b_s"] = float(np.median(y))
        rows.append(row)
    frame = pd.DataFrame(
        rows,
        columns=[*(c for c in CHANGE_COLUMNS if c not in _DERIVED), "_needed", "_shift", "_se"],
    )
    # The gate tests each row against the shift the others expect of it (issue 31): a
    # host that is slower as a whole in B (another sitting), or one client's daemon that
    # drifted, is not a regression of each target; only a move beyond that and the
    # threshold is (drift.py).
    moved, ses = frame["_shift"].to_numpy(dtype=float), frame["_se"].to_numpy(dtype=float)
    steps = frame["step"].to_numpy()
    # a target's rows are fitted without any of its rows (drift._others)
    units = (frame["client"] + "/" + frame["runtime"]).to_numpy()
    host = host_shifts(moved, steps, frame["client"].to_numpy(), units)
    # and allows for how far rows move on their own between sittings (tau, 0 in one)
    taus = drift.heterogeneity(moved, host, ses, steps, units)
    frame.attrs["tau"] = float(np.median(taus)) if taus.size else 0.0
    frame["p_slower"] = [
        gate_p_beyond(adj_x, adj_y, h, d, se, tau, threshold)
        for (adj_x, adj_y), h, d, se, tau in zip(adjusted, host, moved, ses, taus)
    ]
    frame["p_adj"] = stats.holm(frame["p"].to_numpy(dtype=float))
    # the change's CI at the level Holm stopped at (stats.holm_alpha; issue 31): beside
    # "faster"/"slower"/"no clear change" the printed interval is on the verdict's footing
    level = stats.holm_alpha(frame["p_adj"].to_numpy(dtype=float), alpha)
    if level < alpha:
        for i, (adj_x, adj_y) in enumerate(adjusted):
            if adj_x.size and adj_y.size:
                ci = shift.unpaired(adj_y, adj_x, 1.0 - level)[0]
                frame.loc[frame.index[i], "change_ci_low"] = float(np.expm1(ci.low))
                frame.loc[frame.index[i], "change_ci_high"] = float(np.expm1(ci.high))
    frame["ci_level"] = 1.0 - level
    gate_adj, fail_adj, flagged = gate_decisions(
        frame["p_slower"].to_numpy(dtype=float), frame["p_fail"].to_numpy(dtype=float), alpha
    )
    frame["p_slower_adj"], frame["p_fail_adj"] = gate_adj, fail_adj
    decided = [_verdict(r, alpha) for r in frame.itertuples(index=False)]
    frame["verdict"] = [v for v, _ in decided]
    frame["difference"] = [d for _, d in decided]
    frame["regression"] = flagged | (frame["verdict"] == FAILS_IN_B).to_numpy()
    frame["trials_needed"] = pd.array(
        [
            int(n) if v == INCONCLUSIVE and np.isfinite(n) else pd.NA
            for v, n in zip(frame["verdict"], frame["_needed"])
        ],
        dtype="Int64",
    )
    return frame[CHANGE_COLUMNS]


def _describe_host(meta: dict) -> dict:
    host = meta.get("host", {})
    return {k: host.get(k) for k in results.IDENTITY_KEYS}


def _versions_only_in_one(meta_a: dict, meta_b: dict) -> list[str]:
    va, vb = meta_a.get("versions", {}), meta_b.get("versions", {})
    return [f"{k}: {va[k]!r} only in A" for k in sorted(set(va) - set(vb))] + [
        f"{k}: {vb[k]!r} only in B" for k in sorted(set(vb) - set(va))
    ]


def _parameter_differences(meta_a: dict, meta_b: dict) -> list[str]:
    pa, pb = meta_a.get("parameters", {}), meta_b.get("parameters", {})
    return [f"{k}: {pa.get(k)!r} vs {pb.get(k)!r}" for k in _PARAMETERS if pa.get(k) != pb.get(k)]


def check_same_host(meta_a: dict, meta_b: dict, dir_a: Path, dir_b: Path) -> None:
    """Raise :class:`CompareError` naming what differs when two runs come from different hosts."""
    diffs = results.identity_differences(meta_a, meta_b)
    if diffs:
        raise CompareError(
            f"cannot compare {dir_a} with {dir_b}: they were recorded on different hosts "
            f"({'; '.join(diffs)}); a before/after comparison must hold the machine fixed, "
            "so record both runs on one host, or give --across-hosts for an unpaired "
            "comparison of the two hosts"
        )


def check_same_experiment(
    trials_a: pd.DataFrame, trials_b: pd.DataFrame, dir_a: Path, dir_b: Path
) -> None:
    """Raise :class:`CompareError` naming both when the runs measured different experiments
    (a pause cycle is not a slower lifecycle: experiments are never compared or pooled)."""
    exp_a, exp_b = stats.experiments_of(trials_a), stats.experiments_of(trials_b)
    if exp_a != exp_b:
        raise CompareError(
            f"cannot compare {dir_a} (experiment {', '.join(exp_a)}) with {dir_b} "
            f"(experiment {', '.join(exp_b)}): runs of different experiments "
            "measure different things; compare runs of one experiment"
        )


def _run_paces(trials: pd.DataFrame) -> list[float]:
    """The paces of one run's rows ([] when the run recorded none)."""
    if "pace_s" not in trials.columns or trials["pace_s"].isna().all():
        return []
    return sorted(float(p) for p in pd.to_numeric(trials["pace_s"]).dropna().unique())


def _same_pace(trials_a: pd.DataFrame, trials_b: pd.DataFrame, dir_a: Path, dir_b: Path):
    """The two runs' rows at one shared pace, and a note; CompareError when their paces
    differ (a pace moves the times: runs at different paces are never compared)."""

    def named(paces: list[float]) -> str:
        return ", ".join(format_pace(p) for p in paces) if paces else "not recorded"

    paces_a, paces_b = _run_paces(trials_a), _run_paces(trials_b)
    if paces_a != paces_b:
        raise CompareError(
            f"the runs were measured at different paces: A {dir_a} at "
            f"{named(paces_a)}, B {dir_b} at {named(paces_b)}; the pace moves "
            "the times, so compare runs measured at the same pace (--pace)"
        )
    if len(paces_a) <= 1:
        note = (
            [f"both runs at pace {format_pace(paces_a[0])}"]
            if paces_a
            else [
                "neither run recorded a pace (made before rtlab controlled the idle time before "
                "each step): their times are noisier, so the gate catches less; record both "
                "with a current rtlab (--pace, default 100 ms) for a stronger gate"
            ]
        )
        return trials_a, trials_b, note
    pace = primary_pace(paces_a)
    assert pace is not None  # paces_a holds several
    keep = [t[pd.to_numeric(t["pace_s"]) == pace] for t in (trials_a, trials_b)]
    return (
        keep[0],
        keep[1],
        [f"both runs measured at paces {named(paces_a)}: compared at pace {format_pace(pace)}"],
    )


def compare_runs(
    run_a: Path | str,
    run_b: Path | str,
    *,
    alpha: float = DEFAULT_ALPHA,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    margin: float = stats.MARGIN,
) -> RunComparison:
    """Compare run B (after) with run A (before); see the module docstring.

    Raises
    ------
    CompareError
        When the runs come from different hosts (the message names each field).
    rtlab.core.results.RunFormatError
        When a folder is not a readable run.
    """
    dir_a, dir_b = Path(run_a), Path(run_b)
    meta_a, trials_a = results.load_run(dir_a)
    meta_b, trials_b = results.load_run(dir_b)
    check_same_host(meta_a, meta_b, dir_a, dir_b)
    check_same_experiment(trials_a, trials_b, dir_a, dir_b)
    trials_a, trials_b, pace_notes = _same_pace(trials_a, trials_b, dir_a, dir_b)
    table = changes(trials_a, trials_b, alpha=alpha, threshold=threshold, margin=margin, seed=seed)
    moved = host_shift(table)
    targets_a = {stats.target_label(c, r) for c, r in zip(trials_a["client"], trials_a["runtime"])}
    targets_b = {stats.target_label(c, r) for c, r in zip(trials_b["client"], trials_b["runtime"])}
    only = [f"{t}: only in A" for t in sorted(targets_a - targets_b)] + [
        f"{t}: only in B" for t in sorted(targets_b - targets_a)
    ]
    busy, busy_notes = busy_runs(meta_a, meta_b)
    notes = (
        pace_notes
        + busy_notes
        + [
            f"run {label} has status {meta.get('status')!r}: its trials may be incomplete"
            for label, meta in (("A", meta_a), ("B", meta_b))
            if meta.get("status") not in (None, "completed")
        ]
    )
    return RunComparison(
        run_a=str(meta_a.get("run_id", dir_a.name)),
        run_b=str(meta_b.get("run_id", dir_b.name)),
        dir_a=dir_a,
        dir_b=dir_b,
        host=_describe_host(meta_a),
        changes=table,
        version_differences=results.version_differences(meta_a, meta_b)
        + _versions_only_in_one(meta_a, meta_b),
        parameter_differences=_parameter_differences(meta_a, meta_b),
        only_in_one=only,
        alpha=alpha,
        threshold=threshold,
        notes=[*notes, host_shift_line(moved)],
        host_shift=moved,
        busy=busy,
    )


def write(cmp: RunComparison, out_dir: Path | str | None) -> list[Path]:
    """Write ``changes.csv`` (:data:`CHANGE_COLUMNS` plus both run ids) into ``out_dir``.

    Returns the paths written: none when ``out_dir`` is None.
    """
    if out_dir is None:
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmp.changes.assign(run_a=cmp.run_a, run_b=cmp.run_b).to_csv(out / "changes.csv", index=False)
    return [out / "changes.csv"]


def _ms(x: float) -> str:
    return "—" if x != x else f"{x * 1000:.2f} ms"


def _level(changes: pd.DataFrame) -> str:
    levels = changes["ci_level"].dropna() if "ci_level" in changes else pd.Series(dtype=float)
    return f"{levels.iloc[0]:.2%}" if len(levels) else "95%"


def format_lines(cmp: RunComparison) -> list[str]:
    """The comparison as the lines ``rtlab compare`` prints; the last is the verdict."""
    host = cmp.host
    lines = [
        f"A (before): {cmp.run_a}  ({cmp.dir_a})",
        f"B (after):  {cmp.run_b}  ({cmp.dir_b})",
        f"host: {host.get('hostname')}, kernel {host.get('kernel')}, {host.get('cpu_model')} x "
        f"{host.get('cores')}, cgroups {host.get('cgroup_mode')} (the same for both runs)",
        "versions that differ: " + ("; ".join(cmp.version_differences) or "none"),
    ]
    if cmp.parameter_differences:
        lines.append("parameters that differ: " + "; ".join(cmp.parameter_differences))
    lines += [f"not compared: {t}" for t in cmp.only_in_one]
    lines += [f"note: {n}" for n in cmp.notes]
    width = max([28, *(len(where(r)) for r in cmp.changes.itertuples(index=False))])
    header = (
        f"{'target step':<{width}} {'median A':>11} {'median B':>11}  "
        f"{'HL change [Holm-adj. CI]':<28} {'p_adj':>7}  verdict"
    )
    lines += [
        "",
        "HL change: Hodges–Lehmann shift of B over A (round-adjusted log times) with "
        "the CI of the Mann–Whitney inversion that gives p, at the level Holm's step-down "
        f"stopped over these rows ({_level(cmp.changes)}: it excludes 0 exactly when "
        "p_adj < alpha); the medians are descriptive.",
        header,
        "-" * len(header),
    ]
    for r in cmp.changes.itertuples(index=False):
        label = where(r)
        if r.change == r.change:
            change = f"{_pct(r.change)} [{_pct(r.change_ci_low)}, {_pct(r.change_ci_high)}]"
            p_adj = f"{r.p_adj:.2g}"
        else:
            change, p_adj = "—", "—"
        mark = "  <-- REGRESSION" if r.regression else ""
        lines.append(
            f"{label:<{width}} {_ms(r.median_a_s):>11} {_ms(r.median_b_s):>11}  "
            f"{change:<28} {p_adj:>7}  {r.verdict}{mark}"
        )
    lines.append("")
    lines += [f"REGRESSION: {s}" for s in cmp.regression_lines()]
    lines.append(cmp.verdict_line())
    return lines
