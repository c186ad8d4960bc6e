"""The option schema (rtlab/core/options.py): argparse, the notebooks' parameters, run.json,
--resume and the README are derived from it, and agree."""

from __future__ import annotations

import argparse
import ast
import json

import pytest

from rtlab.cli import build_parser
from rtlab.collect import front
from rtlab.core import options
from rtlab.core.options import OPTIONS, OptionError, default
from rtlab.report import params
from tests.conftest import REPO


def _notebook_cell(name: str) -> dict:
    """The notebook's parameters cell: name → (literal, help comment)."""
    nb = json.loads((REPO / "notebooks" / name).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"])
    out = {}
    for node in ast.parse(source).body:
        out[node.target.id] = ast.literal_eval(node.value)
    return out


def _subparser(command: str) -> argparse.ArgumentParser:
    return next(a for a in build_parser()._actions if a.dest == "command").choices[command]


@pytest.mark.parametrize("command", ["collect", "report", "analyze", "compare", "doctor"])
def test_every_option_of_a_command_is_on_its_parser_with_the_schemas_default(command):
    sub = _subparser(command)
    dests = {a.dest: a for a in sub._actions}
    text = sub.format_help()
    for o in options.options_for(command):
        assert o.name in dests, (command, o.name)
        if not o.positional:
            assert o.cli_flag in dests[o.name].option_strings
        shown = o.kind.show(o.default_for(command))
        if shown and not isinstance(o.kind, options.Flag) and "default" not in o.help:
            assert f"(default {shown})" in " ".join(text.split()), (command, o.name, shown)


def test_parsed_values_take_the_defaults_of_their_layer():
    parser = build_parser()
    values, given = options.from_namespace(parser.parse_args(["report"]), "report")
    assert values["trials"] == default("trials", "report") == 20 != default("trials")
    assert values["study"] == "all" and given == set()
    values, given = options.from_namespace(
        parser.parse_args(["collect", "--trials", "3", "--pace", "10ms"]), "collect"
    )
    assert (values["trials"], values["pace"], values["warmup"]) == (3, 0.01, default("warmup"))
    assert given == {"trials", "pace"}
    assert values["paces"] == default("paces") == (options.DEFAULT_PACE_S,)
    values, _ = options.from_namespace(parser.parse_args(["doctor"]), "doctor")
    assert values["probe_timeout"] == default("probe_timeout", "doctor") == 20.0


@pytest.mark.parametrize(
    "notebook,where",
    [("01-collect.ipynb", "01"), ("02-analyze.ipynb", "02"), ("03-compare-runs.ipynb", "03")],
)
def test_each_notebook_cell_lists_schema_options_with_their_defaults(notebook, where):
    cell = _notebook_cell(notebook)
    for name, literal in cell.items():
        o = options.get(name, where)
        assert o.applies(where), (notebook, name)
        expected = (
            o.kind.check(o.default_for(where), name) if o.default_for(where) is not None else None
        )
        got = o.kind.check(literal, name) if literal != "" or expected is not None else None
        if isinstance(o.kind, options.Durations) and literal == "":
            got = list(o.default_for(where))
        assert got == expected or (expected is None and literal in ("", [], False)), (
            notebook,
            name,
            literal,
            expected,
        )


@pytest.mark.parametrize(
    "notebook,where",
    [("01-collect.ipynb", "01"), ("02-analyze.ipynb", "02"), ("03-compare-runs.ipynb", "03")],
)
def test_every_schema_option_of_a_notebook_is_in_its_parameters_cell(notebook, where):
    """A researcher sees every parameter a notebook takes (concurrency's parallel and
    density's containers were missing from 01's cell)."""
    cell = _notebook_cell(notebook)
    missing = [o.name for o in options.options_for(where) if o.name not in cell]
    assert missing == [], (notebook, missing)


def test_the_collect_cell_as_it_is_checks_and_only_a_changed_option_of_another_experiment_is_refused():
    cell = _notebook_cell("01-collect.ipynb")
    values = options.check("01", cell)  # every option at its default, lifecycle: accepted
    assert values["parallel"] == [1, 2, 4, 8, 16] and values["containers"] == [1, 5, 10, 25, 50]
    with pytest.raises(OptionError, match="parallel = '1,2': only with experiment concurrency"):
        options.check("01", {**cell, "parallel": "1,2"})
    changed = options.check("01", {**cell, "experiment": "concurrency", "parallel": "1,2"})
    assert changed["parallel"] == [1, 2]


def test_notebook_parameters_come_from_the_namespace_and_unknown_ones_are_refused():
    ns = {"trials": 3, "warmup": 1, "unrelated": object(), "clients": "oci", "runtimes": "runc"}
    given = params.parameters("01", ns)
    assert given == {"trials": 3, "warmup": 1, "clients": "oci", "runtimes": "runc"}
    opts = front.collect_options(**given)
    assert (opts.trials, opts.warmup, opts.paces) == (3, 1, [options.DEFAULT_PACE_S])
    with pytest.raises(
        params.ParameterError,
        match="unknown parameter 'trails' of notebook 01-collect.ipynb; known: ",
    ):
        front.collect_options(trails=3)


def test_every_deliberate_difference_says_why_and_names_a_place_it_applies():
    for o in OPTIONS:
        for where, (_, why) in o.differs.items():
            assert where in o.where and len(why) > 20, (o.name, where)


def test_an_option_is_declared_once_per_place():
    seen = set()
    for o in OPTIONS:
        for where in o.where or ("protocol",):
            assert (o.name, where) not in seen, (o.name, where)
            seen.add((o.name, where))
    with pytest.raises(ValueError, match="declared twice"):
        options.register(options.Option("trials", options.Whole(1), 1, "again", ("collect",)))


def test_the_readme_shows_the_table():
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- options: generated from rtlab/core/options.py:markdown() -->")
    end = readme.index("<!-- /options -->")
    assert readme[start:end].split("\n", 1)[1].strip() == options.markdown(), (
        "regenerate the table: python -m rtlab.core.options, between the two markers"
    )


def test_make_report_uses_the_report_layer():
    makefile = (REPO / "Makefile").read_text()
    assert f"TRIALS ?= {default('trials', 'report')}\n" in makefile


def test_run_json_parameters_and_resume_round_trip():
    from rtlab.collect.collect import CollectOptions
    from rtlab.core.runtimes import parse_custom

    opts = CollectOptions(
        clients=["oci"],
        runtimes=["runc", "mine"],
        trials=4,
        seed=9,
        custom_runtimes=[parse_custom("mine=/opt/my runtime:--x 'a b'")],
        steps=["run"],
        paces=[0.0, 0.01],
        until_ci=0.1,
    )
    recorded = json.loads(json.dumps(options.record(opts.values())))
    assert recorded["custom_runtimes"] == [
        {"name": "mine", "binary": "/opt/my runtime", "flags": ["--x", "a b"]}
    ]
    assert recorded["workload_options"] == {"image": None, "cmd": [], "bundle": None}
    back = CollectOptions.from_values(options.restore(recorded))
    for name in (
        "clients",
        "runtimes",
        "trials",
        "seed",
        "custom_runtimes",
        "steps",
        "paces",
        "until_ci",
        "warmup",
        "timeout_s",
        "max_consecutive_timeouts",
    ):
        assert getattr(back, name) == getattr(opts, name), name
    # a run made before the pace existed resumes without one
    old = {k: v for k, v in recorded.items() if k != "paces"}
    assert options.restore(old)["paces"] == [0.0]


@pytest.mark.parametrize(
    "where,value,expected",
    [
        ("trials", 0, "trials = 0: must be a whole number of at least 1"),
        ("alpha", 1.0, "alpha = 1.0: must be a significance level between 0 and 1"),
        ("margin", "x", "margin = 'x': must be an equivalence margin"),
        ("threshold", -0.1, "threshold = -0.1: must be a relative slow-down of 0 or more"),
        ("paces", "5parsecs", "paces 5parsecs: not a duration"),
    ],
)
def test_schema_checks_name_the_value_and_what_is_accepted(where, value, expected):
    place = "03" if where in ("alpha", "margin", "threshold") else "01"
    with pytest.raises(OptionError) as caught:
        options.check(place, {where: value})
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


def test_report_passes_notebook_01_every_option_they_share(monkeypatch, tmp_path):
    """rtlab report's papermill parameters are the schema's options of both report and 01,
    in the notebook's form, and notebook 01's check takes them back unchanged."""
    import rtlab.report.report
    from rtlab import cli

    seen = {}

    def fake_make_report(parameters, **kw):
        seen.update(parameters=parameters, **kw)
        raise rtlab.report.report.ReportError("stop here")

    monkeypatch.setattr(rtlab.report.report, "make_report", fake_make_report)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text("{}")
    code = cli.main(
        [
            "report",
            "--trials",
            "3",
            "--pace",
            "10ms",
            "--runtime",
            "mine=/opt/m:--x 1",
            "--runtimes",
            "runc,mine",
            "--steps",
            "run",
            "--bundle",
            str(bundle),
            "--margin",
            "0.1",
        ]
    )
    assert code == 1
    p = seen["parameters"]
    # an experiment's own option (density's containers) only with its experiment
    shared = {
        o.name for o in options.options_for("01") if o.applies("report") and not o.experiments
    }
    assert set(p) == shared
    assert (p["trials"], p["paces"], p["study"], p["steps"]) == (3, "10ms", "all", "run")
    assert p["custom_runtimes"] == ["mine=/opt/m:--x 1"] and p["bundle"] == str(bundle)
    assert p["warmup"] == default("warmup", "report") and seen["margin"] == 0.1
    back = options.check("01", p)
    assert back["paces"] == [0.01] and back["custom_runtimes"][0].argv == ["/opt/m", "--x", "1"]
