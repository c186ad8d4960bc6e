"""`rtlab setup --runtime NAME=/PATH` makes docker/NAME and ctr/NAME measurable."""

from __future__ import annotations

import csv
import shutil

from tests.conftest import rtlab
from tests.integration.conftest import oci_leftovers


def test_a_registered_custom_runtime_is_measured_through_docker_and_ctr(tmp_path):
    spec = f"rtlab-myrunc={shutil.which('runc')}"
    out = rtlab("setup", "--runtime", spec, timeout=600)
    assert out.returncode == 0, out.stderr
    run = tmp_path / "run"
    out = rtlab(
        "collect",
        "--clients",
        "docker,ctr",
        "--runtime",
        spec,
        "--runtimes",
        "rtlab-myrunc",
        "--trials",
        "2",
        "--warmup",
        "0",
        "--out",
        str(run),
        "--no-progress",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    with (run / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    targets = {(r["client"], r["runtime"]) for r in rows}
    assert targets == {("docker", "rtlab-myrunc"), ("ctr", "rtlab-myrunc")}
    assert rows and all(r["ok"] == "true" for r in rows), [
        r["error"] for r in rows if r["ok"] != "true"
    ]
    assert oci_leftovers() == []


def test_setup_runtime_refuses_a_bad_spec_in_one_line():
    out = rtlab("setup", "--runtime", "myrunc=relative/runc", timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "absolute path" in out.stderr
