"""Copies of real run folders with a known change, for the comparison tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from rtlab.analysis import stats
from rtlab.core import results


def quietest_step(run_dir: Path) -> tuple[str, str, str]:
    """(client, runtime, step) with the lowest cv in a run: where a 30% slow-down is plainest."""
    _, trials = results.load_run(run_dir)
    summary = stats.summarize(trials)
    measured = summary[(summary["step"] != stats.TOTAL_STEP) & (summary["n"] >= 6)]
    best = measured.sort_values("cv").iloc[0]
    return best["client"], best["runtime"], best["step"]


def slowed_copy(run_dir: Path, into: Path, client: str, runtime: str, step: str) -> Path:
    """A copy of a run folder with one target's step 30% slower (same host, new run id)."""
    shutil.copytree(run_dir, into)
    trials = pd.read_csv(into / "trials.csv", dtype=str, keep_default_na=False)
    where = (trials["client"] == client) & (trials["runtime"] == runtime) & (trials["step"] == step)
    trials.loc[where, "wall_s"] = [
        repr(float(v) * 1.3) if v else v for v in trials.loc[where, "wall_s"]
    ]
    trials.to_csv(into / "trials.csv", index=False)
    meta = json.loads((into / "run.json").read_text())
    meta["run_id"] = meta["run_id"] + "-slowed"
    (into / "run.json").write_text(json.dumps(meta))
    return into
