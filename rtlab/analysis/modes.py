"""Rootless beside rootful in the comparisons (issue 24): which rows of
:func:`rtlab.analysis.stats.compare`'s frame put a client run rootless beside the same
client rootful over one runtime. stats.samples names a rootless row's client
``<client>-rootless`` (:data:`rtlab.core.conditions.ROOTLESS_SUFFIX`)."""

from __future__ import annotations

from rtlab.core.conditions import ROOTLESS_SUFFIX as SUFFIX


def pairs(comparisons, step: str) -> list[dict]:
    """The comparisons of ``step`` that put a client run rootless beside the same client
    rootful over one runtime (family ``runtime=<r>``, members ``c`` and ``c-rootless``),
    each as rootless against rootful: ``ratio`` with its own CI (``ratio_ci_low`` …),
    the verdict and the medians."""
    found: list[dict] = []
    if comparisons is None or len(comparisons) == 0:
        return found
    for row in comparisons.to_dict("records"):
        a, b = str(row["a"]), str(row["b"])
        if row["step"] != step or not str(row["family"]).startswith("runtime=") or b != a + SUFFIX:
            continue  # a sorts before a + SUFFIX: a is rootful, the ratio is rootful/rootless
        verdict = {"faster": "slower", "slower": "faster"}.get(row["verdict"], row["verdict"])
        found.append(
            {
                "client": a,
                "runtime": str(row["family"]).split("=", 1)[1],
                "ratio": 1.0 / row["ratio"],
                "ratio_ci_low": 1.0 / row["ratio_ci_high"],
                "ratio_ci_high": 1.0 / row["ratio_ci_low"],
                "verdict": verdict,
                "n_rounds": row["n_rounds"],
                "median_rootful_s": row["median_a_s"],
                "median_rootless_s": row["median_b_s"],
            }
        )
    return found
