"""Ambient, per-thread facts for the replay-aware logger and step functions.

The interpreter sets the workflow fields while it resumes a fiber; the executor sets the
step fields while a step runs. Nothing here does I/O.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

__all__ = ["LogFields", "RunningStep", "active_fields", "current_fields", "running_step"]


@attrs.frozen
class LogFields:
    """Who is logging: the execution, the operation, and whether this is a replay."""

    execution_arn: str | None = None
    replaying: bool = False
    operation_id: str | None = None
    operation_name: str | None = None
    parent_id: str | None = None
    attempt: int | None = None

    def as_extra(self) -> dict[str, Any]:
        """The fields added to every log record (omitting the unknown ones)."""
        extra = {
            "executionArn": self.execution_arn,
            "operationId": self.operation_id,
            "operationName": self.operation_name,
            "parentId": self.parent_id,
            "attempt": self.attempt,
        }
        return {k: v for k, v in extra.items() if v is not None}


current_fields: contextvars.ContextVar[LogFields | None] = contextvars.ContextVar(
    "orchestra_log_fields", default=None
)


class RunningStep:
    """The step running on this thread, as plain facts; the richer views are built on use.

    A step's :class:`~orchestra.StepContext` and its :class:`LogFields` are needed only
    when the step function asks for its context or logs, so they are made then (once
    each), not for every step.

    Example:
        >>> running = RunningStep("op-1", "charge", None, 2, "arn:x", None)
        >>> running.fields().attempt, running.fields() is running.fields()
        (2, True)
    """

    __slots__ = ("_made", "attempt", "execution_arn", "name", "now", "operation_id", "parent_id")

    def __init__(
        self,
        operation_id: str,
        name: str | None,
        parent_id: str | None,
        attempt: int,
        execution_arn: str,
        now: Callable[[], datetime] | None,
    ) -> None:
        self.operation_id = operation_id
        self.name = name
        self.parent_id = parent_id
        self.attempt = attempt
        self.execution_arn = execution_arn
        self.now = now
        self._made: dict[str, Any] = {}

    def fields(self) -> LogFields:
        """The log fields of the step (execution, operation id, name, parent, attempt)."""
        fields: LogFields | None = self._made.get("fields")
        if fields is None:
            fields = self._made["fields"] = LogFields(
                self.execution_arn,
                replaying=False,
                operation_id=self.operation_id,
                operation_name=self.name,
                parent_id=self.parent_id,
                attempt=self.attempt,
            )
        return fields

    def made(self, key: str, build: Callable[[], Any]) -> Any:
        """A view of the step built once by ``build`` and remembered under ``key``."""
        found = self._made.get(key)
        if found is None:
            found = self._made[key] = build()
        return found


running_step: contextvars.ContextVar[RunningStep | None] = contextvars.ContextVar(
    "orchestra_running_step", default=None
)


def active_fields() -> LogFields | None:
    """The fields a log record gets here: the running step's, else the workflow's."""
    running = running_step.get()
    if running is not None:
        return running.fields()
    return current_fields.get()
