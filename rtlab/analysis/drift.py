"""How a host moved between two runs (two sittings), so the gate can tell it from a regression.

Two runs are two sittings, and between sittings this host moves by tens of per
cent; it does not move evenly. On make report's study recorded twice on an idle
host (data/sittings-idle), every target/step was slower by a median 12.9%, and
beyond that docker's rows by another 7.7% (its daemon's state) and the oci
client's 3% less: tested beyond one host-wide median, docker's rows were
"regressions" of unchanged software in 19–22% of simulated comparisons
(benchmarks/gate_power.py).

The model here (on the log scale, each row's Hodges–Lehmann shift from A to B):
a row's expected shift is the host's (the median) plus its client's effect plus
its step's effect, fitted by Tukey's median polish. Each row's expectation is
fitted **without that row** (leave one out), so a row's own regression never
excuses itself; a level with fewer than :data:`MIN_LEVEL_ROWS` other rows gets no
effect. What this cannot tell: a change of a whole client (docker's every row)
or of a whole step is absorbed as that client's or step's drift, and named as
such in the report (:func:`host_shift_line`), never called a regression across
sittings; to test one, record both versions in alternation in one sitting.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from rtlab.core.experiments import TOTAL_STEP  # rows that repeat their steps: never fitted

# The host-wide shift needs at least this many other rows (else 0: each row as is).
MIN_HOST_ROWS = 4
# A client's or step's effect needs at least this many other rows of that level.
MIN_LEVEL_ROWS = 3
_POLISH_SWEEPS = 4


def polish(values: np.ndarray, factors: list[np.ndarray]) -> tuple[float, list[dict]]:
    """Median polish of ``values`` over additive ``factors``: (grand median, per factor its
    level → effect). Levels with fewer than :data:`MIN_LEVEL_ROWS` values get none."""
    grand = float(np.median(values))
    resid = values - grand
    effects: list[dict] = [{} for _ in factors]
    for _ in range(_POLISH_SWEEPS):
        for levels, effect in zip(factors, effects):
            for level in np.unique(levels):
                sel = levels == level
                if sel.sum() < MIN_LEVEL_ROWS:
                    continue
                m = float(np.median(resid[sel]))
                effect[level] = effect.get(level, 0.0) + m
                resid[sel] -= m
    return grand, effects


def _others(use: np.ndarray, i: int, units: np.ndarray | None) -> np.ndarray:
    """The rows to fit row ``i``'s expectation on: ``use`` without row ``i`` and without
    the other rows of its target (``units``): a target that regressed in every step (or
    the CRI's create and start, which appear as a lifecycle row and a cri row, one
    measurement) must not excuse, or widen the allowance of, its own rows."""
    others = use.copy()
    others[i] = False
    if units is not None:
        others &= units != units[i]
    return others


def host_shifts(
    log_shifts: np.ndarray,
    steps: np.ndarray,
    clients: np.ndarray | None = None,
    units: np.ndarray | None = None,
) -> np.ndarray:
    """Per row, the log shift from A to B that the *other* rows expect of it: the median
    of theirs plus (given ``clients``) its client's and its step's effect fitted on them
    (:func:`polish`); ``total`` rows are left out of every fit. 0 with fewer than
    :data:`MIN_HOST_ROWS` other rows."""
    shifts = np.asarray(log_shifts, dtype=float)
    steps = np.asarray(steps)
    use = np.isfinite(shifts) & (steps != TOTAL_STEP)
    units = None if units is None else np.asarray(units)
    clients = None if clients is None else np.asarray(clients)
    out = np.zeros(shifts.size)
    for i in range(shifts.size):
        others = _others(use, i, units)
        if others.sum() < MIN_HOST_ROWS:
            continue
        if clients is None:
            out[i] = float(np.median(shifts[others]))
            continue
        grand, (by_client, by_step) = polish(shifts[others], [clients[others], steps[others]])
        out[i] = grand + by_client.get(clients[i], 0.0) + by_step.get(steps[i], 0.0)
    return out


def host_shift(log_shifts: np.ndarray, steps: np.ndarray, clients: np.ndarray) -> dict | None:
    """How much slower (positive) or faster the host was in B as a whole — the median
    over the target/steps' changes (``total`` left out) — and, beyond it, each client's
    and step's own drift (:func:`polish`); None with fewer than :data:`MIN_HOST_ROWS` + 1
    rows.

    No interval (``low``/``high`` NaN): the target/steps share rounds (one host moment
    slows every target of a round), so they are not independent draws, and the median's
    order-statistic interval over them covered the true host-wide shift only 26–78% of
    the time (benchmarks/host_shift_coverage.py, issue 31). The estimate itself is
    unbiased there; the gate uses it (:func:`host_shifts`), never an interval."""
    shifts, steps, clients = np.asarray(log_shifts, float), np.asarray(steps), np.asarray(clients)
    use = np.isfinite(shifts) & (steps != TOTAL_STEP)
    if use.sum() < MIN_HOST_ROWS + 1:
        return None
    grand, (by_client, by_step) = polish(shifts[use], [clients[use], steps[use]])
    return {
        "change": float(np.expm1(np.median(shifts[use]))),
        "low": np.nan,
        "high": np.nan,
        "rows": int(use.sum()),
        "clients": {str(c): float(np.expm1(e)) for c, e in sorted(by_client.items())},
        "steps": {str(s): float(np.expm1(e)) for s, e in sorted(by_step.items())},
    }


def heterogeneity(
    log_shifts: np.ndarray,
    expected: np.ndarray,
    ses: np.ndarray,
    steps: np.ndarray,
    units: np.ndarray | None = None,
) -> np.ndarray:
    """Per row, τ: how far the *other* rows move beyond what is expected of them
    (:func:`host_shifts`) on their own, net of their own noise — the Paule–Mandel
    estimate on the log scale: the τ at which the mean of their squared residuals, each
    over its ``se² + τ²``, is 1 (``total`` rows left out); 0 when the residuals are no
    bigger than the rows' own noise (one sitting). Leaving the row (and its target's
    other rows, ``units``) out keeps a regression of its own from widening its allowance.
    ``ses``: each row's standard error of its log shift (:func:`standard_error`)."""
    shifts, expected, ses = (np.asarray(v, dtype=float) for v in (log_shifts, expected, ses))
    use = np.isfinite(shifts) & np.isfinite(ses) & (ses > 0) & (np.asarray(steps) != TOTAL_STEP)
    resid2 = np.where(use, (shifts - expected) ** 2, 0.0)
    var = np.where(use, ses**2, 1.0)
    units = None if units is None else np.asarray(units)
    out = np.zeros(shifts.size)
    for i in range(shifts.size):
        others = _others(use, i, units)
        if others.sum() < MIN_HOST_ROWS + 1:
            continue
        r2, v = resid2[others], var[others]

        def excess(tau: float, r2=r2, v=v) -> float:
            return float(np.mean(r2 / (v + tau**2))) - 1.0

        if excess(0.0) <= 0:
            continue
        low, high = 0.0, float(np.sqrt(r2.max()))
        for _ in range(40):  # bisection: the excess falls as tau grows
            mid = (low + high) / 2
            low, high = (mid, high) if excess(mid) > 0 else (low, mid)
        out[i] = high
    return out


