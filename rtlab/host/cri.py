"""rtlab's own containerd for the CRI: its config, runtime handlers, images and pod network.

The kubelet reaches a low-level runtime through containerd's CRI plugin, which
picks the runtime by *handler* (a RuntimeClass). rtlab never reconfigures or
restarts a containerd it did not start, so the CRI is served by a second
containerd of rtlab's own, with everything under rtlab's folders:

- config ``/var/lib/rtlab/cri/config.toml``, root ``/var/lib/rtlab/cri/root``,
  socket ``/run/rtlab/cri/containerd.sock``, state ``/run/rtlab/cri/state``,
  the shim's runtime root ``/run/rtlab/cri/runc``, the runsc wrapper's keepers
  ``/run/rtlab/cri/runsc-io``, pid file
  ``/run/rtlab/cri/containerd.pid`` (pid and start time, as daemons.py), log
  ``/var/log/rtlab/cri-containerd.log``;
- one handler per runtime (runc, crun, runsc, any ``--runtime NAME=PATH``),
  each the stock runc v2 shim with ``BinaryName`` set: runc and crun directly,
  a runtime with flags through a wrapper script in ``/var/lib/rtlab/cri/bin``.
  runsc's wrapper stands in for containerd-shim-runsc-v1 (the stdio, pid and
  kill differences of a container joining a pod: see _RUNSC_WRAPPER) and runs
  it with ``--network=host`` for every pod: gVisor then
  uses the network of the namespace its sandbox is in (the host's, or the
  pod's CNI namespace). ``--network=sandbox`` (gVisor's own netstack) is
  refused here in every namespace ("cannot run with network enabled in root
  network namespace": runsc 2022-12 tests a sysctl file that kernel 6.x shows
  in every namespace), and ``none`` would cut a CNI pod off its network;
- the sandbox ("pause") image and the workload image are built from the
  offline busybox rootfs (archive.py) and imported into namespace ``k8s.io``;
  ``sandbox_image`` names the local pause image, so nothing is ever pulled;
- the pod network: a CNI conflist rtlab writes (``net.d/10-rtlab.conflist``):
  a bridge ``rtlab-cri0`` on ``10.237.88.0/24``, host-local IPAM with its
  allocations in ``/var/lib/rtlab/cri/ipam``, no IP masquerade (so no
  iptables rule to leave behind). Plugins from Debian's
  ``containernetworking-plugins`` (``/usr/lib/cni``).

Every path comes from :class:`CriPaths`; ``RTLAB_CRI_STATE_DIR`` and
``RTLAB_CRI_RUN_DIR`` move the whole instance (a developer's or a test's
private containerd that a purge of the host's rtlab folders cannot reach).

Stdlib only (purge runs without the venv); the gRPC client and the timed pod
lifecycle are in cri_client.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rtlab.core import procfs
from rtlab.core.image import STATE_DIR
from rtlab.core.options import NETWORK_MODES  # noqa: F401 (cri.NETWORK_MODES: importers)
from rtlab.core.runtimes import KNOWN, Runtime
from rtlab.host import archive, daemons, parts
from rtlab.host.shims import (  # the wrapper writing, shared
    _sh_quote,
    _write_if_changed,
    flags_script,
)

Say = Callable[[str], None]

K8S_NAMESPACE = "k8s.io"
PAUSE_IMAGE = "localhost/rtlab/pause:latest"
WORKLOAD_IMAGE = "localhost/rtlab/busybox:latest"
PAUSE_CMD = ("sleep", "2147483647")  # StopPodSandbox SIGKILLs the sandbox container
CNI_BIN_DIR = Path("/usr/lib/cni")
CNI_PACKAGE = "containernetworking-plugins"
BRIDGE = "rtlab-cri0"
SUBNET = "10.237.88.0/24"  # private, unlikely to clash (docker 172.17/16, podman 10.88/16)
NETWORK_NAME = "rtlab-cri"
# gVisor's network for CRI pods. ``sandbox`` (gVisor's netstack over the pod's
# interfaces) is refused in every network namespace here: runsc 2022-12 decides
# "root network namespace" by /proc/sys/net/core/rmem_default existing, and
# kernel 6.x shows it in every namespace. ``none`` would leave a CNI pod without
# its network; ``host`` makes gVisor use the network of the namespace its sandbox
# is in: the host's for a host-network pod, the CNI namespace otherwise.
RUNSC_NETWORK = "--network=host"
HANDLER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
CTR_TIMEOUT_S = 60.0


class CriError(RuntimeError):
    """rtlab's CRI containerd cannot be prepared or used; one line saying why."""


