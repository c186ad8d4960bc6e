"""Notebook parameters: check them once, derive what the notebook needs, or stop.

A notebook's ``parameters`` cell holds literals only (papermill injects new
values after it); the next cell passes them all to one function here. A value
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
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from . import experiments
from .collect import REPO_ROOT, CollectOptions, UsageError, validate
from .defaults import value as default
from .drivers import CLIENTS
from .runtimes import RuntimeSpecError, default_names, parse_custom
from .workload import Workload, WorkloadError

SAMPLE_DIR = "data/sample"


class ParameterError(UsageError):
    """A notebook or CLI parameter rtlab cannot use: one line naming it and what is accepted."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the message is the whole story.
        return [f"{type(self).__name__}: {self}"]


# -- small checks --------------------------------------------------------------


def repo_path(value: str | Path) -> Path:
    """``value`` as a path; a relative one is taken from the repository root."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def _int(name: str, value: Any, minimum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name} = {value!r}: must be a whole number"
                             + (f" of at least {minimum}" if minimum is not None else ""))
    if minimum is not None and value < minimum:
        raise ParameterError(f"{name} = {value!r}: must be a whole number of at least {minimum}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(f"{name} = {value!r}: must be True or False")
    return value


def _number(name: str, value: Any, low: float, high: float, what: str) -> float:
    """A real number in the open interval (low, high)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or not low < value < high:
        raise ParameterError(f"{name} = {value!r}: must be {what}")
    return float(value)


def _text(name: str, value: Any, accepted: str) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"{name} = {value!r}: must be a string ({accepted})")
    return value.strip()


def _names(name: str, value: Any, accepted: str) -> list[str]:
    """A comma-separated string or a list of strings → names."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ParameterError(f"{name} = {value!r}: give names separated by commas, e.g. {accepted!r}")


def _unknown(name: str, given: list[str], known: Sequence[str], what: str) -> None:
    unknown = [v for v in given if v not in known]
    if unknown:
        raise ParameterError(f"{name}: unknown {what} {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(known)}")


# -- run folders ---------------------------------------------------------------


def _started_at(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / "run.json").read_text()).get("started_at") or "")
    except (OSError, ValueError):
        return ""


def find_runs(value: str | Path | Sequence[str | Path], name: str = "run_dirs",
              base: Optional[Path] = None) -> list[Path]:
    """Run folders named by ``value``, oldest first.

    Parameters
    ----------
    value : str, pathlib.Path or list of them
        Each a run folder (it holds ``run.json``) or a folder of run folders
        (``data/sample`` means every run in it); a string may list several,
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
        raise ParameterError(f"{name} = {value!r}: give a run folder or a folder of runs, "
                             f"e.g. {SAMPLE_DIR!r}")
    if not items:
        raise ParameterError(f"{name} is empty: give a run folder or a folder of runs, "
                             f"e.g. {SAMPLE_DIR!r}")
    runs: list[Path] = []
    for item in items:
        path = repo_path(item) if base is None else Path(base, item).expanduser()
        shown = repr(item) if str(path) == item else f"{item!r} ({path})"
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "does not exist"
            raise ParameterError(f"{name}: {shown} {what}; give a run folder (holding "
                                 f"run.json) or a folder of runs, e.g. {SAMPLE_DIR!r}")
        if (path / "run.json").is_file():
            runs.append(path)
            continue
        inside = [p.parent for p in path.glob("*/run.json")]
        if not inside:
            raise ParameterError(f"{name}: {shown} holds no run (no run.json in it or "
                                 f"its subfolders); give a folder written by rtlab collect")
        runs += sorted(inside, key=lambda p: (_started_at(p), p.name))
    return list(dict.fromkeys(runs))


def sample_runs() -> list[Path]:
    """The committed sample runs (``data/sample/*/``), oldest first."""
    return find_runs(SAMPLE_DIR, "sample runs")


# -- one function per notebook -------------------------------------------------


