"""Hosts as a factor (issue 34): runs of different hosts analysed together.

Within one host the answers are those of every analysis (paired by round: ``rtlab
analyze`` of that host's runs). Across hosts nothing is paired — the
hosts' rounds ran at different times on different machines — so for each target,
condition and step measured on both, the change from host A to host B is the **unpaired**
two-sample Hodges–Lehmann shift of the log times (each step, and each experiment's
derived total) as a ratio B/A: the typical ratio of a B trial to an A trial (``ESTIMAND``).
Its 95% CI inverts the studentized permutation Brunner–Munzel test (analysis/shift.py
``unpaired_bm_test``), which lets the hosts' spreads and shapes differ (another machine,
CPU limit or load); the Mann–Whitney inversion rtlab uses where one host measured both
sides is exact only for a pure shift, and across hosts covered 0.895–0.919 when the
host with fewer trials had 2–3× the spread (20 against 10 trials) and 0.927 at 20 a
side with 3× (the Brunner–Munzel inversion: 0.938–0.963 in every cell;
benchmarks/hosts_coverage.py). With fewer than :data:`MIN_TRIALS_CI` trials on a host
the estimate is printed without a CI, saying so (``NO_CI``). p is the same test's,
Holm-adjusted over the table; the verdict reads the interval: slower or
faster when it excludes 1, equivalent when it lies within ±margin, else no clear
difference. Every row says ``unpaired``. Only rows measured at the same pace are
compared (the idle gap moves a time a lot: docs/DESIGN.md); warm-ups and failed trials
are left out.

A host is its run.json identity (hostname, kernel, CPU, cores, cgroup mode) and whether
the collect ran in rtlab's image (``host.container.image``): the same machine measured
natively and from the image are two hosts here, so the image's cost can be read.
``differences`` lists what differs between the hosts: those fields, the OS, memory,
the container, and every runtime's and client's version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rtlab.analysis import frames, shift
from rtlab.analysis.analysis import AnalysisResult, analyze
from rtlab.analysis.stats import holm
from rtlab.core import results

UNPAIRED_LABEL = "unpaired (hosts differ: no round pairs their trials)"
HOSTS_FILE = "hosts.csv"
DIFFERENCES_FILE = "host_differences.csv"
# a target and condition: what must match for two hosts' samples to be compared
KEYS = ("experiment", "client", "runtime", "mode", "network", "pace_s", "step")
MIN_TRIALS = 3
# the Brunner–Munzel interval's coverage was checked from 5 trials a host (0.938–0.963 at
# 5/5, 10/10, 20/20, 10/20 and 20/10, spreads 1–3×, symmetric and skewed); at 3 against 3
# no 95% interval is bounded (the permutation null's smallest p is 2/20)
MIN_TRIALS_CI = 5
ESTIMAND = (
    "B/A is the typical ratio of a B trial to an A trial: the median of B/A over one trial "
    "of each host drawn independently (the two-sample Hodges–Lehmann estimate on the log "
    "scale), which is the ratio of the hosts' medians only when their times have one shape"
)
CI_METHOD = (
    "its 95% CI inverts the (studentized permutation) Brunner–Munzel test, which allows the "
    f"hosts' spreads and shapes to differ (coverage checked from {MIN_TRIALS_CI} trials a host: "
    "benchmarks/hosts_coverage.py); the CI is not adjusted for multiplicity while the "
    "verdict is (so a CI can exclude 1 beside 'no clear difference')"
)
NO_CI = (
    f"no CI: fewer than {MIN_TRIALS_CI} trials on a host, below the designs whose coverage "
    "was checked (benchmarks/hosts_coverage.py)"
)


class HostsError(ValueError):
    """Runs that cannot be compared across hosts (one line)."""


@dataclass(frozen=True)
class Host:
    """One host's runs, merged (same identity and versions: results.load_runs)."""

    label: str
    metas: tuple[dict, ...]
    trials: pd.DataFrame


def host_key(meta: dict) -> tuple:
    host = meta.get("host") or {}
    image = (host.get("container") or {}).get("image")
    return (*(host.get(k) for k in results.IDENTITY_KEYS), image)


def host_label(meta: dict) -> str:
    host = meta.get("host") or {}
    container = host.get("container") or {}
    name = str(container.get("node_name") or host.get("hostname") or "host")
    if container.get("image"):
        name += f" (in {str(container['image']).rsplit('/', 1)[-1]})"
    return name


def group_runs(run_dirs: Iterable[Path]) -> list[list[Path]]:
    """Run folders grouped by host (``host_key``), in the order their hosts first appear
    (reads run.json only)."""
    groups: dict[tuple, list[Path]] = {}
    for d in run_dirs:
        groups.setdefault(host_key(results.read_meta(Path(d))), []).append(Path(d))
    return list(groups.values())