@dataclass(frozen=True)
class CriPaths:
    """Where rtlab's CRI containerd keeps everything (state: persistent; run: tmpfs)."""

    state: Path
    run: Path
    log_dir: Path = daemons.LOG_DIR

    @classmethod
    def default(cls) -> CriPaths:
        state = Path(os.environ.get("RTLAB_CRI_STATE_DIR", str(STATE_DIR / "cri")))
        run = Path(os.environ.get("RTLAB_CRI_RUN_DIR", str(daemons.PID_DIR.parent / "cri")))
        log_dir = state if "RTLAB_CRI_STATE_DIR" in os.environ else daemons.LOG_DIR
        return cls(state, run, log_dir)

    config = property(lambda self: self.state / "config.toml")
    root = property(lambda self: self.state / "root")
    bin = property(lambda self: self.state / "bin")
    images = property(lambda self: self.state / "images")
    net_d = property(lambda self: self.state / "net.d")
    conflist = property(lambda self: self.state / "net.d" / "10-rtlab.conflist")
    ipam = property(lambda self: self.state / "ipam")
    socket = property(lambda self: self.run / "containerd.sock")
    run_state = property(lambda self: self.run / "state")
    runc_root = property(lambda self: self.run / "runc")
    runsc_io = property(lambda self: self.run / "runsc-io")  # the runsc wrapper's keepers
    pidfile = property(lambda self: self.run / "containerd.pid")
    hosts_dir = property(lambda self: self.state / "certs.d")  # registry hosts (containerd 1.5+)
    log = property(lambda self: self.log_dir / "cri-containerd.log")

    @property
    def address(self) -> str:
        return f"unix://{self.socket}"


@dataclass(frozen=True)
class CriDaemon(daemons.Daemon):
    """rtlab's CRI containerd: daemons.Daemon with its pid file and log in CriPaths."""

    paths: CriPaths = field(default_factory=CriPaths.default)

    @property
    def pidfile(self) -> Path:
        return self.paths.pidfile

    @property
    def log(self) -> Path:
        return self.paths.log

    def running_pid(self) -> int | None:
        return self.started_pid()  # only rtlab's own instance (its pid file) serves the CRI


def daemon(paths: CriPaths | None = None) -> CriDaemon:
    paths = paths or CriPaths.default()
    return CriDaemon("containerd", paths.socket, paths)


# -- runtime handlers ------------------------------------------------------------


@dataclass(frozen=True)
class Handler:
    """A CRI runtime handler: its name (the RuntimeClass) and the binary the runc shim runs."""

    name: str
    runtime: Runtime
    binary: str  # BinaryName: the runtime itself, or rtlab's wrapper script


def _is_runsc(runtime: Runtime) -> bool:
    return Path(runtime.binary).name == "runsc"


