"""The figures as notebooks show them: each figure's caption, their order, the PNG bundles
(:func:`show_figures`).

Split out of views.py (issue 32), which re-exports every name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from rtlab.analysis import stats
from rtlab.analysis.analysis import figure_kinds
from rtlab.core import experiments
from rtlab.report.html import _code, _escape, esc, image_bundle

# -- the figures ---------------------------------------------------------------

_FIGURE_TEXT = {
    "distribution": (
        "{step}: wall time per target",
        "Every trial of `{step}` as a point over a box of the median and quartiles, "
        "one box per target; red points are outliers (flagged, not dropped). Read "
        "it for the spread and for slow trials: a tall box or scattered points mean "
        "run-to-run noise. The y axis turns logarithmic when the values span more "
        "than 10x.",
    ),
    "ecdf": (
        "{step}: cumulative distribution",
        "For each target, the fraction of `{step}` trials that finished within x seconds. "
        "A curve further left is faster; a steep curve is consistent; a long flat tail "
        "to the right means occasional slow trials.",
    ),
    "lifecycle": (
        "Lifecycle: where the time goes",
        "One panel per client; in it, for each of create, start, kill and delete, "
        "one bar per runtime at its median with the 95% CI as a whisker. Each panel "
        "has its own y axis (logarithmic when its bars span more than 10x), so one "
        "slow step does not flatten the others: compare heights within a panel.",
    ),
    "pace": (
        "{step}: how the ratios move with the pace",
        "Each pair's ratio a / b — the Hodges–Lehmann estimate with its own Holm-adjusted "
        "95% CI — at every pace measured — the idle time "
        "before each timed step. Filled: faster or slower at that pace; hollow: "
        "equivalent or inconclusive. A line crossing the dashed 1 means the answer "
        "depends on the pace.",
    ),
    "overview": (
        "Every target at a glance",
        "The median lifecycle time (create + start + kill + delete, per trial) of "
        "every target with its 95% CI, grouped by client; left is faster.",
    ),
    "study": (
        "Against the known study, as it drew it",
        "The study's bar charts redrawn: per step, each runtime (through docker) or "
        "client (over runc) as a pale bar with the study's value beside a solid bar "
        "with rtlab's median and 95% CI. Absolute values differ with the host; compare "
        "the order and the proportions.",
    ),
    "ratios": (
        "{family}, {step}: pairwise ratios",
        "How many times slower the row is than the column (the Hodges–Lehmann ratio "
        "row / column, the estimate the Holm-adjusted 95% CI and the test belong to), for "
        "`{step}` within `{family}`; blue cells: the row is faster, red: slower. `*` marks a "
        "significant difference (Holm-adjusted p < alpha: its Holm-adjusted 95% CI excludes 1).",
    ),
}


def figure_caption(path: Path | str) -> tuple[str, str]:
    """(title, what the figure shows) for a figure file written by :func:`rtlab.analysis.analysis.analyze`."""
    stem = Path(path).stem
    kind, _, rest = stem.partition("_")
    if kind == "ratios":
        family, _, step = rest.rpartition("_")
        family = family.replace("-", "=", 1)
    else:
        family, step = "", rest
    title, text = _FIGURE_TEXT.get(kind, (stem, ""))
    experiment = experiments.EXPERIMENTS.get(Path(path).parent.name)  # figures/<experiment>/
    if (
        kind == "lifecycle"
        and experiment is not None
        and experiment.total
        and experiment.name != experiments.DEFAULT_EXPERIMENT
    ):
        name = experiment.figure or experiment.name
        title = f"{name[0].upper()}{name[1:]}: where the time goes"
        text = text.replace(
            "create, start, kill and delete",
            ", ".join(experiment.total[:-1]) + " and " + experiment.total[-1],
        )
    return title.format(step=step, family=family), text.format(step=step, family=family)


def _figure_order(path: Path) -> tuple:
    kind, _, rest = path.stem.partition("_")
    step = rest.rpartition("_")[2] if kind == "ratios" else rest
    rank = {
        "overview": 0,
        "lifecycle": 1,
        "study": 2,
        "distribution": 3,
        "ecdf": 4,
        "ratios": 5,
    }.get(kind, 6)
    return (rank, stats.step_rank(step) if step else -1, path.stem)


def figure_files(paths: Iterable[Path | str], suffix: str = ".png") -> list[Path]:
    """The figures of one format, in reading order (lifecycle, distributions, ECDFs, ratios)."""
    return sorted((Path(p) for p in paths if Path(p).suffix == suffix), key=_figure_order)


class Bundle(dict):
    """A display bundle a notebook cell can end with (IPython shows every MIME type)."""

    def _repr_mimebundle_(self, include=None, exclude=None):
        return dict(self)


_WIDTHS = {"ratios": "520px", "ecdf": "760px"}


def show_figures(
    paths: Iterable[Path | str],
    *,
    skip: Sequence[str] = (),
    kinds: Sequence[str] | None = None,
    folded: bool = False,
    drawn: str | Sequence[str] | None = None,
) -> int:
    """Display the PNG figures with their titles and captions (embedded in the notebook).

    Parameters
    ----------
    paths : iterable of path
        Figure files (PNG and SVG) as :func:`rtlab.analysis.analysis.analyze` wrote them.
    skip : sequence of str
        Figure names (without suffix) not to show, e.g. ``["overview"]`` shown elsewhere.
    kinds : sequence of str, optional
        Only figures of these kinds (``lifecycle``, ``study``, ``distribution``,
        ``ecdf``, ``ratios``, ``overview``); all by default.
    folded : bool
        Each figure folded under its title (for an appendix).
    drawn : str or sequence of str, optional
        The figure kinds the analysis was asked to draw (``analyze(figures=…)``);
        the ``kinds`` it did not draw are named in one line saying how to ask for
        them, instead of an empty section.

    Returns
    -------
    int
        The number of figures shown.
    """
    from IPython.display import Markdown, display

    shown = 0
    for png in figure_files(paths):
        kind = png.stem.partition("_")[0]
        if png.stem in skip or (kinds is not None and kind not in kinds):
            continue
        title, text = figure_caption(png)
        # figures/<experiment>/ when the runs hold several experiments (analysis.py)
        where = f"{png.parent.name}/{png.name}" if png.parent.parent.name == "figures" else png.name
        caption = (
            f"<h4>{esc(title)}</h4><p>{_code(esc(text))} "
            f"(<code>figures/{esc(where)}</code>, also as SVG)</p>"
        )
        display(
            image_bundle(
                png.read_bytes(),
                title,
                max_width=_WIDTHS.get(kind, "100%"),
                caption_html="" if folded else caption,
                fold=title if folded else "",
            ),
            raw=True,
        )
        shown += 1
    omitted: list[str] = []
    if drawn is not None and kinds is not None:
        asked = set(figure_kinds(drawn))
        omitted = [k for k in kinds if k not in asked]
    if omitted:
        display(
            Markdown(
                f"_Not drawn in this analysis: {_escape(', '.join(omitted))} figures. They are drawn "
                'on request: the parameter `figures = "all"` (or `rtlab analyze --figures '
                "all`)._"
            )
        )
    elif not shown:
        display(Markdown("_No figure: no target has a successful trial._"))
    return shown
