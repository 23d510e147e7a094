"""Where the emulator keeps its executions: the store interface and the in-memory store.

The engine reads and changes executions only inside a *transaction*: it asks the
transaction for each execution it touches (:meth:`Transaction.get`), changes the objects in
place, and the store makes the changes durable when the transaction ends without an error.
A persistent store (:mod:`.sqlite_store`) writes every execution the transaction touched in
one database transaction, so a checkpoint call's updates are all saved or none; the
in-memory store keeps the live objects and has nothing to write.

Transactions nest: a transaction opened while one is open on the same store joins it.

Example:
    >>> from orchestra.service.local.execution import Execution
    >>> store = MemoryStore()
    >>> with store.transaction() as tx:
    ...     tx.add(Execution("arn:x/durable-execution/n/abc", "n", "fn", None))
    >>> with store.transaction() as tx:
    ...     tx.get("arn:x/durable-execution/n/abc").name
    'n'
    >>> [s.name for s in store.executions()]
    ['n']
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Protocol

import attrs

from orchestra.service.local.execution import Execution
from orchestra.wire.models import ExecutionStatus

__all__ = ["ExecutionSummary", "MemoryStore", "Store", "StoreError", "Transaction"]


class StoreError(Exception):
    """A store cannot be opened or used (locked, corrupt, from a newer version)."""


@attrs.frozen
class ExecutionSummary:
    """One line of a listing: an execution without its operations and history."""

    arn: str
    name: str
    function_name: str
    status: ExecutionStatus
    start_timestamp: datetime | None
    end_timestamp: datetime | None
    entry: str | None = None

    @classmethod
    def of(cls, ex: Execution) -> ExecutionSummary:
        """The summary of ``ex``."""
        return cls(
            arn=ex.arn,
            name=ex.name,
            function_name=ex.function_name,
            status=ex.status,
            start_timestamp=ex.start_timestamp,
            end_timestamp=ex.end_timestamp,
            entry=ex.entry,
        )


class Transaction(Protocol):
    """The executions one unit of work reads and changes."""

    def get(self, arn: str) -> Execution | None:
        """The execution ``arn`` (current, and marked as touched), or ``None``."""
        ...

    def add(self, ex: Execution) -> None:
        """Add a new execution."""
        ...

    def callback_owner(self, callback_id: str) -> str | None:
        """The ARN of the execution that started the callback ``callback_id``."""
        ...


class Store(Protocol):
    """Keeps executions; see the module documentation."""

    def transaction(self) -> AbstractContextManager[Transaction]:
        """Open (or join) a transaction."""
        ...

    def executions(
        self, function_name: str | None = None, status: ExecutionStatus | None = None
    ) -> list[ExecutionSummary]:
        """Every execution (optionally of one function, or in one status), oldest first."""
        ...

    def latest_timestamp(self) -> datetime | None:
        """The latest moment any stored history records (a clock must not go back past it)."""
        ...

    def close(self) -> None:
        """Release what the store holds open."""
        ...


class MemoryStore:
    """Executions as live objects in a dictionary: fast, gone with the process."""

    def __init__(self) -> None:
        self._executions: dict[str, Execution] = {}

    @contextmanager
    def transaction(self) -> Iterator[MemoryStore]:
        """The in-memory store is its own transaction: changes are in place at once."""
        yield self

    def get(self, arn: str) -> Execution | None:
        """The live execution ``arn``."""
        return self._executions.get(arn)

    def add(self, ex: Execution) -> None:
        """Keep ``ex``."""
        self._executions[ex.arn] = ex

    def callback_owner(self, callback_id: str) -> str | None:
        """The execution holding ``callback_id`` (a scan: callbacks are few in tests)."""
        for ex in self._executions.values():
            if callback_id in ex.callbacks:
                return ex.arn
        return None

    def executions(
        self, function_name: str | None = None, status: ExecutionStatus | None = None
    ) -> list[ExecutionSummary]:
        """See :meth:`Store.executions`."""
        return [
            ExecutionSummary.of(ex)
            for ex in self._executions.values()
            if (function_name is None or ex.function_name == function_name)
            and (status is None or ex.status is status)
        ]

    def latest_timestamp(self) -> datetime | None:
        """Nothing outlives the process: no constraint."""
        return None

    def close(self) -> None:
        """Nothing to release."""
