"""collect's one front door: the schema's values → checked :class:`CollectOptions`.

Every way into a collect — ``rtlab collect`` (:func:`from_values` with the values
``options.from_namespace`` read), ``rtlab report`` (:func:`check_values`, before notebook
01 runs) and notebook 01 (:func:`collect_options`) — passes here, and each check is
written once: an unknown or missing client, runtime, study, experiment or step, the
trial count against ``--until-ci``, ``--resume`` against options given again, the
workload, the out folder. :func:`validate` is the check of a :class:`CollectOptions`
itself (the API's gate, which :func:`rtlab.collect.collect.collect` runs first): the
networks, modes and every recorded value by the schema's kind, and what this host must
allow (dropping the page cache, bpftrace for ``--trace``, root).

A message is one line naming the value and what is accepted, in its caller's words: a
notebook's names its parameter (``clients: unknown client 'kube'; …``), the command
line's says the value alone or its flag (``unknown client 'kube'; …``).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtlab.collect import density, tracing
from rtlab.collect.clients import CLIENTS
from rtlab.collect.scheduler import Plan
from rtlab.collect.studies import STUDIES, StudyError
from rtlab.collect.studies import resolve as resolve_study
from rtlab.core import conditions, experiments, options, results
from rtlab.core.image import repo_path
from rtlab.core.options import NETWORK_MODES
from rtlab.core.pull import EXPERIMENT as PULL
from rtlab.core.runtimes import Runtime, RuntimeSpecError, default_names, resolve
from rtlab.core.usage import ParameterError, UsageError
from rtlab.core.workload import Workload, WorkloadError
from rtlab.host import rootless

NOTEBOOK = "01"  # notebook 01-collect's options (the schema's "01")


def _default(name: str) -> Any:
    return options.default(name, "collect")


@dataclass
class CollectOptions:
    """A collect run's options; defaults from the schema (rtlab/core/options.py). ``extra`` holds
    the values of schema options this class has no field for (an experiment's own, say):
    run.json records them and ``--resume`` restores them like the rest."""

    clients: list[str]
    runtimes: list[str]
    trials: int = _default("trials")
    warmup: int = _default("warmup")
    timeout_s: float = _default("timeout_s")
    seed: int = _default("seed")
    experiment: str | None = None  # None: each client's own (cri: "cri"), else the default
    steps: list[str] | None = None  # a subset of the experiment's steps (None: all)
    out: Path | None = None
    custom_runtimes: list[Runtime] = field(default_factory=list)
    pairs: list[tuple[str, str]] | None = None  # explicit (client, runtime) targets
    study: str | None = None
    excluded: dict[str, str] = field(
        default_factory=dict
    )  # "client/runtime" → why the study left it out
    workload: Workload = field(default_factory=Workload)  # what the containers run
    max_consecutive_timeouts: int = _default("max_consecutive_timeouts")
    allow_concurrent: bool = False
    progress: bool | None = None  # None: when stderr is a terminal
    until_ci: float | None = None  # adaptive: stop a target once every step's CI is within ±this
    min_trials: int = _default("min_trials")
    max_trials: int = _default("max_trials")
    resume: Path | None = None  # continue this interrupted run folder
    # conditions (conditions.py): the idle gap before each timed step, one unit per
    # target and pace, interleaved within rounds; the page cache dropped before each trial
    paces: list[float] = field(default_factory=lambda: list(_default("paces")))
    drop_caches: bool = False
    # the CRI's pod network modes (options.NETWORK_MODES), each a unit of every cri target
    networks: list[str] = field(default_factory=lambda: list(NETWORK_MODES))
    # who runs the clients (rootless.py): root, or rtlab's unprivileged user; one unit each
    modes: list[str] = field(default_factory=lambda: [rootless.DEFAULT_MODE])
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: Mapping[str, Any], **fields: Any) -> CollectOptions:
        """From the schema's values (the command line's, a notebook's or a resumed
        run.json's): the fields of this class by name, image/cmd/bundle as the workload,
        every other recorded option into ``extra``; ``fields`` override."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in values.items() if k in names}
        try:
            kw["workload"] = Workload.from_options(
                values.get("image"), values.get("cmd"), values.get("bundle")
            )
        except WorkloadError as exc:
            raise UsageError(str(exc)) from None
        kw.update(fields)
        experiment = kw.get("experiment") or experiments.DEFAULT_EXPERIMENT
        kw["extra"] = {
            o.name: values[o.name]
            for o in options.recorded("collect", experiment)
            if o.name in values and o.name not in names and o.name not in _WORKLOAD
        }
        for name in ("paces", "custom_runtimes"):
            if name in kw:
                kw[name] = list(kw[name])
        return cls(**kw)

    def values(self) -> dict[str, Any]:
        """Every option's value (the schema's names), for run.json."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.update(self.extra)
        wl = self.workload
        out.update(
            image=wl.image,
            cmd=shlex.join(wl.cmd) if wl.cmd else None,
            bundle=str(wl.bundle) if wl.bundle else None,
        )
        return out

    @property
    def plan(self) -> Plan:
        return Plan(
            trials=self.trials,
            warmup=self.warmup,
            seed=self.seed,
            until_ci=self.until_ci,
            min_trials=self.min_trials,
            max_trials=self.max_trials,
            max_consecutive_timeouts=self.max_consecutive_timeouts,
        )

    @property
    def target_trials(self) -> int:
        """Measured trials per target: fixed, or the adaptive ceiling."""
        return self.plan.target_trials

    def experiments_by_client(self) -> dict[str, experiments.Experiment]:
        """client → the experiment it runs (ExperimentError: one line)."""
        return {
            c: experiments.for_client(c, CLIENTS[c].experiment, self.experiment)
            for c in dict.fromkeys([*self.clients, *(c for c, _ in self.pairs or [])])
            if c in CLIENTS
        }

    @property
    def main_experiment(self) -> experiments.Experiment:
        """The run's first experiment (a run of cri and other clients has two)."""
        exps = list(self.experiments_by_client().values())
        return next(
            (e for e in exps if e.clients is None),
            exps[0] if exps else experiments.get(self.experiment),
        )

    @property
    def measured_steps(self) -> tuple[str, ...]:
        return self.main_experiment.select(self.steps)


_WORKLOAD = ("image", "cmd", "bundle")


def options_for_resume(
    run_dir: Path, *, allow_concurrent: bool = False, progress: bool | None = None
) -> CollectOptions:
    """The options an interrupted run was started with, to continue it."""
    try:
        params = results.read_meta(Path(run_dir))["parameters"]
    except results.RunFormatError as exc:
        raise UsageError(f"--resume: {exc}") from None
    try:
        values = options.restore(params)
    except options.OptionError as exc:
        raise UsageError(f"--resume {run_dir}: {exc}") from None
    if "experiment_asked" not in params:  # runs from before the cri client recorded it
        values["experiment"] = params.get("experiment") or None
    return CollectOptions.from_values(
        values,
        pairs=[tuple(p) for p in params["pairs"]] if params.get("pairs") else None,
        resume=Path(run_dir),
        allow_concurrent=allow_concurrent,
        progress=progress,
    )


# -- the checks, each once ---------------------------------------------------------------


def check_clients(names: Sequence[str], *, notebook: bool = False, study: bool = False) -> None:
    """Every name a registered client (collect/clients/), and at least one unless a study
    names them."""
    unknown = [c for c in names if c not in CLIENTS]
    if unknown:
        raise UsageError(
            f"{'clients: ' if notebook else ''}unknown client "
            f"{', '.join(map(repr, unknown))}; known: {', '.join(CLIENTS)}"
        )
    if not names and not study:
        raise UsageError(
            f"clients is empty: give one or more of {', '.join(CLIENTS)} (or name a study)"
            if notebook
            else f"no client given; known: {', '.join(CLIENTS)}"
        )


def check_runtimes(
    names: Sequence[str], custom: Sequence[Runtime], *, notebook: bool = False, study: bool = False
) -> list[Runtime]:
    """The runtimes by name (core/runtimes.py's own and ``custom``), at least one unless a
    study names them."""
    if not names and not study:
        raise UsageError(
            f"runtimes is empty: give one or more of {', '.join(default_names(custom))} "
            "(or name a study)"
            if notebook
            else f"no runtime given; known: {', '.join(default_names(custom))}"
        )
    try:
        if notebook:
            return resolve(list(names), custom, add="in custom_runtimes as 'NAME=/PATH[:FLAGS]'")
        return resolve(list(names), custom)
    except RuntimeSpecError as exc:
        raise UsageError(f"runtimes: {exc}" if notebook else str(exc)) from None


def check_experiment(
    experiment: str | None,
    steps: Sequence[str] | None,
    clients: Sequence[str] = (),
    *,
    notebook: bool = False,
) -> None:
    """The experiment asked for exists, each client can run it (or runs its own: the CRI),
    and ``steps`` are steps of every experiment the clients run."""
    try:
        runs = {experiments.get(experiment).name: experiments.get(experiment)}
        if clients:
            runs = {
                e.name: e
                for e in (
                    experiments.for_client(c, CLIENTS[c].experiment, experiment)
                    for c in dict.fromkeys(clients)
                    if c in CLIENTS
                )
            } or runs
        for exp in runs.values():
            exp.select(list(steps) if steps else None)
    except experiments.ExperimentError as exc:
        raise UsageError(f"experiment/steps: {exc}" if notebook else str(exc)) from None


def check_host_allows(experiment: str | None, drop_caches: bool) -> None:
    """What dropping the page cache needs (root, the file): asked by ``--drop-caches``, and
    by experiment density before each memory reading."""
    try:
        # experiment pull drops the page cache before each cold trial (collect/pull.py)
        if experiment in (density.EXPERIMENT, PULL) or drop_caches:
            conditions.check_drop_caches_allowed()
    except conditions.DropCachesError as exc:
        if experiment != density.EXPERIMENT:
            raise UsageError(str(exc)) from None
        raise UsageError(
            "experiment density drops the page cache before each memory "
            "reading: " + str(exc).removeprefix("--drop-caches: ").replace(" or leave it out", "")
        ) from None


def check_out(out: Path, shown: str | None = None) -> None:
    """A run folder that is new or empty (``shown``: the notebook's ``out_dir`` as given;
    without it, the command line's ``--out``)."""
    if results.is_empty_dir(out) is not False:
        return
    if shown is None:
        raise UsageError(f"--out {out}: exists and is not empty; give a new or empty folder")
    raise UsageError(
        f"out_dir = {shown!r}: {out} exists and is not an empty "
        "folder; give a new or empty folder, or '' for a new data/<run-id>/"
    )


def validate(opts: CollectOptions) -> list[Runtime]:
    """Check a :class:`CollectOptions` before anything runs (the API's gate: ``collect``
    runs it first); return the runtimes asked for."""
    check_host_allows(opts.experiment, opts.drop_caches)
    check_clients(opts.clients)
    check_experiment(
        opts.experiment, opts.steps, [*opts.clients, *(c for c, _ in opts.pairs or [])]
    )
    bad = [n for n in opts.networks or [] if n not in NETWORK_MODES]
    if bad or not opts.networks:
        raise UsageError(
            f"--networks {','.join(opts.networks or [])}: "
            f"{'unknown mode ' + ', '.join(map(repr, bad)) if bad else 'none given'}; "
            f"the CRI's pod networks: {', '.join(NETWORK_MODES)}"
        )
    bad = [m for m in opts.modes or [] if m not in rootless.MODES]
    if bad or not opts.modes:
        raise UsageError(
            f"--modes {','.join(opts.modes or [])}: "
            f"{'unknown mode ' + ', '.join(map(repr, bad)) if bad else 'none given'}; "
            f"accepted: {', '.join(rootless.MODES)}"
        )
    # every recorded option with a field here, by the schema's own check (rtlab/core/options.py)
    values = opts.values()
    for o in options.recorded("collect", opts.experiment):
        if (
            isinstance(o.kind, (options.Whole, options.Real, options.Flag, options.Durations))
            and values.get(o.name) is not None
        ):
            try:
                o.kind.check(values[o.name], o.name)
            except options.OptionError as exc:
                raise UsageError(str(exc)) from None
    runtimes = check_runtimes(opts.runtimes, opts.custom_runtimes)
    if opts.until_ci is not None and not 1 <= opts.min_trials <= opts.max_trials:
        raise UsageError(
            f"--min-trials {opts.min_trials} / --max-trials {opts.max_trials}: need 1 <= min <= max"
        )
    if opts.extra.get("trace") and (why := tracing.missing_tool()):
        raise UsageError(why)  # before the root check: root would not help
    if os.geteuid() != 0:  # after the options: a bad value is said first
        raise UsageError(rootless.needs_root())
    return runtimes


# -- the front door ----------------------------------------------------------------------


def check_values(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The schema's values of ``where`` (a command, or notebook "01"), checked before
    anything runs or is probed, with what is not given filled in: the clients and
    runtimes (none with a study: the study's), ``paces`` from ``--pace``/``--paces``,
    and a notebook's ``bundle`` and ``out_dir`` taken from the repository root.
    ``rtlab report`` hands these to notebook 01; :func:`from_values` goes on to
    resolve a study and build the options."""
    notebook = where == NOTEBOOK
    out = dict(values)
    study = values.get("study")
    if study and study not in STUDIES:  # the command line's --study is an argparse choice
        raise UsageError(
            f"study = {study!r}: unknown study; known: '' (clients x runtimes), "
            + ", ".join(STUDIES)
        )
    check_experiment(
        values.get("experiment"),
        values.get("steps"),
        values.get("clients") or (),
        notebook=notebook,
    )
    custom = values.get("custom_runtimes") or []
    clients, runtimes = values.get("clients") or [], values.get("runtimes") or []
    if not study and not notebook:  # a command's defaults (a notebook's are in its cell)
        clients = clients or list(options.DEFAULT_CLIENTS)
        runtimes = runtimes or (
            default_names(custom) if where == "report" else list(options.DEFAULT_RUNTIMES)
        )  # a report without a study: every runtime rtlab knows
    check_clients(clients, notebook=notebook, study=bool(study))
    check_runtimes(runtimes, custom, notebook=notebook, study=bool(study))
    if notebook:
        for name in ("bundle", "out_dir"):
            out[name] = str(repo_path(values[name])) if values.get(name) else None
    try:
        Workload.from_options(out.get("image"), out.get("cmd"), out.get("bundle"))
    except WorkloadError as exc:
        raise UsageError(str(exc)) from None
    pace = values.get("pace")
    out["paces"] = (
        [pace] if pace is not None else list(values.get("paces") or options.default("paces", where))
    )
    check_host_allows(values.get("experiment"), bool(values.get("drop_caches")))
    out.update(clients=clients or None, runtimes=runtimes or None)
    return out


def from_values(
    values: Mapping[str, Any],
    where: str = "collect",
    *,
    given: Collection[str] = (),
    progress: bool | None = None,
) -> CollectOptions:
    """The one front door: the schema's values of ``where`` (``rtlab collect``'s from
    ``options.from_namespace``, notebook 01's from ``options.check``) → checked options.

    ``given``: the options named on the command line (``--resume`` refuses them given
    again, ``--until-ci`` refuses ``--trials``). A study is resolved here (its probes
    of which runtimes run on this host), then :func:`validate` checks the options.
    Raises :class:`UsageError` (notebook 01: :class:`ParameterError`), one line."""
    try:
        return _from_values(values, where, given, progress)
    except ParameterError:
        raise
    except UsageError as exc:
        if where == NOTEBOOK:
            raise ParameterError(str(exc)) from None
        raise


def _from_values(
    values: Mapping[str, Any], where: str, given: Collection[str], progress: bool | None
) -> CollectOptions:
    if values.get("resume") is not None:
        run_dir = values["resume"]
        if "out_dir" in given:
            raise UsageError(
                f"--resume {run_dir} continues that folder; drop --out {values['out_dir']}"
            )
        refused = options.refused_with_resume(set(given), dict(values), where, run_dir)
        if refused:
            raise UsageError(refused)
        return options_for_resume(
            run_dir, allow_concurrent=bool(values.get("allow_concurrent")), progress=progress
        )
    if "until_ci" in given and "trials" in given:
        raise UsageError(
            f"--until-ci {values['until_ci']:g} decides the trial count: drop --trials "
            f"{values['trials']} (bound it with --min-trials/--max-trials)"
        )
    checked = check_values(values, where)
    fields: dict[str, Any] = {"clients": checked["clients"], "runtimes": checked["runtimes"]}
    if checked.get("study"):
        study = checked["study"]
        try:
            chosen = resolve_study(
                study,
                checked.get("custom_runtimes") or [],
                clients=checked["clients"],
                runtimes=checked["runtimes"],
            )
        except StudyError as exc:
            raise UsageError(
                f"study = {study!r}: {exc}" if where == NOTEBOOK else str(exc)
            ) from None
        fields = {
            "clients": chosen.clients,
            "runtimes": chosen.runtimes,
            "pairs": chosen.pairs,
            "study": chosen.name,
            "excluded": chosen.excluded,
        }
    out = checked.get("out_dir")
    opts = CollectOptions.from_values(
        checked, **fields, paces=checked["paces"], out=Path(out) if out else None, progress=progress
    )
    validate(opts)
    if where == NOTEBOOK and opts.out is not None:
        check_out(opts.out, values.get("out_dir"))
    return opts


def collect_options(progress: bool = True, **given: Any) -> CollectOptions:
    """Notebook 01's parameters (its ``globals()``, through ``params.parameters("01", …)``)
    as checked :class:`CollectOptions`: the schema's check, then :func:`from_values`.

    ``given``: any of the schema's options for notebook 01 (rtlab/core/options.py, where
    each is declared with its default for "01": 2 trials, no warm-up); the rest take
    that default. ``experiment`` names one of :data:`rtlab.core.experiments.EXPERIMENTS`;
    ``steps`` "" means all its steps, else a comma-separated subset. ``paces`` ""
    means the default pace, else durations like ``0,10ms,1s``.

    ``study`` "" measures ``clients`` x ``runtimes``; a study name (see
    :data:`rtlab.collect.studies.STUDIES`) measures that study's targets on this host,
    narrowed by ``clients``/``runtimes`` when they are not "". ``out_dir`` ""
    means a new ``data/<run-id>/``. ``image``/``cmd``/``bundle`` "" mean rtlab's
    busybox workload. Raises :class:`ParameterError` on the first bad value.
    Naming a study probes which runtimes run here (see :mod:`rtlab.collect.studies`).
    """
    try:
        values = options.check(NOTEBOOK, given)
    except options.OptionError as exc:
        raise ParameterError(str(exc)) from None
    return from_values(values, NOTEBOOK, progress=progress)
