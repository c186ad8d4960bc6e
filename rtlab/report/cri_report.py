"""The CRI's section of the report: pod to running (RunPodSandbox +
CreateContainer + StartContainer) per handler and network mode with its median's
95% CI, which runtime starts a pod fastest in each network mode, what the CNI
network costs per runtime, and the CRI beside the other clients over runc on the
steps they share (sentences, and :func:`clients_table`). ``startTime`` and
``endTime`` come from trials.csv's ``started_ns`` (the wall clock at each call). Every ratio printed beside an interval is the Hodges–Lehmann
ratio that interval belongs to (views._answer, shift.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from rtlab.analysis.cri_benchmark import (  # noqa: F401
    BENCHMARK_FILE,
    EXPERIMENT,
    OPERATIONS,
    benchmark,
    cri_rows,
    write_benchmark,
)
from rtlab.analysis.plots import KNOWN_CLIENTS, ordered_names
from rtlab.core import experiments
from rtlab.core.options import NETWORK_MODES
from rtlab.report.headline import _answer
from rtlab.report.html import _cell, esc
from rtlab.report.html import table as html_table

if TYPE_CHECKING:  # IPython is imported lazily: only notebooks render the section
    from IPython.display import HTML


def _network_rank(client: str) -> tuple:
    """host before cni (the order of options.NETWORK_MODES), then by name."""

    network = client.split("-", 1)[1] if "-" in client else ""
    return (
        NETWORK_MODES.index(network) if network in NETWORK_MODES else len(NETWORK_MODES),
        client,
    )


def pod_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Pod to running per handler and network mode: median, its 95% CI, n, failed."""
    rows = summary[
        (summary.get("experiment", EXPERIMENT) == EXPERIMENT)
        & (summary["step"] == experiments.POD_TO_RUNNING)
    ]
    rows = rows.assign(_rank=rows["client"].astype(str).map(_network_rank)).sort_values(
        ["_rank", "median_s"], kind="stable"
    )
    table = []
    for _, r in rows.iterrows():
        client = str(r["client"])
        network = client.split("-", 1)[1] if "-" in client else ""
        has_ci = r["ci_low_s"] == r["ci_low_s"]
        table.append(
            {
                "runtime (handler)": r["runtime"],
                "network": network,
                "n": int(r["n"]),
                "failed": int(r["n_failed"]),
                "median ms": round(r["median_s"] * 1000, 1) if r["n"] else None,
                "95% CI of the median, ms": (
                    f"{r['ci_low_s'] * 1000:.1f}–{r['ci_high_s'] * 1000:.1f}"
                    if has_ci
                    else "too few trials"
                ),
            }
        )
    return pd.DataFrame(
        table,
        columns=[
            "runtime (handler)",
            "network",
            "n",
            "failed",
            "median ms",
            "95% CI of the median, ms",
        ],
    )


def clients_table(summary: pd.DataFrame, runtime: str = "runc") -> pd.DataFrame:
    """The CRI beside the other clients over ``runtime`` on the steps they share with
    the lifecycle (create, start): per client, each step's median and its 95% CI (ms).
    Empty when the runs hold no lifecycle rows of another client over ``runtime``."""
    shared = list(dict.fromkeys(experiments.EXPERIMENTS[EXPERIMENT].shares.values()))
    rows = summary[
        (
            summary.get("experiment", experiments.DEFAULT_EXPERIMENT)
            == experiments.DEFAULT_EXPERIMENT
        )
        & (summary["runtime"].astype(str) == runtime)
        & summary["step"].isin(shared)
    ]
    clients = [str(c) for c in rows["client"]]
    if not any(c.startswith("cri") for c in clients) or all(c.startswith("cri") for c in clients):
        return pd.DataFrame()
    others = ordered_names(
        pd.Series([c for c in clients if not c.startswith("cri")]), (*KNOWN_CLIENTS,)
    )
    cris = sorted({c for c in clients if c.startswith("cri")}, key=_network_rank)
    table = []
    for client in [*others, *cris]:
        line: dict[str, object] = {"client": client}
        for step in shared:
            cell = rows[(rows["client"].astype(str) == client) & (rows["step"] == step)]
            if cell.empty or not int(cell["n"].iloc[0]):
                line[f"{step}: median ms"], line[f"{step}: 95% CI, ms"] = (
                    float("nan"),
                    "not measured",
                )
                continue
            r = cell.iloc[0]
            line[f"{step}: median ms"] = round(r["median_s"] * 1000, 1)
            line[f"{step}: 95% CI, ms"] = (
                f"{r['ci_low_s'] * 1000:.1f}–{r['ci_high_s'] * 1000:.1f}"
                if r["ci_low_s"] == r["ci_low_s"]
                else "too few trials"
            )
        table.append(line)
    return pd.DataFrame(table)