# The runc v2 shim drives runsc as if it were runc; three things differ for a
# container joining a pod (measured, tests/integration/test_cri.py; issue 20):
# 1. stdio: runsc creates a joining container's process at ``start``, handing it
#    ``runsc start``'s own stdio, where runc's was given at ``create``. The shim runs
#    ``start`` with stdout and stderr on a pipe it reads to EOF (go-runc cmdOutput,
#    then os/exec Cmd.Wait): the sandbox keeps that pipe as the container's output,
#    so StartContainer never answered although ``runsc start`` had exited 0.
# 2. its pid: runsc's pid file names the sandbox, so the shim would see the
#    container exit only when the whole pod does.
# 3. ``runsc kill`` of an exited sandbox says "sandbox is not running" where the
#    shim expects runc's "container not running", and containerd retried the
#    pod's exit forever.
# containerd-shim-runsc-v1 (not in Debian) passes the container's stdio to ``start``
# and waits with ``runsc wait``; the wrapper does the same through a keeper process
# per joining container (the pid the shim is given): it holds the container's
# stdio from ``create``, ``start`` runs runsc with it (/proc/KEEPER/fd), then the
# keeper runs ``runsc wait`` and exits with the container's status.
_RUNSC_WRAPPER = r"""#!/bin/sh
# rtlab: {name} for containerd's CRI (runc v2 shim BinaryName); see rtlab/host/cri.py
set -- {runsc} "$@"
io={io}
# the shim's call: global flags, the command, its flags, the id (kill: id, signal)
cmd= root= bundle= pidfile= prev= id=
for a in "$@"; do
  case $prev in --root) root=$a ;; --bundle|-b) bundle=$a ;; --pid-file) pidfile=$a ;; esac
  if [ -z "$cmd" ]; then
    case $prev in --root|--log|--log-format) ;; *)
      case $a in create|start|kill|delete) cmd=$a ;; esac ;; esac
  elif [ -z "$id" ]; then
    case $a in -*) ;; *) case $prev in --bundle|-b|--pid-file|--console-socket) ;; *)
      id=$a ;; esac ;; esac
  fi
  prev=$a
done
keeper=$io/$id.keeper go=$io/$id.go
case $cmd in
create)
  grep -q '"io.kubernetes.cri.container-type":"container"' "$bundle/config.json" 2>/dev/null ||
    exec "$@"
  "$@" || exit
  mkdir -p "$io" && rm -f "$go" && mkfifo "$go" || exit
  RUNSC=$1 ROOT=$root ID=$id GO=$go sh -c '
    read _ < "$GO"; rm -f "$GO"; exec </dev/null >/dev/null 2>&1
    out=$("$RUNSC" --root "$ROOT" wait "$ID")
    s=${{out##*\"exitStatus\":}}; s=${{s%%[!0-9]*}}; exit "${{s:-255}}"' &
  printf %s $! > "$keeper" && printf %s $! > "$pidfile" ;;
start)
  k=$(cat "$keeper" 2>/dev/null) || exec "$@"
  rm -f "$keeper"
  "$@" <"/proc/$k/fd/0" >"/proc/$k/fd/1" 2>"/proc/$k/fd/2"; rc=$?
  [ -p "$go" ] && kill -0 "$k" 2>/dev/null && echo go > "$go"
  exit $rc ;;
kill|delete)
  out=$("$@" 2>&1); rc=$?
  case $rc:$out in 0:*) ;; *"not running"*) echo "container not running: $out" >&2 ;;
    *) printf '%s\n' "$out" >&2 ;; esac
  k=$(cat "$keeper" 2>/dev/null) && rm -f "$keeper" "$go" && kill -9 "$k" 2>/dev/null
  exit $rc ;;
*) exec "$@" ;;
esac
"""


def wrapper_text(runtime: Runtime, binary: str, io_dir: Path | None = None) -> str | None:
    """The BinaryName script for ``runtime`` (None: the binary is used directly).

    runsc gets ``--network=host`` (see the module docstring), its own
    ``--network`` flags dropped, and the keeper (above; its files in ``io_dir``).
    Other runtimes with flags get them before the shim's arguments, as
    dockerd's runtimeArgs scripts do.
    """
    q = _sh_quote
    if _is_runsc(runtime):
        flags = [f for f in runtime.flags if not f.startswith("--network")]
        io = io_dir or CriPaths.default().runsc_io
        return _RUNSC_WRAPPER.format(
            name=runtime.name,
            io=q(str(io)),
            runsc=" ".join(map(q, [binary, *flags, RUNSC_NETWORK])),
        )
    if runtime.flags:
        return flags_script(
            binary, runtime.flags, f"{runtime.name} for containerd's CRI (runc v2 shim BinaryName)"
        )
    return None


