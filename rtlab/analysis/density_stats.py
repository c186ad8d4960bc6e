"""Statistics of experiment density (issue 22; the trial as unit, issue 31 item 5):
marginal memory per container and the interference slope, each a slope per trial,
then one estimate with its confidence interval across trials.

A trial brings up its levels (``--containers``, e.g. N = 1, 3, 6) by adding to one
growing batch, so the readings of one trial are not independent points: a host
that moved between trials moves all of a trial's readings, and its slope varies
from trial to trial. The trial is the unit:

- **per trial**: the least-squares (OLS) slope over that trial's own levels
  (:func:`ols_fit`). OLS, not Theil–Sen: with three levels Theil–Sen is the median of
  three pairwise slopes, two of which share the last reading, so one wild reading
  there moves it as much as OLS, and it is not mean-unbiased when the noise is
  skewed (a neighbour's allocation only ever lowers MemAvailable); OLS is unbiased
  for the trial's slope whatever the noise's shape, which makes the mean of the
  trials' slopes an unbiased estimate of the slope the interval is for;
- **across trials** (:func:`across_trials`): the estimate is the mean of the trials'
  slopes, its interval the t-interval of that mean (mean ± t(1 − α/2, n − 1) · sd/√n,
  n trials): the interval is for the number printed beside it. From
  :data:`MIN_TRIALS_CI` trials; with fewer the estimate is printed without an
  interval and a sentence says why (``note``). benchmarks/density_coverage.py checks
  the coverage by simulation (the density design, trial-to-trial slope variation,
  per-reading noise of three shapes);
- **not resolvable here** (``status`` :data:`UNRESOLVABLE`): the trials' noise swamps
  the slope — the interval's half-width exceeds :data:`MAX_HALF_WIDTH_SHARE` of the
  estimate's size (so the slope is not known to within ±50%, and a slope whose
  interval holds 0 never is); for memory, also an estimate below 0 (memory cannot
  fall because containers were added: the host's other memory moved more than the
  batch); below :data:`MIN_TRIALS_CI` trials, trials whose slopes disagree in sign.
  The report prints no estimate for such a row; the frames keep it and every
  trial's slope.

Warm-up trials and failed rows are left out; a trial with fewer than two levels has
no slope. Never draws.

- :func:`memory_trial_slopes`: per (client, runtime, method, trial), MB per container.
- :func:`memory_slopes`: per (client, runtime, method), the estimate ``mb`` with
  ``low``/``high``, ``trials``, ``status``, ``note`` and the trials' slopes.
- :func:`disagreement`: per target, the methods' estimates side by side, every one
  shown (negative ones too), with the largest over the smallest of those that can
  be compared (``spread``) and ``spread_note`` naming those left out and why.
- :func:`interference_slopes`: per (client, runtime, step), ms of ``start`` (and of
  ``create``, and the two summed as ``total``) per running container.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from rtlab.core.experiments import DENSITY_METHODS as METHODS
from rtlab.core.options import DEFAULT_ALPHA

MB = 1e6
# The fewest trials an interval is given from: at 2 the t-interval is mean ± 12.7·sd/√2
# (t with 1 degree of freedom), exact under normal noise but too wide to say anything
# and, with one pair of values, blind to the shape of the noise.
MIN_TRIALS_CI = 3
# Resolvable: the interval's half-width is at most this share of |estimate| (the slope
# known to within ±50%; a slope whose interval holds 0 never is).
MAX_HALF_WIDTH_SHARE = 0.5

RESOLVED = "resolved"
UNRESOLVABLE = "not resolvable here"
NO_INTERVAL = "no interval"  # fewer than MIN_TRIALS_CI trials, not judged unresolvable
NO_SLOPE = "no slope"  # no trial with two levels

SLOPE_COLUMNS = ["estimate", "low", "high", "trials", "status", "note"]


def ols_fit(x, y) -> tuple[float, float]:
    """Least-squares slope and intercept of ``y`` over ``x`` (one trial's levels);
    (NaN, NaN) with fewer than two distinct x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(np.unique(x)) < 2:
        return float("nan"), float("nan")
    dx = x - x.mean()
    slope = float((dx * (y - y.mean())).sum() / (dx * dx).sum())
    return slope, float(y.mean() - slope * x.mean())


def grouped_ols(frame: pd.DataFrame, keys: list[str], x: str, y: str) -> pd.DataFrame:
    """:func:`ols_fit` of ``y`` over ``x`` within each group of ``keys`` at once: one row
    per group, ``slope`` and ``intercept`` (NaN with fewer than two distinct x)."""
    f = frame[keys].copy()
    f["x"] = pd.to_numeric(frame[x], errors="coerce").astype(float)
    f["y"] = pd.to_numeric(frame[y], errors="coerce").astype(float)
    f = f[np.isfinite(f.x) & np.isfinite(f.y)]
    g = f.groupby(keys, sort=True)
    dx = f.x - g.x.transform("mean")
    f["sxy"] = dx * (f.y - g.y.transform("mean"))
    f["sxx"] = dx * dx
    agg = f.groupby(keys, sort=True).agg(
        sxy=("sxy", "sum"),
        sxx=("sxx", "sum"),
        mx=("x", "mean"),
        my=("y", "mean"),
        distinct=("x", "nunique"),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["slope"] = np.where(agg.distinct >= 2, agg.sxy / agg.sxx, np.nan)
    agg["intercept"] = agg.my - agg.slope * agg.mx
    return agg[["slope", "intercept"]].reset_index()


def _trials_word(n: int) -> str:
    return f"{n} trial{'s' if n != 1 else ''}"


def across_trials(
    slopes: Sequence[float], alpha: float = DEFAULT_ALPHA, *, nonnegative: bool = False
) -> dict:
    """One estimate from the trials' slopes: their mean, the t-interval of that mean
    (from :data:`MIN_TRIALS_CI` trials), ``status`` and a one-sentence ``note``.

    ``nonnegative``: the quantity cannot be below 0 (memory per container), so an
    estimate below 0 is :data:`UNRESOLVABLE`. NaN slopes (trials with fewer than two
    levels) are left out.
    """
    s = np.asarray(slopes, float)
    s = s[np.isfinite(s)]
    n = len(s)
    nan = float("nan")
    if n == 0:
        return dict(zip(SLOPE_COLUMNS, (nan, nan, nan, 0, NO_SLOPE, "no trial with two levels")))
    est = float(s.mean())
    low = high = nan
    if n >= MIN_TRIALS_CI:
        half = float(sps.t.ppf(1 - alpha / 2, n - 1) * s.std(ddof=1) / math.sqrt(n))
        low, high = est - half, est + half
    fell = "memory fell as N grew: the host's other memory moved more than the batch"
    if n < MIN_TRIALS_CI:
        status, note = (
            NO_INTERVAL,
            (f"no CI: {_trials_word(n)}, an interval needs at least {MIN_TRIALS_CI}"),
        )
        if nonnegative and est < 0:
            status, note = UNRESOLVABLE, fell
        elif s.min() < 0 < s.max():
            status, note = UNRESOLVABLE, f"its {_trials_word(n)}' slopes disagree in sign"
    elif high - est > MAX_HALF_WIDTH_SHARE * abs(est):
        status = UNRESOLVABLE
        note = (
            f"95% CI {low:.3g} to {high:.3g}: wider than ±{MAX_HALF_WIDTH_SHARE:.0%} of the slope"
        )
    elif nonnegative and est < 0:
        status, note = UNRESOLVABLE, fell
    else:
        status, note = RESOLVED, f"t-interval over {_trials_word(n)}"
    return dict(zip(SLOPE_COLUMNS, (est, low, high, n, status, note)))


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


# a trial is named by its run and its number (runs analysed together keep theirs apart)
def _trial_keys(frame: pd.DataFrame) -> list[str]:
    return ["run_id", "trial"] if "run_id" in frame else ["trial"]


def memory_trial_slopes(density: pd.DataFrame) -> pd.DataFrame:
    """MB per container of each trial: the OLS slope of memory over that trial's levels,
    per (client, runtime, method, trial), with the daemons' slope beside it."""
    use = density[density.ok & ~density.warmup & density.bytes.notna()].copy()
    keys = ["client", "runtime", "method", *_trial_keys(use)]
    cols = [*keys, "mb", "levels", "daemons", "daemons_mb"]
    if use.empty:
        return pd.DataFrame(columns=cols)
    use["mb"] = use.bytes / MB
    use["daemons_mb"] = use.daemons_bytes / MB
    if "daemons" not in use:
        use["daemons"] = ""
    per = grouped_ols(use, keys, "n", "mb").rename(columns={"slope": "mb"})
    g = use.groupby(keys, sort=True)
    per["levels"] = g.n.agg(lambda v: ",".join(map(str, sorted(set(v.astype(int)))))).values
    per["daemons"] = g.daemons.agg(lambda v: "; ".join(sorted({x for x in v if x}))).values
    d = grouped_ols(use[use.daemons_bytes.notna()], keys, "n", "daemons_mb")
    per = per.merge(d[[*keys, "slope"]].rename(columns={"slope": "daemons_mb"}), how="left")
    return per[cols]


def _fmt_slopes(values) -> str:
    return "; ".join(f"{v:.3g}" for v in values if pd.notna(v))


def memory_slopes(density: pd.DataFrame, alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """MB per container per (client, runtime, method): the mean of the trials' slopes
    (``mb``) with its t-interval (``low``, ``high``), ``trials``, ``status`` and
    ``note`` (:func:`across_trials`, memory never below 0), the trials' own slopes
    (``trial_mb``), the levels, the daemons named and their MB per container (the mean
    of the trials' slopes, no interval)."""
    per = memory_trial_slopes(density)
    out = []
    for (client, runtime, method), g in per.groupby(["client", "runtime", "method"], sort=True):
        fit = across_trials(g.mb, alpha, nonnegative=True)
        out.append(
            {
                "client": client,
                "runtime": runtime,
                "method": method,
                "mb": fit["estimate"],
                "low": fit["low"],
                "high": fit["high"],
                "trials": fit["trials"],
                "status": fit["status"],
                "note": fit["note"],
                "trial_mb": _fmt_slopes(g.mb),
                "levels": ",".join(
                    map(str, sorted({int(v) for t in g.levels for v in t.split(",")}))
                ),
                "daemons": "; ".join(sorted({x for t in g.daemons for x in t.split("; ") if x})),
                "daemons_mb": float(g.daemons_mb.mean()) if g.daemons_mb.notna().any() else np.nan,
            }
        )
    cols = [
        "client",
        "runtime",
        "method",
        "mb",
        "low",
        "high",
        "trials",
        "status",
        "note",
        "trial_mb",
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
    """Per target: each method's estimate (MB per container) side by side, every one shown
    (negative and unresolvable ones too), and ``spread``, the largest over the smallest
    of the methods that can be compared: those not :data:`UNRESOLVABLE` with an estimate
    above 0 (a ratio with a slope at or below 0 means nothing). ``spread_note`` names the
    methods left out and why, or why a row has no spread (fewer than two to compare)."""
    cols = ["client", "runtime", *METHODS, "spread", "spread_note"]
    out = []
    for (client, runtime), g in slopes.groupby(["client", "runtime"], sort=True):
        row: dict[str, object] = {"client": client, "runtime": runtime}
        kept, left = {}, []
        for m in METHODS:
            r = g[g.method == m]
            if not len(r):
                row[m] = np.nan
                continue
            r = r.iloc[0]
            row[m] = r.mb
            if r.status == UNRESOLVABLE:
                left.append(f"{m} {UNRESOLVABLE}")
            elif pd.isna(r.mb):
                left.append(f"{m} has no slope")
            elif r.mb <= 0:
                left.append(f"{m}'s slope is {r.mb:.3g} MB")
            else:
                kept[m] = float(r.mb)
        if len(kept) >= 2:
            row["spread"] = max(kept.values()) / min(kept.values())
            hi, lo = max(kept, key=lambda m: kept[m]), min(kept, key=lambda m: kept[m])
            note = f"{hi} over {lo}"
            row["spread_note"] = note + (f"; left out: {', '.join(left)}" if left else "")
        else:
            row["spread"] = np.nan
            row["spread_note"] = f"fewer than two methods to compare ({', '.join(left) or 'none'})"
        out.append(row)
    return pd.DataFrame(out, columns=cols)


def interference_trial_slopes(trials: pd.DataFrame) -> pd.DataFrame:
    """ms per running container of create, start and their sum (``total``) of each trial:
    the OLS slope (and intercept) over that trial's levels, per (client, runtime, step,
    trial)."""
    df = trials[(trials.experiment == "density") & ~trials.warmup & trials.ok].copy()
    df["n"] = pd.to_numeric(df["n"], errors="coerce")
    df = df[df.n.notna()]
    tkeys = _trial_keys(df)
    per = df.pivot_table(
        index=["client", "runtime", *tkeys, "n"], columns="step", values="wall_s", aggfunc="first"
    ).reset_index()
    if {"create", "start"} <= set(per.columns):
        per["total"] = per["create"] + per["start"]
    keys = ["client", "runtime", *tkeys]
    cols = [*keys, "step", "ms_per_container", "intercept_ms"]
    steps = [s for s in ("create", "start", "total") if s in per]
    if not steps:
        return pd.DataFrame(columns=cols)
    long = per.melt(id_vars=[*keys, "n"], value_vars=steps, var_name="step", value_name="s")
    long = long[long.s.notna()].assign(ms=lambda f: f.s * 1000)
    if long.empty:
        return pd.DataFrame(columns=cols)
    fit = grouped_ols(long, ["client", "runtime", "step", *tkeys], "n", "ms")
    fit = fit.rename(columns={"slope": "ms_per_container", "intercept": "intercept_ms"})
    return fit[cols]


def interference_slopes(trials: pd.DataFrame, alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """ms per running container of create, start and their sum (``total``), per target:
    the mean of the trials' slopes with its t-interval, ``trials``, ``status`` and
    ``note`` (:func:`across_trials`; a slope may be below 0), the mean of the trials'
    intercepts (``intercept_ms``, ms at N = 0, no interval) and the trials' slopes."""
    per = interference_trial_slopes(trials)
    out = []
    for (client, runtime, step), g in per.groupby(["client", "runtime", "step"], sort=True):
        fit = across_trials(g.ms_per_container, alpha)
        out.append(
            {
                "client": client,
                "runtime": runtime,
                "step": step,
                "ms_per_container": fit["estimate"],
                "low": fit["low"],
                "high": fit["high"],
                "trials": fit["trials"],
                "status": fit["status"],
                "note": fit["note"],
                "intercept_ms": float(g.intercept_ms.mean()),
                "trial_ms": _fmt_slopes(g.ms_per_container),
            }
        )
    frame = pd.DataFrame(
        out,
        columns=[
            "client",
            "runtime",
            "step",
            "ms_per_container",
            "low",
            "high",
            "trials",
            "status",
            "note",
            "intercept_ms",
            "trial_ms",
        ],
    )
    order = {s: i for i, s in enumerate(("create", "start", "total"))}
    return frame.sort_values(
        ["client", "runtime", "step"],
        key=lambda s: s.map(order) if s.name == "step" else s,
        ignore_index=True,
    )
