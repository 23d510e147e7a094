"""How accepted updates and fired timers change an execution (the service's processors).

Example:
    >>> from datetime import UTC, datetime
    >>> from orchestra.wire.models import OperationUpdate, OperationType, OperationAction
    >>> from orchestra.wire.models import WaitOptions
    >>> ex = Execution("arn:x/durable-execution/n/abc", "n", "fn", None)
    >>> start = datetime(2026, 1, 1, tzinfo=UTC)
    >>> apply_update(ex, OperationUpdate(id="w", type=OperationType.WAIT,
    ...     action=OperationAction.START, wait_options=WaitOptions(60)), start)
    >>> fire_due(ex, datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    >>> ex.operations["w"].status.value, [e.event_type for e in ex.events]
    ('SUCCEEDED', ['WaitStarted', 'WaitSucceeded'])
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from typing import Any

import attrs

from orchestra.service.local.callbacks import open_callback
from orchestra.service.local.execution import Execution
from orchestra.service.local.history import completion_event
from orchestra.wire.models import (
    ContextDetails,
    ExecutionStatus,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    WaitDetails,
)

__all__ = ["apply_update", "fire_due", "new_operation"]


_START = OperationAction.START
#: A started step's details before its first attempt ends (immutable: shared).
_FIRST_ATTEMPT = StepDetails(attempt=0)
#: The details of a step that has none yet (immutable: shared).
_NO_STEP_DETAILS = StepDetails()
_SUCCEED = OperationAction.SUCCEED
_RETRY = OperationAction.RETRY
_CANCEL = OperationAction.CANCEL
_STARTED = OperationStatus.STARTED
_SUCCEEDED = OperationStatus.SUCCEEDED
_FAILED = OperationStatus.FAILED
_STEP = OperationType.STEP
_CONTEXT = OperationType.CONTEXT
_EXECUTION = OperationType.EXECUTION


def new_operation(
    update: OperationUpdate, now: datetime, *, step_details: StepDetails | None = None
) -> Operation:
    """The operation a START of an unknown id creates: STARTED now, named as the update."""
    return _started(update, now, step_details)


def _started(update: OperationUpdate, now: datetime, step_details: StepDetails | None) -> Operation:
    """:func:`new_operation`, by position (a hot path)."""
    return Operation(  # by position, in the order _REPLACE_ORDER pins
        update.id,
        update.type,
        _STARTED,
        now,
        None,
        update.parent_id,
        update.name,
        update.sub_type,
        None,
        None,
        step_details,
    )


def apply_update(ex: Execution, update: OperationUpdate, now: datetime) -> None:
    """Apply one accepted update: the new operation, its timer and its history event."""
    kind = update.type
    if kind is _EXECUTION:
        status = ExecutionStatus.SUCCEEDED if update.action is _SUCCEED else ExecutionStatus.FAILED
        ex.closing = (status, update.payload, update.error)
        return
    action = update.action
    stored = ex.operations.get(update.id)
    if stored is None:
        if action is _START and (kind is _STEP or kind is _CONTEXT):
            # the commonest updates of all, built in one go (what _transition would make)
            op = _started(update, now, _FIRST_ATTEMPT if kind is _STEP else None)
        else:
            op = _transition(ex, new_operation(update, now), update, now)
    elif stored.type is _STEP:
        op = _step_transition(ex, stored, update, now)
    else:
        op = _transition(ex, stored, update, now)
    ex.store(op)
    if action is _CANCEL:
        ex.append(completion_event(op, now))
    else:
        ex.append_update(update, op, now)


def _transition(ex: Execution, op: Operation, update: OperationUpdate, now: datetime) -> Operation:
    kind = op.type
    if kind is _STEP:
        return _step_transition(ex, op, update, now)
    if kind is _CONTEXT:
        return _context_transition(ex, op, update, now)
    if kind is OperationType.WAIT:
        if update.action is _CANCEL:
            return _evolve(op, status=OperationStatus.CANCELLED, end_timestamp=now)
        seconds = update.wait_options.wait_seconds if update.wait_options else 1
        due = now + timedelta(seconds=seconds or 1)
        ex.arm(due, op.id)
        return _evolve(op, wait_details=WaitDetails(scheduled_end_timestamp=due))
    if kind is OperationType.CALLBACK:
        return open_callback(ex, op, update.callback_options, now)
    return op  # CHAINED_INVOKE START: the engine's invokes module handles it


def _context_transition(
    ex: Execution, op: Operation, update: OperationUpdate, now: datetime
) -> Operation:
    action = update.action
    if action is _START:
        return op
    replay = bool(update.context_options and update.context_options.replay_children)
    if not replay:
        ex.hide_children(op.id)
    if action is _SUCCEED:
        # (ContextDetails by position: replay_children, result)
        return _replace(
            op, _SUCCEEDED, now, ContextDetails(replay, update.payload), op.step_details
        )
    return _replace(op, _FAILED, now, ContextDetails(error=update.error), op.step_details)


def _step_transition(
    ex: Execution, op: Operation, update: OperationUpdate, now: datetime
) -> Operation:
    action = update.action
    details = op.step_details or _NO_STEP_DETAILS
    attempt = details.attempt or 0
    if action is _START:
        # READY -> STARTED keeps the last RETRY's Result: a WaitForCondition reads its
        # state from it while the step is STARTED (protocol.md §4.4)
        return _replace(
            op,
            _STARTED,
            op.end_timestamp,
            op.context_details,
            StepDetails(attempt=attempt, result=details.result, error=details.error),
        )
    if action is _RETRY:
        delay = update.step_options.next_attempt_delay_seconds if update.step_options else 1
        due = now + timedelta(seconds=delay or 1)
        ex.arm(due, op.id)
        return _replace(
            op,
            OperationStatus.PENDING,
            op.end_timestamp,
            op.context_details,
            StepDetails(
                attempt=attempt + 1,
                next_attempt_timestamp=due,
                result=update.payload,
                error=update.error,
            ),
        )
    # (StepDetails by position: attempt, next_attempt_timestamp, result, error)
    return _replace(
        op,
        _SUCCEEDED if action is _SUCCEED else _FAILED,
        now,
        op.context_details,
        StepDetails(attempt + 1, None, update.payload, update.error),
    )


def fire_due(ex: Execution, now: datetime) -> None:
    """Fire every timer due by ``now``: waits succeed, retried steps become READY."""
    while ex.timers and ex.timers[0][0] <= now:
        _, _, op_id = heapq.heappop(ex.timers)
        op = ex.operations.get(op_id)
        if op is None:
            continue
        if op.type is OperationType.WAIT and op.status is OperationStatus.STARTED:
            done = _evolve(op, status=OperationStatus.SUCCEEDED, end_timestamp=now)
            ex.store(done)
            seconds = None
            if op.wait_details and op.wait_details.scheduled_end_timestamp and op.start_timestamp:
                seconds = round(
                    (op.wait_details.scheduled_end_timestamp - op.start_timestamp).total_seconds()
                )
            ex.append(completion_event(done, now, duration=seconds))
        elif op.type is OperationType.STEP and op.status is OperationStatus.PENDING:
            details = op.step_details or _NO_STEP_DETAILS
            ready = _replace(
                op,
                OperationStatus.READY,
                op.end_timestamp,
                op.context_details,
                StepDetails(attempt=details.attempt, result=details.result, error=details.error),
            )
            ex.store(ready)


_OPERATION_FIELDS = tuple(field.name for field in attrs.fields(Operation))
#: The order :func:`_replace` passes Operation's fields in.
_REPLACE_ORDER = (
    "id",
    "type",
    "status",
    "start_timestamp",
    "end_timestamp",
    "parent_id",
    "name",
    "sub_type",
    "execution_details",
    "context_details",
    "step_details",
    "wait_details",
    "callback_details",
    "chained_invoke_details",
)
if _OPERATION_FIELDS != _REPLACE_ORDER:  # pragma: no cover - the wire model changed
    raise ImportError(f"Operation's fields changed to {_OPERATION_FIELDS}: update _replace")
if tuple(f.name for f in attrs.fields(StepDetails))[:4] != (
    "attempt",
    "next_attempt_timestamp",
    "result",
    "error",
) or tuple(f.name for f in attrs.fields(ContextDetails))[:2] != (
    "replay_children",
    "result",
):  # pragma: no cover - the wire model changed
    raise ImportError("StepDetails' or ContextDetails' fields changed: update the transitions")
_new = object.__new__
_set = object.__setattr__


def _evolve(op: Operation, **changes: Any) -> Operation:
    """``attrs.evolve(op, **changes)``, without its per-call introspection (a hot path).

    :class:`Operation` has neither converters nor validators, so copying the fields is
    exactly what its ``__init__`` would do.
    """
    new: Operation = _new(Operation)
    for name in _OPERATION_FIELDS:
        _set(new, name, changes[name] if name in changes else getattr(op, name))
    return new


def _replace(
    op: Operation,
    status: OperationStatus,
    end_timestamp: datetime | None,
    context_details: ContextDetails | None,
    step_details: StepDetails | None,
) -> Operation:
    """``op`` with these status, end time and details; every other field kept.

    The arguments go to ``Operation`` by position (a hot path: several times cheaper than
    :func:`_evolve`); the import-time check above pins the field order.
    """
    return Operation(
        op.id,
        op.type,
        status,
        op.start_timestamp,
        end_timestamp,
        op.parent_id,
        op.name,
        op.sub_type,
        op.execution_details,
        context_details,
        step_details,
        op.wait_details,
        op.callback_details,
        op.chained_invoke_details,
    )
