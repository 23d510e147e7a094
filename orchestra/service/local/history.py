"""History events in the exact GetDurableExecutionHistory format.

The emulator appends one event per accepted update (and per service-side completion, and
per invocation), numbered from 1 in persistence order.

Example:
    >>> from datetime import UTC, datetime
    >>> from orchestra.wire.models import OperationUpdate, OperationType, OperationAction
    >>> from orchestra.wire.models import Operation, OperationStatus
    >>> update = OperationUpdate(id="s", type=OperationType.STEP,
    ...                          action=OperationAction.START, sub_type="Step")
    >>> op = Operation(id="s", type=OperationType.STEP, status=OperationStatus.STARTED,
    ...                sub_type="Step")
    >>> update_event(update, op, datetime(2026, 1, 1, tzinfo=UTC)).event_type
    'StepStarted'
"""

from __future__ import annotations

from datetime import datetime

from orchestra.wire.models import (
    ErrorObject,
    Event,
    EventDetails,
    EventError,
    EventPayload,
    Operation,
    OperationAction,
    OperationType,
    OperationUpdate,
    RetryDetails,
)

__all__ = ["completion_event", "error", "operation_event", "payload", "update_event"]

_FAMILY = {
    OperationType.STEP: "Step",
    OperationType.WAIT: "Wait",
    OperationType.CONTEXT: "Context",
    OperationType.CALLBACK: "Callback",
    OperationType.CHAINED_INVOKE: "ChainedInvoke",
    OperationType.EXECUTION: "Execution",
}


#: The details of an event that has none (immutable, so one instance serves every event).
_NO_DETAILS = EventDetails()


def payload(text: str | None) -> EventPayload:
    """A result/input payload as events carry it."""
    return EventPayload(truncated=False, payload=text)


def error(err: ErrorObject | None) -> EventError:
    """An error as events carry it."""
    return EventError(payload=err or ErrorObject(), truncated=False)


def _event(kind: str, op: Operation, when: datetime, details: EventDetails) -> Event:
    return Event(
        event_type=kind,
        event_id=0,
        event_timestamp=when,
        details=details,
        sub_type=op.sub_type,
        id=op.id,
        name=op.name,
        parent_id=op.parent_id,
    )


def update_event(update: OperationUpdate, op: Operation, when: datetime) -> Event | None:
    """The event an accepted update produces (``op`` is the operation after it)."""
    family = _FAMILY[op.type]
    action = update.action
    if action is OperationAction.START:
        details = _NO_DETAILS
        if op.type is OperationType.WAIT and update.wait_options is not None:
            details = EventDetails(
                duration=update.wait_options.wait_seconds,
                scheduled_end_timestamp=op.wait_details.scheduled_end_timestamp
                if op.wait_details
                else None,
            )
        elif op.type is OperationType.CALLBACK:
            options = update.callback_options
            details = EventDetails(
                callback_id=op.callback_details.callback_id if op.callback_details else None,
                timeout=(options.timeout_seconds or None) if options else None,
                heartbeat_timeout=(options.heartbeat_timeout_seconds or None) if options else None,
            )
        return _event(f"{family}Started", op, when, details)
    attempt = op.step_details.attempt if op.step_details else None
    if action is OperationAction.SUCCEED:
        retry = RetryDetails(current_attempt=attempt) if op.type is OperationType.STEP else None
        return _event(
            f"{family}Succeeded",
            op,
            when,
            EventDetails(result=payload(update.payload), retry_details=retry),
        )
    if action is OperationAction.FAIL:
        retry = RetryDetails(current_attempt=attempt) if op.type is OperationType.STEP else None
        return _event(
            f"{family}Failed",
            op,
            when,
            EventDetails(error=error(update.error), retry_details=retry),
        )
    if action is OperationAction.RETRY:
        delay = update.step_options.next_attempt_delay_seconds if update.step_options else None
        retry = RetryDetails(current_attempt=attempt, next_attempt_delay_seconds=delay)
        if update.error is not None:
            return _event(
                "StepFailed", op, when, EventDetails(error=error(update.error), retry_details=retry)
            )
        return _event(
            "StepSucceeded",
            op,
            when,
            EventDetails(result=payload(update.payload), retry_details=retry),
        )
    return None  # CANCEL: the completion event comes from the operation's final state


def completion_event(op: Operation, when: datetime, *, duration: int | None = None) -> Event:
    """The event for a completion the service made itself.

    That is a timer fired, a cancel, a callback's outside result or timeout, or a chained
    invoke's outcome. A callback's or chained invoke's event carries the final state's
    ``Result`` (when it succeeded) or ``Error`` (otherwise).
    """
    family = _FAMILY[op.type]
    status = op.status.value
    suffix = {
        "SUCCEEDED": "Succeeded",
        "FAILED": "Failed",
        "CANCELLED": "Cancelled",
        "TIMED_OUT": "TimedOut",
        "STOPPED": "Stopped",
    }[status]
    details = EventDetails(duration=duration)
    outcome = op.callback_details or op.chained_invoke_details
    if op.type in (OperationType.CALLBACK, OperationType.CHAINED_INVOKE) and outcome is not None:
        details = (
            EventDetails(result=payload(outcome.result))
            if status == "SUCCEEDED"
            else EventDetails(error=error(outcome.error))
        )
    return _event(f"{family}{suffix}", op, when, details)


def operation_event(kind: str, op: Operation, when: datetime, details: EventDetails) -> Event:
    """An event of type ``kind`` about ``op`` (for the service's own processors)."""
    return _event(kind, op, when, details)
