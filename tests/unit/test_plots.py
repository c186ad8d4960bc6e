"""rtlab.analysis.plots: inspect the Axes each figure function returns."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _synthetic import fail, make_trials
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch

from rtlab.analysis import plots, stats

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


def red_points(ax: Axes) -> list[float]:
    """The y of every point drawn in the outlier colour."""
    red = np.array(to_rgba("tab:red"))
    found = []
    for c in ax.collections:
        colours, offsets = c.get_facecolors(), c.get_offsets()
        if len(colours) == 0 or len(offsets) == 0:
            continue
        colours = np.broadcast_to(colours, (len(offsets), 4))
        found += [float(y) for (_, y), rgba in zip(offsets, colours) if np.allclose(rgba, red)]
    return found


def test_distribution_marks_outliers(trials: pd.DataFrame, ax: Axes) -> None:
    odd = trials.copy()
    slow = odd["wall_s"][odd["step"] == "run"].max() * 50  # far above every other run
    odd.loc[(odd["client"] == "ctr") & (odd["trial"] == 7) & (odd["step"] == "run"), "wall_s"] = (
        slow
    )
    flagged = stats.flag_outliers(odd)
    n_outliers = int(
        flagged[(flagged["step"] == "run") & stats.is_sample(flagged)]["outlier"].sum()
    )
    assert n_outliers >= 1
    plots.distribution_plot(odd, step="run", ax=ax)
    assert plots.OUTLIER_LABEL in legend_texts(ax)
    red = red_points(ax)
    assert len(red) == n_outliers and slow in red  # the slow trial, and only the outliers


def test_distribution_names_no_outlier_when_there_is_none(trials: pd.DataFrame, ax: Axes) -> None:
    flagged = stats.flag_outliers(trials)
    assert not flagged[(flagged["step"] == "run") & stats.is_sample(flagged)]["outlier"].any()
    plots.distribution_plot(trials, step="run", ax=ax)
    assert plots.OUTLIER_LABEL not in legend_texts(ax)
    assert plots.SAMPLE_LABEL in legend_texts(ax)
    assert red_points(ax) == []


def test_wide_spread_uses_log_scale(ax: Axes) -> None:
    wide = make_trials(
        {("oci", "runc"): {"run": 0.01}, ("docker", "runc"): {"run": 0.5}}, n_trials=8
    )
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
    top = max(p.get_y() + p.get_height() for p in ax.patches[-len(TARGETS) :])
    medians = (
        summary[summary["step"].isin(stats.LIFECYCLE_STEPS)]
        .groupby(["client", "runtime"])["median_s"]
        .sum()
    )
    assert top == pytest.approx(medians.max())
    assert "(s)" in ax.get_ylabel()
    assert ax.get_title()


def test_ratio_heatmap_marks_significant_cells(trials: pd.DataFrame, ax: Axes) -> None:
    comparisons = stats.compare(trials)
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
        plots.ratio_heatmap(stats.compare(trials), family="client=nope", ax=ax)


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


# -- one colour per runtime, one marker/hatch per client ----------------------------------


def test_colours_and_markers_are_fixed_per_name_and_distinct() -> None:
    colours = [plots.runtime_colour(r) for r in plots.KNOWN_RUNTIMES]
    assert len(set(colours)) == len(colours)
    markers = [plots.client_marker(c) for c in plots.KNOWN_CLIENTS]
    hatches = [plots.client_hatch(c) for c in plots.KNOWN_CLIENTS]
    assert len(set(markers)) == len(markers) and len(set(hatches)) == len(hatches)
    # an unknown name gets the same style every time, from the spare ones
    assert plots.runtime_colour("my-rt") == plots.runtime_colour("my-rt")
    assert plots.runtime_colour("my-rt") not in colours
    assert plots.client_marker("nerdctl") not in markers


def test_names_from_data_are_text_in_figures() -> None:
    assert plots.text("a$b$c") == r"a\$b\$c"
    assert len(plots.text("x" * 100)) == plots.MAX_LABEL


def test_ecdf_lines_take_the_runtime_colour_and_client_marker(trials, ax) -> None:
    plots.ecdf_plot(trials, step="start", ax=ax)
    for line, target in zip(ax.get_lines(), TARGETS):
        client, runtime = target.split("/")
        assert line.get_color() == plots.runtime_colour(runtime)
        assert line.get_marker() == plots.client_marker(client)


def test_overview_has_one_point_per_target_grouped_by_client(trials, ax) -> None:
    summary = stats.summarize(trials)
    plots.overview_plot(summary, ax=ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == TARGETS
    assert labels[0].startswith("docker/")  # docker first, top down
    assert "95% CI" in ax.get_title()


def test_lifecycle_facets_one_panel_per_client_own_log_axis() -> None:
    medians = {
        ("oci", "runc"): {"create": 0.04, "start": 0.009, "kill": 0.008, "delete": 0.009},
        ("oci", "runsc"): {"create": 0.16, "start": 0.045, "kill": 0.033, "delete": 1.4},
        ("docker", "runc"): {"create": 0.05, "start": 0.3, "kill": 0.1, "delete": 0.045},
    }
    summary = stats.summarize(make_trials(medians, n_trials=8, seed=1))
    fig = plots.lifecycle_facets(summary)
    axes = fig.get_axes()
    assert [a.get_title() for a in axes] == ["through docker", "through oci"]
    assert fig.get_suptitle().startswith("lifecycle: median wall time of each step")
    assert {t.get_rotation() for t in axes[0].get_xticklabels()} == {0.0}
    assert axes[0].get_yscale() == "linear" and axes[1].get_yscale() == "log"
    oci_bars = [p for p in axes[1].patches]
    assert len(oci_bars) == 2 * 4
    assert {tuple(p.get_facecolor()[:3]) for p in oci_bars} == {
        tuple(plots.runtime_colour("runc")),
        tuple(plots.runtime_colour("runsc")),
    }
    assert {p.get_hatch() for p in oci_bars} == {plots.client_hatch("oci")}


def test_lifecycle_facets_of_the_cri_name_it_and_slant_its_seven_steps() -> None:
    steps = {
        "pod_run": 0.2,
        "create": 0.03,
        "start": 0.06,
        "stop": 0.02,
        "remove": 0.01,
        "pod_stop": 0.05,
        "pod_remove": 0.02,
    }
    medians = {("cri-host", "runc"): steps, ("cri-cni", "runc"): steps}
    trials = make_trials(medians, n_trials=6, seed=1).assign(experiment="cri")
    fig = plots.lifecycle_facets(stats.summarize(trials))
    assert fig.get_suptitle().startswith("pod lifecycle (CRI): median wall time of each step")
    ax = fig.get_axes()[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(steps)
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {30.0}
    assert fig.get_size_inches()[0] >= 2 * 0.75 * len(steps)  # room for seven labels


def test_study_bars_put_the_study_beside_rtlab(trials) -> None:
    from rtlab.analysis import reference

    against = reference.against_study(stats.summarize(trials), reference.load_study())
    fig = plots.study_bars(against)
    titles = [a.get_title() for a in fig.get_axes()]
    assert titles == ["docker over each runtime", "each client over runc"]
    lowlevel = fig.get_axes()[0]
    labels = lowlevel.get_legend_handles_labels()[1]
    assert labels == ["runc: study (2018)", "runc: rtlab", "runsc: study (2018)", "runsc: rtlab"]
    # a study bar and an rtlab bar per runtime and step
    cells = against[against["tables"].str.contains("lowlevel")]
    assert len(lowlevel.patches) == 2 * len(cells)
