"""Each notebook through papermill with overridden parameters into a temporary folder,
asserting on the files it wrote; bad parameters stop at the first cell after the
parameters with one line; `rtlab report`'s orchestration end to end."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from rtlab.report import params, report
from tests.notebooks._helpers import NOTEBOOKS, needs_root, notebook_names
from tests.unit._runcopy import quietest_step, slowed_copy


def execute(name: str, output: Path, **parameters) -> nbformat.NotebookNode:
    return papermill.execute_notebook(
        str(NOTEBOOKS / name),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(NOTEBOOKS),
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )


def failed_code_cells(nb) -> list[str]:
    """Position of each failed code cell among the code cells: "parameters+N" counts from the
    injected-parameters cell papermill adds after the ``parameters`` cell."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    injected = next(
        i for i, c in enumerate(code) if "injected-parameters" in c.metadata.get("tags", [])
    )
    return [
        f"parameters+{i - injected}"
        for i, c in enumerate(code)
        if any(o.get("output_type") == "error" for o in c.get("outputs", []))
    ]


def images(nb) -> int:
    """Embedded PNG figures with alternative text among a notebook's outputs."""
    return sum(
        "image/png" in out.get("data", {}) and " alt=" in out["data"].get("text/html", "")
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )


# -- one test per notebook: every notebook in notebooks/ must be listed here -------------


def check_collect(tmp_path: Path) -> None:
    needs_root()
    run_dir = tmp_path / "run"
    nb = execute(
        "01-collect.ipynb",
        tmp_path / "01.ipynb",
        clients="oci",
        runtimes="runc",
        trials=1,
        warmup=0,
        timeout_s=30.0,
        seed=3,
        out_dir=str(run_dir),
        allow_concurrent=True,
    )  # timings do not matter here; a developer's run may
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed"
    assert meta["parameters"]["trials"] == 1 and meta["parameters"]["seed"] == 3
    assert [t["label"] for t in meta["targets"]] == ["oci/runc"]
    trials = pd.read_csv(run_dir / "trials.csv")
    assert sorted(trials["step"]) == sorted(["create", "start", "kill", "delete", "run"])
    assert trials["ok"].all()
    assert report.read_records(nb) == {
        "run_dir": str(run_dir),
        "run_id": meta["run_id"],
        "status": "completed",
    }


def check_analyze(tmp_path: Path) -> None:
    run = params.sample_runs()[0]
    out = tmp_path / "analysis"
    nb = execute(
        "02-analyze.ipynb",
        tmp_path / "02.ipynb",
        run_dirs=str(run),
        alpha=0.01,
        seed=5,
        out_dir=str(out),
        figures="all",
        svg=True,
    )
    summary = pd.read_csv(out / "summary.csv")
    comparisons = pd.read_csv(out / "comparisons.csv")
    _, trials = params.load_runs([run])
    assert set(summary["client"] + "/" + summary["runtime"]) == set(
        trials["client"] + "/" + trials["runtime"]
    )
    assert not comparisons.empty
    pngs = sorted((out / "figures").glob("*.png"))
    assert pngs and len(list((out / "figures").glob("*.svg"))) == len(pngs)
    assert images(nb) == len(pngs)  # every figure is shown, embedded
    kinds = {p.stem.partition("_")[0] for p in pngs}
    assert {"distribution", "ecdf", "ratios"} <= kinds  # figures="all" draws them
    assert "Not drawn in this analysis" not in json.dumps(nb)
    found = report.read_records(nb)
    assert found["out_dir"] == str(out) and found["runs"] == [str(run)]
    assert found["findings"] >= len(comparisons)
    text = json.dumps(nb)
    for heading in (
        "## Against the known study",
        "## Figures",
        "## Warnings",
        "## What went wrong",
        "## The runs",
        "## Appendix",
    ):
        assert heading in text


def check_compare(tmp_path: Path) -> None:
    run = params.sample_runs()[0]
    where = quietest_step(run)
    copy = slowed_copy(run, tmp_path / "slowed", *where)
    out = tmp_path / "compare"
    nb = execute(
        "03-compare-runs.ipynb",
        tmp_path / "03.ipynb",
        run_a=str(run),
        run_b=str(copy),
        threshold=0.1,
        out_dir=str(out),
    )
    changes = pd.read_csv(out / "changes.csv")
    flagged = changes[changes["regression"]]
    assert (where[0], where[1], where[2]) in set(
        zip(flagged["client"], flagged["runtime"], flagged["step"])
    )
    assert (out / "change.png").stat().st_size > 0
    found = report.read_records(nb)
    assert found["regression"] is True
    assert f"{where[0]}/{where[1]} {where[2]}" in found["verdict"]
    assert found["files"] == [str(out / "changes.csv")]
    assert images(nb) == 1


