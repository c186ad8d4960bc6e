"""Experiments pull and cri-pull (issue 33): how much of a cold start is the pull, and how
time to running grows with the image's size. Pure statistics on the tidy trials frame.

The trial is the unit. Per trial, ``to_running_s`` is the sum of the experiment's total
steps (experiments.py: pull + create + start, the CRI's pod_run too) when every one of
them succeeded, and ``share`` the pull's part of it. Per unit (client, runtime, network,
size, compression, cache):

- the share's median over trials, with the distribution-free order-statistic interval
  of that median (stats.median_ci, as every median in rtlab's tables); time to running's
  and the pull's medians the same way;
- per (client, runtime, network, compression, cache) the slope of time to running over
  the image's size, in ms per MB: within each round (every size of a target is
  interleaved in one round, so a round is one trial of the whole size grid) the
  least-squares slope over the sizes, then the mean of the rounds' slopes with its
  t-interval across rounds (density_stats.across_trials: the rounds' slopes, never their
  pooled points, which share rounds and are not independent);
- per (client, runtime, network, size, cache) zstd against gzip, paired by round (the
  two compressions are units of one target, interleaved in every round): the
  Hodges–Lehmann estimate of the per-round log ratio zstd / gzip with the inversion CI
  of its signed-rank test and its p (analysis/shift.py's ``paired_test``, the
  estimator ``rtlab compare`` uses for targets measured in the same rounds), for the
  pull and for time to running (:func:`compression_pairs`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rtlab.analysis import density_stats as ds
from rtlab.analysis import shift, stats
from rtlab.analysis.summary import CONFIDENCE
from rtlab.core import experiments

EXPERIMENTS = ("pull", "cri-pull")
MB = 1e6
UNIT = ["client", "runtime", "network", "compression", "cache", "image_size_bytes"]
TRIAL = [*UNIT, "run_id", "round", "trial"]


def trials_of(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per measured trial of the pull experiments: ``pull_s``, ``to_running_s``
    (NaN when a total step failed or is missing), ``share`` (pull / to running),
    ``pull_lo_bytes``."""
    use = frame[frame["experiment"].isin(EXPERIMENTS) & ~frame["warmup"].astype(bool)].copy()
    if use.empty:
        return pd.DataFrame(columns=[*TRIAL, "experiment", "pull_s", "to_running_s", "share"])
    for col in ("network", "compression", "cache"):
        use[col] = use[col].fillna("").astype(str) if col in use else ""
    rows = []
    for keys, g in use.groupby([*TRIAL, "experiment"], sort=True, dropna=False):
        total = experiments.get(str(keys[-1])).total
        by_step = {s: r for s, r in zip(g["step"], g.itertuples(index=False))}
        ok = all(s in by_step and bool(by_step[s].ok) for s in total)
        pull = by_step.get("pull")
        pull_s = float(pull.wall_s) if pull is not None and bool(pull.ok) else np.nan
        to_running = float(sum(by_step[s].wall_s for s in total)) if ok else np.nan
        lo = getattr(pull, "pull_lo_bytes", None) if pull is not None else None
        rows.append(
            {
                **dict(zip([*TRIAL, "experiment"], keys)),
                "pull_s": pull_s,
                "to_running_s": to_running,
                "share": pull_s / to_running if ok else np.nan,
                "pull_lo_bytes": float(lo) if lo is not None and not pd.isna(lo) else np.nan,
            }
        )
    out = pd.DataFrame(rows)
    out["image_size_bytes"] = pd.to_numeric(out["image_size_bytes"], errors="coerce")
    return out


def _median(values) -> tuple[float, float, float]:
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if not len(x):
        return np.nan, np.nan, np.nan
    ci = stats.median_ci(x)
    return float(np.median(x)), ci.low, ci.high


