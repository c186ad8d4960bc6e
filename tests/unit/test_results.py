import json
import shutil

import pytest

from rtlab.core import results
from rtlab.core.results import RunFormatError, TrialWriter, load_runs, load_trials

ROW = dict(
    run_id="r1",
    client="oci",
    runtime="runc",
    round=0,
    trial=0,
    warmup=False,
    step="create",
    wall_s=0.05,
    user_s=0.01,
    sys_s=0.02,
    ok=True,
    exit_code=0,
    error="",
    container_id="c",
)


def make_run(path, host=None, versions=None, rows=(ROW,)):
    path.mkdir()
    meta = {
        "format_version": results.FORMAT_VERSION,
        "run_id": path.name,
        "host": host
        or {"hostname": "h", "kernel": "k", "cpu_model": "c", "cores": 2, "cgroup_mode": "hybrid"},
        "versions": versions or {"runc": "1.1"},
    }
    results.write_meta(path, meta)
    w = TrialWriter(path / "trials.csv")
    w.write_trial([dict(ROW, **r) for r in rows])
    w.close()
    return path


def test_round_trip_types(tmp_path):
    run = make_run(
        tmp_path / "a",
        rows=[
            {},
            {
                "step": "start",
                "ok": False,
                "wall_s": None,
                "exit_code": None,
                "error": "exit 1: boom, with comma",
            },
        ],
    )
    df = load_trials(run)
    assert df.ok.tolist() == [True, False]
    assert df.error.tolist() == ["", "exit 1: boom, with comma"]
    assert df.wall_s.isna().tolist() == [False, True]
    assert str(df.exit_code.dtype) == "Int64"


def test_truncated_last_line_is_reported_and_the_rest_kept(tmp_path):
    run = make_run(tmp_path / "a", rows=[{}, {"step": "start"}])
    with open(run / "trials.csv", "a") as f:
        f.write("r1,oci,runc,0,0,false,kill,0.0")  # the writer was killed mid-row
    with pytest.warns(RuntimeWarning, match=r"trials.csv: line 4 is truncated"):
        df = load_trials(run)
    assert df.step.tolist() == ["create", "start"]


def test_writer_repairs_a_truncated_tail_before_appending(tmp_path):
    run = make_run(tmp_path / "a")
    with open(run / "trials.csv", "a") as f:
        f.write("r1,oci,ru")
    w = TrialWriter(run / "trials.csv")
    w.write_trial([dict(ROW, step="delete")])
    w.close()
    assert load_trials(run).step.tolist() == ["create", "delete"]


def test_merge_refuses_another_host_or_versions(tmp_path):
    a = make_run(tmp_path / "a")
    b = make_run(
        tmp_path / "b",
        host={
            "hostname": "h",
            "kernel": "k2",
            "cpu_model": "c",
            "cores": 2,
            "cgroup_mode": "hybrid",
        },
    )
    c = make_run(tmp_path / "c", versions={"runc": "1.2"})
    with pytest.raises(RunFormatError, match="kernel: 'k' vs 'k2'"):
        load_runs([a, b])
    with pytest.raises(RunFormatError, match="runc: '1.1' vs '1.2'"):
        load_runs([a, c])
    metas, df = load_runs([a, make_run(tmp_path / "d")])
    assert len(metas) == 2 and len(df) == 2


def test_other_format_versions_are_refused(tmp_path):
    run = make_run(tmp_path / "a")
    meta = json.loads((run / "run.json").read_text())
    meta["format_version"] = 99
    (run / "run.json").write_text(json.dumps(meta))
    with pytest.raises(RunFormatError, match="format_version 99; this rtlab reads 1, 2"):
        results.read_meta(run)
    shutil.rmtree(run)
    with pytest.raises(RunFormatError, match="no run.json"):
        results.read_meta(run)