def handlers(runtimes: Iterable[Runtime], paths: CriPaths) -> dict[str, Handler]:
    """name → Handler for each runtime installed here (runsc-kvm and the like included)."""
    out = {}
    for rt in runtimes:
        if not HANDLER_RE.fullmatch(rt.name):
            raise CriError(
                f"runtime name {rt.name!r} cannot be a CRI handler (letters, digits, '.', '_', '-')"
            )
        binary = rt.path()
        if binary is None or not shutil.which(binary):
            continue
        text = wrapper_text(rt, binary, paths.runsc_io)
        out[rt.name] = Handler(rt.name, rt, str(paths.bin / rt.name) if text else binary)
    return out


def default_runtimes(custom: Iterable[Runtime] = ()) -> list[Runtime]:
    return [*KNOWN.values(), *custom]


# -- the config ------------------------------------------------------------------


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a TOML basic string is a JSON string for what we write


def config_text(hs: dict[str, Handler], paths: CriPaths) -> str:
    """containerd 1.6's config (version 2) for rtlab's CRI instance."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    lines = [
        "# Written by rtlab (rtlab/host/cri.py): rtlab's own containerd for the CRI.",
        "version = 2",
        f"root = {_toml_str(str(paths.root))}",
        f"state = {_toml_str(str(paths.run_state))}",
        'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",',
        '  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",',
        '  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
        "",
        "[grpc]",
        f"  address = {_toml_str(str(paths.socket))}",
        "",
        '[plugins."io.containerd.internal.v1.opt"]',
        f"  path = {_toml_str(str(paths.state / 'opt'))}",
        "",
        f"[{cri}]",
        f"  sandbox_image = {_toml_str(PAUSE_IMAGE)}",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        "  enable_selinux = false",
        "  # lowering oom_score_adj needs CAP_SYS_RESOURCE, which this host's root may lack",
        "  restrict_oom_score_adj = true",
        f"  [{cri}.containerd]",
        '    snapshotter = "overlayfs"',
        f"    default_runtime_name = {_toml_str('runc' if 'runc' in hs else next(iter(hs), 'runc'))}",
        f"  [{cri}.registry]",
        "    # a hosts.toml per registry (trust_registry: rtlab's own, plain HTTP on loopback)",
        f"    config_path = {_toml_str(str(paths.hosts_dir))}",
        f"  [{cri}.cni]",
        f"    bin_dir = {_toml_str(str(CNI_BIN_DIR))}",
        f"    conf_dir = {_toml_str(str(paths.net_d))}",
        "    max_conf_num = 1",
    ]
    for h in hs.values():
        key = f'{cri}.containerd.runtimes."{h.name}"'
        lines += [
            "",
            f"[{key}]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{key}.options]",
            f"  BinaryName = {_toml_str(h.binary)}",
            f"  Root = {_toml_str(str(paths.runc_root))}",
            "  SystemdCgroup = false",
        ]
    return "\n".join(lines) + "\n"


def trust_registry(address: str, paths: CriPaths | None = None) -> Path:
    """Let rtlab's CRI containerd pull from ``address`` (rtlab's registry, ``127.0.0.1:PORT``)
    over plain HTTP: a ``hosts.toml`` in its hosts folder, read at each pull (no restart)."""
    paths = paths or CriPaths.default()
    folder = paths.hosts_dir / address
    folder.mkdir(parents=True, exist_ok=True)
    server = f"http://{address}"
    text = (
        "# Written by rtlab (rtlab/host/cri.py): rtlab's own registry, plain HTTP on loopback\n"
        f"server = {_toml_str(server)}\n\n[host.{_toml_str(server)}]\n"
        '  capabilities = ["pull", "resolve"]\n'
    )
    _write_if_changed(folder / "hosts.toml", text, 0o644)
    return folder / "hosts.toml"


def conflist(paths: CriPaths) -> dict:
    """The CNI network rtlab's pods join in ``cni`` mode: a bridge, host-local IPAM."""
    return {
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": SUBNET}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.ipam),
                },
            }
        ],
    }


