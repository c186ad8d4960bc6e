"""rtlab.plots: inspect the Axes each figure function returns."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch

from _synthetic import fail, make_trials
from rtlab import plots, stats

TARGETS = ["ctr/runc", "docker/runc", "docker/runsc", "podman/runc"]


@pytest.fixture(scope="module")
def trials() -> pd.DataFrame:
    frame = make_trials(n_trials=12, seed=1)
    return fail(frame, client="docker", runtime="runsc", trial=5, step="start")


@pytest.fixture
def ax() -> Axes:
    return Figure().subplots()


def tick_texts(ax: Axes) -> list[str]:
    return [label.get_text() for label in ax.get_xticklabels()]


def legend_texts(ax: Axes) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_distribution_has_one_box_per_target(trials: pd.DataFrame, ax: Axes) -> None:
    out = plots.distribution_plot(trials, step="start", ax=ax)
    assert out is ax
    boxes = [p for p in ax.patches if isinstance(p, PathPatch)]
    assert len(boxes) == len(TARGETS)
    labels = tick_texts(ax)
    assert [label.split("\n")[0] for label in labels] == TARGETS
    assert "n=11, 1 failed" in labels[TARGETS.index("docker/runsc")]
    assert "(s)" in ax.get_ylabel()
    assert ax.get_title().startswith("start")
    assert ax.get_yscale() == "linear"
    # every successful, non-warm-up trial is a point: 4 targets x 12 trials - 1 failure
    assert sum(len(c.get_offsets()) for c in ax.collections) == 4 * 12 - 1


def test_distribution_marks_outliers(trials: pd.DataFrame, ax: Axes) -> None:
    odd = trials.copy()
    odd.loc[(odd["client"] == "ctr") & (odd["trial"] == 7) & (odd["step"] == "run"), "wall_s"] = 5.0
    plots.distribution_plot(odd, step="run", ax=ax)
    assert plots.OUTLIER_LABEL in legend_texts(ax)


def test_wide_spread_uses_log_scale(ax: Axes) -> None:
    wide = make_trials({("oci", "runc"): {"run": 0.01}, ("docker", "runc"): {"run": 0.5}},
                       n_trials=8)
    plots.distribution_plot(wide, step="run", ax=ax)
    assert ax.get_yscale() == "log"
    assert "(s)" in ax.get_ylabel()
    ecdf_ax = plots.ecdf_plot(wide, step="run", ax=Figure().subplots())
    assert ecdf_ax.get_xscale() == "log"


def test_ecdf_has_one_line_per_target(trials: pd.DataFrame, ax: Axes) -> None:
    plots.ecdf_plot(trials, step="total", ax=ax)
    assert legend_texts(ax) == TARGETS
    assert len(ax.get_lines()) == len(TARGETS)
    assert "(s)" in ax.get_xlabel()
    assert ax.get_title().startswith("total")


def test_lifecycle_bars_stack_the_steps(trials: pd.DataFrame, ax: Axes) -> None:
    summary = stats.summarize(trials)
    plots.lifecycle_bars(summary, ax=ax)
    assert legend_texts(ax)[:4] == list(stats.LIFECYCLE_STEPS)
    assert legend_texts(ax)[4:] == ["total: median, 95% CI"]
    assert tick_texts(ax) == TARGETS
    assert len(ax.patches) == 4 * len(TARGETS)
    top = max(p.get_y() + p.get_height() for p in ax.patches[-len(TARGETS):])
    medians = summary[summary["step"].isin(stats.LIFECYCLE_STEPS)].groupby(
        ["client", "runtime"])["median_s"].sum()
    assert top == pytest.approx(medians.max())
    assert "(s)" in ax.get_ylabel()
    assert ax.get_title()


def test_ratio_heatmap_marks_significant_cells(trials: pd.DataFrame, ax: Axes) -> None:
    comparisons = stats.compare(trials, n_boot=200)
    plots.ratio_heatmap(comparisons, family="client=docker", step="create", ax=ax)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 2 and not any("*" in t for t in texts)  # create: no clear difference
    ax2 = Figure().subplots()
    plots.ratio_heatmap(comparisons, family="runtime=runc", step="total", ax=ax2)
    texts = [t.get_text() for t in ax2.texts]
    assert len(texts) == 3 * 2 and all(t.endswith("*") for t in texts)
    assert tick_texts(ax2) == ["ctr", "docker", "podman"]
    assert ax2.get_title().startswith("runtime=runc, total")


def test_ratio_heatmap_rejects_unknown_family(trials: pd.DataFrame, ax: Axes) -> None:
    with pytest.raises(ValueError, match="no comparisons"):
        plots.ratio_heatmap(stats.compare(trials, n_boot=50), family="client=nope", ax=ax)


def test_draws_on_current_axes_by_default(trials: pd.DataFrame) -> None:
    fig = plt.figure()
    try:
        assert plots.ecdf_plot(trials, step="run") is fig.gca()
    finally:
        plt.close(fig)


def test_save_figure_writes_png_and_svg(trials: pd.DataFrame, tmp_path) -> None:
    fig = Figure()
    plots.ecdf_plot(trials, step="run", ax=fig.subplots())
    png, svg = plots.save_figure(fig, tmp_path / "sub" / "ecdf_run")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert "<svg" in svg.read_text()
    assert (png.name, svg.name) == ("ecdf_run.png", "ecdf_run.svg")
