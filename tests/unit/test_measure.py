import time

from rtlab.core.measure import harness_overhead, run_timed
from tests.conftest import processes_naming


def test_exit_code_stdout_and_stderr_tail_are_kept():
    m = run_timed(["sh", "-c", "echo out; echo oops >&2; exit 3"], 10, capture_stdout=True)
    assert m.exit_code == 3 and not m.ok
    assert m.stdout == "out\n"
    assert m.stderr_tail == "oops\n"
    assert m.describe_failure() == "exit 3: oops"


def test_success_is_ok_with_positive_wall_time():
    m = run_timed(["true"], 10)
    assert m.ok and m.exit_code == 0 and m.wall_s > 0 and m.describe_failure() == ""


def test_timeout_kills_the_whole_process_group():
    # Two processes the command leaves: a background child (only a group kill reaches
    # it) and the shell exec'd into another sleep. Their argv are unique to this test
    # and survive the exec (a marker in the shell's own text would not).
    child, leader = "sleep 3141.5926", "sleep 3141.5927"
    m = run_timed(["sh", "-c", f"{child} & exec {leader}"], 0.5)
    assert m.timed_out and not m.ok
    assert "timed out after" in m.describe_failure()
    deadline = time.monotonic() + 5  # SIGKILLed processes are reaped by init soon after
    while (processes_naming(child) or processes_naming(leader)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert processes_naming(child) == [] and processes_naming(leader) == []


def test_the_process_check_sees_a_live_sleep():
    """The check above can fail: processes_naming finds a running sleep by its argv."""
    import subprocess

    proc = subprocess.Popen(["sleep", "3141.5928"])
    try:
        deadline = time.monotonic() + 5
        while not processes_naming("sleep 3141.5928") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert processes_naming("sleep 3141.5928"), open(f"/proc/{proc.pid}/cmdline").read()
    finally:
        proc.kill()
        proc.wait()


def test_cpu_time_counts_reaped_children():
    m = run_timed(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"], 30)
    assert m.ok and m.user_s + m.sys_s > 0


def test_missing_binary_is_an_error_not_a_crash():
    m = run_timed(["no-such-binary-rtlab"], 5)
    assert not m.ok and "not found" in m.describe_failure()


def test_harness_overhead_keeps_every_sample():
    o = harness_overhead(samples=5)
    assert len(o["wall_s"]) == 5 and o["median_s"] > 0 and o["command"]
