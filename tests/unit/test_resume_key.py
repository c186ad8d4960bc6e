"""Resuming a run credits each unit with exactly its own trials (issue 32): twins of a
``--trace`` run, paces, k and networks are units apart, and the resume key says so."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from rtlab.collect import collect, tracing
from rtlab.collect.scheduler import Unit, UnitState


def _target(label="oci/runc", mode="rootful"):
    return SimpleNamespace(label=label, mode=mode)


def _rows(done: dict[bool, int], pace=0.1) -> pd.DataFrame:
    """trials.csv rows of a traced run: ``done[traced]`` trials of each twin (2 steps)."""
    rows = []
    for traced, trials in done.items():
        for trial in range(trials):
            for step in ("create", "start"):
                rows.append(
                    {
                        "client": "oci",
                        "runtime": "runc",
                        "mode": "rootful",
                        "pace_s": pace,
                        "network": float("nan"),
                        "k": float("nan"),
                        "traced": traced,
                        "trial": trial,
                        "warmup": False,
                        "step": step,
                        "ok": True,
                        "wall_s": 0.01,
                        "error": "",
                    }
                )
    return pd.DataFrame(rows)


def test_the_traced_and_untraced_twins_are_credited_apart():
    plain = UnitState(Unit(_target(), {"pace_s": 0.1}))
    states = tracing.TracedRun.twins([plain], UnitState)
    untraced, traced = states
    # interrupted after 5 untraced and 3 traced trials: each twin has its own count
    collect.restore_counts(states, _rows({False: 5, True: 3}))
    assert (untraced.trials_done, traced.trials_done) == (5, 3)
    assert traced.unit.condition[tracing.TRACED] is True


def test_a_csv_read_back_as_text_still_tells_the_twins_apart():
    states = tracing.TracedRun.twins([UnitState(Unit(_target(), {"pace_s": 0.1}))], UnitState)
    frame = _rows({False: 4, True: 2}).assign(traced=lambda f: f["traced"].map(str))
    collect.restore_counts(states, frame)
    assert [s.trials_done for s in states] == [4, 2]


def test_paces_and_runs_without_the_traced_column_keep_their_counts():
    fast = UnitState(Unit(_target(), {"pace_s": 0.0}))
    slow = UnitState(Unit(_target(), {"pace_s": 0.1}))
    frame = pd.concat(
        [_rows({False: 2}, pace=0.0), _rows({False: 6}, pace=0.1)], ignore_index=True
    ).drop(columns=["traced"])
    collect.restore_counts([fast, slow], frame)
    assert (fast.trials_done, slow.trials_done) == (2, 6)


def test_the_condition_columns_are_the_registry_and_its_key_reads_cells_and_conditions():
    from rtlab.core import conditions, results

    assert results.CONDITION_COLUMNS == tuple(c.column for c in conditions.CONDITIONS)
    assert {c.column for c in conditions.APART} == {
        "pace_s",
        "network",
        "k",
        "traced",
        "image_size_bytes",
        "compression",
        "cache",
    }
    # a state's condition and its trials.csv row (text, NaN, empty) read the same
    state = {"pace_s": 0.1, "k": 4, "traced": True}
    cell = {"pace_s": "0.1", "network": float("nan"), "k": "4.0", "traced": "True"}
    none = (None, "", "")  # the pull experiment's image_size_bytes, compression, cache
    assert conditions.unit_key(state) == conditions.unit_key(cell) == (0.1, "", 4, True, *none)
    assert conditions.unit_key({}) == (None, "", None, False, *none)
    pulled = {"pace_s": 0.1, "image_size_bytes": 50_000_000, "compression": "zstd", "cache": "cold"}
    pulled_cell = {**pulled, "image_size_bytes": "50000000.0", "k": float("nan")}
    assert conditions.unit_key(pulled) == conditions.unit_key(pulled_cell)
