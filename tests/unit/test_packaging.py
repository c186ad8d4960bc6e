"""environment.yml (conda) and pyproject.toml (pip) list the same dependencies."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower()


def pyproject_deps() -> dict[str, str]:
    text = (REPO / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    return {_name(d): d for d in re.findall(r'"([^"]+)"', block)}


def conda_deps() -> dict[str, str]:
    text = (REPO / "environment.yml").read_text()
    block = text.split("\ndependencies:\n", 1)[1]
    deps = {}
    for line in block.splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.-]+[^:\s]*)\s*$", line)
        if m and _name(m.group(1)) not in ("python", "pip"):
            deps[_name(m.group(1))] = m.group(1)
    return deps


def test_environment_yml_matches_pyproject():
    assert pyproject_deps() and conda_deps() == pyproject_deps()
