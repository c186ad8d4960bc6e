"""What an experiment measures: its steps, their order, the per-trial total, the phrases.

The one place that says what is measured (docs/DESIGN.md, "Experiments").
Statistics (stats.py), figures (plots.py), findings (analysis.py), views and the
trial runner (trial.py) read it from here; the client modules (collect/clients/) only
say how their client spells a step.

An experiment is a sequence of *chains*. A chain is steps run one after the
other on one container (``create → start → kill → delete``); a trial runs every
chain once, each on a new container (``width`` k: on k new containers, each step
released on all k together from a barrier, actions.py). A step may have an
untimed *wait* before it for a named state (:data:`WAIT_STATES`; ``delete``
waits for the stopped state), which the trial runner honours. A client spells a step either in its
own ``commands`` (the steps with options: create, run, …) or, for a plain verb on
a container id, through :attr:`Step.verb`: ``[*client.base, *verb, cid]``, or the
client's own spelling of the verb (its driver's ``verbs``: docker's ``unpause`` for
resume); so a new experiment of plain verbs touches this file only, and the drivers of
the clients that spell a verb otherwise.

``--steps`` keeps a subset of an experiment's steps: a chain with no selected
step is not run; in a chain that is run, the steps not selected still run (a
container must be created to be deleted) but are not timed into rows.

The data format stores the experiment per row (format 2, column ``experiment``;
format 1 runs are ``lifecycle``). This module is stdlib-only: the measurement
half runs without the venv (``python3 -m rtlab.uninstall``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rtlab.core import clientdefs

TOTAL_STEP = "total"
DEFAULT_EXPERIMENT = "lifecycle"
# experiment density's three readings of memory (collect/density.py measures them,
# analysis/density_stats.py reads them): the names in core, so analysis imports no collect
DENSITY_METHODS = ("memavailable", "pss", "cgroup")


WAIT_STATES = ("stopped", "running", "paused", "gone")  # what Step.wait may name


class ExperimentError(ValueError):
    """An unknown experiment or step: one line naming it and what is accepted."""


@dataclass(frozen=True)
class Step:
    """One timed client command (or several, summed) on a container.

    name: the ``step`` column. action/activity: the findings' phrases
    ("crun *kills a container* 1.3x faster", "no clear difference *killing a
    container*"). wait: an untimed wait for a state before the step (one of :data:`WAIT_STATES`).
    verb: the client sub-command for a plain ``[*base, *verb, cid]`` step (None:
    every client spells the step in its own ``commands``); a client that spells it
    otherwise says so in its driver's ``verbs`` (collect/clients/base.py ``Target``).
    """

    name: str
    action: str
    activity: str
    wait: str | None = None
    verb: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.wait is not None and self.wait not in WAIT_STATES:
            raise ExperimentError(
                f"step {self.name!r} waits for {self.wait!r}; "
                f"the states a step can wait for: {', '.join(WAIT_STATES)}"
            )


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    chains: tuple[tuple[Step, ...], ...]
    total: tuple[str, ...] = ()  # the steps summed into the per-trial total ("" none)
    total_action: str = "completes the experiment"
    total_activity: str = "over the whole experiment"
    figure: str = ""  # the stacked figure's title, e.g. "lifecycle"
    width: int = 1  # containers per chain, each step released on all of them together
    # derived sums besides the total, name → steps (the CRI's "pod to running")
    partials: dict = field(default_factory=dict)
    # the clients that run it (None: every client without an experiment of its own,
    # collect/clients/base.py Target.experiment)
    clients: tuple[str, ...] | None = None
    # step → the step of the default experiment it means the same as, for the client
    # comparison (the CRI's create and start are the lifecycle's create and start)
    shares: dict = field(default_factory=dict)
    # the condition key whose value is the width of each unit (concurrency's "k": one unit
    # per target and k); every stage is then released from a barrier, k = 1 included
    width_from: str | None = None
    # steps a chain runs but never times (concurrency's teardown: kill, delete)
    untimed: tuple[str, ...] = ()
    # trials.csv columns of its own, after the action columns (concurrency's "batch")
    columns: tuple[str, ...] = ()
    # client → the experiment it runs when this one is asked (pull: the CRI's cri-pull, whose
    # chain has the kubelet's order: pod sandbox, pull, create, start)
    instead: dict = field(default_factory=dict)

    @property
    def released(self) -> bool:
        """Whether its steps are released from a barrier (rows with instance, offset_s)."""
        return self.width > 1 or self.width_from is not None

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ExperimentError(
                f"experiment {self.name!r}: width {self.width} is not a "
                "number of containers (1 or more)"
            )

    @property
    def step_defs(self) -> tuple[Step, ...]:
        return tuple(s for chain in self.chains for s in chain)

    @property
    def steps(self) -> tuple[str, ...]:
        """The measured steps, in order (not the untimed ones)."""
        return tuple(s.name for s in self.step_defs if s.name not in self.untimed)

    @property
    def order(self) -> tuple[str, ...]:
        """Steps as tables and figures show them: the total after the steps it sums."""
        order = list(self.steps)
        for name, steps in (*self.partials.items(), *((TOTAL_STEP, self.total),)):
            if steps:
                last = max(order.index(s) for s in steps)
                order.insert(last + 1, name)
        return tuple(order)

    def step(self, name: str) -> Step:
        for s in self.step_defs:
            if s.name == name:
                return s
        raise ExperimentError(
            f"experiment {self.name!r} has no step {name!r}; its steps: {', '.join(self.steps)}"
        )

    def select(self, steps: Sequence[str] | None) -> tuple[str, ...]:
        """The ``--steps`` subset in experiment order; all steps for None or empty."""
        if not steps:
            return self.steps
        unknown = [s for s in steps if s not in self.steps]
        if unknown:
            raise ExperimentError(
                f"--steps: unknown step {', '.join(map(repr, unknown))} of "
                f"experiment {self.name!r}; its steps: {', '.join(self.steps)}"
            )
        return tuple(s for s in self.steps if s in steps)

    def heatmap_steps(self) -> tuple[str, ...]:
        """The steps that get a ratio heat map: the total and the one-step chains."""
        one_shot = tuple(c[0].name for c in self.chains if len(c) == 1)
        return ((TOTAL_STEP,) if self.total else ()) + one_shot


# -- the steps ---------------------------------------------------------------------

CREATE = Step("create", "creates a container", "creating a container")
START = Step("start", "starts a container", "starting a container")
KILL = Step("kill", "kills a container", "killing a container")
DELETE = Step("delete", "deletes a container", "deleting a container", wait="stopped")
RUN = Step("run", "runs a container", "running a container")
PAUSE = Step(
    "pause",
    "pauses a container",
    "pausing a container",
    verb=("pause",),
)
# the CRI's pod lifecycle (cri_client.py, collect/clients/cri.py): each step one gRPC call
POD_RUN = Step("pod_run", "runs a pod sandbox", "running a pod sandbox")
CRI_STOP = Step(
    "stop",
    "stops a container (SIGKILL, waiting for its exit)",
    "stopping a container",
    wait="running",
)
CRI_REMOVE = Step("remove", "removes a stopped container", "removing a container", wait="stopped")
POD_STOP = Step("pod_stop", "stops a pod sandbox", "stopping a pod sandbox")
POD_REMOVE = Step("pod_remove", "removes a pod sandbox", "removing a pod sandbox")
POD_TO_RUNNING = "pod_to_running"  # derived: pod_run + create + start
# the pull experiment (core/pull.py, collect/pull.py): fetch and unpack from rtlab's registry
PULL = Step("pull", "pulls the image", "pulling the image")
RESUME = Step(
    "resume",
    "resumes a container",
    "resuming a container",
    verb=("resume",),
)

# -- the experiments (register a new one here: one entry) ---------------------------

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "lifecycle",
            "create, start, kill, delete of a long-running container, then a one-shot run to exit",
            chains=((CREATE, START, KILL, DELETE), (RUN,)),
            total=("create", "start", "kill", "delete"),
            total_action="completes the lifecycle",
            total_activity="over the whole lifecycle",
            figure="lifecycle",
        ),
        Experiment(
            "pause",
            "create, start, pause, resume, kill, delete of a long-running container",
            chains=((CREATE, START, PAUSE, RESUME, KILL, DELETE),),
            total=("create", "start", "pause", "resume", "kill", "delete"),
            total_action="completes the pause cycle",
            total_activity="over the whole pause cycle",
            figure="pause cycle",
        ),
        Experiment(
            "cri",
            "the kubelet's path through containerd's CRI: run a pod sandbox, create, start, stop "
            "and remove a container in it, stop and remove the pod (client cri only)",
            chains=((POD_RUN, CREATE, START, CRI_STOP, CRI_REMOVE, POD_STOP, POD_REMOVE),),
            total=("pod_run", "create", "start", "stop", "remove", "pod_stop", "pod_remove"),
            total_action="completes the pod lifecycle",
            total_activity="over the whole pod lifecycle",
            figure="pod lifecycle (CRI)",
            partials={POD_TO_RUNNING: ("pod_run", "create", "start")},
            clients=("cri",),
            # the wall clock (Unix ns) at each call's start: critest's startTime and endTime
            # (cri_report.benchmark)
            columns=("started_ns",),
            # CreateContainer records the container and its snapshot, as docker create and
            # ctr container create do (no OCI runtime yet); StartContainer makes the task and
            # starts it, as docker start and ctr task start. StopContainer waits for the exit
            # (a kill does not) and RemoveContainer follows it: their own names, not shared.
            shares={"create": "create", "start": "start"},
        ),
        Experiment(
            "concurrency",
            "k containers of one target launched together from a barrier (--parallel), each "
            "timed from the release: k one-shot runs of true to exit, and k create+start of "
            "long-running ones to running (torn down untimed)",
            chains=((RUN,), (CREATE, START, KILL, DELETE)),
            untimed=("kill", "delete"),
            figure="starts under load",
            width_from="k",
            columns=("batch",),
        ),
        Experiment(
            "density",
            "N idle long-running containers brought up (--containers), memory read three ways "
            "(density.csv, rtlab/collect/density.py), then one more container's create and start timed "
            "with N running (column n)",
            chains=((CREATE, START),),
            total=("create", "start"),
            total_action="gets one more container running",
            total_activity="getting one more container running",
            figure="start with N running",
        ),
        Experiment(
            "pull",
            "cold starts through rtlab's registry: pull an image (--image-sizes, --compressions; "
            "--caches cold: removed from the store and page cache dropped first), create and "
            "start it (total: nothing to running), then kill and delete untimed",
            chains=((PULL, CREATE, START, KILL, DELETE),),
            total=("pull", "create", "start"),
            total_action="gets from nothing to running",
            total_activity="from nothing to running",
            figure="cold start (pull, create, start)",
            untimed=("kill", "delete"),
            clients=clientdefs.pulling(),  # the clients whose record says they pull
            instead={"cri": "cri-pull"},
            # bytes over the loopback interface during the pull (collect/pull.py)
            columns=("pull_lo_bytes",),
        ),
        Experiment(
            "cri-pull",
            "experiment pull through the CRI (client cri; --experiment pull runs it for cri): "
            "run a pod sandbox, PullImage from rtlab's registry, create and start a container "
            "(total: nothing to running, the kubelet's order), the teardown untimed",
            chains=((POD_RUN, PULL, CREATE, START, CRI_STOP, CRI_REMOVE, POD_STOP, POD_REMOVE),),
            total=("pod_run", "pull", "create", "start"),
            total_action="gets from nothing to a running pod",
            total_activity="from nothing to a running pod",
            figure="cold start through the CRI (pod, pull, create, start)",
            untimed=("stop", "remove", "pod_stop", "pod_remove"),
            clients=("cri",),
            columns=("pull_lo_bytes",),
            shares={"pull": "pull", "create": "create", "start": "start"},
        ),
    )
}


def get(name: str | None) -> Experiment:
    """The experiment called ``name`` (None: the default); one line when unknown."""
    name = name or DEFAULT_EXPERIMENT
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ExperimentError(
            f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}"
        ) from None


def for_client(client: str, own: str | None, asked: str | None) -> Experiment:
    """The experiment ``client`` runs: its ``own`` (a client with one experiment of its
    own, the CRI) or ``asked`` (None: the default); one line when it cannot. An asked
    experiment that names another for this client (``Experiment.instead``) gives that one."""
    if asked in EXPERIMENTS and client in EXPERIMENTS[asked].instead:
        return get(EXPERIMENTS[asked].instead[client])
    if own is not None:
        if asked not in (None, own):
            raise ExperimentError(
                f"client {client!r} measures only experiment {own!r}, not "
                f"{asked!r}; drop --experiment or the client"
            )
        return get(own)
    exp = get(asked)
    if exp.clients is not None and client not in exp.clients:
        raise ExperimentError(
            f"experiment {exp.name!r} is measured by the client "
            f"{', '.join(exp.clients)} only, not {client!r}"
        )
    return exp


def all_steps() -> tuple[str, ...]:
    """Every step of every experiment, in registration order (each once)."""
    return tuple(dict.fromkeys(s for e in EXPERIMENTS.values() for s in e.steps))


def step_order() -> tuple[str, ...]:
    """The order tables sort steps in: each experiment's order, merged (lifecycle first)."""
    merged: list[str] = []
    for e in EXPERIMENTS.values():
        for s in e.order:
            if s not in merged:
                # keep a new step right after its predecessor in this experiment
                seq = e.order
                i = seq.index(s)
                prev = next((p for p in reversed(seq[:i]) if p in merged), None)
                after = next((n for n in seq[i + 1 :] if n in merged), None)
                merged.insert(
                    merged.index(prev) + 1
                    if prev
                    else merged.index(after)
                    if after
                    else len(merged),
                    s,
                )
    return tuple(merged)


def phrase(step: str, kind: str = "action", experiment: str | None = None) -> str:
    """The findings' phrase for ``step`` (``kind`` "action" or "activity")."""
    exps = [EXPERIMENTS[experiment]] if experiment in EXPERIMENTS else list(EXPERIMENTS.values())
    if step == TOTAL_STEP:
        e = exps[0]
        return e.total_action if kind == "action" else e.total_activity
    if step == POD_TO_RUNNING:
        return "gets a pod to running" if kind == "action" else "getting a pod to running"
    for e in exps:
        if step in e.steps:
            s = e.step(step)
            return s.action if kind == "action" else s.activity
    return f"does {step}" if kind == "action" else f"at {step}"


def describe() -> str:
    """One line per experiment for ``--help``."""
    return "; ".join(f"{e.name}: {e.description}" for e in EXPERIMENTS.values())


def of_steps(steps) -> Experiment:
    """The experiment a set of measured steps belongs to (for tables without an
    ``experiment`` column, e.g. a summary): the one whose total is the largest
    subset of ``steps``, else whose steps overlap most; the default when none."""
    present = set(steps)
    best = max(
        EXPERIMENTS.values(),
        key=lambda e: (
            bool(e.total) and set(e.total) <= present,
            len(e.total) if set(e.total) <= present else 0,
            len(present & set(e.steps)),
        ),
    )
    return best if present & set(best.steps) else EXPERIMENTS[DEFAULT_EXPERIMENT]
