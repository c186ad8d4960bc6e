"""The sample frame of the statistics: targets and their labels, steps and experiments in
order, the derived totals, the rows statistics are computed on (:func:`samples`).

Split out of stats.py (issue 32), which re-exports every name; its conventions hold here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from rtlab.core import conditions, experiments

LIFECYCLE_STEPS: tuple[str, ...] = experiments.EXPERIMENTS["lifecycle"].total
TOTAL_STEP = experiments.TOTAL_STEP
RUN_STEP = "run"
STEP_ORDER: tuple[str, ...] = experiments.step_order()
# The trial a lifecycle total belongs to.
_TRIAL_KEYS: list[str] = ["run_id", "client", "runtime", "round", "trial", "warmup"]


def target_label(client: str, runtime: str) -> str:
    """Label a target as ``"client/runtime"``, e.g. ``"docker/runc"``."""
    return f"{client}/{runtime}"


def step_rank(step: str) -> int:
    """Position of ``step`` in :data:`STEP_ORDER`; unknown steps sort last."""
    return STEP_ORDER.index(step) if step in STEP_ORDER else len(STEP_ORDER)


def ordered_steps(steps: Sequence[str]) -> list[str]:
    """The distinct ``steps`` in lifecycle order (create … delete, total, run, others)."""
    return sorted(set(steps), key=lambda s: (step_rank(s), s))


def _as_bool(column: pd.Series) -> np.ndarray:
    """A boolean column as a numpy array, missing values read as False."""
    return column.to_numpy(dtype=bool, na_value=False)


def is_sample(frame: pd.DataFrame) -> np.ndarray:
    """Which rows of a tidy frame are samples: ok and with a finite ``wall_s``."""
    wall_s = frame["wall_s"].to_numpy(dtype=float, na_value=np.nan)
    return _as_bool(frame["ok"]) & np.isfinite(wall_s)


def with_pace_key(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``pace_s`` as a grouping key: rounded to the microsecond, -1 where a
    run recorded no pace (so unpaced rows group together; NaN would drop them)."""
    pace = frame["pace_s"] if "pace_s" in frame.columns else pd.Series(np.nan, index=frame.index)
    return frame.assign(pace_s=pace.astype(float).round(6).fillna(-1.0))


def lifecycle_totals(trials: pd.DataFrame) -> pd.DataFrame:
    """Derive one ``total`` row per trial from its experiment's total steps.

    Each experiment in the frame (column ``experiment``, the lifecycle when
    absent) sums its own :attr:`~rtlab.core.experiments.Experiment.total`; an
    experiment whose rows lack one of those steps altogether (``--steps``
    measured a subset) gets no totals. Below, "four" is the lifecycle's count.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame.

    Returns
    -------
    pandas.DataFrame
        One row per (run_id, client, runtime, round, trial, warmup) that has any
        lifecycle row, with ``step == "total"``. ``wall_s``, ``user_s`` and
        ``sys_s`` are the sums of the four steps; the row is ``ok`` only when
        each of create, start, kill and delete is present once, ok and timed.
        Otherwise ``ok`` is False and the times are NaN.
    """
    names = (
        trials["experiment"].astype(str)
        if "experiment" in trials.columns
        else pd.Series(experiments.DEFAULT_EXPERIMENT, index=trials.index)
    )
    blocks = []
    found = names.unique()
    for name in found:
        exp = experiments.EXPERIMENTS.get(name)
        rows = trials if len(found) == 1 else trials[(names == name).to_numpy()]
        if exp is None or not exp.total or not set(exp.total) <= set(rows["step"].unique()):
            continue
        blocks.append(_totals(rows, exp.total))
        for partial, steps in exp.partials.items():  # e.g. the CRI's pod to running
            blocks.append(_totals(rows, steps, partial))
    if not blocks:
        return trials.iloc[0:0][[*_TRIAL_KEYS, "step", "wall_s", "user_s", "sys_s", "ok"]]
    return pd.concat(blocks, ignore_index=True) if len(blocks) > 1 else blocks[0]


