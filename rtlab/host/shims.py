"""containerd shim wrappers: how ctr's separate lifecycle steps reach crun or runsc.

``ctr container create`` takes no way to choose the runtime binary. containerd
maps a runtime name ``io.containerd.<name>.v2`` to the binary
``containerd-shim-<name>-v2`` on its PATH; rtlab's wrapper
``containerd-shim-rtlab-crun-v2`` puts a folder first on PATH whose ``runc`` is
crun (or a script running ``runsc --network=none``) and execs the stock
``containerd-shim-runc-v2`` (see daemons.py's docstring). Wrappers live in
``/var/lib/rtlab/bin`` (on the PATH of the containerd rtlab starts), their
``runc`` stand-ins in ``/var/lib/rtlab/shim/<runtime>/``. daemons.py re-exports
these names.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from rtlab.core.image import STATE_DIR
from rtlab.core.runtimes import KNOWN, Runtime

Say = Callable[[str], None]

SHIM_BIN_DIR = STATE_DIR / "bin"
SHIM_RUNC_DIR = STATE_DIR / "shim"
RUNC_SHIM = "io.containerd.runc.v2"
RUNC_SHIM_BINARY = "containerd-shim-runc-v2"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "rt"


def shim_runtime(runtime: Runtime) -> str:
    """The containerd runtime name ctr uses for ``runtime``."""
    if runtime.name == "runc" and not runtime.flags and runtime.binary == "runc":
        return RUNC_SHIM
    return f"io.containerd.rtlab-{_slug(runtime.name)}.v2"


def shim_paths(runtime: Runtime) -> tuple[Path, Path]:
    """(the shim wrapper, the ``runc`` stand-in it puts first on PATH)."""
    slug = _slug(runtime.name)
    return SHIM_BIN_DIR / f"containerd-shim-rtlab-{slug}-v2", SHIM_RUNC_DIR / slug / "runc"


def _write_if_changed(path: Path, text: str, mode: int = 0o755) -> bool:
    if path.is_file() and not path.is_symlink() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
    return True


def ensure_shim(runtime: Runtime) -> str | None:
    """Write the shim wrapper for ``runtime`` (idempotent); None, or why it cannot be."""
    if shim_runtime(runtime) == RUNC_SHIM:
        return None
    binary = runtime.path()
    if binary is None:
        return f"{runtime.binary} not found"
    stock = shutil.which(RUNC_SHIM_BINARY)
    if stock is None:
        return f"{RUNC_SHIM_BINARY} not found (Debian package containerd)"
    wrapper, runc = shim_paths(runtime)
    if runtime.flags:  # global flags need a script, as dockerd writes for runtimeArgs
        _write_if_changed(
            runc,
            flags_script(
                binary, runtime.flags, "the runtime containerd's runc shim runs as `runc`"
            ),
        )
    elif not (runc.is_symlink() and os.readlink(runc) == binary):
        runc.parent.mkdir(parents=True, exist_ok=True)
        tmp = runc.with_name("runc.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(binary)
        tmp.replace(runc)
    wrapper_text = (
        "#!/bin/sh\n"
        f"# rtlab: containerd's runc shim driving {runtime.name}: "
        f"{shlex.join([binary, *runtime.flags])}; see rtlab/host/daemons.py\n"
        f"PATH={_sh_quote(str(runc.parent))}:$PATH\nexport PATH\n"
        f'exec {_sh_quote(stock)} "$@"\n'
    )
    _write_if_changed(wrapper, wrapper_text)
    return None


def _sh_quote(s: str) -> str:
    return shlex.quote(s)


def flags_script(binary: str, flags: Iterable[str], comment: str) -> str:
    """A script running ``binary`` with ``flags`` before its own arguments (as dockerd
    writes for runtimeArgs): ctr's shims here, the CRI's handlers (cri.py)."""
    return (
        "#!/bin/sh\n"
        f"# rtlab: {comment}\n"
        f'exec {_sh_quote(binary)} {" ".join(map(_sh_quote, flags))} "$@"\n'
    )


def install_shims(say: Say = print, runtimes: Iterable[Runtime] = ()) -> list[str]:
    """Shim wrappers for every known runtime other than runc (and ``runtimes``)."""
    written = []
    for rt in [*KNOWN.values(), *runtimes]:
        if shim_runtime(rt) == RUNC_SHIM or rt.path() is None:
            continue
        wrapper, _ = shim_paths(rt)
        existed = wrapper.exists()
        if ensure_shim(rt) is None and not existed:
            written.append(rt.name)
    if written:
        msg = f"installed containerd shim wrappers for {', '.join(written)} in {SHIM_BIN_DIR}"
        say(f"containerd: {msg}")
        return [msg]
    return []
