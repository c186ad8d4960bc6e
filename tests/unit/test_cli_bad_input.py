"""Bad input: one clear line naming the value and what is accepted, exit 2, nothing run."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from _forked_cli import rtlab_forked as rtlab
from _forked_cli import run_many

from rtlab.collect.clients import CLIENTS

CASES = [
    (["collect", "--runtimes", "nope"], "unknown runtime 'nope'; known: runc, crun"),
    (["collect", "--clients", "kube"], "unknown client 'kube'; known: oci"),
    (["collect", "--trials", "0"], "--trials: '0': must be at least 1"),
    (["collect", "--trials", "many"], "--trials: 'many' is not a whole number"),
    (["collect", "--warmup", "-1"], "--warmup: '-1': must be 0 or more"),
    (["collect", "--timeout", "abc"], "--timeout: 'abc' is not a number of seconds"),
    (["collect", "--timeout", "0"], "--timeout: '0': must be a number of seconds above 0"),
    (["collect", "--seed", "x1"], "--seed: 'x1' is not a whole number"),
    (["collect", "--out", "/proc/rtlab-no/such"], "--out /proc/rtlab-no/such: cannot write there"),
    (["collect", "--runtime", "bad"], "--runtime 'bad': expected name=/path/to/binary[:flags]"),
    (["collect", "--runtime", "x=relative/path"], "the binary must be an absolute path"),
    (
        ["collect", "--runtime", "ev\nil=/bin/true"],
        "--runtime 'ev\\nil=/bin/true': runtime name 'ev\\nil': use lower-case letters, digits",
    ),
    (["collect", "--runtime", "Big Name=/bin/true"], "runtime name 'Big Name': use lower-case"),
    (
        ["collect", "--runtime", "ok=/bin/tr\tue"],
        "binary '/bin/tr\\tue': give a path without control characters",
    ),
    (["collect", "--runtime", "ok=/bin/true:--x\x1b"], "flag '--x\\x1b': flags hold no control"),
    (["report", "--runtime", "ev\nil=/bin/true"], "runtime name 'ev\\nil'"),
    (["doctor", "--runtime=-x=/bin/true"], "runtime name '-x'"),
    (["clean", "--runtime", "a/b=/bin/true"], "runtime name 'a/b'"),
    (
        ["collect", "--resume", "data/sample/run-1", "--trials", "3"],
        "keeps the --trials the run recorded; drop --trials 3",
    ),
    (["doctor", "--runtimes", "nope"], "unknown runtime 'nope'"),
    (["doctor", "--timeout", "-3"], "--timeout: '-3': must be a number of seconds above 0"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["collect", "--until-ci", "2"], "--until-ci: '2': must be between 0 and 1"),
    (["collect", "--until-ci", "abc"], "--until-ci: 'abc' is not a number"),
    (["collect", "--min-trials", "0"], "--min-trials: '0': must be at least 1"),
    (["collect", "--max-trials", "x"], "--max-trials: 'x' is not a whole number"),
    (["collect", "--resume", "/nonexistent-run"], "--resume: /nonexistent-run: no run.json"),
    (["collect", "--study", "bogus"], "--study: invalid choice: 'bogus'"),
    (["collect", "--image", ""], "--image is empty"),
    (
        ["collect", "--bundle", "/nonexistent-bundle"],
        "--bundle /nonexistent-bundle: no config.json there",
    ),
    (["doctor", "--clients", "bogus"], f"unknown client 'bogus'; known: {', '.join(CLIENTS)}"),
    (["report", "--trials", "0"], "--trials: '0': must be at least 1"),
    (["collect", "--experiment", "nope"], "unknown experiment 'nope'; known: lifecycle, pause"),
    (
        ["collect", "--steps", "bogus"],
        "--steps: unknown step 'bogus' of experiment 'lifecycle'; "
        "its steps: create, start, kill, delete, run",
    ),
    (
        ["collect", "--experiment", "pause", "--steps", "run"],
        "unknown step 'run' of experiment 'pause'",
    ),
    (["report", "--experiment", "nope"], "unknown experiment 'nope'"),
    (
        ["analyze", "/nonexistent-run", "--out", "/tmp/x"],
        "RUN_DIR: '/nonexistent-run' does not exist",
    ),
    (
        ["analyze", "data/sample", "--alpha", "2", "--out", "/tmp/x"],
        "--alpha: '2': must be between 0 and 1",
    ),
    (["compare", "/nonexistent-a", "/tmp"], "RUN_A: '/nonexistent-a' does not exist"),
    (
        ["compare", "data/sample", "data/sample", "--threshold", "-1"],
        "--threshold: '-1': must be a fraction",
    ),
    (
        ["analyze", "data/sample", "--margin", "1.5", "--out", "/tmp/x"],
        "--margin: '1.5': must be between 0 and 1",
    ),
    (["compare", "data/sample", "data/sample", "--margin", "x"], "--margin: 'x' is not a number"),
    (["report", "--margin", "0"], "--margin: '0': must be between 0 and 1"),
    (["collect", "--pace", "-1"], "--pace -1: "),
    (["collect", "--pace", "5parsecs"], "--pace 5parsecs: not a duration; use 0 or"),
    (["report", "--paces", "0,10ms,lots"], "--paces"),
    (["collect", "--pace", "10ms", "--paces", "0,1s"], "not allowed with argument"),
    (
        ["collect", "--resume", "data/sample/run-1", "--pace", "0"],
        "keeps the pace the run recorded",
    ),
]


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every case's command line run as ``python -m rtlab`` would (its own process, exit
    code, stdout, stderr), each forked from one process that imported rtlab once
    (_forked_cli.py): 50 interpreter starts and imports fewer (make test-fast)."""
    env = {**os.environ, "RTLAB_RUNTIME_DIR": str(tmp_path_factory.mktemp("run"))}
    runs = run_many([args for args, _ in CASES], env=env)
    return {json.dumps(args): r for (args, _), r in zip(CASES, runs)}


