"""rtlab.core.conditions: durations, the idle gap, dropping the page cache, what /sys says."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtlab.core import conditions
from rtlab.core.conditions import (
    DropCachesError,
    DurationError,
    format_pace,
    idle,
    parse_duration,
    parse_paces,
)
from rtlab.core.options import DEFAULT_PACE_S

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("0", 0.0),
        ("0s", 0.0),
        ("0ms", 0.0),
        ("0.0", 0.0),
        ("10ms", 0.010),
        ("10 ms", 0.010),
        ("10MS", 0.010),
        (" 10ms ", 0.010),
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("1e-3s", 0.001),
        (0, 0.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration_accepts_the_documented_forms(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12, abs=0)


@pytest.mark.parametrize(
    "text",
    [
        "-1",
        "-1ms",
        "5parsecs",
        "",
        "   ",
        "nan",
        "inf",
        "-inf",
        "nanms",
        "infs",
        "1e999s",
        "10",
        "2.5",
        "10 m s",
        "10msx",
        "ms",
        "1,5s",
        "0x10ms",
        "1 000ms",
        float("nan"),
        float("inf"),
        -0.5,
        True,
    ],
)
def test_parse_duration_refuses_bad_values_in_one_line(text):
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("--pace ")
    assert "10ms" in message  # says what is accepted
    shown = str(text).strip()
    if shown and not isinstance(text, float):
        assert shown in message  # names the bad value


def test_duration_error_is_a_value_error_and_names_the_option():
    with pytest.raises(ValueError, match=r"^--paces 5parsecs"):
        parse_duration("5parsecs", name="--paces")


def test_parse_duration_refuses_more_than_the_maximum():
    assert parse_duration("60s") == 60.0
    with pytest.raises(DurationError, match="61s"):
        parse_duration("61s")
    with pytest.raises(DurationError):
        parse_duration("2s", maximum=1.0)


def test_parse_paces_sorted_without_duplicates():
    assert parse_paces("0,10ms,100ms,1s") == [0.0, 0.01, 0.1, 1.0]
    assert parse_paces("1s, 0") == [0.0, 1.0]
    assert parse_paces("10ms") == [0.01]


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "no pace"),
        (" , ", "no pace"),
        ("0,,10ms", "empty item"),
        ("10ms,0.01s", "repeats"),
        ("0,0", "repeats"),
        ("0,5parsecs", "5parsecs"),
        ("0,-1", "-1"),
    ],
)
def test_parse_paces_refuses_in_one_line(text, why):
    with pytest.raises(DurationError) as info:
        parse_paces(text)
    assert why in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("--paces")


@pytest.mark.parametrize(
    "seconds, shown",
    [
        (0, "0"),
        (0.0, "0"),
        (250e-6, "250 µs"),
        (0.01, "10 ms"),
        (0.1, "100 ms"),
        (0.0105, "10.5 ms"),
        (1, "1 s"),
        (1.5, "1.5 s"),
        (60, "60 s"),
        (float("nan"), "not recorded"),
    ],
)
def test_format_pace(seconds, shown):
    assert format_pace(seconds) == shown


@pytest.mark.parametrize("seconds", [0, 250e-6, 0.01, 0.1, 1.5, 60])
def test_format_pace_round_trips_through_parse_duration(seconds):
    assert parse_duration(format_pace(seconds)) == pytest.approx(seconds, rel=1e-9)


def test_default_pace_is_named_documented_and_at_most_100_ms():
    assert 0 < DEFAULT_PACE_S <= 0.1
    assert parse_duration(format_pace(DEFAULT_PACE_S)) == DEFAULT_PACE_S
    source = (REPO / "rtlab" / "core" / "options.py").read_text()
    # the docstring right after the constant says why, and what it adds to a make report
    doc = source.split("\nDEFAULT_PACE_S = ", 1)[1].split('"""')[1]
    assert "make report" in doc and "stable" in doc


def test_idle_measures_from_since_and_never_returns_early():
    # bookkeeping "took" longer than the pace: no sleep, the gap is what has already passed
    since = time.perf_counter() - 0.05
    gap = idle(0.01, since=since)
    assert gap >= 0.05
    # the gap starts at `since`, never later
    since = time.perf_counter()
    gap = idle(0.002, since=since)
    assert gap >= 0.002
    assert time.perf_counter() - since >= gap
    assert idle(0) >= 0
    assert idle(0.001) >= 0.001


