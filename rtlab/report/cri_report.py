"""The CRI's own outputs: critest-shaped ``cri-benchmark.json`` and the report's CRI section.

``cri-benchmark.json`` (written by ``rtlab analyze`` beside its tables when the
runs hold CRI trials) is one object keyed ``"<handler>/<network>"``; each value
has the shape of critest's benchmark results file (cri-tools ``pkg/benchmark``,
``LifecycleBenchmarksResultsSet``): ``operationsNames`` (the CRI methods in the
order one trial calls them), ``numParallel`` (1: one pod at a time) and
``datapoints``, one per measured trial, each ``{sampleIndex, startTime, endTime,
operationsDurationsNs, metaInfo}``. The mapping is in docs/DESIGN.md ("The CRI").

The report's section (:func:`section`): pod to running (RunPodSandbox +
CreateContainer + StartContainer) per handler and network mode with its median's
95% CI, which runtime starts a pod fastest in each network mode, what the CNI
network costs per runtime, and the CRI beside the other clients over runc on the
steps they share. Every ratio printed beside an interval is the Hodges–Lehmann
ratio that interval belongs to (views._answer, shift.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from rtlab.core import experiments
from rtlab.analysis import stats

EXPERIMENT = "cri"
BENCHMARK_FILE = "cri-benchmark.json"
# rtlab's step → the CRI method it times (drivers/cri.py), in the order a trial calls them
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("pod_run", "RunPodSandbox"), ("create", "CreateContainer"), ("start", "StartContainer"),
    ("stop", "StopContainer"), ("remove", "RemoveContainer"), ("pod_stop", "StopPodSandbox"),
    ("pod_remove", "RemovePodSandbox"))
TIMESTAMP_NOTE = ("rtlab records no wall-clock time per trial: startTime and endTime are 0; "
                  "operationsDurationsNs holds the timed calls")


def _bool(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().isin(("true", "1"))


def cri_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials frame's rows of experiment ``cri`` (none in a run without it)."""
    if "experiment" not in trials.columns:
        return trials.iloc[0:0]
    return trials[trials["experiment"].astype(str) == EXPERIMENT]


def benchmark(trials: pd.DataFrame) -> dict:
    """critest's benchmark results, one set per ``handler/network``, of the CRI trials.

    Warm-up trials are left out (critest's warm-up cycle is not recorded either).
    A trial whose step failed keeps its datapoint: ``operationsDurationsNs`` holds
    the operations that succeeded before it, in order (shorter than
    ``operationsNames``, as critest tolerates), and ``metaInfo.error`` names the
    failed operation and its error."""
    rows = cri_rows(trials)
    if rows.empty:
        return {}
    rows = rows[~_bool(rows["warmup"])]
    network = rows["network"].fillna("").astype(str) if "network" in rows.columns \
        else pd.Series("", index=rows.index)
    rows = rows.assign(_network=network)
    method = dict(OPERATIONS)
    order = {step: i for i, (step, _) in enumerate(OPERATIONS)}
    out: dict[str, dict] = {}
    for (runtime, net), target in rows.groupby(["runtime", "_network"], sort=True):
        points = []
        keys = [k for k in ("run_id", "round", "trial", "container_id") if k in target.columns]
        for key, trial in target.groupby(keys, sort=True):
            key = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
            trial = trial[trial["step"].isin(list(method))]
            trial = trial.assign(_order=trial["step"].map(order)).sort_values("_order")
            durations, error = [], None
            for _, row in trial.iterrows():
                ok = str(row["ok"]).lower() in ("true", "1")
                if not ok:
                    error = f"{method[row['step']]}: {row.get('error') or 'failed'}"
                    break
                durations.append(int(round(float(row["wall_s"]) * 1e9)))
            meta = {"runId": str(key.get("run_id", "")), "round": str(key.get("round", "")),
                    "trial": str(key.get("trial", "")),
                    "podSandboxName": str(key.get("container_id", "")),
                    "runtimeHandler": str(runtime), "network": str(net)}
            if "pace_s" in trial.columns and len(trial):
                meta["paceS"] = str(trial["pace_s"].iloc[0])
            if error is not None:
                meta["error"] = error
            points.append({"sampleIndex": len(points), "startTime": 0, "endTime": 0,
                           "operationsDurationsNs": durations, "metaInfo": meta})
        out[f"{runtime}/{net}" if net else str(runtime)] = {
            "operationsNames": [m for _, m in OPERATIONS], "numParallel": 1,
            "datapoints": points}
    return out


def write_benchmark(trials: pd.DataFrame, out_dir: Path | str) -> Optional[Path]:
    """Write ``cri-benchmark.json`` into ``out_dir`` when the trials hold CRI rows."""
    sets = benchmark(trials)
    if not sets:
        return None
    path = Path(out_dir) / BENCHMARK_FILE
    path.write_text(json.dumps(sets, indent=1) + "\n")
    return path


# -- the report's section -----------------------------------------------------------------

def _network_rank(client: str) -> tuple:
    """host before cni (the order of cri.NETWORK_MODES), then by name."""
    from rtlab.host.cri import NETWORK_MODES

    network = client.split("-", 1)[1] if "-" in client else ""
    return (NETWORK_MODES.index(network) if network in NETWORK_MODES else len(NETWORK_MODES),
            client)


