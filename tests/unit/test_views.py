"""rtlab.views: what the notebooks show is labelled, complete and in reading order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from _synthetic import make_trials
from rtlab import compare, stats, views


def test_figure_captions_name_the_step_and_family() -> None:
    assert views.figure_caption("x/distribution_start.png")[0] == "start: wall time per target"
    assert views.figure_caption("ecdf_total.png")[0] == "total: cumulative distribution"
    title, text = views.figure_caption("ratios_client-docker_run.png")
    assert title == "client=docker, run: pairwise ratios" and "`client=docker`" in text
    assert views.figure_caption("lifecycle.png")[0] == "Lifecycle: where the time goes"


def test_figures_in_reading_order_one_format() -> None:
    names = ["ecdf_run.svg", "ecdf_run.png", "ratios_runtime-runc_total.png", "distribution_run.png",
             "distribution_create.png", "lifecycle.png", "ecdf_create.png"]
    assert [p.name for p in views.figure_files(Path(n) for n in names)] == [
        "lifecycle.png", "distribution_create.png", "distribution_run.png", "ecdf_create.png",
        "ecdf_run.png", "ratios_runtime-runc_total.png"]


def test_table_shows_every_cell_in_full_or_a_note() -> None:
    long_text = "evidence " * 40
    html = views.table(pd.DataFrame({"evidence": [long_text], "x": [0.25], "y": [float("nan")]})) \
        .to_html()
    assert long_text.strip() in html and "0.25" in html and "—" in html
    assert views.table(pd.DataFrame(), "Nothing here.").data == "_Nothing here._"


def test_image_bundle_has_alternative_text_and_the_png() -> None:
    bundle = views.image_bundle(b"\x89PNG", 'a "quoted" title')
    assert 'alt="a &quot;quoted&quot; title"' in bundle["text/html"]
    assert bundle["image/png"] == "iVBORw=="


def test_not_measured_lists_unavailable_and_dropped() -> None:
    metas = [{"run_id": "r1", "unavailable": {"docker/youki": "not installed"},
              "dropped": {"oci/runsc-kvm": "dropped after 2 consecutive timeouts", "oci/runc": None}}]
    table = views.not_measured_table(metas)
    assert table.to_dict("records") == [
        {"run_id": "r1", "target": "docker/youki", "what": "not measured", "why": "not installed"},
        {"run_id": "r1", "target": "oci/runsc-kvm", "what": "dropped during the run",
         "why": "dropped after 2 consecutive timeouts"}]
    assert views.not_measured_table([{"run_id": "r2"}]).empty


def test_summary_table_in_milliseconds_with_the_ci() -> None:
    summary = stats.summarize(make_trials(n_trials=10, seed=1))
    table = views.summary_table(summary)
    row = summary.iloc[0]
    assert len(table) == len(summary)
    assert table["median [95% CI] (ms)"].iloc[0] == (
        f"{row.median_s * 1000:.2f} [{row.ci_low_s * 1000:.2f}, {row.ci_high_s * 1000:.2f}]")


def test_change_plot_marks_the_regression() -> None:
    before = make_trials(n_trials=12, sigma=0.02, seed=1)
    after = before.copy()
    after.loc[(after["client"] == "ctr") & (after["step"] == "start"), "wall_s"] *= 1.3
    table = compare.changes(before, after, seed=0)
    cmp = compare.RunComparison("a", "b", Path("a"), Path("b"), {}, table, [], [], [], 0.05, 0.05)
    ax = views.change_plot(cmp, ax=Figure().subplots())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(table) and "ctr/runc start" in labels
    assert ax.get_xlabel() == "change in median wall time, B vs A (%)"
    red = [line for line in ax.get_lines() if line.get_color() == "tab:red" and len(line.get_xdata()) == 2
           and line.get_ydata()[0] == line.get_ydata()[1]]
    assert len(red) == table["regression"].sum() >= 1
