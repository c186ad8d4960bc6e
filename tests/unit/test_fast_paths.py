"""Vectorised statistics give the numbers of their plain reference loops (issue 18)."""

import numpy as np

from rtlab.analysis import stats


def test_friedman_tie_correction_matches_the_row_by_row_loop() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, k = int(rng.integers(1, 30)), int(rng.integers(2, 7))
        values = np.round(rng.normal(size=(n, k)), int(rng.integers(0, 2)))  # ties often
        reference = 0.0
        for row in np.sort(values, axis=1):
            _, counts = np.unique(row, return_counts=True)
            reference += float((counts ** 3 - counts).sum())
        assert stats._tie_sum(np.sort(values, axis=1)) == reference
