"""The hosts section of the main report (issue 34): runs of several hosts given to notebook
02 are grouped by host, the report's other sections read the first host's runs, and the
hosts section shows one figure row per host, the unpaired table (every row and verdict
labelled unpaired, every CI around its estimate) and what differs, escaped."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from rtlab.analysis import hosts
from rtlab.report import headline, hosts_report, params
from tests.unit.test_hosts import SAMPLE, other_host

HOSTILE = "<img src=x onerror=alert(1)>&<nil>"


def _rename(run: Path, hostname: str) -> Path:
    meta = json.loads((run / "run.json").read_text())
    meta["host"]["hostname"] = hostname
    (run / "run.json").write_text(json.dumps(meta))
    return run


def test_runs_of_two_hosts_get_the_hosts_section(tmp_path: Path) -> None:
    b = _rename(other_host(SAMPLE, tmp_path / "b", factor=1.4, kernel=HOSTILE), HOSTILE)
    html = hosts_report.section_html([[SAMPLE], [b]], tmp_path / "out")
    label_a = hosts.load_hosts([SAMPLE])[0].label
    # every string from a run escaped; both hosts named
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;&amp;&lt;nil&gt;" in html
    assert f"<b>{label_a}</b>" in html and "What differs between the hosts" in html
    assert html.count('src="data:image/png;base64,') == 1  # the figure, one row per host
    table = pd.read_csv(tmp_path / "out" / hosts_report.SECTION_DIR / hosts.HOSTS_FILE)
    tested = table[np.isfinite(table["ratio"])]
    assert len(tested) > 10 and (table["pairing"] == hosts.UNPAIRED_LABEL).all()
    assert ((tested["ci_low"] <= tested["ratio"]) & (tested["ratio"] <= tested["ci_high"])).all()
    assert set(table["host_a"]) == {label_a} and set(table["host_b"]) == {HOSTILE}
    # the shown table: one row per tested row, each verdict labelled unpaired
    shown = hosts_report.across_table(table)
    assert len(shown) == len(table) and shown["verdict"].str.endswith("(unpaired)").all()
    rows = re.findall(r"<table class=\"hosts-across\">.*?</table>", html, re.S)[0]
    assert rows.count("<tr>") == len(table) + 1 and rows.count("(unpaired)") == len(table)
    # each host's own (paired) analysis, on its own
    for d in ("host-a", "host-b"):
        summary = pd.read_csv(tmp_path / "out" / hosts_report.SECTION_DIR / d / "summary.csv")
        assert (summary["ci_low_s"] <= summary["median_s"]).all()
    assert html.count("<details>") == 2


def test_one_host_is_one_line(tmp_path: Path) -> None:
    html = hosts_report.section_html([[SAMPLE]], tmp_path)
    assert html.startswith("<p>One host measured these runs") and html.count("<p>") == 1
    assert not (tmp_path / hosts_report.SECTION_DIR).exists()


def test_report_parameters_group_runs_by_host_and_read_a_gathered_folder(tmp_path: Path) -> None:
    """A folder as `rtlab fleet gather` writes it (OUT/<host>/<run>) is found; the runs
    are grouped by host, and the report's sections get the first host's runs only."""
    gathered = tmp_path / "gathered"
    shutil.copytree(SAMPLE, gathered / "vm" / SAMPLE.name)
    b = _rename(other_host(SAMPLE, gathered / "host-b" / "run-b", factor=1.1), "host-b")
    checked = params.analyze_params(
        run_dirs=str(gathered), alpha=0.05, seed=0, out_dir=str(tmp_path / "out")
    )
    assert len(checked.host_runs) == 2
    assert [len(g) for g in checked.host_runs] == [1, 1]
    assert list(checked.run_dirs) == list(checked.host_runs[0])
    assert b in checked.host_runs[1] or b in checked.host_runs[0]
    metas, _ = params.load_runs(checked.run_dirs)  # the first host's runs merge
    assert len(metas) == 1


def test_the_first_screen_says_whose_answers_these_are(tmp_path: Path) -> None:
    b = _rename(other_host(SAMPLE, tmp_path / "b", factor=1.2), HOSTILE)
    others = hosts_report.other_hosts([[SAMPLE], [b]])
    assert others == [HOSTILE] and hosts_report.other_hosts([[SAMPLE]]) == []
    line = headline._other_hosts_line(others)
    assert "one host's of 2" in line and "<img src=x" not in line
    assert "&lt;img src=x onerror=alert(1)&gt;" in line
    assert headline._other_hosts_line([]) == ""
