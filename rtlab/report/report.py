"""The one-command report: notebooks 01 then 02 through papermill into ``reports/<run-id>/``.

A report folder holds

- ``01-collect.ipynb`` and ``02-analyze.ipynb``: the notebooks as executed, with
  the parameters papermill injected;
- ``report.html``: 02 as one self-contained page (code hidden, figures embedded
  as data URIs);
- ``figures/`` (PNG and SVG), ``summary.csv``, ``comparisons.csv`` and
  ``omnibus.csv`` as :func:`rtlab.analysis.analysis.analyze` writes them;
- ``run.json``: a copy of the run's metadata, which ``reports/index.html``
  (rewritten after every report) reads to list every report;
- ``extras/<experiment>-01-collect.ipynb``: notebook 01 as executed for each extra
  run (:data:`REPORT_EXTRAS`: a small run of another experiment, its
  own run folder, analysed by 02 beside the main run and never pooled with it).

Notebooks hand values back to this module with :func:`record` (a display output
of its own MIME type, read back by :func:`read_records`), so nothing is parsed
out of printed text. Kernels run the Python that runs rtlab: the ``python3``
kernelspec must resolve to this interpreter (:func:`check_kernel`).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rtlab.core import options, procfs
from rtlab.core.image import REPO_ROOT
from rtlab.core.results import read_meta
from rtlab.report.headline import report_title
from rtlab.report.params import find_runs, host_groups, load_runs

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORTS_DIR = REPO_ROOT / "reports"
COLLECT_NB = "01-collect.ipynb"
ANALYZE_NB = "02-analyze.ipynb"
COMPARE_NB = "03-compare-runs.ipynb"
REPORT_HTML = "report.html"
INDEX_HTML = "index.html"
KERNEL_NAME = "python3"
RECORD_MIME = "application/vnd.rtlab.record+json"
# make report's extra runs (``rtlab report`` without ``--runs``; ``--no-extras`` skips
# them): experiment → notebook 01's parameters for its run, as option values (checked by
# rtlab/core/options.py) over the report's own. Each is a run folder of its own (runs of
# different experiments are never pooled) that notebook 02 analyses beside the main run.
# Sizes keep make report's extra time small (about a minute each here): concurrency at
# k 1, 2, 4 over oci/runc and oci/crun, 6 trials (the fewest the paired comparisons and
# the batch bootstrap give intervals with); density at N 1, 3, 6 through the runtime's
# own CLI and docker over runc and runsc, 4 trials (the trial is density's unit: a slope
# per trial, the interval across trials from analysis/density_stats.MIN_TRIALS_CI = 3;
# at 4, pss and cgroup resolved in every 4-trial subset of 8 real trials here, and
# memavailable in 0–20% of them; a round of the four targets takes about 30 s here).
# The concurrency run is measured twice, in two sittings (issue 30): once before the main
# run (REPORT_EXTRAS_BEFORE_MAIN) and once after the others ("concurrency-later"), so the
# report's concurrency CIs are across 2 runs and include how much a sitting moves it.
REPORT_EXTRAS: dict[str, dict] = {
    "concurrency": {
        "experiment": "concurrency",
        "study": None,
        "clients": ["oci"],
        "runtimes": ["runc", "crun"],
        "parallel": [1, 2, 4],
        "trials": 6,
        "warmup": 1,
    },
    "density": {
        "experiment": "density",
        "study": None,
        "clients": ["oci", "docker"],
        "runtimes": ["runc", "runsc"],
        "containers": [1, 3, 6],
        "trials": 4,
        "warmup": 0,
    },
}
REPORT_EXTRAS["concurrency-later"] = dict(REPORT_EXTRAS["concurrency"])
REPORT_EXTRAS_BEFORE_MAIN = ("concurrency",)  # collected before the main run

_PYTHON_NAMES = {
    "python",
    f"python{sys.version_info[0]}",
    f"python{sys.version_info[0]}.{sys.version_info[1]}",
}


class ReportError(RuntimeError):
    """A report that could not be made: one line saying where it stopped and what to look at."""


class NotebookStopped(ReportError):
    """A notebook raised; ``ename`` is the exception's class name."""

    def __init__(self, message: str, ename: str, notebook: Path):
        super().__init__(message)
        self.ename = ename
        self.notebook = notebook


