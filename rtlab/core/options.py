"""Every option of collect, report, analyze and compare, declared once: the schema.

One :class:`Option` per option says its name (the notebook parameter and the
run.json key), its kind (how the command line's text is read, how a notebook's
value is checked, how it is stored in run.json), its default (and the layers
that deliberately differ, with why), its help, where it applies (commands and
notebooks), whether run.json records it and whether ``--resume`` keeps it.
Everything else is derived from this table (optionforms.py; each name re-exported here):

- the argparse options of each command (:func:`add_arguments`, cli.py);
- notebook 01/02/03's parameter checking (:func:`check`, params.py, collect/front.py);
- run.json's ``parameters`` (:func:`record`) and ``--resume`` (:func:`restore`), collect;
- the README's defaults table (:func:`markdown`; tests/unit/test_options.py keeps them equal).

This module holds the defaults and the declarations; the kinds, the :class:`Option`
record and the registry are schema.py's (re-exported here too, so
``from rtlab.core.options import Whole`` keeps working).

A module that brings its own option (an experiment's ``k``, say) declares it with
:func:`register` next to the experiment; nothing else changes.

Bad input is one line naming the option, the value and what is accepted
(:class:`OptionError`); cli.py prints it and exits 2, a notebook's check raises it as
a ``ParameterError`` (core/usage.py).

Why argparse and not click/typer/pydantic: argparse is the standard library,
so the measurement half (``python3 -m rtlab.host.purge``, collect before the venv
exists) keeps running without one, and its one-line errors are already ours;
the schema is ~30 rows, and a library would add a dependency to say the same.

stdlib-only: the measurement half imports it.
"""

from __future__ import annotations

from rtlab.core import experiments
from rtlab.core.optionforms import (  # noqa: F401 (what is derived from the schema: importers)
    add_arguments,
    check,
    describe,
    from_globals,
    from_namespace,
    markdown,
    record,
    recorded,
    refused_with_resume,
    restore,
)
from rtlab.core.schema import (  # noqa: F401 (the schema's machinery: importers)
    COMMANDS,
    NOTEBOOKS,
    OPTIONS,
    Choice,
    CommandLine,
    Counts,
    Duration,
    Durations,
    Experiment,
    Flag,
    Folder,
    Folders,
    Kind,
    Names,
    OneOf,
    Option,
    OptionError,
    Real,
    RuntimeSpecs,
    Text,
    Whole,
    default,
    get,
    options_for,
    register,
    unregister,
)

DEFAULT_PACE_S = 0.1
"""The pace used when none is given: 100 ms of idle host before each timed step.

Chosen from the measurements behind the README's "Conditions" section: the
regimes are stable from 50 ms of idle time upwards (runc/crun ``run`` ratio
1.44 at 50 ms, 1.42 at 200 ms), while below ~50 ms the result depends on how
long the idle gap happened to be (2.65 back to back, 2.86 at 10 ms). 100 ms sits
in the middle of the stable plateau, so the default is insensitive to the few
milliseconds of bookkeeping that precede a gap, and it is the condition of a
container started on an otherwise quiet host. It is the largest value the issue
allows (≤ 100 ms).

Cost: one gap per timed step. ``make report`` (``--study all``, 20 trials + 2
warm-ups) times 5 steps (create, start, kill, delete, run) per trial over the 12
targets this host has: 0.1 s × 5 × 22 × 12 = 132 s, about 2.2 minutes added.
"""

DEFAULT_ALPHA = 0.05
DEFAULT_MARGIN = 0.05
# What collect measures with neither --study nor --clients/--runtimes.
DEFAULT_CLIENTS = ("oci",)
DEFAULT_RUNTIMES = ("runc", "crun", "runsc")
DEFAULT_THRESHOLD = 0.05
# who runs the clients (--modes): root, or rtlab's unprivileged user (host/rootless.py)
MODES = ("rootful", "rootless")
DEFAULT_MODE = "rootful"
# the CRI's pod networks (--networks; host/cri.py): the host's namespace, or a CNI bridge
NETWORK_MODES = ("host", "cni")


