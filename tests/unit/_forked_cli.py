"""Run many rtlab command lines, each in its own process, forked from one that imported
rtlab once: per command line what ``python -m rtlab ARGS`` gives (exit code, stdout,
stderr, a traceback and exit 1 for an exception that escapes), without an interpreter
start and rtlab's imports each time (tests/unit/test_cli_bad_input.py).

Run as a script it reads a JSON list of argument lists on stdin and writes a JSON list of
``[returncode, stdout, stderr]`` on stdout, with the repository as the working folder (first
on ``sys.path``, as it is for ``python -m rtlab``); :func:`run_many` runs it from a test.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TIMEOUT_S = 300


def _exit_code(code: object) -> int:
    """What the interpreter exits with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _child(argv: list[str], out: int, err: int) -> None:
    code = 1
    try:
        signal.alarm(TIMEOUT_S)  # a command that hangs is killed (SIGALRM), as a timeout
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.argv = [os.path.join(os.getcwd(), "rtlab", "__main__.py"), *argv]
        try:
            runpy.run_module("rtlab", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code)
        except BaseException:  # as the interpreter: the traceback on stderr, exit 1
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run(argv: list[str]) -> list[object]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(argv, out.fileno(), err.fileno())
        _, status = os.waitpid(pid, 0)
        texts = []
        for f in (out, err):
            f.seek(0)
            texts.append(f.read().decode())
    return [os.waitstatus_to_exitcode(status), *texts]


def main() -> None:
    sys.path.insert(0, os.getcwd())
    # once, before the forks: each command line starts from them (cli.py imports the
    # commands' modules when a command runs)
    import rtlab.analysis.compare  # noqa: F401
    import rtlab.cli  # noqa: F401
    import rtlab.report.report  # noqa: F401

    cases = json.load(sys.stdin)
    json.dump([run(argv) for argv in cases], sys.stdout)


def run_many(
    cases: Sequence[Sequence[str]], env: Mapping[str, str] | None = None
) -> list[subprocess.CompletedProcess]:
    """Each of ``cases`` (rtlab's arguments) as ``python -m rtlab`` run in the repository
    would give it (tests/conftest.py's ``rtlab``), one interpreter start for all."""
    r = subprocess.run(
        [sys.executable, __file__],
        input=json.dumps([list(args) for args in cases]),
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        cwd=REPO,
        timeout=TIMEOUT_S * 2,
    )
    assert r.returncode == 0, r.stderr
    return [
        subprocess.CompletedProcess(["rtlab", *args], *result)
        for args, result in zip(cases, json.loads(r.stdout))
    ]


if __name__ == "__main__":
    main()
