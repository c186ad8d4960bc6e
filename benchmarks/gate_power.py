"""False-alarm rate and power of the regression gate (``rtlab compare``), from the sample's noise.

Each simulated run is a *smoothed round bootstrap* of one committed sample run
(run-1 or run-2 of a sample, alternately): ``n`` rounds drawn with replacement,
whole rounds at a time so the shared round effects and failures stay as
recorded, and every measured wall time multiplied by ``exp(h * e)``,
``e ~ N(0, 1)``, then shrunk back to the observed log-scale variance of its
target/step (Silverman's bandwidth ``h``; the variance-corrected smoothed
bootstrap), so repeated rounds are not exact copies.

- False alarms: A and B drawn independently from the same run (A/A); the share
  of comparisons with any regression row.
- A host that moved: A/A again, with every wall time of B multiplied by 1.05, 1.10
  or 1.20 (this host moves by tens of per cent between sittings); the share of
  comparisons with any regression row (the gate tests each row beyond the median
  shift of the others, compare.host_shifts).
- Power: B's wall times of one target/step multiplied by 1.1, 1.2 or 1.3
  (for ``total``: all four lifecycle steps), for every target/step; the share
  of comparisons that flag that row. Other rows, Holm and the failure tests
  are evaluated as ``rtlab compare`` does: the gate's p-values come from
  :func:`rtlab.analysis.compare.gate_p`, :func:`rtlab.analysis.compare.failure_p` and
  :func:`rtlab.analysis.compare.gate_decisions`. Only the slowed target's rows are
  recomputed per slowed row (its own round correction is unchanged by
  construction); ``--check`` compares this shortcut with full
  :func:`rtlab.analysis.compare.changes` calls.

The sources, each measured on its own (one process per source):

- ``data/sample``: recorded before rtlab controlled the pace (data format 1):
  the idle time before each step varied, and some steps (``oci/crun run``)
  switch between a fast and a slow regime from trial to trial;
- ``data/sample-paced``: the same study recorded as ``rtlab collect`` does now,
  at the default pace (100 ms of idle host before each timed step). Each sample's
  two runs are back to back (one sitting), so A and B come from one run;
- ``data/sittings``: make report's main run (``--study all``, 20 trials, every
  client over every runtime) in **two sittings** hours apart; A is drawn from one
  sitting and B from the other (each direction in turn), so every comparison holds
  the real drift between sittings under the synthetic shifts (20 trials only);
- ``data/sittings-idle``: the same design in two sittings on an idle host (the
  same way: A from one, B from the other);
- ``data/sittings-idle (one sitting)``: that pair with A and B from one sitting (each
  in turn): the gate's ceiling at make report's design, with no drift at all;
- ``… (drift model)``: each pair through the drift it measures (:func:`drift_model`):
  A and B from one sitting, B moved by the pair's fitted host, client and step drift
  and a fresh per-row drift of spread τ (``at 2τ``: twice the τ measured), forward and
  back in turn. A and B drawn from the two recorded sittings take each row's observed
  difference as its drift, and that holds both recordings' own sampling error (about a
  row's noise at 20 rounds): the model is the drift without it.

Run from the repository root: ``.venv/bin/python benchmarks/gate_power.py``.
Writes benchmarks/results/gate_power.json and gate_power_rows.csv (a ``source`` column);
with ``--credit-speedups`` the alternative gate that tests a row beyond an expected
speed-up too, into gate_power_credit.*.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, save  # noqa: E402

from rtlab.analysis import compare, drift, shift, stats
from rtlab.core import results  # noqa: E402
from rtlab.report import params

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "data/sample": ROOT / "data" / "sample",
    "data/sample-paced": ROOT / "data" / "sample-paced",
    "data/sittings": ROOT / "data" / "sittings",
    "data/sittings-idle": ROOT / "data" / "sittings-idle",
}
# Sources whose two runs are two sittings (hours apart): A is drawn from one, B from
# the other (each direction in turn), so the real drift between sittings is in every
# comparison, under the synthetic host-wide shifts and slowdowns.
ACROSS = {"data/sittings", "data/sittings-idle"}
# The same pairs of sittings through the drift model they measure (:func:`drift_model`):
# A and B both drawn from one sitting, B moved by the pair's fitted drift (host, client,
# step) and a fresh per-row drift of spread τ (× the scale given), each direction in turn.
MODELLED = {
    "data/sittings-idle (drift model)": ("data/sittings-idle", 1.0),
    "data/sittings-idle (drift model at 2τ)": ("data/sittings-idle", 2.0),
    "data/sittings (drift model)": ("data/sittings", 1.0),
}
SOURCES.update({name: SOURCES[base] for name, (base, _) in MODELLED.items()})
# The idle pair with A and B from one sitting (each in turn) and no drift: the gate's
# ceiling at make report's design, what the drift costs is measured against it.
SOURCES["data/sittings-idle (one sitting)"] = SOURCES["data/sittings-idle"]
TRIALS = (12, 20, 30)
SOURCE_TRIALS = {
    "data/sittings": (20,),
    "data/sittings-idle": (20, 30),
    "data/sittings-idle (drift model)": (20, 30),
    "data/sittings-idle (drift model at 2τ)": (20,),
    "data/sittings (drift model)": (20,),
    "data/sittings-idle (one sitting)": (20, 30),
}  # 20 rounds each; 30: drawn with replacement
FACTORS = (1.1, 1.2, 1.3)
HOST_SHIFTS = (0.05, 0.10, 0.20)  # B's whole host this much slower (another sitting)
ALPHA = 0.05
THRESHOLD = compare.DEFAULT_THRESHOLD
# --credit-speedups: measure the alternative rtlab does not take — when the others expect
# B to be faster, test a row beyond that speed-up too (rtlab tests it against no change:
# compare.gate_p_beyond); results in gate_power_credit.json / _rows.csv.
CREDIT_SPEEDUPS = False


def load(run_dir: Path) -> pd.DataFrame:
    _, trials = results.load_run(run_dir)
    trials = trials[~stats._as_bool(trials["warmup"])].copy()
    logs = np.log(trials["wall_s"].to_numpy(dtype=float))
    good = stats.is_sample(trials)
    key = trials["client"] + "/" + trials["runtime"] + "/" + trials["step"]
    frame = pd.DataFrame({"k": key, "x": np.where(good, logs, np.nan)})
    g = frame.groupby("k")["x"]
    m, sd, n = g.transform("mean"), g.transform("std"), g.transform("count")
    iqr = g.transform(lambda v: v.quantile(0.75) - v.quantile(0.25))
    h = 0.9 * np.minimum(sd, iqr / 1.34) * n**-0.2
    trials["_m"], trials["_sd"], trials["_h"] = m.to_numpy(), sd.to_numpy(), h.to_numpy()
    return trials


def draw(source: pd.DataFrame, n: int, rng: np.random.Generator, run_id: str) -> pd.DataFrame:
    """A simulated run of ``n`` rounds (see the module docstring)."""
    rounds = np.sort(source["round"].unique())
    picked = rng.choice(rounds, size=n, replace=True)
    parts = [source[source["round"] == r].assign(round=i, trial=i) for i, r in enumerate(picked)]
    out = pd.concat(parts, ignore_index=True)
    x = np.log(out["wall_s"].to_numpy(dtype=float))
    m, sd, h = out["_m"].to_numpy(), out["_sd"].to_numpy(), out["_h"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(sd > 0, 1.0 / np.sqrt(1.0 + (h / sd) ** 2), 1.0)
        y = m + (x - m + np.nan_to_num(h) * rng.standard_normal(len(out))) * scale
    out["wall_s"] = np.where(np.isfinite(x), np.exp(y), out["wall_s"])
    out["run_id"] = run_id
    return out.drop(columns=["_m", "_sd", "_h"])


def prepared(trials: pd.DataFrame) -> dict:
    """Per (experiment, client, runtime, step), as ``rtlab compare`` keys its rows: rounds,
    wall times, round-adjusted logs, failures. (A run of study ``all`` holds experiments
    lifecycle and cri; the CRI's create and start also appear as lifecycle rows, the
    same measurements: a slowdown slows both, see :func:`slowed_adj`.)"""
    frame = stats.samples(trials)
    frame["_adj"] = compare.round_adjusted_logs(frame)
    good = stats.is_sample(frame)
    out = {}
    keys = ["experiment", "client", "runtime", "step"]
    for key, index in frame.groupby(keys, sort=False).indices.items():
        ok = index[good[index]]
        sub = frame.iloc[ok]
        out[tuple(map(str, key))] = {
            "round": sub["round"].to_numpy(),
            "wall": sub["wall_s"].to_numpy(dtype=float),
            "adj": sub["_adj"].to_numpy(),
            "failed": int(index.size - ok.size),
        }
    return out


def _order(key: tuple[str, str, str, str]) -> tuple:
    """``rtlab compare``'s row order."""
    return compare._order(key)


