"""The notebook rules (docs/DESIGN.md, "Layout": notebooks stay thin), checked on every notebook in notebooks/ without running it."""

from __future__ import annotations

import ast

import nbformat
import papermill
import pytest

from rtlab import options

from tests.notebooks._helpers import NOTEBOOKS, notebook_names

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def load(name: str) -> nbformat.NotebookNode:
    return nbformat.read(str(NOTEBOOKS / name), as_version=4)


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_there_are_notebooks() -> None:
    assert {"01-collect.ipynb", "02-analyze.ipynb", "03-compare-runs.ipynb"} <= set(notebook_names())


@pytest.mark.parametrize("name", notebook_names())
def test_no_function_or_class_is_defined_in_a_notebook(name: str) -> None:
    for index, cell in enumerate(code_cells(load(name))):
        tree = ast.parse(cell.source)  # also: every cell is plain Python (no magics)
        found = [f"{type(node).__name__} at line {node.lineno}" for node in ast.walk(tree)
                 if isinstance(node, DEFINITIONS)]
        assert not found, f"{name} code cell {index} defines {found}: move it into rtlab/"


@pytest.mark.parametrize("name", notebook_names())
def test_one_parameters_cell_of_annotated_literals_with_help(name: str) -> None:
    nb = load(name)
    cells = code_cells(nb)
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: {len(tagged)} cells tagged 'parameters'"
    cell = cells[tagged[0]]
    names = []
    for statement in ast.parse(cell.source).body:
        assert isinstance(statement, ast.AnnAssign) and statement.simple, \
            f"{name}: parameters are written `name: type = value  # help`"
        ast.literal_eval(statement.value)  # a literal, nothing computed
        names.append(statement.target.id)
    lines = [line for line in cell.source.splitlines() if line.strip()]
    assert len(lines) == len(names) and all("  # " in line for line in lines)
    inferred = papermill.inspect_notebook(str(NOTEBOOKS / name))
    assert list(inferred) == names, "papermill --help-notebook must list every parameter"
    assert all(p["help"] for p in inferred.values())
    # The next code cell checks them all through rtlab (one clear error, or derived values):
    # every parameter the schema (rtlab/options.py) declares for this notebook, taken from
    # the namespace; so every name in the cell must be one the schema declares for it.
    where = next(k for k, v in options.NOTEBOOKS.items() if v == name)
    check = cells[tagged[0] + 1].source
    assert f'params.parameters("{where}", globals())' in check
    declared = {o.name for o in options.options_for(where)}
    assert set(names) <= declared, f"{name}: not in the schema: {set(names) - declared}"
    assert tagged[0] == 1, "imports first, then the parameters"


@pytest.mark.parametrize("name", notebook_names())
def test_committed_without_outputs_and_for_the_python3_kernel(name: str) -> None:
    nb = load(name)
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear its outputs"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    nbformat.validate(nb)
