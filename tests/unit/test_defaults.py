"""One table of defaults (rtlab/defaults.py): the CLI, notebook 01, params and the README agree."""

from __future__ import annotations

import ast
import json

from rtlab import defaults, params
from rtlab.cli import build_parser
from rtlab.defaults import DEFAULTS, value
from tests.conftest import REPO


def _notebook_parameters(name: str) -> dict:
    nb = json.loads((REPO / "notebooks" / name).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    out = {}
    for node in ast.parse("".join(cell["source"])).body:
        out[node.target.id] = ast.literal_eval(node.value)
    return out


def _cli_default(command: str, option: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return next(a.default for a in sub._actions if option in a.option_strings)


def test_the_cli_takes_its_defaults_and_help_from_the_table():
    assert _cli_default("collect", "--warmup") == value("warmup")
    assert _cli_default("collect", "--timeout") == value("timeout")
    assert _cli_default("collect", "--min-trials") == value("min_trials")
    assert _cli_default("report", "--trials") == value("trials", "report") != value("trials")
    assert _cli_default("doctor", "--timeout") == value("probe_timeout")
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["collect"]
    text = sub.format_help()
    assert f"(default {value('trials')})" in text and "lifecycle:" in text and "pause:" in text


def test_notebook_01_and_params_use_the_notebook_layer():
    nb = _notebook_parameters("01-collect.ipynb")
    assert nb["clients"] == ",".join(value("clients", "notebook"))
    assert nb["runtimes"] == ",".join(value("runtimes", "notebook"))
    assert nb["experiment"] == value("experiment")
    for name in ("trials", "warmup"):
        assert nb[name] == value(name, "notebook"), name
    assert nb["timeout_s"] == value("timeout") and nb["seed"] == value("seed")
    kw = params.collect_options.__kwdefaults__
    assert kw["runtimes"] == nb["runtimes"] and kw["clients"] == nb["clients"]
    assert kw["trials"] == nb["trials"] and kw["warmup"] == nb["warmup"]


def test_every_deliberate_difference_says_why():
    for d in DEFAULTS.values():
        for layer, (_, why) in d.differs.items():
            assert layer in ("report", "notebook") and len(why) > 20, (d.name, layer)


def test_the_readme_shows_the_table():
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- defaults: generated from rtlab/defaults.py:markdown() -->")
    end = readme.index("<!-- /defaults -->")
    assert readme[start:end].split("\n", 1)[1].strip() == defaults.markdown()


def test_make_report_uses_the_report_layer():
    makefile = (REPO / "Makefile").read_text()
    assert f"TRIALS ?= {value('trials', 'report')}\n" in makefile
