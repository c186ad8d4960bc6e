"""Notebook parameters: check them once, derive what the notebook needs, or stop.

A notebook's ``parameters`` cell holds literals only (papermill injects new
values after it); the next cell passes them all to one function: here for 02 and 03,
collect's front door for 01 (:func:`rtlab.collect.front.collect_options`). A value
that cannot be used raises :class:`ParameterError`, whose message names the
parameter, the value and what is accepted — and which IPython shows as that one
line instead of a traceback, so a notebook stops at its first cell after the
parameters with one clear message (papermill raises it as
``PapermillExecutionError``).

Relative paths are resolved against the repository root, never the current
folder: papermill, nbval and JupyterLab each start kernels in a different one.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtlab.analysis.analysis import figure_kinds
from rtlab.analysis.hosts import group_runs
from rtlab.core import options
from rtlab.core.image import REPO_ROOT, repo_path  # noqa: F401 (REPO_ROOT: importers)
from rtlab.core.results import RunFormatError
from rtlab.core.results import load_runs as _load_runs
from rtlab.core.usage import ParameterError

SAMPLE_DIR = "data/sample"


# -- small checks --------------------------------------------------------------


def _checked(where: str, given: dict[str, Any]) -> dict[str, Any]:
    """The schema's check of notebook ``where``'s parameters (rtlab/core/options.py)."""
    try:
        return options.check(where, given)
    except options.OptionError as exc:
        raise ParameterError(str(exc)) from None


def parameters(where: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Notebook ``where``'s parameters from its ``globals()``: every one the schema declares
    for it, as the parameters cell and papermill left them (an option the cell does not
    list yet takes its default)."""
    return options.from_globals(where, namespace)


# -- run folders ---------------------------------------------------------------


def _started_at(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / "run.json").read_text()).get("started_at") or "")
    except (OSError, ValueError):
        return ""


def find_runs(
    value: str | Path | Sequence[str | Path], name: str = "run_dirs", base: Path | None = None
) -> list[Path]:
    """Run folders named by ``value``, oldest first.

    Parameters
    ----------
    value : str, pathlib.Path or list of them
        Each a run folder (it holds ``run.json``), a folder of run folders
        (``data/sample`` means every run in it) or a folder of such folders, one per
        host (``rtlab fleet gather``'s ``OUT/<host>/<run-id>``); a string may list several,
        separated by commas. Relative paths are taken from the repository root.
    name : str
        The parameter's name, for the error message.
    base : pathlib.Path, optional
        What relative paths are relative to; the repository root by default
        (the command line passes the current folder).

    Returns
    -------
    list of pathlib.Path
        The run folders, in the order given; the runs inside one folder of runs
        sorted by their ``started_at`` (then by name).
    """
    if isinstance(value, (str, Path)):
        items = [v.strip() for v in str(value).split(",") if v.strip()]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, Path)) for v in value):
        items = [str(v) for v in value]
    else:
        raise ParameterError(
            f"{name} = {value!r}: give a run folder or a folder of runs, e.g. {SAMPLE_DIR!r}"
        )
    if not items:
        raise ParameterError(
            f"{name} is empty: give a run folder or a folder of runs, e.g. {SAMPLE_DIR!r}"
        )
    runs: list[Path] = []
    for item in items:
        path = repo_path(item) if base is None else Path(base, item).expanduser()
        shown = repr(item) if str(path) == item else f"{item!r} ({path})"
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "does not exist"
            raise ParameterError(
                f"{name}: {shown} {what}; give a run folder (holding "
                f"run.json) or a folder of runs, e.g. {SAMPLE_DIR!r}"
            )
        if (path / "run.json").is_file():
            runs.append(path)
            continue
        # a folder of runs, or of hosts' folders of runs (what `rtlab fleet gather` writes)
        inside = [p.parent for p in path.glob("*/run.json")] or [
            p.parent for p in path.glob("*/*/run.json")
        ]
        if not inside:
            raise ParameterError(
                f"{name}: {shown} holds no run (no run.json in it or "
                f"its subfolders); give a folder written by rtlab collect"
            )
        runs += sorted(inside, key=lambda p: (_started_at(p), p.name))
    return list(dict.fromkeys(runs))


def sample_runs() -> list[Path]:
    """The committed sample runs (``data/sample/*/``), oldest first."""
    return find_runs(SAMPLE_DIR, "sample runs")


# -- one function per notebook -------------------------------------------------


