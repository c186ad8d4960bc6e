"""rtlab.report.report: records handed back by notebooks, the kernel check, HTML export, the index."""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from rtlab.report import report

# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5e3a7c20000000049454e44ae426082"
    )
).decode()


def notebook_with_outputs() -> nbformat.NotebookNode:
    code = new_code_cell("secret_source_line = 1\nrecord(run_dir='x')")
    code.outputs = [
        new_output(
            "display_data",
            data={"text/plain": "run_dir: x", report.RECORD_MIME: {"run_dir": "/data/x", "n": 1}},
        ),
        new_output("display_data", data={"image/png": PNG, "text/plain": "<Image>"}),
        new_output("display_data", data={"text/plain": "n: 2", report.RECORD_MIME: {"n": 2}}),
    ]
    return new_notebook(
        cells=[new_markdown_cell("# A heading"), code],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )


def test_read_records_collects_every_record_later_ones_winning() -> None:
    assert report.read_records(notebook_with_outputs()) == {"run_dir": "/data/x", "n": 2}
    assert report.read_records(new_notebook()) == {}


def test_records_survive_writing_and_reading_the_notebook(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook_with_outputs(), str(path))
    assert report.read_records(nbformat.read(str(path), as_version=4))["run_dir"] == "/data/x"


def test_html_hides_code_and_embeds_images(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook_with_outputs(), str(path))
    page = report.export_html(path, tmp_path / "report.html", "rtlab report test").read_text()
    assert "secret_source_line" not in page
    assert "A heading" in page
    assert f"data:image/png;base64,{PNG}" in page
    assert "<title>rtlab report test</title>" in page


def test_html_runs_no_script_and_loads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    nb = notebook_with_outputs()
    nb.cells[0].metadata["tags"] = [report.HIDE_TAG]
    nbformat.write(nb, str(path))
    page = report.export_html(path, tmp_path / "report.html", "<b>t</b> & co").read_text()
    assert "A heading" not in page  # the notebook's own introduction is left out
    assert "<title>&lt;b&gt;t&lt;/b&gt; &amp; co</title>" in page
    assert "<script src=" not in page and "mathjax" not in page.lower()
    assert "require.js" not in page and "cdnjs" not in page and "unpkg" not in page
    assert not re.search(
        r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", page, re.I
    )
    assert f'content="{report.CSP}"' in page and "script-src" not in report.CSP
    assert "default-src 'none'" in report.CSP


def test_index_escapes_what_it_shows_and_keeps_links_relative(tmp_path: Path) -> None:
    fake_report(tmp_path, "javascript:alert(1)", "<i>x</i>")
    page = report.write_index(tmp_path).read_text()
    assert 'href="./javascript:alert(1)/report.html"' in page
    assert "&lt;i&gt;x&lt;/i&gt;" in page and "<i>x</i>" not in page
    assert f'content="{report.CSP}"' in page


def test_report_folder_names() -> None:
    assert report.report_folder_name([{"run_id": "r1"}]) == "r1"
    assert report.report_folder_name([{"run_id": "r1"}, {"run_id": "r2"}]) == "r1+1-more"
    assert report.report_folder_name([{"run_id": "../a/b"}]) == "_a_b"


def test_the_python3_kernel_is_this_interpreter() -> None:
    # scripts/bootstrap.sh installs it into the venv; jupyter_client runs sys.executable
    # for a kernelspec whose command is a bare "python".
    assert Path(report.check_kernel()).resolve() == Path(sys.executable).resolve()


def test_a_kernel_running_another_python_is_refused(tmp_path: Path, monkeypatch) -> None:
    kernel = tmp_path / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "system python",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    with pytest.raises(report.ReportError, match="runs /usr/bin/python3, not rtlab's Python"):
        report.check_kernel()
    with pytest.raises(report.ReportError, match="no Jupyter kernel named 'nope'"):
        report.check_kernel("nope")


