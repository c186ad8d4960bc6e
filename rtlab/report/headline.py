"""The report's first screen: its title, the conditions of the run, the answer of each
experiment (one sentence per family and step, with its interval) and the headline
figures.

Split out of views.py (issue 32), which re-exports every name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from rtlab.analysis import modes, plots, reference, stats
from rtlab.core import experiments
from rtlab.report import rootless_report
from rtlab.report.figures import Bundle
from rtlab.report.html import esc

# -- the report's first screen ------------------------------------------------------


def _step_lead(step: str, experiment: str = experiments.DEFAULT_EXPERIMENT) -> str:
    """What the headline compares, for one experiment's headline step."""
    factors = (
        'medians with their 95% CI, for context; each factor ("1.39× faster") is the '
        "typical per-round ratio of the two targets — the Hodges–Lehmann estimate of "
        "their per-round log ratios when measured in the same rounds — with its own "
        "95% CI; a ratio of medians is labelled as such and has no interval."
    )
    if step == stats.TOTAL_STEP:
        e = experiments.EXPERIMENTS.get(experiment)
        steps = " + ".join(e.total) if e is not None and e.total else "its steps"
        what = f"the {experiment} experiment" if experiment != "lifecycle" else "a whole lifecycle"
        return f"Compared: the time of {what} ({steps}) per trial; {factors}"
    return f"Compared: the time of one `{step}` per trial; {factors}"


def _headline_step(summary: pd.DataFrame) -> str:
    measured = summary[summary["n"] > 0]
    return stats.TOTAL_STEP if (measured["step"] == stats.TOTAL_STEP).any() else stats.RUN_STEP


def report_title(metas: Sequence[dict]) -> str:
    """ "rtlab report · study all · run <id>" (or "runs <id>, <id>") — plain text, not HTML."""
    studies = sorted({str(m.get("parameters", {}).get("study") or "custom") for m in metas})
    ids = [str(m.get("run_id")) for m in metas]
    runs = f"run {ids[0]}" if len(ids) == 1 else "runs " + ", ".join(ids)
    return f"rtlab report · study {', '.join(studies)} · {runs}"


def _pace_text(values, per_pace: bool = False) -> str:
    values = sorted({float(v) for v in values if v == v and v is not None})
    if not values:
        return ""
    shown = ", ".join(f"{v * 1000:g} ms" for v in values)
    several = "(each its own)" if per_pace else "(pooled)"
    return f"at pace {shown}" if len(values) == 1 else f"at paces {shown} {several}"


def conditions_text(
    metas: Sequence[dict], trials: pd.DataFrame | None = None, *, per_pace: bool = False
) -> str:
    """The conditions the runs record, for a headline sentence: the pace (a ``pace_s``
    column of the trials, else a ``pace_s`` parameter) when there is one, else "none".
    ``per_pace``: the answer gives each pace its own figure (rootless), not pooled."""
    paces: list = []
    if trials is not None and "pace_s" in trials.columns:
        paces = list(pd.to_numeric(trials["pace_s"], errors="coerce").dropna().unique())
    if not paces:
        paces = [
            m.get("parameters", {}).get("pace_s")
            for m in metas
            if isinstance(m.get("parameters", {}).get("pace_s"), (int, float))
        ]
    if trials is not None and "run_id" in trials.columns and len(trials):
        # only the runs these rows come from (a report also holds other experiments' runs)
        ids = set(trials["run_id"].astype(str))
        metas = [m for m in metas if str(m.get("run_id")) in ids] or list(metas)
    trials_n = sorted({m.get("parameters", {}).get("trials") for m in metas} - {None}, key=str)
    counts = (
        f"{', '.join(str(t) for t in trials_n)} trials per target per run"
        if trials_n
        else "trials per target not recorded"
    )
    pace = _pace_text(paces, per_pace)
    return (
        f"{pace.capitalize()}; {counts}"
        if pace
        else f"No pace or other condition recorded; {counts}"
    )


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def _name(member: str, kind: str) -> str:
    return f"{member} (the runtime's own CLI)" if kind == "client" and member == "oci" else member