def collect_options(*, study: str = "", clients: Any = ",".join(default("clients")),
                    runtimes: Any = ",".join(default("runtimes")),
                    experiment: Any = default("experiment"), steps: Any = "",
                    trials: Any = default("trials", "notebook"),
                    warmup: Any = default("warmup", "notebook"),
                    timeout_s: Any = default("timeout"), seed: Any = default("seed"),
                    out_dir: Any = "", custom_runtimes: Any = (), image: Any = "",
                    cmd: Any = "", bundle: Any = "", allow_concurrent: Any = False,
                    paces: Any = "", drop_caches: Any = False,
                    progress: bool = True) -> CollectOptions:
    """The parameters of ``01-collect`` as checked :class:`CollectOptions`.

    Defaults: rtlab/defaults.py, its "notebook" layer (2 trials, no warm-up).
    ``experiment`` names one of :data:`rtlab.experiments.EXPERIMENTS`; ``steps``
    "" means all its steps, else a comma-separated subset. ``paces`` "" means the
    default pace (conditions.DEFAULT_PACE_S), else durations like ``0,10ms,1s``.

    ``study`` "" measures ``clients`` x ``runtimes``; a study name (see
    :data:`rtlab.studies.STUDIES`) measures that study's targets on this host,
    narrowed by ``clients``/``runtimes`` when they are not "". ``out_dir`` ""
    means a new ``data/<run-id>/``. ``image``/``cmd``/``bundle`` "" mean rtlab's
    busybox workload. Raises :class:`ParameterError` on the first bad value.
    Naming a study probes which runtimes run here (see :mod:`rtlab.studies`).
    """
    from .studies import STUDIES, StudyError
    from .studies import resolve as resolve_study

    study = _text("study", study, f"'' or one of {', '.join(STUDIES)}")
    if study and study not in STUDIES:
        raise ParameterError(f"study = {study!r}: unknown study; known: '' (clients x runtimes), "
                             + ", ".join(STUDIES))
    exp_name = _text("experiment", experiment, ", ".join(experiments.EXPERIMENTS))
    try:
        chosen_steps = list(experiments.get(exp_name).select(
            _names("steps", steps, "run") or None)) if _names("steps", steps, "run") else None
    except experiments.ExperimentError as exc:
        raise ParameterError(f"experiment/steps: {exc}") from None
    client_names = _names("clients", clients, "oci,docker")
    _unknown("clients", client_names, list(CLIENTS), "client")
    if isinstance(custom_runtimes, str):
        custom_runtimes = [custom_runtimes] if custom_runtimes.strip() else []
    if not isinstance(custom_runtimes, (list, tuple)) or not all(
            isinstance(s, str) for s in custom_runtimes):
        raise ParameterError(f"custom_runtimes = {custom_runtimes!r}: give a list of "
                             "'NAME=/PATH[:FLAGS]' strings")
    try:
        custom = [parse_custom(s) for s in custom_runtimes]
    except RuntimeSpecError as exc:
        raise ParameterError(f"custom_runtimes: {exc}") from None
    runtime_names = _names("runtimes", runtimes, "runc,crun")
    known_runtimes = default_names(custom)
    if runtime_names and any(r not in known_runtimes for r in runtime_names):
        unknown = [r for r in runtime_names if r not in known_runtimes]
        raise ParameterError(f"runtimes: unknown runtime {', '.join(map(repr, unknown))}; known: "
                             f"{', '.join(known_runtimes)} (or add one in custom_runtimes as "
                             "'NAME=/PATH[:FLAGS]')")
    out_text = _text("out_dir", out_dir, "'' for a new data/<run-id>/, or a new or empty folder")
    try:
        workload = Workload.from_options(
            _text("image", image, "'' or an image in each daemon client's store") or None,
            _text("cmd", cmd, "'' or the container's command line") or None,
            str(repo_path(_text("bundle", bundle, "'' or an OCI bundle folder")))
            if str(bundle).strip() else None)
    except WorkloadError as exc:
        raise ParameterError(str(exc)) from None
    fields: dict[str, Any] = {}
    if study:
        try:
            chosen = resolve_study(study, custom, clients=client_names or None,
                                   runtimes=runtime_names or None)
        except StudyError as exc:
            raise ParameterError(f"study = {study!r}: {exc}") from None
        fields = {"clients": chosen.clients, "runtimes": chosen.runtimes, "pairs": chosen.pairs,
                  "study": chosen.name, "excluded": chosen.excluded}
    else:
        if not client_names:
            raise ParameterError(f"clients is empty: give one or more of {', '.join(CLIENTS)} "
                                 "(or name a study)")
        if not runtime_names:
            raise ParameterError(f"runtimes is empty: give one or more of "
                                 f"{', '.join(known_runtimes)} (or name a study)")
        fields = {"clients": client_names, "runtimes": runtime_names}
    from .conditions import DEFAULT_PACE_S, DurationError, parse_paces

    paces_text = _text("paces", paces, "'' for the default pace, or durations like 0,10ms,1s")
    try:
        chosen_paces = parse_paces(paces_text, name="paces") if paces_text else [DEFAULT_PACE_S]
    except DurationError as exc:
        raise ParameterError(str(exc)) from None
    opts = CollectOptions(
        **fields, experiment=exp_name, steps=chosen_steps,
        paces=chosen_paces, drop_caches=_bool("drop_caches", drop_caches),
        trials=_int("trials", trials, 1), warmup=_int("warmup", warmup, 0),
        timeout_s=_number("timeout_s", timeout_s, 0.0, math.inf, "a number of seconds above 0"),
        seed=_int("seed", seed), out=repo_path(out_text) if out_text else None,
        custom_runtimes=custom, workload=workload, progress=progress,
        allow_concurrent=_bool("allow_concurrent", allow_concurrent),
    )
    try:
        validate(opts)
    except ParameterError:
        raise
    except UsageError as exc:
        raise ParameterError(str(exc)) from None
    if opts.out is not None and opts.out.exists() and (
            not opts.out.is_dir() or any(opts.out.iterdir())):
        raise ParameterError(f"out_dir = {out_text!r}: {opts.out} exists and is not an empty "
                             "folder; give a new or empty folder, or '' for a new data/<run-id>/")
    return opts