def write_config(runtimes: Iterable[Runtime], paths: CriPaths) -> tuple[dict[str, Handler], bool]:
    """Write the wrappers, the CNI conflist and config.toml; (handlers, config changed)."""
    hs = handlers(runtimes, paths)
    for h in hs.values():
        text = wrapper_text(h.runtime, h.runtime.path() or h.runtime.binary, paths.runsc_io)
        if text:
            _write_if_changed(paths.bin / h.name, text, 0o755)
    _write_if_changed(paths.conflist, json.dumps(conflist(paths), indent=2) + "\n", 0o644)
    changed = _write_if_changed(paths.config, config_text(hs, paths), 0o644)
    return hs, changed


def configured_handlers(paths: CriPaths | None = None) -> list[str]:
    """The handler names in the config rtlab's CRI containerd runs with."""
    paths = paths or CriPaths.default()
    try:
        text = paths.config.read_text()
    except OSError:
        return []
    return re.findall(r'containerd\.runtimes\."([^"]+)"\]', text)


def check_handlers(names: Iterable[str], paths: CriPaths | None = None) -> None:
    """Raise CriError (one line) when a handler is not in rtlab's CRI config."""
    known = configured_handlers(paths)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CriError(
            f"unknown CRI runtime handler {', '.join(map(repr, unknown))}; "
            f"rtlab's CRI containerd has: {', '.join(known) or 'none (not started)'}"
        )


# -- start and stop --------------------------------------------------------------


def down_reason(paths: CriPaths | None = None) -> str | None:
    """None when rtlab's CRI containerd answers; else one line naming containerd."""
    paths = paths or CriPaths.default()
    if daemons.socket_answers(paths.socket):
        return None
    return f"containerd (rtlab's CRI instance) is not running (no answer on {paths.socket})"


def start(
    runtimes: Iterable[Runtime] = (), paths: CriPaths | None = None, say: Say = print
) -> list[Handler]:
    """Write the config and start rtlab's CRI containerd, or restart it (only rtlab's own)
    when its handlers changed; import the images; return the handlers it serves."""
    if os.geteuid() != 0:
        raise PermissionError("starting rtlab's CRI containerd needs root")
    paths = paths or CriPaths.default()
    runtimes = list(runtimes) or default_runtimes()
    if not CNI_BIN_DIR.joinpath("bridge").exists():
        raise CriError(
            f"CNI plugins not found in {CNI_BIN_DIR} (Debian package {CNI_PACKAGE}; "
            "rtlab setup installs it)"
        )
    d = daemon(paths)
    hs, changed = write_config(runtimes, paths)
    if d.answers():
        if d.started_pid() is None:
            raise CriError(
                f"something answers on {paths.socket} that rtlab did not start: left alone"
            )
        if not changed:
            import_images(paths, say)
            return list(hs.values())
        say("cri: its config changed (handlers, registry hosts): restarting rtlab's CRI containerd")
        stop(paths, say)
    paths.run.mkdir(parents=True, exist_ok=True)
    pid = daemons._start(d, ["containerd", "--config", str(paths.config)], dict(os.environ), say)
    say(f"cri: rtlab's CRI containerd (pid {pid}) on {paths.socket}, handlers {', '.join(hs)}")
    import_images(paths, say)
    return list(hs.values())


def stop(
    paths: CriPaths | None = None, say: Say = print, timeout_s: float = daemons.STOP_TIMEOUT_S
) -> bool:
    """Stop rtlab's CRI containerd if rtlab started it; True if it stopped."""
    pid = daemons.stop_instance(daemon(paths), say, timeout_s=timeout_s)
    if pid is None:
        return False
    say(f"cri: stopped rtlab's CRI containerd (pid {pid})")
    return True


