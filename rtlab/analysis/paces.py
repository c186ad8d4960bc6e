"""How the comparisons move with the pace (the idle gap before each timed step).

A run made with ``--paces`` holds the same targets at several paces
(``pace_s`` column of trials.csv). :func:`pace_compare` runs
:func:`rtlab.analysis.stats.compare` on each pace's rows separately, so every ratio, CI,
p-value and verdict is that of one condition, never a mix of conditions;
:func:`pace_conclusions` says in words which conclusions hold at every pace and
which flip; :func:`pace_plot` draws the ratios with their CIs against the pace.

Multiple testing: Holm's adjustment is applied within each family, step *and
pace* (as :func:`rtlab.analysis.stats.compare` does for one pace). A conclusion that
"holds at every pace" has passed the test at each pace separately, which is
stricter than passing it once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rtlab.analysis import stats
from rtlab.core.conditions import format_pace
from rtlab.core.options import DEFAULT_ALPHA

if TYPE_CHECKING:  # matplotlib loads only when pace_plot draws
    from matplotlib.axes import Axes

PACE_COLUMN = "pace_s"
# The columns of stats.compare this module relies on.
USED_COLUMNS = [
    "family",
    "step",
    "a",
    "b",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p",
    "p_adj",
    "verdict",
]
PAIR_KEYS = ["family", "step", "a", "b"]


class PaceError(ValueError):
    """Trials that cannot be analysed by pace; ``str()`` is one line."""


def paces_of(trials: pd.DataFrame) -> list[float]:
    """The distinct paces of a trials frame, ascending.

    Raises
    ------
    PaceError
        When the frame has no ``pace_s`` column (data format 1) or rows without a pace.
    """
    if PACE_COLUMN not in trials.columns:
        raise PaceError(
            "the trials have no pace_s column (data format version 1, made before "
            "--pace): they have one unrecorded pace and cannot be analysed by pace"
        )
    paces = pd.to_numeric(trials[PACE_COLUMN], errors="coerce")
    missing = int(paces.isna().sum())
    if missing:
        raise PaceError(
            f"{missing} of {len(trials)} rows have no pace_s (rows of a format-1 run "
            "mixed in?): paces are never merged silently; analyse those runs apart"
        )
    return sorted(float(p) for p in paces.unique())


def pace_compare(
    trials: pd.DataFrame,
    *,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = stats.CONFIDENCE,
    seed: int = 0,
    margin: float = stats.MARGIN,
) -> pd.DataFrame:
    """:func:`rtlab.analysis.stats.compare` at each pace, in one table.

    Parameters
    ----------
    trials : pandas.DataFrame
        A tidy trials frame with a ``pace_s`` column (seconds).
    alpha, confidence
        Passed to :func:`rtlab.analysis.stats.compare`.
    seed : int
        The run seed: each pace's comparisons derive their seeds from it (stats.compare).
    margin : float
        The equivalence margin (stats.compare).

    Returns
    -------
    pandas.DataFrame
        ``pace_s`` followed by the columns of :func:`rtlab.analysis.stats.compare`; the
        rows of each pace in ``compare``'s order, paces ascending.
    """
    paces = paces_of(trials)
    pace_col = pd.to_numeric(trials[PACE_COLUMN])
    blocks = []
    columns: list[str] | None = None
    for pace in paces:
        table = stats.compare(
            trials[pace_col == pace], alpha=alpha, confidence=confidence, seed=seed, margin=margin
        )
        columns = list(table.columns)
        blocks.append(table.assign(**{PACE_COLUMN: pace}))
    columns = [PACE_COLUMN, *(columns or stats.COMPARISON_COLUMNS)]
    nonempty = [b for b in blocks if not b.empty]
    if not nonempty:
        return pd.DataFrame(columns=columns)
    return pd.concat(nonempty, ignore_index=True)[columns]


# How a conclusion that flips is named in pace_conclusions (views count these).
FLIPS = "flips with the pace"


def _where(family: str) -> str:
    """``client=oci`` → ``through oci``; ``runtime=runc`` → ``on runc``."""
    kind, _, name = family.partition("=")
    return {"client": f"through {name}", "runtime": f"on {name}"}.get(kind, family)


def _join(paces: Sequence[float]) -> str:
    shown = [format_pace(p) for p in paces]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _factor(ratio: float, verdict: str) -> str:
    """A ratio as a speed factor in the verdict's direction: ``2.7×`` (faster ⇒ 1/ratio)."""
    if verdict == stats.FASTER and ratio > 0:
        return f"{1 / ratio:.2g}×"
    if verdict == stats.SLOWER:
        return f"{ratio:.2g}×"
    return f"ratio {ratio:.2g}"


