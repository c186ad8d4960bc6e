"""The report layer: what the notebooks show and the one-command report."""
