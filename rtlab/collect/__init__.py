"""The collect layer: clients, trials, the scheduler, the session and ``rtlab collect``."""
