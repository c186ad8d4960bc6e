"""The notebook rules (docs/DESIGN.md, "Layout": notebooks stay thin), checked on every notebook in notebooks/ without running it.

Each rule is a function returning what breaks it (empty: kept). Every notebook
must keep every rule, and each rule is shown to catch a notebook made to break
it, so a rule that stopped looking would fail here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import papermill
import pytest

from rtlab.core import options
from tests.notebooks._helpers import NOTEBOOKS, notebook_names

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# The notebooks docs/DESIGN.md's layout names; a missing one fails to load below.
NAMED = ("01-collect.ipynb", "02-analyze.ipynb", "03-compare-runs.ipynb")
ALL = sorted({*NAMED, *notebook_names()})


def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


# -- the rules ----------------------------------------------------------------------------


def definitions(path: Path) -> list[str]:
    """Functions, classes or lambdas defined in a code cell (they belong in rtlab/)."""
    found = []
    for index, cell in enumerate(code_cells(load(path))):
        try:
            tree = ast.parse(cell.source)  # also: every cell is plain Python (no magics)
        except SyntaxError as exc:
            found.append(f"code cell {index} is not plain Python: {exc.msg}")
            continue
        found += [
            f"code cell {index} defines {type(node).__name__} at line {node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, DEFINITIONS)
        ]
    return found


def parameter_problems(path: Path) -> list[str]:
    """Imports first, then one ``parameters`` cell of ``name: type = literal  # help``
    lines that papermill lists with their help, then a cell checking them through rtlab."""
    cells = code_cells(load(path))
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        return [f"{len(tagged)} cells tagged 'parameters'"]
    problems = [] if tagged[0] == 1 else ["imports first, then the parameters"]
    cell = cells[tagged[0]]
    names = []
    for statement in ast.parse(cell.source).body:
        if not (isinstance(statement, ast.AnnAssign) and statement.simple):
            problems.append(f"line {statement.lineno}: not `name: type = value  # help`")
            continue
        try:
            ast.literal_eval(statement.value)
        except ValueError:
            problems.append(f"{statement.target.id}: computed, not a literal")
        names.append(statement.target.id)
    lines = [line for line in cell.source.splitlines() if line.strip()]
    problems += [f"no `  # help`: {line.strip()}" for line in lines if "  # " not in line]
    inferred = papermill.inspect_notebook(str(path))
    if list(inferred) != names:
        problems.append(f"papermill --help-notebook lists {list(inferred)}, not {names}")
    problems += [f"{n}: no help for papermill" for n, p in inferred.items() if not p["help"]]
    # The next code cell checks them all through rtlab: every parameter the schema
    # (rtlab/core/options.py) declares for this notebook, taken from the namespace; so every
    # name in the cell must be one the schema declares for it.
    check = cells[tagged[0] + 1].source if tagged[0] + 1 < len(cells) else ""
    call = re.search(r'params\.parameters\("(\w+)", globals\(\)\)', check)
    if call is None:
        problems.append(
            "the next cell does not check the parameters through "
            "rtlab.report.params.parameters(NOTEBOOK, globals())"
        )
        return problems
    own = next((k for k, v in options.NOTEBOOKS.items() if v == path.name), call.group(1))
    if call.group(1) != own:
        problems.append(f"checks the parameters of notebook {call.group(1)}, not {own}")
    declared = {o.name for o in options.options_for(call.group(1))}
    problems += [
        f"{n}: not in the schema for notebook {call.group(1)}" for n in names if n not in declared
    ]
    return problems


def storage_problems(path: Path) -> list[str]:
    """Committed without outputs or execution counts, for the python3 kernel, valid."""
    nb = load(path)
    problems = [
        f"code cell {i}: clear its outputs"
        for i, cell in enumerate(code_cells(nb))
        if cell.outputs or cell.execution_count is not None
    ]
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("not for the python3 kernel")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        problems.append(f"invalid: {exc.message}")
    return problems


RULES = (definitions, parameter_problems, storage_problems)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
@pytest.mark.parametrize("name", ALL)
def test_every_notebook_keeps_the_rule(name: str, rule) -> None:
    assert rule(NOTEBOOKS / name) == [], f"{name} breaks {rule.__name__}: {rule.__doc__}"


# -- each rule catches a notebook made to break it ------------------------------------------


def good_cells() -> list:
    new = nbformat.v4
    return [
        new.new_code_cell("from rtlab.collect import front\nfrom rtlab.report import params"),
        new.new_code_cell(
            "trials: int = 3  # trials per target", metadata={"tags": ["parameters"]}
        ),
        new.new_code_cell('options = front.collect_options(**params.parameters("01", globals()))'),
    ]


def write(tmp_path: Path, cells, **metadata) -> Path:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata.update(
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            **metadata,
        }
    )
    path = tmp_path / "made-up.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_a_made_up_notebook_keeping_the_rules_passes_them(tmp_path: Path) -> None:
    path = write(tmp_path, good_cells())
    assert [rule(path) for rule in RULES] == [[], [], []]


def broken(tmp_path: Path, how: str) -> Path:
    cells = good_cells()
    new = nbformat.v4
    if how == "function":
        cells.append(new.new_code_cell("def helper():\n    return 1"))
    elif how == "lambda":
        cells.append(new.new_code_cell("key = lambda row: row[0]"))
    elif how == "magic":
        cells.append(new.new_code_cell("%matplotlib inline"))
    elif how == "computed parameter":
        cells[1].source = "trials: int = 3 * 2  # trials per target"
    elif how == "no help":
        cells[1].source = "trials: int = 3"
    elif how == "two parameters cells":
        cells.insert(
            2, new.new_code_cell("seed: int = 0  # seed", metadata={"tags": ["parameters"]})
        )
    elif how == "not in the schema":
        cells[1].source += "\nbogus: int = 1  # not an option"
    elif how == "unchecked":
        cells[2].source = "print(trials)"
    elif how == "outputs":
        cells[2].outputs = [new.new_output("stream", name="stdout", text="3\n")]
        cells[2].execution_count = 1
    elif how == "kernel":
        return write(
            tmp_path,
            cells,
            kernelspec={"name": "julia", "display_name": "Julia", "language": "julia"},
        )
    return write(tmp_path, cells)


@pytest.mark.parametrize(
    "how, rule, says",
    [
        ("function", definitions, "defines FunctionDef at line 1"),
        ("lambda", definitions, "defines Lambda at line 1"),
        ("magic", definitions, "is not plain Python"),
        ("computed parameter", parameter_problems, "trials: computed, not a literal"),
        ("no help", parameter_problems, "no `  # help`"),
        ("two parameters cells", parameter_problems, "2 cells tagged 'parameters'"),
        (
            "unchecked",
            parameter_problems,
            "does not check the parameters through rtlab.report.params",
        ),
        ("not in the schema", parameter_problems, "bogus: not in the schema for notebook 01"),
        ("outputs", storage_problems, "clear its outputs"),
        ("kernel", storage_problems, "not for the python3 kernel"),
    ],
)
def test_each_rule_catches_a_notebook_that_breaks_it(tmp_path: Path, how, rule, says) -> None:
    problems = rule(broken(tmp_path, how))
    assert any(says in p for p in problems), problems
