"""rtlab.analysis.paces: comparisons per pace, which conclusions hold or flip, the pace figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rtlab.analysis import paces, stats  # noqa: E402
from tests.unit._synthetic import make_trials  # noqa: E402

PACES = [0.0, 0.01, 0.1, 1.0]
# crun is much faster than runc back to back, as fast once the host idled;
# runsc is far slower than both at every pace.
RUN_MEDIANS = {
    0.0: {"crun": 0.0074, "runc": 0.0195, "runsc": 0.2},
    0.01: {"crun": 0.0088, "runc": 0.0252, "runsc": 0.2},
    0.1: {"crun": 0.0300, "runc": 0.0300, "runsc": 0.2},
    1.0: {"crun": 0.0320, "runc": 0.0320, "runsc": 0.2},
}


def paced_trials(medians=RUN_MEDIANS, *, n_trials=30, seed=0) -> pd.DataFrame:
    frames = []
    for i, (pace, per_runtime) in enumerate(medians.items()):
        frame = make_trials(
            {("oci", rt): {"run": m} for rt, m in per_runtime.items()},
            n_trials=n_trials,
            seed=seed + i,
        )
        frames.append(frame.assign(pace_s=pace, container_id=""))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return paces.pace_compare(paced_trials())


def test_pace_compare_is_compare_at_each_pace(table):
    trials = paced_trials()
    assert list(table.columns[:1]) == ["pace_s"]
    assert set(paces.USED_COLUMNS) <= set(table.columns)
    assert sorted(table["pace_s"].unique()) == PACES
    for pace in PACES:
        alone = stats.compare(trials[trials["pace_s"] == pace], seed=1)
        mine = table[table["pace_s"] == pace]
        # same pairs, same ratios of medians (the CIs depend on the generator's state)
        assert list(zip(mine["a"], mine["b"])) == list(zip(alone["a"], alone["b"]))
        np.testing.assert_allclose(mine["ratio"], alone["ratio"])
        np.testing.assert_allclose(mine["p"], alone["p"])


def test_pace_compare_never_mixes_paces():
    """Two paces with opposite verdicts: a pooled compare would say something else."""
    trials = paced_trials({0.0: {"crun": 0.01, "runc": 0.03}, 1.0: {"crun": 0.03, "runc": 0.01}})
    table = paces.pace_compare(trials)
    by_pace = dict(zip(table["pace_s"], table["verdict"]))
    assert by_pace == {0.0: stats.FASTER, 1.0: stats.SLOWER}


def test_pace_compare_is_seeded(table):
    again = paces.pace_compare(paced_trials())
    pd.testing.assert_frame_equal(table, again)


def test_stability_flags_the_flip_and_the_holds(table):
    stab = paces.pace_stability(table).set_index(["a", "b"])
    assert not stab.loc[("crun", "runc"), "holds"]
    assert stab.loc[("crun", "runc"), "verdicts"][:2] == [stats.FASTER, stats.FASTER]
    assert stab.loc[("crun", "runc"), "verdicts"][2:] == [stats.EQUIVALENT] * 2
    assert stab.loc[("crun", "runsc"), "holds"]
    assert stab.loc[("runc", "runsc"), "holds"]
    assert stab.loc[("crun", "runsc"), "verdicts"] == [stats.FASTER] * 4
    # crun/runsc moves from 0.037 to 0.16: its CIs at 0 and 1 s are far apart
    assert stab.loc[("crun", "runsc"), "ratio_moves"]


def test_conclusions_name_the_flip_first_then_what_holds(table):
    lines = paces.pace_conclusions(table)
    assert len(lines) == 3
    flip = lines[0]
    assert flip.startswith("crun vs runc through oci, run: flips with the pace")
    assert "crun faster at 0 and 10 ms" in flip
    assert "equivalent at 100 ms and 1 s" in flip
    holds = lines[1:]
    assert all("at every pace" in line and "flips" not in line for line in holds)
    assert any(
        line.startswith("crun vs runsc through oci, run: crun faster at every pace")
        for line in holds
    )
    assert any(
        line.startswith("runc vs runsc through oci, run: runc faster at every pace")
        for line in holds
    )
    # the speed factors at the extreme paces, as 1/ratio of the table
    crun_runsc = table[(table["a"] == "crun") & (table["b"] == "runsc")].sort_values("pace_s")
    first = f"{1 / crun_runsc['ratio'].iloc[0]:.2g}× at 0"
    last = f"{1 / crun_runsc['ratio'].iloc[-1]:.2g}× at 1 s"
    line = next(x for x in holds if x.startswith("crun vs runsc"))
    assert first in line and last in line


def test_equivalent_everywhere_holds():
    trials = paced_trials({0.0: {"crun": 0.02, "runc": 0.02}, 0.1: {"crun": 0.02, "runc": 0.02}})
    lines = paces.pace_conclusions(paces.pace_compare(trials))
    assert lines == [line for line in lines if "equivalent at every pace" in line]
    assert len(lines) == 1


def test_a_reversal_is_a_flip():
    trials = paced_trials({0.0: {"crun": 0.01, "runc": 0.03}, 1.0: {"crun": 0.03, "runc": 0.01}})
    (line,) = paces.pace_conclusions(paces.pace_compare(trials))
    assert "flips with the pace" in line
    assert "crun faster at 0 " in line and "crun slower at 1 s" in line


def test_a_pair_missing_at_a_pace_is_not_said_to_hold():
    trials = paced_trials(
        {0.0: {"crun": 0.01, "runc": 0.03, "runsc": 0.2}, 0.1: {"crun": 0.01, "runc": 0.03}}
    )
    lines = paces.pace_conclusions(paces.pace_compare(trials))
    runsc = [line for line in lines if "runsc" in line]
    assert runsc and all("not compared at 100 ms" in line for line in runsc)
    assert any(
        line.startswith("crun vs runc through oci, run: crun faster at every pace")
        for line in lines
    )


def test_client_pairs_are_compared_per_pace_too():
    frames = []
    for pace, docker in ((0.0, 0.5), (0.1, 0.5)):
        frame = make_trials(
            {("oci", "runc"): {"run": 0.03}, ("docker", "runc"): {"run": docker}}, n_trials=20
        )
        frames.append(frame.assign(pace_s=pace))
    table = paces.pace_compare(pd.concat(frames, ignore_index=True))
    assert set(table["family"]) == {"runtime=runc"}
    (line,) = paces.pace_conclusions(table)
    assert line.startswith("docker vs oci on runc, run: docker slower at every pace")


def test_format_1_trials_are_refused_in_one_line():
    trials = make_trials({("oci", "runc"): {"run": 0.03}, ("oci", "crun"): {"run": 0.01}})
    with pytest.raises(paces.PaceError, match="no pace_s column") as info:
        paces.pace_compare(trials)
    assert "\n" not in str(info.value)
    mixed = paced_trials()
    mixed.loc[mixed.index[:5], "pace_s"] = np.nan
    with pytest.raises(paces.PaceError, match="5 of .* rows have no pace_s"):
        paces.pace_compare(mixed)


def test_empty_table_gives_no_conclusions():
    assert paces.pace_conclusions(pd.DataFrame(columns=["pace_s", *stats.COMPARISON_COLUMNS])) == []


def test_pace_plot_draws_one_line_per_pair_with_zero_shown(table):
    ax = Figure().subplots()
    out = paces.pace_plot(table, step="run", ax=ax)
    assert out is ax
    assert ax.get_xscale() == "symlog"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "10 ms", "100 ms", "1 s"]
    np.testing.assert_allclose(ax.get_xticks(), PACES)
    pairs = {f"{a} / {b} through oci" for a, b in zip(table["a"], table["b"])}
    labels = set(
        ax.get_legend().get_texts()[i].get_text() for i in range(len(ax.get_legend().get_texts()))
    )
    assert pairs <= labels
    assert ax.get_title().startswith("run:") and "0, 10 ms, 100 ms and 1 s" in ax.get_title()
    # every ratio drawn is the table's, at its pace
    drawn = set()
    for line in ax.get_lines():
        for x, y in zip(*line.get_data()):
            drawn.add((round(float(x), 6), round(float(y), 9)))
    for pace, ratio in zip(table["pace_s"], table["ratio"]):
        assert (round(pace, 6), round(ratio, 9)) in drawn


def test_pace_plot_refuses_an_unknown_step(table):
    with pytest.raises(paces.PaceError, match="'create'"):
        paces.pace_plot(table, step="create", ax=Figure().subplots())


def test_pace_title_states_the_pace():
    assert paces.pace_title("run: wall time", [0.1]) == "run: wall time (pace 100 ms)"
    assert paces.pace_title("x", [1.0, 0.0]) == "x (pace 0 and 1 s)"
    assert paces.pace_title("x", [float("nan")]) == "x (pace not recorded)"


def test_settled_at_some_paces_only_is_not_a_flip():
    """crun clearly faster back to back; at 1 s the two overlap too widely to tell."""
    trials = paced_trials(
        {0.0: {"crun": 0.01, "runc": 0.03}, 1.0: {"crun": 0.03, "runc": 0.03}}, n_trials=30
    )
    wide = trials["pace_s"] == 1.0
    noise = np.random.default_rng(5).lognormal(0, 0.6, wide.sum())
    trials.loc[wide, "wall_s"] = trials.loc[wide, "wall_s"].to_numpy() * noise
    table = paces.pace_compare(trials)
    verdicts = dict(zip(table["pace_s"], table["verdict"]))
    assert verdicts == {0.0: stats.FASTER, 1.0: stats.INCONCLUSIVE}
    stab = paces.pace_stability(table).iloc[0]
    assert not stab["holds"] and not stab["flips"]
    (line,) = paces.pace_conclusions(table)
    assert line.startswith("crun vs runc through oci, run: not settled at every pace: ")
    assert "crun faster at 0 " in line and "inconclusive at 1 s" in line
    assert paces.FLIPS not in line


def test_equivalent_then_faster_is_a_flip():
    trials = paced_trials({0.0: {"crun": 0.01, "runc": 0.03}, 1.0: {"crun": 0.03, "runc": 0.03}})
    table = paces.pace_compare(trials)
    assert dict(zip(table["pace_s"], table["verdict"])) == {
        0.0: stats.FASTER,
        1.0: stats.EQUIVALENT,
    }
    assert paces.pace_stability(table).iloc[0]["flips"]
    (line,) = paces.pace_conclusions(table)
    assert paces.FLIPS in line


def test_pace_plot_labels_name_the_hodges_lehmann_estimate() -> None:
    from matplotlib.figure import Figure

    from rtlab.analysis import paces as paces_module

    table = pd.DataFrame(
        {
            "experiment": "lifecycle",
            "family": "client=oci",
            "step": "run",
            "a": "crun",
            "b": "runc",
            "ratio": [0.8, 0.9],
            "ratio_ci_low": [0.7, 0.85],
            "ratio_ci_high": [0.9, 0.95],
            "p": 0.01,
            "p_adj": 0.01,
            "verdict": "faster",
            paces_module.PACE_COLUMN: [0.0, 0.1],
        }
    )
    ax = paces_module.pace_plot(table, step="run", ax=Figure().subplots())
    assert "Hodges–Lehmann" in ax.get_ylabel() and "Hodges–Lehmann" in ax.get_title()
    assert "median" not in ax.get_ylabel() + ax.get_title()
