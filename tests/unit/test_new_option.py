"""Issue 19, item 1: a made-up experiment with a made-up option, added in-process by its
own module (an ``Experiment`` in experiments.EXPERIMENTS and one ``options.register``),
appears in ``collect --help``, notebook 01's parameter checking, run.json and resume."""

from __future__ import annotations

import json

import pytest

from rtlab import cli
from rtlab.collect import front, session
from rtlab.collect.collect import options_for_resume
from rtlab.core import experiments, options
from rtlab.core.results import load_trials
from rtlab.host import cleanup
from rtlab.report import params


@pytest.fixture
def burst(monkeypatch, tmp_path):
    """The made-up experiment's module: its experiment and its option, nothing else."""
    monkeypatch.setitem(
        experiments.EXPERIMENTS,
        "burst",
        experiments.Experiment(
            "burst",
            "k one-shot runs released together (made up for this test)",
            chains=((experiments.RUN,),),
        ),
    )
    option = options.register(
        options.Option(
            "burst_k",
            options.Whole(1),
            3,
            "containers released together",
            ("collect", "report", "01"),
            metavar="K",
            record="burst_k",
            resume="keep",
            experiments=("burst",),
        )
    )
    # rtlab's locks and work folders in tmp_path (the in-process collect below)
    monkeypatch.setattr(cleanup, "RUNTIME_DIR", tmp_path / "run")
    monkeypatch.setattr(session, "RUNTIME_DIR", tmp_path / "run")
    yield option
    options.unregister(option)


def test_it_appears_in_collect_help(burst):
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command").choices["collect"]
    # argparse wraps help at spaces and after hyphens ("one-" / "shot"): join both back
    text = " ".join(sub.format_help().split()).replace("- ", "-")
    assert "--burst-k K containers released together (default 3)" in text
    assert "burst: k one-shot runs released together" in text


def test_notebook_01_checks_it(burst):
    given = params.parameters(
        "01",
        {"experiment": "burst", "burst_k": 5, "clients": "oci", "runtimes": "runc", "other": 1},
    )
    assert given == {"experiment": "burst", "burst_k": 5, "clients": "oci", "runtimes": "runc"}
    assert front.collect_options(**given).extra["burst_k"] == 5
    assert front.collect_options(experiment="burst").extra["burst_k"] == 3
    assert "burst_k" not in front.collect_options().extra  # only with its experiment
    with pytest.raises(
        params.ParameterError,
        match=r"^burst_k = 0: must be a whole number of "
        r"at least 1$",
    ):
        front.collect_options(experiment="burst", burst_k=0)
    with pytest.raises(params.ParameterError, match="burst_k = 5: only with experiment burst"):
        front.collect_options(experiment="lifecycle", burst_k=5)


def test_run_json_records_it_and_resume_keeps_it(burst, fake, tmp_path, capsys):
    spec, _ = fake("fa")
    out = tmp_path / "out"
    code = cli.main(
        [
            "collect",
            "--experiment",
            "burst",
            "--burst-k",
            "5",
            "--runtime",
            spec,
            "--runtimes",
            "fa",
            "--trials",
            "1",
            "--warmup",
            "0",
            "--pace",
            "0",
            "--out",
            str(out),
            "--no-progress",
            "--allow-concurrent",
        ]
    )
    assert code == 0, capsys.readouterr()
    meta = json.loads((out / "run.json").read_text())
    assert meta["parameters"]["burst_k"] == 5 and meta["parameters"]["experiment"] == "burst"
    assert options_for_resume(out).extra["burst_k"] == 5
    # an option --resume keeps is refused when given again, in one line
    assert cli.main(["collect", "--resume", str(out), "--burst-k", "6"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f"rtlab collect: error: --resume {out} keeps the --burst-k the run recorded; "
        "drop --burst-k 6"
    )
    # an interrupted run (asked for 2 trials, made 1) resumes with the recorded value
    meta["parameters"]["trials"], meta["status"] = 2, "interrupted"
    (out / "run.json").write_text(json.dumps(meta))
    assert cli.main(["collect", "--resume", str(out), "--no-progress", "--allow-concurrent"]) == 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["parameters"]["burst_k"] == 5 and len(meta["resumed"]) == 1
    assert sorted(load_trials(out).trial.unique()) == [0, 1]


def test_it_is_refused_with_another_experiment_on_the_command_line(burst, capsys):
    assert cli.main(["collect", "--burst-k", "4"]) == 2
    assert capsys.readouterr().err.strip() == (
        "rtlab collect: error: --burst-k 4: only with --experiment burst; drop it or choose "
        "that experiment"
    )


def test_without_it_nothing_else_knows_the_option():
    assert "burst_k" not in {o.name for o in options.OPTIONS}
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command").choices["collect"]
    assert "--burst-k" not in sub.format_help()


def test_report_hands_it_to_notebook_01_only_with_its_experiment(burst, monkeypatch):
    import rtlab.report.report

    seen = []

    def fake_make_report(parameters, **_):
        seen.append(parameters)
        raise rtlab.report.report.ReportError("stop here")

    monkeypatch.setattr(rtlab.report.report, "make_report", fake_make_report)
    assert cli.main(["report", "--runtimes", "runc"]) == 1
    assert (
        cli.main(["report", "--runtimes", "runc", "--experiment", "burst", "--burst-k", "7"]) == 1
    )
    assert "burst_k" not in seen[0] and seen[1]["burst_k"] == 7
    options.check("01", seen[0]), options.check("01", seen[1])  # notebook 01 takes both