def test_idle_sleeps_rather_than_spins():
    """Most of a 50 ms gap is spent off the CPU (a busy wait would use all of it)."""
    cpu0 = time.process_time()
    gap = idle(0.05)
    cpu = time.process_time() - cpu0
    assert gap >= 0.05
    assert cpu < gap / 2


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_idle_refuses_bad_paces(bad):
    with pytest.raises(DurationError):
        idle(bad)


def test_drop_caches_refused_in_one_line_for_non_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for call in (conditions.check_drop_caches_allowed, conditions.drop_caches):
        with pytest.raises(PermissionError) as info:
            call()
        assert isinstance(info.value, DropCachesError)
        assert "root" in str(info.value) and "\n" not in str(info.value)


def test_drop_caches_refused_when_the_file_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(conditions, "DROP_CACHES", tmp_path / "nothing")
    with pytest.raises(DropCachesError, match="does not exist"):
        conditions.check_drop_caches_allowed()


def test_drop_caches_syncs_then_writes_3(monkeypatch, tmp_path):
    target = tmp_path / "drop_caches"
    target.write_text("")
    calls = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(conditions, "DROP_CACHES", target)
    monkeypatch.setattr(os, "sync", lambda: calls.append(("sync", target.read_text())))
    conditions.drop_caches()
    assert calls == [("sync", "")]  # sync came before the write
    assert target.read_text() == "3\n"


def _cached_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Cached:"):
            return int(line.split()[1])
    raise AssertionError("no Cached: line in /proc/meminfo")


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping the page cache needs root")
def test_drop_caches_as_root_empties_the_page_cache(tmp_path_factory):
    """Root only: a freshly read 64 MiB file is in the page cache, and gone from it after."""
    size = 64 * 1024 * 1024
    # /var/tmp, not /tmp: a tmpfs file is counted in Cached and can never be dropped
    folder = Path(os.environ.get("RTLAB_DROP_TEST_DIR", "/var/tmp"))
    path = folder / f"rtlab-drop-caches-test-{os.getpid()}"
    try:
        with open(path, "wb") as f:
            for _ in range(size // (1 << 20)):
                f.write(os.urandom(1 << 20))
            f.flush()
            os.fsync(f.fileno())
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
        before = _cached_kib()
        conditions.drop_caches()
        after = _cached_kib()
    finally:
        path.unlink(missing_ok=True)
    dropped_kib = before - after
    assert dropped_kib >= size // 1024 // 2, (
        f"Cached went from {before} to {after} KiB: the 64 MiB just read was not dropped"
    )


def test_conditions_imports_the_standard_library_only():
    code = (
        "import sys; import rtlab.core.conditions; "
        "bad = [m for m in ('pandas', 'numpy', 'scipy', 'matplotlib') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    ).stdout.strip()
    assert out == ""


def test_cpu_conditions_reads_a_fake_sys_tree(tmp_path):
    cpu = tmp_path / "cpu"
    (cpu / "cpuidle").mkdir(parents=True)
    (cpu / "cpuidle" / "current_driver").write_text("haltpoll\n")
    s0 = cpu / "cpu0" / "cpuidle" / "state0"
    s0.mkdir(parents=True)
    for key, value in {
        "name": "POLL",
        "latency": "0",
        "usage": "12",
        "time": "34",
        "disable": "0",
    }.items():
        (s0 / key).write_text(value + "\n")
    (cpu / "cpu1").mkdir()
    (cpu / "cpu1" / "cpufreq").mkdir()
    (cpu / "cpu1" / "cpufreq" / "scaling_governor").write_text("performance\n")
    out = conditions.cpu_conditions(cpu)
    assert out["cpuidle_driver"] == "haltpoll"
    assert out["cpuidle_governor"] == conditions.NOT_READABLE
    assert out["cpus"]["cpu0"]["scaling_governor"] == conditions.NOT_READABLE
    assert out["cpus"]["cpu0"]["cpuidle_states"] == [
        {"name": "POLL", "latency": 0, "usage": 12, "time": 34, "disable": 0}
    ]
    assert out["cpus"]["cpu1"]["scaling_governor"] == "performance"
    assert out["cpus"]["cpu1"]["cpuidle_states"] == conditions.NOT_READABLE
