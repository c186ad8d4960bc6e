"""Low-level OCI runtimes: name → binary and global flags, version, availability."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from rtlab.core.measure import run_timed

VERSION_TIMEOUT_S = 10.0

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
"""A runtime's name: lower-case letters, digits, ``.``, ``_``, ``-``; 1 to 63 characters.

The one rule for every runtime, known or user-supplied (:class:`Runtime` checks it):
names become run.json keys, target labels (``oci/NAME``), containerd runtime names
(``io.containerd.rtlab-NAME.v2``), docker's ``daemon.json`` keys and file names of
the shim wrappers. A binary is an absolute path (or, for a known runtime, a name on
PATH) and, like flags, holds no control character; the shim scripts quote every
path and flag (shims.py)."""

NAME_RULE = (
    "use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, "
    "at most 63 characters"
)


class RuntimeSpecError(ValueError):
    """A runtime name, binary or flag rtlab refuses: one line naming it and what is accepted."""


def _control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 or not c.isprintable() for c in text)


def check_name(name: str) -> str:
    """``name`` if it matches :data:`NAME_PATTERN`, else :class:`RuntimeSpecError`."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise RuntimeSpecError(f"runtime name {name!r}: {NAME_RULE} ({NAME_PATTERN})")
    return name


@dataclass(frozen=True)
class Runtime:
    """A runc-compatible runtime: ``binary`` plus global ``flags`` before the subcommand."""

    name: str
    binary: str
    flags: tuple[str, ...] = ()
    note: str = ""
    # The Debian package rtlab setup installs for it; None: optional, not packaged.
    package: str | None = None
    # Registered with dockerd by rtlab setup (daemon.json's "runtimes"); runc is docker's own.
    docker: bool = False
    # Where its CLI keeps a container's state as root, and the file a complete one holds
    # (host/cleanup.py removes a half-created folder without it); None: not swept so.
    state_root: tuple[str, str] | None = None
    # Why it has no rootless mode here (doctor and collect say it in one line); None: it
    # runs rootless through its own CLI (collect/clients/oci_rootless.py).
    no_rootless: str | None = None
    # Whose phase definitions a traced run uses (core/phasedefs.py PHASES' keys); "": its
    # own name (runsc-kvm is traced as runsc).
    family: str = ""
    # MB per idle container that density's safety estimate assumes before it has read a
    # level (collect/density.py refusal): above the measured per-container cost.
    expected_mb: float = 15.0
    # Its colour in every figure: a slot of the colour-blind palette (analysis/plots.py);
    # None: a stable slot by a hash of its name.
    colour: int | None = None
    # The reference runtime (runc: the OCI's own), and the runtimes that run a container
    # in a sandbox of their own (gVisor's Sentry, a VM): density's headline sets a
    # sandboxed runtime against the reference when both were measured
    # (report/density_report.py); a user's build of one (runsc-dev) is one too (kin).
    reference: bool = False
    sandbox: bool = False

    def __post_init__(self) -> None:
        check_name(self.name)
        if not self.binary or _control(self.binary):
            raise RuntimeSpecError(
                f"runtime {self.name} binary {self.binary!r}: give a path "
                "without control characters"
            )
        bad = [f for f in self.flags if _control(f)]
        if bad:
            raise RuntimeSpecError(
                f"runtime {self.name} flag {bad[0]!r}: flags hold no control characters"
            )

    def how_to_get(self) -> str:
        """How this runtime gets onto the host (for the "not installed" reason)."""
        if self.note == "user-supplied":
            return "the path given with --runtime"
        if self.package:
            return f"Debian package {self.package}; rtlab setup installs it"
        return (
            f"optional: not packaged for Debian — install {self.binary} from its project's "
            f"releases (then it is found on PATH), or give --runtime {self.name}=/PATH"
        )

    @property
    def phase_family(self) -> str:
        return self.family or self.name

    @property
    def argv(self) -> list[str]:
        return [self.binary, *self.flags]

    def path(self) -> str | None:
        return self.binary if "/" in self.binary else shutil.which(self.binary)

    def version(self, timeout_s: float = VERSION_TIMEOUT_S) -> tuple[str | None, str]:
        """(first line of ``--version``, "") or (None, why it is unavailable)."""
        path = self.path()
        if path is None or not shutil.which(path):
            return None, f"not installed ({self.binary} not found; {self.how_to_get()})"
        m = run_timed([path, *self.flags, "--version"], timeout_s, capture_stdout=True)
        if m.timed_out:
            return None, f"did not answer `{self.binary} --version` within {timeout_s:g} s"
        if not m.ok:
            return None, f"`{self.binary} --version` failed: {m.describe_failure()}"
        lines = (m.stdout or m.stderr_tail).strip().splitlines()
        return (lines[0].strip() if lines else "unknown"), ""


