"""The known study side by side, the conclusions over paces, and run A against run B (the
changes table and figure).

Split out of views.py (issue 32), which re-exports every name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rtlab.analysis import compare, stats
from rtlab.analysis.plots import save_figure
from rtlab.report.html import image_bundle
from rtlab.report.tables import _ms

# -- the known study -------------------------------------------------------------


def study_table(against: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.analysis.reference.against_study` for reading."""
    columns = [
        "client",
        "runtime",
        "step",
        "study (s)",
        "rtlab median [95% CI] (s)",
        "n",
        "rtlab / study",
        "study value inside rtlab's CI",
    ]
    if against.empty:
        return pd.DataFrame(columns=columns)
    inside = against["study_in_ci"].map(lambda v: "—" if v is pd.NA else ("yes" if v else "no"))
    return pd.DataFrame(
        {
            "client": against["client"],
            "runtime": against["runtime"],
            "step": against["step"],
            "study (s)": against["study_s"].round(3),
            "rtlab median [95% CI] (s)": [
                f"{m:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo == lo and hi == hi else "")
                for m, lo, hi in zip(against["median_s"], against["ci_low_s"], against["ci_high_s"])
            ],
            "n": against["n"],
            "rtlab / study": against["ratio"].round(2),
            "study value inside rtlab's CI": inside,
        },
        columns=columns,
    )


def conclusions_table(conclusions: pd.DataFrame) -> pd.DataFrame:
    """:func:`rtlab.analysis.reference.check_conclusions` for reading: agrees / disagrees / not testable."""

    def answer(value) -> str:
        if value is None or value is pd.NA:
            return "not testable here"
        return "agrees" if value else "DISAGREES"

    return pd.DataFrame(
        {
            "the study concluded": conclusions["conclusion"],
            "rtlab's data": conclusions["rtlab_agrees"].map(answer),
            "evidence (and the reason where rtlab does not agree)": conclusions["evidence"],
        }
    )


# -- run-to-run comparison --------------------------------------------------------


def changes_table(cmp: compare.RunComparison) -> pd.DataFrame:
    """:attr:`rtlab.analysis.compare.RunComparison.changes` for reading."""
    rows = []
    for r in cmp.changes.itertuples(index=False):
        change = (
            f"{r.change:+.1%} [{r.change_ci_low:+.1%}, {r.change_ci_high:+.1%}]"
            if r.change == r.change
            else "—"
        )
        rows.append(
            {
                "target": stats.target_label(r.client, r.runtime),
                "step": r.step,
                "n A / B": f"{r.n_a} / {r.n_b}",
                "failed A / B": f"{r.n_failed_a} / {r.n_failed_b}",
                "median A (ms)": _ms(r.median_a_s),
                "median B (ms)": _ms(r.median_b_s),
                "change B vs A [Holm-adjusted CI]": change,
                "p_adj": f"{r.p_adj:.2g}" if r.p_adj == r.p_adj else "—",
                "verdict": r.verdict,
                "regression": "REGRESSION" if r.regression else "",
            }
        )
    return pd.DataFrame(rows)


def show_change(cmp: compare.RunComparison, out_dir: Path | str | None = None) -> None:
    """Display :func:`change_plot` (embedded); also save it as ``change.png``/``.svg`` in
    ``out_dir`` when given."""
    import io

    from IPython.display import display

    ax = change_plot(cmp)
    if out_dir is not None:
        save_figure(ax.figure, Path(out_dir) / "change")
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    display(
        image_bundle(buffer.getvalue(), f"change per target and step, {cmp.run_b} vs {cmp.run_a}"),
        raw=True,
    )


def change_plot(cmp: compare.RunComparison, *, ax=None):
    """Forest plot of the change B vs A per target and step, with CIs and the threshold.

    Parameters
    ----------
    cmp : rtlab.analysis.compare.RunComparison
        The comparison.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new Figure's Axes by default (no pyplot state).

    Returns
    -------
    matplotlib.axes.Axes
        One row per target and step: the Hodges–Lehmann change (of the
        round-adjusted log times) as a point with its own 95 % CI as a line, red for a regression, blue for significantly faster,
        grey otherwise; dashed lines at 0 and at +threshold.
    """
    from matplotlib.figure import Figure

    rows = cmp.changes[cmp.changes["change"].notna()]
    if ax is None:
        ax = Figure(
            figsize=(7.5, max(2.5, 0.28 * len(rows) + 1.2)), layout="constrained"
        ).subplots()
    labels = [
        f"{stats.target_label(r.client, r.runtime)} {r.step}" for r in rows.itertuples(index=False)
    ]
    y = np.arange(len(rows))[::-1]
    colours = [
        "tab:red" if r.regression else "tab:blue" if r.verdict == compare.FASTER else "0.45"
        for r in rows.itertuples(index=False)
    ]
    for yi, r, colour in zip(y, rows.itertuples(index=False), colours):
        ax.plot([100 * r.change_ci_low, 100 * r.change_ci_high], [yi, yi], color=colour, lw=2)
        ax.plot(100 * r.change, yi, "o", color=colour, ms=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(
        100 * cmp.threshold,
        color="tab:red",
        lw=0.8,
        ls="--",
        label=f"threshold +{cmp.threshold:.0%}",
    )
    ax.set_yticks(y, labels)
    ax.set_xlabel("change in wall time B vs A, Hodges–Lehmann (%)")
    ax.set_ylabel("target and step")
    ax.set_title(f"{cmp.run_b} vs {cmp.run_a}\npoint: Hodges–Lehmann change; line: its 95% CI")
    ax.legend(loc="lower right")
    return ax
