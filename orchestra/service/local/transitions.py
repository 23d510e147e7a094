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
from orchestra.service.local.history import completion_event, update_event
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


def new_operation(
    update: OperationUpdate, now: datetime, *, step_details: StepDetails | None = None
) -> Operation:
    """The operation a START of an unknown id creates: STARTED now, named as the update."""
    return Operation(
        id=update.id,
        type=update.type,
        status=OperationStatus.STARTED,
        start_timestamp=now,
        parent_id=update.parent_id,
        name=update.name,
        sub_type=update.sub_type,
        step_details=step_details,
    )


def apply_update(ex: Execution, update: OperationUpdate, now: datetime) -> None:
    """Apply one accepted update: the new operation, its timer and its history event."""
    if update.type is OperationType.EXECUTION:
        status = (
            ExecutionStatus.SUCCEEDED
            if update.action is OperationAction.SUCCEED
            else ExecutionStatus.FAILED
        )
        ex.closing = (status, update.payload, update.error)
        return
    stored = ex.operations.get(update.id)
    if stored is None and update.type is OperationType.STEP and update.action is _START:
        # the commonest update of all, built in one go (what _transition would make of it)
        op = new_operation(update, now, step_details=_FIRST_ATTEMPT)
    else:
        op = _transition(ex, stored or new_operation(update, now), update, now)
    ex.store(op)
    event = update_event(update, op, now)
    if event is not None:
        ex.append(event)
    elif update.action is OperationAction.CANCEL:
        ex.append(completion_event(op, now))


def _transition(ex: Execution, op: Operation, update: OperationUpdate, now: datetime) -> Operation:
    action = update.action
    if op.type is OperationType.STEP:
        details = op.step_details or StepDetails()
        attempt = details.attempt or 0
        if action is OperationAction.START:
            # READY -> STARTED keeps the last RETRY's Result: a WaitForCondition reads its
            # state from it while the step is STARTED (protocol.md §4.4)
            return _evolve(
                op,
                status=OperationStatus.STARTED,
                step_details=StepDetails(
                    attempt=attempt, result=details.result, error=details.error
                ),
            )
        if action is OperationAction.RETRY:
            delay = update.step_options.next_attempt_delay_seconds if update.step_options else 1
            due = now + timedelta(seconds=delay or 1)
            ex.arm(due, op.id)
            return _evolve(
                op,
                status=OperationStatus.PENDING,
                step_details=StepDetails(
                    attempt=attempt + 1,
                    next_attempt_timestamp=due,
                    result=update.payload,
                    error=update.error,
                ),
            )
        status = (
            OperationStatus.SUCCEEDED
            if action is OperationAction.SUCCEED
            else OperationStatus.FAILED
        )
        return _evolve(
            op,
            status=status,
            end_timestamp=now,
            step_details=StepDetails(
                attempt=attempt + 1, result=update.payload, error=update.error
            ),
        )
    if op.type is OperationType.WAIT:
        if action is OperationAction.CANCEL:
            return _evolve(op, status=OperationStatus.CANCELLED, end_timestamp=now)
        seconds = update.wait_options.wait_seconds if update.wait_options else 1
        due = now + timedelta(seconds=seconds or 1)
        ex.arm(due, op.id)
        return _evolve(op, wait_details=WaitDetails(scheduled_end_timestamp=due))
    if op.type is OperationType.CONTEXT:
        if action is OperationAction.START:
            return op
        replay = bool(update.context_options and update.context_options.replay_children)
        if not replay:
            ex.hide_children(op.id)
        if action is OperationAction.SUCCEED:
            return _evolve(
                op,
                status=OperationStatus.SUCCEEDED,
                end_timestamp=now,
                context_details=ContextDetails(replay_children=replay, result=update.payload),
            )
        return _evolve(
            op,
            status=OperationStatus.FAILED,
            end_timestamp=now,
            context_details=ContextDetails(error=update.error),
        )
    if op.type is OperationType.CALLBACK:
        return open_callback(ex, op, update.callback_options, now)
    return op  # CHAINED_INVOKE START: the engine's invokes module handles it


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
            details = op.step_details or StepDetails()
            ready = _evolve(
                op,
                status=OperationStatus.READY,
                step_details=StepDetails(
                    attempt=details.attempt, result=details.result, error=details.error
                ),
            )
            ex.store(ready)


_OPERATION_FIELDS = tuple(field.name for field in attrs.fields(Operation))
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
