"""Run-to-run comparison: did anything get slower between run A (before) and run B (after)?

Protocol. Both runs must come from one host (the identity in
:data:`rtlab.results.IDENTITY_KEYS`); their runtime and client versions may
differ — that is usually the point — and are listed. For every target and step
measured in both runs (the derived lifecycle ``total`` included, warm-ups
excluded, see :mod:`rtlab.stats`):

- ``change = median(B) / median(A) - 1`` with a 95 % percentile-bootstrap CI
  (:func:`rtlab.stats.ratio_ci`, seeded; one generator for all rows in order);
- ``p``: two-sided Mann–Whitney U of B against A; ``p_adj``: Holm-adjusted over
  every row of the comparison (one family: the question is "did anything
  change");
- ``verdict``: ``"slower"`` or ``"faster"`` only when ``p_adj < alpha`` and the
  CI excludes 0, else ``"no clear change"``; ``"fails in B"`` when A has
  samples and every trial of B failed, ``"fixed in B"`` for the reverse.

The regression gate: a row is a regression when it is ``"fails in B"``, or
``"slower"`` with the *lower* CI bound of the change above ``threshold`` — B is
slower by more than the threshold with 95 % confidence, so noise between two
recordings of the same software does not fail a CI job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from rtlab import results, stats

SLOWER = "slower"
FASTER = "faster"
NO_CLEAR_CHANGE = "no clear change"
FAILS_IN_B = "fails in B"
FIXED_IN_B = "fixed in B"
DEFAULT_THRESHOLD = 0.05

CHANGE_COLUMNS: list[str] = [
    "client", "runtime", "step", "n_a", "n_b", "n_failed_a", "n_failed_b", "median_a_s",
    "median_b_s", "change", "change_ci_low", "change_ci_high", "p", "p_adj", "verdict",
    "regression",
]
# run.json parameters worth mentioning when they differ between A and B.
_PARAMETERS = ("trials", "warmup", "timeout_s", "seed", "workload", "study")


class CompareError(results.RunFormatError):
    """Runs that must not be compared (different hosts); one line saying what differs."""

    def _render_traceback_(self) -> list[str]:
        # IPython (the notebooks) shows this one line instead of a traceback.
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class RunComparison:
    """What :func:`compare_runs` found.

    Attributes
    ----------
    run_a, run_b : str
        The run ids (A = before, B = after).
    dir_a, dir_b : pathlib.Path
        Their folders.
    host : dict
        The shared host identity.
    changes : pandas.DataFrame
        One row per (client, runtime, step) measured in both runs, columns
        :data:`CHANGE_COLUMNS`, in target then lifecycle order.
    version_differences : list of str
        "name: 'A' vs 'B'" for each runtime/client version that differs, then
        the versions only one run recorded.
    parameter_differences : list of str
        Collection parameters that differ (trials, warm-up, workload …).
    only_in_one : list of str
        Targets measured in one run only (not compared).
    alpha, threshold : float
        The significance level and the gate's threshold.
    """

    run_a: str
    run_b: str
    dir_a: Path
    dir_b: Path
    host: dict
    changes: pd.DataFrame
    version_differences: list[str]
    parameter_differences: list[str]
    only_in_one: list[str]
    alpha: float
    threshold: float
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> pd.DataFrame:
        """The rows that fail the gate."""
        return self.changes[self.changes["regression"]]

    def regression_lines(self) -> list[str]:
        """One sentence per regression, naming the target and step."""
        return [regression_sentence(row, self.threshold)
                for _, row in self.regressions.iterrows()]

    def verdict_line(self) -> str:
        """The gate's outcome in one line."""
        bad = self.regressions
        if bad.empty:
            return (f"no regression: no target/step is slower by more than "
                    f"{self.threshold:.0%} with 95% confidence")
        names = ", ".join(f"{stats.target_label(r.client, r.runtime)} {r.step}"
                          for r in bad.itertuples(index=False))
        return f"REGRESSION beyond {self.threshold:.0%} in {len(bad)} target/step(s): {names}"


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def regression_sentence(row: pd.Series, threshold: float) -> str:
    """A regression row as one sentence."""
    where = f"{stats.target_label(row['client'], row['runtime'])} {row['step']}"
    if row["verdict"] == FAILS_IN_B:
        return (f"{where}: every trial failed in B ({row['n_failed_b']} failed) while A has "
                f"{row['n_a']} successful trials")
    return (f"{where}: {row['change']:.1%} slower in B (median {row['median_a_s']:.4f} s → "
            f"{row['median_b_s']:.4f} s; 95% CI {_pct(row['change_ci_low'])} … "
            f"{_pct(row['change_ci_high'])}, p_adj {row['p_adj']:.2g}), beyond the "
            f"{threshold:.0%} threshold")


