"""Where the time goes, in numbers: phases.csv (tracing.py) summarised, and the cost of tracing.

Pure statistics on tidy frames, like stats.py (whose median CI, order statistics,
and ratio CI, seeded bootstrap, are reused); never draws. Warm-up trials are
left out; each phase is summarised over the traced trials that have it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rtlab.analysis import stats
from rtlab.collect import tracing

PHASES_FILE = "phases.csv"


def load_phases(run_dir: Path) -> pd.DataFrame:
    """A run's phases.csv as a typed frame (empty with its columns when the run was not traced)."""
    path = Path(run_dir) / PHASES_FILE
    if not path.exists():
        return pd.DataFrame(columns=list(tracing.PHASE_COLUMNS))
    frame = pd.read_csv(path, keep_default_na=False, na_values={"pace_s": [""]},
                        dtype={"phase": str, "container_id": str})
    frame["warmup"] = frame["warmup"].astype(str).str.lower() == "true"
    return frame


def _order(runtime: str, step: str, names) -> list[str]:
    """Phases in their definition's order, ``unattributed`` last, unknown names after."""
    defined = [name for name, _ in tracing.definitions(runtime, step) or ()]
    rest = sorted(n for n in set(names) if n not in defined and n != tracing.UNATTRIBUTED)
    tail = [tracing.UNATTRIBUTED] if tracing.UNATTRIBUTED in set(names) else []
    return [n for n in defined if n in set(names)] + rest + tail


def phase_summary(phases: pd.DataFrame, *, confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """Per target, step and phase (in order): trials, median phase time with its CI
    (order statistics), and the median's share of the step's median wall time.

    Columns: target, client, runtime, step, order, phase, n, median_s, ci_low_s,
    ci_high_s, step_median_s, share.
    """
    cols = ["target", "client", "runtime", "step", "order", "phase", "n", "median_s",
            "ci_low_s", "ci_high_s", "step_median_s", "share"]
    data = phases[~phases["warmup"]] if len(phases) else phases
    rows = []
    for (client, runtime, step), group in data.groupby(["client", "runtime", "step"], sort=True):
        walls = group.drop_duplicates("container_id")["wall_s"].to_numpy(dtype=float)
        step_median = float(np.median(walls))
        for order, name in enumerate(_order(runtime, step, group["phase"])):
            x = group.loc[group["phase"] == name, "dur_s"].to_numpy(dtype=float)
            ci = stats.median_ci(x, confidence=confidence)
            median = float(np.median(x))
            rows.append({"target": stats.target_label(client, runtime), "client": client,
                         "runtime": runtime, "step": step, "order": order, "phase": name,
                         "n": int(x.size), "median_s": median, "ci_low_s": ci.low,
                         "ci_high_s": ci.high, "step_median_s": step_median,
                         "share": median / step_median if step_median > 0 else np.nan})
    return pd.DataFrame(rows, columns=cols)


def tracing_cost(trials: pd.DataFrame, *, seed: int = 0,
                 confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """The cost of tracing: per client, runtime, pace and step, the median wall time of
    the traced twin against the untraced unit (interleaved in the same rounds), and the
    ratio traced/untraced of the medians with its bootstrap CI.

    Columns: client, runtime, pace_s, step, n_untraced, median_untraced_s, n_traced,
    median_traced_s, ratio, ratio_low, ratio_high.
    """
    cols = ["client", "runtime", "pace_s", "step", "n_untraced", "median_untraced_s",
            "n_traced", "median_traced_s", "ratio", "ratio_low", "ratio_high"]
    if "traced" not in trials.columns:
        return pd.DataFrame(columns=cols)
    ok = trials[~trials["warmup"].astype(bool) & trials["ok"].astype(bool)].copy()
    ok["is_traced"] = ok["traced"].astype(str).str.lower() == "true"
    ok["pace_key"] = ok["pace_s"].fillna(-1.0) if "pace_s" in ok.columns else -1.0
    rows = []
    for (client, runtime, pace, step), group in ok.groupby(
            ["client", "runtime", "pace_key", "step"], sort=True):
        a = group.loc[group["is_traced"], "wall_s"].to_numpy(dtype=float)
        b = group.loc[~group["is_traced"], "wall_s"].to_numpy(dtype=float)
        if not a.size or not b.size:
            continue
        low, high = stats.ratio_ci(a, b, confidence=confidence,
                                   seed=stats.derive_seed(seed, client, runtime, pace, step))
        rows.append({"client": client, "runtime": runtime,
                     "pace_s": None if pace == -1.0 else pace, "step": step,
                     "n_untraced": int(b.size), "median_untraced_s": float(np.median(b)),
                     "n_traced": int(a.size), "median_traced_s": float(np.median(a)),
                     "ratio": float(np.median(a) / np.median(b)), "ratio_low": low,
                     "ratio_high": high})
    return pd.DataFrame(rows, columns=cols)
