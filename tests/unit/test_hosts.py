"""Hosts as a factor (issue 34): runs of two hosts compared unpaired per target and step,
and what differs between the hosts."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rtlab import cli
from rtlab.analysis import hosts

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "run-1"


def other_host(src: Path, dest: Path, *, factor: float, kernel: str = "6.1.0-99") -> Path:
    """A copy of a run as if measured on another host whose every time is ``factor`` x."""
    shutil.copytree(src, dest)
    meta = json.loads((dest / "run.json").read_text())
    meta["host"]["hostname"] = "host-b"
    meta["host"]["kernel"] = kernel
    (dest / "run.json").write_text(json.dumps(meta))
    with (dest / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if r["wall_s"]:
            r["wall_s"] = repr(float(r["wall_s"]) * factor)
    with (dest / "trials.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return dest


def test_a_host_slower_by_a_known_factor_is_found_unpaired(tmp_path: Path) -> None:
    b = other_host(SAMPLE, tmp_path / "b", factor=1.5)
    table, diffs = hosts.compare_hosts(SAMPLE, b, out_dir=tmp_path / "out")
    assert (table["pairing"] == hosts.UNPAIRED_LABEL).all()
    tested = table[np.isfinite(table["ratio"])]
    assert len(tested) > 10
    # the same samples scaled: the Hodges-Lehmann ratio is the factor, inside its CI
    assert np.allclose(tested["ratio"], 1.5, rtol=1e-9)
    assert ((tested["ci_low"] <= 1.5) & (1.5 <= tested["ci_high"])).all()
    slower = tested["verdict"].str.startswith("slower on host-b")
    assert slower.mean() > 0.8 and not tested["verdict"].str.startswith("faster").any()
    assert (tested.loc[~slower, "ci_low"] <= 1).all()  # the others: their CI reaches 1
    facts = dict(zip(diffs["fact"], diffs["differs"]))
    assert facts["kernel"] and facts["hostname"] and not facts.get("cpu_model", False)
    for name in (
        hosts.HOSTS_FILE,
        hosts.DIFFERENCES_FILE,
        "host-a/summary.csv",
        "host-b/comparisons.csv",
    ):
        assert (tmp_path / "out" / name).is_file()


def test_the_same_host_is_refused_and_a_plain_compare_names_the_flag(
    tmp_path: Path, capsys
) -> None:
    with pytest.raises(hosts.HostsError, match="same host"):
        hosts.compare_hosts(SAMPLE, SAMPLE)
    b = other_host(SAMPLE, tmp_path / "b", factor=1.0)
    assert cli.main(["compare", str(SAMPLE), str(b)]) == 2
    assert "--across-hosts" in capsys.readouterr().err
    assert cli.main(["compare", str(SAMPLE), str(b), "--across-hosts"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("across hosts (unpaired") and "differs: kernel" in said
    # the same samples: every ratio 1, no verdict of a difference
    assert "B/A 1.000" in said and "slower on" not in said and "faster on" not in said


def test_hosts_group_by_identity_and_image(tmp_path: Path) -> None:
    b = other_host(
        SAMPLE,
        tmp_path / "b",
        factor=1.0,
        kernel=json.loads((SAMPLE / "run.json").read_text())["host"]["kernel"],
    )
    meta = json.loads((b / "run.json").read_text())
    meta["host"]["hostname"] = json.loads((SAMPLE / "run.json").read_text())["host"]["hostname"]
    meta["host"]["container"] = {
        "in_container": True,
        "image": "localhost/rtlab/rtlab:abc",
        "cpu_limit": 1.0,
    }
    (b / "run.json").write_text(json.dumps(meta))
    found = hosts.load_hosts([SAMPLE, b])
    assert len(found) == 2 and found[1].label.endswith("(in rtlab:abc)")
    diffs = hosts.differences(found)
    assert set(diffs.loc[diffs["differs"], "fact"]) == {"image", "cpu_limit", "in_container"}