def _answer(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    *,
    family: str,
    member: str,
    step: str,
    alpha: float = 0.05,
) -> str | None:
    """The fastest member of one family at ``step`` as a sentence, or None (< 2 members).

    ``summary`` and ``comparisons`` are one experiment's rows. The member with the
    lowest median leads; every factor printed beside an interval is the
    Hodges–Lehmann ratio that interval belongs to (``comparisons``' ``ratio``)."""

    kind, _, name = family.partition("=")
    rows = summary[
        (summary[kind] == name) & (summary["step"] == step) & (summary["n"] > 0)
    ].sort_values("median_s")
    if len(rows) < 2:
        return None
    best, second = rows.iloc[0], rows.iloc[1]
    where = f"Through {_name(name, 'client')}" if kind == "client" else f"Over {name}"

    def ms(v: float) -> str:
        return f"{v * 1000:.3g}"

    ci = (
        f" [95% CI {ms(best['ci_low_s'])}–{ms(best['ci_high_s'])} ms]"
        if best["ci_low_s"] == best["ci_low_s"]
        else " (too few trials for a CI)"
    )
    value = f"median {ms(best['median_s'])} ms{ci}"
    winner, runner = _name(best[member], member), _name(second[member], member)
    pair = reference.oriented(comparisons, family, step, best[member], second[member])
    if pair is None:
        text = f"{where}: {winner} has the lowest median, {value}; {runner} next (not compared)"
    else:
        ratio, low, high = pair["ratio"], pair["low"], pair["high"]
        p_text = f"p_adj {pair['p_adj']:.2g}"
        if pair["verdict"] == stats.FASTER:
            text = (
                f"{where}: {winner} is fastest, {value}; {1 / ratio:.2f}× faster than "
                f"{runner} round by round (95% CI {1 / high:.2f}–{1 / low:.2f}×, {p_text})"
            )
        elif pair["verdict"] == stats.EQUIVALENT:
            margin = pair.get("margin", stats.MARGIN)
            margin = stats.MARGIN if margin != margin else margin
            e_low, e_high = stats.equivalence_bounds(margin)
            text = (
                f"{where}: {winner} and {runner} are equivalent within ±{margin:.0%} "
                f"({winner}/{runner} ratio {ratio:.2f}, its {1 - 2 * alpha:.0%} CI "
                f"{pair['equiv_low']:.2f}–{pair['equiv_high']:.2f} inside "
                f"{e_low:.2f}–{e_high:.2f}); {winner} has the lowest median, {value}"
            )
            if pair["difference"] == stats.FASTER:
                text += (
                    f", and is {1 - ratio:.0%} faster (95% CI {1 - high:.0%}–"
                    f"{1 - low:.0%}, {p_text})"
                )
            elif pair["difference"] == stats.SLOWER:
                text += (
                    f", but is {ratio - 1:.0%} slower round by round (95% CI "
                    f"{low - 1:.0%}–{high - 1:.0%}, {p_text})"
                )
        elif pair["verdict"] == stats.SLOWER:
            text = (
                f"{where}: {winner} has the lowest median, {value}, but is {ratio:.2f}× "
                f"slower than {runner} round by round (95% CI {low:.2f}–{high:.2f}×, "
                f"{p_text})"
            )
        else:
            interval = (
                f"95% CI {low:.2f}–{high:.2f}"
                if low == low and high == high
                else "too few trials for its CI"
            )
            text = (
                f"{where}: {winner} has the lowest median, {value}, but is not clearly "
                f"faster than {runner} ({winner}/{runner} ratio {ratio:.2f}, {interval}; "
                "inconclusive)"
            )
    if len(rows) > 2:
        slowest = rows.iloc[-1]
        text += (
            f"; {_name(slowest[member], member)} is slowest, its median "
            f"{slowest['median_s'] / best['median_s']:.1f}× {best[member]}'s "
            "(a ratio of medians, for scale: no interval)"
        )
    return text + "."


def _experiment_rows(frame: pd.DataFrame, experiment: str) -> pd.DataFrame:
    if "experiment" not in frame.columns:
        return frame
    return frame[frame["experiment"] == experiment]


