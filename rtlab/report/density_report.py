"""Experiment density's report (issue 22): tables, figures and the headline of one or more
runs' density.csv and their interference starts.

:func:`write` writes ``density_memory.csv`` (MB per container per target and method:
the mean of the trials' slopes with its CI across trials, its status — "not resolvable
here" among them — and every trial's slope), ``density_trial_slopes.csv`` (one row per
trial), ``density_methods.csv`` (the methods side by side and their spread, with the
methods it leaves out and why), ``density_interference.csv`` (ms per running container,
per trial then across trials) and the figures
``figures/density/memory.png`` (memory against N, a panel per method side by
side, one line per target) and ``figures/density/interference.png`` (one more
container's start against N). :func:`section` is notebook 02's section (HTML,
every string from data escaped; one line when no run measured density),
:func:`console_table` the console's lines after ``rtlab collect``. Density runs
are read only here (by their density.csv and their ``experiment == "density"``
trials): never pooled with another experiment, nor their levels with each other.
The plot functions take the tidy frame and draw on a given ``ax`` (plots.py's rule).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rtlab.analysis import density_stats as ds
from rtlab.core import runtimes
from rtlab.core.experiments import DENSITY_METHODS as METHODS
from rtlab.core.results import load_trials
from rtlab.report.html import esc, image_bundle
from rtlab.report.html import table as html_table

EXPERIMENT = "density"  # collect/density.py's experiment name
FIGURES = ("memory", "interference")
HEADLINE_METHOD = "pss"  # the runtime's own processes, the least noisy of the three
NOTHING = (
    "No density run in these runs (<code>rtlab collect --experiment density</code> "
    "measures memory per container)."
)


def _cell(est: float, low: float, high: float, status: str, note: str, unit: str) -> str:
    """One slope as printed: the estimate with its interval (the interval is for this
    estimate, the mean of the trials' slopes), the estimate alone with why it has no
    interval, or "not resolvable here" and why, with no estimate."""
    if status == ds.UNRESOLVABLE:
        return f"{ds.UNRESOLVABLE} ({note})"
    if status == ds.NO_SLOPE or est is None or math.isnan(est):
        return "—"
    d = 2 if abs(est) < 1 else 1  # a runc container's 0.05 MB PSS is not "0.1"
    if status == ds.NO_INTERVAL:
        return f"{est:.{d}f} {unit} ({note})"
    return f"{est:.{d}f} {unit} [{low:.{d}f}, {high:.{d}f}]"


def _memory_cell(r) -> str:
    return _cell(r.mb, r.low, r.high, r.status, r.note, "MB")


def memory_plot(density: pd.DataFrame, *, method: str, ax):
    """Memory (MB) against N for one method, one line per target (the median over
    trials), every trial's reading a faint point."""
    use = density[density.ok & ~density.warmup & (density.method == method)]
    for (client, runtime), g in use.groupby(["client", "runtime"], sort=True):
        med = g.groupby("n").bytes.median() / ds.MB
        (line,) = ax.plot(med.index, med.values, marker="o", label=f"{client}/{runtime}")
        ax.scatter(g.n, g.bytes / ds.MB, s=8, alpha=0.35, color=line.get_color())
    ax.set_xlabel("idle containers running (N)")
    ax.set_ylabel("MB")
    ax.set_title(method)
    if use.size:
        ax.legend(fontsize="small")
    return ax


def interference_plot(trials: pd.DataFrame, *, ax):
    """One more container's start (ms) against N, one line per target (the median)."""
    use = _density_trials(trials)
    use = use[use.ok & ~use.warmup & (use.step == "start")]
    for (client, runtime), g in use.groupby(["client", "runtime"], sort=True):
        med = g.groupby("n").wall_s.median() * 1000
        ax.plot(med.index, med.values, marker="o", label=f"{client}/{runtime}")
    ax.set_xlabel("idle containers running (N)")
    ax.set_ylabel("start (ms)")
    ax.set_title("start of one more container with N running")
    if len(use):
        ax.legend(fontsize="small")
    return ax


def _density_trials(trials: pd.DataFrame) -> pd.DataFrame:
    use = trials[trials.experiment.astype(str) == EXPERIMENT].copy()
    use["n"] = pd.to_numeric(use["n"], errors="coerce")
    return use


def _first(names, role: str) -> str | None:
    """The first of ``names`` (known runtimes in their order, then the others by name)
    whose record, or its kin's (a user's runsc-dev), has ``role`` (core/runtimes.py)."""
    for name in runtimes.in_order(names):
        record = runtimes.kin(name)
        if record is not None and getattr(record, role):
            return name
    return None


def headline(slopes: pd.DataFrame, method: str = HEADLINE_METHOD) -> list[str]:
    """One sentence per client: a sandboxed runtime against the reference runtime when
    both were measured (their records' ``sandbox`` and ``reference``: runsc against
    runc), else the costliest runtime against the cheapest of those with an estimate,
    by ``method``; a runtime whose slope is not resolvable is said so, with no
    estimate."""
    out = []
    for client, g in slopes[(slopes.method == method) & slopes.mb.notna()].groupby("client"):
        if len(g) < 2:
            continue
        by = g.set_index("runtime")
        sandboxed, reference = _first(by.index, "sandbox"), _first(by.index, "reference")
        if sandboxed is not None and reference is not None:
            hi_name, lo_name = sandboxed, reference
        else:
            shown = g[g.status != ds.UNRESOLVABLE]
            shown = shown if len(shown) >= 2 else g
            hi_name, lo_name = (
                shown.loc[shown.mb.idxmax()].runtime,
                shown.loc[shown.mb.idxmin()].runtime,
            )
        hi, lo = by.loc[hi_name], by.loc[lo_name]
        if ds.UNRESOLVABLE in (hi.status, lo.status):
            out.append(
                f"Through {client}, by {method} per container: {hi_name} "
                f"{_memory_cell(hi)}; {lo_name} {_memory_cell(lo)}."
            )
        else:
            out.append(
                f"Through {client}, a {hi_name} container costs {_memory_cell(hi)} "
                f"against {lo_name}'s {_memory_cell(lo)} ({method}, per container)."
            )
    return out


def answers(run_dirs: Iterable[str | Path]) -> dict[str, list[tuple[str, str]]]:
    """The report's first screen for density runs (issue 30: the first screen names every
    experiment the runs hold and answers each): ``{"density": [(question, answer), …]}``,
    one per client, the answer being :func:`headline`'s sentence; ``{}`` without a density
    run."""
    found = load(run_dirs)
    if found is None:
        return {}
    sentences = headline(found.slopes)
    if not sentences:
        sentences = [
            "fewer than two runtimes measured through any client, or none resolvable: "
            "see the density section."
        ]
    n = int(found.slopes["trials"].max()) if "trials" in found.slopes and len(found.slopes) else 0
    unit = f" (the trial as unit, {n} trials; by {HEADLINE_METHOD})" if n else ""
    return {
        "density": [
            (f"What does one more idle container cost in memory{unit}?", text) for text in sentences
        ]
    }


@dataclass
class Density:
    """The density runs' frames and what :func:`write` wrote."""

    runs: list[Path]
    density: pd.DataFrame
    trials: pd.DataFrame
    slopes: pd.DataFrame
    trial_slopes: pd.DataFrame
    methods: pd.DataFrame
    interference: pd.DataFrame
    unavailable: dict = field(default_factory=dict)
    tables: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)

    @property
    def headline(self) -> list[str]:
        return headline(self.slopes)


