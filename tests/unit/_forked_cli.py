"""Run many rtlab command lines, each in its own process, forked from one that imported
rtlab once: per command line what ``python -m rtlab ARGS`` gives (exit code, stdout,
stderr, a traceback and exit 1 for an exception that escapes), without an interpreter
start and rtlab's imports each time (tests/unit/test_cli_bad_input.py).

Run as a script (or its :func:`main`) it reads a JSON list of argument lists (its first
argument, or stdin) and writes a JSON list of ``[returncode, stdout, stderr]`` on stdout,
with the repository as the working folder (first on ``sys.path``, as it is for ``python -m
rtlab``); :func:`run_many` runs it from a test.

Run with ``--serve`` it is a server for :func:`rtlab_forked`, one command line at a time,
each forked from a process that imported the third-party libraries (not rtlab) once.
"""

from __future__ import annotations

import atexit
import json
import math
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


def _child(argv: list[str], out: int, err: int, timeout_s: int = TIMEOUT_S) -> None:
    code = 1
    try:
        signal.alarm(timeout_s)  # a command that hangs is killed (SIGALRM), as a timeout
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        try:
            if argv[:1] == ["-c"]:  # python -c CODE ARGS
                sys.argv = ["-c", *argv[2:]]
                exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
            else:
                sys.argv = [os.path.join(os.getcwd(), "rtlab", "__main__.py"), *argv]
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


def run(argv: list[str], timeout_s: int = TIMEOUT_S, enter=None) -> list[object]:
    """``[returncode, stdout, stderr]`` of ``argv`` run in a fork of this process (``enter``,
    if given, called first in the fork: the request's environment, folder and path)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                if enter is not None:
                    enter()
            finally:
                _child(argv, out.fileno(), err.fileno(), timeout_s)
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

    cases = json.loads(sys.argv[1]) if sys.argv[1:] else json.load(sys.stdin)
    json.dump([run(argv) for argv in cases], sys.stdout)


def run_many(
    cases: Sequence[Sequence[str]], env: Mapping[str, str] | None = None
) -> list[subprocess.CompletedProcess]:
    """Each of ``cases`` (rtlab's arguments) as ``python -m rtlab`` run in the repository
    would give it (tests/conftest.py's ``rtlab``), one interpreter start for all (a fork
    of :func:`python_forked`'s server, its third-party libraries imported already)."""
    r = python_forked(
        "-c",
        f"import runpy; runpy.run_path({str(Path(__file__).resolve())!r})['main']()",
        json.dumps([list(args) for args in cases]),
        env=env,
        timeout=TIMEOUT_S * 2,
    )
    assert r.returncode == 0, r.stderr
    return [
        subprocess.CompletedProcess(["rtlab", *args], *result)
        for args, result in zip(cases, json.loads(r.stdout))
    ]


# What `python -m rtlab` spends most of its start on (about 85% of `rtlab collect`'s): the
# third-party libraries, which read no RTLAB_* variable. The server below imports them
# once; each command line then imports rtlab itself afresh in its own fork, so that
# rtlab's import-time settings (core/image.py's RTLAB_RUNTIME_DIR, …) come from its env.
PRELOAD = (
    "numpy",
    "pandas",
    "scipy.special",
    "scipy.stats",
    "grpc",
    "cri_api.v1",
    "tqdm",
    "urllib.request",
    "matplotlib.pyplot",
    "seaborn",
)


def _serve_one(request: dict) -> list[object]:
    def enter() -> None:
        env = request["env"]
        os.environ.clear()
        os.environ.update(env)
        os.chdir(request["cwd"])
        # sys.path as `python -m`/`-c` started in cwd with env's PYTHONPATH has it
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[0:1] = [request["cwd"], *extra]
        sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))

    return run(request["argv"], request["timeout"], enter)


def serve() -> None:
    """Answer requests (JSON lines: argv, env, timeout) with results (JSON lines:
    returncode, stdout, stderr), each command line run in a fork of this process."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    assert not any(m == "rtlab" or m.startswith("rtlab.") for m in sys.modules)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stray prints of a library: not replies
    for line in sys.stdin:
        replies.write(json.dumps(_serve_one(json.loads(line))) + "\n")
        replies.flush()


class _Server:
    """One server process per test process (an xdist worker), started when first used."""

    proc: subprocess.Popen | None = None
    env: dict[str, str] = {}

    @staticmethod
    def stop(proc: subprocess.Popen) -> None:
        """End of input: the server returns; waited for (its CPU counts in this process's)."""
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @classmethod
    def run(cls, argv: list[str], env: dict[str, str], cwd: str, timeout: float) -> list[object]:
        if cls.proc is None or cls.proc.poll() is not None:
            cls.env = dict(os.environ)
            cls.proc = subprocess.Popen(
                [sys.executable, __file__, "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=cls.env,
                cwd=REPO,
            )
            atexit.register(cls.stop, cls.proc)
        assert cls.proc.stdin is not None and cls.proc.stdout is not None
        request = {"argv": argv, "env": env, "cwd": cwd, "timeout": max(1, math.ceil(timeout))}
        cls.proc.stdin.write(json.dumps(request) + "\n")
        cls.proc.stdin.flush()
        reply = cls.proc.stdout.readline()
        assert reply, "the rtlab fork server died"
        return json.loads(reply)


# What the forks can differ in from the server's environment: what the preloaded libraries
# do not read (rtlab's own variables, pytest's PYTEST_CURRENT_TEST, which names the phase of
# the test that copied os.environ) and what the fork sets itself (sys.path, bytecode).
OWN_VARIABLES = ("RTLAB_", "PYTEST_", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")


def python_forked(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path = REPO, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python ARGS`` (``-m rtlab …`` or ``-c CODE …``) started in ``cwd`` with ``env``, run
    in a fork of a process that imported the third-party libraries already (:func:`serve`):
    rtlab is imported afresh each time, from ``cwd`` (and PYTHONPATH) with ``env``; one still
    running after ``timeout`` is killed (SIGALRM: returncode -14) instead of raising
    TimeoutExpired. With an environment that differs from this process's in a variable the
    preloaded libraries might read (not :data:`OWN_VARIABLES`), a new interpreter runs it."""
    env = dict(os.environ if env is None else env)
    differs = {
        k
        for k in env.keys() | os.environ.keys()
        if env.get(k) != os.environ.get(k) and not k.startswith(OWN_VARIABLES)
    }
    if differs or (args[:2] != ("-m", "rtlab") and args[:1] != ("-c",)):
        return subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd,
            timeout=timeout,
        )  # fmt: skip
    argv = list(args[2:]) if args[0] == "-m" else list(args)
    code, out, err = _Server.run(argv, env, str(cwd), timeout)
    return subprocess.CompletedProcess([sys.executable, *args], code, out, err)


def rtlab_forked(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """tests/conftest.py's ``rtlab`` (``python -m rtlab ARGS`` in the repository) through
    :func:`python_forked`."""
    return python_forked("-m", "rtlab", *args, env=env, timeout=timeout)


if __name__ == "__main__":
    serve() if sys.argv[1:] == ["--serve"] else main()
