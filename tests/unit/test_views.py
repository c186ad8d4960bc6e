"""rtlab.report.views: what the notebooks show is labelled, complete and in reading order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _synthetic import make_trials
from matplotlib.figure import Figure

from rtlab.analysis import compare, stats
from rtlab.report import views


def test_figure_captions_name_the_step_and_family() -> None:
    assert views.figure_caption("x/distribution_start.png")[0] == "start: wall time per target"
    assert views.figure_caption("ecdf_total.png")[0] == "total: cumulative distribution"
    title, text = views.figure_caption("ratios_client-docker_run.png")
    assert title == "client=docker, run: pairwise ratios" and "`client=docker`" in text
    assert views.figure_caption("lifecycle.png")[0] == "Lifecycle: where the time goes"
    assert (
        views.figure_caption("r/figures/lifecycle/lifecycle.png")[0]
        == "Lifecycle: where the time goes"
    )
    # another experiment's figure (figures/<experiment>/) names it and its own steps
    title, text = views.figure_caption("r/figures/cri/lifecycle.png")
    assert title == "Pod lifecycle (CRI): where the time goes"
    assert "pod_run, create, start, stop, remove, pod_stop and pod_remove" in text
    assert "kill" not in text


def test_an_answer_with_too_few_trials_prints_no_nan_interval() -> None:
    medians = {
        ("oci", "runc"): {"create": 0.040, "start": 0.01, "kill": 0.01, "delete": 0.01},
        ("oci", "crun"): {"create": 0.041, "start": 0.01, "kill": 0.01, "delete": 0.01},
    }
    trials = make_trials(medians, n_trials=3, seed=2)
    summary, comparisons = stats.summarize(trials), stats.compare(trials)
    text = views._answer(summary, comparisons, family="client=oci", member="runtime", step="create")
    assert "nan" not in text and "too few trials for its CI" in text and "inconclusive" in text


def test_figures_in_reading_order_one_format() -> None:
    names = [
        "ecdf_run.svg",
        "ecdf_run.png",
        "ratios_runtime-runc_total.png",
        "distribution_run.png",
        "distribution_create.png",
        "lifecycle.png",
        "ecdf_create.png",
    ]
    assert [p.name for p in views.figure_files(Path(n) for n in names)] == [
        "lifecycle.png",
        "distribution_create.png",
        "distribution_run.png",
        "ecdf_create.png",
        "ecdf_run.png",
        "ratios_runtime-runc_total.png",
    ]


def test_table_shows_every_cell_in_full_or_a_note() -> None:
    long_text = "evidence " * 40
    html = views.table(
        pd.DataFrame({"evidence": [long_text], "x": [0.25], "y": [float("nan")]})
    ).to_html()
    assert long_text.strip() in html and "0.25" in html and "—" in html
    assert views.table(pd.DataFrame(), "Nothing <here>.").data == r"_Nothing &lt;here&gt;\._"


def test_image_bundle_has_alternative_text_and_the_png() -> None:
    bundle = views.image_bundle(b"\x89PNG", 'a "quoted" title')
    assert 'alt="a &quot;quoted&quot; title"' in bundle["text/html"]
    assert bundle["image/png"] == "iVBORw=="


def test_not_measured_lists_unavailable_and_dropped() -> None:
    metas = [
        {
            "run_id": "r1",
            "unavailable": {"docker/youki": "not installed"},
            "dropped": {"oci/runsc-kvm": "dropped after 2 consecutive timeouts", "oci/runc": None},
        }
    ]
    table = views.not_measured_table(metas)
    assert table.to_dict("records") == [
        {"run_id": "r1", "target": "docker/youki", "what": "not measured", "why": "not installed"},
        {
            "run_id": "r1",
            "target": "oci/runsc-kvm",
            "what": "dropped during the run",
            "why": "dropped after 2 consecutive timeouts",
        },
    ]
    assert views.not_measured_table([{"run_id": "r2"}]).empty
    two = views.not_measured_table(
        metas
        + [
            {
                "run_id": "r2",
                "unavailable": {"docker/youki": "not installed", "docker/<x>": "<nil>"},
            }
        ]
    )
    assert two.to_dict("records")[0] == {
        "run_id": "all 2 runs",
        "target": "docker/youki",
        "what": "not measured",
        "why": "not installed",
    }
    assert two["run_id"].tolist() == ["all 2 runs", "r1", "r2"]


def test_summary_table_in_milliseconds_with_the_ci() -> None:
    summary = stats.summarize(make_trials(n_trials=10, seed=1))
    table = views.summary_table(summary)
    row = summary.iloc[0]
    assert len(table) == len(summary)
    assert table["median [95% CI] (ms)"].iloc[0] == (
        f"{row.median_s * 1000:.2f} [{row.ci_low_s * 1000:.2f}, {row.ci_high_s * 1000:.2f}]"
    )


def test_change_plot_marks_the_regression() -> None:
    before = make_trials(n_trials=12, sigma=0.02, seed=1)
    after = before.copy()
    after.loc[(after["client"] == "ctr") & (after["step"] == "start"), "wall_s"] *= 1.3
    table = compare.changes(before, after, seed=0)
    cmp = compare.RunComparison("a", "b", Path("a"), Path("b"), {}, table, [], [], [], 0.05, 0.05)
    ax = views.change_plot(cmp, ax=Figure().subplots())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(table) and "ctr/runc start" in labels
    assert ax.get_xlabel() == "change in wall time B vs A, Hodges–Lehmann (%)"
    red = [
        line
        for line in ax.get_lines()
        if line.get_color() == "tab:red"
        and len(line.get_xdata()) == 2
        and line.get_ydata()[0] == line.get_ydata()[1]
    ]
    assert len(red) == table["regression"].sum() >= 1


# -- the first screen, the warnings, what went wrong ------------------------------------


def _rendered(obj) -> str:
    """What the HTML report would hold for one cell output."""
    if isinstance(obj, dict):
        return obj["text/html"]
    if hasattr(obj, "to_html"):
        return obj.to_html()
    return obj.data


def test_every_string_from_data_reaches_html_as_text(tmp_path: Path) -> None:
    from html import unescape

    from _hostile import HOSTILE_LABEL, HOSTILE_RUNTIME, hostile_run, payload

    from rtlab.analysis import analysis, reference
    from rtlab.report import params

    run = hostile_run(tmp_path / "run")
    metas, trials = params.load_runs([run])
    result = analysis.analyze(trials, tmp_path / "out", seed=0)
    study = reference.load_study()
    outputs = [
        views.headline(metas, result.summary, result.comparisons, result.figures, trials),
        views.table(views.runs_table(metas)),
        views.table(views.host_table(metas), index=True),
        views.table(views.versions_table(metas), index=True),
        views.table(views.overhead_table(metas)),
        views.table(views.not_measured_table(metas)),
        views.table(views.failed_errors_table(trials)),
        views.table(views.summary_table(result.summary)),
        views.table(views.ci_width_table(result.summary)),
        views.table(views.study_table(reference.against_study(result.summary, study))),
        views.details("all", views.table(views.comparisons_table(result.comparisons))),
        views.details("all", result.findings),
        views.markdown_list(result.warnings, "none"),
    ]
    html = "\n".join(_rendered(o) for o in outputs)
    assert "&lt;nil&gt;" in html
    for raw in ("<img src=x", "<script>", "<svg onload", "<b onmouseover", "<nil>"):
        assert raw not in html, raw
    shown = unescape(html)  # what a reader sees: every hostile string, in full, as text
    for field in (
        "unavailable",
        "dropped",
        "error",
        "hostname",
        "kernel",
        "cpu_model",
        "os",
        "versions-key",
        "versions-value",
        "overhead",
        "study",
        "version",
        "status",
    ):
        assert payload(field) in shown, field
    assert HOSTILE_RUNTIME in shown and HOSTILE_LABEL in shown
    assert "run-<img src=x onerror=\"window.__rtlab_pwned='run_id'\">" in shown


def test_markdown_escape_leaves_nothing_for_markdown_or_html_to_read() -> None:
    text = views._escape("**b** [x](javascript:1) <i>`c`</i> &amp;")
    assert "<" not in text and "**" not in text and "](" not in text
    assert "&amp;amp;" in text


def test_markdown_escape_keeps_apostrophes_and_hashes_readable() -> None:
    # an entity whose "#" is backslash-escaped (&\#x27;) shows as text: "median&#x27;s"
    text = views._escape("Every median's 95% CI; run #1")
    assert text == "Every median's 95% CI; run \\#1"


def test_headline_names_the_fastest_by_how_much_with_the_ci() -> None:
    trials = make_trials(n_trials=12, seed=1)
    summary, comparisons = stats.summarize(trials), stats.compare(trials)
    metas = [{"run_id": "r1", "parameters": {"study": "all", "trials": 12}}]
    answers = dict(views.headline_answers(summary, comparisons, metas))
    docker = answers["Which low-level runtime is fastest through docker?"]
    # synthetic medians: docker/runc is faster than docker/runsc at every step
    assert docker.startswith("Through docker: runc is fastest, ")
    assert "faster than runsc round by round (95% CI " in docker and "p_adj" in docker
    assert "No pace or other condition recorded; 12 trials per target per run." in docker
    clients = answers["Which client is fastest over runc?"]
    assert clients.startswith("Over runc: ctr is fastest") and "podman" in clients
    assert "docker is slowest" in clients


def test_headline_names_the_pace_when_the_runs_record_one() -> None:
    trials = make_trials(n_trials=8, seed=2).assign(pace_s=0.1)
    assert views.conditions_text([{}], trials).startswith("At pace 100 ms")
    assert (
        views.conditions_text([{"parameters": {"pace_s": 0.25, "trials": 8}}])
        == "At pace 250 ms; 8 trials per target per run"
    )
    assert views.conditions_text(
        [{}], trials.assign(pace_s=[0.0, 0.1] * (len(trials) // 2))
    ).startswith("At paces 0 ms, 100 ms (pooled)")


def test_headline_is_the_report_title_answers_and_the_overview(tmp_path: Path) -> None:
    from rtlab.analysis import analysis

    trials = make_trials(n_trials=8, seed=3)
    result = analysis.analyze(trials, tmp_path, seed=0)
    metas = [{"run_id": "r<1>", "parameters": {"study": "all", "trials": 8}}]
    bundle = views.headline(metas, result.summary, result.comparisons, result.figures, trials)
    page = bundle["text/html"]
    assert page.startswith('<section id="headline">')
    assert "rtlab report · study all · run r&lt;1&gt;" in page
    assert page.count("<li>") == 2  # through docker (runc, runsc) and over runc (3 clients)
    assert "data:image/png;base64," in page and bundle["image/png"]
    assert (
        views.report_title(metas + [{"run_id": "r2", "parameters": {}}])
        == "rtlab report · study all, custom · runs r<1>, r2"
    )


def test_ci_width_table_lists_wide_or_missing_cis_only() -> None:
    summary = stats.summarize(make_trials(n_trials=12, seed=1))
    assert views.ci_width_table(summary, fraction=10.0).empty
    everything = views.ci_width_table(summary, fraction=0.0)
    assert list(everything.columns) == ["target", *stats.ordered_steps(summary["step"])]
    assert len(everything) == 4 and (everything != "").all().all()
    row = summary.iloc[0]
    below, above = 1 - row.ci_low_s / row.median_s, row.ci_high_s / row.median_s - 1
    cell = everything.set_index("target").at[f"{row.client}/{row.runtime}", row.step]
    assert cell == f"−{below * 100:.0f}/+{above * 100:.0f}%"
    wide = views.ci_width_table(summary, fraction=0.03)
    sides = (summary["median_s"] - summary["ci_low_s"]).combine(
        summary["ci_high_s"] - summary["median_s"], max
    ) / summary["median_s"]
    flagged = (wide.drop(columns="target") != "").to_numpy().sum()
    assert flagged == (sides > 0.03).sum() and 0 < flagged < len(summary)
    thin = stats.summarize(make_trials(n_trials=3, seed=1))
    assert set(views.ci_width_table(thin).drop(columns="target").stack()) == {"no CI"}


def test_failed_errors_are_counted_per_distinct_message() -> None:
    trials = make_trials(n_trials=6, seed=1)
    bad = trials.index[(trials["step"] == "start") & ~trials["warmup"]][:5]
    trials.loc[bad, ["ok", "wall_s"]] = [False, float("nan")]
    trials.loc[bad, "error"] = ["<nil>", "<nil>", "boom", "", "<nil>"]
    table = views.failed_errors_table(trials)
    assert table["error"].tolist() == ["<nil>", "boom", "(no message; exit code 0)"]
    assert table["count"].tolist() == [3, 1, 1]
    assert set(table["steps"]) == {"start"}
    assert views.failed_errors_table(make_trials(n_trials=2)).empty


def test_console_table_is_one_row_per_target_with_median_and_ci() -> None:
    trials = make_trials(n_trials=12, seed=1)
    text = views.console_table(trials)
    lines = text.splitlines()
    assert lines[0] == "median [95% CI] in ms, per target and step:"
    assert lines[1].split() == ["target", "create", "start", "kill", "delete", "total", "run"]
    assert len(lines) == 2 + 4
    summary = stats.summarize(trials)
    row = summary[(summary["client"] == "ctr") & (summary["step"] == "start")].iloc[0]
    ctr = next(line for line in lines if line.startswith("ctr/runc"))
    assert (
        f"{row.median_s * 1000:.0f} [{row.ci_low_s * 1000:.0f}–{row.ci_high_s * 1000:.0f}]" in ctr
    )
    assert views.console_table(trials.iloc[0:0]) == "no successful trial to tabulate"


# -- issue 18: one estimate per interval, experiments never pooled ------------------------

_NUMBER = r"(\d+(?:\.\d+)?)"


def _factor_and_ci(sentence: str) -> tuple[float, float, float]:
    import re

    m = re.search(
        _NUMBER + r"× faster than \S+ round by round \(95% CI " + _NUMBER + "–" + _NUMBER + "×",
        sentence,
    )
    assert m, sentence
    return float(m.group(1)), float(m.group(2)), float(m.group(3))


def test_headline_factor_is_the_hodges_lehmann_ratio_inside_its_ci() -> None:
    trials = make_trials(n_trials=12, seed=1)
    summary, comparisons = stats.summarize(trials), stats.compare(trials)
    metas = [{"run_id": "r1", "parameters": {"study": "all", "trials": 12}}]
    docker = dict(views.headline_answers(summary, comparisons, metas))[
        "Which low-level runtime is fastest through docker?"
    ]
    factor, low, high = _factor_and_ci(docker)
    assert low <= factor <= high
    totals = summary[(summary["client"] == "docker") & (summary["step"] == "total")].sort_values(
        "median_s"
    )
    winner, runner = totals["runtime"].iloc[0], totals["runtime"].iloc[1]
    row = comparisons[
        (comparisons["family"] == "client=docker")
        & (comparisons["step"] == "total")
        & comparisons["a"].isin([winner, runner])
        & comparisons["b"].isin([winner, runner])
    ].iloc[0]
    hl = row["ratio"] if row["a"] == winner else 1 / row["ratio"]  # winner / runner
    assert factor == pytest.approx(1 / hl, abs=0.006)  # the HL ratio, not the medians'
    assert f"{winner} is fastest" in docker and f"faster than {runner}" in docker


def test_headline_says_equivalent_with_the_equivalence_ci_never_faster_alone() -> None:
    same = {
        ("docker", "runc"): {"create": 0.1, "start": 0.2, "kill": 0.05, "delete": 0.1},
        ("docker", "crun"): {"create": 0.1, "start": 0.2, "kill": 0.05, "delete": 0.1},
    }
    trials = make_trials(same, n_trials=30, sigma=0.01, seed=4)
    summary, comparisons = stats.summarize(trials), stats.compare(trials, margin=0.2)
    total = comparisons[(comparisons["step"] == "total")].iloc[0]
    assert total["verdict"] == stats.EQUIVALENT
    answer = views.headline_answers(summary, comparisons, [{}])[0][1]
    assert "are equivalent within ±20% (" in answer and "90% CI" in answer
    assert "inside 0.83–1.20" in answer and "not clearly" not in answer


def test_headline_answers_each_experiment_on_its_own_rows(tmp_path: Path) -> None:
    from tests.unit.test_experiments import pause_trials

    life = make_trials(
        {
            ("oci", "runc"): {"create": 0.02, "start": 0.04, "kill": 0.01, "delete": 0.02},
            ("oci", "crun"): {"create": 0.01, "start": 0.02, "kill": 0.005, "delete": 0.01},
        },
        n_trials=8,
        n_warmup=0,
        seed=5,
    )
    both = pd.concat([life, pause_trials(seed=6).assign(run_id="other")], ignore_index=True)
    summary, comparisons = stats.summarize(both), stats.compare(both)
    sections = views.headline_sections(summary, comparisons, [{}], both)
    assert [e for e, _, _ in sections] == ["lifecycle", "pause"]
    for experiment, step, answers in sections:
        assert step == "total" and answers
        medians = summary[(summary["experiment"] == experiment) & (summary["step"] == "total")]
        best = medians.sort_values("median_s").iloc[0]
        assert f"{best['median_s'] * 1000:.3g} ms" in answers[0][1], (experiment, answers)
    keys = [q for q, _ in views.headline_answers(summary, comparisons, [{}], both)]
    assert any(q.startswith("lifecycle: ") for q in keys) and any(
        q.startswith("pause: ") for q in keys
    )
    page = views.headline([{}], summary, comparisons, (), both)["text/html"]
    assert page.count('class="experiment"') == 2 and "create + start + pause + resume" in page
    assert "create + start + kill + delete" in page


def test_methods_text_names_the_estimate_and_the_equivalence_rule() -> None:
    trials = make_trials(n_trials=8, seed=2)
    summary, comparisons = stats.summarize(trials), stats.compare(trials, margin=0.2)
    text = views.methods_text(summary, comparisons, 0.05, 0).data
    assert "bootstrap" not in text and "Hodges–Lehmann" in text
    assert "90% CI" in text and "0.833–1.200" in text and "±20%" in text


def test_show_figures_names_the_kinds_not_drawn(tmp_path: Path, monkeypatch) -> None:
    from IPython import display as ipy_display

    from rtlab.analysis import analysis

    result = analysis.analyze(make_trials(n_trials=6, seed=7), tmp_path)  # the report's figures
    shown: list = []
    monkeypatch.setattr(ipy_display, "display", lambda obj, **kw: shown.append(obj))
    count = views.show_figures(
        result.figures, kinds=["lifecycle", "distribution", "ecdf"], drawn="report"
    )
    assert count == 1 and len(shown) == 2
    assert "Not drawn in this analysis: distribution, ecdf" in shown[-1].data
    assert '`figures = "all"`' in shown[-1].data
    shown.clear()
    assert views.show_figures(result.figures, kinds=["ratios"], drawn="all") == 0
    assert "no target has a successful trial" in shown[-1].data  # asked for, nothing drawn


def test_the_trial_count_is_that_of_the_runs_the_rows_come_from() -> None:
    # a report of a 20-trial lifecycle run beside make report's small extra runs (2 and 6
    # trials) says 20 in the lifecycle's answers, not "2, 20, 6"
    trials = make_trials(n_trials=8, seed=2).assign(pace_s=0.1, run_id="life")
    metas = [
        {"run_id": "life", "parameters": {"trials": 20}},
        {"run_id": "dens", "parameters": {"trials": 2}},
        {"run_id": "conc", "parameters": {"trials": 6}},
    ]
    assert views.conditions_text(metas, trials) == "At pace 100 ms; 20 trials per target per run"
