"""What the HTTP server needs from the emulator, as a protocol.

:class:`~orchestra.service.local.LocalService` satisfies it; the server only ever calls
these methods, so a store-backed service with the same methods works too.

Example:
    >>> from orchestra.service.local import LocalService
    >>> callable(getattr(LocalService, "checkpoint"))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from orchestra.service.local.clock import Clock
from orchestra.service.local.execution import Execution
from orchestra.wire.models import (
    CheckpointResponse,
    ErrorObject,
    ExecutionState,
    ExecutionStatus,
    OperationUpdate,
)

__all__ = ["Backend", "Handler", "Summary"]

#: A Lambda handler: ``handler(event, context) -> output``.
Handler = Callable[[dict[str, Any], Any], Any]


class Summary(Protocol):
    """One row of ``list_executions``."""

    @property
    def arn(self) -> str:
        """The execution's ARN."""
        ...

    @property
    def name(self) -> str:
        """The execution's name."""
        ...

    @property
    def function_name(self) -> str:
        """The function it runs."""
        ...

    @property
    def status(self) -> ExecutionStatus:
        """Its status."""
        ...

    @property
    def start_timestamp(self) -> datetime | None:
        """When it started."""
        ...

    @property
    def end_timestamp(self) -> datetime | None:
        """When it ended (``None`` while running)."""
        ...


class Backend(Protocol):
    """The emulator's methods the server calls."""

    clock: Clock

    def start_execution(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        execution_timeout: int = 86_400,
        entry: str | None = None,
    ) -> str:
        """Create an execution and return its ARN (``entry``: its ``module:attr``)."""
        ...

    def execution(self, arn: str) -> Execution:
        """The execution with ``arn`` (``ServiceError`` 404 if unknown)."""
        ...

    def history_dicts(
        self, arn: str, *, include_execution_data: bool = True
    ) -> list[dict[str, Any]]:
        """The history as GetDurableExecutionHistory ``Events``."""
        ...

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        """``CheckpointDurableExecution``."""
        ...

    def get_state(self, arn: str, token: str, marker: str, max_items: int) -> ExecutionState:
        """``GetDurableExecutionState``."""
        ...

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> str:
        """``SendDurableExecutionCallbackSuccess``."""
        ...

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> str:
        """``SendDurableExecutionCallbackFailure``."""
        ...

    def send_callback_heartbeat(self, callback_id: str) -> str:
        """``SendDurableExecutionCallbackHeartbeat``."""
        ...

    def stop_execution(self, arn: str, error: ErrorObject | None = None) -> datetime:
        """``StopDurableExecution``: returns the stop time."""
        ...

    def list_executions(
        self, function_name: str | None = None, status: ExecutionStatus | None = None
    ) -> Sequence[Summary]:
        """The executions, optionally of one function and in one status."""
        ...

    def run(self, arn: str, handler: Handler, *, max_invocations: int = 10_000) -> ExecutionStatus:
        """Invoke ``handler`` until the execution ends or waits for something outside."""
        ...
