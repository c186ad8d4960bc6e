"""``rtlab setup --purge`` (and ``make purge``): undo everything rtlab did to this host.

In this order, printing each thing it undoes:

1. rtlab's containers in every client's store (ids carry rtlab's prefix; never
   anyone else's), and what they left (processes, mounts, cgroups);
2. rtlab's image (``localhost/rtlab/busybox``) in each store it went into —
   docker, containerd's ``rtlab`` namespace (then the namespace), podman. A
   store whose daemon is down is started for the purpose (by rtlab, so step 3
   stops it again);
   Then the CRI (cri.py): rtlab's pods, its own CRI containerd, the pod
   network (netns, bridge, IP allocations) and its folders;
3. the daemons rtlab started (their pid files say which; a daemon someone else
   started is left running);
4. the runtime keys rtlab added to ``/etc/docker/daemon.json`` (the user's keys
   stay; the file goes only if rtlab created it and nothing else is left in it);
5. the cgroup hierarchies rtlab mounted, when no cgroup below them is in use:
   their empty cgroups first (deepest first), then the mount, then a check that
   each controller is bound where it was before set-up (cgroups.py);
   then the tracefs rtlab mounted for traced runs (``--trace``, tracing.py);
   rtlab's registry (registry.py): its instance stopped, its storage removed, the
   registry packages rtlab installed removed (a service their install started goes
   with them);
6. rtlab's folders: state (``/var/lib/rtlab``: image, shim wrappers, ledger),
   logs (``/var/log/rtlab``), run-time files (``/run/rtlab``).

Idempotent: a second purge finds nothing and says so. It refuses while an rtlab
run is alive. What rtlab changed outside its folders is read from the ledger
(ledger.py). The repository's ``.venv`` is the checkout's, not the host's: it stays.

Stdlib only, so ``make purge`` runs on a fresh clone with no venv:
``python3 -m rtlab.uninstall`` (which registers every host part first: host/parts.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from rtlab.core.image import RUNTIME_DIR, STATE_DIR
from rtlab.core.workload import DEFAULT_IMAGE
from rtlab.host import (
    cgroups,
    cleanup,
    container,
    cri,
    daemons,
    host,
    ledger,
    parts,
    registry,
    rootless,
)

Say = Callable[[str], None]

HOST_RUN_DIR = Path("/run/rtlab")  # host-wide run-time files, whatever RTLAB_RUNTIME_DIR says


class PurgeError(RuntimeError):
    """Purge cannot go on (e.g. a run is alive); one line saying why."""


def rtlab_folders() -> list[Path]:
    """Every folder rtlab writes into outside the repository."""
    found = []
    for path in (STATE_DIR, daemons.LOG_DIR, daemons.PID_DIR.parent, RUNTIME_DIR, HOST_RUN_DIR):
        if path not in found:
            found.append(path)
    return found


def _containers(say: Say) -> list[str]:
    parts.require()
    removed = [item for sweep in parts.SWEEPS for item in sweep(lambda line: None)]
    for item in removed:
        say(
            f"purge: removed {item}"
            if item.startswith(("runsc state file", "process "))
            else f"purge: removed container {item}"
        )
    return [f"removed {len(removed)} leftover(s) of rtlab's runs"] if removed else []


def _store_clients() -> dict:
    """image store → the client module that fills it (the client registry)."""
    parts.require()
    return {cls.image_store: cls for cls in parts.CLIENTS.values() if cls.image_store}


def _image_in(store: str) -> bool:
    return _store_clients()[store].image_id(DEFAULT_IMAGE) is not None


def _remove_image(store: str) -> list[list[str]]:
    """argv lists that remove rtlab's image from ``store``."""
    cls = _store_clients()[store]
    return [cls.remove_image_argv(cls.find_binary() or cls.client, DEFAULT_IMAGE)]


