"""rtlab.analysis.drift: the host's shift between two sittings, and each client's and step's
drift beyond it, so the gate tells a sitting from a regression (issue 31)."""

from __future__ import annotations

import numpy as np
from _synthetic import make_trials

from rtlab.analysis import compare, drift

CLIENTS = ("oci", "docker", "ctr")
RUNTIMES = ("runc", "crun", "runsc")
STEPS = ("create", "start", "kill", "delete", "run")
MEDIANS = {
    (client, runtime): {step: 0.01 * (1 + i + j) for j, step in enumerate(STEPS)}
    for i, (client, runtime) in enumerate((c, r) for c in CLIENTS for r in RUNTIMES)
}


def _grid(host: float, client_drift: dict[str, float]) -> tuple[np.ndarray, ...]:
    clients = np.array([c for c in CLIENTS for _ in RUNTIMES for _ in STEPS])
    steps = np.array([s for _ in CLIENTS for _ in RUNTIMES for s in STEPS])
    shifts = np.array([host + client_drift.get(c, 0.0) for c in clients])
    return shifts, steps, clients


def test_each_row_is_expected_to_move_as_its_client_does_without_itself() -> None:
    shifts, steps, clients = _grid(np.log(1.12), {"docker": np.log(1.08)})
    got = drift.host_shifts(shifts, steps, clients)
    assert np.allclose(got, shifts)  # host + docker's own drift, exactly
    # without clients, the median alone: docker's drift is left in its rows
    plain = drift.host_shifts(shifts, steps)
    assert np.allclose(plain, np.log(1.12))
    # a row's own slowdown never excuses itself
    worse = shifts.copy()
    worse[0] += np.log(1.3)
    assert np.isclose(drift.host_shifts(worse, steps, clients)[0], shifts[0])


def test_a_level_with_too_few_other_rows_gets_no_effect() -> None:
    shifts = np.log(np.array([1.1] * 6 + [1.5, 1.5]))
    steps = np.array(["create", "start", "kill", "delete", "run", "create", "start", "kill"])
    clients = np.array(["oci"] * 6 + ["kube"] * 2)
    got = drift.host_shifts(shifts, steps, clients)
    # kube has 1 other row (< MIN_LEVEL_ROWS): its rows are expected to move as the host
    assert np.allclose(got[6:], np.median(np.delete(shifts, 6)), atol=0.2)
    assert got[6] < np.log(1.5)
    assert drift.host_shifts(shifts[:4], steps[:4], clients[:4]).tolist() == [0.0] * 4


def test_a_client_that_drifted_is_named_and_not_a_regression_of_each_row() -> None:
    """B another sitting: the host 12% slower, docker's daemon 10% beyond it. Tested beyond
    the host's median alone, docker's rows were regressions of unchanged software; now the
    drift is named in the note, and one target slowed 30% beyond it is still flagged."""
    a = make_trials(MEDIANS, n_trials=20, sigma=0.03, seed=11)
    b = make_trials(MEDIANS, n_trials=20, sigma=0.03, seed=12)
    b["wall_s"] *= 1.12 * np.where(b["client"] == "docker", 1.10, 1.0)
    table = compare.changes(a, b)
    assert not table["regression"].any()
    moved = compare.host_shift(table)
    assert moved is not None and abs(moved["change"] - 0.12) < 0.03
    assert abs(moved["clients"]["docker"] - 0.10) < 0.03
    line = drift.host_shift_line(moved)
    assert "client docker +" in line and "not a regression" in line
    worse = b.copy()
    where = (
        (worse["client"] == "docker") & (worse["runtime"] == "crun") & (worse["step"] == "start")
    )
    worse.loc[where, "wall_s"] *= 1.3
    table = compare.changes(a, worse)
    flagged = table[table["regression"]]
    assert ("docker", "crun", "start") in set(
        zip(flagged["client"], flagged["runtime"], flagged["step"])
    )
    assert set(flagged["runtime"]) == {"crun"} and set(flagged["client"]) == {"docker"}


def test_tau_is_zero_within_the_rows_own_noise_and_finds_a_real_spread() -> None:
    rng = np.random.default_rng(5)
    n = 120
    steps = np.array(["create", "start", "kill", "delete"] * (n // 4))
    ses = rng.uniform(0.03, 0.08, n)
    expected = np.full(n, 0.1)
    quiet = expected + ses * rng.standard_normal(n)
    # no spread of its own: tau stays well inside the rows' noise (sampling lets it be
    # above 0: the mean of 119 chi-square(1) varies by ±0.13)
    assert np.median(drift.heterogeneity(quiet, expected, ses, steps)) < 0.5 * np.median(ses)
    spread = quiet + 0.06 * rng.standard_normal(n)  # each row moves ±6% more on its own
    taus = drift.heterogeneity(spread, expected, ses, steps)
    assert 0.04 < np.median(taus) < 0.08
    # one row's own 30% regression does not widen its own allowance
    worse = quiet.copy()
    worse[7] += np.log(1.3)
    assert (
        drift.heterogeneity(worse, expected, ses, steps)[7]
        == drift.heterogeneity(quiet, expected, ses, steps)[7]
    )


def test_beyond_p_allows_for_the_spread_and_only_for_slowdowns() -> None:
    thr = 0.05
    # 30% beyond what is expected, se 5%: clear; with a ±20% spread between sittings, not
    assert drift.beyond_p(np.log(1.3), 0.0, 0.05, 0.0, thr) < 1e-4
    assert drift.beyond_p(np.log(1.3), 0.0, 0.05, 0.2, thr) > 0.1
    # an expected speed-up is never credited: tested against 0, as before
    assert drift.beyond_p(np.log(1.3), -0.2, 0.05, 0.0, thr) == drift.beyond_p(
        np.log(1.3), 0.0, 0.05, 0.0, thr
    )
    assert np.isnan(drift.beyond_p(np.nan, 0.0, 0.05, 0.0, thr))


def test_a_target_slower_in_every_step_does_not_excuse_its_own_steps() -> None:
    """Each row is fitted without its target's other rows: crun 20% slower at every step
    under docker is flagged at every step (its own rows would otherwise move docker's
    client effect and widen tau for one another)."""
    a = make_trials(MEDIANS, n_trials=20, sigma=0.03, seed=21)
    b = make_trials(MEDIANS, n_trials=20, sigma=0.03, seed=22)
    where = (b["client"] == "docker") & (b["runtime"] == "crun")
    b.loc[where, "wall_s"] *= 1.2
    table = compare.changes(a, b)
    hit = table[(table["client"] == "docker") & (table["runtime"] == "crun")]
    assert hit["regression"].all(), hit[["step", "change", "p_slower_adj"]]
    assert table["regression"].sum() == len(hit)
