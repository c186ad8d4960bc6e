"""What adding a feature costs (issue 32, docs/DESIGN.md "files one touches"): in a
temporary copy of the package under git, a made-up runtime, client, condition and
experiment with an option of its own are each added by editing source files as a
developer would; the files touched are counted (``git status``), and each feature is
exercised end to end through ``rtlab collect`` on the fake runtime and into the
analysis (``stats.summarize``) of the copy.

- a runtime: 1 file (its entry in core/runtimes.py);
- a runtime of a family of its own: its record says it is sandboxed, and density's
  headline sets it against the reference runtime (no name read in the report);
- a client: 2 files (its module, with its density hook and its spelling of a verb, and
  its record in core/clientdefs.py, with its figure marker and hatch and its tracing
  phases, which the analysis reads without importing collect);
- a condition: 1 entry (core/conditions.py) + its option (core/options.py);
- an experiment with an option of its own: 2 files (core/experiments.py, its option).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _forked_cli import python_forked

from tests.conftest import FAKE, REPO

RUNTIME = """        Runtime(
            "madeuprt",
            {python!r},
            ("-S", {fake!r}, "--state", {state!r}, "--mode", "ok"),
            "made up for tests/unit/test_made_up_features.py",
            sandbox=True,
        ),
"""

CLIENT = '''"""A made-up client: the runtime's own CLI under another name, with hooks of its own."""

from __future__ import annotations

from rtlab.collect.clients.oci import OciTarget


class MadeUpTarget(OciTarget):
    client = "madeup"
    verbs = {"resume": ("thaw",)}  # experiment pause: its own spelling of resume

    def container_keys(self, cid: str) -> list[str]:  # density: what names its containers
        return [cid, f"made-up-{cid}"]
