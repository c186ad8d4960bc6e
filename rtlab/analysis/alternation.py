"""Two runtimes measured in alternation in one run (A B A B, one sitting): the regression gate.

Across sittings this host moves by tens of per cent, and the gate between two runs
(:mod:`rtlab.analysis.compare`) can discount the host's move but misses a one-target
regression about 4 times in 10 (README, benchmarks/gate_power.py). A build under test
and its baseline measured in one run, round by round (``rtlab collect --runtime
runc-new=/path --runtimes runc,runc-new``), share every round's host: per client, step
and pace, each round where both succeeded gives one log ratio candidate/baseline, and
the host's drift cancels in it.

Per row: the Hodges–Lehmann centre of the per-round log ratios (the typical per-round
ratio) with its signed-rank 95% CI (:func:`rtlab.analysis.shift.paired_test`), not
adjusted for multiplicity (said beside it); the gate's p, one-sided, that the candidate
is slower than the baseline by more than ``threshold`` (the same signed-rank inversion,
of the ratios over 1 + threshold); a failure test (Fisher, candidate failing more
often, :func:`rtlab.analysis.compare.failure_p`). All rows' tests form one family,
adjusted by the conditional Holm procedure (:func:`rtlab.analysis.compare.gate_decisions`),
as ``rtlab compare``'s. A row is a regression when an adjusted p is below alpha.
benchmarks/alternation_gate.py measures its false alarms and power on a real A/A run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rtlab.analysis import compare, frames, shift, stats

# A row needs this many rounds where both runtimes succeeded (else: not tested, said).
MIN_PAIRS = 6
_KEYS = ("experiment", "client", "pace_s", "step")


class AlternationError(ValueError):
    """The run cannot answer the comparison asked (one line, names what it has)."""


def gate(
    trials: pd.DataFrame,
    baseline: str,
    candidate: str,
    *,
    alpha: float = 0.05,
    threshold: float = compare.DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Per experiment, client, pace and step measured for both runtimes: pairs, the
    per-round ratio candidate/baseline with its 95% CI, the gate's raw and adjusted p,
    the failure counts and p, and ``regression`` (see the module docstring)."""
    measured = set(trials["runtime"].astype(str))
    for name in (baseline, candidate):
        if name not in measured:
            raise AlternationError(
                f"runtime {name!r} is not in this run; it has: {', '.join(sorted(measured))}"
            )
    if baseline == candidate:
        raise AlternationError(f"--pair names {baseline!r} twice; give BASELINE,CANDIDATE")
    frame = stats.samples(trials)
    frame = frames.with_pace_key(frame[frame["runtime"].isin([baseline, candidate])])
    frame = frame.reset_index(drop=True)
    good = stats.is_sample(frame)
    rows = []
    for key, index in frame.groupby(list(_KEYS), sort=True).indices.items():
        group = frame.iloc[index]
        if set(group["runtime"]) != {baseline, candidate}:
            continue  # one of them not measured through this client (e.g. not registered)
        ok = frame.iloc[index[good[index]]]
        sides = {rt: ok[ok["runtime"] == rt] for rt in (baseline, candidate)}
        per_round = {
            rt: pd.Series(np.log(s["wall_s"].to_numpy(float)), index=s["round"].to_numpy())
            for rt, s in sides.items()
        }
        joined = pd.concat(per_round, axis=1, join="inner").dropna()
        d = (joined[candidate] - joined[baseline]).to_numpy()
        n_base = int((group["runtime"] == baseline).sum())
        n_cand = int((group["runtime"] == candidate).sum())
        failed_base = n_base - len(sides[baseline])
        failed_cand = n_cand - len(sides[candidate])
        row = dict(zip(_KEYS, key))
        row.update(
            baseline=baseline,
            candidate=candidate,
            pairs=int(d.size),
            failed_baseline=failed_base,
            failed_candidate=failed_cand,
            p_fail=compare.failure_p(failed_base, n_base, failed_cand, n_cand),
        )
        if d.size >= MIN_PAIRS:
            (found,), _ = shift.paired_test(d, stats.CONFIDENCE)
            # one-sided from the two-sided inversion, on the ratios over 1 + threshold
            (beyond,), p_two = shift.paired_test(d - np.log1p(threshold), stats.CONFIDENCE)
            p_slower = p_two / 2 if beyond.estimate > 0 else 1 - p_two / 2
            row.update(
                ratio=float(np.exp(found.estimate)),
                ci_low=float(np.exp(found.low)),
                ci_high=float(np.exp(found.high)),
                p_slower=float(p_slower),
            )
        else:
            row.update(ratio=np.nan, ci_low=np.nan, ci_high=np.nan, p_slower=np.nan)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        raise AlternationError(
            f"{baseline} and {candidate} share no client and step in this run: nothing to pair"
        )
    slower_adj, fail_adj, flagged = compare.gate_decisions(
        table["p_slower"].to_numpy(float), table["p_fail"].to_numpy(float), alpha
    )
    table["p_slower_adj"], table["p_fail_adj"], table["regression"] = slower_adj, fail_adj, flagged
    table["pace_s"] = table["pace_s"].where(table["pace_s"] >= 0, np.nan)
    return table


def _where(r) -> str:
    pace = "" if not np.isfinite(r.pace_s) else f", pace {r.pace_s * 1e3:g} ms"
    return f"{r.client} {r.step} ({r.experiment}{pace})"


def format_lines(table: pd.DataFrame, threshold: float, alpha: float) -> list[str]:
    """What ``rtlab compare RUN --pair`` prints: the method in one line, one line per row
    (the regressions marked), and the verdict last."""
    first = table.iloc[0]
    base, cand = first["baseline"], first["candidate"]
    lines = [
        f"{cand} against {base} measured in alternation in one run, paired by round: the "
        f"typical per-round ratio {cand}/{base} with its 95% CI (not adjusted for "
        f"multiplicity); the gate tests 'more than {threshold:.0%} slower' over every row "
        f"at once (conditional Holm, alpha {alpha:g})"
    ]
    for r in table.itertuples():
        if not np.isfinite(r.ratio):
            est = f"not tested: {r.pairs} rounds where both succeeded (fewer than {MIN_PAIRS})"
        else:
            est = (
                f"{r.ratio:.3f} [{r.ci_low:.3f}–{r.ci_high:.3f}] over {r.pairs} rounds, "
                f"gate p_adj {r.p_slower_adj:.2g}"
            )
        fails = (
            f"; failed {r.failed_baseline} ({base}) vs {r.failed_candidate} ({cand})"
            if r.failed_baseline or r.failed_candidate
            else ""
        )
        mark = "REGRESSION " if r.regression else ""
        lines.append(f"{mark}{_where(r)}: {est}{fails}")
    flagged = table[table["regression"]]
    if flagged.empty:
        lines.append(
            f"no regression: {cand} is not shown slower than {base} by more than "
            f"{threshold:.0%} at any client and step, nor failing more often"
        )
    else:
        names = ", ".join(_where(r) for r in flagged.itertuples())
        lines.append(f"regression: {cand} against {base} at {len(flagged)} row(s): {names}")
    return lines
