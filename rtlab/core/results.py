"""The versioned run format: run.json + trials.csv (docs/DESIGN.md, "The data contract").

Format history
--------------
1  run.json + trials.csv with the columns in ``COLUMNS`` but ``experiment``.
2  adds the ``experiment`` column (experiments.py) and run.json's
   ``parameters.experiment``/``steps``; format 1 runs load as ``lifecycle``.
   The condition columns follow ``COLUMNS``: ``pace_s`` (the idle gap asked for
   before each timed step, conditions.py), ``idle_s`` (the gap measured) and
   ``caches_dropped`` (``--drop-caches``); runs made before them have no pace
   recorded, and analysis never merges them with paced rows (paces.py).
   An experiment of ``width`` k > 1 (containers released together, actions.py)
   adds ``instance`` (0..k-1, which container of the chain) and ``offset_s``
   (release → that command's execve) after them; width-1 runs do not have them.
   ``traced`` (``--trace``, tracing.py): True on the traced twin of a unit,
   False on its untraced one, empty in runs without tracing; phases.csv beside.
   ``network`` (a condition column, added without a version bump: readers take
   any extra column and runs before it load with it empty): the CRI's pod
   network, ``host`` or ``cni``; empty for every other client.
3  the ``concurrency`` experiment (issue 21): ``k`` (a condition column: how many
   containers were released together) and ``batch`` (the batch: the number of its
   first container in the run); every row of it has ``instance`` and ``offset_s``
   (its launch offset, release → execve), k = 1 included. Formats 1 and 2 load
   unchanged (they have neither column; ``k`` is read as empty). Also ``mode``
   (a condition column): ``rootful`` or ``rootless`` (rootless.py: who ran the
   client); runs before it load as ``rootful``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from rtlab.core import conditions

FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
FORMAT1_EXPERIMENT = "lifecycle"  # what format 1 runs measured

COLUMNS = (
    "run_id",
    "experiment",
    "client",
    "runtime",
    "round",
    "trial",
    "warmup",
    "step",
    "wall_s",
    "user_s",
    "sys_s",
    "ok",
    "exit_code",
    "error",
    "container_id",
)

CONDITION_COLUMNS = conditions.COLUMNS  # declared once, in conditions.CONDITIONS

ACTION_COLUMNS = ("instance", "offset_s")  # experiments released from a barrier only


def trial_columns(width: int = 1, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """trials.csv's columns for an experiment of ``width`` containers per chain (2 or more
    for any experiment released from a barrier), then its own ``extra`` (``batch``)."""
    return (*COLUMNS, *CONDITION_COLUMNS, *(ACTION_COLUMNS if width > 1 else ()), *extra)


IDENTITY_KEYS = ("hostname", "kernel", "cpu_model", "cores", "cgroup_mode")


class RunFormatError(ValueError):
    """A run folder that cannot be read, or runs that must not be merged."""


class TrialWriter:
    """Append rows to trials.csv; flushed after every trial so a crash keeps them."""

    def __init__(self, path: Path, columns: Iterable[str] = COLUMNS):
        self.path = path
        new = not path.exists() or path.stat().st_size == 0
        self.columns = tuple(columns)
        if not new:
            _repair_tail(path)
            with open(path, newline="") as f:  # a resumed run keeps its own columns
                self.columns = tuple(next(csv.reader(f), self.columns))
        self._file = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="raise")
        if new:
            self._writer.writeheader()
            self._file.flush()

    def write_trial(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self._writer.writerow({k: _fmt(row.get(k)) for k in self.columns})
        self._file.flush()

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if value != value else repr(value)
    return str(value)


def _repair_tail(path: Path) -> None:
    """Cut a partial last line (a write interrupted mid-row) before appending."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(cut)


def write_meta(run_dir: Path, meta: dict) -> None:
    """Write run.json atomically."""
    tmp = run_dir / "run.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(run_dir / "run.json")


