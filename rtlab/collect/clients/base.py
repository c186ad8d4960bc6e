"""What the scheduler needs from a (client, runtime) pair."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rtlab.core import experiments, phasedefs
from rtlab.core.actions import Spawn, TimedAction
from rtlab.core.experiments import Step
from rtlab.core.image import SLEEP_ARGS
from rtlab.core.measure import Measurement, run_timed
from rtlab.core.runtimes import Runtime
from rtlab.core.workload import Workload

# The lifecycle experiment's steps (kept for importers; experiments.py defines them).
LIFECYCLE = experiments.EXPERIMENTS["lifecycle"].total
STEPS = experiments.EXPERIMENTS["lifecycle"].steps

CLEANUP_TIMEOUT_S = 20.0
STATE_POLL_S = 0.005  # between state queries while waiting for a state


def poll_until_stopped(
    read_status: Callable[[], str | None],
    stopped: str,
    timeout_s: float,
    give_up: Callable[[], str | None] = lambda: None,
    what: str = "after kill",
) -> str | None:
    """Poll ``read_status`` until it returns ``stopped`` (or any wanted state); an
    error line if it never does, ``what`` saying what was awaited.

    ``give_up`` is asked when the status cannot be read: a reason it returns
    (a daemon gone) ends the wait at once.
    """
    deadline = time.monotonic() + timeout_s
    status = None
    while time.monotonic() < deadline:
        status = read_status()
        if status == stopped:
            return None
        if status is None:
            reason = give_up()
            if reason:
                return reason
        time.sleep(STATE_POLL_S)
    return f"container still {status or 'in an unknown state'} {timeout_s:g} s {what}"


class ImageStore:
    """A client's image store (when ``image_store`` is set): where daemons.import_images
    loads rtlab's image and what purge removes; :class:`Target`'s base."""

    image_store: str | None = None  # daemons.IMAGE_STORES name ("docker", "containerd", …)
    store_description: str | None = None  # how set-up names the store (None: image_store)

    @staticmethod
    def find_binary() -> str | None:
        """The client binary, None when not installed."""
        return None

    @staticmethod
    def image_id(ref: str) -> str | None:
        """The id of image ``ref`` in the client's store (None: absent)."""
        return None

    @staticmethod
    def load_image_argv(binary: str, archive: str) -> list[str]:
        """The command that loads a docker-archive into the client's store."""
        raise NotImplementedError

    @staticmethod
    def remove_image_argv(binary: str, ref: str) -> list[str]:
        """The command that removes image ``ref`` from the client's store (purge)."""
        raise NotImplementedError

    @staticmethod
    def forget_store(say: Callable[[str], None]) -> list[str]:
        """Purge, after the image is gone: what else of the store rtlab made (ctr: its
        namespace); returns what was undone."""
        return []


class PullStore(ImageStore):
    """What experiment pull asks of a client's store (collect/pull.py): the trial's image,
    whether the store holds it, its removal, an untimed pull, and what a pull killed
    midway leaves; :class:`Target`'s base. The defaults go through the client's commands
    (``image_id``, ``remove_image_argv``, its ``pull`` step); the CRI's through its
    ImageService."""

    client: str = ""
    workload: Workload

    def quiet(self, argv: list[str], timeout_s: float = CLEANUP_TIMEOUT_S) -> Measurement:
        raise NotImplementedError

    def step_commands(self, step: Step | str, cid: str) -> list[list[str]]:
        raise NotImplementedError

    def use_image(self, ref: str) -> None:
        """Create this trial's containers from ``ref`` (running ``sleep 3600``)."""
        self.workload = Workload(image=ref, cmd=SLEEP_ARGS)

    def has_image(self, ref: str) -> bool:
        return self.image_id(ref) is not None

    def remove_image(self, ref: str, timeout_s: float) -> str | None:
        """Remove ``ref`` from the client's store; why not (None: gone)."""
        m = self.quiet(self.remove_image_argv(self.find_binary() or self.client, ref), timeout_s)
        if m.ok or not self.has_image(ref):
            return None
        return f"could not remove {ref} from {self.client}'s store: {m.describe_failure()}"

    def pull_untimed(self, ref: str, timeout_s: float) -> str | None:
        """Pull ``ref`` (before a warm trial), untimed; why it failed (None: pulled)."""
        m = self.quiet(self.step_commands("pull", "")[0], timeout_s)
        return None if m.ok else m.describe_failure()

    # -- what an interrupted pull leaves (experiment pull, collect/pull.py) ----
    def pull_leftovers(self) -> set[str]:
        """What a pull killed midway keeps in this client's store, as ids: the pull
        experiment removes those that appeared during its run. None by default (docker:
        dockerd drops a cancelled pull's downloads itself)."""
        return set()

    def remove_pull_leftovers(self, items: set[str]) -> list[str]:
        """Remove ``items`` (from :meth:`pull_leftovers`); the errors that mattered."""
        return []