# -- notebook ↔ rtlab -------------------------------------------------------------


def record(**values: Any) -> None:
    """Hand ``values`` (JSON-able) back to whoever executes this notebook; shows them as text."""
    from IPython.display import display

    text = "\n".join(f"{k}: {v}" for k, v in values.items())
    display({"text/plain": text, RECORD_MIME: values}, raw=True)


def read_records(nb) -> dict:
    """Every value :func:`record` displayed in an executed notebook (later ones win)."""
    found: dict = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {})
            if RECORD_MIME in data:
                value = data[RECORD_MIME]
                found.update(json.loads(value) if isinstance(value, str) else dict(value))
    return found


def check_kernel(kernel_name: str = KERNEL_NAME) -> str:
    """The interpreter the ``kernel_name`` kernelspec runs; it must be this rtlab's Python.

    jupyter_client runs ``sys.executable`` for a kernelspec whose command is a
    bare ``python``/``python3``; any other command must be this interpreter.

    Raises
    ------
    ReportError
        When the kernelspec is missing or runs another interpreter.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    fix = (
        f"install rtlab's kernel with `{sys.executable} -m ipykernel install --sys-prefix "
        f"--name {kernel_name}` (scripts/bootstrap.sh does)"
    )
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise ReportError(f"no Jupyter kernel named {kernel_name!r}: {fix}") from None
    command = spec.argv[0] if spec.argv else ""
    if command in _PYTHON_NAMES:
        return sys.executable
    if Path(command).resolve() != Path(sys.executable).resolve():
        raise ReportError(
            f"the {kernel_name!r} kernel ({spec.resource_dir}) runs {command}, not "
            f"rtlab's Python {sys.executable}: {fix}"
        )
    return command


def _kernel_pids() -> list[int]:
    """Kernels this process started (children running ipykernel)."""

    me = os.getpid()
    return [
        pid
        for pid in procfs.pids()
        if procfs.parent(pid) == me and "ipykernel" in " ".join(procfs.cmdline(pid))
    ]


@contextlib.contextmanager
def _forward_interrupts() -> Iterator[None]:
    """The first Ctrl-C goes to the kernel (rtlab collect there cleans up and stops the
    cell); a second one interrupts this process as usual. Kernels run in their own
    session, so without this they would never see the terminal's SIGINT."""
    try:
        previous = signal.getsignal(signal.SIGINT)
    except ValueError:
        yield
        return
    state = {"sent": False}

    def handler(signum, frame):
        if state["sent"]:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        state["sent"] = True
        for pid in _kernel_pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGINT)
        sys.stderr.write(
            "\nrtlab report: interrupting the notebook (it cleans up; press Ctrl-C "
            "again to stop at once)\n"
        )

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_notebook(
    name: str,
    output: Path,
    parameters: dict,
    *,
    show_output: bool = False,
    notebooks_dir: Path = NOTEBOOKS_DIR,
):
    """Execute ``notebooks/<name>`` with papermill into ``output``; return the executed notebook.

    Parameters
    ----------
    name : str
        The notebook's file name in ``notebooks_dir``.
    output : pathlib.Path
        Where the executed notebook is written (saved after every cell).
    parameters : dict
        Values papermill injects after the ``parameters`` cell.
    show_output : bool
        Copy the kernel's stdout/stderr (rtlab collect's lines and progress bar)
        to this process's as they arrive.

    Raises
    ------
    NotebookStopped
        When a cell raises: its message is the exception's one line.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    check_kernel()
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _forward_interrupts():
            return papermill.execute_notebook(
                str(notebooks_dir / name),
                str(output),
                parameters=parameters,
                kernel_name=KERNEL_NAME,
                progress_bar=False,
                cwd=str(notebooks_dir),
                stdout_file=sys.stdout if show_output else None,
                stderr_file=sys.stderr if show_output else None,
                # the kernel's own log (e.g. "running over TCP without encryption" on
                # localhost) is not the notebook's output
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
    except PapermillExecutionError as exc:
        raise NotebookStopped(
            f"{name} stopped at cell {exc.exec_count}: {exc.ename}: "
            f"{exc.evalue} (executed notebook: {output})",
            exc.ename,
            output,
        ) from None


# -- HTML ----------------------------------------------------------------------------


# The page runs no script and loads nothing: nbconvert's lab template without its
# require.js, MathJax, mermaid and widget loaders, and a Content-Security-Policy that
# refuses every script and every request but inline styles and data: images.
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}
<meta http-equiv="Content-Security-Policy" content="CSP_HERE">
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
""".replace("CSP_HERE", CSP)
# Cells with this tag (the notebook's own introduction) stay out of the HTML report.
HIDE_TAG = "report-hide"


