"""Where the time goes, in numbers: phases.csv (tracing.py) summarised, and the cost of tracing.

Pure statistics on tidy frames, like stats.py (whose median CI, order statistics,
and ratio CI, seeded bootstrap, are reused); never draws. Warm-up trials are
left out; each phase is summarised over the traced trials that have it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rtlab.analysis import phaseplots, plots, shift, stats
from rtlab.core import phasedefs
from rtlab.core.conditions import ROOTLESS_SUFFIX

PHASES_FILE = "phases.csv"


def load_phases(run_dir: Path) -> pd.DataFrame:
    """A run's phases.csv as a typed frame (empty with its columns when the run was not traced)."""
    path = Path(run_dir) / PHASES_FILE
    if not path.exists():
        return pd.DataFrame(columns=list(phasedefs.PHASE_COLUMNS))
    frame = pd.read_csv(
        path,
        keep_default_na=False,
        na_values={"pace_s": [""]},
        dtype={"phase": str, "container_id": str},
    )
    frame["warmup"] = frame["warmup"].astype(str).str.lower() == "true"
    return frame


def load_runs(run_dirs) -> pd.DataFrame:
    """The phases.csv of every run, concatenated (empty with its columns when none was traced)."""
    frames = [f for f in (load_phases(Path(r)) for r in run_dirs) if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(phasedefs.PHASE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _order(runtime: str, step: str, names, client: str | None = None) -> list[str]:
    """Phases in their definition's order, ``unattributed`` last (always: 0 when every
    marker was seen), unknown names before it."""
    defined = [name for name, _ in phasedefs.definitions(runtime, step, client) or ()]
    rest = sorted(n for n in set(names) if n not in defined and n != phasedefs.UNATTRIBUTED)
    return [n for n in defined if n in set(names)] + rest + [phasedefs.UNATTRIBUTED]


def _pace_key(frame: pd.DataFrame) -> pd.Series:
    if "pace_s" not in frame.columns:
        return pd.Series(-1.0, index=frame.index)
    return pd.to_numeric(frame["pace_s"], errors="coerce").fillna(-1.0)


def per_trial(phases: pd.DataFrame) -> pd.DataFrame:
    """One row per traced step (non-warm-up), one column per phase of its target and step:
    its duration, 0 where that trial's marker was not seen (its time is then in the
    ``unattributed`` column, itself 0 when every marker was seen)."""
    data = phases[~phases["warmup"]] if len(phases) else phases
    if not len(data):
        return pd.DataFrame()
    data = data.assign(pace_key=_pace_key(data))
    keys = ["client", "runtime", "pace_key", "step", "run_id", "container_id"]
    wide = data.pivot_table(
        index=keys + ["round", "wall_s"],
        columns="phase",
        values="dur_s",
        aggfunc="sum",
        fill_value=0.0,
    )
    if phasedefs.UNATTRIBUTED not in wide.columns:
        wide[phasedefs.UNATTRIBUTED] = 0.0
    return wide.reset_index()


def phase_summary(phases: pd.DataFrame, *, confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """Per target, pace and step, each phase (in order, ``unattributed`` last): traced
    trials, the median phase time with its CI (order statistics; a trial whose marker
    was not seen counts 0 for that phase and its time in ``unattributed``), and the
    median's share of the step's median wall time over the same trials.

    Columns: target, client, runtime, pace_s, step, order, phase, n, median_s, ci_low_s,
    ci_high_s, step_median_s, share.
    """
    cols = [
        "target",
        "client",
        "runtime",
        "pace_s",
        "step",
        "order",
        "phase",
        "n",
        "median_s",
        "ci_low_s",
        "ci_high_s",
        "step_median_s",
        "share",
    ]
    wide = per_trial(phases)
    rows: list[dict] = []
    if not len(wide):
        return pd.DataFrame(rows, columns=cols)
    present = phases[~phases["warmup"]].assign(pace_key=_pace_key(phases[~phases["warmup"]]))
    for (client, runtime, pace, step), group in wide.groupby(
        ["client", "runtime", "pace_key", "step"], sort=True
    ):
        seen = present[
            (present.client == client)
            & (present.runtime == runtime)
            & (present.pace_key == pace)
            & (present.step == step)
        ]["phase"]
        step_median = float(np.median(group["wall_s"].to_numpy(dtype=float)))
        for order, name in enumerate(_order(runtime, step, seen, client)):
            x = group[name].to_numpy(dtype=float)
            ci = stats.median_ci(x, confidence=confidence)
            median = float(np.median(x))
            rows.append(
                {
                    "target": stats.target_label(client, runtime),
                    "client": client,
                    "runtime": runtime,
                    "pace_s": None if pace == -1.0 else float(pace),
                    "step": step,
                    "order": order,
                    "phase": name,
                    "n": int(x.size),
                    "median_s": median,
                    "ci_low_s": ci.low,
                    "ci_high_s": ci.high,
                    "step_median_s": step_median,
                    "share": median / step_median if step_median > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=cols)


def coverage(summary: pd.DataFrame) -> pd.DataFrame:
    """Per target, pace and step: how many named phases there are (``unattributed`` not
    counted) and the share of the step's median their medians add up to.

    Columns: target, client, runtime, pace_s, step, n, named_phases, named_share,
    unattributed_share, step_median_s."""
    cols = [
        "target",
        "client",
        "runtime",
        "pace_s",
        "step",
        "n",
        "named_phases",
        "named_share",
        "unattributed_share",
        "step_median_s",
    ]
    rows: list[dict] = []
    if not len(summary):
        return pd.DataFrame(rows, columns=cols)
    keys = ["target", "client", "runtime", "pace_key", "step"]
    data = summary.assign(pace_key=_pace_key(summary))
    for (target, client, runtime, pace, step), g in data.groupby(keys, sort=True):
        named = g[g.phase != phasedefs.UNATTRIBUTED]
        rows.append(
            {
                "target": target,
                "client": client,
                "runtime": runtime,
                "pace_s": None if pace == -1.0 else float(pace),
                "step": step,
                "n": int(g["n"].max()),
                "named_phases": int((named.median_s > 0).sum()),
                "named_share": float(named.share.sum()),
                "unattributed_share": float(g[g.phase == phasedefs.UNATTRIBUTED].share.sum()),
                "step_median_s": float(g.step_median_s.iloc[0]),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def _boot_median_diff(
    a: np.ndarray, b: np.ndarray, rng, n_boot: int, confidence: float
) -> tuple[float, float]:
    ia = rng.integers(0, a.size, (n_boot, a.size))
    ib = rng.integers(0, b.size, (n_boot, b.size))
    d = np.median(a[ia], axis=1) - np.median(b[ib], axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(d, [tail, 1.0 - tail])
    return float(low), float(high)


def differences(
    phases: pd.DataFrame,
    *,
    by: str = "runtime",
    seed: int = 0,
    n_boot: int = 2000,
    confidence: float = stats.CONFIDENCE,
) -> pd.DataFrame:
    """Which phase explains a difference: for each step and each pair of groups that differ
    only in ``by`` ("runtime": two runtimes through one client at one pace; "pace": one
    target at two paces; "mode": one client and runtime at one pace, rootful against
    rootless, the rootless client named ``<client>-rootless``), paired by round when the
    two ran in at least ``stats.MIN_PAIRED_ROUNDS`` common rounds (``paired_rounds``; the
    phase's ``diff_s`` is then the Hodges–Lehmann estimate of its per-round differences
    with the signed-rank CI, :func:`rtlab.analysis.shift.paired`), else the difference of
    the medians with an unpaired percentile bootstrap; the step's median difference a − b and, for every phase both
    have, the median difference of that phase with its (unpaired, percentile) bootstrap CI;
    ``explains`` is True on the phase whose median difference is largest in the direction
    of the step's (the rule, an argmax: :func:`explained` keeps it only when its CI excludes
    0, and the report says both).

    Columns: step, a, b, phase, a_median_s, b_median_s, diff_s, diff_low_s, diff_high_s,
    step_diff_s, explains, paired_rounds.
    """
    cols = [
        "step",
        "a",
        "b",
        "phase",
        "a_median_s",
        "b_median_s",
        "diff_s",
        "diff_low_s",
        "diff_high_s",
        "step_diff_s",
        "explains",
        "paired_rounds",
    ]
    wide = per_trial(phases)
    rows: list[dict] = []
    if not len(wide):
        return pd.DataFrame(rows, columns=cols)
    wide = wide.assign(
        label=[
            f"{stats.target_label(c, r)}" + ("" if p == -1.0 else f" @ pace {p * 1e3:g} ms")
            for c, r, p in zip(wide.client, wide.runtime, wide.pace_key)
        ]
    )
    # mode: one client and runtime at one pace, as root and rootless ("oci", "oci-rootless")
    wide = wide.assign(base_client=wide.client.astype(str).str.removesuffix(ROOTLESS_SUFFIX))
    fixed = {
        "runtime": ["client", "pace_key"],
        "pace": ["client", "runtime"],
        "mode": ["base_client", "runtime", "pace_key"],
    }[by]
    for key, group in wide.groupby(fixed + ["step"], sort=True):
        step = key[-1]
        labels = sorted(group["label"].unique())
        for i, a in enumerate(labels):
            for b in labels[i + 1 :]:
                ga, gb = group[group.label == a], group[group.label == b]
                step_diff = float(np.median(ga.wall_s) - np.median(gb.wall_s))
                # the phases both define (a phase of one runtime only is no difference)
                seen_a = set(phases.loc[phases.container_id.isin(ga.container_id), "phase"])
                seen_b = set(phases.loc[phases.container_id.isin(gb.container_id), "phase"])
                names = [
                    n for n in wide.columns if n in (seen_a & seen_b) or n == phasedefs.UNATTRIBUTED
                ]
                rng = np.random.default_rng(stats.derive_seed(seed, a, b, step))
                # twins that ran in the same rounds (targets and paces are interleaved
                # within a round) are paired by round; else unpaired
                ka = ga.groupby(["run_id", "round"])[names].mean()
                kb = gb.groupby(["run_id", "round"])[names].mean()
                common = ka.index.intersection(kb.index)
                paired = len(common) >= stats.MIN_PAIRED_ROUNDS
                out = []
                for name in names:
                    xa = ga[name].to_numpy(dtype=float)
                    xb = gb[name].to_numpy(dtype=float)
                    if paired:
                        d = (ka.loc[common, name] - kb.loc[common, name]).to_numpy(dtype=float)
                        est = shift.paired(d, confidence)[0]
                        diff, low, high = float(est.estimate), float(est.low), float(est.high)
                    else:
                        low, high = _boot_median_diff(xa, xb, rng, n_boot, confidence)
                        diff = float(np.median(xa) - np.median(xb))
                    out.append(
                        {
                            "step": step,
                            "a": a,
                            "b": b,
                            "phase": name,
                            "a_median_s": float(np.median(xa)),
                            "b_median_s": float(np.median(xb)),
                            "diff_s": diff,
                            "diff_low_s": low,
                            "diff_high_s": high,
                            "step_diff_s": step_diff,
                            "explains": False,
                            "paired_rounds": len(common) if paired else 0,
                        }
                    )
                if out:
                    sign = 1.0 if step_diff >= 0 else -1.0
                    best = max(range(len(out)), key=lambda k: sign * out[k]["diff_s"])
                    out[best]["explains"] = True
                rows += out
    return pd.DataFrame(rows, columns=cols)


def tracing_cost(
    trials: pd.DataFrame, *, seed: int = 0, n_boot: int = 2000, confidence: float = stats.CONFIDENCE
) -> pd.DataFrame:
    """The cost of tracing: per client, runtime, pace and step, the median wall time of
    the traced twin against the untraced unit, paired by round (the twins ran in the same
    rounds, interleaved), and the ratio traced/untraced: the Hodges–Lehmann estimate of
    the per-round log ratios with the signed-rank inversion CI (:func:`shift.paired`, the
    comparisons' own; NaN bounds below 6 paired rounds). ``seed`` and ``n_boot`` are
    unused (kept for callers): nothing is resampled.

    Columns: client, runtime, pace_s, step, n_pairs, median_untraced_s, median_traced_s,
    ratio, ratio_low, ratio_high.
    """
    cols = [
        "client",
        "runtime",
        "pace_s",
        "step",
        "n_pairs",
        "median_untraced_s",
        "median_traced_s",
        "ratio",
        "ratio_low",
        "ratio_high",
    ]
    if "traced" not in trials.columns:
        return pd.DataFrame(columns=cols)
    ok = trials[~trials["warmup"].astype(bool) & trials["ok"].astype(bool)].copy()
    ok["is_traced"] = ok["traced"].astype(str).str.lower() == "true"
    ok["pace_key"] = _pace_key(ok)
    if "mode" in ok.columns:  # rootless is its own target (as stats and phases.csv name it)
        rootless = ok["mode"].astype(str).eq("rootless")
        ok["client"] = ok["client"].astype(str).where(~rootless, ok["client"] + ROOTLESS_SUFFIX)
    ok["round_key"] = (
        ok["run_id"].astype(str) + "\x1f" + ok["round"].astype(str)
        if "run_id" in ok.columns
        else ok["round"].astype(str)
    )
    rows = []
    for (client, runtime, pace, step), group in ok.groupby(
        ["client", "runtime", "pace_key", "step"], sort=True
    ):
        t = group[group.is_traced].groupby("round_key")["wall_s"].median()
        u = group[~group.is_traced].groupby("round_key")["wall_s"].median()
        both = t.index.intersection(u.index)
        if not len(both):
            continue
        a, b = t[both].to_numpy(dtype=float), u[both].to_numpy(dtype=float)
        # paired twins compared paired: Hodges–Lehmann of the per-round log ratios with the
        # signed-rank inversion CI (shift.paired, as stats.compare), no bootstrap
        (found,) = shift.paired(np.log(a) - np.log(b), confidence)
        rows.append(
            {
                "client": client,
                "runtime": runtime,
                "pace_s": None if pace == -1.0 else float(pace),
                "step": step,
                "n_pairs": int(a.size),
                "median_untraced_s": float(np.median(b)),
                "median_traced_s": float(np.median(a)),
                "ratio": float(np.exp(found.estimate)),
                "ratio_low": float(np.exp(found.low)),
                "ratio_high": float(np.exp(found.high)),
            }
        )
    return pd.DataFrame(rows, columns=cols)


# -- the phase tables and figures rtlab analyze writes (report/phase_report.py renders them)

SUMMARY_FILE = "phases_summary.csv"
COVERAGE_FILE = "phases_coverage.csv"
DIFFERENCES_FILE = "phases_differences.csv"
COST_FILE = "tracing_cost.csv"
FIGURES = Path("figures") / "phases"


@dataclass
class PhaseResult:
    summary: pd.DataFrame
    coverage: pd.DataFrame
    differences: pd.DataFrame
    cost: pd.DataFrame
    tables: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)


def analyze_phases(
    phases: pd.DataFrame,
    trials: pd.DataFrame,
    out_dir: Path | str,
    *,
    seed: int = 0,
    figures: bool = True,
) -> PhaseResult | None:
    """The phase tables (and figures) of traced runs, written into ``out_dir``; None when
    no run was traced (no phases.csv row and no ``traced`` trial)."""
    traced = (
        "traced" in trials.columns and (trials["traced"].astype(str).str.lower() == "true").any()
    )
    if not len(phases) and not traced:
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = phase_summary(phases)
    result = PhaseResult(
        summary,
        coverage(summary),
        pd.concat(
            [
                differences(phases, by="runtime", seed=seed),
                differences(phases, by="pace", seed=seed),
                differences(phases, by="mode", seed=seed),
            ],
            ignore_index=True,
        ),
        tracing_cost(trials, seed=seed),
    )
    for frame, name in (
        (result.summary, SUMMARY_FILE),
        (result.coverage, COVERAGE_FILE),
        (result.differences, DIFFERENCES_FILE),
        (result.cost, COST_FILE),
    ):
        frame.to_csv(out / name, index=False)
        result.tables.append(out / name)
    if figures and len(summary):
        result.figures = _figures(phases, summary, out / FIGURES)
    return result


def _figures(phases: pd.DataFrame, summary: pd.DataFrame, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure

    written: list[Path] = []
    for step in stats.ordered_steps(summary["step"].unique().tolist()):
        n = len(summary[summary.step == step][["target", "pace_s"]].drop_duplicates())
        fig = Figure(figsize=(max(6.0, 1.4 * n + 4.0), 4.8), layout="constrained")
        phaseplots.phase_bars(summary, step=step, ax=fig.subplots())
        written += plots.save_figure(fig, folder / f"phases_{step}", svg=False)
        fig = Figure(figsize=(10.0, max(2.5, 0.6 * n + 1.5)), layout="constrained")
        phaseplots.timeline(phases, step=step, ax=fig.subplots())
        written += plots.save_figure(fig, folder / f"timeline_{step}", svg=False)
    return written


def _ms(x) -> str:
    return "—" if x is None or x != x else f"{x * 1e3:.2f}"


def _pace(p) -> str:
    return "" if p is None or p != p else f" @ pace {p * 1e3:g} ms"


def _interval(median, low, high) -> str:
    if low != low or high != high:
        return f"{_ms(median)} (n too small for a CI)"
    return f"{_ms(median)} [{_ms(low)}, {_ms(high)}]"


def explained(result: PhaseResult) -> pd.DataFrame:
    """The differences a phase explains: the top phase of each pair, kept only when its
    CI excludes no difference (the others are listed in phases_differences.csv)."""
    d = result.differences
    if not len(d):
        return d
    top = d[d["explains"] & (d["phase"] != phasedefs.UNATTRIBUTED)]
    return top[(top["diff_low_s"] > 0) | (top["diff_high_s"] < 0)]


def sentences(result: PhaseResult) -> list[str]:
    """The section's findings as plain sentences (rtlab analyze prints them): how much
    the named phases explain, which phase explains each difference, the cost of tracing."""
    out = [
        f"{r.target}{_pace(r.pace_s)} {r.step}: {r.named_phases} named phases whose medians "
        f"add up to {r.named_share:.0%} of the step's median ({_ms(r.step_median_s)} ms, "
        f"{r.n} traced trials); unattributed {r.unattributed_share:.0%}."
        for r in result.coverage.itertuples(index=False)
    ]
    for r in explained(result).itertuples(index=False):
        out.append(
            f"{r.step}: {r.a} against {r.b} differs by {_ms(r.step_diff_s)} ms (step "
            f"medians); the phase that moves most in that direction is {r.phase!r}: "
            f"{_ms(r.diff_s)} ms ("
            + (
                f"Hodges–Lehmann of its differences paired over {int(r.paired_rounds)} "
                "rounds, signed-rank"
                if getattr(r, "paired_rounds", 0)
                else "difference of medians, unpaired bootstrap"
            )
            + f" 95% CI {_ms(r.diff_low_s)} to {_ms(r.diff_high_s)}, which excludes 0; "
            f"medians {_ms(r.a_median_s)} against {_ms(r.b_median_s)} ms)."
        )
    for r in result.cost.itertuples(index=False):
        moved = abs(r.ratio - 1.0)
        out.append(
            f"Tracing {stats.target_label(r.client, r.runtime)}{_pace(r.pace_s)} {r.step}: "
            f"median {_ms(r.median_traced_s)} ms traced against "
            f"{_ms(r.median_untraced_s)} ms untraced, ratio {r.ratio:.2f} (95% CI "
            f"{r.ratio_low:.2f}–{r.ratio_high:.2f}, Hodges–Lehmann over {r.n_pairs} paired "
            "rounds): "
            + (
                "within 5%."
                if moved <= 0.05
                else f"tracing moves the median by {r.ratio - 1.0:+.0%}."
            )
        )
    return out