'''

# its record: its look in the figures, and its tracing phases (over runc, as a daemon
# client's hand-offs), which the analysis reads too
CLIENT_RECORD = """        Client(
            "madeup",
            marker="p",
            hatch="|||",
            phases={"create": [("the made-up client's whole step", "end")]},
        ),
"""

CONDITION = """    Condition("madeup_level", _text, "made-up level", True, option="madeup_levels",
              client_suffix=lambda v: f"@{v}" if v else ""),
"""

CONDITION_OPTION = """

register(
    Option(
        "madeup_levels",
        Names(example="a,b"),
        None,
        "a made-up condition: one unit per level",
        _COLLECTING,
        metavar="LIST",
        record="madeup_levels",
        resume="keep",
    )
)
"""

EXPERIMENT = """        Experiment(
            "burst",
            "one-shot runs, made up for tests/unit/test_made_up_features.py",
            chains=((RUN,),),
        ),
"""

EXPERIMENT_OPTION = """

register(
    Option(
        "burst_k",
        Whole(1),
        3,
        "experiment burst: a made-up option",
        _COLLECTING,
        metavar="K",
        record="burst_k",
        resume="keep",
        experiments=("burst",),
    )
)
"""


@pytest.fixture
def copy(tmp_path):
    """A copy of the package under git, clean."""
    root = tmp_path / "copy"
    shutil.copytree(REPO / "rtlab", root / "rtlab", ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], check=True)
    return root


def insert(path: Path, anchor: str, text: str, after: bool = True) -> None:
    source = path.read_text()
    assert source.count(anchor) == 1, f"{path.name}: anchor {anchor!r} not found once"
    source = source.replace(anchor, anchor + text if after else text + anchor)
    path.write_text(source)


def touched(root: Path) -> list[str]:
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line[3:] for line in status.splitlines())


def rtlab_in(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """``python -m rtlab ARGS`` in the copy (forked from a process that imported the
    third-party libraries once, not rtlab: _forked_cli.py)."""
    return python_forked(
        "-m", "rtlab", *args, cwd=root, timeout=300,
        env={**env, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


def collect_in(root, env, out, *args) -> pd.DataFrame:
    r = rtlab_in(
        root, env, "collect", "--no-progress", "--pace", "0", "--warmup", "0", "--out", str(out),
        *(() if "--trials" in args else ("--trials", "1")), *args,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) and trials["ok"].all(), trials[~trials["ok"]]["error"].tolist()
    return trials


def analysed_targets(root: Path, env: dict, out: Path) -> list[str]:
    """The copy's analysis of the run: its summary's targets (and experiments)."""
    code = (
        "import sys; from rtlab.analysis import stats; from rtlab.core.results import load_run; "
        "m, t = load_run(sys.argv[1]); s = stats.summarize(t); "
        "import json; print(json.dumps(sorted({f'{e} {c}/{r}' "
        "for e, c, r in zip(s.experiment, s.client, s.runtime)})))"
    )
    r = python_forked(
        "-c", code, str(out), cwd=root, env={**env, "PYTHONPATH": str(root)}, timeout=120
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def test_a_runtime_is_one_file(copy, rt_env, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    insert(
        copy / "rtlab/core/runtimes.py",
        '        Runtime("youki", "youki", colour=4),\n',
        RUNTIME.format(python=sys.executable, fake=str(FAKE), state=str(state)),
        after=False,
    )
    assert touched(copy) == ["rtlab/core/runtimes.py"]
    out = tmp_path / "run"
    trials = collect_in(copy, rt_env, out, "--clients", "oci", "--runtimes", "madeuprt")
    assert set(trials["runtime"]) == {"madeuprt"}
    assert "lifecycle oci/madeuprt" in analysed_targets(copy, rt_env, out)
    # its family: sandboxed by its record, so density's headline sets it (and a user's
    # build of it, madeuprt-dev) against the reference runtime, not against the cheapest
    code = (
        "import json, pandas as pd; from rtlab.report import density_report as dr; "
        "rows = lambda rt, mb: dict(client='oci', runtime=rt, method='pss', mb=mb, "
        "low=mb, high=mb, status='', note=''); "
        "print(json.dumps([dr.headline(pd.DataFrame([rows(rt, 9.0), rows('runc', 0.15), "
        "rows('crun', 0.1)])) for rt in ('madeuprt', 'madeuprt-dev')]))"
    )
    r = python_forked("-c", code, cwd=copy, env={**rt_env, "PYTHONPATH": str(copy)}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        [f"Through oci, a {rt} container costs 9.0 MB [9.0, 9.0] against runc's 0.15 MB "
         "[0.15, 0.15] (pss, per container)."]
        for rt in ("madeuprt", "madeuprt-dev")
    ]  # fmt: skip


def test_a_client_is_two_files_with_its_hooks_verbs_look_and_phases(copy, rt_env, fake, tmp_path):
    (copy / "rtlab/collect/clients/madeup.py").write_text(CLIENT)
    insert(copy / "rtlab/core/clientdefs.py", '        Client("cri", pulls=True),\n', CLIENT_RECORD)
    assert touched(copy) == ["rtlab/collect/clients/madeup.py", "rtlab/core/clientdefs.py"]
    spec, _ = fake("fake")
    out = tmp_path / "run"
    trials = collect_in(
        copy, rt_env, out, "--clients", "madeup", "--runtime", spec, "--runtimes", "fake"
    )
    assert set(trials["client"]) == {"madeup"}
    assert "lifecycle madeup/fake" in analysed_targets(copy, rt_env, out)
    # its hooks, as density, --trace and experiment pause read them (a traced run needs
    # bpftrace and a real runtime: tests/integration/test_trace.py)
    code = (
        "import json; from pathlib import Path; from rtlab.collect.clients import CLIENTS; "
        "from rtlab.core.experiments import EXPERIMENTS; from rtlab.core.runtimes import Runtime; "
        "t = CLIENTS['madeup'](Runtime('runc', '/bin/true'), Path('/tmp')); "
        "pause = EXPERIMENTS['pause']; "
        "print(json.dumps([t.container_keys('c1'), t.phase_definitions('create'), "
        "t.traces_wakes, t.daemon_sockets(), "
        "[t.step_commands(pause.step(s), 'c1') for s in ('pause', 'resume')]]))"
    )
    r = python_forked("-c", code, cwd=copy, env={**rt_env, "PYTHONPATH": str(copy)}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        ["c1", "made-up-c1"],
        [["the made-up client's whole step", "end"]],
        False,
        [],
        [[["/bin/true", "pause", "c1"]], [["/bin/true", "thaw", "c1"]]],
    ]
    # what the analysis reads of it (no collect import): its marker and hatch in the
    # figures, its place among the known clients, its phases' order
    code = (
        "import json; from rtlab.analysis import phasestats, plots; "
        "print(json.dumps([plots.client_marker('madeup'), plots.client_hatch('madeup'), "
        "plots.KNOWN_CLIENTS, phasestats._order('runc', 'create', "
        "['unattributed', \"the made-up client's whole step\"], 'madeup')]))"
    )
    r = python_forked("-c", code, cwd=copy, env={**rt_env, "PYTHONPATH": str(copy)}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        "p",
        "|||",
        ["docker", "ctr", "podman", "madeup", "oci"],
        ["the made-up client's whole step", "unattributed"],
    ]


def test_a_condition_is_one_entry_and_its_option(copy, rt_env, fake, tmp_path):
    insert(copy / "rtlab/core/conditions.py", "CONDITIONS: tuple[Condition, ...] = (\n", CONDITION)
    with open(copy / "rtlab/core/options.py", "a") as f:
        f.write(CONDITION_OPTION)
    assert touched(copy) == ["rtlab/core/conditions.py", "rtlab/core/options.py"]
    spec, _ = fake("fake")
    out = tmp_path / "run"
    trials = collect_in(
        copy, rt_env, out, "--clients", "oci", "--runtime", spec, "--runtimes", "fake",
        "--trials", "2", "--madeup-levels", "a,b",
    )  # fmt: skip
    # one unit per level, its column in trials.csv, 2 trials of each
    assert trials.groupby("madeup_level")["trial"].nunique().to_dict() == {"a": 2, "b": 2}
    meta = json.loads((out / "run.json").read_text())
    assert meta["parameters"]["madeup_levels"] == ["a", "b"]
    # the analysis keeps its levels apart (its client suffix)
    targets = analysed_targets(copy, rt_env, out)
    assert {"lifecycle oci@a/fake", "lifecycle oci@b/fake"} <= set(targets)


def test_an_experiment_with_its_own_option_is_two_files(copy, rt_env, fake, tmp_path):
    insert(copy / "rtlab/core/experiments.py", "    for e in (\n", EXPERIMENT)
    with open(copy / "rtlab/core/options.py", "a") as f:
        f.write(EXPERIMENT_OPTION)
    assert touched(copy) == ["rtlab/core/experiments.py", "rtlab/core/options.py"]
    help_text = rtlab_in(copy, rt_env, "collect", "--help").stdout
    assert "--burst-k K" in help_text and "burst:" in help_text
    spec, _ = fake("fake")
    out = tmp_path / "run"
    trials = collect_in(
        copy, rt_env, out, "--clients", "oci", "--runtime", spec, "--runtimes", "fake",
        "--experiment", "burst", "--burst-k", "5",
    )  # fmt: skip
    assert set(trials["experiment"]) == {"burst"} and set(trials["step"]) == {"run"}
    assert json.loads((out / "run.json").read_text())["parameters"]["burst_k"] == 5
    assert "burst oci/fake" in analysed_targets(copy, rt_env, out)