def _totals(trials: pd.DataFrame, steps: tuple[str, ...], name: str = TOTAL_STEP) -> pd.DataFrame:
    """:func:`lifecycle_totals` of the rows of one experiment whose total sums ``steps``."""
    keys = (
        [*_TRIAL_KEYS[:1], "experiment", *_TRIAL_KEYS[1:]]
        if "experiment" in trials.columns
        else list(_TRIAL_KEYS)
    )
    if "pace_s" in trials.columns:  # with several paces a target runs once per pace a round
        keys.append("pace_s")
    if "network" in trials.columns:  # the CRI runs a target once per network mode a round
        keys.append("network")
    if "mode" in trials.columns:  # a target runs once per mode (rootful, rootless) a round
        keys.append("mode")
    if "n" in trials.columns:  # density times one more container per level N a trial
        keys.append("n")
    life = trials[trials["step"].isin(steps)]
    # one group per trial (the keys, NaN a value like any other), in order of appearance;
    # integer codes instead of grouping by ten columns of 100k strings
    group, first = _group_codes(life, keys)
    size = first.size
    n_rows = np.bincount(group, minlength=size)
    n_good = np.bincount(group, weights=is_sample(life), minlength=size)
    step_codes, step_names = pd.factorize(life["step"])
    pairs = pd.unique(group * max(len(step_names), 1) + step_codes)
    n_steps = np.bincount(pairs // max(len(step_names), 1), minlength=size)
    complete = (n_good == len(steps)) & (n_steps == len(steps)) & (n_rows == len(steps))
    times = (
        life[["wall_s", "user_s", "sys_s"]]
        .groupby(group, sort=False)
        .sum(min_count=len(steps))
        .reset_index(drop=True)
    )
    times.loc[~complete] = np.nan
    totals = pd.concat([life[keys].iloc[first].reset_index(drop=True), times], axis=1)
    totals.insert(len(keys), "step", name)
    totals["ok"] = complete
    totals["exit_code"] = pd.array([pd.NA] * len(totals), dtype="Int64")
    totals["error"] = np.where(
        complete, "", f"derived: not all {len(steps)} steps of the total ran ok"
    )
    return totals


def _group_codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(group of each row, first row of each group) for the distinct combinations of
    ``columns`` (NaN equal to NaN), groups numbered in order of first appearance like
    ``groupby(columns, sort=False, dropna=False)``."""
    group = np.zeros(len(frame), dtype=np.int64)
    for column in columns:
        codes, names = pd.factorize(frame[column], use_na_sentinel=False)
        group, _ = pd.factorize(group * max(len(names), 1) + codes)
    group = group.astype(np.int64, copy=False)
    # codes are numbered in order of appearance: a group's first row raises the running maximum
    new = np.ones(group.size, dtype=bool)
    running = np.maximum.accumulate(group)
    new[1:] = running[1:] > running[:-1]
    return group, np.flatnonzero(new)


def _shared_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of an experiment's steps that mean the same as a default-experiment step
    (:attr:`~rtlab.core.experiments.Experiment.shares`: the CRI's create and start), as rows
    of the default experiment, so the client comparison puts the CRI beside the others
    on them. Only when the frame has the default experiment's rows too."""
    if "experiment" not in frame.columns:
        return frame.iloc[0:0]
    names = frame["experiment"].astype(str)
    if not (names == experiments.DEFAULT_EXPERIMENT).any():
        return frame.iloc[0:0]
    blocks = []
    for name, exp in experiments.EXPERIMENTS.items():
        if not exp.shares or name == experiments.DEFAULT_EXPERIMENT:
            continue
        rows = frame[(names == name).to_numpy() & frame["step"].isin(list(exp.shares)).to_numpy()]
        if len(rows):
            blocks.append(
                rows.assign(
                    experiment=experiments.DEFAULT_EXPERIMENT, step=rows["step"].map(exp.shares)
                )
            )
    return pd.concat(blocks, ignore_index=True) if blocks else frame.iloc[0:0]


def samples(trials: pd.DataFrame) -> pd.DataFrame:
    """The rows statistics are computed on: warm-ups dropped, totals appended.

    Parameters
    ----------
    trials : pandas.DataFrame
        The tidy trials frame.

    Returns
    -------
    pandas.DataFrame
        The non-warm-up rows of ``trials`` followed by the derived ``total`` rows
        of the non-warm-up trials, with an added ``target`` column
        (``"client/runtime"``). Failed rows are kept (``ok`` False).
    """
    measured = trials[~_as_bool(trials["warmup"])]
    for c in conditions.CONDITIONS:  # network, mode, traced: their values are own targets
        if c.client_suffix is None or c.column not in measured.columns:
            continue
        codes, uniques = pd.factorize(measured[c.column], use_na_sentinel=False)
        named = np.array(
            [c.client_suffix(None if pd.isna(u) else u) for u in uniques] or [""], dtype=object
        )[codes]
        measured = _suffix_clients(measured, named != "", named)
    totals = lifecycle_totals(measured)
    frame = measured if totals.empty else pd.concat([measured, totals], ignore_index=True)
    frame = pd.concat([frame, _shared_rows(frame)], ignore_index=True)
    frame = frame.reset_index(drop=True).assign(target=_target_labels(frame))
    if "experiment" not in frame.columns:
        frame = frame.assign(experiment=experiments.DEFAULT_EXPERIMENT)
    return frame


def _suffix_clients(measured: pd.DataFrame, where: np.ndarray, suffix) -> pd.DataFrame:
    """``measured`` with ``suffix`` (a string, or an array aligned with it) appended to the
    client of the rows ``where`` is True; the frame itself when there are none (100k-row
    runs of one network and mode then build no strings)."""
    if not where.any():
        return measured
    clients = measured["client"]
    return measured.assign(client=np.where(where, clients.astype(str) + suffix, clients))


def _target_labels(frame: pd.DataFrame) -> np.ndarray:
    """:func:`target_label` of every row, formatted once per distinct (client, runtime)."""
    clients, client_names = pd.factorize(frame["client"], use_na_sentinel=False)
    runtimes, runtime_names = pd.factorize(frame["runtime"], use_na_sentinel=False)
    width = max(len(runtime_names), 1)
    pairs, inverse = np.unique(clients.astype(np.int64) * width + runtimes, return_inverse=True)
    labels = np.array(
        [target_label(client_names[p // width], runtime_names[p % width]) for p in pairs.tolist()],
        dtype=object,
    )
    return labels[inverse.reshape(-1)]


def experiment_rank(name: str) -> int:
    """Position of an experiment in the registry (lifecycle first); unknown ones last."""
    names = list(experiments.EXPERIMENTS)
    return names.index(name) if name in names else len(names)


def experiments_of(frame: pd.DataFrame) -> list[str]:
    """The experiments of a tidy frame or a table, in registry order (lifecycle when the
    frame has no ``experiment`` column)."""
    if "experiment" not in frame.columns:
        return [experiments.DEFAULT_EXPERIMENT]
    return sorted(
        {str(e) for e in frame["experiment"].dropna().unique()},
        key=lambda e: (experiment_rank(e), e),
    )


def by_experiment(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(experiment, its rows) for each experiment of ``frame``, in registry order.

    Experiments are never pooled: every table, total, comparison, finding and
    figure is computed on one experiment's rows (docs/DESIGN.md, "Experiments are
    never pooled")."""
    if "experiment" not in frame.columns:
        yield experiments.DEFAULT_EXPERIMENT, frame
        return
    names = frame["experiment"].astype(str).to_numpy()
    found = experiments_of(frame)
    if len(found) == 1 and frame["experiment"].notna().all():
        yield found[0], frame  # one experiment: its rows are the frame (no 100k-row copy)
        return
    for name in found:
        yield name, frame[names == name]


def _round_keys(frame: pd.DataFrame) -> pd.Series:
    """The pairing key of each row: its run and round (trials of one round ran together)."""
    return frame["run_id"].astype(str) + "\x1f" + frame["round"].astype(str)


def _distinct_round_keys(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(keys, inverse): :func:`_round_keys` of each distinct (run_id, round) of ``frame``
    and, per row, the position of its own in ``keys`` (``keys[inverse]`` is
    :func:`_round_keys`), formatting one string per round, not per row."""
    runs, run_names = pd.factorize(frame["run_id"], use_na_sentinel=False)
    rounds, round_names = pd.factorize(frame["round"], use_na_sentinel=False)
    width = max(len(round_names), 1)
    pairs, inverse = np.unique(runs.astype(np.int64) * width + rounds, return_inverse=True)
    run_text = pd.Series(run_names[pairs // width]).astype(str)
    round_text = pd.Series(round_names[pairs % width]).astype(str)
    keys = (run_text + "\x1f" + round_text).to_numpy(dtype=object)
    return keys, inverse.reshape(-1)


def _distinct_rows(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame[columns].drop_duplicates()`` (the first row of each distinct combination,
    in frame order), from integer codes: no hashing of 100k-row string columns at once."""
    _, first = _group_codes(frame, columns)
    return frame[columns].iloc[first]