def load(run_dirs: Iterable[str | Path]) -> Density | None:
    """The runs that have density.csv, their statistics; None when none has."""
    runs = [Path(r) for r in run_dirs if (Path(r) / "density.csv").exists()]
    if not runs:
        return None
    density = pd.concat([ds.load(r) for r in runs], ignore_index=True)
    trials = _density_trials(pd.concat([load_trials(r) for r in runs], ignore_index=True))
    unavailable: dict[str, str] = {}
    for r in runs:
        try:
            unavailable.update(json.loads((r / "run.json").read_text()).get("unavailable") or {})
        except (OSError, ValueError):
            pass
    slopes = ds.memory_slopes(density)
    return Density(
        runs,
        density,
        trials,
        slopes,
        ds.memory_trial_slopes(density),
        ds.disagreement(slopes),
        ds.interference_slopes(trials),
        unavailable,
    )


def write(
    run_dirs: Iterable[str | Path], out_dir: str | Path, *, draw: bool = True
) -> Density | None:
    """Write the density tables and (``draw``) figures of the runs that have density.csv
    into ``out_dir``; None (nothing written) when no run measured density."""
    found = load(run_dirs)
    if found is None:
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for frame, name in (
        (found.slopes, "density_memory.csv"),
        (found.trial_slopes, "density_trial_slopes.csv"),
        (found.methods, "density_methods.csv"),
        (found.interference, "density_interference.csv"),
    ):
        frame.to_csv(out / name, index=False)
        found.tables.append(out / name)
    if draw:  # --figures none / figures = "none": the tables only
        folder = out / "figures" / "density"
        folder.mkdir(parents=True, exist_ok=True)
        found.figures = _figures(found.density, found.trials, folder)
    return found