def read_meta(run_dir: Path) -> dict:
    path = Path(run_dir) / "run.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFormatError(f"{run_dir}: no run.json (not an rtlab run folder)") from None
    except ValueError as exc:
        raise RunFormatError(f"{path}: not valid JSON ({exc})") from None
    version = meta.get("format_version")
    if version not in READABLE_VERSIONS:
        raise RunFormatError(
            f"{path}: format_version {version!r}; this rtlab reads "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    return meta


def load_trials(run_dir: Path):
    """trials.csv as a typed DataFrame.

    A truncated last line (the run was killed mid-write) is reported with a
    ``RuntimeWarning`` naming the file and the line, and the rest is kept.
    """
    import pandas as pd

    path = Path(run_dir) / "trials.csv"
    if not path.exists():
        raise RunFormatError(f"{run_dir}: no trials.csv")
    with open(path, "rb") as f:  # a whole last line ends the file with a newline
        size = f.seek(0, io.SEEK_END)
        whole = size == 0 or (f.seek(size - 1) >= 0 and f.read(1) == b"\n")
    source: object = path  # the parser reads the file itself: no 100k-row text copy
    if not whole:
        text = path.read_text()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n") and len(lines) > 1:
            warnings.warn(
                f"{path}: line {len(lines)} is truncated (the run was interrupted "
                "while writing it); it was left out and the other rows kept",
                RuntimeWarning,
                stacklevel=2,
            )
            text = "".join(lines[:-1])
        source = io.StringIO(text)
    frame = pd.read_csv(
        source,
        dtype={"error": str, "container_id": str, "started_ns": str},
        keep_default_na=False,
        na_values={"wall_s": [""], "user_s": [""], "sys_s": [""], "exit_code": [""]},
    )
    if "experiment" not in frame.columns:  # format 1
        frame.insert(1, "experiment", FORMAT1_EXPERIMENT)
    frame["experiment"] = frame["experiment"].astype(str)
    if "network" not in frame.columns:  # runs before the CRI's network condition
        frame["network"] = ""
    frame["network"] = frame["network"].astype(str)
    for col in ("compression", "cache"):  # the pull experiment's conditions (runs before: "")
        frame[col] = frame[col].astype(str) if col in frame.columns else ""
    # concurrency's (format 3) and the pull experiment's whole numbers, empty elsewhere
    for col in ("k", "batch", "instance", "image_size_bytes", "pull_lo_bytes"):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    if "started_ns" in frame.columns:  # the CRI's wall clock: Unix ns, exact (no float)
        frame["started_ns"] = pd.array(
            [int(v) if v.strip() else None for v in frame["started_ns"].astype(str)], dtype="Int64"
        )
    if "mode" not in frame.columns:  # runs before the rootless mode: all ran as root
        frame["mode"] = "rootful"
    frame["mode"] = frame["mode"].astype(str).replace("", "rootful")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise RunFormatError(f"{path}: missing columns {', '.join(missing)}")
    for col in ("warmup", "ok"):
        if frame[col].dtype != bool:  # the parser reads true/false as bool already
            frame[col] = frame[col].astype(str).str.lower().eq("true")
    for col in ("wall_s", "user_s", "sys_s"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["exit_code"] = pd.to_numeric(frame["exit_code"], errors="coerce").astype("Int64")
    frame["round"] = frame["round"].astype(int)
    frame["trial"] = frame["trial"].astype(int)
    return frame


def load_run(run_dir: Path):
    """(meta, trials) of one run folder."""
    return read_meta(Path(run_dir)), load_trials(Path(run_dir))


def identity_differences(a: dict, b: dict) -> list[str]:
    """Host identity fields that differ between two run.json dicts."""
    ha, hb = a.get("host", {}), b.get("host", {})
    return [f"{k}: {ha.get(k)!r} vs {hb.get(k)!r}" for k in IDENTITY_KEYS if ha.get(k) != hb.get(k)]


def version_differences(a: dict, b: dict) -> list[str]:
    va, vb = a.get("versions", {}), b.get("versions", {})
    return [
        f"{k}: {va.get(k)!r} vs {vb.get(k)!r}"
        for k in sorted(set(va) | set(vb))
        if k in va and k in vb and va.get(k) != vb.get(k)
    ]


def load_runs(run_dirs: Iterable[Path]):
    """Merge several runs for one analysis: same host identity and versions, else an error."""
    import pandas as pd

    metas: list[dict] = []
    frames = []
    for run_dir in run_dirs:
        meta, frame = load_run(Path(run_dir))
        if metas:
            diffs = identity_differences(metas[0], meta) + version_differences(metas[0], meta)
            if diffs:
                raise RunFormatError(
                    f"cannot merge {run_dir} with {metas[0].get('run_id')}: " + "; ".join(diffs)
                )
        metas.append(meta)
        frames.append(frame)
    if not frames:
        raise RunFormatError("no run folders given")
    return metas, pd.concat(frames, ignore_index=True)


def is_empty_dir(path: Path) -> bool | None:
    """True/False for a folder, None when it does not exist."""
    if not path.exists():
        return None
    return path.is_dir() and not any(path.iterdir())
