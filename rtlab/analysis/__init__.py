"""The analysis layer: statistics, comparisons and figures of a run's tidy frame."""
