"""collect's one front door (collect/front.py, issue 32): the command line (``rtlab collect``,
``rtlab report``) and notebook 01 (``front.collect_options``) pass the same checks, each
written once; a bad value is one line naming it and what is accepted, in the caller's
words (a notebook's names its parameter), exit 2 on the command line, nothing run."""

from __future__ import annotations

import pytest

from rtlab import cli
from rtlab.collect import front
from rtlab.collect.clients import CLIENTS
from rtlab.collect.collect import CollectOptions
from rtlab.core import options
from rtlab.core.runtimes import default_names
from rtlab.core.usage import ParameterError, UsageError

KNOWN_CLIENTS = ", ".join(CLIENTS)
KNOWN_RUNTIMES = ", ".join(default_names())

# (command line, its line after "rtlab collect: error: ", notebook 01's parameters, its line)
CASES = [
    (
        ["--clients", "kube"],
        f"unknown client 'kube'; known: {KNOWN_CLIENTS}",
        {"clients": "oci,kube"},
        f"clients: unknown client 'kube'; known: {KNOWN_CLIENTS}",
    ),
    (
        ["--runtimes", "nope"],
        f"unknown runtime 'nope'; known: {KNOWN_RUNTIMES} (or add one with --runtime "
        "name=/path[:flags])",
        {"runtimes": "runc,nope"},
        f"runtimes: unknown runtime 'nope'; known: {KNOWN_RUNTIMES} (or add one in "
        "custom_runtimes as 'NAME=/PATH[:FLAGS]')",
    ),
    (
        ["--experiment", "nope"],
        "unknown experiment 'nope'; known: ",
        {"experiment": "nope"},
        "experiment: unknown experiment 'nope'; known: ",  # the schema's own check
    ),
    (
        ["--steps", "bogus"],
        "--steps: unknown step 'bogus' of experiment 'lifecycle'; its steps: ",
        {"steps": "bogus"},
        "experiment/steps: --steps: unknown step 'bogus' of experiment 'lifecycle'",
    ),
    (
        ["--experiment", "pause", "--steps", "run"],
        "--steps: unknown step 'run' of experiment 'pause'",
        {"experiment": "pause", "steps": "run"},
        "experiment/steps: --steps: unknown step 'run' of experiment 'pause'",
    ),
    (
        ["--bundle", "/nonexistent-bundle"],
        "--bundle /nonexistent-bundle: no config.json there",
        {"bundle": "/nonexistent-bundle"},
        "--bundle /nonexistent-bundle: no config.json there",
    ),
    (
        ["--study", "lowlevel", "--clients", "oci"],
        "study 'lowlevel' measures the clients docker: --clients oci leaves none",
        {"study": "lowlevel", "clients": "oci"},
        "study = 'lowlevel': study 'lowlevel' measures the clients docker: --clients oci "
        "leaves none",
    ),
]


@pytest.mark.parametrize("args,line,given,nb_line", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_each_bad_value_is_one_line_from_the_command_line_and_notebook_01(
    args, line, given, nb_line, tmp_path, capsys
):
    out = tmp_path / "out"
    code = cli.main(["collect", *args, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"rtlab collect: error: {line}"), err
    assert not out.exists()
    with pytest.raises(ParameterError) as caught:
        front.collect_options(**{"clients": "oci", "runtimes": "runc", **given})
    assert str(caught.value).startswith(nb_line), str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("args,line", [(c[0], c[1]) for c in CASES[:6]], ids=str)
def test_rtlab_report_says_the_same_line_before_any_notebook_runs(
    args, line, tmp_path, capsys, monkeypatch
):
    from rtlab.report import report

    def must_not_run(*_, **__):
        raise AssertionError("a notebook ran with a bad value")

    monkeypatch.setattr(report, "run_notebook", must_not_run)
    code = cli.main(["report", *args, "--reports-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"rtlab report: error: {line}"), err


def test_the_api_gate_checks_a_record_built_by_hand():
    with pytest.raises(UsageError, match=f"^unknown client 'kube'; known: {KNOWN_CLIENTS}$"):
        front.validate(CollectOptions(clients=["kube"], runtimes=["runc"]))
    with pytest.raises(UsageError, match="^no runtime given; known: "):
        front.validate(CollectOptions(clients=["oci"], runtimes=[]))
    with pytest.raises(
        UsageError, match="^paces: -1.0: must be 0 or a number of seconds up to 60$"
    ):
        front.validate(CollectOptions(clients=["oci"], runtimes=["runc"], paces=[-1.0]))


def test_the_command_line_and_notebook_01_build_the_same_options(tmp_path):
    """The same choices through both doors: the same record (the notebook's defaults are
    given explicitly; its paths are taken from the repository root)."""
    values = {"clients": "oci", "runtimes": "runc,crun", "trials": 4, "warmup": 1, "seed": 7}
    notebook = front.collect_options(progress=False, **values, paces="0,10ms")
    args = cli.build_parser().parse_args(
        ["collect", "--clients", "oci", "--runtimes", "runc,crun", "--trials", "4",
         "--warmup", "1", "--seed", "7", "--paces", "0,10ms", "--timeout", "30"]
    )  # fmt: skip
    cli_values, given = options.from_namespace(args, "collect")
    command = front.from_values(cli_values, "collect", given=given, progress=False)
    for name in ("clients", "runtimes", "trials", "warmup", "seed", "paces", "timeout_s"):
        assert getattr(command, name) == getattr(notebook, name), name
    assert notebook.out is None and command.out is None