CASES = {
    "01-collect.ipynb": check_collect,
    "02-analyze.ipynb": check_analyze,
    "03-compare-runs.ipynb": check_compare,
}


def test_every_notebook_has_a_papermill_test() -> None:
    missing = sorted(set(notebook_names()) - set(CASES))
    assert not missing, f"notebooks without a papermill test in {__file__}: {missing}"
    assert not sorted(set(CASES) - set(notebook_names())), "CASES names a notebook that is gone"


@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_with_overridden_parameters_writes_its_files(name: str, tmp_path: Path) -> None:
    CASES[name](tmp_path)


# -- bad parameters ------------------------------------------------------------------------

BAD = [
    (
        "01-collect.ipynb",
        {"runtimes": "runc,nope"},
        "ParameterError: runtimes: unknown runtime 'nope'; known: runc, crun",
    ),
    (
        "01-collect.ipynb",
        {"trials": "2"},
        "ParameterError: trials = '2': must be a whole number of at least 1",
    ),
    (
        "02-analyze.ipynb",
        {"run_dirs": "data/no-such-run"},
        "ParameterError: run_dirs: 'data/no-such-run' (",
    ),
    (
        "02-analyze.ipynb",
        {"alpha": 5},
        "ParameterError: alpha = 5: must be a significance level between 0 and 1",
    ),
    (
        "03-compare-runs.ipynb",
        {"threshold": "5%"},
        "ParameterError: threshold = '5%': must be a relative slow-down of 0 or more",
    ),
]


@pytest.mark.parametrize(
    "name,parameters,line", BAD, ids=[f"{n[:2]}-{next(iter(p))}" for n, p, _ in BAD]
)
def test_bad_parameter_stops_at_the_first_cell_with_one_line(
    name, parameters, line, tmp_path: Path
) -> None:
    output = tmp_path / "out.ipynb"
    with pytest.raises(PapermillExecutionError) as caught:
        execute(name, output, **parameters)
    error = caught.value
    assert error.ename == "ParameterError"
    assert line in str(error)
    assert [t for t in error.traceback if t.strip()] == [f"ParameterError: {error.evalue}"]
    nb = nbformat.read(str(output), as_version=4)
    assert failed_code_cells(nb) == ["parameters+1"]
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    after = code[
        code.index(
            next(
                c
                for c in code
                if c.get("outputs") and any(o.get("output_type") == "error" for o in c["outputs"])
            )
        )
        + 1 :
    ]
    assert all(c.get("execution_count") is None for c in after)  # nothing after it ran


def test_runs_from_different_hosts_stop_03_with_one_line(tmp_path: Path) -> None:
    run = params.sample_runs()[0]
    other = tmp_path / "other"
    shutil.copytree(run, other)
    meta = json.loads((other / "run.json").read_text())
    meta["host"]["kernel"] = "0.0-elsewhere"
    (other / "run.json").write_text(json.dumps(meta))
    with pytest.raises(PapermillExecutionError) as caught:
        execute("03-compare-runs.ipynb", tmp_path / "03.ipynb", run_a=str(run), run_b=str(other))
    assert caught.value.ename == "CompareError"
    assert "recorded on different hosts (kernel: " in caught.value.evalue
    assert "'0.0-elsewhere'" in caught.value.evalue


# -- the one-command report --------------------------------------------------------------


def test_report_collects_analyses_and_writes_the_report_folder(tmp_path: Path) -> None:
    needs_root()
    reports = tmp_path / "reports"
    made = report.make_report(
        {
            "clients": "oci",
            "runtimes": "runc,crun",
            "trials": 2,
            "warmup": 0,
            "out_dir": str(tmp_path / "run"),
            "allow_concurrent": True,
        },
        reports_dir=reports,
        say=lambda _: None,
        extras={},  # the extra runs' own path: tests/unit/test_report_extras.py
    )
    run_id = json.loads((tmp_path / "run" / "run.json").read_text())["run_id"]
    assert made.report_dir == reports / run_id
    for name in (
        "01-collect.ipynb",
        "02-analyze.ipynb",
        "report.html",
        "summary.csv",
        "comparisons.csv",
        "run.json",
    ):
        assert (made.report_dir / name).is_file(), name
    pngs = list((made.report_dir / "figures").glob("*.png"))
    assert pngs
    page = made.html.read_text()
    embedded = re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)
    assert len(embedded) == len(pngs)
    assert "No description has been provided for this image" not in page
    for heading in (
        'id="headline"',
        "Against the known study",
        "Summary per target and step",
        "Warnings",
        "What went wrong",
        "pairwise comparisons",
        "findings",
    ):
        assert heading in page
    assert "params.analyze_params" not in page  # code hidden
    assert f'href="./{run_id}/report.html"' in (reports / "index.html").read_text()
    assert not list(reports.glob(".incoming-*"))