def load_hosts(run_dirs: Iterable[Path]) -> list[Host]:
    """Group run folders by host (``group_runs``), each group merged by results.load_runs."""
    hosts = []
    for dirs in group_runs(run_dirs):
        metas, trials = results.load_runs(dirs)
        hosts.append(Host(host_label(metas[0]), tuple(metas), trials))
    labels = [h.label for h in hosts]
    for i, h in enumerate(hosts):  # two hosts of one name (e.g. another kernel): number them
        if labels.count(h.label) > 1:
            hosts[i] = Host(f"{h.label} #{labels[: i + 1].count(h.label)}", h.metas, h.trials)
    return hosts


def _measured(trials: pd.DataFrame) -> pd.DataFrame:
    """The timed rows compared across hosts, with each experiment's derived totals (the
    lifecycle's total, the CRI's pod to running: frames.lifecycle_totals, complete trials
    only)."""
    totals = frames.lifecycle_totals(trials)
    if len(totals):
        trials = pd.concat([trials, totals], ignore_index=True)
    rows = trials[trials["ok"].astype(bool) & ~trials["warmup"].astype(bool)]
    return frames.with_pace_key(rows[rows["wall_s"] > 0])


def across(a: Host, b: Host, *, alpha: float = 0.05, margin: float = 0.05) -> pd.DataFrame:
    """Per target, condition and step on both hosts: B/A as the unpaired Hodges–Lehmann
    ratio (``ESTIMAND``) with its Brunner–Munzel CI (at 1 − alpha; none below
    :data:`MIN_TRIALS_CI` trials on a host, p then NaN too), Holm-adjusted p, and a
    verdict."""
    xa, xb = _measured(a.trials), _measured(b.trials)
    keys = [k for k in KEYS if k in xa.columns and k in xb.columns]
    rows = []
    grouped_b = {k: g for k, g in xb.groupby(keys, sort=False, dropna=False)}
    for key, ga in xa.groupby(keys, sort=True, dropna=False):
        gb = grouped_b.get(key)
        if gb is None:
            continue
        wa, wb = ga["wall_s"].to_numpy(float), gb["wall_s"].to_numpy(float)
        row = dict(zip(keys, key))
        row.update(
            host_a=a.label,
            host_b=b.label,
            n_a=len(wa),
            n_b=len(wb),
            median_a_ms=float(np.median(wa) * 1e3),
            median_b_ms=float(np.median(wb) * 1e3),
        )
        if min(len(wa), len(wb)) < MIN_TRIALS:
            row.update(ratio=np.nan, ci_low=np.nan, ci_high=np.nan, p=np.nan)
        elif min(len(wa), len(wb)) < MIN_TRIALS_CI:
            (s,) = shift.unpaired(np.log(wb), np.log(wa), 1 - alpha)
            row.update(ratio=float(np.exp(s.estimate)), ci_low=np.nan, ci_high=np.nan, p=np.nan)
        else:
            (s,), p = shift.unpaired_bm_test(np.log(wb), np.log(wa), 1 - alpha)
            row.update(
                ratio=float(np.exp(s.estimate)),
                ci_low=float(np.exp(s.low)),
                ci_high=float(np.exp(s.high)),
                p=float(p),
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        raise HostsError(
            f"{a.label} and {b.label} share no target, condition and step measured at the "
            "same pace: nothing to compare"
        )
    table["pace_s"] = table["pace_s"].where(table["pace_s"] >= 0, np.nan)
    tested = table["p"].notna()
    table["p_adj"] = np.nan
    if tested.any():
        table.loc[tested, "p_adj"] = holm(table.loc[tested, "p"].to_numpy())
    table["verdict"] = [_verdict(r, alpha, margin) for r in table.itertuples()]
    table["pairing"] = UNPAIRED_LABEL
    return table


def _verdict(r, alpha: float, margin: float) -> str:
    if not np.isfinite(r.ratio):
        return f"too few trials (fewer than {MIN_TRIALS} on a host)"
    if not np.isfinite(r.ci_low):
        return NO_CI
    if r.ci_low > 1 and r.p_adj < alpha:
        return f"slower on {r.host_b}"
    if r.ci_high < 1 and r.p_adj < alpha:
        return f"faster on {r.host_b}"
    if 1 - margin <= r.ci_low and r.ci_high <= 1 + margin:
        return f"equivalent within ±{margin:.0%}"
    return "no clear difference"


FACTS = (
    ("hostname", ("host", "hostname")),
    ("node", ("host", "container", "node_name")),
    ("kernel", ("host", "kernel")),
    ("os", ("host", "os")),
    ("cpu_model", ("host", "cpu_model")),
    ("cores", ("host", "cores")),
    ("memory_bytes", ("host", "memory_bytes")),
    ("cgroup_mode", ("host", "cgroup_mode")),
    ("cpu_governor", ("host", "cpu_governor")),
    ("in_container", ("host", "container", "in_container")),
    ("image", ("host", "container", "image")),
    ("cpu_limit", ("host", "container", "cpu_limit")),
)


def _get(meta: dict, path: Sequence[str]):
    value: object = meta
    for p in path:
        value = value.get(p) if isinstance(value, dict) else None
    return value


def differences(hosts: Sequence[Host], *, all_rows: bool = False) -> pd.DataFrame:
    """What differs between the hosts: one row per fact (host facts, then every version
    recorded), one column per host; only the rows that differ unless ``all_rows``."""
    names = [label for label, _ in FACTS]
    versions = sorted({k for h in hosts for m in h.metas for k in (m.get("versions") or {})})
    rows = []
    for label, path in FACTS:
        rows.append({"fact": label, **{h.label: _get(h.metas[0], path) for h in hosts}})
    for v in versions:
        rows.append(
            {
                "fact": f"version: {v}",
                **{h.label: (h.metas[0].get("versions") or {}).get(v) for h in hosts},
            }
        )
    table = pd.DataFrame(rows)
    values = table[[h.label for h in hosts]].map(repr)  # None is a value here, not missing
    table["differs"] = values.nunique(axis=1, dropna=False) > 1
    if not all_rows:
        table = table[table["differs"] | table["fact"].isin(names[:1])]
    return table.reset_index(drop=True)


def format_lines(table: pd.DataFrame, diffs: pd.DataFrame) -> list[str]:
    """The terminal's answer: what differs, then one line per target/step across hosts."""
    hosts = [c for c in diffs.columns if c not in ("fact", "differs")]
    out = [
        f"across hosts ({UNPAIRED_LABEL}): {' vs '.join(hosts)}",
        f"  {ESTIMAND}; {CI_METHOD}",
    ]
    out += [
        "  differs: " + f"{r['fact']}: " + " | ".join(f"{r[h]}" for h in hosts)
        for _, r in diffs.iterrows()
        if r["differs"]
    ]
    for r in table.itertuples():
        target = f"{r.client}/{r.runtime}" + (
            f" ({r.network})" if getattr(r, "network", "") else ""
        )
        if np.isfinite(r.ratio) and np.isfinite(r.ci_low):
            est = f"B/A {r.ratio:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] p_adj {r.p_adj:.2g}"
        elif np.isfinite(r.ratio):
            est = f"B/A {r.ratio:.3f}, no CI"
        else:
            est = "no estimate"
        out.append(
            f"  {target} {r.step}: A {r.median_a_ms:.3g} ms, B {r.median_b_ms:.3g} ms; "
            f"{est} (unpaired, n {r.n_a}/{r.n_b}): {r.verdict}"
        )
    return out


def host_dir(index: int) -> str:
    """Where host number ``index`` (0: the first) writes its own analysis: host-a, host-b, …"""
    return "host-" + (chr(ord("a") + index) if index < 26 else str(index + 1))


@dataclass(frozen=True)
class HostsResult:
    """Runs of several hosts analysed together: each host's own (paired) analysis, every
    other host against the first (unpaired) and what differs between them."""

    hosts: list[Host]
    per_host: list[AnalysisResult]
    across: pd.DataFrame  # hosts[1:] each against hosts[0] (``across``), one table
    differences: pd.DataFrame  # ``differences``: the facts that differ (and the hostname)


def analyze_hosts(
    hosts: Sequence[Host],
    out_dir: Path,
    *,
    alpha: float = 0.05,
    margin: float = 0.05,
    seed: int = 0,
) -> HostsResult:
    """Each host analysed on its own into ``out_dir/host-a``, ``host-b``, … (paired within
    the host, no figure), every later host against the first one unpaired (``across``;
    Holm within each pair's table), written as hosts.csv and host_differences.csv.

    Raises
    ------
    HostsError
        Fewer than two hosts, or a host sharing nothing measured with the first.
    """
    if len(hosts) < 2:
        raise HostsError("one host only: nothing to compare across hosts")
    out_dir.mkdir(parents=True, exist_ok=True)
    per_host = [
        analyze(h.trials, out_dir / host_dir(i), alpha=alpha, margin=margin, seed=seed, figures=())
        for i, h in enumerate(hosts)
    ]
    table = pd.concat(
        [across(hosts[0], h, alpha=alpha, margin=margin) for h in hosts[1:]], ignore_index=True
    )
    table.to_csv(out_dir / HOSTS_FILE, index=False)
    differences(hosts, all_rows=True).to_csv(out_dir / DIFFERENCES_FILE, index=False)
    return HostsResult(list(hosts), per_host, table, differences(hosts))


def compare_hosts(
    run_a: Path,
    run_b: Path,
    *,
    alpha: float = 0.05,
    margin: float = 0.05,
    out_dir: Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``rtlab compare --across-hosts``: the unpaired table and the hosts' differences;
    with ``out_dir``, also hosts.csv, host_differences.csv and each host's own (paired)
    analysis in ``out_dir/host-a`` and ``out_dir/host-b``."""
    hosts = load_hosts([run_a, run_b])
    if len(hosts) != 2:
        raise HostsError(
            f"{run_a} and {run_b} were recorded on the same host: compare them without "
            "--across-hosts (paired by round)"
        )
    if out_dir is not None:
        done = analyze_hosts(hosts, out_dir, alpha=alpha, margin=margin)
        return done.across, done.differences
    return across(hosts[0], hosts[1], alpha=alpha, margin=margin), differences(hosts)
