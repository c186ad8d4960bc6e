"""Several paces in one run: the main analysis at one pace, the pace analysis beside it,
every table and finding naming the pace; compare refuses runs at different paces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from _forked_cli import rtlab_forked as rtlab

from rtlab.analysis import analysis, compare
from rtlab.core.options import DEFAULT_PACE_S
from rtlab.report import views
from tests.unit._synthetic import make_trials

REPO = Path(__file__).resolve().parents[2]


def paced(paces_and_scale: dict[float, float]) -> pd.DataFrame:
    """The synthetic study at each pace; runsc's times scaled by the pace's factor."""
    frames = []
    for i, (pace, crun_scale) in enumerate(paces_and_scale.items()):
        t = make_trials(n_trials=12, n_warmup=0, seed=i).assign(pace_s=pace)
        runsc = t["runtime"] == "runsc"
        t.loc[runsc, "wall_s"] *= crun_scale
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def test_several_paces_analyse_at_the_default_pace_and_say_what_flips(tmp_path):
    trials = paced({0.0: 0.3, DEFAULT_PACE_S: 1.0, 1.0: 1.0})
    result = analysis.analyze(trials, tmp_path, seed=0)
    assert result.paces == [0.0, DEFAULT_PACE_S, 1.0] and result.pace_s == DEFAULT_PACE_S
    assert set(result.trials["pace_s"]) == {DEFAULT_PACE_S}
    assert (result.summary["pace_s"] == DEFAULT_PACE_S).all()
    assert (pd.read_csv(tmp_path / "comparisons.csv")["pace_s"] == DEFAULT_PACE_S).all()
    assert set(pd.read_csv(tmp_path / "paces.csv")["pace_s"]) == {0.0, DEFAULT_PACE_S, 1.0}
    assert any(f.name == "pace_total.png" for f in result.figures)
    flips = [f for f in result.findings if "flips with the pace" in f]
    # runsc is 3.3x faster at pace 0 only: its verdict against runc flips
    assert any(
        f.startswith("runc vs runsc through docker, total: flips")
        and "runc slower at 0" in f
        and "runc faster at 100 ms and 1 s" in f
        for f in flips
    ), flips
    holds = [f for f in result.findings if "at every pace" in f]
    assert any(
        f.startswith("ctr vs docker on runc, total: ctr faster at every pace") for f in holds
    ), holds
    assert all(
        "(at pace 100 ms)" in f
        for f in result.findings
        if "flips" not in f and "every pace" not in f
    )
    html = views.pace_section(result).data
    assert "conclusions flip with the pace" in html and "data:image/png;base64," in html


def test_one_pace_is_named_and_no_pace_analysis_is_made(tmp_path):
    result = analysis.analyze(paced({0.0: 1.0}), tmp_path, seed=0)
    assert result.pace_s == 0.0 and result.pace_comparisons is None
    assert not (tmp_path / "paces.csv").exists()
    assert "0 of idle host" in views.pace_section(result).data


def test_rows_with_and_without_a_pace_are_never_pooled(tmp_path):
    trials = paced({0.0: 1.0})
    trials.loc[trials.index[:10], "pace_s"] = float("nan")
    with pytest.raises(ValueError, match="never merged silently"):
        analysis.analyze(trials, tmp_path)


def _copy_run(src: Path, dst: Path, pace: float) -> Path:
    shutil.copytree(src, dst)
    trials = pd.read_csv(dst / "trials.csv").assign(pace_s=pace)
    trials.to_csv(dst / "trials.csv", index=False)
    meta = json.loads((dst / "run.json").read_text())
    meta["parameters"]["paces"] = [pace]
    (dst / "run.json").write_text(json.dumps(meta))
    return dst


def test_compare_refuses_runs_at_different_paces_naming_both(tmp_path):
    a = _copy_run(REPO / "data/sample/run-1", tmp_path / "a", 0.0)
    b = _copy_run(REPO / "data/sample/run-2", tmp_path / "b", 0.1)
    with pytest.raises(compare.CompareError, match="different paces"):
        compare.compare_runs(a, b)
    out = rtlab("compare", str(a), str(b))
    assert out.returncode == 2
    line = out.stderr.strip()
    assert "\n" not in line and str(a) in line and str(b) in line and "100 ms" in line
