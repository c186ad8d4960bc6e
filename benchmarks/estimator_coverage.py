#!/usr/bin/env python3
"""The numbers of issue 18's "what it must show" 1–3, from the code the report runs.

1. The synthetic 1.15× case (round effect SD 0.17, noise SD 0.05, ρ 0.7 between the
   two targets' round effects) at 12 and 20 rounds, ``--reps`` replicates each: the
   share of 95 % CIs (Hodges–Lehmann of the per-round log ratio, signed-rank
   inversion: :func:`rtlab.analysis.shift.paired_many`, which tests/unit/test_shift.py checks
   against :func:`rtlab.analysis.shift.paired`) that cover the true 1.15, its binomial SE and
   the band nominal ± 2 SE, and how many replicates have the estimate outside its own
   CI (must be 0). The first ``--compare-reps`` replicates also go through
   :func:`rtlab.analysis.stats.compare` (the table the report prints) for the same checks.
2. Identical distributions (ratio 1, same noise), 12 rounds, ``--equiv-reps``
   replicates through :func:`rtlab.analysis.stats.compare` at ``margin=0.2``: the share
   "equivalent", the share "faster"/"slower" alone, and whether "equivalent" is given
   exactly when the 90 % CI lies inside 1/1.2–1.2.
3. A lifecycle run and a pause run analysed together (:func:`rtlab.analysis.analysis.analyze`):
   each experiment's docker/runc ``total`` median and ``create`` count (not pooled),
   the experiments of the comparisons and findings; and ``rtlab compare`` of
   data/sample-paced/run-1 against a copy of run-2 relabelled as the pause
   experiment: its exit code and its one error line.

The simulated cases are the ones tests/unit/test_shift.py asserts on (imported from it,
one definition). Run from the repository root:

    .venv/bin/python benchmarks/estimator_coverage.py [--reps 2000]

Writes benchmarks/results/estimator_coverage.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "unit"))

import test_shift as case  # noqa: E402  (the simulated cases of the tests)
from _common import save  # noqa: E402

from rtlab import cli  # noqa: E402
from rtlab.analysis import analysis, shift, stats  # noqa: E402


def coverage(reps: int, compare_reps: int, seed: int) -> list[dict]:
    """Item 1 at 12 and 20 rounds."""
    out = []
    truth = np.log(case.RATIO)
    for n_rounds in (12, 20):
        rng = np.random.default_rng(seed + n_rounds)
        d = case.paired_log_ratios(rng, reps, n_rounds, case.RATIO)
        estimate, low, high = shift.paired_many(d, stats.CONFIDENCE)
        covered = float(np.mean((low <= truth) & (truth <= high)))
        se = float(np.sqrt(stats.CONFIDENCE * (1 - stats.CONFIDENCE) / reps))
        outside = int(np.sum((estimate < low) | (estimate > high)))
        # the same replicates through stats.compare (a = the slower target b here)
        table_outside = table_covered = 0
        for row_d in d[:compare_reps]:
            row = stats.compare(case.frame_from_log_ratios(row_d)).iloc[0]  # a over b
            ratio, lo, hi = 1 / row["ratio"], 1 / row["ratio_ci_high"], 1 / row["ratio_ci_low"]
            table_outside += not (lo <= ratio <= hi)
            table_covered += lo <= case.RATIO <= hi
        out.append(
            {
                "rounds": n_rounds,
                "replicates": reps,
                "true_ratio": case.RATIO,
                "coverage": covered,
                "se": se,
                "band": [stats.CONFIDENCE - 2 * se, stats.CONFIDENCE + 2 * se],
                "within_band": abs(covered - stats.CONFIDENCE) <= 2 * se,
                "estimate_outside_ci": outside,
                "median_ci_width_ratio": float(np.median(np.exp(high) / np.exp(low))),
                "compare_replicates": compare_reps,
                "compare_estimate_outside_ci": table_outside,
                "compare_coverage": table_covered / compare_reps if compare_reps else None,
            }
        )
        print(
            f"1. {n_rounds} rounds, {reps} replicates: coverage {covered:.4f} "
            f"(SE {se:.4f}; nominal ± 2 SE {stats.CONFIDENCE - 2 * se:.4f}–"
            f"{stats.CONFIDENCE + 2 * se:.4f}), estimate outside its CI in {outside}; "
            f"through stats.compare ({compare_reps}): coverage "
            f"{table_covered / max(compare_reps, 1):.3f}, outside {table_outside}",
            flush=True,
        )
    return out


def equivalence(reps: int, seed: int) -> dict:
    """Item 2: identical distributions at margin 0.2."""
    rng = np.random.default_rng(seed)
    rows = [
        stats.compare(
            case.frame_from_log_ratios(case.paired_log_ratios(rng, 1, 12, 1.0)[0]), margin=0.2
        ).iloc[0]
        for _ in range(reps)
    ]
    verdicts = pd.Series([r["verdict"] for r in rows])
    differences = pd.Series([r["difference"] for r in rows])
    inside = [(r["equiv_ci_low"] > 1 / 1.2) and (r["equiv_ci_high"] < 1.2) for r in rows]
    result = {
        "replicates": reps,
        "rounds": 12,
        "margin": 0.2,
        "equivalent": float((verdicts == stats.EQUIVALENT).mean()),
        "faster_or_slower_alone": float(verdicts.isin([stats.FASTER, stats.SLOWER]).mean()),
        "inconclusive": float((verdicts == stats.INCONCLUSIVE).mean()),
        "equivalent_with_a_difference": float(
            ((verdicts == stats.EQUIVALENT) & (differences != "")).mean()
        ),
        "equivalent_exactly_when_ci_inside": bool(
            all((v == stats.EQUIVALENT) == i for v, i in zip(verdicts, inside))
        ),
    }
    print(
        f"2. identical distributions, 12 rounds, margin 0.2, {reps} replicates: "
        f"equivalent {result['equivalent']:.3f}, faster/slower alone "
        f"{result['faster_or_slower_alone']:.3f}, inconclusive {result['inconclusive']:.3f}, "
        f"equivalent with a significant difference beside it "
        f"{result['equivalent_with_a_difference']:.3f}; equivalent exactly when the 90% CI "
        f"is inside 0.833–1.2: {result['equivalent_exactly_when_ci_inside']}",
        flush=True,
    )
    return result


def never_pooled() -> dict:
    """Item 3: lifecycle + pause analysed together; rtlab compare across experiments."""
    trials = pd.concat([case.lifecycle_trials(), case.pause_trials()], ignore_index=True)
    with tempfile.TemporaryDirectory(prefix="rtlab-coverage-") as tmp:
        result = analysis.analyze(trials, Path(tmp) / "out", figures="none")
        summary = result.summary.set_index(["experiment", "client", "runtime", "step"])
        run_b = Path(tmp) / "run-2"
        shutil.copytree(ROOT / "data" / "sample-paced" / "run-2", run_b)
        frame = pd.read_csv(run_b / "trials.csv", dtype=str, keep_default_na=False)
        frame.assign(experiment="pause").to_csv(run_b / "trials.csv", index=False)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["compare", str(ROOT / "data" / "sample-paced" / "run-1"), str(run_b)])
    out = {
        "experiments": result.experiments,
        "docker_runc_total_median_s": {
            e: float(summary.loc[(e, "docker", "runc", "total"), "median_s"])
            for e in ("lifecycle", "pause")
        },
        "docker_runc_total_steps": {"lifecycle": 4, "pause": 6},
        "docker_runc_create_n": {
            e: int(summary.loc[(e, "docker", "runc", "create"), "n"])
            for e in ("lifecycle", "pause")
        },
        "comparison_experiments": sorted(set(result.comparisons["experiment"])),
        "comparison_methods": sorted(set(result.comparisons["method"])),
        "findings_prefixed": all(
            f.startswith(("Lifecycle experiment: ", "Pause experiment: ")) for f in result.findings
        ),
        "compare_across_experiments_exit": code,
        "compare_error": err.getvalue().strip(),
    }
    print(
        f"3. lifecycle + pause analysed together: experiments {out['experiments']}; "
        f"docker/runc total median {out['docker_runc_total_median_s']} (4 and 6 steps, "
        f"separate); create n {out['docker_runc_create_n']} (not 24); comparisons of "
        f"{out['comparison_experiments']} ({out['comparison_methods']}); every finding "
        f"names its experiment: {out['findings_prefixed']}",
        flush=True,
    )
    print(
        f"   rtlab compare run-1 (lifecycle) run-2-as-pause: exit "
        f"{out['compare_across_experiments_exit']}: {out['compare_error']}",
        flush=True,
    )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=case.REPS, help="replicates of item 1")
    p.add_argument(
        "--compare-reps",
        type=int,
        default=200,
        help="of those, replicates also run through stats.compare",
    )
    p.add_argument("--equiv-reps", type=int, default=1000, help="replicates of item 2")
    p.add_argument("--seed", type=int, default=18)
    args = p.parse_args()
    payload = {
        "reps": args.reps,
        "seed": args.seed,
        "case": {
            "ratio": case.RATIO,
            "round_sd": case.ROUND_SD,
            "noise_sd": case.NOISE_SD,
            "rho": case.RHO,
        },
        "coverage": coverage(args.reps, args.compare_reps, args.seed),
        "equivalence": equivalence(args.equiv_reps, args.seed + 1),
        "never_pooled": never_pooled(),
    }
    print(f"saved {save('estimator_coverage', payload)}")
    cov_ok = all(
        c["within_band"] and c["estimate_outside_ci"] == 0 and c["compare_estimate_outside_ci"] == 0
        for c in payload["coverage"]
    )
    eq = payload["equivalence"]
    eq_ok = eq["equivalent"] >= 0.95 and eq["equivalent_exactly_when_ci_inside"]
    pooled_ok = payload["never_pooled"]["compare_across_experiments_exit"] == 2
    return 0 if cov_ok and eq_ok and pooled_ok else 1


if __name__ == "__main__":
    sys.exit(main())