_SECONDS = Real(
    what="a number of seconds (e.g. 30)",
    rule="must be a number of seconds above 0",
    must="a number of seconds above 0",
)
_FRACTION = Real(
    high=1.0,
    what="a number (give a fraction such as 0.05)",
    rule="must be between 0 and 1 (0.05 = ±5%)",
    must="a fraction between 0 and 1 (0.05 = ±5%)",
)
_MARGIN = Real(
    high=1.0,
    what="a number (give a fraction such as 0.05)",
    rule="must be between 0 and 1 (0.05 = ±5%)",
    must="an equivalence margin between 0 and 1, e.g. 0.05 for ±5%",
)
_ALPHA = Real(
    high=1.0,
    what="a number (give a level like 0.05)",
    rule="must be between 0 and 1, e.g. 0.05",
    must="a significance level between 0 and 1, e.g. 0.05",
)
_THRESHOLD = Real(
    closed_low=True,
    what="a number (give a fraction like 0.05)",
    rule="must be a fraction of 0 or more, e.g. 0.05 for 5%",
    must="a relative slow-down of 0 or more, e.g. 0.05 for 5%",
)

_COLLECTING = ("collect", "report", "01")
_NB_SHORT = "notebook 01 runs under nbval in make test"

for _option in (
    Option(
        "study",
        Choice(accepted="'' or a study name", choices="studies"),
        None,
        "a named set of targets: {studies} (narrowed by --clients/--runtimes when given)",
        _COLLECTING,
        meaning="a named set of targets instead of clients x runtimes",
        differs={"report": ("all", "a report measures every target this host has")},
        record="study",
        resume="keep",
    ),
    # none: a --study's own (narrowed when given), else DEFAULT_CLIENTS x DEFAULT_RUNTIMES;
    # a default here would narrow every study to it
    Option(
        "clients",
        Names(example="oci,docker"),
        None,
        "comma-separated clients ({clients}); with --study it narrows the study "
        f"(default: the study's, else {','.join(DEFAULT_CLIENTS)})",
        _COLLECTING,
        meaning=f"clients measured (none: the study's, or {','.join(DEFAULT_CLIENTS)} without one)",
        differs={
            "01": (DEFAULT_CLIENTS, 'a notebook shows what it measures; give "" with a study')
        },
        metavar="LIST",
        record="clients",
        resume="keep",
    ),
    Option(
        "runtimes",
        Names(example="runc,crun"),
        None,
        "comma-separated runtimes ({runtimes}); with --study it narrows the study "
        f"(default: the study's, else {','.join(DEFAULT_RUNTIMES)})",
        _COLLECTING,
        meaning=f"runtimes measured (none: the study's, or {','.join(DEFAULT_RUNTIMES)} without one)",
        differs={"01": (DEFAULT_RUNTIMES, "a notebook shows what it measures, as clients")},
        metavar="LIST",
        record="runtimes",
        resume="keep",
    ),
    Option(
        "custom_runtimes",
        RuntimeSpecs(),
        (),
        "add a runc-compatible runtime binary (repeatable); NAME matches "
        "^[a-z0-9][a-z0-9._-]{{0,62}}$, /PATH is absolute, neither holds control characters",
        ("doctor", "setup", "clean", *_COLLECTING),
        flag="--runtime",
        repeat=True,
        metavar="NAME=/PATH[:FLAGS]",
        record="custom_runtimes",
        resume="keep",
        meaning="extra runtimes, NAME=/PATH[:FLAGS]",
    ),
    Option(
        "experiment",
        Experiment(accepted="an experiment name"),
        None,
        "what one trial measures: {experiments} (default: each client's own — "
        f"{experiments.DEFAULT_EXPERIMENT}, and cri for the cri client)",
        _COLLECTING,
        metavar="NAME",
        meaning=f"what one trial measures (rtlab/core/experiments.py; none: {experiments.DEFAULT_EXPERIMENT}, "
        "and the cri client's own pod experiment)",
        record="experiment_asked",
        resume="keep",
    ),
    Option(
        "containers",
        Counts(),
        [1, 5, 10, 25, 50],
        "experiment density: the numbers N of idle containers brought up, in increasing "
        "order (memory read at each, then one more container's start timed)",
        _COLLECTING,
        metavar="LIST",
        meaning="density's levels: N idle containers per level (rtlab/collect/density.py)",
        record="containers",
        resume="keep",
        experiments=("density",),
    ),
    Option(
        "settle_s",
        Real(
            closed_low=True,
            what="a number of seconds (e.g. 1)",
            rule="must be a number of seconds of 0 or more",
            must="a number of seconds of 0 or more",
        ),
        1.0,
        "experiment density: seconds the batch is left idle after a level is up, before "
        "memory is read (the containers' commands finish starting)",
        _COLLECTING,
        flag="--settle",
        metavar="S",
        record="settle_s",
        resume="keep",
        experiments=("density",),
    ),
    Option(
        "memory_floor_mb",
        Whole(0),
        2048,
        "experiment density: a level is refused, before it starts, when its estimated "
        "memory would leave MemAvailable under this many MB",
        _COLLECTING,
        flag="--memory-floor",
        metavar="MB",
        record="memory_floor_mb",
        resume="keep",
        experiments=("density",),
    ),
    Option(
        "networks",
        Names(example="host,cni"),
        list(NETWORK_MODES),
        "the cri client's pod networks, each a condition (column network): host, cni "
        "(default both)",
        _COLLECTING,
        metavar="LIST",
        meaning="the cri client's pod networks (host namespace, CNI bridge), each a unit",
        record="networks",
        resume="keep",
        absent=list(NETWORK_MODES),
    ),
    Option(
        "modes",
        OneOf(example="rootful,rootless", accepted=MODES),
        ["rootful"],
        "who runs the clients, each a condition (column mode): rootful (root), rootless "
        "(rtlab setup's unprivileged user rtlab-rootless; oci over runc and crun) "
        "(default rootful)",
        _COLLECTING,
        metavar="LIST",
        meaning="who runs the clients (root, or rtlab's unprivileged user), each a unit",
        record="modes",
        resume="keep",
        absent=["rootful"],
    ),
    Option(
        "steps",
        Names(example="run"),
        None,
        "measure only these steps of the experiment, e.g. run (default: all)",
        _COLLECTING,
        metavar="LIST",
        meaning="a subset of the experiment's steps (none: all)",
        record="steps",
        resume="keep",
    ),
    Option(
        "pace",
        Duration(),
        None,
        "leave the host idle this long before each timed step, after rtlab's own "
        "bookkeeping: 0 (back to back), 10ms, 1s … (default {default_pace}; recorded as pace_s)",
        ("collect", "report"),
        group="pace",
        noun="pace",
        metavar="DURATION",
        meaning="one pace (command line only; the same as paces with one)",
    ),
    Option(
        "paces",
        Durations(),
        (DEFAULT_PACE_S,),
        "several paces, e.g. 0,10ms,100ms,1s: every target at each, interleaved within "
        "rounds; the analysis shows how each conclusion moves with the pace",
        _COLLECTING,
        group="pace",
        noun="pace",
        metavar="LIST",
        meaning="idle host before each timed step (rtlab/core/options.py's DEFAULT_PACE_S says why)",
        record="paces",
        resume="keep",
        absent=[0.0],
    ),
    Option(
        "drop_caches",
        Flag(),
        False,
        "root: sync and drop the page cache before each trial (cold cache)",
        _COLLECTING,
        record="drop_caches",
        resume="keep",
    ),
    Option(
        "trace",
        Flag(),
        False,
        "root: also run a traced twin of every unit (bpftrace on tracepoints), "
        "interleaved, never pooled; phases.csv (tracing.py)",
        ("collect", "01"),
        record="trace",
        resume="keep",
    ),
    Option(
        "trials",
        Whole(1),
        10,
        "measured trials per target; not with --until-ci",
        _COLLECTING,
        meaning="measured trials per target",
        differs={
            "report": (
                20,
                "a report is read by others: twice the trials narrows "
                "every CI (make report's TRIALS)",
            ),
            "01": (
                2,
                f"{_NB_SHORT}: 2 trials keep that check short; pass -p trials 20 for real use",
            ),
        },
        record="trials",
        resume="keep",
    ),
    Option(
        "until_ci",
        _FRACTION,
        None,
        "adaptive: add trials to a target until every step's median 95% CI is within ±P "
        "of it (0.05 = ±5%)",
        ("collect",),
        metavar="P",
        meaning="adaptive stop: every step's median CI within ±this",
        record="until_ci",
        resume="keep",
    ),
    Option(
        "min_trials",
        Whole(1),
        10,
        "with --until-ci",
        ("collect",),
        meaning="with --until-ci: trials before the CI is first checked",
        record="min_trials",
        resume="keep",
        absent=10,
    ),
    Option(
        "max_trials",
        Whole(1),
        200,
        "with --until-ci",
        ("collect",),
        meaning="with --until-ci: the most trials per target",
        record="max_trials",
        resume="keep",
        absent=200,
    ),
    Option(
        "warmup",
        Whole(0),
        2,
        "warm-up trials per target (kept, flagged)",
        _COLLECTING,
        meaning="warm-up trials per target (kept in trials.csv, flagged)",
        differs={"01": (0, "as trials: keeps the nbval check short")},
        record="warmup",
        resume="keep",
    ),
    Option(
        "timeout_s",
        _SECONDS,
        30.0,
        "seconds per client command",
        _COLLECTING,
        flag="--timeout",
        record="timeout_s",
        resume="keep",
    ),
    Option(
        "max_consecutive_timeouts",
        Whole(1),
        2,
        "a target is dropped after this many timed-out commands in a row",
        (),
        record="max_consecutive_timeouts",
        resume="keep",
        absent=2,
    ),
    Option(
        "seed",
        Whole(),
        0,
        "seed of the interleaving order (collect; the analysis draws no random numbers)",
        (*_COLLECTING, "analyze", "compare", "02", "03"),
        record="seed",
        resume="keep",
    ),
    Option(
        "out_dir",
        Folder(accepted="'' for a new data/<run-id>/, or a new or empty folder"),
        None,
        "run folder (default data/<run-id>/)",
        ("collect", "01"),
        flag="--out",
        metavar="DIR",
        meaning="the run folder (none: a new data/<run-id>/)",
    ),
    Option(
        "resume",
        Folder(),
        None,
        "continue an interrupted run to its requested trial count",
        ("collect",),
        metavar="RUN_DIR",
    ),
    Option(
        "allow_concurrent",
        Flag(),
        False,
        "run even while another collect runs (their timings interfere)",
        ("collect", "01"),
        record="allow_concurrent",
        resume="again",
    ),
    Option("no_progress", Flag(), False, "no progress bar", ("collect",)),
    Option(
        "image",
        Text(accepted="'' or an image in each daemon client's store"),
        None,
        "an image already in each daemon client's store (default: rtlab's busybox)",
        _COLLECTING,
        metavar="REF",
        record="workload_options.image",
        resume="keep",
    ),
    Option(
        "cmd",
        CommandLine(accepted="'' or the container's command line"),
        None,
        "the lifecycle container's command, split like a shell line "
        "(default: sleep 3600 for busybox, the image's own for --image)",
        _COLLECTING,
        metavar="CMD",
        record="workload_options.cmd",
        resume="keep",
    ),
    Option(
        "bundle",
        Folder(accepted="'' or an OCI bundle folder"),
        None,
        "an OCI bundle for the oci client (default: rtlab's busybox bundle)",
        _COLLECTING,
        metavar="DIR",
        record="workload_options.bundle",
        resume="keep",
    ),
    Option(
        "runs",
        Folders(),
        None,
        "do not collect: render a report of these run folders (or folders of runs, e.g. "
        "data/sample); needs no root",
        ("report",),
        nargs="+",
        metavar="DIR",
    ),
    Option(
        "no_extras",
        Flag(),
        False,
        "collect only the main run: not make report's extra runs (rtlab/report/report.py "
        "REPORT_EXTRAS: a small concurrency run and a small density run)",
        ("report",),
        meaning="skip the report's extra runs of other experiments (report.REPORT_EXTRAS)",
    ),
    Option(
        "reports_dir",
        Folder(),
        None,
        "where reports/<run-id>/ and index.html go (default: the repository's reports/)",
        ("report",),
        metavar="DIR",
    ),
    Option(
        "run_dirs",
        Folders(),
        "data/sample",
        "a run folder, or a folder of runs (every run in it); runs are merged only when "
        "host and versions match",
        ("analyze", "02"),
        flag="",
        nargs="+",
        metavar="RUN_DIR",
        differs={"analyze": (None, "the command line names its runs")},
    ),
    Option(
        "out_dir",
        Folder(accepted="'' for a new temporary folder, or a folder"),
        None,
        "where summary.csv, comparisons.csv, omnibus.csv, figures/ (and, with CRI trials, "
        "cri-benchmark.json) go",
        ("analyze", "02"),
        flag="--out",
        metavar="DIR",
        required=True,
        meaning="analysis folder (notebook: none is a new temporary folder)",
    ),
    Option(
        "figures",
        Text(accepted="report, all, none or figure kinds, comma-separated"),
        "report",
        "figures to draw: report (overview, lifecycle, study, pace), all (adds per-step "
        "distributions, ECDFs and ratio heat maps), none, or kinds comma-separated",
        ("analyze", "02"),
        metavar="KINDS",
        meaning="figures drawn (report: the report's own)",
    ),
    Option(
        "svg",
        Flag(),
        False,
        "also write each figure as SVG",
        ("analyze", "02"),
        meaning="each figure also as SVG",
    ),
    Option(
        "run_a",
        Folders(),
        None,
        "the run before (a run folder; notebook: none is the older sample run)",
        ("compare", "03"),
        flag="",
        metavar="RUN_A",
    ),
    Option(
        "run_b",
        Folders(),
        None,
        "the run after (a run folder; notebook: none is the newer sample run)",
        ("compare", "03"),
        flag="",
        metavar="RUN_B",
        nargs="?",  # not with --pair (two runtimes of one run)
    ),
    Option(
        "pair",
        Names(example="runc,runc-new"),
        None,
        "BASELINE,CANDIDATE: two runtimes measured in alternation in RUN_A (one run, round "
        "by round: rtlab collect --runtime NEW=/path --runtimes OLD,NEW); gate the candidate "
        "against the baseline paired by round, where the host's drift cancels (no RUN_B)",
        ("compare",),
        meaning="two runtimes of one run compared in alternation (analysis/alternation.py)",
        metavar="BASELINE,CANDIDATE",
    ),
    Option(
        "alpha",
        _ALPHA,
        DEFAULT_ALPHA,
        "significance level; Holm's adjustment runs within each family and step (the "
        "runtimes through one client, or the clients over one runtime; concurrency: per "
        "quantity and k; rtlab compare: over every row), not over every target and step; "
        "the CI printed beside a verdict is Holm-adjusted to match it (the interval at the "
        "level Holm's step-down stopped at)",
        ("report", "analyze", "compare", "02", "03"),
        meaning="significance level",
    ),
    Option(
        "margin",
        _MARGIN,
        DEFAULT_MARGIN,
        "equivalence margin: 'equivalent' when shown within ±this fraction (0.05 = ±5%)",
        ("report", "analyze", "compare", "02", "03"),
        meaning="equivalence margin",
    ),
    Option(
        "across_hosts",
        Flag(),
        False,
        "RUN_A and RUN_B come from different hosts: compare them unpaired (Hodges-Lehmann "
        "with the Mann-Whitney CI per target and step) and list what differs between the "
        "hosts (analysis/hosts.py)",
        ("compare",),
        meaning="compare runs of two hosts, unpaired (issue 34)",
    ),
    Option(
        "threshold",
        _THRESHOLD,
        DEFAULT_THRESHOLD,
        "fail when a target/step is slower by more than this fraction with 95% confidence "
        "(0.05 = 5%)",
        ("compare", "03"),
        meaning="regression gate of rtlab compare",
    ),
    Option(
        "out_dir",
        Folder(accepted="'' to write nothing, or a folder for changes.csv and change.png"),
        None,
        "also write DIR/changes.csv and DIR/change.png/.svg",
        ("compare", "03"),
        flag="--out",
        metavar="DIR",
        meaning="where the comparison's files go (none: nowhere)",
    ),
    Option(
        "probe_timeout",
        _SECONDS,
        20.0,
        "seconds per probe",
        ("doctor",),
        flag="--timeout",
        meaning="seconds per rtlab doctor probe",
    ),
):
    register(_option)


# experiments' own options are declared beside their experiment (concurrency.py's
# --parallel): rtlab/core/__init__.py imports those modules, so any import of the core
# package registers them.


if __name__ == "__main__":  # the README's table: python -m rtlab.core.options
    from rtlab.core import options as _schema  # the imported module: experiments registered theirs

    print(_schema.markdown())
