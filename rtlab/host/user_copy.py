"""A copy of rtlab that every user of the host can run: ``analyze``, ``compare`` and
``report --runs`` for users who cannot read the checkout (a root user's clone sits in
``/root``, mode 0700, and so does a pyenv interpreter there).

``rtlab setup`` (so ``make setup``, ``make report`` and ``make test``) keeps it in step
with the checkout it runs from:

- ``APP_DIR/venv``: a venv of Debian's ``/usr/bin/python3`` with requirements.lock's
  packages (the ones collect and analyse need; remade only when the lock changes);
- ``APP_DIR/src``: a copy of the checkout's ``rtlab/``, ``notebooks/`` and
  ``data/reference/`` (the study's figures), on the venv's path (copied anew at every
  set-up);
- ``APP_DIR/bin/rtlab``: the command, e.g. ``/var/lib/rtlab/app/bin/rtlab analyze RUN``.

Everything is readable by all (mode 0755/0644 whatever root's umask). It lives in rtlab's
state folder, so ``make purge`` removes it with the rest. Stdlib only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from rtlab.core.image import STATE_DIR

APP_DIR = STATE_DIR / "app"
SYSTEM_PYTHON = "/usr/bin/python3"
REPO = Path(__file__).resolve().parents[2]
# what rtlab reads from its checkout: the package, the notebooks, the study's figures
COPIED = ("rtlab", "notebooks", "data/reference", "pyproject.toml")
STAMP = ".rtlab-installed"


class UserCopyError(RuntimeError):
    """The copy could not be made: one line saying why."""


def command() -> Path:
    """The command another user runs."""
    return APP_DIR / "bin" / "rtlab"


def python() -> Path:
    """The copy's interpreter (a venv of :data:`SYSTEM_PYTHON`)."""
    return APP_DIR / "venv" / "bin" / "python"


def missing() -> str:
    """Why the copy is not usable now ("" when it is): for tests and doctor."""
    if not python().is_file():
        return f"no user copy at {APP_DIR}: rtlab setup makes it"
    if not command().is_file():
        return f"no command {command()}: rtlab setup makes it"
    return ""


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, cwd="/")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()
        raise UserCopyError(f"{what}: exit {done.returncode}" + (f": {tail[-1]}" if tail else ""))


def _want(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes() + os.path.realpath(SYSTEM_PYTHON).encode()).hexdigest()[
        :16
    ]


def _venv(lock: Path, say: Callable[[str], None]) -> bool:
    """Make (or keep) the venv with the lock's packages; True when it was (re)made."""
    venv = APP_DIR / "venv"
    stamp = venv / STAMP
    want = _want(lock)
    if python().is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return False
    if not Path(SYSTEM_PYTHON).is_file():
        raise UserCopyError(f"{SYSTEM_PYTHON} not found: apt-get install python3 python3-venv")
    say(f"user copy: installing {lock.name}'s packages into {venv} (Debian's python3)")
    shutil.rmtree(venv, ignore_errors=True)
    _run([SYSTEM_PYTHON, "-m", "venv", str(venv)], f"{SYSTEM_PYTHON} -m venv {venv}")
    _run([str(python()), "-m", "pip", "install", "-q", "--upgrade", "pip"], "pip upgrade")
    _run([str(python()), "-m", "pip", "install", "-q", "-r", str(lock)], f"pip install -r {lock}")
    _run(
        [str(python()), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
        "ipykernel install",
    )
    stamp.write_text(want + "\n")
    return True


def _site_packages() -> Path:
    found = sorted((APP_DIR / "venv" / "lib").glob("python3*/site-packages"))
    if not found:
        raise UserCopyError(f"no site-packages in {APP_DIR / 'venv'}")
    return found[-1]


def _source() -> None:
    """Copy the checkout's rtlab and notebooks to APP_DIR/src (replacing the last copy)."""
    new, src = APP_DIR / "src.new", APP_DIR / "src"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")
    for name in COPIED:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, new / name, ignore=skip)
        else:
            shutil.copy2(path, new / name)
    shutil.rmtree(src, ignore_errors=True)
    new.rename(src)
    (_site_packages() / "rtlab-user-copy.pth").write_text(f"{src}\n")
    launcher = command()
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(f'#!/bin/sh\nexec {python()} -m rtlab "$@"\n')
    launcher.chmod(0o755)


def install(say: Callable[[str], None] = print) -> list[str]:
    """Make the copy or bring it in step with this checkout (as root); what changed."""
    lock = REPO / "requirements.lock"
    if not lock.is_file() or not (REPO / "notebooks").is_dir():
        say(f"user copy: not made: {REPO} is not an rtlab checkout")
        return []
    old = os.umask(0o022)  # readable by every user, whatever root's umask
    try:
        APP_DIR.mkdir(parents=True, exist_ok=True)
        for folder in (STATE_DIR, APP_DIR):  # rtlab's own folders: others traverse them
            folder.chmod(folder.stat().st_mode | 0o755)
        made = _venv(lock, say)
        _source()
    finally:
        os.umask(old)
    say(f"user copy: {command()} runs this checkout's rtlab for any user")
    return [f"made the user copy at {APP_DIR}"] if made else []
