"""Must-show 1 of issue 34 on the committed runs of data/two-hosts/: this host measured by
``rtlab collect`` directly and by make image's image run as a privileged container under
``podman --cpus=1`` (README, "On a Kubernetes cluster"), the same targets (oci, ctr and
cri over runc and crun), analysed together: each host's own answers and the unpaired
table across them, read as properties (no figure of the runs is written here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rtlab.analysis import hosts
from rtlab.report import hosts_report, params
from rtlab.report.html import esc

TWO_HOSTS = "data/two-hosts"
CLIENTS = {"oci", "ctr", "cri"}


@pytest.fixture(scope="module")
def runs():
    found = params.find_runs(TWO_HOSTS, "two hosts")
    assert len(found) == 2
    return found


@pytest.fixture(scope="module")
def done(runs, tmp_path_factory):
    found = hosts.load_hosts(runs)
    return hosts.analyze_hosts(found, tmp_path_factory.mktemp("two-hosts"))


def test_the_two_runs_are_two_hosts_one_in_the_image_with_a_cpu_limit(runs) -> None:
    groups = params.host_groups(runs)
    assert [len(g) for g in groups] == [1, 1]
    found = hosts.load_hosts(runs)
    images = [h.metas[0]["host"]["container"].get("image") for h in found]
    limits = [h.metas[0]["host"]["container"].get("cpu_limit") for h in found]
    assert images[0] is None and images[1] and images[1].startswith("localhost/rtlab/rtlab:")
    assert limits[0] is None and limits[1] == pytest.approx(1.0)
    assert found[1].label.endswith(f"(in {images[1].rsplit('/', 1)[-1]})")
    # the same host measured: its identity but the image is the same
    a, b = (h.metas[0]["host"] for h in found)
    assert {k: a[k] for k in ("hostname", "kernel", "cpu_model", "cores", "cgroup_mode")} == {
        k: b[k] for k in ("hostname", "kernel", "cpu_model", "cores", "cgroup_mode")
    }
    for h in found:  # the same study and targets, every trial ok
        assert set(h.trials["client"]) == CLIENTS
        assert set(h.trials["runtime"]) == {"runc", "crun"}
        assert h.trials["ok"].astype(bool).all()
    differ = hosts.differences(found)
    assert {"image", "cpu_limit"} <= set(differ.loc[differ["differs"], "fact"])


def test_each_host_answers_paired_within_itself(done) -> None:
    for h, result in zip(done.hosts, done.per_host):
        summary = result.summary
        measured = summary[summary["n"] > 0]
        assert {c.split("-")[0] for c in measured["client"]} == CLIENTS, h.label
        ok = measured["ci_low_s"].notna()
        assert ok.mean() > 0.9
        inside = (measured["ci_low_s"] <= measured["median_s"]) & (
            measured["median_s"] <= measured["ci_high_s"]
        )
        assert inside[ok].all(), h.label
        paired = result.comparisons
        assert len(paired) and paired["method"].str.startswith("paired over").all()


def test_the_cross_host_rows_are_unpaired_with_cis_around_their_estimates(done) -> None:
    table = done.across
    a, b = (h.label for h in done.hosts)
    assert set(table["host_a"]) == {a} and set(table["host_b"]) == {b}
    assert (table["pairing"] == hosts.UNPAIRED_LABEL).all()
    assert set(table["client"]) == CLIENTS
    tested = table[np.isfinite(table["ratio"])]
    assert len(tested) == len(table) and len(tested) >= 30
    assert ((tested["ci_low"] <= tested["ratio"]) & (tested["ratio"] <= tested["ci_high"])).all()
    assert ((tested["p_adj"] >= tested["p"]) & (tested["p_adj"] <= 1)).all()
    words = ("slower on ", "faster on ", "equivalent within", "no clear difference")
    assert tested["verdict"].map(lambda v: v.startswith(words)).all()
    # a verdict of a difference is one whose CI excludes 1, on the side it says
    slower = tested["verdict"].str.startswith("slower on ")
    faster = tested["verdict"].str.startswith("faster on ")
    assert (tested.loc[slower, "ci_low"] > 1).all() and (tested.loc[faster, "ci_high"] < 1).all()
    shown = hosts_report.across_table(table)
    assert shown["verdict"].str.endswith("(unpaired)").all()


def test_the_report_section_of_the_two_runs(runs, tmp_path) -> None:
    groups = params.host_groups(runs)
    html = hosts_report.section_html(groups, tmp_path)
    found = hosts.load_hosts(runs)
    for h in found:
        assert f"<b>{esc(h.label)}</b>" in html
    across = pd.read_csv(tmp_path / hosts_report.SECTION_DIR / hosts.HOSTS_FILE)
    assert html.count("(unpaired)</td>") == len(across)
    assert "cpu_limit" in html and html.count('src="data:image/png;base64,') == 1
