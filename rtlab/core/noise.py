"""The one noise rule: a step is noisy when its coefficient of variation exceeds 10%.

stats.py applies it to a summary table (pandas), collect to the samples it just
took (stdlib: the measurement half runs without the venv); both use
:data:`NOISY_CV` and :func:`cv` from here.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

NOISY_CV = 0.10
MIN_SAMPLES = 3  # fewer values say nothing about spread


def cv(values: Sequence[float]) -> float | None:
    """Sample standard deviation / mean (None for fewer than MIN_SAMPLES values)."""
    if len(values) < MIN_SAMPLES:
        return None
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if mean > 0 else 0.0


def is_noisy(value: float | None, limit: float = NOISY_CV) -> bool:
    return value is not None and value == value and value > limit


def busy_loads(meta: dict, cores: int) -> list[tuple[str, float]]:
    """("before"/"after", 1-minute load) of a run's recorded load averages (run.json's
    ``load_before``/``load_after``) that are above ``cores``: other work competed with
    the measurements. The one rule collect's warning and rtlab compare's note share."""
    out = []
    for when in ("before", "after"):
        load = meta.get(f"load_{when}")
        if cores and isinstance(load, list) and load and float(load[0]) > cores:
            out.append((when, float(load[0])))
    return out


def sample_warnings(samples: dict[str, dict[str, list]], steps: Sequence[str]) -> list[str]:
    """label → {step → wall times}: one warning with advice per label with noisy steps."""
    warnings = []
    for label, by_step in samples.items():
        noisy = []
        for step in steps:
            value = cv(by_step.get(step, []))
            if is_noisy(value):
                noisy.append(f"{step} {value:.0%}")
        if noisy:
            warnings.append(
                f"{label}: coefficient of variation above {NOISY_CV:.0%} in "
                f"{', '.join(noisy)}; those medians are less certain: add trials (--trials, "
                "or --until-ci 0.05) and measure on a quiet host (stop other jobs)"
            )
    return warnings
