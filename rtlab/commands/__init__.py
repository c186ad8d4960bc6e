"""The subcommands of ``rtlab``, one module each, each a ``run(args, values, given) -> int``.

cli.py parses the command line and loads only the module of the subcommand asked for
(its ``COMMANDS`` table), so ``rtlab doctor`` never imports pandas and ``rtlab analyze``
never the clients' set-up; each module here imports what its command needs at its top.
``values`` and ``given`` are the schema's (``options.from_namespace``); bad input raises
``UsageError`` (one line; cli.py prints it and exits 2).
"""
