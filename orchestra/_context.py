"""Ambient, per-thread facts for the replay-aware logger and step functions.

The interpreter sets the workflow fields while it resumes a fiber; the executor sets the
step fields while a step runs. Nothing here does I/O.
"""

from __future__ import annotations

import contextvars
from typing import Any

import attrs

from orchestra._steps import RunningStep, running_step

__all__ = [
    "LogFields",
    "RunningStep",
    "WorkflowFields",
    "active_fields",
    "current_fields",
    "running_step",
    "step_fields",
]


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


#: The workflow code being resumed on this thread: ``(execution_arn, replaying,
#: parent_id)``, set around each resumption of a fiber; its :class:`LogFields` are built
#: only when something logs.
WorkflowFields = tuple[str, bool, str | None]

current_fields: contextvars.ContextVar[WorkflowFields | None] = contextvars.ContextVar(
    "orchestra_log_fields", default=None
)


def step_fields(running: RunningStep) -> LogFields:
    """The log fields of a running step (execution, operation id, name, parent, attempt).

    Example:
        >>> step_fields(("op-1", "charge", None, 2, "arn:x", None)).attempt
        2
    """
    op_id, name, parent_id, attempt, arn, _ = running
    return LogFields(
        arn,
        replaying=False,
        operation_id=op_id,
        operation_name=name,
        parent_id=parent_id,
        attempt=attempt,
    )


def active_fields() -> LogFields | None:
    """The fields a log record gets here: the running step's, else the workflow's."""
    running = running_step.get()
    if running is not None:
        return step_fields(running)
    workflow = current_fields.get()
    if workflow is None:
        return None
    arn, replaying, parent_id = workflow
    return LogFields(arn, replaying, parent_id=parent_id)
