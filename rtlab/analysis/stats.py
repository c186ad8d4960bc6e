"""Pure statistics on the tidy trials frame (docs/DESIGN.md, "The data contract").

This module holds the comparisons: :func:`compare` (each pair of targets in a family and
step, paired by round or unpaired, Holm within the family) and :func:`omnibus`. The rest
lives beside it and is re-exported here: the sample frame (:mod:`rtlab.analysis.frames`),
the per-target summaries (:mod:`rtlab.analysis.summary`), the tests and verdicts
(:mod:`rtlab.analysis.verdicts`).

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

from collections.abc import Iterator, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps

from rtlab.analysis import shift

# stats.py was split (issue 32): the sample frame (frames.py), the per-target summaries
# (summary.py), the tests and verdicts (verdicts.py); every name it held stays importable
# from here (``stats.summarize``, ``stats.FASTER`` …).
from rtlab.analysis.frames import (  # noqa: F401 (re-exported)
    _TRIAL_KEYS,
    LIFECYCLE_STEPS,
    RUN_STEP,
    STEP_ORDER,
    TOTAL_STEP,
    _as_bool,
    _distinct_round_keys,
    _distinct_rows,
    _group_codes,
    _round_keys,
    _shared_rows,
    _suffix_clients,
    _target_labels,
    _totals,
    by_experiment,
    experiment_rank,
    experiments_of,
    is_sample,
    lifecycle_totals,
    ordered_steps,
    samples,
    step_rank,
    target_label,
)
from rtlab.analysis.summary import (  # noqa: F401 (re-exported)
    CONFIDENCE,
    MEDIAN_CI_METHOD,
    OUTLIER_Z,
    SUMMARY_COLUMNS,
    MedianCI,
    _describe,
    _order_statistic_rank,
    flag_outliers,
    median_ci,
    modified_z_scores,
    noise_warnings,
    summarize,
)
from rtlab.analysis.verdicts import (  # noqa: F401 (re-exported)
    _BOOT_BLOCK_ELEMENTS,
    _NORMAL_MAD_SCALE,
    EQUIVALENT,
    FASTER,
    INCONCLUSIVE,
    MARGIN,
    NO_CLEAR_DIFFERENCE,
    RATIO_CI_METHOD,
    SLOWER,
    VERDICTS,
    VerdictError,
    _bootstrap_medians,
    _mannwhitney,
    _robust_sd,
    _tie_sum,
    _wilcoxon,
    _wilcoxon_normal,
    adjusted_ci_label,
    check_verdicts,
    cliffs_delta,
    derive_seed,
    equivalence_bounds,
    equivalence_p,
    friedman,
    holm,
    holm_alpha,
    ratio_ci,
    trials_needed,
    verdict,
    verdict_disagreements,
)
from rtlab.core import experiments  # noqa: F401 (stats.experiments: importers)
from rtlab.core.options import DEFAULT_ALPHA

# Two targets are compared paired when they share at least this many rounds,
# covering at least this share of each one's samples.
MIN_PAIRED_ROUNDS = 6
MIN_PAIRED_SHARE = 0.75
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