def log_shift(a: dict, adj_b: np.ndarray) -> tuple[float, float]:
    """The row's Hodges–Lehmann log shift of B over A and its standard error, as
    compare.changes estimates them."""
    if not (a["adj"].size and adj_b.size):
        return np.nan, np.nan
    found = shift.unpaired(adj_b, a["adj"], stats.CONFIDENCE)[0]
    return float(found.estimate), drift.standard_error(found.low, found.high, stats.CONFIDENCE)


def row_p(
    a: dict,
    b: dict,
    adj_b: np.ndarray | None = None,
    host: float = 0.0,
    se: float = np.nan,
    tau: float = 0.0,
) -> tuple[float, float]:
    """The gate's two p-values of one row, B tested beyond what the others expect of it and
    their spread (as compare.changes: compare.gate_p_beyond)."""
    adj = b["adj"] if adj_b is None else adj_b
    moved, _ = log_shift(a, adj)
    if CREDIT_SPEEDUPS and host < 0:  # the alternative: tested beyond a speed-up too
        adj, moved, host = adj - host, moved - host, 0.0
    return (
        compare.gate_p_beyond(a["adj"], adj, host, moved, se, tau, THRESHOLD),
        compare.failure_p(a["failed"], a["adj"].size, b["failed"], b["adj"].size),
    )