class Target(PullStore):
    """One client driving one runtime.

    A client module (one file in collect/clients/, named after its client, whose record in
    core/clientdefs.py puts it in collect/clients/__init__.py's registry) gives: the argv of the steps it spells itself (``commands``; a step may be
    several commands, timed one after the other and summed, e.g. ctr's task +
    container delete) and ``base`` for the plain-verb steps experiments.py
    defines (``[*base, *verb, cid]``, its own spelling in ``verbs``); how to wait
    for the stopped state (``wait_stopped``) and read a container's state
    (``status``, for the other states a step may wait for), list and
    force-remove its containers; and, as class
    attributes, its Debian ``package``, the ``needs_daemons`` (daemons.py
    starts, stops and checks them) and its ``image_store`` (daemons.py imports
    rtlab's image there).
    """

    client: str = ""
    package: str | None = None  # the Debian package of the client binary
    needs_daemons: tuple[str, ...] = ()  # daemons.py names: what must answer before it works
    engine: bool = True  # a high-level client (studies compare these); False: the OCI CLI
    # step name → this client's own spelling of a plain-verb step, where it differs from
    # the step's verb (experiments.py): docker's "unpause" for resume
    verbs: dict[str, tuple[str, ...]] = {}
    package_commands: tuple[str, ...] = ()  # commands whose absence means `package` is missing
    experiment: str | None = None  # the one experiment this client runs (None: any, cri: "cri")
    mode: str = "rootful"  # rootless.MODES: who runs the client (column mode)

    @classmethod
    def modes(cls) -> dict[str, type[Target]]:
        """mode → the class running this client in it: its direct subclasses that set
        another ``mode`` (their modules are imported by collect/clients/__init__.py)."""
        return {sub.mode: sub for sub in cls.__subclasses__() if sub.mode != cls.mode}

    def __init__(
        self,
        runtime: Runtime,
        workdir: Path,
        *,
        timeout_s: float = 30.0,
        workload: Workload | None = None,
    ):
        self.runtime = runtime
        self.workdir = workdir
        self.timeout_s = timeout_s
        self.workload = workload or Workload()

    @property
    def label(self) -> str:
        return f"{self.client}/{self.runtime.name}"

    @property
    def condition(self) -> dict:
        """The condition columns this target's rows carry (the CRI's ``network``)."""
        return {}

    def variants(self, networks: Sequence[str]) -> list[Target]:
        """One target per condition of the client (the CRI: one per network mode)."""
        return [self]

    def finish(self) -> list[str]:
        """After this run's containers are removed: stop what the client keeps running
        (rootless podman's pause process); the errors that mattered."""
        return []

    def with_mode(self, mode: str) -> Target | None:
        """This target run in ``mode`` (rootless.MODES); None: the client has none.
        A client's class for another mode is its direct subclass that sets ``mode``
        (oci_rootless.py, podman_rootless.py): declared by inheritance, nothing patched."""
        if mode == self.mode:
            return self
        variant = type(self).modes().get(mode)
        if variant is None:
            return None
        return variant(self.runtime, self.workdir, timeout_s=self.timeout_s, workload=self.workload)

    def probe_actions(self, cid: str) -> Iterable[TimedAction]:
        """doctor's probe: a one-shot ``run`` of the container to exit."""
        return [Spawn(tuple(argv)) for argv in self.step_commands("run", cid)]

    # -- what every driver provides -------------------------------------------
    def unavailable_reason(self) -> str | None:
        """None when this target can run here, else one line saying why not."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Per-run preparation (bundles, images) before the first trial."""

    def commands(self, step: str, cid: str) -> list[list[str]]:
        """The argv of the steps this client spells itself; KeyError for the others."""
        raise KeyError(step)

    @property
    def base(self) -> list[str]:
        """The client's argv before a plain verb (``docker``, ``runc --root …``)."""
        raise NotImplementedError

    def step_commands(self, step: Step | str, cid: str) -> list[list[str]]:
        """The argv of ``step``: the client's own, else ``[*base, *verb, cid]``."""
        name = step if isinstance(step, str) else step.name
        try:
            return self.commands(name, cid)
        except KeyError:
            pass
        spec = step if isinstance(step, Step) else _step_def(name)
        verb = self.verbs.get(name) or spec.verb
        if verb is None:
            raise KeyError(f"{self.client} has no command for step {name!r}")
        return [[*self.base, *verb, cid]]

    def step_actions(self, step: Step | str, cid: str) -> list[TimedAction]:
        """What ``step`` does on ``cid``, timed one action after another and summed
        (actions.py): its commands, each a :class:`~rtlab.core.actions.Spawn`. A client
        that times an in-process call (a CRI request) returns a ``Call`` here."""
        return [Spawn(tuple(argv)) for argv in self.step_commands(step, cid)]

    def wait_stopped(self, cid: str, timeout_s: float) -> str | None:
        """Block until ``cid`` is stopped; an error line if it did not stop."""
        raise NotImplementedError

    def status(self, cid: str) -> str | None:
        """``cid``'s state as one of created, running, paused, stopped, gone (None:
        cannot be read now)."""
        raise NotImplementedError

    def give_up(self) -> str | None:
        """Why waiting for a state is pointless now (a daemon gone), else None."""
        return None

    def wait_for(self, cid: str, state: str, timeout_s: float) -> str | None:
        """Block until ``cid`` is in ``state`` (experiments.WAIT_STATES); an error line
        if it never is. The stopped state goes through the client's ``wait_stopped``."""
        if state == "stopped":
            return self.wait_stopped(cid, timeout_s)
        try:
            return self.poll_until_stopped(
                lambda: self.status(cid),
                state,
                timeout_s,
                give_up=self.give_up,
                what=f"later, not {state}",
            )
        except NotImplementedError:
            return f"{self.client} cannot read a container's state to wait for {state!r}"

    def remove(self, cid: str) -> list[str]:
        """Force-remove ``cid`` whatever its state; the errors that mattered."""
        raise NotImplementedError

    def list_ids(self) -> list[str]:
        """Ids (or names) of every rtlab container this client/runtime holds."""
        raise NotImplementedError

    def versions(self) -> dict[str, str | None]:
        raise NotImplementedError

    def config(self) -> dict:
        """The client's relevant configuration for run.json."""
        return {}

    # -- which cgroup its containers get (run.json's config "cgroup") ---------
    cgroup: str | None = None  # probe_cgroup's answer, once probed

    def probe_cgroup(self) -> str | None:
        """Which cgroup this client's containers get, probed once before a run; None:
        not probed for this client (the runtime's own CLI does: clients/oci.py)."""
        return None

    # -- what --trace reads of a client (collect/tracing.py) ----------------------
    def phase_definitions(self, step: str) -> list[tuple[str, str]] | None:
        """The phases a traced ``step`` of this target is cut into (name, the marker that
        ends it; core/phasedefs.py's forms); None: not cut. By default the runtime
        family's through its own CLI, a daemon client's hand-offs over runc, both from
        the client's record (core/clientdefs.py, through phasedefs.definitions, which
        the analysis reads too); a client module may define its own."""
        return phasedefs.definitions(self.runtime.name, step, self.client)

    @property
    def traces_wakes(self) -> bool:
        """Whether its phases use the daemons' hand-offs ("wake:" markers), so a traced
        run attaches the wake probe."""
        return any(
            marker.startswith("wake:")
            for step in STEPS
            for _, marker in self.phase_definitions(step) or ()
        )

    # -- what experiment density reads of a client (collect/density.py) ------
    def daemon_sockets(self) -> list[tuple[str, Path]]:
        """The daemons this client talks to, as (name, the socket each listens on):
        their memory is charged to the client at density. None by default (the
        runtime's own CLI, podman: daemonless)."""
        return []

    def container_keys(self, cid: str) -> list[str]:
        """What names container ``cid`` in command lines and cgroups (density finds its
        processes by these): its name; a client that names shims and cgroups by its own
        full id adds that."""
        return [cid]

    # -- shared ---------------------------------------------------------------
    def argv_templates(self, steps=STEPS) -> dict[str, list[list[str]]]:
        return {step: self.step_commands(step, "{id}") for step in steps}

    def ps_state(self, cid: str) -> str | None:
        """``cid``'s state from ``<base> ps --all`` (docker's and podman's common spelling):
        one of :func:`state_name`'s words, "gone" when not listed, None when unreadable."""
        m = self.quiet(
            [
                *self.base,
                "ps",
                "--all",
                "--filter",
                f"name={cid}",
                "--format",
                "{{.Names}} {{.State}}",
            ],
            timeout_s=self.timeout_s,
        )
        if not m.ok:
            return None
        for line in m.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == cid:
                return state_name(fields[1])
        return "gone"

    def quiet(self, argv: list[str], timeout_s: float = CLEANUP_TIMEOUT_S) -> Measurement:
        """Run a bookkeeping command (not a timed step), keeping its stdout."""
        return run_timed(argv, timeout_s, capture_stdout=True)

    # the module's function, as the clients call it (self.poll_until_stopped)
    poll_until_stopped = staticmethod(poll_until_stopped)


_STATE_NAMES = {
    "exited": "stopped",
    "dead": "stopped",
    "configured": "created",
    "creating": "created",
    "restarting": "running",
    "pausing": "paused",
}


def state_name(raw: str) -> str:
    """A client's state word (``Exited``, ``STOPPED``, ``configured`` …) as one of
    created, running, paused, stopped (Step.wait's vocabulary); others lower-cased."""
    word = raw.strip().lower()
    return _STATE_NAMES.get(word, word)


def _step_def(name: str) -> Step:
    for e in experiments.EXPERIMENTS.values():
        if name in e.steps:
            return e.step(name)
    raise KeyError(f"no experiment has a step {name!r}")