def shares(trials: pd.DataFrame) -> pd.DataFrame:
    """Per unit: trials (complete / all), the pull's share of time to running (median and
    its CI), time to running and the pull (medians and CIs, seconds), loopback bytes."""
    rows = []
    for keys, g in trials.groupby(UNIT, sort=True, dropna=False):
        share, s_lo, s_hi = _median(g["share"])
        run, r_lo, r_hi = _median(g["to_running_s"])
        pull, p_lo, p_hi = _median(g["pull_s"])
        rows.append(
            {
                **dict(zip(UNIT, keys)),
                "trials": len(g),
                "complete": int(g["to_running_s"].notna().sum()),
                "share": share,
                "share_low": s_lo,
                "share_high": s_hi,
                "to_running_s": run,
                "to_running_low": r_lo,
                "to_running_high": r_hi,
                "pull_s": pull,
                "pull_low": p_lo,
                "pull_high": p_hi,
                "pull_lo_bytes": float(np.nanmedian(g["pull_lo_bytes"]))
                if g["pull_lo_bytes"].notna().any()
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


def size_slopes(trials: pd.DataFrame) -> pd.DataFrame:
    """Per (client, runtime, network, compression, cache): ms of time to running per MB of
    image, the mean of the rounds' least-squares slopes with its t-interval
    (density_stats.across_trials: status and note say when there is no interval)."""
    keys = ["client", "runtime", "network", "compression", "cache"]
    use = trials[trials["to_running_s"].notna()].copy()
    if use.empty:
        return pd.DataFrame(columns=[*keys, *ds.SLOPE_COLUMNS, "sizes"])
    use["mb"] = use["image_size_bytes"] / MB
    use["ms"] = use["to_running_s"] * 1e3
    per_round = ds.grouped_ols(use, [*keys, "run_id", "round"], "mb", "ms")
    rows = []
    for k, g in per_round.groupby(keys, sort=True, dropna=False):
        sizes = sorted(use.loc[(use[keys] == pd.Series(k, index=keys)).all(axis=1), "mb"].unique())
        rows.append(
            {
                **dict(zip(keys, k)),
                **ds.across_trials(g["slope"]),
                "sizes": ",".join(f"{s:g}" for s in sizes),
            }
        )
    return pd.DataFrame(rows)


PAIR = ["client", "runtime", "network", "image_size_bytes", "cache"]
MEASURES = {"pull": "pull_s", "to running": "to_running_s"}
COMPRESSION_COLUMNS = [
    *PAIR, "measure", "rounds", "gzip_s", "zstd_s", "ratio", "ratio_low", "ratio_high", "p", "note",
]  # fmt: skip


def compression_pairs(trials: pd.DataFrame, *, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """zstd against gzip per (client, runtime, network, size, cache) and measure (the pull,
    time to running), paired by round: ``ratio`` = zstd / gzip, the Hodges–Lehmann
    estimate of the per-round log ratios with its signed-rank inversion CI (``ratio_low``,
    ``ratio_high``) and ``p``; ``rounds`` the rounds where both compressions have a value
    (the medians ``gzip_s``, ``zstd_s`` are over those rounds). A group with no such round
    (e.g. docker, which cannot pull zstd) keeps its row, with ``note`` saying why."""
    rows = []
    use = trials[trials["compression"].isin(["gzip", "zstd"])]
    for keys, g in use.groupby(PAIR, sort=True, dropna=False):
        if set(g["compression"]) != {"gzip", "zstd"}:
            continue  # only one compression measured: nothing to compare
        for measure, col in MEASURES.items():
            wide = g.pivot_table(
                index=["run_id", "round"], columns="compression", values=col, aggfunc="median"
            ).reindex(columns=["gzip", "zstd"])
            both = wide[(wide > 0).all(axis=1)]
            row = {**dict(zip(PAIR, keys)), "measure": measure, "rounds": len(both)}
            if both.empty:
                failed = [c for c in ("gzip", "zstd") if not (wide[c] > 0).any()]
                why = f"no {' or '.join(failed)} trial completed" if failed else "no round has both"
                rows.append(row | {"note": why})
                continue
            d = np.log(both["zstd"].to_numpy()) - np.log(both["gzip"].to_numpy())
            (found,), p = shift.paired_test(d, confidence)
            rows.append(
                row
                | {
                    "gzip_s": float(both["gzip"].median()),
                    "zstd_s": float(both["zstd"].median()),
                    "ratio": float(np.exp(found.estimate)),
                    "ratio_low": float(np.exp(found.low)),
                    "ratio_high": float(np.exp(found.high)),
                    "p": p,
                    "note": "" if np.isfinite(found.low) else "no CI: too few rounds",
                }
            )
    return pd.DataFrame(rows, columns=COMPRESSION_COLUMNS)
