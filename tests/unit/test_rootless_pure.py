"""Rootless mode without root or a runtime: the option, the row column, the analysis
sentence, the ranges' arithmetic (tests/integration/test_rootless.py runs the real thing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _forked_cli import rtlab_forked as rtlab

from rtlab.analysis import modes, stats
from rtlab.core.options import OPTIONS, OptionError
from rtlab.host import rootless
from rtlab.report import rootless_report
from tests.conftest import REPO


def test_modes_option_accepts_only_the_two_modes():
    kind = next(o for o in OPTIONS if o.name == "modes").kind
    assert kind.from_text("rootful,rootless,rootful", "--modes") == ["rootful", "rootless"]
    with pytest.raises(OptionError, match=r"--modes 'rootles': accepted: rootful, rootless"):
        kind.from_text("rootful,rootles", "--modes")
    with pytest.raises(OptionError, match="accepted: rootful, rootless"):
        kind.check(["sudo"], "modes")


def test_bad_mode_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    r = rtlab("collect", "--modes", "rootles", "--out", str(tmp_path / "x"))
    assert r.returncode == 2
    assert "'rootles'" in r.stderr and "rootful, rootless" in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3  # argparse's usage + the one line


def test_free_range_starts_above_every_existing_range(tmp_path):
    sub = tmp_path / "subuid"
    sub.write_text("alice:100000:65536\nbob:300000:1000\n")
    gid = tmp_path / "subgid"
    gid.write_text("alice:100000:65536\n")
    assert rootless._free_start((sub, gid)) == 301000
    assert rootless._free_start((tmp_path / "none",)) == rootless.SUBID_FLOOR
    assert rootless.subid_ranges("alice", (sub, gid)) == {
        str(sub): ["100000:65536"],
        str(gid): ["100000:65536"],
    }


def _trials(rounds: int = 12, cost: float = 1.3, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for rnd in range(rounds):
        shared = rng.normal(0, 0.1)
        for mode, factor in (("rootful", 1.0), ("rootless", cost)):
            for step, base in (
                ("create", 0.03),
                ("start", 0.01),
                ("kill", 0.01),
                ("delete", 0.01),
                ("run", 0.04),
            ):
                rows.append(
                    {
                        "run_id": "r",
                        "experiment": "lifecycle",
                        "client": "oci",
                        "runtime": "runc",
                        "round": rnd,
                        "trial": rnd,
                        "warmup": False,
                        "step": step,
                        "ok": True,
                        "exit_code": 0,
                        "error": "",
                        "wall_s": base * factor * np.exp(shared + rng.normal(0, 0.03)),
                        "user_s": 0.0,
                        "sys_s": 0.0,
                        "container_id": "c",
                        "network": "",
                        "mode": mode,
                    }
                )
    return pd.DataFrame(rows)


def test_rootless_rows_are_paired_with_rootful_and_said_in_one_sentence():
    comparisons = stats.compare(_trials())
    found = modes.pairs(comparisons, "total")
    assert len(found) == 1
    p = found[0]
    assert (p["client"], p["runtime"], p["n_rounds"]) == ("oci", "runc", 12)
    assert p["ratio_ci_low"] <= p["ratio"] <= p["ratio_ci_high"]
    assert 1.2 < p["ratio"] < 1.4 and p["verdict"] == "slower"
    trials = _trials()
    text = rootless_report.headline(comparisons, trials)
    cost = rootless_report.costs(trials).iloc[0]
    assert (
        cost["n_rounds"] == 12 and cost["cost_ci_low_s"] <= cost["cost_s"] <= cost["cost_ci_high_s"]
    )
    # the cost is the rootless total minus the rootful one (about 0.3 x 0.06 s here)
    assert 0.012 < cost["cost_s"] < 0.024
    assert text.startswith(
        f"Rootless costs runc +{cost['cost_s'] * 1e3:.3g} ms (95% CI "
        f"+{cost['cost_ci_low_s'] * 1e3:.3g} to +"
    )
    assert "paired over 12 rounds: slower) per lifecycle through its own CLI (oci)." in text
    rootful = _trials().query("mode == 'rootful'")
    assert rootless_report.headline(stats.compare(rootful), rootful) == ""
    assert rootless_report.costs(rootful).empty


def test_rootless_cost_through_two_clients_is_one_sentence_per_runtime():
    oci = _trials(cost=1.3)
    podman = _trials(cost=2.0, seed=4).assign(client="podman")
    trials = pd.concat([oci, podman], ignore_index=True)
    text = rootless_report.headline(stats.compare(trials), trials)
    assert text.count("Rootless costs runc") == 1
    assert "per lifecycle through its own CLI (oci); through podman +" in text
    table = rootless_report.paired_table(trials, stats.compare(trials))
    assert list(table["client"]) == ["oci", "podman"]
    assert (table["verdict"] == "slower").all()
    assert table["cost ms"].iloc[1] > table["cost ms"].iloc[0]


def test_a_run_before_the_mode_column_loads_as_rootful(tmp_path):
    from rtlab.core.results import load_trials

    frame = _trials(2).query("mode == 'rootful'").drop(columns=["mode"])
    frame.to_csv(tmp_path / "trials.csv", index=False)
    assert set(load_trials(tmp_path)["mode"]) == {"rootful"}


def test_rootless_units_skip_runtimes_without_a_rootless_mode():
    assert "operation not permitted" in rootless.UNSUPPORTED["runsc"]
    assert (REPO / "rtlab" / "collect" / "clients" / "oci_rootless.py").is_file()


def test_the_report_asks_what_rootless_costs_not_which_client_is_fastest():
    from rtlab.report import views

    trials = _trials()
    flagged = stats.flag_outliers(trials)
    answers = dict(
        views.headline_answers(stats.summarize(flagged), stats.compare(flagged), [{}], trials)
    )
    assert "Which client is fastest over runc?" not in answers  # oci vs oci-rootless is not
    assert answers["What does running rootless cost?"].startswith("Rootless costs runc +")
    assert "per lifecycle through its own CLI (oci)." in answers["What does running rootless cost?"]


def test_the_rootless_section_says_one_line_without_rootless_rows_and_escapes_names():
    rootful = _trials().query("mode == 'rootful'")
    flagged = stats.flag_outliers(rootful)
    empty = rootless_report.section(rootful, stats.summarize(flagged), stats.compare(flagged))
    assert empty.data.count("<p>") == 1 and "No rootless trials" in empty.data
    trials = _trials().assign(runtime="ru<n>c")
    flagged = stats.flag_outliers(trials)
    meta = {
        "targets": [
            {
                "client": "podman",
                "runtime": "ru<n>c",
                "mode": "rootless",
                "config": {
                    "user": "u<1>",
                    "uid": 7,
                    "storage_driver": "overlay",
                    "overlay": "native kernel overlay",
                    "network": "none",
                },
            }
        ]
    }
    html = rootless_report.section(
        trials, stats.summarize(flagged), stats.compare(flagged), [meta]
    ).data
    assert "ru<n>c" not in html and "u<1>" not in html
    assert "Rootless costs ru&lt;n&gt;c +" in html
    assert "storage overlay (native kernel overlay), network none" in html
    assert html.count("<tr>") == 2 and "data:image/png;base64," in html


def test_fuse_mounts_of_a_user_are_read_from_mountinfo(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
        "90 22 0:50 / /tmp/a\\040b/mnt rw,nosuid,nodev - fuse.fuse-overlayfs fuse-overlayfs "
        "rw,user_id=999,group_id=995\n"
        "91 22 0:51 / /tmp/other rw - fuse.sshfs sshfs rw,user_id=1000,group_id=1000\n"
        "92 22 0:52 / /tmp/ovl rw - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c\n"
    )
    assert rootless.fuse_mounts(999, info) == ["/tmp/a b/mnt"]
    assert rootless.fuse_mounts(1000, info) == ["/tmp/other"]
    assert rootless.fuse_mounts(5, info) == [] and rootless.fuse_mounts(5, tmp_path / "x") == []


def test_a_live_run_claims_the_user_and_a_dead_one_does_not(tmp_path):
    acct = rootless.Account("rtlab-x", 12345, 12345, tmp_path / "home")
    rootless.claim(tmp_path / "20261129T000000Z-aaaa", acct)
    rootless.claim(tmp_path / "20261129T000000Z-bbbb", rootless.Account("rtlab-y", 1, 1, tmp_path))
    live = {"20261129T000000Z-aaaa": "1 /x", "20261129T000000Z-cccc": "2 /y"}
    assert rootless.users_in_use(live, tmp_path) == {"rtlab-x"}
    assert rootless.users_in_use({}, tmp_path) == set()


def test_doctor_names_what_rootless_docker_misses(monkeypatch, tmp_path):
    monkeypatch.setattr(rootless, "DOCKERD_ROOTLESS", tmp_path / "dockerd-rootless.sh")
    monkeypatch.setattr(rootless, "TUN", tmp_path / "tun")
    (tmp_path / "tun").write_text("")
    (tmp_path / "tun").chmod(0o600)
    monkeypatch.setattr(rootless.shutil, "which", lambda name: None)
    line = rootless.docker_missing()
    assert line == (
        f"docker rootless not measured: missing {tmp_path}/dockerd-rootless.sh (Debian package "
        "docker.io); rootlesskit (Debian package rootlesskit, not installed); a network "
        f"rootlesskit can give the user: slirp4netns cannot open {tmp_path}/tun (mode 0600, "
        "root's only), vpnkit is not packaged by Debian 12, lxc-user-nic (Debian package lxc) "
        "is not installed; an rtlab driver for a per-user dockerd (dockerd-rootless.sh with its "
        "XDG_RUNTIME_DIR, data root and socket)"
    )
    # with the script, rootlesskit and a tun every user can open, only rtlab's driver is missing
    (tmp_path / "dockerd-rootless.sh").write_text("")
    (tmp_path / "tun").chmod(0o666)
    monkeypatch.setattr(rootless.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert rootless.docker_missing() == (
        "docker rootless not measured: missing an rtlab driver for a per-user dockerd "
        "(dockerd-rootless.sh with its XDG_RUNTIME_DIR, data root and socket)"
    )
    assert "\n" not in line


def test_with_two_paces_the_cost_is_given_per_pace_and_a_flip_is_named():
    # back to back rootless is slower (x1.3); after an idle gap it is faster (x0.7): as on
    # this host, where the rootful container's cgroup set-up grows after idle
    trials = pd.concat(
        [
            _trials(cost=1.3).assign(pace_s=0.0),
            _trials(cost=0.7, seed=5).assign(pace_s=0.1, round=lambda f: f["round"] + 100),
        ],
        ignore_index=True,
    )
    table = rootless_report.costs(trials)
    assert list(table["pace_s"]) == [0.0, 0.1]
    assert table["cost_s"].iloc[0] > 0 > table["cost_s"].iloc[1]
    text = rootless_report.headline(stats.compare(trials), trials)
    assert text.count("Rootless costs runc") == 1
    assert "at pace 0 +" in text and "at pace 100 ms -" in text
    assert "paired over 12 rounds: slower)" in text and "paired over 12 rounds: faster)" in text
    assert (
        "flips with the pace: slower at pace 0, faster at pace 100 ms" in text
        and "depends on the idle gap" in text
    )
    shown = rootless_report.paired_table(trials, stats.compare(trials))
    assert list(shown["pace"]) == ["0", "100 ms"] and list(shown["verdict"]) == [
        "slower",
        "faster",
    ]
    # one pace, or the same verdict at both: no flip named
    same = pd.concat(
        [
            _trials(cost=1.3).assign(pace_s=0.0),
            _trials(cost=1.3, seed=5).assign(pace_s=0.1, round=lambda f: f["round"] + 100),
        ],
        ignore_index=True,
    )
    assert "No verdict flips" in rootless_report.headline(stats.compare(same), same)
    assert rootless_report.pace_flips(rootless_report.costs(_trials())) == []


def test_the_section_says_which_cgroup_each_mode_got():
    trials = _trials()
    flagged = stats.flag_outliers(trials)
    meta = {
        "targets": [
            {
                "client": "oci",
                "runtime": "runc",
                "mode": "rootful",
                "config": {"cgroup": "v2 /<x>; v1 cpu /rtlab-1"},
            },
            {
                "client": "oci",
                "runtime": "runc",
                "mode": "rootless",
                "config": {"cgroup": "none (the container stays in the cgroups of …)"},
            },
        ]
    }
    html = rootless_report.section(
        trials, stats.summarize(flagged), stats.compare(flagged), [meta]
    ).data
    assert "oci/runc rootful: v2 /&lt;x&gt;; v1 cpu /rtlab-1" in html
    assert "oci/runc rootless: none (the container stays" in html
    head = html.index("Rootless costs")
    assert head < html.index("Which cgroup each mode") < html.index("<table")


def test_cgroup_placement_tells_an_own_cgroup_from_the_parents():
    from rtlab.host import cgroups

    parent = "12:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice\n"
    assert cgroups.placement(parent, parent).startswith("none (")
    child = "12:cpu,cpuacct:/rtlab-x\n1:name=systemd:/user.slice\n0::/rtlab-x\n"
    assert cgroups.placement(child, parent) == "v1 cpu,cpuacct /rtlab-x; v2 /rtlab-x"
    assert cgroups.parse_membership(parent)["v1 name=systemd"] == "/user.slice"