def memory_table(found: Density) -> pd.DataFrame:
    """One row per target: each method's MB per container with its CI (or why it has
    none, or "not resolvable here"), the methods' spread (with the methods it leaves
    out and why), the daemons named and their MB per container, the trials."""
    rows = []
    for (client, runtime), g in found.slopes.groupby(["client", "runtime"], sort=True):
        row: dict[str, object] = {"target": f"{client}/{runtime}"}
        for m in METHODS:
            r = g[g.method == m]
            row[f"{m} (MB per container)"] = _memory_cell(r.iloc[0]) if len(r) else "—"
        spread = found.methods[
            (found.methods.client == client) & (found.methods.runtime == runtime)
        ]
        if len(spread):
            s = spread.iloc[0]
            value = "—" if pd.isna(s.spread) else f"{s.spread:.1f}×"
            row["spread (largest / smallest)"] = f"{value} ({s.spread_note})"
        else:
            row["spread (largest / smallest)"] = "—"
        daemons = next((d for d in g.daemons if d), "")
        d_mb = g.daemons_mb.dropna()
        row["daemons"] = daemons or "none (no daemon)"
        row["daemons (MB per container)"] = f"{d_mb.iloc[0]:.2f}" if len(d_mb) else "—"
        row["levels"] = g.levels.iloc[0]
        row["trials"] = int(g.trials.max())
        rows.append(row)
    return pd.DataFrame(rows)


def interference_table(found: Density) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "target": f"{r.client}/{r.runtime}",
                "step": r.step,
                "ms per running container": _cell(
                    r.ms_per_container, r.low, r.high, r.status, r.note, "ms"
                ),
                "at N = 0 (ms)": f"{r.intercept_ms:.1f}",
                "trials": r.trials,
            }
            for r in found.interference.itertuples()
        ]
    )


def unit_text(found: Density) -> str:
    """The sentences saying how the slopes were estimated: the trial as unit, how many
    trials, the interval and the rule for "not resolvable here"."""
    counts = sorted({int(t) for t in (*found.slopes.trials, *found.interference.trials) if t})
    many = (
        "no trial with two levels"
        if not counts
        else f"{counts[0]} trials per target"
        if len(counts) == 1
        else f"{counts[0]}–{counts[-1]} trials per target"
    )
    levels = sorted(
        {lv for text in found.slopes.levels for lv in str(text).split(",") if lv}, key=int
    )
    return (
        f"The unit is the trial ({many} here): a trial adds its levels "
        f"(N = {', '.join(levels) or '—'}) to one growing batch, so its readings are not "
        "independent points. Each trial gives one slope, least squares over its own "
        "levels; the estimate is the mean of the trials' slopes with the 95% t-interval "
        f"of that mean across trials, from {ds.MIN_TRIALS_CI} trials (with fewer, the "
        'mean alone, the cell saying why). "Not resolvable here", with no estimate: the '
        "interval's half-width is more than "
        f"{ds.MAX_HALF_WIDTH_SHARE:.0%} of the estimate (the trials' noise swamps the "
        "slope; an interval holding 0 always is), a memory slope below 0 (the host's "
        "other memory moved more than the batch), or, below "
        f"{ds.MIN_TRIALS_CI} trials, trials whose slopes disagree in sign. The estimates "
        "and every trial's slope are kept in density_memory.csv, density_trial_slopes.csv "
        "and density_interference.csv."
    )