def headline_sections(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    metas: Sequence[dict],
    trials: pd.DataFrame | None = None,
    alpha: float = 0.05,
    every_pace: pd.DataFrame | None = None,
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(experiment, headline step, [(question, answer), …]) per experiment of the runs,
    in experiment order: runs of different experiments are never pooled, so each gets
    its own answers, on its own total. Plain text; every name in it comes from data."""
    names = (
        stats.experiments_of(summary)
        if "experiment" in summary.columns and not summary.empty
        else [experiments.DEFAULT_EXPERIMENT]
    )
    sections = []
    for experiment in names:
        summ = _experiment_rows(summary, experiment)
        comp = _experiment_rows(comparisons, experiment)
        rows = _experiment_rows(trials, experiment) if trials is not None else None
        measured = summ[summ["n"] > 0]
        step = _headline_step(summ)
        conditions = conditions_text(metas, rows)
        answers = []
        for client in plots.ordered_names(measured["client"], plots.KNOWN_CLIENTS):
            text = _answer(
                summ, comp, family=f"client={client}", member="runtime", step=step, alpha=alpha
            )
            if text:
                through = "its own CLI (oci)" if client == "oci" else client
                answers.append(
                    (
                        f"Which low-level runtime is fastest through {through}?",
                        f"{text} {conditions}.",
                    )
                )
        # the clients as root ran them; rootless against rootful is its own question below
        text = _answer(
            summ[~summ["client"].astype(str).str.endswith(modes.SUFFIX)],
            comp[
                ~(
                    comp["a"].astype(str).str.endswith(modes.SUFFIX)
                    | comp["b"].astype(str).str.endswith(modes.SUFFIX)
                )
            ]
            if len(comp)
            else comp,
            family="runtime=runc",
            member="client",
            step=step,
            alpha=alpha,
        )
        if text:
            answers.append(("Which client is fastest over runc?", f"{text} {conditions}."))
        # rootless beside rootful, at every pace the runs hold (a flip named): the rows of
        # every pace when given, else the analysed pace's
        paced = _experiment_rows(every_pace, experiment) if every_pace is not None else rows
        text = rootless_report.headline(comp, paced, step)
        if text:
            answers.append(
                (
                    "What does running rootless cost?",
                    # each pace its own cost (rootless_report.costs), never pooled
                    f"{text} {conditions_text(metas, paced, per_pace=True)}.",
                )
            )
        sections.append((experiment, step, answers))
    return sections


def headline_answers(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    metas: Sequence[dict],
    trials: pd.DataFrame | None = None,
    alpha: float = 0.05,
) -> list[tuple[str, str]]:
    """(question, answer) for each question the study asked, as these runs can answer it:
    which low-level runtime is fastest through each client measured, and which client is
    fastest over runc. With runs of several experiments each question names its
    experiment ("pause: Which …") and is answered on that experiment's rows only."""
    sections = headline_sections(summary, comparisons, metas, trials, alpha)
    several = len(sections) > 1
    return [
        (f"{experiment}: {q}" if several else q, a)
        for experiment, _, answers in sections
        for q, a in answers
    ]


def _overview_png(figures: Iterable[Path | str], experiment: str, several: bool) -> Path | None:
    """The experiment's overview figure (``figures/<experiment>/overview.png`` when the
    runs hold several experiments)."""
    name = OVERVIEW_FIGURES.get(experiment, "overview.png")
    for f in figures:
        f = Path(f)
        if f.name == name and (not several or f.parent.name == experiment):
            return f
    return None


# the first screen's figure of experiments without the overview (concurrency's own)
OVERVIEW_FIGURES = {"concurrency": "concurrency_run.png"}


def _other_hosts_line(others: Sequence[str]) -> str:
    if not others:
        return ""
    return (
        '<p id="other-hosts" style="margin:0 0 .5em 0"><strong>These answers are one '
        f"host's of {len(others) + 1}</strong>: the runs given also come from "
        f"{esc(', '.join(others))}, never pooled with this host's; the Hosts section "
        "below puts each host beside the others (unpaired across hosts).</p>"
    )


def headline(
    metas: Sequence[dict],
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    figures: Iterable[Path | str] = (),
    trials: pd.DataFrame | None = None,
    alpha: float = 0.05,
    more: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    every_pace: pd.DataFrame | None = None,
    other_hosts: Sequence[str] = (),
) -> Bundle:
    """The report's first screen: its title, one sentence per question beside the
    overview figure — one such block per experiment when the runs hold several (never
    pooled). ``more``: the answers of experiments the step tables leave out
    (``AnalysisResult.answers``: concurrency; density_report.answers), each its own block.
    ``every_pace``: the rows of every pace (the runs' trials), for the answers given per
    pace (rootless). ``other_hosts``: the labels of the other hosts the runs given came
    from (issue 34; hosts_report.other_hosts): said under the title, since these answers
    are the first host's alone. Every string from data is escaped."""
    import base64

    figures = list(figures)
    sections: list[tuple[str, str | None, list[tuple[str, str]]]] = list(
        headline_sections(summary, comparisons, metas, trials, alpha, every_pace)
    )
    # analyze draws the step tables' figures in figures/<experiment>/ only when they
    # hold several experiments (concurrency's are always in figures/concurrency/)
    foldered = len(sections) > 1
    if more:
        if summary.empty or not (summary["n"] > 0).any():  # only such experiments ran
            sections = []
        sections += [(experiment, None, list(qa)) for experiment, qa in more.items() if qa]
    several = len(sections) > 1
    hosts = sorted({str(m.get("host", {}).get("hostname", "?")) for m in metas})
    started = sorted(str(m.get("started_at") or "?")[:16] for m in metas)
    blocks, first_png, plain = [], "", []
    for experiment, step, answers in sections:
        items = (
            "".join(f"<li><strong>{esc(q)}</strong> {esc(a)}</li>" for q, a in answers)
            or "<li>Nothing to compare: these runs measured fewer than two runtimes through any "
            "client and fewer than two clients over runc.</li>"
        )
        png = _overview_png(figures, experiment, foldered or step is None)
        figure = ""
        if png is not None and png.is_file():
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            first_png = first_png or data
            alt, caption = (
                (
                    "latency and throughput against k per target with 95% CIs",
                    "Runs to exit: p50 and p95 latency (top) and throughput (bottom) "
                    "against k, the containers released together; one line per target, "
                    "bands: 95% CIs (as the answers say: this sitting's, or across runs).",
                )
                if step is None
                else (
                    f"median total per target with 95% CI{', ' + experiment if several else ''}",
                    f"Median {experiment} time per target (point) and its 95% CI (line); "
                    "colour: runtime, marker: client; left is faster.",
                )
            )
            figure = (
                '<figure style="flex:1 1 420px;margin:0;max-width:560px">'
                f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}" '
                'style="width:100%;max-height:560px;object-fit:contain"/>'
                '<figcaption style="font-size:85%">'
                f"{esc(caption)}</figcaption></figure>"
            )
        heading = f"Answers: the {esc(experiment)} experiment" if several else "Answers"
        lead = (
            _step_lead(step, experiment)
            if step is not None
            else "Compared: the memory one more idle container costs, per target and client: "
            "a slope over N per trial, the mean of the trials' slopes with its 95% CI across "
            "the trials (\u201cnot resolvable here\u201d where the trials' noise swamps the "
            "slope); the figures and every method are in the density section."
            if experiment == "density"
            else "Compared: k containers of one target released together; each p95 with "
            "its 95% CI (each says which: this sitting's, order statistics over its batches, "
            "or across the runs of several sittings), and where throughput stops growing "
            "(the knee)."
        )
        blocks.append(
            f'<div class="experiment" data-experiment="{esc(experiment)}" '
            'style="display:flex;gap:1.5em;align-items:flex-start;flex-wrap:wrap">'
            f'<div style="flex:1 1 380px"><h2 style="margin-top:0">{heading}</h2>'
            f'<p style="margin:0">{esc(lead)}</p><ul>{items}</ul>'
            f"</div>{figure}</div>"
        )
        plain += [f"{experiment}: {q} {a}" if several else f"{q} {a}" for q, a in answers]
    separate = (
        f'<p style="margin:0 0 .5em 0">These runs hold {len(sections)} experiments '
        f"({esc(', '.join(e for e, _, _ in sections))}); each is answered on its own "
        "rows, never pooled.</p>"
        if several
        else ""
    )
    page = (
        '<section id="headline">'
        f'<h1 id="report-title" style="margin-top:0">{esc(report_title(metas))}</h1>'
        f'<p style="margin:0 0 .5em 0;color:#555">host {esc(", ".join(hosts))}; started '
        f"{esc(', '.join(started))} UTC. The answers first; the detail, the warnings and "
        "everything that went wrong follow.</p>"
        f"{_other_hosts_line(other_hosts)}"
        f"{separate}{''.join(blocks)}</section>"
    )
    bundle = Bundle({"text/html": page, "text/plain": "\n".join(plain)})
    if first_png:
        bundle["image/png"] = first_png
    return bundle
