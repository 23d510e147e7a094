"""What the service accepts and rejects in a checkpoint call.

The same batch rules, actions and transitions as the Lambda durable-execution service, so
that a workflow that checkpoints cleanly here is not rejected in the cloud. Each rejection
is a :class:`~orchestra.service.api.ServiceError` with the service's message.

Example:
    >>> from orchestra.wire.models import OperationUpdate, OperationType, OperationAction
    >>> try:
    ...     check_batch({}, [OperationUpdate(id="w", type=OperationType.WAIT,
    ...                                      action=OperationAction.RETRY)])
    ... except ServiceError as exc:
    ...     print(exc.message)
    Invalid action for the given operation type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from orchestra.service.api import ServiceError
from orchestra.service.local.invokes import check_tenant_id, parse_function_name
from orchestra.wire.converter import to_wire
from orchestra.wire.models import (
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

__all__ = ["MAX_ERROR_BYTES", "check_batch"]

MAX_ERROR_BYTES = 32768
MAX_PAYLOAD_CHARS = 6_291_456
MAX_INVOKE_PAYLOAD_BYTES = 1024 * 1024

A = OperationAction
S = OperationStatus
_STEP = OperationType.STEP
_CONTEXT = OperationType.CONTEXT
_START = OperationAction.START
_SUCCEED = OperationAction.SUCCEED
_STARTED = OperationStatus.STARTED
_READY = OperationStatus.READY

#: Which actions each operation type accepts.
ALLOWED_ACTIONS: dict[OperationType, frozenset[OperationAction]] = {
    OperationType.STEP: frozenset({A.START, A.SUCCEED, A.FAIL, A.RETRY}),
    OperationType.CONTEXT: frozenset({A.START, A.SUCCEED, A.FAIL}),
    OperationType.WAIT: frozenset({A.START, A.CANCEL}),
    OperationType.CALLBACK: frozenset({A.START}),
    OperationType.CHAINED_INVOKE: frozenset({A.START}),
    OperationType.EXECUTION: frozenset({A.SUCCEED, A.FAIL}),
}

_NEW = None  # the operation does not exist yet

#: (type, action) -> (statuses the stored operation may have, message when it has another).
TRANSITIONS: dict[tuple[OperationType, OperationAction], tuple[frozenset[object], str]] = {
    (OperationType.STEP, A.START): (
        frozenset({_NEW, S.READY}),
        "Invalid current STEP state to start.",
    ),
    (OperationType.STEP, A.SUCCEED): (
        frozenset({_NEW, S.STARTED, S.READY}),
        "Invalid current STEP state to close.",
    ),
    (OperationType.STEP, A.FAIL): (
        frozenset({_NEW, S.STARTED, S.READY}),
        "Invalid current STEP state to close.",
    ),
    (OperationType.STEP, A.RETRY): (
        frozenset({_NEW, S.STARTED, S.READY}),
        "Invalid current STEP state to close.",
    ),
    (OperationType.CONTEXT, A.START): (
        frozenset({_NEW}),
        "Cannot start a CONTEXT that already exist.",
    ),
    (OperationType.CONTEXT, A.SUCCEED): (
        frozenset({_NEW, S.STARTED}),
        "Invalid current CONTEXT state to close.",
    ),
    (OperationType.CONTEXT, A.FAIL): (
        frozenset({_NEW, S.STARTED}),
        "Invalid current CONTEXT state to close.",
    ),
    (OperationType.WAIT, A.START): (frozenset({_NEW}), "Cannot start a WAIT that already exist."),
    (OperationType.WAIT, A.CANCEL): (
        frozenset({S.STARTED}),
        "Cannot cancel a WAIT that does not exist or has already completed.",
    ),
    (OperationType.CALLBACK, A.START): (
        frozenset({_NEW}),
        "Cannot start a CALLBACK that already exist.",
    ),
    (OperationType.CHAINED_INVOKE, A.START): (
        frozenset({_NEW}),
        "Cannot start a CHAINED_INVOKE that already exist.",
    ),
}


def _reject(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException", message, status=400)


def _check_shape(update: OperationUpdate) -> None:
    if update.action not in ALLOWED_ACTIONS[update.type]:
        raise _reject("Invalid action for the given operation type.")
    if update.error is not None:
        size = len(json.dumps(to_wire(update.error)).encode())
        if size > MAX_ERROR_BYTES:
            raise _reject(f"Error object size must be less than {MAX_ERROR_BYTES} bytes.")
    if update.payload is not None and len(update.payload) > MAX_PAYLOAD_CHARS:
        raise _reject(f"Payload size must be at most {MAX_PAYLOAD_CHARS} characters.")
    if update.action is A.SUCCEED and update.error is not None:
        raise _reject(f"Cannot provide an Error for a {update.type.value} SUCCEED update.")
    if update.action is A.FAIL and update.payload is not None:
        raise _reject(f"Cannot provide a Payload for a {update.type.value} FAIL update.")
    if update.type is OperationType.STEP and update.action is A.RETRY:
        options = update.step_options
        if options is None or options.next_attempt_delay_seconds is None:
            raise _reject("Invalid StepOptions for the given action.")
        if update.error is not None and update.payload is not None:
            raise _reject("Cannot provide both an Error and a Payload for a STEP RETRY update.")
    if update.type is OperationType.WAIT and update.action is A.START:
        options_w = update.wait_options
        if options_w is None or not options_w.wait_seconds or options_w.wait_seconds < 1:
            raise _reject("Invalid WaitOptions for the given action.")
    if update.type is OperationType.CALLBACK and update.callback_options is not None:
        options_c = update.callback_options
        for seconds in (options_c.timeout_seconds, options_c.heartbeat_timeout_seconds):
            if seconds is not None and (not isinstance(seconds, int) or seconds < 0):
                raise _reject("Invalid CallbackOptions for the given action.")
    if update.type is OperationType.CHAINED_INVOKE:
        if update.chained_invoke_options is None:
            raise _reject("Update for CHAINED_INVOKE operation requires ChainedInvokeOptions.")
        parse_function_name(update.chained_invoke_options.function_name)
        check_tenant_id(update.chained_invoke_options.tenant_id)
        if update.payload is not None and len(update.payload.encode()) > MAX_INVOKE_PAYLOAD_BYTES:
            raise _reject("CHAINED_INVOKE payload must be at most 1 MiB.")


def _check_consistent(update: OperationUpdate, stored: Operation) -> None:
    if update.type is not stored.type:
        raise _reject("Inconsistent operation type.")
    if update.sub_type is not None and update.sub_type != stored.sub_type:
        raise _reject("Inconsistent operation subtype.")
    if update.name is not None and update.name != stored.name:
        raise _reject("Inconsistent operation name.")
    if update.parent_id is not None and update.parent_id != stored.parent_id:
        raise _reject("Inconsistent parent operation id.")


def check_batch(operations: Mapping[str, Operation], updates: Sequence[OperationUpdate]) -> None:
    """Raise the service's rejection if ``updates`` may not be applied to ``operations``."""
    if not _plain_batch_accepted(operations, updates):
        _check_batch(operations, updates)


