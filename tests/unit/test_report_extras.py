"""make report's extra runs (rtlab/report/report.py REPORT_EXTRAS): each a run folder of its own,
collected through notebook 01 after the main run and analysed by 02 beside it, never pooled;
--no-extras skips them. The last test runs the whole thing on the fake runtime."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from rtlab import cli
from rtlab.core import options
from rtlab.report import report


def test_the_table_passes_the_option_schema():
    for name, params in report.extra_parameters({"study": "all", "trials": 20}).items():
        assert params["experiment"] == report.REPORT_EXTRAS[name]["experiment"]
        assert params["study"] == ""
        assert params["trials"] == report.REPORT_EXTRAS[name]["trials"]
        assert "out_dir" not in params
    conc = report.extra_parameters({"study": "all", "out_dir": "/x"})["concurrency"]
    assert conc["parallel"] == "1,2,4" and conc["clients"] == "oci"
    assert conc["runtimes"] == "runc,crun"


def test_an_extra_of_the_main_runs_experiment_is_left_out():
    assert "concurrency" not in report.extra_parameters({"experiment": "concurrency"})


def test_a_bad_value_in_the_table_is_one_line_naming_it():
    with pytest.raises(options.OptionError, match="parallel: 0: must be from 1 to"):
        report.extra_parameters(
            {}, {"concurrency": {"experiment": "concurrency", "parallel": [0, 2]}}
        )


def _fake_notebooks(monkeypatch, tmp_path: Path) -> list[tuple[str, dict]]:
    calls: list[tuple[str, dict]] = []

    def run_notebook(name, output, parameters, show_output=False):
        calls.append((name, dict(parameters)))
        output.parent.mkdir(parents=True, exist_ok=True)
        cell = new_code_cell("")
        if name == report.COLLECT_NB:
            run = tmp_path / "data" / f"run{len(calls)}"
            run.mkdir(parents=True)
            (run / "run.json").write_text(json.dumps({"run_id": run.name, "format_version": 3}))
            cell.outputs = [
                new_output(
                    "display_data",
                    data={"text/plain": "", report.RECORD_MIME: {"run_dir": str(run)}},
                )
            ]
        nb = new_notebook(cells=[cell])
        nbformat.write(nb, str(output))
        return nb

    monkeypatch.setattr(report, "run_notebook", run_notebook)
    monkeypatch.setattr(report, "export_html", lambda nb, page, title: page)
    return calls


def test_make_report_collects_each_extra_in_its_own_run_and_analyses_all(monkeypatch, tmp_path):
    calls = _fake_notebooks(monkeypatch, tmp_path)
    made = report.make_report(
        {"study": "all", "trials": 20}, reports_dir=tmp_path / "reports", say=lambda _: None
    )
    extras = report.REPORT_EXTRAS
    assert len(extras) >= 2  # concurrency and density
    assert [name for name, _ in calls] == [report.COLLECT_NB] * (1 + len(extras)) + [
        report.ANALYZE_NB
    ]
    # the concurrency run twice, in two sittings: before the main run, and after the rest
    assert report.REPORT_EXTRAS_BEFORE_MAIN == ("concurrency",)
    assert list(extras)[-1] == "concurrency-later"
    order = [*report.REPORT_EXTRAS_BEFORE_MAIN, None] + [
        n for n in extras if n not in report.REPORT_EXTRAS_BEFORE_MAIN
    ]
    for (_, params), name in zip(calls, order):
        if name is None:  # the main run
            assert params["study"] == "all" and params["trials"] == 20
            continue
        overrides = extras[name]
        assert params["experiment"] == overrides["experiment"]
        assert params["trials"] == overrides["trials"]
        assert (made.report_dir / "extras" / f"{name}-{report.COLLECT_NB}").is_file()
    runs = calls[-1][1]["run_dirs"].split(",")
    # the main run first (its run.json names the report), then the extras in collect order
    made_in = [str(tmp_path / "data" / f"run{i}") for i in range(1, len(extras) + 2)]
    assert runs == [made_in[1], made_in[0], *made_in[2:]]


def test_no_extras_collects_the_main_run_only(monkeypatch, tmp_path):
    calls = _fake_notebooks(monkeypatch, tmp_path)
    report.make_report(
        {"study": "all"}, reports_dir=tmp_path / "reports", say=lambda _: None, extras={}
    )
    assert [name for name, _ in calls] == [report.COLLECT_NB, report.ANALYZE_NB]
    assert "," not in calls[1][1]["run_dirs"]


def test_rtlab_report_no_extras_reaches_make_report(monkeypatch):
    seen = {}

    def fake_make_report(parameters, **kw):
        seen.update(kw)
        raise report.ReportError("stop here")

    monkeypatch.setattr(report, "make_report", fake_make_report)
    assert cli.main(["report", "--trials", "3", "--no-extras"]) == 1
    assert seen["extras"] == {}
    assert cli.main(["report", "--trials", "3"]) == 1
    assert seen["extras"] is None  # the table's


@pytest.mark.notebooks
def test_a_report_with_a_concurrency_extra_on_the_fake_runtime(fake, rt_env, tmp_path):
    """Notebooks 01 (twice) and 02 for real, on the fake runtime: the report names the knee
    and compares the targets at each k; the two runs stay apart (never pooled)."""
    one, _ = fake("fa")
    two, _ = fake("fb")
    base = {
        "clients": "oci",
        "runtimes": "fa,fb",
        "custom_runtimes": [one, two],
        "trials": 2,
        "warmup": 0,
        "out_dir": str(tmp_path / "main"),
        "paces": "0",
    }
    extra = {
        "concurrency": {
            "experiment": "concurrency",
            "parallel": [1, 2],
            "trials": 6,
            "warmup": 0,
            "out_dir": str(tmp_path / "conc"),
        }
    }
    made = report.make_report(
        base, reports_dir=tmp_path / "reports", say=lambda _: None, extras=extra
    )
    main = pd.read_csv(tmp_path / "main" / "trials.csv")
    conc = pd.read_csv(tmp_path / "conc" / "trials.csv")
    assert set(main["experiment"]) == {"lifecycle"} and set(conc["experiment"]) == {"concurrency"}
    summary = pd.read_csv(made.report_dir / "summary.csv")
    assert "concurrency" not in set(summary["experiment"])  # its k's never pooled there
    pairs = pd.read_csv(made.report_dir / "concurrency_comparisons.csv")
    assert set(pairs["k"]) == {1, 2} and set(pairs["a"]) == {"fa"}
    page = made.html.read_text()
    assert 'id="concurrency"' in page and "The knee per target" in page
    assert "Targets compared at each k" in page