def pod_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Pod to running per handler and network mode: median, its 95% CI, n, failed."""
    rows = summary[(summary.get("experiment", EXPERIMENT) == EXPERIMENT)
                   & (summary["step"] == experiments.POD_TO_RUNNING)]
    rows = rows.assign(_rank=rows["client"].astype(str).map(_network_rank)) \
        .sort_values(["_rank", "median_s"], kind="stable")
    table = []
    for _, r in rows.iterrows():
        client = str(r["client"])
        network = client.split("-", 1)[1] if "-" in client else ""
        has_ci = r["ci_low_s"] == r["ci_low_s"]
        table.append({
            "runtime (handler)": r["runtime"], "network": network, "n": int(r["n"]),
            "failed": int(r["n_failed"]),
            "median ms": round(r["median_s"] * 1000, 1) if r["n"] else None,
            "95% CI of the median, ms": (f"{r['ci_low_s'] * 1000:.1f}–{r['ci_high_s'] * 1000:.1f}"
                                         if has_ci else "too few trials")})
    return pd.DataFrame(table, columns=["runtime (handler)", "network", "n", "failed",
                                        "median ms", "95% CI of the median, ms"])


def answers(summary: pd.DataFrame, comparisons: pd.DataFrame, alpha: float = 0.05
            ) -> list[tuple[str, str]]:
    """(question, answer) of the CRI: which runtime starts a pod fastest per network
    mode, what the CNI network costs per runtime, and the clients over runc on the
    steps the CRI shares with the lifecycle (create, start)."""
    from rtlab.report.views import _answer

    def rows(frame: pd.DataFrame, experiment: str) -> pd.DataFrame:
        return frame[frame["experiment"] == experiment] if "experiment" in frame.columns \
            else frame

    summ, comp = rows(summary, EXPERIMENT), rows(comparisons, EXPERIMENT)
    step = experiments.POD_TO_RUNNING
    out = []
    clients = sorted(set(summ.loc[summ["step"] == step, "client"].astype(str)), key=_network_rank)
    for client in clients:
        network = client.split("-", 1)[1] if "-" in client else "?"
        text = _answer(summ, comp, family=f"client={client}", member="runtime", step=step,
                       alpha=alpha)
        if text:
            out.append((f"Which runtime starts a pod fastest ({network} network)?",
                        text.replace(f"Through {client}:", f"Pod to running, {network} network:")))
    for runtime in sorted(set(summ.loc[summ["step"] == step, "runtime"].astype(str))):
        text = _answer(summ, comp, family=f"runtime={runtime}", member="client", step=step,
                       alpha=alpha)
        if text:
            out.append((f"What does the pod network cost over {runtime}?",
                        text.replace(f"Over {runtime}:", f"Pod to running over {runtime}:")))
    life_s = rows(summary, experiments.DEFAULT_EXPERIMENT)
    life_c = rows(comparisons, experiments.DEFAULT_EXPERIMENT)
    for shared in dict.fromkeys(experiments.EXPERIMENTS[EXPERIMENT].shares.values()):
        here = life_s[(life_s["step"] == shared) & (life_s["runtime"] == "runc")]
        if not here["client"].astype(str).str.startswith("cri").any():
            continue
        text = _answer(life_s, life_c, family="runtime=runc", member="client", step=shared,
                       alpha=alpha)
        if text:
            out.append((f"Which client is fastest over runc at {shared}, the CRI included?",
                        text.replace("Over runc:", f"{shared.capitalize()} over runc:")))
    return out


def section(summary: pd.DataFrame, comparisons: pd.DataFrame, alpha: float = 0.05,
            metas: Sequence[dict] = ()) -> "HTML":
    """The report's CRI section as HTML (every string from data escaped)."""
    from IPython.display import HTML

    from rtlab.report.views import _cell, esc

    if summary.empty or not (summary.get("experiment", pd.Series(dtype=str)) == EXPERIMENT).any():
        return HTML("<p>No CRI target in these runs (<code>--clients cri</code> measures one).</p>")
    items = "".join(f"<li><strong>{esc(q)}</strong> {esc(a)}</li>"
                    for q, a in answers(summary, comparisons, alpha)) \
        or "<li>Nothing to compare: fewer than two handlers or network modes measured.</li>"
    table = pod_table(summary)
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    excused = []
    for meta in metas:
        for label, reason in (meta.get("unavailable") or {}).items():
            if str(label).startswith("cri"):
                excused.append(f"<li>{esc(label)}: {esc(reason)}</li>")
    not_run = f"<p>Not measured through the CRI:</p><ul>{''.join(excused)}</ul>" if excused else ""
    return HTML(
        '<section id="cri">'
        "<p>Pod to running = RunPodSandbox + CreateContainer + StartContainer, each one gRPC "
        "call timed in-process; the runtime is the CRI handler of the same name, the network "
        "the pod's (host: the host's namespace; cni: rtlab's bridge, its set-up part of the "
        f"time).</p><ul>{items}</ul>"
        f'<table class="cri-pod"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        f"{not_run}</section>")