def _counts(frame: pd.DataFrame) -> dict[tuple[str, str, str], tuple[np.ndarray, int]]:
    """(client, runtime, step) → (wall times of the samples, number of failed rows)."""
    good = stats.is_sample(frame)
    out = {}
    for key, index in frame.groupby(["client", "runtime", "step"], sort=False).indices.items():
        ok = good[index]
        out[tuple(map(str, key))] = (
            frame["wall_s"].to_numpy(dtype=float, na_value=np.nan)[index][ok], int((~ok).sum()))
    return out


def _order(key: tuple[str, str, str]) -> tuple:
    client, runtime, step = key
    return (client, runtime, stats.step_rank(step), step)


def _verdict(p_adj: float, low: float, high: float, alpha: float) -> str:
    if not p_adj < alpha:
        return NO_CLEAR_CHANGE
    if low > 0:
        return SLOWER
    if high < 0:
        return FASTER
    return NO_CLEAR_CHANGE


def changes(trials_a: pd.DataFrame, trials_b: pd.DataFrame, *, alpha: float = 0.05,
            threshold: float = DEFAULT_THRESHOLD, n_boot: int = 2000,
            seed: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """Per target and step, the change from A to B (see the module docstring).

    Parameters
    ----------
    trials_a, trials_b : pandas.DataFrame
        The tidy trials frames of run A (before) and run B (after).
    alpha : float
        Significance level for the Holm-adjusted p-values.
    threshold : float
        The gate: a "slower" row whose change CI lies above this is a regression.
    n_boot : int
        Bootstrap resamples per row.
    seed : int, numpy.random.Generator or None
        Seed of the one generator used for every row, in row order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CHANGE_COLUMNS`; only (target, step) present in both runs.
    """
    a, b = _counts(stats.samples(trials_a)), _counts(stats.samples(trials_b))
    rng = np.random.default_rng(seed)
    rows = []
    for key in sorted(set(a) & set(b), key=_order):
        (x, failed_x), (y, failed_y) = a[key], b[key]
        row = {"client": key[0], "runtime": key[1], "step": key[2], "n_a": x.size,
               "n_b": y.size, "n_failed_a": failed_x, "n_failed_b": failed_y,
               "median_a_s": np.nan, "median_b_s": np.nan, "change": np.nan,
               "change_ci_low": np.nan, "change_ci_high": np.nan, "p": np.nan}
        if x.size and y.size:
            low, high = stats.ratio_ci(y, x, n_boot=n_boot, seed=rng)
            row.update(median_a_s=float(np.median(x)), median_b_s=float(np.median(y)),
                       change=float(np.median(y) / np.median(x) - 1.0),
                       change_ci_low=low - 1.0, change_ci_high=high - 1.0,
                       p=float(sps.mannwhitneyu(y, x, alternative="two-sided").pvalue))
        elif x.size:
            row["median_a_s"] = float(np.median(x))
        elif y.size:
            row["median_b_s"] = float(np.median(y))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c for c in CHANGE_COLUMNS if c not in
                                        ("p_adj", "verdict", "regression")])
    tested = frame["p"].notna().to_numpy()
    p_adj = np.full(len(frame), np.nan)
    if tested.any():
        p_adj[tested] = stats.holm(frame.loc[tested, "p"].to_numpy())
    frame["p_adj"] = p_adj
    verdicts = []
    for r in frame.itertuples(index=False):
        if r.n_a and not r.n_b:
            verdicts.append(FAILS_IN_B)
        elif r.n_b and not r.n_a:
            verdicts.append(FIXED_IN_B)
        elif not r.n_a:
            verdicts.append(NO_CLEAR_CHANGE)
        else:
            verdicts.append(_verdict(r.p_adj, r.change_ci_low, r.change_ci_high, alpha))
    frame["verdict"] = verdicts
    frame["regression"] = (frame["verdict"] == FAILS_IN_B) | (
        (frame["verdict"] == SLOWER) & (frame["change_ci_low"] > threshold))
    return frame[CHANGE_COLUMNS]


def _describe_host(meta: dict) -> dict:
    host = meta.get("host", {})
    return {k: host.get(k) for k in results.IDENTITY_KEYS}


def _versions_only_in_one(meta_a: dict, meta_b: dict) -> list[str]:
    va, vb = meta_a.get("versions", {}), meta_b.get("versions", {})
    return ([f"{k}: {va[k]!r} only in A" for k in sorted(set(va) - set(vb))]
            + [f"{k}: {vb[k]!r} only in B" for k in sorted(set(vb) - set(va))])


def _parameter_differences(meta_a: dict, meta_b: dict) -> list[str]:
    pa, pb = meta_a.get("parameters", {}), meta_b.get("parameters", {})
    return [f"{k}: {pa.get(k)!r} vs {pb.get(k)!r}" for k in _PARAMETERS if pa.get(k) != pb.get(k)]


