"""A copy of a sample run whose every free-text field holds markup, script and Markdown:
a report of it must show these strings as text and run nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

SAMPLE_RUN = Path(__file__).resolve().parents[2] / "data" / "sample" / "run-1"


def payload(field: str) -> str:
    """Markup that, if inserted as HTML, sets ``window.__rtlab_pwned`` to ``field``."""
    return (
        f"<img src=x onerror=\"window.__rtlab_pwned='{field}'\">"
        f"<script>window.__rtlab_pwned='{field}'</script>**{field}** [x](javascript:1) "
        "&amp; <nil>"
    )


# what a runtime name from data may look like: markup, Markdown and mathtext
HOSTILE_RUNTIME = "crun<b onmouseover=\"window.__rtlab_pwned='runtime'\">$\\nil{$"
HOSTILE_LABEL = "docker/<svg onload=\"window.__rtlab_pwned='label'\">"


def hostile_run(into: Path) -> Path:
    """A run folder like ``data/sample/run-1`` with hostile strings in every text field."""
    shutil.copytree(SAMPLE_RUN, into)
    meta = json.loads((into / "run.json").read_text())
    run_id = "run-<img src=x onerror=\"window.__rtlab_pwned='run_id'\">"
    meta["run_id"] = run_id
    meta["status"] = payload("status")
    meta["started_at"] = "2026-11-28T00:13:07" + payload("started_at")
    meta["command_line"] = [payload("command_line")]
    meta["rtlab"] = {"version": payload("version"), "git_commit": payload("git_commit")}
    meta["parameters"]["study"] = payload("study")
    meta["parameters"]["workload"]["image"] = payload("image")
    for key in ("hostname", "kernel", "cpu_model", "os", "cpu_governor"):
        meta["host"][key] = payload(key)
    meta["versions"] = {payload("versions-key"): payload("versions-value"), "runc": "<nil>"}
    meta["harness_overhead"]["command"] = [payload("overhead"), "<nil>"]
    for target in meta["targets"]:
        if target["runtime"] == "crun":
            target["runtime"] = HOSTILE_RUNTIME
            target["label"] = f"{target['client']}/{HOSTILE_RUNTIME}"
    meta["unavailable"] = {HOSTILE_LABEL: payload("unavailable"), "oci/youki": "<nil>"}
    meta["dropped"] = {"podman/runsc": payload("dropped")}
    meta["warnings"] = [payload("warnings")]
    (into / "run.json").write_text(json.dumps(meta, indent=2))
    trials = pd.read_csv(into / "trials.csv", dtype=str, keep_default_na=False)
    trials["run_id"] = run_id
    trials.loc[trials["runtime"] == "crun", "runtime"] = HOSTILE_RUNTIME
    failing = trials.index[(trials["warmup"] == "false") & (trials["step"] == "start")][:6]
    for i, row in enumerate(failing):
        trials.loc[row, ["ok", "exit_code", "wall_s"]] = ["false", "1", ""]
        trials.loc[row, "error"] = "<nil>" if i % 2 else payload("error")
    trials.to_csv(into / "trials.csv", index=False)
    return into
