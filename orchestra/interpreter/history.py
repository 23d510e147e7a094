"""The history index: an execution's operations by id, built once per invocation.

Replay is a dictionary lookup, so replaying ``n`` operations costs ``O(n)``.

Example:
    >>> from orchestra.wire.models import Operation, OperationType, OperationStatus
    >>> index = HistoryIndex([Operation(id="x", type=OperationType.WAIT,
    ...                                 status=OperationStatus.STARTED)])
    >>> index.get("x").status, index.get("y")
    (<OperationStatus.STARTED: 'STARTED'>, None)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from orchestra.wire.models import Operation, OperationType

__all__ = ["HistoryIndex"]


class HistoryIndex:
    """Operations by id; later versions of an operation replace earlier ones."""

    __slots__ = ("_ops",)

    def __init__(self, operations: Iterable[Operation] = ()) -> None:
        self._ops: dict[str, Operation] = {op.id: op for op in operations}

    def get(self, op_id: str) -> Operation | None:
        """The operation with id ``op_id``, if the history has it."""
        return self._ops.get(op_id)

    def upsert(self, operations: Iterable[Operation]) -> None:
        """Merge operations returned by the service (whole records replace old ones)."""
        for op in operations:
            self._ops[op.id] = op

    def has_prior_operations(self) -> bool:
        """Whether anything beyond the EXECUTION operation was checkpointed (a replay)."""
        return any(op.type is not OperationType.EXECUTION for op in self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._ops.values())
