"""The known study's figures (data/reference/study.csv) set beside rtlab's results.

The study (Japan Container Days v18.12, 2018) reported one number per cell; see
data/reference/README.md for how its slides were copied. This module compares
those numbers with :func:`rtlab.analysis.stats.summarize` and tests the study's
conclusions with the verdicts of :func:`rtlab.analysis.stats.compare`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pandas as pd

from rtlab.analysis import stats

STUDY_PATH = Path(__file__).resolve().parents[2] / "data" / "reference" / "study.csv"
STUDY_COLUMNS: list[str] = ["table", "client", "runtime", "step", "value_s", "note"]
# Medians within this relative spread (max/min - 1) count as "hardly differ".
FLAT_TOLERANCE = 0.10
_CELL: list[str] = ["client", "runtime", "step"]
# The experiment the study measured: only its rows are set beside the study.
EXPERIMENT = "lifecycle"


def _lifecycle(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of :data:`EXPERIMENT` (all rows of a table without an experiment column)."""
    if "experiment" not in frame.columns:
        return frame
    return frame[frame["experiment"] == EXPERIMENT]


_SIGNIFICANT = (stats.FASTER, stats.SLOWER)
_FLIPPED = {stats.FASTER: stats.SLOWER, stats.SLOWER: stats.FASTER}


def load_study(path: Path | str | None = None) -> pd.DataFrame:
    """Load the study's figures.

    Parameters
    ----------
    path : pathlib.Path or str, optional
        A CSV with :data:`STUDY_COLUMNS`; the repository's
        ``data/reference/study.csv`` by default.

    Returns
    -------
    pandas.DataFrame
        One row per (table, client, runtime, step); ``value_s`` in seconds,
        ``note`` "" where the slide needed no comment.
    """
    text_columns = {c: str for c in STUDY_COLUMNS if c != "value_s"}
    study = pd.read_csv(
        STUDY_PATH if path is None else path,
        dtype={**text_columns, "value_s": float},
        keep_default_na=False,
    )
    missing = set(STUDY_COLUMNS) - set(study.columns)
    if missing:
        raise ValueError(f"study file lacks columns {sorted(missing)}")
    return study[STUDY_COLUMNS]


def against_study(summary: pd.DataFrame, study: pd.DataFrame) -> pd.DataFrame:
    """The study's value beside rtlab's median and CI, for every shared cell.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`rtlab.analysis.stats.summarize`.
    study : pandas.DataFrame
        Output of :func:`load_study`.

    Returns
    -------
    pandas.DataFrame
        One row per (client, runtime, step) present in both: ``tables`` (the
        study tables holding the cell; docker/runc is in both), ``study_s``,
        rtlab's ``n``, ``median_s``, ``ci_low_s``, ``ci_high_s``,
        ``ratio = median_s / study_s`` and ``study_in_ci`` (NA when rtlab has no
        CI).
    """
    cells = (
        study.groupby(_CELL, sort=False)
        .agg(tables=("table", ",".join), study_s=("value_s", "first"))
        .reset_index()
    )
    ours = _lifecycle(summary)[[*_CELL, "n", "median_s", "ci_low_s", "ci_high_s"]]
    merged = cells.merge(ours, on=_CELL, how="inner")
    merged["ratio"] = merged["median_s"] / merged["study_s"]
    has_ci = merged["ci_low_s"].notna() & merged["ci_high_s"].notna()
    inside = (merged["ci_low_s"] <= merged["study_s"]) & (merged["study_s"] <= merged["ci_high_s"])
    merged["study_in_ci"] = pd.array(
        [bool(i) if c else pd.NA for i, c in zip(inside, has_ci)], dtype="boolean"
    )
    return merged


class Pair(TypedDict):
    """One comparison as evidence: ratio x/y with its 95% CI, adjusted p, verdict about x."""

    ratio: float
    low: float
    high: float
    p_adj: float
    verdict: str


class Oriented(Pair):
    """A Pair seen from x, with the difference verdict and the (1 − 2α) CI that decided
    equivalence with its margin."""

    difference: str
    equiv_low: float
    equiv_high: float
    margin: float


def _equivalence(row: pd.Series, *, flip: bool) -> tuple[float, float, float]:
    """The (1 − 2α) CI of the same ratio that decided equivalence, and the margin."""
    low, high = row.get("equiv_ci_low", float("nan")), row.get("equiv_ci_high", float("nan"))
    if flip:
        low, high = 1.0 / high, 1.0 / low
    return low, high, row.get("margin", float("nan"))