# -- images ----------------------------------------------------------------------


def _ctr(
    paths: CriPaths, *args: str, timeout_s: float = CTR_TIMEOUT_S
) -> subprocess.CompletedProcess:
    ctr = shutil.which("ctr") or "ctr"  # containerd's own tool, for rtlab's CRI containerd
    return subprocess.run(
        [
            ctr,
            "--address",
            str(paths.socket),
            "--connect-timeout",
            "2s",
            "-n",
            K8S_NAMESPACE,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )


def image_archives(paths: CriPaths) -> dict[str, tuple[Path, str]]:
    """ref → (docker-archive, image id) for the pause and the workload image."""
    return {
        PAUSE_IMAGE: archive.build_archive(
            PAUSE_IMAGE, path=paths.images / "pause.tar", cmd=PAUSE_CMD, state_dir=paths.images
        ),
        WORKLOAD_IMAGE: archive.build_archive(
            WORKLOAD_IMAGE, path=paths.images / "busybox.tar", state_dir=paths.images
        ),
    }


def image_present(paths: CriPaths, ref: str) -> bool:
    out = _ctr(paths, "images", "ls", "-q", f"name=={ref}")
    return out.returncode == 0 and ref in out.stdout.split()


def import_images(paths: CriPaths | None = None, say: Say = print) -> list[str]:
    """Import the pause and workload images into ``k8s.io`` of rtlab's CRI containerd
    when missing (or rebuilt); return what was imported."""
    paths = paths or CriPaths.default()
    done = []
    for ref, (tar, image_id) in image_archives(paths).items():
        stamp = paths.images / (tar.stem + ".imported")
        if image_present(paths, ref) and stamp.is_file() and stamp.read_text().strip() == image_id:
            continue
        out = _ctr(paths, "images", "import", str(tar))
        if out.returncode != 0:
            raise CriError(
                f"importing {ref} into rtlab's CRI containerd failed: "
                f"{(out.stderr or out.stdout).strip()[-300:]}"
            )
        stamp.write_text(image_id + "\n")
        say(f"cri: imported {ref} ({image_id[:19]}) into namespace {K8S_NAMESPACE}")
        done.append(ref)
    return done


# -- what is left on the host: netns, veth, IP allocations, the bridge ----------------


def ip_allocations(paths: CriPaths | None = None) -> list[str]:
    """The IPs host-local has handed out on rtlab's network and not yet released."""
    paths = paths or CriPaths.default()
    d = paths.ipam / NETWORK_NAME
    if not d.is_dir():
        return []
    return sorted(
        p.name
        for p in d.iterdir()
        if re.fullmatch(r"[0-9.]+|[0-9a-f:]+", p.name) and not p.name.startswith("last_")
    )


def bridge_ports() -> list[str]:
    """veth ends attached to rtlab's bridge."""
    out = subprocess.run(
        ["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True, text=True
    )
    if out.returncode != 0:
        return []
    return [
        line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines() if ":" in line
    ]


def netns_on_subnet(ips: Iterable[str] | None = None) -> list[str]:
    """Named network namespaces (/run/netns) holding an address on rtlab's subnet
    (``ips``: only those holding one of these addresses)."""
    found: list[str] = []
    base = Path("/run/netns")
    prefix = SUBNET.rsplit(".", 1)[0] + "."
    wanted = None if ips is None else {f" {ip}/" for ip in ips}
    if not base.is_dir():
        return found
    for ns in sorted(base.iterdir()):
        out = subprocess.run(
            ["ip", "-n", ns.name, "-o", "-4", "addr"], capture_output=True, text=True, timeout=10
        )
        if prefix in out.stdout and (wanted is None or any(w in out.stdout for w in wanted)):
            found.append(ns.name)
    return found


def host_leftovers(paths: CriPaths | None = None) -> list[str]:
    """What CRI pods left outside containerd: IP allocations, veths on the bridge, netns."""
    return (
        [f"CNI allocation {ip}" for ip in ip_allocations(paths)]
        + [f"veth {v} on {BRIDGE}" for v in bridge_ports()]
        + [f"netns {n}" for n in netns_on_subnet()]
    )


def forget_network(paths: CriPaths, say: Say = print) -> list[str]:
    """Without containerd (purge, or a dead daemon): delete the netns on rtlab's subnet
    (their veths go with them), the bridge and the IP allocations.

    A private instance (``RTLAB_CRI_STATE_DIR``: a test's, a developer's) shares the
    bridge and subnet with the host's: it deletes only the netns holding an address it
    allocated, and the bridge only when no veth is left on it (another instance's
    live pods keep their network)."""
    done = []
    own = None if paths.state == STATE_DIR / "cri" else ip_allocations(paths)
    for ns in netns_on_subnet(own):
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=10)
        done.append(f"netns {ns}")
    if own is not None and bridge_ports():
        pass  # another instance's pods are on the bridge
    elif subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0:
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, timeout=10)
        done.append(f"bridge {BRIDGE}")
    if paths.ipam.exists():
        shutil.rmtree(paths.ipam, ignore_errors=True)
        done.append(f"CNI allocations {paths.ipam}")
    for item in done:
        say(f"cri: removed {item}")
    return done