def gate(a: dict, b: dict, keys: list, moved: dict | None = None) -> tuple[np.ndarray, dict]:
    """Every row's (p_slower, p_fail), and per row its expected shift, se and tau, as
    compare.changes: B's round-adjusted logs (``moved`` replaces some), each row tested
    beyond what the others expect of it (drift.host_shifts) and their spread
    (drift.heterogeneity)."""
    moved = moved or {}
    adj = {k: moved.get(k, b[k]["adj"]) for k in keys}
    shifts, ses = np.array([log_shift(a[k], adj[k]) for k in keys]).T
    steps = np.array([k[3] for k in keys])
    units = np.array(["/".join(k[1:3]) for k in keys])  # a target: fitted without its rows
    host = compare.host_shifts(shifts, steps, np.array([k[1] for k in keys]), units)
    taus = drift.heterogeneity(shifts, host, ses, steps, units)
    p = np.array(
        [row_p(a[k], b[k], adj[k], h, se, t) for k, h, se, t in zip(keys, host, ses, taus)]
    )
    return p, {"host": host, "se": ses, "tau": taus}


def slowed_adj(b: dict, key: tuple[str, str, str, str], factor: float) -> dict:
    """The round-adjusted logs of B's rows that a slowdown of ``key`` changes: the row, its
    copies under another experiment (the CRI's create/start as lifecycle rows), and the
    ``total`` its step is part of (for ``total``: all four lifecycle steps)."""
    _, client, runtime, step = key
    out = {}
    steps = (*stats.LIFECYCLE_STEPS, stats.TOTAL_STEP) if step == stats.TOTAL_STEP else (step,)
    for k in b:
        if k[1:3] == (client, runtime) and k[3] in steps:
            out[k] = b[k]["adj"] + np.log(factor)
    if step not in stats.LIFECYCLE_STEPS:
        return out
    for k in [k for k in out if k[3] == step]:
        total_key = (k[0], client, runtime, stats.TOTAL_STEP)
        if total_key in b:
            tot, part = b[total_key], b[k]
            extra = pd.Series(part["wall"], index=part["round"]).reindex(tot["round"]).to_numpy()
            new = tot["wall"] + (factor - 1.0) * extra
            out[total_key] = tot["adj"] + np.log(new) - np.log(tot["wall"])
    return out