def answers(
    summary: pd.DataFrame, comparisons: pd.DataFrame, alpha: float = 0.05
) -> list[tuple[str, str]]:
    """(question, answer) of the CRI: which runtime starts a pod fastest per network
    mode, what the CNI network costs per runtime, and the clients over runc on the
    steps the CRI shares with the lifecycle (create, start)."""

    def rows(frame: pd.DataFrame, experiment: str) -> pd.DataFrame:
        return frame[frame["experiment"] == experiment] if "experiment" in frame.columns else frame

    summ, comp = rows(summary, EXPERIMENT), rows(comparisons, EXPERIMENT)
    step = experiments.POD_TO_RUNNING
    out = []
    clients = sorted(set(summ.loc[summ["step"] == step, "client"].astype(str)), key=_network_rank)
    for client in clients:
        network = client.split("-", 1)[1] if "-" in client else "?"
        text = _answer(
            summ, comp, family=f"client={client}", member="runtime", step=step, alpha=alpha
        )
        if text:
            out.append(
                (
                    f"Which runtime starts a pod fastest ({network} network)?",
                    text.replace(f"Through {client}:", f"Pod to running, {network} network:"),
                )
            )
    for runtime in sorted(set(summ.loc[summ["step"] == step, "runtime"].astype(str))):
        text = _answer(
            summ, comp, family=f"runtime={runtime}", member="client", step=step, alpha=alpha
        )
        if text:
            out.append(
                (
                    f"What does the pod network cost over {runtime}?",
                    text.replace(f"Over {runtime}:", f"Pod to running over {runtime}:"),
                )
            )
    life_s = rows(summary, experiments.DEFAULT_EXPERIMENT)
    life_c = rows(comparisons, experiments.DEFAULT_EXPERIMENT)
    for shared in dict.fromkeys(experiments.EXPERIMENTS[EXPERIMENT].shares.values()):
        here = life_s[(life_s["step"] == shared) & (life_s["runtime"] == "runc")]
        if not here["client"].astype(str).str.startswith("cri").any():
            continue
        text = _answer(
            life_s, life_c, family="runtime=runc", member="client", step=shared, alpha=alpha
        )
        if text:
            out.append(
                (
                    f"Which client is fastest over runc at {shared}, the CRI included?",
                    text.replace("Over runc:", f"{shared.capitalize()} over runc:"),
                )
            )
    return out


def section(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    alpha: float = 0.05,
    metas: Sequence[dict] = (),
) -> HTML:
    """The report's CRI section as HTML (every string from data escaped)."""
    from IPython.display import HTML

    if summary.empty or not (summary.get("experiment", pd.Series(dtype=str)) == EXPERIMENT).any():
        return HTML("<p>No CRI target in these runs (<code>--clients cri</code> measures one).</p>")
    items = (
        "".join(
            f"<li><strong>{esc(q)}</strong> {esc(a)}</li>"
            for q, a in answers(summary, comparisons, alpha)
        )
        or "<li>Nothing to compare: fewer than two handlers or network modes measured.</li>"
    )

    pods = html_table(pod_table(summary), "cri-pod", cell=_cell)
    beside = clients_table(summary)
    clients = (
        (
            "<p>The CRI beside the other clients over runc, on the steps they share "
            "(CreateContainer records the container as docker create and ctr container "
            "create do; StartContainer makes and starts the task, as docker start and ctr "
            "task start):</p>" + html_table(beside, "cri-clients", cell=_cell)
        )
        if not beside.empty
        else ""
    )
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
        f"<p>Pod to running per runtime and pod network:</p>{pods}{clients}"
        f"{not_run}</section>"
    )