def _images(say: Say) -> list[str]:
    done: list[str] = []
    stores = ledger.items(daemons.IMAGE_STORES)
    for store, cls in _store_clients().items():
        if cls.find_binary() is None:
            continue
        daemon = cls.needs_daemons[-1] if cls.needs_daemons else None  # the one it talks to
        if daemon and daemons.down_reason(daemon):
            if store not in stores:
                continue  # never saw rtlab's image; do not start a daemon to look
            say(f"purge: {daemon} is not running; starting it to remove rtlab's image from {store}")
            try:
                for name in cls.needs_daemons:
                    daemons.STARTERS[name](say)
            except daemons.DaemonError as exc:
                say(f"purge: rtlab's image left in {store}: {exc}")
                continue
        if not _image_in(store):
            continue
        for argv in _remove_image(store):
            m = daemons._quiet(argv)
            if not m.ok:
                say(f"purge: could not remove {DEFAULT_IMAGE} from {store}: {m.describe_failure()}")
                break
        else:
            say(f"purge: removed image {DEFAULT_IMAGE} from {store}")
            done.append(f"removed image from {store}")
    for cls in _store_clients().values():  # e.g. ctr's containerd namespace
        done += cls.forget_store(say)
    return done


def _daemons(say: Say) -> list[str]:
    stopped = []
    for name in ("dockerd", "containerd"):
        if daemons.stop_daemon(name, lambda line: say(f"purge: {line}")):
            stopped.append(f"stopped {name}")
        elif daemons.DAEMONS[name].answers():
            say(f"purge: {name} is running but rtlab did not start it: left running")
    return stopped


def _docker_config(say: Say) -> list[str]:
    keys = ledger.items(daemons.DOCKER_RUNTIME_KEYS)
    created = bool(ledger.read().get(daemons.DOCKER_CONFIG_CREATED))
    path = daemons.DOCKER_CONFIG
    if not path.exists() or not (keys or created):
        return []
    try:
        config = daemons._read_docker_config()
    except daemons.DaemonError as exc:
        say(f"purge: {exc}: rtlab's keys left in it")
        return []
    found = config.get("runtimes")
    runtimes: dict = found if isinstance(found, dict) else {}
    removed = [k for k in keys if k in runtimes]
    for key in removed:
        del runtimes[key]
    if "runtimes" in config and not runtimes:
        del config["runtimes"]
    done = []
    if created and not config:
        path.unlink()
        say(f"purge: removed {path} (rtlab created it; nothing else was in it)")
        done.append(f"removed {path}")
    elif removed:
        daemons._write_docker_config(config)
        say(f"purge: removed runtimes {', '.join(removed)} from {path} (other keys kept)")
        done.append(f"removed runtime keys from {path}")
    if removed and daemons.DOCKERD.answers():
        say(
            f"purge: dockerd (not rtlab's) still has {', '.join(removed)} loaded until it reloads "
            f"(kill -HUP {daemons.DOCKERD.running_pid() or '<pid>'})"
        )
    return done


def _cgroups(say: Say) -> list[str]:
    """Give back each controller rtlab moved: remove the empty cgroups left below the
    hierarchy it mounted (deepest first), unmount it, then check by /proc/cgroups that
    the controller is bound where it was before set-up (cgroups.py says why all three)."""
    done = []
    made_dirs = ledger.items(host.CGROUP_MOUNT_DIRS)
    before = ledger.mapping(host.CGROUP_BINDINGS)
    for mount_s in ledger.items(host.CGROUP_MOUNTS):
        mount = Path(mount_s)
        controller = mount.name
        if host.fs_type(mount) == "cgroup":
            why = cgroups.release(mount)
            if why is not None:
                say(f"purge: cgroup hierarchy {mount} left mounted: {why}")
                continue
            say(f"purge: unmounted the cgroup hierarchy rtlab mounted at {mount}")
            done.append(f"unmounted {mount}")
        elif cgroups.bindings().get(controller) == cgroups.HIDDEN:
            # an unmount that left cgroups behind (an older purge, or a hand-made umount)
            why = cgroups.release_hidden([controller])
            if why is not None:
                say(f"purge: {controller} stays bound to a hidden v1 hierarchy: {why}")
                continue
            done.append(f"gave {controller} back to cgroup v2")
        if mount_s in made_dirs:
            try:
                mount.rmdir()
            except OSError:
                pass
        now = cgroups.bindings().get(controller, cgroups.V2)
        wanted = before.get(controller, cgroups.V2)
        if now != wanted:
            say(
                f"purge: {controller} is bound to {now}, not to {wanted} as before set-up: "
                f"{ledger.LEDGER} keeps it for the next purge"
            )
            continue
        say(f"purge: {controller} is bound to {now} again, as before set-up")
        ledger.discard(host.CGROUP_MOUNTS, mount_s)
    return done