def drift_model(sources: list[pd.DataFrame], tau_scale: float) -> dict:
    """The drift between a pair's two sittings as the gate's own model fits it on the whole
    runs (B = the second): the host's median, each client's and step's effect beyond it
    (drift.polish) and τ, the rows' own spread net of their noise (drift.heterogeneity,
    its median over the rows), times ``tau_scale``.

    Why a model: drawing A from one recorded sitting and B from the other takes each
    row's *observed* difference as its true drift, and that holds the two recordings'
    own sampling error (as large as a row's noise at 20 rounds) on top of the real
    drift: every row then "drifts" by about its noise in every comparison. The model
    keeps the drift the pair shows and puts back only the spread τ it measures."""
    a, b = prepared(sources[0]), prepared(sources[1])
    keys = sorted(set(a) & set(b), key=_order)
    shifts, ses = np.array([log_shift(a[k], b[k]["adj"]) for k in keys]).T
    steps, clients = np.array([k[3] for k in keys]), np.array([k[1] for k in keys])
    units = np.array(["/".join(k[1:3]) for k in keys])
    use = np.isfinite(shifts) & (steps != stats.TOTAL_STEP)
    grand, (by_client, by_step) = drift.polish(shifts[use], [clients[use], steps[use]])
    host = compare.host_shifts(shifts, steps, clients, units)
    taus = drift.heterogeneity(shifts, host, ses, steps, units)
    return {
        "host": grand,
        "clients": by_client,
        "steps": by_step,
        "tau_measured": float(np.median(taus[use])),
        "tau": float(np.median(taus[use])) * tau_scale,
    }


def drifted(raw: pd.DataFrame, model: dict, sign: float, rng: np.random.Generator) -> pd.DataFrame:
    """``raw`` (a drawn run) moved by ``sign`` × the model's drift: every measured step of
    a row (experiment, client as analysed, runtime, step) multiplied by exp(host + its
    client's + its step's effect + τ·z), z ~ N(0, 1) drawn once per row; totals and the
    rows another experiment shares are derived from the moved steps as in any run."""
    frame = stats.samples(raw.assign(_i=np.arange(len(raw))))
    own = frame["_i"].notna().to_numpy().copy()
    idx = frame.loc[own, "_i"].astype(int).to_numpy()
    own[own] = frame.loc[own, "experiment"].to_numpy() == raw["experiment"].to_numpy()[idx]
    mine = frame[own]
    keys = list(zip(mine["experiment"], mine["client"], mine["runtime"], mine["step"]))
    z = {k: rng.standard_normal() for k in sorted(set(keys))}
    d = np.array(
        [
            model["host"]
            + model["clients"].get(c, 0.0)
            + model["steps"].get(st, 0.0)
            + model["tau"] * z[(e, c, r, st)]
            for e, c, r, st in keys
        ]
    )
    factor = np.ones(len(raw))
    factor[mine["_i"].astype(int).to_numpy()] = np.exp(sign * d)
    return raw.assign(wall_s=raw["wall_s"].to_numpy(dtype=float) * factor)


def simulate(
    sources: list[pd.DataFrame],
    n: int,
    reps: int,
    seed: int,
    across: bool = False,
    model: dict | None = None,
) -> tuple[float, dict, dict]:
    """A/A false-alarm rate; per host-wide shift, the false-alarm rate with B's whole
    host that much slower; per (row, factor), the detection count. ``across``: A and B
    from different runs (sittings) of ``sources``, else both from one; ``model``: both
    from one, B moved by the drift model (:func:`drifted`), forward and back in turn."""
    rng = np.random.default_rng(seed)
    alarms = 0
    host_alarms = dict.fromkeys(HOST_SHIFTS, 0)
    hits: dict[tuple, int] = {}
    for rep in range(reps):
        source = sources[rep % len(sources)]
        other = sources[(rep + 1) % len(sources)] if across else source
        a = prepared(draw(source, n, rng, "A"))
        drawn = draw(other, n, rng, "B")
        if model is not None:
            drawn = drifted(drawn, model, 1.0 if rep % 2 == 0 else -1.0, rng)
        b = prepared(drawn)
        keys = sorted(set(a) & set(b), key=_order)
        all_fail = np.array([a[k]["adj"].size > 0 and b[k]["adj"].size == 0 for k in keys])
        base, fit = gate(a, b, keys)
        _, _, flagged = compare.gate_decisions(base[:, 0], base[:, 1], ALPHA)
        alarms += bool((flagged | all_fail).any())
        for moved in HOST_SHIFTS:  # the whole host slower in B: every row moves
            p, _ = gate(a, b, keys, {k: b[k]["adj"] + np.log1p(moved) for k in keys})
            _, _, flagged = compare.gate_decisions(p[:, 0], p[:, 1], ALPHA)
            host_alarms[moved] += bool((flagged | all_fail).any())
        where = {k: i for i, k in enumerate(keys)}
        for key in keys:
            if not (a[key]["adj"].size and b[key]["adj"].size):
                continue
            for factor in FACTORS:
                p = base.copy()
                # the slowed rows' own tests, beyond the others' (unchanged) host shift;
                # the one slowed row moves the others' medians by at most one rank:
                # --check measures what leaving them unchanged costs
                for k, adj in slowed_adj(b, key, factor).items():
                    i = where[k]
                    p[i] = row_p(a[k], b[k], adj, fit["host"][i], fit["se"][i], fit["tau"][i])
                _, _, flagged = compare.gate_decisions(p[:, 0], p[:, 1], ALPHA)
                hits[(key, factor)] = hits.get((key, factor), 0) + bool(flagged[where[key]])
    return alarms / reps, {m: c / reps for m, c in host_alarms.items()}, hits