def remove_all_ctr(paths: CriPaths, say: Say = print) -> list[str]:
    """Stdlib fallback when the gRPC client is not importable: every task and container
    of rtlab's CRI containerd (all are rtlab's: it is rtlab's own daemon) through ctr."""
    if down_reason(paths):
        return []
    out = _ctr(paths, "containers", "ls", "-q")
    ids = out.stdout.split() if out.returncode == 0 else []
    for cid in ids:
        _ctr(paths, "tasks", "delete", "--force", cid)
        _ctr(paths, "containers", "delete", cid)
        say(f"cri: removed container {cid[:13]}")
    return [f"cri container {cid[:13]}" for cid in ids]


def clean(live: Iterable[str] = (), paths: CriPaths | None = None, say: Say = print) -> list[str]:
    """``rtlab clean``: the pods of dead runs (not of a ``live`` token) in rtlab's CRI
    containerd, through the CRI so their network goes too; nothing when it is down
    (purge removes what is left) or when the gRPC client is not installed."""
    paths = paths or CriPaths.default()
    if down_reason(paths):
        return []
    parts.require()
    return [
        item
        for remove in parts.POD_REMOVERS  # collect/cri_client.py, with gRPC installed
        for item in remove(paths=paths, say=say, live=live)
    ]


def purge(paths: CriPaths | None = None, say: Say = print) -> list[str]:
    """Undo the CRI: its pods and containers, rtlab's CRI containerd, the network
    (netns, bridge, IP allocations) and its folders."""
    paths = paths or CriPaths.default()
    done: list[str] = []
    if not down_reason(paths):
        parts.require()
        for remove in parts.POD_REMOVERS:  # collect/cri_client.py, with gRPC installed
            done += remove(paths=paths, say=say)
        done += remove_all_ctr(paths, say)
    if stop(paths, say):
        done.append("stopped rtlab's CRI containerd")
    done += forget_network(paths, say)
    for folder in (paths.state, paths.run):
        if folder.exists():
            _unmount_below(folder)
            shutil.rmtree(folder, ignore_errors=True)
            say(f"cri: removed {folder}")
            done.append(f"removed {folder}")
    return done


def _unmount_below(folder: Path) -> None:
    """Lazily unmount what containerd left mounted below ``folder`` (snapshots, shm)."""
    for point in sorted(
        (p for p in procfs.mount_points() if p.startswith(str(folder) + "/")), key=len, reverse=True
    ):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=10)