def _folders(say: Say) -> list[str]:
    done = []
    pending = ledger.items(host.CGROUP_MOUNTS)  # mounts left in use: the next purge needs them
    if pending and STATE_DIR.is_dir():
        recorded = ledger.read()
        keep = {
            key: recorded[key]
            for key in (host.CGROUP_MOUNTS, host.CGROUP_MOUNT_DIRS, host.CGROUP_BINDINGS)
            if key in recorded
        }
        for child in STATE_DIR.iterdir():
            if child != ledger.LEDGER:
                shutil.rmtree(
                    child
                ) if child.is_dir() and not child.is_symlink() else child.unlink()
                say(f"purge: removed {child}")
                done.append(f"removed {child}")
        ledger.replace(keep)
        say(
            f"purge: kept {ledger.LEDGER}: it names the cgroup hierarchy still in use "
            f"({', '.join(pending)}), for the next purge to unmount"
        )
    for path in rtlab_folders():
        if pending and path == STATE_DIR:
            continue
        if path.exists() or path.is_symlink():
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            say(f"purge: removed {path}")
            done.append(f"removed {path}")
    return done


def host_state() -> dict:
    """What rtlab may have changed on this host, by name — for tests and for reading
    before/after a purge: each daemon (running, started by rtlab), the cgroup
    hierarchies the ledger names (mounted or not), where each controller is bound
    (/proc/cgroups: a hidden hierarchy shows), ``daemon.json`` (its content),
    rtlab's image per store (None: cannot tell, the store's daemon is down), the
    shim wrappers and rtlab's folders."""
    images: dict[str, object] = {}
    for store, cls in _store_clients().items():
        daemon = cls.needs_daemons[-1] if cls.needs_daemons else None  # the one it talks to
        if daemon and daemons.down_reason(daemon):
            images[store] = None
        else:
            images[store] = _image_in(store)
    config: dict | str | None
    try:
        config = daemons._read_docker_config() if daemons.DOCKER_CONFIG.exists() else None
    except daemons.DaemonError:
        config = "unreadable"
    # the hierarchies rtlab mounted (ledger), and those it would mount on this host
    candidates = {
        *ledger.items(host.CGROUP_MOUNTS),
        *(str(host.CGROUP_ROOT / c) for c in host.unified_controllers()),
    }
    mounts = {m: host.fs_type(Path(m)) == "cgroup" for m in sorted(candidates)}
    shims = (
        sorted(p.name for p in daemons.SHIM_BIN_DIR.glob("containerd-shim-rtlab-*"))
        if daemons.SHIM_BIN_DIR.is_dir()
        else []
    )
    return {
        "daemons": {
            name: {"running": d.answers(), "started_by_rtlab": d.started_pid() is not None}
            for name, d in daemons.DAEMONS.items()
        },
        "cgroup_mounts": mounts,
        "cgroup_bindings": cgroups.bindings(),
        "daemon_json": config,
        "images": images,
        "shims": shims,
        "folders": {str(p): p.exists() for p in rtlab_folders()},
    }


def purge(say: Say = print) -> list[str]:
    """Undo what rtlab did to this host; return what was undone (empty: nothing was left)."""
    if os.geteuid() != 0:
        raise PermissionError(
            "rtlab setup --purge needs root (it stops daemons and removes /var/lib/rtlab)"
        )
    live = cleanup.live_runs()
    if live:
        raise PurgeError(
            f"an rtlab run is alive ({'; '.join(live.values())}): stop it (Ctrl-C) and purge again"
        )
    done = _containers(say)
    done += cri.purge(say=lambda line: say(f"purge: {line}"))
    done += _images(say)
    done += container.purge(say)  # make image's images and build cache
    done += _daemons(say)
    done += _docker_config(say)
    done += _cgroups(say)
    done += rootless.purge(say=lambda line: say(f"purge: {line}"))
    # rtlab's registry, its storage, the packages rtlab installed for it (before the ledger goes)
    done += registry.purge(say=lambda line: say(f"purge: {line}"))
    for step in parts.PURGE_STEPS:  # e.g. the tracefs mounted for --trace (collect/tracing.py)
        done += step(say)
    done += _folders(say)
    say(
        f"purge: {len(done)} thing(s) undone"
        if done
        else "purge: nothing of rtlab's is left on this host"
    )
    return done


def main() -> int:
    try:
        purge()
    except (PermissionError, PurgeError) as exc:
        print(f"rtlab setup --purge: error: {exc}", file=sys.stderr)
        return 2
    return 0