def check(sources: list[pd.DataFrame], reps: int, seed: int) -> dict:
    """Agreement of the shortcut with full compare.changes on slowed copies."""
    rng = np.random.default_rng(seed)
    agree = total = 0
    for rep in range(reps):
        source = sources[rep % len(sources)]
        ta, tb = draw(source, 12, rng, "A"), draw(source, 12, rng, "B")
        a, b = prepared(ta), prepared(tb)
        keys = sorted(set(a) & set(b), key=_order)
        # rows whose client is named as in trials.csv (not the CRI's cri-cni/cri-host),
        # so the slowed copy below can pick their rows by client
        plain = [k for k in keys if k[1] in set(tb["client"])]
        for key in [plain[i] for i in rng.choice(len(plain), 4, replace=False)]:
            slowed = tb.copy()
            steps = stats.LIFECYCLE_STEPS if key[3] == stats.TOTAL_STEP else (key[3],)
            where = (
                (slowed["client"] == key[1])
                & (slowed["runtime"] == key[2])
                & slowed["step"].isin(steps)
            )
            slowed.loc[where, "wall_s"] *= 1.3
            full = compare.changes(ta, slowed, alpha=ALPHA, threshold=THRESHOLD)
            full_flag = bool(
                full[
                    (full["experiment"] == key[0])
                    & (full["client"] == key[1])
                    & (full["runtime"] == key[2])
                    & (full["step"] == key[3])
                ]["regression"].iloc[0]
            )
            p, fit = gate(a, b, keys)
            idx = {k: i for i, k in enumerate(keys)}
            for k, adj in slowed_adj(b, key, 1.3).items():
                i = idx[k]
                p[i] = row_p(a[k], b[k], adj, fit["host"][i], fit["se"][i], fit["tau"][i])
            fast_flag = bool(compare.gate_decisions(p[:, 0], p[:, 1], ALPHA)[2][idx[key]])
            agree += full_flag == fast_flag
            total += 1
    return {"cases": total, "agree": agree}


def noise(sources: list[pd.DataFrame]) -> dict:
    """Median and 90th percentile over target/steps of the robust SD of round-adjusted logs."""
    sds = [
        stats._robust_sd(v["adj"])
        for t in sources
        for v in prepared(t).values()
        if v["adj"].size > 3
    ]
    return {
        "median_robust_sd_log": float(np.median(sds)),
        "p90_robust_sd_log": float(np.quantile(sds, 0.9)),
    }