def section(run_dirs: Iterable[str | Path], out_dir: str | Path, figures: str = "report"):
    """Notebook 02's density section as HTML: the headline, MB per container per target
    and method with CIs, the methods' spread and the daemons apart, the memory-against-N
    figure, ms per running container and its figure; one line when no run measured
    density. Writes what :func:`write` writes (no figures with ``figures="none"``)."""
    from IPython.display import HTML

    found = write(run_dirs, out_dir, draw=figures != "none")
    if found is None:
        return HTML(f"<p>{NOTHING}</p>")
    lines = found.headline or ["Fewer than two runtimes measured through one client: no headline."]
    parts = [
        '<section id="density">',
        "".join(f"<p><strong>{esc(s)}</strong></p>" for s in lines),
        f"<p>{esc(unit_text(found))}</p>",
        "<p>Per method: memavailable, the fall of MemAvailable (the whole host); pss, the "
        "PSS of the processes the batch added; cgroup, the containers' memory cgroups. "
        "The methods disagree by design; spread is the largest over the smallest of the "
        "methods with an estimate above 0 that is not &quot;not resolvable here&quot; (the "
        "others are named beside it). The daemons' growth (the daemons the client talks "
        "to; the mean of the trials' slopes) is apart, in no method but memavailable.</p>",
        html_table(memory_table(found), "density-memory")
        if len(found.slopes)
        else "<p>No successful reading: every level failed or was refused.</p>",
    ]
    interference = [
        "<p>The start of one more container with N running: ms per running "
        "container of create, start and both, per trial then across trials as above "
        "(a slope may be below 0; at N = 0 is the mean of the trials' intercepts).</p>",
        html_table(interference_table(found), "density-interference")
        if len(found.interference)
        else "<p>No successful timed start.</p>",
    ]
    if not any(png.stem == "memory" for png in found.figures):
        parts += interference  # no figure to put it after
    for png in found.figures:
        title = {
            "memory": "Memory against N, a panel per method, a line per target",
            "interference": "Start of one more container against N",
        }[png.stem]
        parts.append(
            image_bundle(png.read_bytes(), title, caption_html=f"<h4>{esc(title)}</h4>")[
                "text/html"
            ]
        )
        if png.stem == "memory":
            parts += interference
    errors = found.density[~found.density.ok].groupby(["client", "runtime", "error"]).size()
    if len(errors):
        parts.append(
            "<p>Readings that failed (kept in density.csv, left out above):</p><ul>"
            + "".join(
                f"<li>{esc(c)}/{esc(r)}: {esc(e)} ({k} rows)</li>"
                for (c, r, e), k in errors.items()
            )
            + "</ul>"
        )
    if found.unavailable:
        parts.append(
            "<p>Not measured:</p><ul>"
            + "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in found.unavailable.items())
            + "</ul>"
        )
    parts.append("</section>")
    return HTML("".join(parts))


def console_table(run_dir: str | Path) -> str:
    """The lines ``rtlab collect`` prints after a density run: the headline, MB per
    container per target and method, ms per running container."""
    found = load([run_dir])
    if found is None:
        return "no density.csv: no memory reading"
    mem = memory_table(found)
    if mem.empty:
        return "no successful memory reading (density.csv's error column says why)"
    cols = ["target", *(f"{m} (MB per container)" for m in METHODS), "daemons (MB per container)"]
    mem = mem[cols].rename(columns=lambda c: c.replace(" (MB per container)", ""))
    out = [
        unit_text(found),
        "MB per container (the mean of the trials' slopes [95% CI]), per target and method:",
        mem.to_string(index=False),
    ]
    inter = found.interference[found.interference.step == "start"]
    if len(inter):
        out += [
            "start of one more container, ms per running container [95% CI]:",
            interference_table(found)[lambda f: f.step == "start"]
            .drop(columns=["step"])
            .to_string(index=False),
        ]
    return "\n".join([*found.headline, *out])


def _figures(
    density: pd.DataFrame, trials: pd.DataFrame, folder: Path, methods: Sequence[str] = METHODS
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(methods), figsize=(4.5 * len(methods), 3.6), squeeze=False)
    for ax, m in zip(axes[0], methods):
        memory_plot(density, method=m, ax=ax)
    fig.tight_layout()
    fig.savefig(folder / "memory.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    interference_plot(trials, ax=ax)
    fig.tight_layout()
    fig.savefig(folder / "interference.png", dpi=100)
    plt.close(fig)
    return [folder / f"{name}.png" for name in FIGURES]
