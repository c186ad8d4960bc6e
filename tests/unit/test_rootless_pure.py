"""Rootless mode without root or a runtime: the option, the row column, the analysis
sentence, the ranges' arithmetic (tests/integration/test_rootless.py runs the real thing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rtlab.host import rootless
from rtlab.analysis import stats
from rtlab.core.options import OPTIONS, OptionError
from tests.conftest import REPO, rtlab


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
    assert rootless.subid_ranges("alice", (sub, gid)) == {str(sub): ["100000:65536"],
                                                          str(gid): ["100000:65536"]}


def _trials(rounds: int = 12, cost: float = 1.3, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for rnd in range(rounds):
        shared = rng.normal(0, 0.1)
        for mode, factor in (("rootful", 1.0), ("rootless", cost)):
            for step, base in (("create", 0.03), ("start", 0.01), ("kill", 0.01),
                               ("delete", 0.01), ("run", 0.04)):
                rows.append({"run_id": "r", "experiment": "lifecycle", "client": "oci",
                             "runtime": "runc", "round": rnd, "trial": rnd, "warmup": False,
                             "step": step, "ok": True, "exit_code": 0, "error": "",
                             "wall_s": base * factor * np.exp(shared + rng.normal(0, 0.03)),
                             "user_s": 0.0, "sys_s": 0.0, "container_id": "c",
                             "network": "", "mode": mode})
    return pd.DataFrame(rows)


def test_rootless_rows_are_paired_with_rootful_and_said_in_one_sentence():
    comparisons = stats.compare(_trials())
    found = rootless.pairs(comparisons, "total")
    assert len(found) == 1
    p = found[0]
    assert (p["client"], p["runtime"], p["n_rounds"]) == ("oci", "runc", 12)
    assert p["ratio_ci_low"] <= p["ratio"] <= p["ratio_ci_high"]
    assert 1.2 < p["ratio"] < 1.4 and p["verdict"] == "slower"
    text = rootless.headline(comparisons)
    assert text.startswith("Rootless against rootful (total): runc through oci takes 1.")
    assert "paired over 12 rounds: slower" in text
    assert rootless.headline(stats.compare(_trials().query("mode == 'rootful'"))) == ""


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
    answers = dict(views.headline_answers(stats.summarize(flagged), stats.compare(flagged),
                                          [{}], trials))
    assert "Which client is fastest over runc?" not in answers  # oci vs oci-rootless is not
    assert answers["What does running rootless cost?"].startswith(
        "Rootless against rootful (total): runc through oci takes 1.")