@dataclass(frozen=True)
class AnalyzeParams:
    """The checked parameters of ``02-analyze``."""

    run_dirs: list[Path]
    alpha: float
    seed: int
    out_dir: Path
    margin: float = 0.05
    figures: str = "report"
    svg: bool = False


_MARGIN_RULE = "an equivalence margin between 0 and 1, e.g. 0.05 for ±5%"


def analyze_params(*, run_dirs: Any = SAMPLE_DIR, alpha: Any = 0.05, seed: Any = 0,
                   out_dir: Any = "", margin: Any = 0.05, figures: Any = "report",
                   svg: Any = False) -> AnalyzeParams:
    """The parameters of ``02-analyze``: run folders found, ``out_dir`` "" → a new temporary
    folder, ``figures`` the kinds to draw (:func:`rtlab.analysis.figure_kinds`)."""
    runs = find_runs(run_dirs, "run_dirs")
    alpha = _number("alpha", alpha, 0.0, 1.0, "a significance level between 0 and 1, e.g. 0.05")
    seed = _int("seed", seed)
    out_text = _text("out_dir", out_dir, "'' for a new temporary folder, or a folder")
    if out_text:
        out = repo_path(out_text)
        if out.exists() and not out.is_dir():
            raise ParameterError(f"out_dir = {out_text!r}: {out} is a file; give a folder")
    else:
        out = Path(tempfile.mkdtemp(prefix="rtlab-analysis-"))
    margin = _number("margin", margin, 0.0, 1.0, _MARGIN_RULE)
    figures_text = _text("figures", figures, "report, all, none or figure kinds, comma-separated")
    from .analysis import figure_kinds

    try:
        figure_kinds(figures_text)
    except ValueError as exc:
        raise ParameterError(f"figures = {figures_text!r}: {exc}") from None
    return AnalyzeParams(runs, alpha, seed, out, margin, figures_text, _bool("svg", svg))


def load_runs(run_dirs: Sequence[Path], name: str = "run_dirs"):
    """(metas, trials) of the runs, merged (:func:`rtlab.results.load_runs`); a run that cannot
    be read or merged raises :class:`ParameterError` saying why."""
    from .results import RunFormatError
    from .results import load_runs as _load_runs

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
    out_dir: Optional[Path] = None
    margin: float = 0.05


def check_threshold(value: Any, name: str = "threshold") -> float:
    """A relative slow-down of 0 or more (0.05 = 5 %)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or value < 0 or math.isinf(value):
        raise ParameterError(f"{name} = {value!r}: must be a relative slow-down of 0 or more, "
                             "e.g. 0.05 for 5%")
    return float(value)


def _one_run(name: str, value: Any) -> Path:
    runs = find_runs(value, name)
    if len(runs) != 1:
        raise ParameterError(f"{name} = {value!r}: names {len(runs)} runs; give one run folder "
                             "(holding run.json)")
    return runs[0]


def compare_params(*, run_a: Any = "", run_b: Any = "", alpha: Any = 0.05,
                   threshold: Any = 0.05, seed: Any = 0, out_dir: Any = "",
                   margin: Any = 0.05) -> CompareParams:
    """The parameters of ``03-compare-runs``; ``run_a``/``run_b`` "" → the first/second sample
    run (oldest first); ``out_dir`` "" → write no files."""
    empty_a = isinstance(run_a, str) and not run_a.strip()
    empty_b = isinstance(run_b, str) and not run_b.strip()
    samples = sample_runs() if empty_a or empty_b else []
    if (empty_a or empty_b) and len(samples) < 2:
        raise ParameterError(f"run_a/run_b '' means the two sample runs, but {SAMPLE_DIR} holds "
                             f"{len(samples)}; give two run folders")
    a = samples[0] if empty_a else _one_run("run_a", run_a)
    b = samples[1] if empty_b else _one_run("run_b", run_b)
    return CompareParams(
        a, b,
        _number("alpha", alpha, 0.0, 1.0, "a significance level between 0 and 1, e.g. 0.05"),
        check_threshold(threshold),
        _int("seed", seed),
        _out_dir(out_dir, "'' to write nothing, or a folder for changes.csv and change.png"),
        _number("margin", margin, 0.0, 1.0, _MARGIN_RULE),
    )


def _out_dir(value: Any, accepted: str) -> Optional[Path]:
    text = _text("out_dir", value, accepted)
    if not text:
        return None
    out = repo_path(text)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"out_dir = {text!r}: {out} is a file; give a folder ({accepted})")
    return out
