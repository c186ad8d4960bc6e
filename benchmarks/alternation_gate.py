"""False alarms and power of the gate over two runtimes measured in alternation in one run
(``rtlab compare RUN --pair BASELINE,CANDIDATE``, rtlab/analysis/alternation.py).

Source: data/alternation/aa-runc, a real A/A run: the same runc binary registered twice
(``rtlab collect --runtime runc-new=/usr/sbin/runc --runtimes runc,runc-new --clients
oci,ctr,podman --trials 20``), so every difference between the two is the host's and the
harness's, never the software's. Each simulated run is a smoothed round bootstrap of it
(benchmarks/gate_power.py's ``draw``: whole rounds with replacement, so a round's two
runtimes stay paired, each wall time jittered by the variance-corrected smoothed
bootstrap); ``--reps`` runs per cell.

- False alarms: the share of simulated runs with any regression row (A/A);
- a host that moved during the run: every wall time of the second half of the rounds
  (both runtimes) multiplied by 1.05, 1.10 or 1.20;
- power: the candidate's wall times of one client and step multiplied by 1.3 (for
  ``total``: all four lifecycle steps), every client/step in turn: the share of runs
  that flag that row; mean over rows, and per step.

Run from the repository root: ``.venv/bin/python benchmarks/alternation_gate.py``.
Writes benchmarks/results/alternation_gate.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save  # noqa: E402
from gate_power import draw, load  # noqa: E402

from rtlab.analysis import alternation, stats  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "data" / "alternation" / "aa-runc"
BASELINE, CANDIDATE = "runc", "runc-new"
HOST_SHIFTS = (0.05, 0.10, 0.20)
FACTOR = 1.3


def flagged(trials) -> set[tuple[str, str]]:
    table = alternation.gate(trials, BASELINE, CANDIDATE)
    return {(r.client, r.step) for r in table.itertuples() if r.regression}


def simulate(source, n: int, reps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    alarms, host_alarms, hits = 0, dict.fromkeys(HOST_SHIFTS, 0), {}
    rows = None
    for _ in range(reps):
        run = draw(source, n, rng, "sim")
        found = flagged(run)
        if rows is None:
            table = alternation.gate(run, BASELINE, CANDIDATE)
            rows = [(r.client, r.step) for r in table.itertuples()]
        alarms += bool(found)
        late = run["round"].to_numpy() >= n // 2
        for moved in HOST_SHIFTS:
            shifted = run.assign(wall_s=np.where(late, run["wall_s"] * (1 + moved), run["wall_s"]))
            host_alarms[moved] += bool(flagged(shifted))
        for client, step in rows:
            steps = stats.LIFECYCLE_STEPS if step == stats.TOTAL_STEP else (step,)
            where = (
                (run["runtime"] == CANDIDATE) & (run["client"] == client) & run["step"].isin(steps)
            ).to_numpy()
            slowed = run.assign(wall_s=np.where(where, run["wall_s"] * FACTOR, run["wall_s"]))
            hits[(client, step)] = hits.get((client, step), 0) + ((client, step) in flagged(slowed))
    power = {f"{c}/{s}": h / reps for (c, s), h in hits.items()}
    by_step: dict[str, list[float]] = {}
    for (_, s), h in hits.items():
        by_step.setdefault(s, []).append(h / reps)
    return {
        "trials": n,
        "reps": reps,
        "aa_false_alarm_rate": alarms / reps,
        **{
            f"host_{round(m * 100)}pct_late_false_alarm_rate": c / reps
            for m, c in host_alarms.items()
        },
        "mean_power_30pct": float(np.mean(list(power.values()))),
        "min_power_30pct": float(min(power.values())),
        "mean_power_30pct_by_step": {s: float(np.mean(v)) for s, v in sorted(by_step.items())},
        "power_30pct_by_row": power,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    source = load(SOURCE)
    results = []
    for n in (12, 20):
        entry = simulate(source, n, args.reps, args.seed + n)
        print({k: v for k, v in entry.items() if k != "power_30pct_by_row"}, flush=True)
        results.append(entry)
    path = save(
        "alternation_gate",
        {
            "method": __doc__.split("\n\n")[1],
            "source": str(SOURCE.relative_to(ROOT)),
            "pair": [BASELINE, CANDIDATE],
            "results": results,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