def check_same_host(meta_a: dict, meta_b: dict, dir_a: Path, dir_b: Path) -> None:
    """Raise :class:`CompareError` naming what differs when two runs come from different hosts."""
    diffs = results.identity_differences(meta_a, meta_b)
    if diffs:
        raise CompareError(
            f"cannot compare {dir_a} with {dir_b}: they were recorded on different hosts "
            f"({'; '.join(diffs)}); a before/after comparison must hold the machine fixed, "
            "so record both runs on one host")


def compare_runs(run_a: Path | str, run_b: Path | str, *, alpha: float = 0.05,
                 threshold: float = DEFAULT_THRESHOLD, seed: int = 0,
                 n_boot: int = 2000) -> RunComparison:
    """Compare run B (after) with run A (before); see the module docstring.

    Raises
    ------
    CompareError
        When the runs come from different hosts (the message names each field).
    rtlab.results.RunFormatError
        When a folder is not a readable run.
    """
    dir_a, dir_b = Path(run_a), Path(run_b)
    meta_a, trials_a = results.load_run(dir_a)
    meta_b, trials_b = results.load_run(dir_b)
    check_same_host(meta_a, meta_b, dir_a, dir_b)
    table = changes(trials_a, trials_b, alpha=alpha, threshold=threshold, n_boot=n_boot,
                    seed=seed)
    targets_a = {stats.target_label(c, r) for c, r in zip(trials_a["client"], trials_a["runtime"])}
    targets_b = {stats.target_label(c, r) for c, r in zip(trials_b["client"], trials_b["runtime"])}
    only = ([f"{t}: only in A" for t in sorted(targets_a - targets_b)]
            + [f"{t}: only in B" for t in sorted(targets_b - targets_a)])
    notes = [f"run {label} has status {meta.get('status')!r}: its trials may be incomplete"
             for label, meta in (("A", meta_a), ("B", meta_b))
             if meta.get("status") not in (None, "completed")]
    return RunComparison(
        run_a=str(meta_a.get("run_id", dir_a.name)), run_b=str(meta_b.get("run_id", dir_b.name)),
        dir_a=dir_a, dir_b=dir_b, host=_describe_host(meta_a), changes=table,
        version_differences=results.version_differences(meta_a, meta_b)
        + _versions_only_in_one(meta_a, meta_b),
        parameter_differences=_parameter_differences(meta_a, meta_b), only_in_one=only,
        alpha=alpha, threshold=threshold, notes=notes,
    )


def write(cmp: RunComparison, out_dir: Path | str | None) -> list[Path]:
    """Write ``changes.csv`` (:data:`CHANGE_COLUMNS` plus both run ids) into ``out_dir``.

    Returns the paths written: none when ``out_dir`` is None.
    """
    if out_dir is None:
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmp.changes.assign(run_a=cmp.run_a, run_b=cmp.run_b).to_csv(out / "changes.csv", index=False)
    return [out / "changes.csv"]


def _ms(x: float) -> str:
    return "—" if x != x else f"{x * 1000:.2f} ms"


def format_lines(cmp: RunComparison) -> list[str]:
    """The comparison as the lines ``rtlab compare`` prints; the last is the verdict."""
    host = cmp.host
    lines = [
        f"A (before): {cmp.run_a}  ({cmp.dir_a})",
        f"B (after):  {cmp.run_b}  ({cmp.dir_b})",
        f"host: {host.get('hostname')}, kernel {host.get('kernel')}, {host.get('cpu_model')} x "
        f"{host.get('cores')}, cgroups {host.get('cgroup_mode')} (the same for both runs)",
        "versions that differ: " + ("; ".join(cmp.version_differences) or "none"),
    ]
    if cmp.parameter_differences:
        lines.append("parameters that differ: " + "; ".join(cmp.parameter_differences))
    lines += [f"not compared: {t}" for t in cmp.only_in_one]
    lines += [f"note: {n}" for n in cmp.notes]
    header = f"{'target step':<28} {'median A':>11} {'median B':>11}  {'change [95% CI]':<28} " \
             f"{'p_adj':>7}  verdict"
    lines += ["", header, "-" * len(header)]
    for r in cmp.changes.itertuples(index=False):
        where = f"{stats.target_label(r.client, r.runtime)} {r.step}"
        if r.change == r.change:
            change = f"{_pct(r.change)} [{_pct(r.change_ci_low)}, {_pct(r.change_ci_high)}]"
            p_adj = f"{r.p_adj:.2g}"
        else:
            change, p_adj = "—", "—"
        mark = "  <-- REGRESSION" if r.regression else ""
        lines.append(f"{where:<28} {_ms(r.median_a_s):>11} {_ms(r.median_b_s):>11}  "
                     f"{change:<28} {p_adj:>7}  {r.verdict}{mark}")
    lines.append("")
    lines += [f"REGRESSION: {s}" for s in cmp.regression_lines()]
    lines.append(cmp.verdict_line())
    return lines
