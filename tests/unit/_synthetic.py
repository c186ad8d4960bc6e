"""Seeded synthetic tidy trials frames for the statistics, plot and analysis tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

Target = tuple[str, str]

# Median wall time (s) per step of a few targets, shaped like the known study.
STUDY_LIKE_MEDIANS_S: dict[Target, dict[str, float]] = {
    ("docker", "runc"): {
        "create": 0.155,
        "start": 0.632,
        "kill": 0.454,
        "delete": 0.070,
        "run": 0.9,
    },
    ("docker", "runsc"): {
        "create": 0.153,
        "start": 0.95,
        "kill": 0.447,
        "delete": 0.070,
        "run": 1.4,
    },
    ("ctr", "runc"): {"create": 0.083, "start": 0.346, "kill": 0.114, "delete": 0.241, "run": 0.5},
    ("podman", "runc"): {
        "create": 0.208,
        "start": 0.470,
        "kill": 0.079,
        "delete": 0.265,
        "run": 0.7,
    },
}


def make_trials(
    medians_s: Mapping[Target, Mapping[str, float]] = STUDY_LIKE_MEDIANS_S,
    *,
    n_trials: int = 20,
    n_warmup: int = 2,
    sigma: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """A tidy trials frame: lognormal wall times around the given medians, all ok."""
    rng = np.random.default_rng(seed)
    rows = []
    for trial in range(1, n_warmup + n_trials + 1):
        for (client, runtime), steps in medians_s.items():
            for step, median_s in steps.items():
                rows.append(
                    {
                        "run_id": "20261127T231500Z-test-beef",
                        "experiment": "lifecycle",
                        "client": client,
                        "runtime": runtime,
                        "round": trial,
                        "trial": trial,
                        "warmup": trial <= n_warmup,
                        "step": step,
                        "wall_s": median_s * float(rng.lognormal(0.0, sigma)),
                        "user_s": 0.001,
                        "sys_s": 0.002,
                        "ok": True,
                        "exit_code": 0,
                        "error": "",
                    }
                )
    frame = pd.DataFrame(rows)
    frame["exit_code"] = frame["exit_code"].astype("Int64")
    return frame


def fail(trials: pd.DataFrame, *, client: str, runtime: str, trial: int, step: str) -> pd.DataFrame:
    """A copy of ``trials`` where one step of one trial failed (no wall time)."""
    failed = trials.copy()
    where = (
        (failed["client"] == client)
        & (failed["runtime"] == runtime)
        & (failed["trial"] == trial)
        & (failed["step"] == step)
    )
    failed.loc[where, ["wall_s"]] = np.nan
    failed.loc[where, "ok"] = False
    failed.loc[where, "exit_code"] = 1
    failed.loc[where, "error"] = "synthetic failure"
    return failed


def two_targets(
    a_s: np.ndarray, b_s: np.ndarray, *, client: str = "oci", step: str = "run"
) -> pd.DataFrame:
    """A tidy frame with one step of runtimes ``a`` and ``b`` through one client."""
    rows = [
        {
            "run_id": "r",
            "client": client,
            "runtime": name,
            "round": i,
            "trial": i,
            "warmup": False,
            "step": step,
            "wall_s": float(x),
            "user_s": 0.0,
            "sys_s": 0.0,
            "ok": True,
            "exit_code": 0,
            "error": "",
        }
        for name, values in (("a", a_s), ("b", b_s))
        for i, x in enumerate(values, start=1)
    ]
    return pd.DataFrame(rows)
