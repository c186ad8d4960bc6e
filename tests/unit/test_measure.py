import time

from rtlab.measure import harness_overhead, run_timed
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
    marker = "rtlab-test-marker-3141"
    m = run_timed(["sh", "-c", f"sleep 300 & exec sleep 301 # {marker}"], 0.5)
    assert m.timed_out and not m.ok
    assert "timed out after" in m.describe_failure()
    time.sleep(0.2)
    assert not [p for p in processes_naming("sleep 30") if "30" in p and marker in p]
    assert not processes_naming("sleep 300")


def test_cpu_time_counts_reaped_children():
    m = run_timed(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"], 30)
    assert m.ok and m.user_s + m.sys_s > 0


def test_missing_binary_is_an_error_not_a_crash():
    m = run_timed(["no-such-binary-rtlab"], 5)
    assert not m.ok and "not found" in m.describe_failure()


def test_harness_overhead_keeps_every_sample():
    o = harness_overhead(samples=5)
    assert len(o["wall_s"]) == 5 and o["median_s"] > 0 and o["command"]
