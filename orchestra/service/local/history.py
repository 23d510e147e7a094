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

import attrs

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

__all__ = [
    "completion_event",
    "error",
    "operation_event",
    "payload",
    "started_event",
    "succeeded_event",
    "update_event",
]

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

_START = OperationAction.START
_SUCCEED = OperationAction.SUCCEED
#: The event types of a START and of a SUCCEED, by operation type.
_STARTED = {kind: f"{family}Started" for kind, family in _FAMILY.items()}
_SUCCEEDED = {kind: f"{family}Succeeded" for kind, family in _FAMILY.items()}
#: Shared ``RetryDetails`` of the first attempts (see :func:`_retry_details`).
_RETRIES: dict[int | None, RetryDetails] = {}

#: The order :func:`_event` passes Event's fields in.
_EVENT_ORDER = (
    "event_type",
    "event_id",
    "event_timestamp",
    "details",
    "sub_type",
    "id",
    "name",
    "parent_id",
)
if tuple(field.name for field in attrs.fields(Event)) != _EVENT_ORDER:  # pragma: no cover
    raise ImportError("Event's fields changed: update history._event")


def payload(text: str | None) -> EventPayload:
    """A result/input payload as events carry it."""
    return EventPayload(truncated=False, payload=text)


def error(err: ErrorObject | None) -> EventError:
    """An error as events carry it."""
    return EventError(payload=err or ErrorObject(), truncated=False)


def _event(kind: str, op: Operation, when: datetime, details: EventDetails) -> Event:
    # by position, in the order _EVENT_ORDER pins (a hot path)
    return Event(kind, 0, when, details, op.sub_type, op.id, op.name, op.parent_id)


def started_event(op: Operation, when: datetime) -> Event:
    """The event of a START of the STEP or CONTEXT ``op`` (only its identity is read).

    What :func:`update_event` gives for that START, from the operation alone.
    """
    return _event(_STARTED[op.type], op, when, _NO_DETAILS)


def succeeded_event(op: Operation, when: datetime) -> Event:
    """The event of the SUCCEED that left the STEP or CONTEXT ``op`` SUCCEEDED.

    What :func:`update_event` gives for that SUCCEED, from the operation alone: the
    operation stores the update's payload as its result.
    """
    if op.type is OperationType.STEP:
        details = op.step_details
        return _event(
            "StepSucceeded",
            op,
            when,
            EventDetails(
                result=EventPayload(truncated=False, payload=details.result if details else None),
                retry_details=_retry_details(details.attempt if details else None),
            ),
        )
    context = op.context_details
    return _event(
        "ContextSucceeded",
        op,
        when,
        EventDetails(
            result=EventPayload(truncated=False, payload=context.result if context else None)
        ),
    )


def update_event(update: OperationUpdate, op: Operation, when: datetime) -> Event | None:
    """The event an accepted update produces (``op`` is the operation after it)."""
    action = update.action
    if action is _START:
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
        return _event(_STARTED[op.type], op, when, details)
    is_step = op.type is OperationType.STEP
    attempt = op.step_details.attempt if op.step_details else None
    if action is _SUCCEED:
        return _event(
            _SUCCEEDED[op.type],
            op,
            when,
            EventDetails(
                result=EventPayload(truncated=False, payload=update.payload),
                retry_details=_retry_details(attempt) if is_step else None,
            ),
        )
    if action is OperationAction.FAIL:
        return _event(
            f"{_FAMILY[op.type]}Failed",
            op,
            when,
            EventDetails(
                error=error(update.error),
                retry_details=_retry_details(attempt) if is_step else None,
            ),
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


def _retry_details(attempt: int | None) -> RetryDetails:
    """``RetryDetails(current_attempt=attempt)``, one shared instance per attempt (immutable)."""
    details = _RETRIES.get(attempt)
    if details is None:
        details = RetryDetails(current_attempt=attempt)
        if len(_RETRIES) < 64:
            _RETRIES[attempt] = details
    return details


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