def _plain_batch_accepted(
    operations: Mapping[str, Operation], updates: Sequence[OperationUpdate]
) -> bool:
    """Whether ``updates`` is a batch of plain updates that :func:`_check_batch` accepts.

    Plain updates (STEP or CONTEXT, START or SUCCEED, no Error, a payload within the limit)
    are nearly every update a workflow sends, and pass every rule of :func:`_check_shape`,
    so only their ids, parents and transitions need checking; this does it with identity
    tests alone. ``False`` means "not known to be accepted": the general rules decide (and
    give the rejection, if any), so this never changes what is accepted or how it is refused.
    """
    last_action: dict[str, OperationAction] = {}
    started_contexts: set[str] = set()
    for update in updates:
        kind = update.type
        action = update.action
        if (
            (kind is not _STEP and kind is not _CONTEXT)
            or (action is not _START and action is not _SUCCEED)
            or update.error is not None
            or (update.payload is not None and len(update.payload) > MAX_PAYLOAD_CHARS)
        ):
            return False
        parent_id = update.parent_id
        if parent_id is not None and parent_id not in started_contexts:
            parent = operations.get(parent_id)
            if parent is None or parent.type is not _CONTEXT:
                return False
        op_id = update.id
        previous = last_action.get(op_id)
        if previous is not None:
            # a START then a SUCCEED of one id in one batch: the second finds it STARTED
            if previous is not _START or action is not _SUCCEED:
                return False
        elif not _plain_transition_accepted(update, operations.get(op_id)):
            return False
        last_action[op_id] = action
        if kind is _CONTEXT and action is _START:
            started_contexts.add(op_id)
    return True


def _plain_transition_accepted(update: OperationUpdate, stored: Operation | None) -> bool:
    """Whether a plain update may apply to ``stored`` (its first in the batch).

    The same answer as :func:`_check_consistent` and :data:`TRANSITIONS` give.
    """
    if stored is None:
        return True  # every plain (type, action) accepts a new operation
    if (
        update.type is not stored.type
        or (update.sub_type is not None and update.sub_type != stored.sub_type)
        or (update.name is not None and update.name != stored.name)
        or (update.parent_id is not None and update.parent_id != stored.parent_id)
    ):
        return False
    status = stored.status
    if update.type is _STEP:
        if update.action is _START:
            return status is _READY
        return status is _STARTED or status is _READY
    return update.action is _SUCCEED and status is _STARTED


def _check_batch(operations: Mapping[str, Operation], updates: Sequence[OperationUpdate]) -> None:
    """The general rules of :func:`check_batch`, for any batch."""
    executions = [u for u in updates if u.type is OperationType.EXECUTION]
    if len(executions) > 1:
        raise _reject("Cannot checkpoint multiple EXECUTION updates.")
    if executions and updates[-1].type is not OperationType.EXECUTION:
        raise _reject("EXECUTION checkpoint must be the last update.")
    seen: dict[str, OperationAction] = {}
    started_contexts: set[str] = set()
    status_in_batch: dict[str, object] = {}
    for update in updates:
        _check_shape(update)
        previous = seen.get(update.id)
        if previous is not None:
            allowed = (
                update.type in (OperationType.STEP, OperationType.CONTEXT)
                and previous is A.START
                and update.action is not A.START
            )
            if not allowed:
                raise _reject("Cannot checkpoint multiple operations with the same ID.")
        seen[update.id] = update.action
        if update.parent_id is not None:
            parent = operations.get(update.parent_id)
            if update.parent_id not in started_contexts and (
                parent is None or parent.type is not OperationType.CONTEXT
            ):
                raise _reject("Invalid parent operation id.")
        if update.type is OperationType.EXECUTION:
            continue
        stored = operations.get(update.id)
        if stored is not None and previous is None:
            _check_consistent(update, stored)
        current = status_in_batch.get(update.id, stored.status if stored is not None else _NEW)
        accepted, message = TRANSITIONS[(update.type, update.action)]
        if current not in accepted:
            raise _reject(message)
        status_in_batch[update.id] = S.STARTED if update.action is A.START else S.SUCCEEDED
        if update.type is OperationType.CONTEXT and update.action is A.START:
            started_contexts.add(update.id)
