"""Statistics of experiment density (issue 22): marginal memory per container and the
interference slope, each a Theil–Sen slope over N with its confidence interval.

Theil–Sen (``scipy.stats.theilslopes``): the slope is the median of the pairwise
slopes between points at different N, robust to a minority of wild readings (a
neighbour's allocation moving MemAvailable); its interval is Sen's, from the
ranks of those pairwise slopes (a (1 − α) interval for the same median). Every
trial's reading at every level is a point; warm-up trials and failed rows are
left out. Never draws.

- :func:`memory_slopes`: per (client, runtime, method), MB per container (``mb``)
  with ``low``/``high``, the number of points and the levels.
- :func:`disagreement`: per target, the methods' slopes side by side, with the
  largest over the smallest (``spread``): shown, not hidden.
- :func:`interference_slopes`: per (client, runtime, step), ms of ``start`` (and of
  ``create``, and the two summed as ``total``) per running container.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from rtlab.collect.density import METHODS
from rtlab.core.options import DEFAULT_ALPHA

MB = 1e6
MIN_POINTS_CI = 3  # fewer points: the slope without an interval (low/high NaN)


def theil_sen(x, y, alpha: float = DEFAULT_ALPHA) -> dict:
    """Slope, its (1 − alpha) CI and intercept; NaN where fewer than two distinct x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or len(np.unique(x)) < 2:
        return {
            "slope": np.nan,
            "low": np.nan,
            "high": np.nan,
            "intercept": np.nan,
            "points": len(x),
        }
    with np.errstate(invalid="ignore"):  # all-equal y: Sen's variance is 0 − ties (NaN CI)
        res = sps.theilslopes(y, x, alpha=1 - alpha)
    # Sen's interval from two points is the one pairwise slope: no interval at all
    ci = (float(res[2]), float(res[3])) if len(x) >= MIN_POINTS_CI else (np.nan, np.nan)
    return {
        "slope": float(res[0]),
        "low": ci[0],
        "high": ci[1],
        "intercept": float(res[1]),
        "points": len(x),
    }


def load(run_dir: str | Path) -> pd.DataFrame:
    """density.csv of one run, typed."""
    df = pd.read_csv(
        Path(run_dir) / "density.csv",
        keep_default_na=False,
        dtype={"client": str, "runtime": str, "method": str, "error": str, "daemons": str},
    )
    if "daemons" not in df:  # written before the daemons were named per client: then
        df["daemons"] = "every dockerd and containerd"  # every one on the host, any client
    for col in ("ok", "warmup"):
        df[col] = df[col].astype(str).str.lower().eq("true")
    for col in ("n", "bytes", "daemons_bytes"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def memory_slopes(density: pd.DataFrame, alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """MB per container with its CI, per (client, runtime, method)."""
    use = density[density.ok & ~density.warmup & density.bytes.notna()]
    out = []
    for (client, runtime, method), g in use.groupby(["client", "runtime", "method"], sort=True):
        fit = theil_sen(g.n, g.bytes / MB, alpha)
        d = g[g.daemons_bytes.notna()]
        out.append(
            {
                "client": client,
                "runtime": runtime,
                "method": method,
                "mb": fit["slope"],
                "low": fit["low"],
                "high": fit["high"],
                "points": fit["points"],
                "levels": ",".join(map(str, sorted(set(g.n.astype(int))))),
                "daemons": "; ".join(sorted({x for x in g.get("daemons", []) if x})),
                "daemons_mb": theil_sen(d.n, d.daemons_bytes / MB, alpha)["slope"],
            }
        )
    cols = [
        "client",
        "runtime",
        "method",
        "mb",
        "low",
        "high",
        "points",
        "levels",
        "daemons",
        "daemons_mb",
    ]
    frame = pd.DataFrame(out, columns=cols)
    order = {m: i for i, m in enumerate(METHODS)}
    return frame.sort_values(
        ["client", "runtime", "method"],
        key=lambda s: s.map(order) if s.name == "method" else s,
        ignore_index=True,
    )


def disagreement(slopes: pd.DataFrame) -> pd.DataFrame:
    """Per target: each method's MB per container side by side and ``spread``, the
    largest over the smallest positive slope (NaN when fewer than two are positive)."""
    wide = slopes.pivot_table(
        index=["client", "runtime"], columns="method", values="mb", aggfunc="first"
    ).reindex(columns=list(METHODS))

    def spread(row):
        pos = [v for v in row.values if pd.notna(v) and v > 0]
        return max(pos) / min(pos) if len(pos) >= 2 else np.nan

    wide["spread"] = wide.apply(spread, axis=1)
    return wide.reset_index()


def interference_slopes(trials: pd.DataFrame, alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """ms per running container of create, start and their sum (``total``), per target."""
    df = trials[(trials.experiment == "density") & ~trials.warmup & trials.ok].copy()
    df["n"] = pd.to_numeric(df["n"], errors="coerce")
    df = df[df.n.notna()]
    per = df.pivot_table(
        index=["client", "runtime", "trial", "n"], columns="step", values="wall_s", aggfunc="first"
    ).reset_index()
    if {"create", "start"} <= set(per.columns):
        per["total"] = per["create"] + per["start"]
    out = []
    for (client, runtime), g in per.groupby(["client", "runtime"], sort=True):
        for step in ("create", "start", "total"):
            if step not in g or g[step].isna().all():
                continue
            h = g[g[step].notna()]
            fit = theil_sen(h.n, h[step] * 1000, alpha)
            out.append(
                {
                    "client": client,
                    "runtime": runtime,
                    "step": step,
                    "ms_per_container": fit["slope"],
                    "low": fit["low"],
                    "high": fit["high"],
                    "intercept_ms": fit["intercept"],
                    "points": fit["points"],
                }
            )
    return pd.DataFrame(
        out,
        columns=[
            "client",
            "runtime",
            "step",
            "ms_per_container",
            "low",
            "high",
            "intercept_ms",
            "points",
        ],
    )