def export_html(notebook: Path, html_path: Path, title: str) -> Path:
    """Write ``notebook`` as one self-contained HTML page: code cells and prompts hidden,
    images embedded, no script and no request to the network (:data:`CSP`); cells tagged
    :data:`HIDE_TAG` left out. ``title`` is plain text (nbconvert escapes it)."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb = nbformat.read(str(notebook), as_version=4)
    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = {HIDE_TAG}
    config.TagRemovePreprocessor.enabled = True
    exporter = HTMLExporter(
        config=config,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        extra_loaders=[jinja2.DictLoader({"rtlab.html.j2": _TEMPLATE})],
        template_file="rtlab.html.j2",
    )
    nb.metadata.pop("title", None)  # the title is ours, not the notebook's
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    html_path.write_text(body, encoding="utf-8")
    return html_path


def _index_row(report_dir: Path, reports_dir: Path) -> dict | None:
    page = report_dir / REPORT_HTML
    if not page.is_file():
        return None
    try:
        meta = json.loads((report_dir / "run.json").read_text())
    except (OSError, ValueError):
        meta = {}
    host = meta.get("host", {})
    params = meta.get("parameters", {})
    return {
        # "./" keeps a folder named like "javascript:…" a relative path
        "href": "./" + page.relative_to(reports_dir).as_posix(),
        "run_id": report_dir.name,
        "started_at": meta.get("started_at") or "",
        "host": f"{host.get('hostname', '?')} ({host.get('kernel', '?')}, "
        f"{host.get('cores', '?')} cores, cgroups {host.get('cgroup_mode', '?')})",
        "targets": ", ".join(t.get("label", "") for t in meta.get("targets", [])),
        "trials": params.get("trials", ""),
        "study": params.get("study") or "",
        "status": meta.get("status", ""),
    }


def write_index(reports_dir: Path = REPORTS_DIR) -> Path:
    """Rewrite ``reports_dir/index.html``: every report in it, newest first."""
    rows = [
        r
        for d in sorted(reports_dir.iterdir())
        if d.is_dir() and not d.name.startswith(".")
        for r in [_index_row(d, reports_dir)]
        if r
    ]
    rows.sort(key=lambda r: (r["started_at"], r["run_id"]), reverse=True)
    e = html.escape
    body = "\n".join(
        f'<tr><td><a href="{e(r["href"])}">{e(r["run_id"])}</a></td><td>{e(r["started_at"])}'
        f"</td><td>{e(r['host'])}</td><td>{e(str(r['study']))}</td><td>{e(str(r['trials']))}</td>"
        f"<td>{e(r['targets'])}</td><td>{e(str(r['status']))}</td></tr>"
        for r in rows
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rtlab reports</title>
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}</style></head>
<body><h1>rtlab reports</h1>
<p>{len(rows)} report(s), newest first. Each folder also holds the executed notebooks,
<code>summary.csv</code>, <code>comparisons.csv</code> and <code>figures/</code>.</p>
<table><thead><tr><th>run</th><th>started (UTC)</th><th>host</th><th>study</th>
<th>trials per target</th><th>targets</th><th>status</th></tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""
    path = reports_dir / INDEX_HTML
    path.write_text(page, encoding="utf-8")
    return path


# -- the whole report ------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """What :func:`make_report` wrote."""

    report_dir: Path
    html: Path
    index: Path
    run_dir: Path
    notebooks: tuple[Path, Path]


def extra_parameters(collect_parameters: dict, extras: dict | None = None) -> dict[str, dict]:
    """Notebook 01's parameters of each extra run: the report's own, with the experiment's
    overrides (:data:`REPORT_EXTRAS` by default) checked by the option schema
    and in the notebook's form; each gets a run folder of its own (the main run's
    ``out_dir`` is not passed on). An extra whose experiment the main run already measures
    is left out (it would measure it twice)."""
    main = collect_parameters.get("experiment") or ""
    out = {}
    for name, overrides in (REPORT_EXTRAS if extras is None else extras).items():
        if overrides.get("experiment", name) == main:
            continue
        params = {k: v for k, v in collect_parameters.items() if k != "out_dir"}  # its own
        for key, value in overrides.items():
            option = options.get(key, "01")
            checked = None if value is None else option.kind.check(value, key)
            params[key] = option.kind.to_notebook(checked)
        out[name] = params
    return out


def make_report(
    collect_parameters: dict,
    *,
    reports_dir: Path = REPORTS_DIR,
    alpha: float = options.DEFAULT_ALPHA,
    seed: int = 0,
    margin: float = options.DEFAULT_MARGIN,
    say: Callable[[str], None] = print,
    extras: dict | None = None,
) -> Report:
    """Collect through 01, analyse through 02, write ``reports_dir/<run-id>/`` and the index.

    Parameters
    ----------
    collect_parameters : dict
        01-collect's parameters (study, clients, runtimes, trials, …); the
        notebook's defaults fill the rest.
    reports_dir : pathlib.Path
        Where report folders and ``index.html`` go.
    alpha, seed : float, int
        02-analyze's significance level and seed (kept for older callers: the comparisons draw no random numbers).
    say : callable
        Progress lines.
    extras : dict, optional
        The extra runs, experiment → overrides (default
        :data:`REPORT_EXTRAS`; ``{}``: none): each collected through 01
        after the main run (those named in ``REPORT_EXTRAS_BEFORE_MAIN``: before it, a
        sitting of their own), into a run folder of its own, and analysed by 02 with it.

    Raises
    ------
    NotebookStopped
        When 01 or 02 raises (the executed notebook is kept and named).
    """
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    staging = reports_dir / f".incoming-{secrets.token_hex(4)}"
    extra = extra_parameters(collect_parameters, extras)
    first = [name for name in extra if name in REPORT_EXTRAS_BEFORE_MAIN]
    first_dirs = []
    try:
        for name in first:  # a sitting before the main run (its twin comes after)
            say(f"rtlab report: collecting the extra {name} run through notebooks/{COLLECT_NB}")
            extra_nb = run_notebook(
                COLLECT_NB,
                staging / "extras" / f"{name}-{COLLECT_NB}",
                extra[name],
                show_output=True,
            )
            first_dirs.append(Path(read_records(extra_nb)["run_dir"]))
        say(f"rtlab report: collecting through notebooks/{COLLECT_NB} (its output follows)")
        nb = run_notebook(COLLECT_NB, staging / COLLECT_NB, collect_parameters, show_output=True)
    except NotebookStopped as exc:
        kept = (
            reports_dir / f"failed-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{staging.name[10:]}"
        )
        staging.rename(kept)
        raise NotebookStopped(
            str(exc).replace(str(staging), str(kept)), exc.ename, kept / COLLECT_NB
        ) from None
    run_dir = Path(read_records(nb)["run_dir"])
    meta = read_meta(run_dir)
    report_dir = reports_dir / meta["run_id"]
    if report_dir.exists():
        raise ReportError(f"{report_dir} exists already; the executed notebook is in {staging}")
    staging.rename(report_dir)
    shutil.copy2(run_dir / "run.json", report_dir / "run.json")
    run_dirs = [run_dir, *first_dirs]
    for name, parameters in extra.items():
        if name in first:
            continue
        say(f"rtlab report: collecting the extra {name} run through notebooks/{COLLECT_NB}")
        extra_nb = run_notebook(
            COLLECT_NB, report_dir / "extras" / f"{name}-{COLLECT_NB}", parameters, show_output=True
        )
        run_dirs.append(Path(read_records(extra_nb)["run_dir"]))
    say(f"rtlab report: analysing {', '.join(map(str, run_dirs))} through notebooks/{ANALYZE_NB}")
    run_notebook(
        ANALYZE_NB,
        report_dir / ANALYZE_NB,
        {
            "run_dirs": ",".join(str(d) for d in run_dirs),
            "alpha": alpha,
            "seed": seed,
            "margin": margin,
            "out_dir": str(report_dir),
        },
    )
    page = export_html(report_dir / ANALYZE_NB, report_dir / REPORT_HTML, report_title([meta]))
    index = write_index(reports_dir)
    return Report(
        report_dir, page, index, run_dir, (report_dir / COLLECT_NB, report_dir / ANALYZE_NB)
    )


def report_folder_name(metas: list[dict]) -> str:
    """The report folder of these runs: the run id, or the first id and how many more."""
    ids = [str(m.get("run_id") or "run") for m in metas]
    name = ids[0] if len(ids) == 1 else f"{ids[0]}+{len(ids) - 1}-more"
    return name.replace("/", "_").lstrip(".") or "run"


def report_from_runs(
    run_dirs: list[Path],
    *,
    reports_dir: Path = REPORTS_DIR,
    alpha: float = options.DEFAULT_ALPHA,
    seed: int = 0,
    margin: float = options.DEFAULT_MARGIN,
    say: Callable[[str], None] = print,
) -> Report:
    """Analyse runs already on disk through 02 into ``reports_dir/<run-id>/`` (nothing is
    collected; no root needed); rewrite the index.

    An existing report folder of the same runs is refreshed in place: its 02 notebook,
    tables, figures, ``run.json`` and ``report.html`` are replaced, an executed
    ``01-collect.ipynb`` is kept.

    Raises
    ------
    rtlab.report.params.ParameterError
        When a folder is not a run or the runs cannot be merged.
    NotebookStopped
        When 02 raises (the executed notebook is kept and named).
    """
    runs = [run for d in run_dirs for run in find_runs(str(d), "--runs", base=Path.cwd())]
    # runs of several hosts: the report is the first host's, with 02's hosts section
    metas, _ = load_runs(host_groups(runs, "--runs")[0], "--runs")
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    # named by every run given (another host's runs make another report, not this one's)
    report_dir = reports_dir / report_folder_name([read_meta(r) for r in runs])
    report_dir.mkdir(exist_ok=True)
    shutil.rmtree(report_dir / "figures", ignore_errors=True)
    shutil.copy2(runs[0] / "run.json", report_dir / "run.json")
    say(f"rtlab report: analysing {', '.join(map(str, runs))} through notebooks/{ANALYZE_NB}")
    run_notebook(
        ANALYZE_NB,
        report_dir / ANALYZE_NB,
        {
            "run_dirs": ",".join(str(r.resolve()) for r in runs),
            "alpha": alpha,
            "seed": seed,
            "margin": margin,
            "out_dir": str(report_dir.resolve()),
        },
    )
    page = export_html(report_dir / ANALYZE_NB, report_dir / REPORT_HTML, report_title(metas))
    index = write_index(reports_dir)
    collect_nb = report_dir / COLLECT_NB
    return Report(report_dir, page, index, runs[0], (collect_nb, report_dir / ANALYZE_NB))