def measure(name: str, reps: int, seed: int, checks: int) -> tuple[dict, list[dict]]:
    """Every trial count for one sample: the summary entry and the per-row power table."""
    runs = params.find_runs(SOURCES[name], name)[:2]
    sources = [load(r) for r in runs]
    summary, rows = [], []
    across = name in ACROSS
    model = drift_model(sources, MODELLED[name][1]) if name in MODELLED else None
    for n in SOURCE_TRIALS.get(name, TRIALS):
        false_alarm, host_alarms, hits = simulate(sources, n, reps, seed + n, across, model)
        entry = {
            "trials": n,
            "a_and_b": (
                "different sittings"
                if across
                else "one sitting, B moved by the pair's drift model"
                if model
                else "one run"
            ),
            "reps": reps,
            "aa_false_alarm_rate": false_alarm,
            "aa_false_alarm_se": float(np.sqrt(false_alarm * (1 - false_alarm) / reps)),
            **{
                f"host_{round(m * 100)}pct_slower_false_alarm_rate": r
                for m, r in host_alarms.items()
            },
        }
        for factor in FACTORS:
            pct = round((factor - 1) * 100)
            power = [hits[(k, f)] / reps for (k, f) in hits if f == factor]
            entry[f"mean_power_{pct}pct"] = float(np.mean(power))
            entry[f"median_power_{pct}pct"] = float(np.median(power))
            entry[f"rows_power_ge_0.8_{pct}pct"] = int(sum(p >= 0.8 for p in power))
            entry[f"rows_{pct}pct"] = len(power)
            per_step: dict[str, list[float]] = {}
            for (k, f), c in hits.items():
                if f == factor:
                    per_step.setdefault(k[3], []).append(c / reps)
            entry[f"mean_power_{pct}pct_by_step"] = {
                st: float(np.mean(v)) for st, v in sorted(per_step.items())
            }
        summary.append(entry)
        rows += [
            {
                "source": name,
                "trials": n,
                "experiment": k[0],
                "client": k[1],
                "runtime": k[2],
                "step": k[3],
                "slowdown": f,
                "power": c / reps,
            }
            for (k, f), c in sorted(hits.items())
        ]
        print(name, entry, flush=True)
    result = {
        "source": name,
        **(
            {
                "drift_model": {
                    "host": float(np.expm1(model["host"])),
                    "clients": {c: float(np.expm1(e)) for c, e in model["clients"].items()},
                    "steps": {st: float(np.expm1(e)) for st, e in model["steps"].items()},
                    "tau_measured": model["tau_measured"],
                    "tau": model["tau"],
                }
            }
            if model
            else {}
        ),
        "runs": [str(r.relative_to(ROOT)) for r in runs],
        "runs_started": [results.read_meta(r).get("started_at") for r in runs],
        "rows": len({(r["client"], r["runtime"], r["step"]) for r in rows}),
        "noise": noise([results.load_run(r)[1] for r in runs]),
        "results": summary,
        "shortcut_check": check(sources, checks, seed + 1),
    }
    return result, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100, help="simulated comparisons per n")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", type=int, default=10, help="replicates of the shortcut check")
    parser.add_argument(
        "--sources",
        default=",".join(SOURCES),
        help=f"comma-separated, of: {', '.join(SOURCES)} (results of the others are kept)",
    )
    parser.add_argument(
        "--credit-speedups",
        action="store_true",
        help="the alternative gate that also tests beyond an expected speed-up "
        "(writes gate_power_credit.*)",
    )
    args = parser.parse_args()
    global CREDIT_SPEEDUPS
    CREDIT_SPEEDUPS = args.credit_speedups
    stem = "gate_power_credit" if args.credit_speedups else "gate_power"
    names = [n for n in args.sources.split(",") if n]
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        parser.error(f"unknown source {unknown[0]!r}; known: {', '.join(SOURCES)}")
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(len(names)) as pool:
        done = pool.starmap(measure, [(name, args.reps, args.seed, args.check) for name in names])
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows_csv, kept = RESULTS / f"{stem}_rows.csv", []
    if rows_csv.exists() and set(names) != set(SOURCES):  # keep the other sources' results
        old = pd.read_csv(rows_csv)
        kept = [old[~old["source"].isin(names)]]
        before = json.loads((RESULTS / f"{stem}.json").read_text())["samples"]
        kept_samples = [s for s in before if s["source"] not in names]
    else:
        kept_samples = []
    pd.concat([*kept, pd.DataFrame([r for _, rows in done for r in rows])]).to_csv(
        rows_csv, index=False
    )
    path = save(
        stem,
        {
            "method": __doc__.split("\n\n")[1],
            "credit_speedups": CREDIT_SPEEDUPS,
            "alpha": ALPHA,
            "threshold": THRESHOLD,
            "samples": sorted(
                kept_samples + [result for result, _ in done],
                key=lambda s: list(SOURCES).index(s["source"]),
            ),
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    for result, _ in done:
        print(result["source"], result["noise"], result["shortcut_check"])
    print(f"saved {path} and {rows_csv}")


if __name__ == "__main__":
    main()
