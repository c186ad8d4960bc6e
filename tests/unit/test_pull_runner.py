"""Experiment pull (collect/pull.py, core/pull.py) on an in-memory client: the grid of
units, each trial's cache state, rows kept on failure, the bytes column, the images
removed at the end. No root, no registry, no client."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rtlab.collect import units
from rtlab.collect.clients.base import Target
from rtlab.collect.pull import PullRunner, lo_rx_bytes
from rtlab.collect.scheduler import Unit, UnitState
from rtlab.core import experiments, options
from rtlab.core.measure import Measurement
from rtlab.core.pull import Sizes, parse_size, size_label
from rtlab.core.runtimes import KNOWN
from rtlab.host.pull_images import PulledImage

EXP = experiments.get("pull")
REF = "127.0.0.1:5999/rtlab/pull:"


def _ok(argv, wall=0.01, code=0, err=""):
    return Measurement(tuple(argv), wall, 0.0, 0.0, code, False, "", err)


class FakeStore(Target):
    """A client with an image store: what it holds, and every command it ran."""

    client = "docker"
    image_store = "docker"

    def __init__(self, *, pull_fails: bool = False):
        self.images: set[str] = set()
        self.ran: list[list[str]] = []
        self.pull_fails = pull_fails
        self.runtime = KNOWN["runc"]
        self.workload = None

    label = "docker/runc"
    condition: dict = {}

    def find_binary(self):
        return "docker"

    def image_id(self, ref):
        return "sha256:x" if ref in self.images else None

    def remove_image_argv(self, binary, ref):
        return [binary, "rmi", ref]

    def quiet(self, argv, timeout_s=0):
        return self.execute(argv, timeout_s)

    def execute(self, argv, timeout_s):
        self.ran.append(list(argv))
        if argv[1] == "rmi":
            self.images.discard(argv[2])
        if argv[1] == "pull":
            if self.pull_fails:
                return _ok(argv, code=1, err="boom")
            self.images.add(argv[-1])
        return _ok(argv)

    def step_commands(self, step, cid):
        name = step if isinstance(step, str) else step.name
        ref = self.workload.image_ref()
        return {
            "pull": [["docker", "pull", ref]],
            "create": [["docker", "create", "--name", cid, ref, *self.workload.lifecycle_args()]],
            "start": [["docker", "start", cid]],
            "kill": [["docker", "kill", cid]],
            "delete": [["docker", "rm", cid]],
        }[name]

    def step_actions(self, step, cid):
        from rtlab.core.actions import Spawn

        return [Spawn(tuple(a)) for a in self.step_commands(step, cid)]

    def wait_for(self, cid, state, timeout_s):
        return None

    leftovers: set = set()

    def pull_leftovers(self):
        return set(self.leftovers)

    def remove_pull_leftovers(self, items):
        self.leftovers -= items
        return []

    def remove(self, cid):
        return []


def _images(sizes=(0, 50_000_000), compressions=("gzip", "zstd")):
    return [
        PulledImage(f"{REF}s{s}-{c}", s, c, "sha256:d", 2, 10, 20, (f"x+{c}",))
        for s in sizes
        for c in compressions
    ]


def _runner(store, drops):
    lo = iter(range(0, 10**9, 1000))  # the loopback counter: +1000 bytes a reading
    runner = PullRunner(
        EXP,
        EXP.steps,
        run_id="r",
        token="20260101T000000Z-abcd",
        timeout_s=5.0,
        execute=store.execute,
        say=lambda line: None,
        sweep=lambda cid: None,
        idle=lambda s: 0.0,
        push=lambda sizes, compressions, **kw: _images(sizes, compressions),
        lo_bytes=lambda: next(lo),
        drop_page_cache=lambda: drops.append(1),
        sizes=[0, 50_000_000],
        compressions=["gzip", "zstd"],
    )
    meta = runner.prepare()
    return runner, meta


def _state(store, size, compression, cache):
    cond = {"pace_s": 0.0, "image_size_bytes": size, "compression": compression, "cache": cache}
    return UnitState(Unit(store, cond))


def test_the_options_read_sizes_and_the_grid_makes_one_unit_per_value():
    assert parse_size("50MB") == 50_000_000 and parse_size("0") == 0
    assert parse_size("1.5GB") == 1_500_000_000 and parse_size("64MiB") == 64 * 2**20
    assert size_label(200_000_000) == "200MB" and size_label(0) == "0"
    assert Sizes().from_text("200MB,0,50MB", "--image-sizes") == [0, 50_000_000, 200_000_000]
    for bad in ("50XB", "-1", "5GB"):
        with pytest.raises(options.OptionError, match="--image-sizes"):
            Sizes().from_text(bad, "--image-sizes")
    with pytest.raises(options.OptionError, match="given twice"):
        Sizes().from_text("50MB,50000000", "--image-sizes")
    opts = SimpleNamespace(
        paces=[0.1],
        extra={"image_sizes": [0, 5], "compressions": ["zstd"], "caches": ["cold", "warm"]},
    )
    cells = [cond for cond, _ in units.expansions(opts, EXP)]
    assert cells == [
        {"pace_s": 0.1, "image_size_bytes": s, "compression": "zstd", "cache": c}
        for s in (0, 5)
        for c in ("cold", "warm")
    ]
    lifecycle = SimpleNamespace(paces=[0.1], extra={})
    assert [c for c, _ in units.expansions(lifecycle, experiments.get("lifecycle"))] == [
        {"pace_s": 0.1}
    ]
    assert EXP.total == ("pull", "create", "start") and EXP.steps == ("pull", "create", "start")


def test_a_cold_trial_removes_every_pull_image_then_drops_the_cache_before_the_pull():
    store, drops = FakeStore(), []
    runner, meta = _runner(store, drops)
    assert [i["ref"] for i in meta["pull"]["images"]] == [i.ref for i in _images()]
    store.images = {f"{REF}s0-gzip", f"{REF}s50000000-zstd", "localhost/rtlab/busybox:latest"}
    rows = runner.run(_state(store, 50_000_000, "zstd", "cold"), 0, False)
    assert [r["step"] for r in rows] == ["pull", "create", "start"] and all(r["ok"] for r in rows)
    rmi = [a for a in store.ran if a[1] == "rmi"]
    assert sorted(a[2] for a in rmi) == [f"{REF}s0-gzip", f"{REF}s50000000-zstd"]
    assert store.ran.index(rmi[-1]) < store.ran.index(["docker", "pull", f"{REF}s50000000-zstd"])
    assert drops == [1] and rows[0]["caches_dropped"] is True
    assert rows[0]["pull_lo_bytes"] == 1000 and rows[1]["pull_lo_bytes"] is None
    assert "localhost/rtlab/busybox:latest" in store.images, "rtlab's own image stays"
    assert store.ran[-2:] == [
        ["docker", "kill", rows[0]["container_id"]],
        ["docker", "rm", rows[0]["container_id"]],
    ]
    assert [
        "docker",
        "create",
        "--name",
        rows[0]["container_id"],
        f"{REF}s50000000-zstd",
        "sleep",
        "3600",
    ] in store.ran


def test_a_warm_trial_pulls_untimed_only_when_the_store_lacks_the_image():
    store, drops = FakeStore(), []
    runner, _ = _runner(store, drops)
    rows = runner.run(_state(store, 0, "gzip", "warm"), 0, False)
    pulls = [a for a in store.ran if a[1] == "pull"]
    assert len(pulls) == 2, "one untimed before the trial, one timed"
    assert drops == [] and not rows[0].get("caches_dropped")
    store.ran.clear()
    runner.run(_state(store, 0, "gzip", "warm"), 1, False)
    assert len([a for a in store.ran if a[1] == "pull"]) == 1


def test_a_failed_pull_keeps_its_row_and_the_later_steps_say_not_run():
    store, drops = FakeStore(pull_fails=True), []
    runner, _ = _runner(store, drops)
    rows = runner.run(_state(store, 0, "zstd", "cold"), 0, False)
    assert [(r["step"], r["ok"]) for r in rows] == [
        ("pull", False),
        ("create", False),
        ("start", False),
    ]
    assert "boom" in rows[0]["error"] and rows[1]["error"] == "not run: pull failed"
    # a warm trial whose untimed pull fails keeps a row per step with the reason
    rows = runner.run(_state(store, 0, "zstd", "warm"), 1, False)
    assert [r["step"] for r in rows] == ["pull", "create", "start"]
    assert all(r["error"].startswith("not run: warm cache: the untimed pull") for r in rows)


def test_finish_removes_every_pull_image_from_each_store_the_run_touched():
    store, drops = FakeStore(), []
    runner, _ = _runner(store, drops)
    runner.run(_state(store, 0, "gzip", "warm"), 0, False)
    store.images.add("localhost/rtlab/busybox:latest")
    assert runner.finish() == []
    assert store.images == {"localhost/rtlab/busybox:latest"}


def test_the_runs_pull_runners_push_the_images_once():
    pushed, trusted = [], []
    shared: dict = {}

    def push(sizes, compressions, **kw):
        pushed.append(sizes)
        return _images(sizes, compressions)

    for exp in ("pull", "cri-pull"):
        e = experiments.get(exp)
        runner = PullRunner(
            e,
            e.steps,
            run_id="r",
            token="t",
            timeout_s=1.0,
            push=push,
            shared=shared,
            sizes=[0],
            trust=trusted.append,
        )
        assert [i["ref"] for i in runner.prepare()["pull"]["images"]] == [
            f"{REF}s0-gzip",
            f"{REF}s0-zstd",
        ]
    assert pushed == [[0]]
    assert trusted == ["127.0.0.1:5999"], "only the CRI's runner writes its hosts.toml"


def test_finish_removes_only_the_leftovers_of_pulls_killed_during_the_run():
    store, drops = FakeStore(), []
    store.leftovers = {"lease-before"}  # not this run's
    runner, _ = _runner(store, drops)
    runner.run(_state(store, 0, "gzip", "cold"), 0, False)
    store.leftovers = store.leftovers | {"lease-of-a-killed-pull"}
    assert runner.finish() == []
    assert store.leftovers == {"lease-before"}


def test_loopback_bytes_are_read_from_proc_net_dev(tmp_path):
    dev = tmp_path / "dev"
    dev.write_text(
        "Inter-|   Receive\n face |bytes    packets\n"
        "    lo: 123456 10 0 0 0 0 0 0 123456 10 0 0 0 0 0 0\n"
        "  eth0: 99 1 0 0 0 0 0 0 99 1 0 0 0 0 0 0\n"
    )
    assert lo_rx_bytes(dev) == 123456
    assert lo_rx_bytes(tmp_path / "missing") is None