def _oriented(comparisons: pd.DataFrame, family: str, step: str, x: str, y: str) -> Oriented | None:
    """The comparison of x against y (ratio x/y with its own CI, verdict about x), or None."""
    comparisons = (
        _lifecycle(comparisons)
        if "experiment" in comparisons.columns and comparisons["experiment"].nunique() > 1
        else comparisons
    )
    pairs = comparisons[(comparisons["family"] == family) & (comparisons["step"] == step)]
    forward = pairs[(pairs["a"] == x) & (pairs["b"] == y)]
    if not forward.empty:
        row = forward.iloc[0]
        e_low, e_high, margin = _equivalence(row, flip=False)
        return Oriented(
            ratio=row["ratio"],
            low=row["ratio_ci_low"],
            high=row["ratio_ci_high"],
            p_adj=row["p_adj"],
            verdict=row["verdict"],
            difference=row.get("difference", ""),
            equiv_low=e_low,
            equiv_high=e_high,
            margin=margin,
        )
    backward = pairs[(pairs["a"] == y) & (pairs["b"] == x)]
    if backward.empty:
        return None
    row = backward.iloc[0]
    e_low, e_high, margin = _equivalence(row, flip=True)
    return Oriented(
        ratio=1.0 / row["ratio"],
        low=1.0 / row["ratio_ci_high"],
        high=1.0 / row["ratio_ci_low"],
        p_adj=row["p_adj"],
        verdict=_FLIPPED.get(row["verdict"], row["verdict"]),
        difference=_FLIPPED.get(row.get("difference", ""), row.get("difference", "")),
        equiv_low=e_low,
        equiv_high=e_high,
        margin=margin,
    )


oriented = _oriented  # public: the headline sentences use it too


def _pair_text(x: str, y: str, result: Pair) -> str:
    """One comparison as evidence text."""
    return (
        f"{x}/{y} = {result['ratio']:.2f} (95% CI {result['low']:.2f}–{result['high']:.2f}, "
        f"p_adj {result['p_adj']:.2g}): {x} {result['verdict']}"
    )


def _study_value(study: pd.DataFrame, client: str, runtime: str, step: str) -> float | None:
    """The study's value of one cell, or None."""
    cell = study[
        (study["client"] == client) & (study["runtime"] == runtime) & (study["step"] == step)
    ]
    return None if cell.empty else float(cell["value_s"].iloc[0])


def _client_ordering(comparisons: pd.DataFrame, study: pd.DataFrame) -> tuple[bool | None, str]:
    """Conclusion 1: ctr < podman < docker for the lifecycle total over runc."""
    order = ("ctr", "podman", "docker")
    values = [_study_value(study, c, "runc", stats.TOTAL_STEP) for c in order]
    study_text = "study: " + " < ".join(
        f"{c} {v:.3f} s" for c, v in zip(order, values) if v is not None
    )
    results = {
        (x, y): _oriented(comparisons, "runtime=runc", stats.TOTAL_STEP, x, y)
        for x, y in zip(order, order[1:])
    }
    missing = [f"{x} vs {y}" for (x, y), r in results.items() if r is None]
    if missing:
        return None, (
            f"not testable: rtlab has no lifecycle total comparison {', '.join(missing)} "
            f"over runc; {study_text}"
        )
    found = {pair: r for pair, r in results.items() if r is not None}
    texts = [_pair_text(x, y, r) for (x, y), r in found.items()]
    agrees = all(r["verdict"] == stats.FASTER for r in found.values())
    reason = "both steps of the order hold" if agrees else "not every step of the order holds"
    return agrees, f"{reason}: " + "; ".join(texts) + f"; {study_text}"


def _docker_medians(summary: pd.DataFrame, step: str) -> pd.Series:
    """rtlab's median per runtime of one step through docker (targets with samples)."""
    rows = summary[(summary["client"] == "docker") & (summary["step"] == step) & (summary["n"] > 0)]
    return rows.set_index("runtime")["median_s"].sort_index()


def _spread_text(medians_s: pd.Series) -> tuple[float, str]:
    """Relative spread (max/min - 1) of medians and a text listing them."""
    spread = float(medians_s.max() / medians_s.min() - 1.0)
    listed = ", ".join(f"{r} {m:.3f} s" for r, m in medians_s.items())
    return spread, f"medians {listed} (spread {spread:.1%})"


def _significant_text(comparisons: pd.DataFrame, step: str) -> tuple[int, int, str]:
    """Significant pairs among the runtimes through docker for one step."""
    pairs = comparisons[(comparisons["family"] == "client=docker") & (comparisons["step"] == step)]
    # significant: faster/slower, or equivalent with a (smaller) significant difference
    shown = pairs["difference"] if "difference" in pairs.columns else pairs["verdict"]
    hits = pairs[pairs["verdict"].isin(_SIGNIFICANT) | shown.isin(_SIGNIFICANT)]
    listed = "; ".join(
        _pair_text(
            row.a,
            row.b,
            Pair(
                ratio=row.ratio,
                low=row.ratio_ci_low,
                high=row.ratio_ci_high,
                p_adj=row.p_adj,
                verdict=getattr(row, "difference", "") or row.verdict,
            ),
        )
        for row in hits.itertuples(index=False)
    )
    return len(hits), len(pairs), listed


def _study_spread(study: pd.DataFrame, step: str) -> str:
    """The study's range of one step across runtimes through docker."""
    values = study[(study["table"] == "lowlevel") & (study["step"] == step)]["value_s"]
    return (
        f"study: {values.min():.3f}–{values.max():.3f} s across {len(values)} runtimes "
        f"(spread {values.max() / values.min() - 1.0:.1%})"
    )


