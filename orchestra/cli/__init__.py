"""The ``orchestra`` command line (the ``cli`` extra: click and Rich).

``orchestra run shop:fulfil --input '{"id": 7}'`` runs a workflow on a SQLite database of
executions (``.orchestra/orchestra.db`` by default), with a live view of its operations;
``list``, ``history``, ``callback``, ``stop``, ``resume``, ``replay`` and ``serve`` work on the
same database, from any terminal. See docs/cli.md.
"""

from orchestra.cli.commands import cli, main

__all__ = ["cli", "main"]
