"""One execution's state inside the emulator: operations, history, timers, token.

Example:
    >>> ex = Execution("arn:x/durable-execution/n/abc", "n", "fn", None)
    >>> ex.execution_id, ex.has_pending_work()
    ('abc', False)
"""

from __future__ import annotations

import heapq
from datetime import datetime

import attrs

from orchestra.wire.models import (
    ErrorObject,
    Event,
    ExecutionStatus,
    Operation,
    OperationStatus,
    OperationType,
)

__all__ = ["Execution"]


class Execution:
    """One execution's state inside the emulator."""

    def __init__(self, arn: str, name: str, function_name: str, input_payload: str | None) -> None:
        self.arn = arn
        self.name = name
        self.function_name = function_name
        self.input_payload = input_payload
        self.status = ExecutionStatus.RUNNING
        self.result: str | None = None
        self.error: ErrorObject | None = None
        self.operations: dict[str, Operation] = {}
        self.children: dict[str, list[str]] = {}
        self.hidden: set[str] = set()
        self.events: list[Event] = []
        self.dirty: dict[str, None] = {}
        self.timers: list[tuple[datetime, int, str]] = []
        self.token: str | None = None
        self.checkpoint_calls = 0
        self.invocations = 0
        self.crash_points: dict[int, bool] = {}
        self.closing: tuple[ExecutionStatus, str | None, ErrorObject | None] | None = None
        self.start_timestamp: datetime | None = None
        self.end_timestamp: datetime | None = None
        self._timer_seq = 0

    @property
    def execution_id(self) -> str:
        """The EXECUTION operation's id (the ARN's last segment)."""
        return self.arn.rsplit("/", 1)[-1]

    def visible_operations(self) -> list[Operation]:
        """The state handed to the handler (children of completed contexts left out)."""
        return [op for op in self.operations.values() if op.id not in self.hidden]

    def has_pending_work(self) -> bool:
        """Whether some operation waits for the service (a timer, a callback, an invoke)."""
        for op in self.operations.values():
            if op.type is OperationType.STEP and op.status in (
                OperationStatus.PENDING,
                OperationStatus.READY,
            ):
                return True
            if (
                op.type
                in (OperationType.WAIT, OperationType.CALLBACK, OperationType.CHAINED_INVOKE)
                and op.status is OperationStatus.STARTED
            ):
                return True
        return False

    def store(self, op: Operation) -> None:
        """Save ``op`` (a new or changed operation) and mark it for the next response."""
        if op.id not in self.operations and op.parent_id is not None:
            self.children.setdefault(op.parent_id, []).append(op.id)
        self.operations[op.id] = op
        self.dirty[op.id] = None

    def append(self, event: Event) -> None:
        """Add ``event`` to the history with the next EventId."""
        self.events.append(attrs.evolve(event, event_id=len(self.events) + 1))

    def hide_children(self, context_id: str) -> None:
        """Withhold a completed context's descendants from the state handed out."""
        stack = list(self.children.get(context_id, ()))
        while stack:
            child = stack.pop()
            self.hidden.add(child)
            stack.extend(self.children.get(child, ()))

    def arm(self, due: datetime, op_id: str) -> None:
        """Start a timer for ``op_id`` (a wait, a retry delay)."""
        self._timer_seq += 1
        heapq.heappush(self.timers, (due, self._timer_seq, op_id))
