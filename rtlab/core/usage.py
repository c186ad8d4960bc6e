"""Bad input, said in one line before anything runs: the two errors every layer raises.

:class:`UsageError` is the command line's and the API's (cli.py prints it after
``rtlab <command>: error:`` and exits 2); :class:`ParameterError` is a notebook's
(IPython shows it as its one line instead of a traceback). Both live here, below
every layer that raises them: collect's front door (collect/front.py), the report's
notebook parameters (report/params.py) and the commands.
"""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input, found before anything runs: one line naming the value and what is accepted."""


class ParameterError(UsageError):
    """A notebook or CLI parameter rtlab cannot use: one line naming it and what is accepted."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the message is the whole story.
        return [f"{type(self).__name__}: {self}"]