def standard_error(low: float, high: float, confidence: float) -> float:
    """The standard error a two-sided ``confidence`` interval (``low``, ``high``) implies:
    its width over twice the normal quantile (3.92 at 95%)."""
    return float((high - low) / (2.0 * sps.norm.ppf(0.5 + confidence / 2.0)))


def beyond_p(log_shift: float, expected: float, se: float, tau: float, threshold: float) -> float:
    """One-sided p that a row moved more than ``threshold`` beyond what the others expect of
    it (when that is a slowdown), with its own noise ``se`` and the rows' spread ``tau``
    (:func:`heterogeneity`): a normal test of its log shift. NaN without a shift or an se."""
    if not (np.isfinite(log_shift) and np.isfinite(se)):
        return np.nan
    spread = float(np.hypot(se, tau))
    if spread <= 0:
        return np.nan
    z = (log_shift - max(expected, 0.0) - np.log1p(threshold)) / spread
    return float(sps.norm.sf(z))


HOST_SHIFT_NO_CI = (
    "no CI: the target/steps share rounds, so they are not independent, and an interval "
    "over them covered the true shift 26–78% of the time (benchmarks/host_shift_coverage.py)"
)
# A client's or step's own drift is named in the note from this size on.
NAMED_DRIFT = 0.02


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def host_shift_line(shift_: dict | None) -> str:
    """The host-wide shift, and the clients' and steps' drift beyond it, as one sentence
    (what the gate discounts)."""
    if shift_ is None:
        return "too few target/steps to estimate the host's own shift: the gate tests each as is"
    way = "slower" if shift_["change"] > 0 else "faster"
    named = [
        f"{kind} {name} {_pct(effect)}"
        for kind, key in (("client", "clients"), ("step", "steps"))
        for name, effect in shift_.get(key, {}).items()
        if abs(effect) >= NAMED_DRIFT
    ]
    beyond = (
        f"; beyond it, as a whole: {', '.join(named)} (a whole client's or step's move is "
        "taken as the sitting's drift, not a regression: to test one, record both versions "
        "in alternation in one sitting)"
        if named
        else ""
    )
    tau = shift_.get("tau") or 0.0
    spread = (
        f"; each target/step moved around that by about ±{tau:.1%} more on its own (τ), "
        "which the gate allows for"
        if tau >= 0.005
        else ""
    )
    return (
        f"the host as a whole was {abs(shift_['change']):.1%} {way} in B "
        f"({_pct(shift_['change'])}: the median change of {shift_['rows']} target/steps; "
        f"{HOST_SHIFT_NO_CI}){beyond}{spread}; the gate flags a target/step only beyond what the "
        "other target/steps of its client and step expect (when slower) and the threshold"
    )
