"""The core layer: what is measured and how it is stored; stdlib only, imports no other layer.

Importing the package registers the experiments' own options in the schema
(options.py): each is declared beside its experiment, here concurrency.py's
``--parallel``, pull.py's ``--image-sizes``, ``--compressions``, ``--caches``.
"""

from rtlab.core import concurrency, pull  # noqa: F401
