"""Rootless mode (rootless.py, collect/clients/oci_rootless.py): the user, its ranges, real trials.

Each test makes its own throw-away user (``rtlab-t<pid>``), ledger and work
folder, so it never touches a set-up host's ``rtlab-rootless``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rtlab.host import ledger, rootless
from tests.conftest import need_tools


@pytest.fixture
def open_dir():
    """A folder under /tmp the rootless user can traverse (pytest's tmp_path is 0700)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="rtlab-rl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def user(tmp_path, open_dir, monkeypatch):
    """A fresh rootless account in a private ledger; removed (and checked) after."""
    monkeypatch.setattr(ledger, "LEDGER", tmp_path / "host-changes.json")
    monkeypatch.setattr(
        rootless, "HOME_ROOT", open_dir / "h"
    )  # traversable; podman's runroot ≤ 50 chars
    name = f"rtlab-t{os.getpid() % 100000}"
    assert rootless.account(name) is None, f"{name} exists before the test"
    acct = rootless.create_user(name, say=lambda line: None)
    yield acct
    if rootless.account(name) is not None:
        rootless.remove_user(name, say=lambda line: None)


def test_user_created_with_ranges_and_purged(user):
    ranges = rootless.subid_ranges(user.name)
    assert all(len(r) == 1 and r[0].endswith(f":{rootless.SUBID_COUNT}") for r in ranges.values())
    assert user.name in ledger.items(rootless.LEDGER_USERS)
    assert user.name in ledger.mapping(rootless.LEDGER_SUBIDS)
    assert user.uid != 0 and user.uid != os.getuid() and user.home.is_dir()
    # idempotent: a second set-up changes nothing
    assert rootless.create_user(user.name, say=lambda line: None) == user
    assert rootless.subid_ranges(user.name) == ranges
    # the wrapper really drops root
    out = subprocess.run([*rootless.wrapper(user), "id", "-u"], capture_output=True, text=True)
    assert out.stdout.strip() == str(user.uid)
    assert rootless.purge(say=lambda line: None) == [
        f"user {user.name} and its subordinate ranges removed"
    ]
    assert rootless.account(user.name) is None
    assert not any(rootless.subid_ranges(user.name).values())
    assert not user.home.exists()
    assert not ledger.items(rootless.LEDGER_USERS) and not ledger.mapping(rootless.LEDGER_SUBIDS)


def test_refuses_an_account_rtlab_did_not_create(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "LEDGER", tmp_path / "host-changes.json")
    with pytest.raises(rootless.RootlessError, match="rtlab did not create it"):
        rootless.create_user("nobody")
    assert rootless.purge(say=lambda line: None) == []


def _env(user, folder: Path) -> dict:
    return {
        **os.environ,
        "RTLAB_ROOTLESS_USER": user.name,
        "RTLAB_RUNTIME_DIR": str(folder / "run"),
        "RTLAB_STATE_DIR": str(folder / "state"),
    }


def _alive(pid: int) -> bool:
    """Not a zombie: a dead container's init is reparented to pid 1, which reaps it late here."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _cmdline(pid: int) -> str | None:
    """Its command line, None when it ended meanwhile (listed, then gone before the read)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:  # ProcessLookupError or FileNotFoundError
        return None


def _user_leftovers(user) -> list[str]:
    found = [
        f"process {pid} of {user.name}: {cmd}"
        for pid in rootless._pids_of(user.uid)
        if _alive(pid) and (cmd := _cmdline(pid)) is not None
    ]
    found += [
        line
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if "rtlab-rl-" in line
    ]
    return found


def test_rootless_beside_rootful_on_runc_and_crun(user, open_dir):
    from rtlab.core.results import load_trials
    from tests.conftest import rtlab
    from tests.integration.conftest import oci_leftovers

    out = open_dir / "data"
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "oci",
        "--runtimes",
        "runc,crun,runsc",
        "--modes",
        "rootful,rootless",
        "--trials",
        "3",
        "--warmup",
        "1",
        "--out",
        str(out),
        env=_env(user, open_dir),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipping oci/runsc (rootless): runsc --rootless" in r.stdout
    df = load_trials(out)
    rootless_rows = df[df["mode"] == "rootless"]
    assert set(rootless_rows.runtime) == {"runc", "crun"}
    assert set(df[df["mode"] == "rootful"].runtime) == {"runc", "crun", "runsc"}
    assert rootless_rows.ok.all(), rootless_rows[~rootless_rows.ok].error.tolist()
    assert len(rootless_rows) == 2 * 4 * 5
    meta = __import__("json").loads((out / "run.json").read_text())
    wrapper = meta["rootless_wrapper"]
    assert wrapper["wrapped_median_s"] > wrapper["true_median_s"] > 0
    configs = {(t["runtime"], t["mode"]): t["config"] for t in meta["targets"]}
    assert configs[("runc", "rootless")]["uid"] == user.uid
    assert configs[("runc", "rootless")]["wrapper"][0] == "setpriv"
    assert _user_leftovers(user) == [] and oci_leftovers(f"rtlab-{meta['token']}-") == []


def test_interrupted_rootless_run_leaves_nothing_of_the_user(user, open_dir):
    import signal
    import sys
    import time

    from tests.conftest import REPO

    out = open_dir / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtlab",
            "collect",
            "--no-progress",
            "--clients",
            "oci",
            "--runtimes",
            "runc,crun",
            "--modes",
            "rootless",
            "--trials",
            "20",
            "--warmup",
            "0",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=_env(user, open_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    csv = out / "trials.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        csv.exists() and len(csv.read_text().splitlines()) > 10
    ):
        time.sleep(0.02)
    time.sleep(0.15)  # inside a trial, a rootless container alive
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert _user_leftovers(user) == []


def test_rootless_podman_over_runc_and_crun_in_its_own_storage(user, open_dir):
    import json

    from rtlab.core.results import load_trials
    from tests.conftest import rtlab

    need_tools("podman")
    out = open_dir / "data"
    r = rtlab(
        "collect",
        "--no-progress",
        "--clients",
        "podman",
        "--runtimes",
        "runc,crun",
        "--modes",
        "rootless",
        "--trials",
        "2",
        "--warmup",
        "0",
        "--out",
        str(out),
        env=_env(user, open_dir),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    df = load_trials(out)
    assert df.ok.all(), df[~df.ok].error.tolist()
    assert set(df["mode"]) == {"rootless"} and set(df.runtime) == {"runc", "crun"}
    meta = json.loads((out / "run.json").read_text())
    for t in meta["targets"]:
        c = t["config"]
        assert c["storage_driver"] == "overlay" and c["graph_root"].startswith(str(user.home))
        assert c["network"].startswith("none") and c["image_id"]
    assert _user_leftovers(user) == []  # podman's pause process ended too


# -- rtlab itself as an unprivileged user (analyze, compare, report --runs; collect refuses) --

NOBODY = 65534


@pytest.fixture(scope="module")
def nobody_rtlab(tmp_path_factory):
    """rtlab as another user gets it when the checkout is closed to them (a clone in /root):
    set-up's user copy (rtlab/host/user_copy.py: a venv of Debian's python3 from the
    lock), with this checkout's rtlab and notebooks copied into a folder all can read
    (first on PYTHONPATH, so the code under test is this checkout's, not the last set-up's)."""
    import shutil
    import tempfile

    from rtlab.host import user_copy
    from tests.conftest import REPO, SETUP_DONE

    why = user_copy.missing()
    if why:
        (pytest.fail if SETUP_DONE else pytest.skip)(why)
    src = Path(tempfile.mkdtemp(prefix="rtlab-src-"))
    src.chmod(0o755)
    skip = shutil.ignore_patterns("__pycache__")
    for name in user_copy.COPIED:  # what the user copy holds, from this checkout
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=skip)
        else:
            shutil.copy2(REPO / name, src / name)
    subprocess.run(["chmod", "-R", "a+rX", str(src)], check=True)
    yield user_copy.python(), src
    shutil.rmtree(src, ignore_errors=True)


def as_nobody(
    args: list[str], folder: Path, rtlab_for_nobody, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m rtlab <args>`` as uid 65534 (nobody), no capabilities and a clean
    environment, HOME and XDG dirs in ``folder`` (which it owns), cwd ``folder``, with the
    interpreter and source of :func:`nobody_rtlab` (never this checkout's venv, which may
    sit in a folder nobody cannot enter)."""
    python, src = rtlab_for_nobody
    home = folder / "home"
    for sub in ("", ".cache", ".config", ".local/share", "run"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(folder)], check=True)
    (home / "run").chmod(0o700)
    env = [
        f"HOME={home}",
        f"XDG_CACHE_HOME={home / '.cache'}",
        f"XDG_CONFIG_HOME={home / '.config'}",
        f"XDG_DATA_HOME={home / '.local/share'}",
        f"XDG_RUNTIME_DIR={home / 'run'}",
        f"PYTHONPATH={src}",
        "PATH=/usr/local/bin:/usr/bin:/bin",
    ]
    argv = [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "--inh-caps=-all",
        "--reset-env",
        "--",
        "env",
        *env,
        str(python),
        "-m",
        "rtlab",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, cwd=folder, timeout=timeout)


def test_the_user_copy_runs_for_another_user(open_dir):
    """The command README gives a user who cannot read the checkout: it runs as nobody,
    from a folder of nobody's, and it is rtlab (set-up made it; purge removes it)."""
    from rtlab.host import user_copy
    from tests.conftest import SETUP_DONE

    why = user_copy.missing()
    if why:
        (pytest.fail if SETUP_DONE else pytest.skip)(why)
    subprocess.run(["chown", f"{NOBODY}:{NOBODY}", str(open_dir)], check=True)
    r = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--reset-env",
         "--", str(user_copy.command()), "analyze", "--help"],
        capture_output=True, text=True, cwd=open_dir, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "usage: rtlab analyze" in r.stdout


@pytest.fixture
def nobody_runs(open_dir):
    """Copies of the two sample runs in a folder nobody owns."""
    import shutil

    from tests.conftest import REPO

    for run in ("run-1", "run-2"):
        shutil.copytree(REPO / "data" / "sample" / run, open_dir / run)
    return open_dir


def _owned_by_nobody(path: Path) -> bool:
    return all(p.stat().st_uid == NOBODY for p in [path, *path.rglob("*")])


def test_analyze_compare_and_report_run_as_an_unprivileged_user(nobody_runs, nobody_rtlab):
    folder = nobody_runs
    r = as_nobody(["analyze", "run-1", "run-2", "--out", "analysis"], folder, nobody_rtlab)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (folder / "analysis" / "summary.csv").is_file()
    assert _owned_by_nobody(folder / "analysis")
    r = as_nobody(["compare", "run-1", "run-2", "--out", "change"], folder, nobody_rtlab)
    assert r.returncode in (0, 1), r.stdout + r.stderr  # 1: the gate found a regression
    assert "Traceback" not in r.stderr and (folder / "change").is_dir()
    r = as_nobody(["report", "--runs", "run-1", "--reports-dir", "reports"], folder, nobody_rtlab)
    assert r.returncode == 0, r.stdout + r.stderr
    html = folder / r.stdout.strip().splitlines()[-1]  # relative to its cwd, as given
    assert html.is_file() and html.is_relative_to(folder / "reports")
    assert "Traceback" not in html.read_text()
    assert _owned_by_nobody(folder / "reports")


def test_collect_as_an_unprivileged_user_refuses_in_one_line(open_dir, nobody_rtlab):
    r = as_nobody(
        [
            "collect",
            "--no-progress",
            "--clients",
            "oci,podman",
            "--runtimes",
            "runc",
            "--modes",
            "rootful,rootless",
            "--trials",
            "1",
            "--out",
            "data",
        ],
        open_dir,
        nobody_rtlab,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert (
        lines[0].startswith(
            f"rtlab collect: error: rtlab collect needs root (running as uid {NOBODY}): "
        )
        and "setpriv" in lines[0]
    )
    assert "analyze, compare and report --runs work" in lines[0]
    assert not (open_dir / "data").exists()
    # a bad value is still said first, as for root
    r = as_nobody(["collect", "--modes", "rootles", "--out", "data"], open_dir, nobody_rtlab)
    assert r.returncode == 2 and "'rootles'" in r.stderr and "needs root" not in r.stderr


def test_a_sigkilled_rootless_run_is_swept_by_the_next_run_or_clean(user, open_dir):
    """collect killed with SIGKILL mid-trial (no final sweep): the user's container
    processes, conmon and podman's pause process, plus a real slirp4netns and a real
    fuse-overlayfs mount of the user (podman's network and storage helpers when it uses
    them), are all removed by rootless.sweep_dead (what clean and the next rootless run
    call); podman's record of the container goes too."""
    import signal
    import sys
    import time

    from rtlab.collect.clients.podman_rootless import podman_argv
    from tests.conftest import REPO

    need_tools("podman")
    out, runtime_dir = open_dir / "data", open_dir / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtlab",
            "collect",
            "--no-progress",
            "--clients",
            "podman,oci",
            "--runtimes",
            "runc",
            "--modes",
            "rootless",
            "--trials",
            "30",
            "--warmup",
            "0",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=_env(user, open_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wrap = rootless.wrapper(user)
    helpers = []
    try:
        csv = out / "trials.csv"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (
            csv.exists() and len(csv.read_text().splitlines()) > 12
        ):
            time.sleep(0.02)
        # the user's own helpers: a user+network namespace with slirp4netns on it, a fuse mount
        ns = subprocess.Popen(
            [*wrap, "unshare", "--user", "--map-root-user", "--net", "sleep", "600"],
            cwd=rootless.CWD,
        )
        helpers.append(ns)
        time.sleep(0.3)
        slirp = subprocess.Popen(
            [
                *wrap,
                "slirp4netns",
                "--configure",
                f"--userns-path=/proc/{ns.pid}/ns/user",
                str(ns.pid),
                "tap0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=rootless.CWD,
        )
        helpers.append(slirp)
        layers = {
            n: rootless.user_dir(user, open_dir / "fuse" / n)
            for n in ("lower", "upper", "work", "mnt")
        }
        fuse = subprocess.run(
            [
                *wrap,
                "fuse-overlayfs",
                "-o",
                f"lowerdir={layers['lower']},upperdir={layers['upper']},workdir={layers['work']}",
                str(layers["mnt"]),
            ],
            capture_output=True,
            text=True,
            cwd=rootless.CWD,
        )
        # this host's /dev/fuse and /dev/net/tun are root's alone (0600): no user can mount a
        # fuse file system or give a namespace a slirp4netns network here (podman uses the
        # kernel's overlay and --network none); those parts run where a user can
        fused = fuse.returncode == 0
        assert fused or "failed to open /dev/fuse: Permission denied" in fuse.stderr, fuse.stderr
        try:
            slirped = slirp.wait(timeout=1) is None
        except subprocess.TimeoutExpired:
            slirped = True
        if not slirped:
            assert 'open("/dev/net/tun"): Permission denied' in slirp.communicate()[1]
        # inside a podman trial: killed while one of the user's containers has its conmon
        # (between podman's create and its delete; a fixed sleep could land between them)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if "conmon" in "\n".join(_user_leftovers(user)):
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        time.sleep(0.3)
        left = _user_leftovers(user)
        texts = "\n".join(left)
        assert "conmon" in texts and "sleep\x00600" in texts, texts
        assert ("slirp4netns" in texts) == slirped, texts
        assert rootless.fuse_mounts(user.uid) == ([str(layers["mnt"])] if fused else [])
        store = user.home / "podman"
        listed = subprocess.run(
            [*wrap, *podman_argv("podman", store), "ps", "-a", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            cwd=rootless.CWD,  # as the user: never this checkout, closed to it in /root
        ).stdout.split()
        assert any(n.startswith("rtlab-") for n in listed), listed
        # a live run acting as the user keeps them all
        token = next(p.name for p in runtime_dir.iterdir() if (p / rootless.MARKER).is_file())
        assert rootless.sweep_dead({token: "live"}, runtime_dir, user.name) == []
        assert _user_leftovers(user)
        problems: list[str] = []
        removed = rootless.sweep_dead({}, runtime_dir, user.name, say=problems.append)
    finally:
        if proc.poll() is None:
            proc.kill()
        for h in helpers:
            if h.poll() is None:
                h.kill()
            h.communicate(timeout=10)
    said = "\n".join(removed)
    assert "conmon" in said and "sleep 600" in said and ("slirp4netns" in said) == slirped
    assert (f"fuse mount {layers['mnt']}" in said) == fused
    assert any(line.startswith("podman container rtlab-") for line in removed), (said, problems)
    assert _user_leftovers(user) == [] and rootless.fuse_mounts(user.uid) == []
    listed = subprocess.run(
        [*wrap, *podman_argv("podman", user.home / "podman"), "ps", "-a", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        cwd=rootless.CWD,
    ).stdout
    assert "rtlab-" not in listed
    for pid in rootless._pids_of(user.uid):  # the pause process that last podman ps started
        os.kill(pid, signal.SIGKILL)


def test_doctor_says_in_one_line_what_rootless_docker_misses_here():
    import shutil

    from tests.conftest import rtlab

    r = rtlab("doctor")
    lines = [line for line in r.stdout.splitlines() if "docker rootless" in line]
    assert len(lines) == 1, r.stdout
    line = lines[0]
    assert line.startswith("rootless  docker rootless not measured: missing ")
    assert ("rootlesskit (Debian package rootlesskit, not installed)" in line) == (
        shutil.which("rootlesskit") is None
    )
    assert (str(rootless.DOCKERD_ROOTLESS) in line) == (not rootless.DOCKERD_ROOTLESS.is_file())
    tun_open = Path("/dev/net/tun").stat().st_mode & 0o006 == 0o006
    assert ("slirp4netns cannot open /dev/net/tun" in line) == (
        not tun_open and shutil.which("vpnkit") is None and shutil.which("lxc-user-nic") is None
    )
    assert "an rtlab driver for a per-user dockerd" in line
