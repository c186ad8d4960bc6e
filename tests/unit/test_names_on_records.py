"""Capabilities on their records (issue 32): outside a client's record
(collect/clients/<name>.py and its entry in core/clientdefs.py) and a runtime's
(its entry in core/runtimes.py's ``KNOWN``), the modules that once listed them by name
— the figures' markers and hatches, density's headline, the traced phases, the
experiments' verbs, the container image and the fleet's defaults — name no client and
no runtime. The made-up client and runtime of tests/unit/test_made_up_features.py get
each of these from their own files."""

from __future__ import annotations

import ast

import pytest

from rtlab.collect.clients import CLIENTS
from rtlab.core import clientdefs, experiments, runtimes
from tests.conftest import REPO

NAMES = set(clientdefs.CLIENTS) | set(runtimes.KNOWN)

# module → the names it may hold, each with why it is not a listing of clients or runtimes
ALLOWED: dict[str, dict[str, str]] = {
    "rtlab/analysis/plots.py": {},
    "rtlab/report/density_report.py": {},
    # an experiment's record says which clients run it (``clients``, ``instead``); the
    # CRI's experiments are its own. Experiment pull's clients are the records' that pull
    # (clientdefs.Client.pulls)
    "rtlab/core/experiments.py": {
        "cri": "experiments cri and cri-pull: the CRI's own (and experiment cri's name)",
    },
    "rtlab/core/phasedefs.py": {},
    "rtlab/host/fleet.py": {},
    "rtlab/host/container.py": {
        "docker": "a container engine's word in /proc/self/cgroup: how rtlab knows it runs "
        "in a container (container_signals), a fact of the host, not a client",
        "podman": "the engine that runs rtlab's own image on this host (podman_argv): "
        "make image builds it into containers-storage",
    },
}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring constants of the module, its classes and functions."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _phase_family_keys(tree: ast.AST) -> set[int]:
    """phasedefs.py's ``PHASES`` keys: the runtime families' own phases, keyed by the
    family a runtime's record names (``family``), the vocabulary itself."""
    out = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "PHASES"
            and isinstance(node.value, ast.Dict)
        ):
            out |= {id(k) for k in node.value.keys if k is not None}
    return out


def named(path: str) -> list[str]:
    """The client and runtime names among the module's string constants (docstrings and
    phasedefs' family keys aside)."""
    tree = ast.parse((REPO / path).read_text())
    skip = _docstrings(tree) | _phase_family_keys(tree)
    return sorted(
        {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in NAMES
            and id(node) not in skip
        }
    )


@pytest.mark.parametrize("path", sorted(ALLOWED))
def test_no_module_outside_the_records_names_a_client_or_runtime(path):
    assert set(named(path)) <= set(ALLOWED[path]), (
        f"{path} names {sorted(set(named(path)) - set(ALLOWED[path]))}: put it on the "
        "client's record (collect/clients/<name>.py, core/clientdefs.py) or the runtime's "
        "(core/runtimes.py KNOWN)"
    )


def test_the_allowed_names_are_still_there():
    """An allowance that is no longer needed is dropped (so the list says what holds)."""
    for path, allowed in ALLOWED.items():
        assert set(allowed) <= set(named(path)), path


def test_a_step_has_one_verb_and_the_clients_their_own_spellings():
    """Experiments' steps carry no client-keyed spellings: docker's unpause and ctr's
    task pause/resume are their drivers' ``verbs``."""
    assert "verbs" not in experiments.Step.__dataclass_fields__
    spelled = {name: cls.verbs for name, cls in CLIENTS.items() if cls.verbs}
    assert spelled == {
        "docker": {"resume": ("unpause",)},
        "ctr": {"pause": ("task", "pause"), "resume": ("task", "resume")},
        "podman": {"resume": ("unpause",)},
    }


def test_every_client_record_has_its_driver_and_every_driver_its_record():
    assert list(CLIENTS) == list(clientdefs.CLIENTS)
    assert all(cls.client == name for name, cls in CLIENTS.items())


def test_the_clients_that_pull_are_those_whose_record_says_so():
    """Experiment pull runs the clients whose core record pulls: every driver with an image
    store, and the CRI (its own pull experiment, through its ImageService)."""
    pull = experiments.get("pull")
    stores = {name for name, driver in CLIENTS.items() if driver.image_store is not None}
    assert set(pull.clients) == stores | set(pull.instead)
    assert pull.clients == clientdefs.pulling()
