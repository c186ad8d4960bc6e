"""The hosts view (issue 34): a self-contained page of what differs between two hosts,
the unpaired table and one figure row per host, every string from a run escaped."""

from __future__ import annotations

import json
from pathlib import Path

from rtlab import cli
from tests.unit.test_hosts import SAMPLE, other_host

HOSTILE = "<script>alert(1)</script>&<nil>"


def test_compare_across_hosts_writes_the_page_escaped(tmp_path: Path, capsys) -> None:
    b = other_host(SAMPLE, tmp_path / "b", factor=1.3, kernel=HOSTILE)
    meta = json.loads((b / "run.json").read_text())
    meta["host"]["hostname"] = HOSTILE
    (b / "run.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    assert cli.main(["compare", str(SAMPLE), str(b), "--across-hosts", "--out", str(out)]) == 0
    page = Path(capsys.readouterr().out.splitlines()[-1])
    assert page == out / "hosts.html" and (out / "hosts.png").stat().st_size > 10_000
    html = page.read_text()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&lt;nil&gt;" in html
    assert "default-src 'none'" in html and 'src="data:image/png;base64,' in html
    assert "unpaired" in html and "What differs between the hosts" in html
    assert html.count("<tr>") > 10