@dataclass(frozen=True)
class AnalyzeParams:
    """The checked parameters of ``02-analyze``."""

    run_dirs: list[Path]
    alpha: float
    seed: int
    out_dir: Path
    margin: float = options.DEFAULT_MARGIN
    figures: str = "report"
    svg: bool = False
    # every run given, grouped by host (analysis/hosts.py); ``run_dirs`` is the first
    # host's, the runs the report's sections analyse (hosts are never pooled)
    host_runs: tuple[tuple[Path, ...], ...] = ()


def host_groups(run_dirs: Sequence[Path], name: str = "run_dirs") -> list[list[Path]]:
    """The runs grouped by host, the first given host's first (analysis/hosts.py's
    ``group_runs``); a run.json that cannot be read raises :class:`ParameterError`."""
    try:
        return group_runs(run_dirs)
    except RunFormatError as exc:
        raise ParameterError(f"{name}: {exc}") from None


def analyze_params(**given: Any) -> AnalyzeParams:
    """The parameters of ``02-analyze`` (the schema's "02" options): run folders found
    and grouped by host (``run_dirs``: the first host's), ``out_dir`` "" → a new
    temporary folder, ``figures`` the kinds to draw
    (:func:`rtlab.analysis.analysis.figure_kinds`)."""
    values = _checked("02", given)
    groups = host_groups(find_runs(values["run_dirs"], "run_dirs"))
    out_text = values["out_dir"]
    if out_text:
        out = repo_path(out_text)
        if out.exists() and not out.is_dir():
            raise ParameterError(f"out_dir = {out_text!r}: {out} is a file; give a folder")
    else:
        out = Path(tempfile.mkdtemp(prefix="rtlab-analysis-"))
    figures_text = values["figures"] or "report"

    try:
        figure_kinds(figures_text)
    except ValueError as exc:
        raise ParameterError(f"figures = {figures_text!r}: {exc}") from None
    return AnalyzeParams(
        groups[0],
        values["alpha"],
        values["seed"],
        out,
        values["margin"],
        figures_text,
        values["svg"],
        tuple(tuple(g) for g in groups),
    )


def load_runs(run_dirs: Sequence[Path], name: str = "run_dirs"):
    """(metas, trials) of the runs, merged (:func:`rtlab.core.results.load_runs`); a run that cannot
    be read or merged raises :class:`ParameterError` saying why."""

    try:
        return _load_runs(run_dirs)
    except RunFormatError as exc:
        raise ParameterError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class CompareParams:
    """The checked parameters of ``03-compare-runs``."""

    run_a: Path
    run_b: Path
    alpha: float
    threshold: float
    seed: int
    out_dir: Path | None = None
    margin: float = options.DEFAULT_MARGIN


def check_threshold(value: Any, name: str = "threshold") -> float:
    """A relative slow-down of 0 or more (0.05 = 5 %): the schema's threshold rule."""
    try:
        return options.get("threshold", "compare").kind.check(value, name)
    except options.OptionError as exc:
        raise ParameterError(str(exc)) from None


def _one_run(name: str, value: Any) -> Path:
    runs = find_runs(value, name)
    if len(runs) != 1:
        raise ParameterError(
            f"{name} = {value!r}: names {len(runs)} runs; give one run folder (holding run.json)"
        )
    return runs[0]


def compare_params(**given: Any) -> CompareParams:
    """The parameters of ``03-compare-runs`` (the schema's "03" options); ``run_a``/``run_b``
    "" → the first/second sample run (oldest first); ``out_dir`` "" → write no files."""
    values = _checked("03", given)
    run_a, run_b = values["run_a"], values["run_b"]
    empty_a = run_a is None or isinstance(run_a, str) and not run_a.strip()
    empty_b = run_b is None or isinstance(run_b, str) and not run_b.strip()
    samples = sample_runs() if empty_a or empty_b else []
    if (empty_a or empty_b) and len(samples) < 2:
        raise ParameterError(
            f"run_a/run_b '' means the two sample runs, but {SAMPLE_DIR} holds "
            f"{len(samples)}; give two run folders"
        )
    a = samples[0] if empty_a else _one_run("run_a", run_a)
    b = samples[1] if empty_b else _one_run("run_b", run_b)
    return CompareParams(
        a,
        b,
        values["alpha"],
        values["threshold"],
        values["seed"],
        _out_dir(
            values["out_dir"], "'' to write nothing, or a folder for changes.csv and change.png"
        ),
        values["margin"],
    )


def _out_dir(text: str | None, accepted: str) -> Path | None:
    if not text:
        return None
    out = repo_path(text)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"out_dir = {text!r}: {out} is a file; give a folder ({accepted})")
    return out