def pace_stability(table: pd.DataFrame) -> pd.DataFrame:
    """One row per compared pair: does its verdict hold at every pace?

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`pace_compare`.

    Returns
    -------
    pandas.DataFrame
        Columns family, step, a, b, ``paces`` (the paces it was compared at,
        ascending), ``verdicts`` (one per pace), ``ratios``, ``missing_paces``
        (paces of the table where this pair has no comparison), ``holds`` (the
        same verdict at every pace of the table), ``flips`` (two *settled*
        verdicts — faster, slower, equivalent — at different paces; a change
        to or from ``inconclusive`` is the data not telling, not a flip) and
        ``ratio_moves`` (the Holm-adjusted 95 % CIs of the ratio at the smallest and largest
        pace do not overlap).
    """
    all_paces = sorted(float(p) for p in table[PACE_COLUMN].unique()) if len(table) else []
    rows = []
    for key, pair in table.groupby(PAIR_KEYS, sort=False):
        pair = pair.sort_values(PACE_COLUMN)
        paces = [float(p) for p in pair[PACE_COLUMN]]
        verdicts = list(pair["verdict"])
        first, last = pair.iloc[0], pair.iloc[-1]
        moves = len(pair) > 1 and (
            first["ratio_ci_high"] < last["ratio_ci_low"]
            or last["ratio_ci_high"] < first["ratio_ci_low"]
        )
        missing = [p for p in all_paces if p not in paces]
        rows.append(
            dict(zip(PAIR_KEYS, key))
            | {
                "paces": paces,
                "verdicts": verdicts,
                "ratios": [float(r) for r in pair["ratio"]],
                "missing_paces": missing,
                "holds": len(set(verdicts)) == 1 and not missing,
                "flips": len(set(verdicts) - {stats.INCONCLUSIVE}) > 1,
                "ratio_moves": bool(moves),
            }
        )
    columns = [
        *PAIR_KEYS,
        "paces",
        "verdicts",
        "ratios",
        "missing_paces",
        "holds",
        "flips",
        "ratio_moves",
    ]
    out = pd.DataFrame(rows, columns=columns)
    if out.empty:
        return out
    order = out["step"].map(stats.step_rank)
    return (
        out.assign(_o=order)
        .sort_values(["_o", "step", "family", "a", "b"])
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def pace_conclusions(table: pd.DataFrame) -> list[str]:
    """Sentences naming the conclusions that flip with the pace, then those not settled
    at every pace, then those that hold.

    A conclusion *flips* when two settled verdicts (faster, slower, equivalent)
    disagree at different paces; one that is settled at some paces and
    inconclusive at others is *not settled at every pace* (the data could not
    tell there: more trials might settle it either way), not a flip.

    For example::

        crun vs runc through oci, run: flips with the pace: crun faster at 0 and
            10 ms (crun/runc 0.37, 0.35); no clear difference at 100 ms and 1 s
            (crun/runc 0.98, 1.01)
        crun vs runc through oci, create: crun faster at every pace (2.7× at 0 …
            1.4× at 1 s); the ratio depends on the pace (its Holm-adjusted 95% CIs at 0 and 1 s
            do not overlap)

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`pace_compare` (with at least the columns
        ``pace_s`` and those in :data:`USED_COLUMNS`).

    Returns
    -------
    list of str
        Flipping conclusions first, then unsettled ones, then holding ones; empty
        for an empty table.
    """
    if table.empty:
        return []
    flips, unsettled, holds = [], [], []
    for row in pace_stability(table).itertuples(index=False):
        head = f"{row.a} vs {row.b} {_where(row.family)}, {row.step}"
        paces, verdicts, ratios = row.paces, row.verdicts, row.ratios
        if row.holds:
            verdict = verdicts[0]
            if len(paces) == 1:
                text = (
                    f"{head}: {row.a} {verdict} at the only pace, {format_pace(paces[0])} "
                    f"({_factor(ratios[0], verdict)})"
                )
            else:
                span = (
                    f"{_factor(ratios[0], verdict)} at {format_pace(paces[0])} … "
                    f"{_factor(ratios[-1], verdict)} at {format_pace(paces[-1])}"
                )
                what = f"{row.a} {verdict}" if verdict in (stats.FASTER, stats.SLOWER) else verdict
                text = f"{head}: {what} at every pace ({span})"
                if row.ratio_moves:
                    text += (
                        f"; the ratio depends on the pace (its Holm-adjusted 95% CIs at "
                        f"{format_pace(paces[0])} and {format_pace(paces[-1])} do not overlap)"
                    )
            holds.append(text)
            continue
        parts = []
        for verdict in dict.fromkeys(verdicts):  # in order of first appearance
            at = [p for p, v in zip(paces, verdicts) if v == verdict]
            rs = ", ".join(f"{r:.2g}" for r, v in zip(ratios, verdicts) if v == verdict)
            what = f"{row.a} {verdict}" if verdict in (stats.FASTER, stats.SLOWER) else verdict
            parts.append(f"{what} at {_join(at)} ({row.a}/{row.b} {rs})")
        if row.missing_paces:
            parts.append(f"not compared at {_join(row.missing_paces)}")
        if row.flips:
            flips.append(f"{head}: {FLIPS}: " + "; ".join(parts))
        else:
            kind = (
                "not settled at every pace"
                if len(set(verdicts)) > 1
                else "not compared at every pace"
            )
            unsettled.append(f"{head}: {kind}: " + "; ".join(parts))
    return flips + unsettled + holds


def _pace_positions(paces: Sequence[float]) -> tuple[float, float]:
    """symlog parameters that show 0 one half-decade left of the smallest non-zero pace."""
    nonzero = [p for p in paces if p > 0]
    linthresh = min(nonzero) if nonzero else 1e-3
    return linthresh, 0.5


def pace_plot(
    table: pd.DataFrame, *, step: str, ax: Axes | None = None, families: Sequence[str] | None = None
) -> Axes:
    """The Hodges–Lehmann ratio a / b with its own Holm-adjusted 95 % CI against the pace, one line per pair.

    The pace axis is logarithmic above the smallest non-zero pace and linear
    below it (``symlog``), so a pace of 0 is drawn at the left, labelled "0".
    Filled markers: a clear verdict at that pace; hollow: no clear difference.
    The dashed line at 1 is "as fast as each other".

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`pace_compare`.
    step : str
        The step drawn (``"run"``, ``"create"``, ``"total"`` …).
    ax : matplotlib.axes.Axes, optional
        Where to draw (pyplot's current Axes when None).
    families : sequence of str, optional
        Only these families (e.g. ``["client=oci"]``); all by default.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    ax = plt.gca() if ax is None else ax
    rows = table[table["step"] == step]
    if families is not None:
        rows = rows[rows["family"].isin(list(families))]
    if rows.empty:
        raise PaceError(
            f"no comparison of step {step!r} in the table "
            f"(steps: {', '.join(stats.ordered_steps(table['step'].tolist())) or 'none'})"
        )
    paces = sorted(float(p) for p in rows[PACE_COLUMN].unique())
    linthresh, linscale = _pace_positions(paces)
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for i, (key, pair) in enumerate(rows.groupby(PAIR_KEYS, sort=True)):
        family, _, a, b = key
        pair = pair.sort_values(PACE_COLUMN)
        color = colors[i % len(colors)]
        x = pair[PACE_COLUMN].to_numpy(dtype=float)
        y = pair["ratio"].to_numpy(dtype=float)
        err = np.vstack(
            [
                y - pair["ratio_ci_low"].to_numpy(dtype=float),
                pair["ratio_ci_high"].to_numpy(dtype=float) - y,
            ]
        )
        ax.errorbar(
            x,
            y,
            yerr=np.clip(err, 0, None),
            color=color,
            marker="none",
            capsize=3,
            label=f"{a} / {b} {_where(family)}",
        )
        clear = pair["verdict"].isin([stats.FASTER, stats.SLOWER]).to_numpy()
        ax.plot(x[clear], y[clear], "o", color=color)
        ax.plot(x[~clear], y[~clear], "o", markerfacecolor="white", markeredgecolor=color)
    ax.axhline(1.0, color="0.4", linestyle="--", linewidth=1)
    ax.set_xscale("symlog", linthresh=linthresh, linscale=linscale)
    ax.set_xticks(paces)
    ax.set_xticklabels([format_pace(p) for p in paces])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    low = rows["ratio_ci_low"].to_numpy(dtype=float)
    high = rows["ratio_ci_high"].to_numpy(dtype=float)
    finite = np.concatenate([low, high, [1.0]])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size and finite.max() / finite.min() > 3:
        ax.set_yscale("log")
    ax.set_xlabel("pace: idle time before each timed step")
    ax.set_ylabel("ratio a / b, Hodges–Lehmann (Holm-adjusted 95% CI)")
    ax.set_title(
        f"{step}: Hodges–Lehmann ratio a / b (Holm-adjusted 95% CI) at pace {_join(paces)}"
    )
    handles, labels = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], marker="o", linestyle="none", color="0.3"),
        Line2D(
            [], [], marker="o", linestyle="none", markerfacecolor="white", markeredgecolor="0.3"
        ),
    ]
    labels += ["faster or slower", "equivalent or inconclusive"]
    ax.legend(handles, labels, fontsize="small")
    return ax


def pace_title(title: str, paces: Sequence[float]) -> str:
    """``title`` with the pace(s) it was measured at: every table, figure and finding states it."""
    paces = list(paces)
    if not paces or any(isinstance(p, float) and math.isnan(p) for p in paces):
        return f"{title} (pace not recorded)"
    return f"{title} (pace {_join(sorted(paces))})"