def _flat(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    study: pd.DataFrame,
    step: str,
    tolerance: float,
) -> tuple[bool | None, str]:
    """Conclusions 2 and 4: a step hardly differs between runtimes through docker."""
    medians_s = _docker_medians(summary, step)
    if len(medians_s) < 2:
        return None, (
            f"not testable: rtlab has docker {step} samples for {len(medians_s)} runtime(s), "
            f"needs two; {_study_spread(study, step)}"
        )
    spread, listed = _spread_text(medians_s)
    n_hits, n_pairs, hits = _significant_text(comparisons, step)
    agrees = n_hits == 0 or spread <= tolerance
    if n_hits == 0:
        reason = f"no pair differs significantly ({n_pairs} tested)"
    elif agrees:
        reason = (
            f"{n_hits} of {n_pairs} pairs differ significantly but the medians are "
            f"within {tolerance:.0%}: {hits}"
        )
    else:
        reason = (
            f"{n_hits} of {n_pairs} pairs differ significantly and the medians spread "
            f"beyond {tolerance:.0%}: {hits}"
        )
    return agrees, f"{reason}; {listed}; {_study_spread(study, step)}"


def _start_differs(
    summary: pd.DataFrame, comparisons: pd.DataFrame, study: pd.DataFrame, tolerance: float
) -> tuple[bool | None, str]:
    """Conclusion 3: start differs between runtimes through docker."""
    step = "start"
    medians_s = _docker_medians(summary, step)
    runsc_text = ""
    runsc_study = _study_value(study, "docker", "runsc", step)
    runc_study = _study_value(study, "docker", "runc", step)
    if runsc_study is not None and runc_study is not None:
        runsc_text = (
            f"; the study had runsc (ptrace) starting in {runsc_study:.3f} s against "
            f"runc {runc_study:.3f} s, and kata-runtime much slower"
        )
    if len(medians_s) < 2:
        return None, (
            f"not testable: rtlab has docker start samples for {len(medians_s)} runtime(s), "
            f"needs two; {_study_spread(study, step)}{runsc_text}"
        )
    spread, listed = _spread_text(medians_s)
    n_hits, n_pairs, hits = _significant_text(comparisons, step)
    agrees = n_hits > 0 and spread > tolerance
    runsc = _oriented(comparisons, "client=docker", step, "runsc", "runc")
    if runsc is not None:
        runsc_text = f"; rtlab: {_pair_text('runsc', 'runc', runsc)}" + runsc_text
    if agrees:
        reason = f"{n_hits} of {n_pairs} pairs differ significantly: {hits}"
    elif n_hits == 0:
        reason = f"no pair differs significantly ({n_pairs} tested)"
    else:
        reason = (
            f"{n_hits} of {n_pairs} pairs differ significantly, but all medians are "
            f"within {tolerance:.0%}"
        )
    return agrees, f"{reason}; {listed}; {_study_spread(study, step)}{runsc_text}"


def check_conclusions(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    study: pd.DataFrame,
    *,
    flat_tolerance: float = FLAT_TOLERANCE,
) -> pd.DataFrame:
    """Test the study's conclusions against rtlab's statistics.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`rtlab.analysis.stats.summarize`.
    comparisons : pandas.DataFrame
        Output of :func:`rtlab.analysis.stats.compare`; its verdicts decide.
    study : pandas.DataFrame
        Output of :func:`load_study`, quoted in the evidence.
    flat_tolerance : float
        Medians whose relative spread (max/min - 1) is at most this "hardly
        differ" even when a test finds the difference significant.

    Returns
    -------
    pandas.DataFrame
        Columns ``conclusion``, ``rtlab_agrees`` (True, False, or None when rtlab
        lacks the data to test it) and ``evidence`` (the medians, pairs and
        study values behind the answer). The conclusions:

        1. ctr < podman < docker for the lifecycle total over runc: True when
           ctr is faster than podman and podman faster than docker.
        2. create hardly differs between runtimes through docker: True when no
           pair differs significantly or the medians are within the tolerance.
        3. start differs between runtimes through docker: True when some pair
           differs significantly and the medians spread beyond the tolerance.
        4. delete hardly differs between runtimes through docker (as 2).
    """
    summary, comparisons = _lifecycle(summary), _lifecycle(comparisons)
    checks = [
        (
            "The whole lifecycle over runc is fastest through ctr, then podman, then docker "
            "(ctr < podman < docker).",
            _client_ordering(comparisons, study),
        ),
        (
            "create hardly differs between low-level runtimes through docker.",
            _flat(summary, comparisons, study, "create", flat_tolerance),
        ),
        (
            "start differs between low-level runtimes through docker.",
            _start_differs(summary, comparisons, study, flat_tolerance),
        ),
        (
            "delete hardly differs between low-level runtimes through docker.",
            _flat(summary, comparisons, study, "delete", flat_tolerance),
        ),
    ]
    return pd.DataFrame(
        {
            "conclusion": [text for text, _ in checks],
            "rtlab_agrees": pd.Series(
                [None if a is None else bool(a) for _, (a, _) in checks], dtype=object
            ),
            "evidence": [evidence for _, (_, evidence) in checks],
        }
    )
