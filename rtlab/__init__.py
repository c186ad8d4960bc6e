"""rtlab: measure container runtime lifecycle timings through every client."""

__version__ = "0.1.0"