@pytest.mark.notebooks
def test_run_notebook_executes_in_this_python_and_reads_records(tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = new_notebook(
        cells=[
            new_code_cell("import sys\nfrom rtlab.report import report"),
            new_code_cell("answer: int = 1  # help", metadata={"tags": ["parameters"]}),
            new_code_cell(
                "report.record(executable=sys.executable, prefix=sys.prefix, answer=answer)"
            ),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, str(notebooks / "probe.ipynb"))
    done = report.run_notebook(
        "probe.ipynb", tmp_path / "out" / "probe.ipynb", {"answer": 42}, notebooks_dir=notebooks
    )
    found = report.read_records(done)
    assert found["answer"] == 42
    assert Path(found["executable"]).resolve() == Path(sys.executable).resolve()
    assert found["prefix"] == sys.prefix
    assert (tmp_path / "out" / "probe.ipynb").is_file()


@pytest.mark.notebooks
def test_a_failing_cell_stops_with_its_one_line(tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = new_notebook(
        cells=[
            new_code_cell("from rtlab.report import params"),
            new_code_cell(
                'run_dirs: str = "data/sample"  # help', metadata={"tags": ["parameters"]}
            ),
            new_code_cell("params.analyze_params(run_dirs=run_dirs)"),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, str(notebooks / "bad.ipynb"))
    with pytest.raises(report.NotebookStopped) as caught:
        report.run_notebook(
            "bad.ipynb",
            tmp_path / "bad-out.ipynb",
            {"run_dirs": str(tmp_path / "missing")},
            notebooks_dir=notebooks,
        )
    assert caught.value.ename == "ParameterError"
    assert f"run_dirs: '{tmp_path / 'missing'}' does not exist" in str(caught.value)
    assert str(tmp_path / "bad-out.ipynb") in str(caught.value)


def fake_report(reports: Path, run_id: str, started: str) -> None:
    folder = reports / run_id
    folder.mkdir(parents=True)
    (folder / report.REPORT_HTML).write_text("<html></html>")
    (folder / "run.json").write_text(
        json.dumps(
            {
                "run_id": run_id,
                "started_at": started,
                "status": "completed",
                "host": {"hostname": "vm", "kernel": "6.1", "cores": 2, "cgroup_mode": "hybrid"},
                "parameters": {"trials": 20, "study": "all"},
                "targets": [{"label": "oci/runc"}, {"label": "docker/<crun>"}],
            }
        )
    )


def test_index_lists_every_report_newest_first(tmp_path: Path) -> None:
    fake_report(tmp_path, "20261127T100000Z-vm-aaaa", "2026-11-27T10:00:00+00:00")
    fake_report(tmp_path, "20261128T100000Z-vm-bbbb", "2026-11-28T10:00:00+00:00")
    (tmp_path / "failed-20261128T110000Z-cccc").mkdir()  # a failed report: no report.html
    (tmp_path / ".incoming-dddd").mkdir()
    page = report.write_index(tmp_path).read_text()
    newer = page.index('href="./20261128T100000Z-vm-bbbb/report.html"')
    older = page.index('href="./20261127T100000Z-vm-aaaa/report.html"')
    assert newer < older
    assert "2 report(s)" in page
    assert "docker/&lt;crun&gt;" in page  # escaped
    assert "cccc" not in page and "dddd" not in page


@pytest.mark.notebooks
def test_report_from_runs_on_disk_collects_nothing(tmp_path: Path) -> None:
    from rtlab.report import params, views

    runs = params.sample_runs()
    made = report.report_from_runs([runs[0]], reports_dir=tmp_path, say=lambda _: None)
    assert made.report_dir == tmp_path / json.loads((runs[0] / "run.json").read_text())["run_id"]
    page = made.html.read_text()
    metas, _ = params.load_runs([runs[0]])
    assert f"<title>{views.esc(views.report_title(metas))}</title>" in page
    assert (
        page.index('id="headline"')
        < page.index("Against the known study")
        < page.index("Summary per target and step")
        < page.index("Appendix")
    )
    assert "Which client is fastest over runc?" in page
    assert (made.report_dir / "summary.csv").is_file() and (made.report_dir / "run.json").is_file()
    assert not (made.report_dir / report.COLLECT_NB).exists()
    assert made.index.read_text().count('href="./') == 1
    # again: refreshed in place, figures replaced
    (made.report_dir / "figures" / "stale.png").write_bytes(b"")
    again = report.report_from_runs([runs[0]], reports_dir=tmp_path, say=lambda _: None)
    assert again.report_dir == made.report_dir
    assert not (made.report_dir / "figures" / "stale.png").exists()


def test_report_runs_of_no_run_is_one_line_and_collects_nothing(tmp_path: Path, rt_env) -> None:
    from _forked_cli import rtlab_forked as rtlab

    done = rtlab(
        "report",
        "--runs",
        str(tmp_path / "missing"),
        "--reports-dir",
        str(tmp_path / "reports"),
        env=rt_env,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--runs" in done.stderr
    assert "does not exist" in done.stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.notebooks
def test_rtlab_report_runs_prints_the_page_last(tmp_path: Path, rt_env) -> None:
    from tests.conftest import rtlab

    done = rtlab("report", "--runs", "data/sample", "--reports-dir", str(tmp_path), env=rt_env)
    assert done.returncode == 0, done.stderr
    last = Path(done.stdout.strip().splitlines()[-1])
    assert last.name == report.REPORT_HTML and last.is_file() and last.parent.parent == tmp_path
    assert (tmp_path / report.INDEX_HTML).is_file()
