"""The layers (docs/DESIGN.md, "Layers"): lint-imports' contracts hold, and rtlab's import
graph, imports inside functions included, has no cycle (so no import inside a function
is there to dodge one)."""

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]


def cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if not w.startswith("rtlab"):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for module in sorted(m for m in graph.modules if m.startswith("rtlab")):
        if module not in index:
            visit(module)
    return out


def test_no_import_cycle_in_rtlab():
    graph = grimp.build_graph("rtlab")
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for m in ("rtlab", "rtlab.a", "rtlab.b", "rtlab.c"):
        graph.add_module(m)
    graph.add_import(importer="rtlab.a", imported="rtlab.b")
    graph.add_import(importer="rtlab.b", imported="rtlab.a")
    graph.add_import(importer="rtlab.b", imported="rtlab.c")
    assert cycles(graph) == [["rtlab.a", "rtlab.b"]]


def test_lint_imports_contracts_are_kept():
    r = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_make_purges_entry_imports_on_the_system_python_with_no_venv():
    """make purge runs ``python3 -m rtlab.uninstall`` with the system python3: importing
    it and registering every host part loads no third-party analysis package."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import rtlab.uninstall; "
        "from rtlab.host import parts; assert not parts.CLIENTS, 'import registered'; "
        "rtlab.uninstall.register_host_parts(); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pandas', 'numpy', 'scipy', 'matplotlib', 'seaborn', 'papermill', 'nbformat'}); "
        "print(heavy, sorted(parts.CLIENTS), len(parts.SWEEPS), len(parts.PURGE_STEPS))"
    )
    r = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", code, str(REPO)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("[] "), r.stdout
    assert "'ctr'" in r.stdout and "'docker'" in r.stdout and r.stdout.split()[-2:] == ["1", "1"], (
        r.stdout
    )
