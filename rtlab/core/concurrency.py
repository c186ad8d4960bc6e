"""Starts under load (issue 21): the ``concurrency`` experiment's own option, ``--parallel``.

The experiment itself is one entry in experiments.py: two chains, each on k
containers of one target released together from one barrier (actions.Barrier,
measure.run_released), each container timed on its own from the release —

- **run**: k × ``run`` of ``true`` to exit (step ``run``);
- **up**: k × ``create`` then ``start`` of long-running containers (steps
  ``create`` and ``start``, each stage released together; ``up`` = create +
  start of one container), then ``kill`` and ``delete``, untimed (the teardown).

k is a condition (``Unit.condition["k"]``, column ``k``): one unit per target
and k, interleaved with the other units within rounds at the recorded pace.
k = 1 goes through the same barrier (a barrier of one), so every k shares one
timer. Each row keeps ``instance`` (0..k-1), ``offset_s`` (its launch offset:
release → its ``execve``) and ``batch`` (the chain's containers released
together, named by its first container's number in the run).

This module is stdlib only (the measurement half); the statistics are
concurrency_stats.py, the figures concurrency_plots.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtlab.core import options

MAX_K = 256  # more containers at once than this host's process limits comfortably allow
DEFAULT_PARALLEL = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class Widths(options.Kind):
    """Distinct whole numbers of containers, 1..MAX_K, comma-separated (a list in a notebook)."""

    def from_text(self, text: str, flag: str) -> list[int]:
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
        if not parts:
            raise options.OptionError(f"{flag}: {text!r}: give numbers of containers, e.g. 1,2,4,8")
        values = []
        for p in parts:
            try:
                values.append(int(p))
            except ValueError:
                raise options.OptionError(
                    f"{flag}: {p!r} is not a whole number; give numbers of containers from 1 "
                    f"to {MAX_K}, e.g. 1,2,4,8"
                ) from None
        return self._checked(values, flag)

    def _checked(self, values: list[int], name: str) -> list[int]:
        bad = [v for v in values if not 1 <= v <= MAX_K]
        if bad:
            raise options.OptionError(f"{name}: {bad[0]!r}: must be from 1 to {MAX_K} containers")
        if len(set(values)) != len(values):
            raise options.OptionError(
                f"{name}: {','.join(map(str, values))}: a k is given twice; give each once"
            )
        return sorted(values)

    def check(self, value: Any, name: str) -> list[int] | None:
        if isinstance(value, str):
            return self.from_text(value, name)
        if (
            isinstance(value, (list, tuple))
            and value
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            return self._checked(list(value), name)
        raise options.OptionError(
            f"{name} = {value!r}: give numbers of containers, e.g. [1, 2, 4, 8]"
        )

    def to_json(self, value: Any) -> Any:
        return list(value) if value is not None else None

    def to_notebook(self, value: Any) -> Any:
        return ",".join(map(str, value)) if value else ""


PARALLEL = options.register(
    options.Option(
        "parallel",
        Widths(),
        DEFAULT_PARALLEL,
        "how many containers of one target are released together, e.g. 1,2,4,8,16: one unit per "
        "target and k, interleaved within rounds (recorded as k)",
        options._COLLECTING,
        metavar="K,K,…",
        record="parallel",
        resume="keep",
        absent=[1],
        experiments=("concurrency",),
    )
)