# runsc refuses the root network namespace: the bundle asks for a new, empty
# network namespace, and --network=none tells gVisor not to configure one.
KNOWN: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(
            "runc",
            "runc",
            package="runc",
            state_root=("/run/runc", "state.json"),
            colour=0,
            reference=True,
        ),
        Runtime(
            "crun",
            "crun",
            package="crun",
            docker=True,
            state_root=("/run/crun", "status"),
            colour=2,
        ),
        Runtime(
            "runsc",
            "runsc",
            ("--network=none",),
            "gVisor, ptrace platform",
            package="runsc",
            docker=True,
            no_rootless='runsc --rootless (2022-12) fails here as an unprivileged user: "cannot '
            'create gofer process: fork/exec /proc/self/exe: operation not permitted"',
            # the hand-measured docker-over-runsc 21 MB, the published runsc 22.5 MB
            expected_mb=40.0,
            colour=1,
            sandbox=True,
        ),
        Runtime(
            "runsc-kvm",
            "runsc",
            ("--platform=kvm", "--network=none"),
            "gVisor, KVM platform",
            package="runsc",
            docker=True,
            no_rootless="runsc's KVM platform hangs on this host, rootful or not",
            family="runsc",
            expected_mb=40.0,
            colour=5,
            sandbox=True,
        ),
        Runtime("youki", "youki", colour=4),
        Runtime("kata-runtime", "kata-runtime", colour=6, sandbox=True),
    )
}


def kin(name: str) -> Runtime | None:
    """The record a runtime name is read by: its own (``KNOWN``), else that of the known
    runtime its name starts with before the first "-" (a user's runsc-dev is a runsc,
    runc-1.2 a runc); None for any other name."""
    return KNOWN.get(name) or KNOWN.get(name.split("-", 1)[0])


def in_order(names) -> list[str]:
    """Runtime names, the known ones in ``KNOWN``'s order, then the others alphabetically."""
    names = set(names)
    return [n for n in KNOWN if n in names] + sorted(names - set(KNOWN))


def packages() -> dict[str, str]:
    """command → Debian package of every known runtime that has one (rtlab setup installs them)."""
    return {r.binary: r.package for r in KNOWN.values() if r.package}


def docker_registered() -> tuple[str, ...]:
    """The known runtimes rtlab setup registers with dockerd."""
    return tuple(name for name, r in KNOWN.items() if r.docker)


def parse_custom(spec: str) -> Runtime:
    """Parse ``name=/path[:flags]`` (flags split like a shell line).

    >>> parse_custom("youki=/opt/youki:--debug").argv
    ['/opt/youki', '--debug']
    """
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise RuntimeSpecError(f"--runtime {spec!r}: expected name=/path/to/binary[:flags]")
    path, _, flags = rest.partition(":")
    if not path.startswith("/"):
        raise RuntimeSpecError(f"--runtime {spec!r}: the binary must be an absolute path")
    # a build of a known runtime (runsc-dev, runc-1.2) is traced and budgeted as that one
    kin = KNOWN.get(name.split("-", 1)[0])
    try:
        return Runtime(
            name,
            path,
            tuple(shlex.split(flags)),
            "user-supplied",
            family=kin.phase_family if kin else "",
            expected_mb=kin.expected_mb if kin else Runtime.expected_mb,
        )
    except ValueError as exc:  # the name rule, control characters, shlex's unclosed quote
        raise RuntimeSpecError(f"--runtime {spec!r}: {exc}") from None


def resolve(
    names: list[str], custom: Sequence[Runtime] = (), add: str = "with --runtime name=/path[:flags]"
) -> list[Runtime]:
    """Runtimes by name; an unknown name raises before anything runs (``add``: how the
    caller adds a runtime, in its own words)."""
    table = {**KNOWN, **{r.name: r for r in custom}}
    unknown = [n for n in names if n not in table]
    if unknown:
        raise RuntimeSpecError(
            f"unknown runtime {', '.join(map(repr, unknown))}; known: {', '.join(table)} "
            f"(or add one {add})"
        )
    return [table[n] for n in names]


def default_names(custom: Sequence[Runtime] = ()) -> list[str]:
    return [*KNOWN, *(r.name for r in custom if r.name not in KNOWN)]
