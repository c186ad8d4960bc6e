"""Every default in one table: the CLI's ``--help``, the notebooks' parameters and
the README read it from here (tests/unit/test_defaults.py checks the notebooks
and the README agree). Where a layer deliberately differs, its entry says so and why.

stdlib-only: the measurement half imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Default:
    name: str
    value: Any
    meaning: str
    # layer → (its value, why it differs); layers: "report" (rtlab report / make report),
    # "notebook" (01-collect's parameters cell)
    differs: dict = field(default_factory=dict)

    def help(self) -> str:
        return f"default {self.text(self.value)}"

    @staticmethod
    def text(value) -> str:
        return ",".join(value) if isinstance(value, (list, tuple)) else f"{value:g}" \
            if isinstance(value, float) else str(value)

    def value_for(self, layer: str):
        return self.differs[layer][0] if layer in self.differs else self.value


DEFAULTS: dict[str, Default] = {d.name: d for d in (
    Default("clients", ("oci",), "clients measured when neither --clients nor --study is given"),
    Default("runtimes", ("runc", "crun", "runsc"),
            "runtimes measured when neither --runtimes nor --study is given"),
    Default("experiment", "lifecycle", "what one trial measures (rtlab/experiments.py)"),
    Default("trials", 10, "measured trials per target",
            differs={"report": (20, "a report is read by others: twice the trials narrows "
                                    "every CI (make report's TRIALS)"),
                     "notebook": (2, "notebook 01 runs under nbval in make test: 2 trials "
                                     "keep that check short; pass -p trials 20 for real use")}),
    Default("warmup", 2, "warm-up trials per target (kept in trials.csv, flagged)",
            differs={"notebook": (0, "as trials: keeps the nbval check short")}),
    Default("timeout", 30.0, "seconds per client command"),
    Default("min_trials", 10, "with --until-ci: trials before the CI is first checked"),
    Default("max_trials", 200, "with --until-ci: the most trials per target"),
    Default("seed", 0, "seed of the interleaving order (the analysis draws no random numbers)"),
    Default("probe_timeout", 20.0, "seconds per rtlab doctor probe"),
)}


def value(name: str, layer: str = ""):
    return DEFAULTS[name].value_for(layer)


def help_text(name: str, what: str, layer: str = "") -> str:
    """``what`` followed by the default for ``layer`` (for argparse help; % escaped)."""
    d = DEFAULTS[name]
    return f"{what} (default {Default.text(d.value_for(layer))})".replace("%", "%%")


def markdown() -> str:
    """The table as the README shows it (tests/unit/test_defaults.py keeps them equal)."""
    lines = ["| setting | default | meaning | where it differs, and why |",
             "|---|---|---|---|"]
    for d in DEFAULTS.values():
        differs = "; ".join(f"{layer}: {Default.text(v)} — {why}"
                            for layer, (v, why) in d.differs.items())
        lines.append(f"| `{d.name}` | {Default.text(d.value)} | {d.meaning} | {differs} |")
    return "\n".join(lines)