@pytest.mark.parametrize("args,expected", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(args, expected, bad_input_runs):
    r = bad_input_runs[json.dumps(args)]
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert expected in lines[0]
    assert "Traceback" not in r.stderr


def test_output_folder_that_is_not_empty_is_refused_and_kept(rt_env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("collected before")
    r = rtlab("collect", "--out", str(out), env=rt_env)
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == f"rtlab collect: error: --out {out}: exists and is not empty; give a new or empty folder"
    )
    assert (out / "keep.txt").read_text() == "collected before"


def test_output_under_a_file_is_unwritable(rt_env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = rtlab("collect", "--out", str(blocker / "run"), env=rt_env)
    assert r.returncode == 2 and "cannot write there" in r.stderr


def test_nothing_available_is_an_error_and_leaves_no_folder(rt_env, tmp_path):
    out = tmp_path / "out"
    r = rtlab(
        "collect",
        "--out",
        str(out),
        "--runtimes",
        "ghost",
        "--runtime",
        "ghost=/nonexistent/ghost-runtime",
        env=rt_env,
    )
    assert r.returncode == 2
    assert (
        "nothing to measure: oci/ghost: not installed (/nonexistent/ghost-runtime not found; the path given with --runtime)"
        in r.stderr
    )
    assert not out.exists()


def test_trace_without_bpftrace_is_refused_in_one_line_naming_the_package(rt_env, tmp_path):
    """A feature's missing tool: refused before the run (no folder, no traceback), exit 2,
    the line names the Debian package. bpftrace is taken off PATH (an empty PATH folder)."""
    out = tmp_path / "out"
    empty = tmp_path / "bin"
    empty.mkdir()
    r = rtlab(
        "collect", "--trace", "--runtimes", "runc", "--out", str(out),
        env={**rt_env, "PATH": str(empty)},
    )  # fmt: skip
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert lines == [
        "rtlab collect: error: --trace needs bpftrace, which is not on PATH: "
        "apt-get install bpftrace (the Debian package; rtlab setup installs it)"
    ]
    assert not out.exists()
