"""Callbacks in the emulator: ids, timeouts, heartbeats, outside results and scripted actions.

A CALLBACK START gets an unguessable callback id (``secrets``) and arms the two timers of its
``CallbackOptions``: the overall timeout from the start, and the heartbeat timeout from the
start and from each heartbeat (0 or absent disables either). The outside world then closes
the callback once: a success (``Result`` = the body as text), a failure (``Error``) or a
timeout (``TIMED_OUT``, error type ``Callback.Timeout`` or ``Callback.Heartbeat``); a later
call is answered ``CallbackTimeoutException``, as the service does.

Timers and scripted actions live on the execution's *agenda*: the engine runs them between
invocations, on its (virtual) clock, so a callback never completes in the middle of the
invocation that created it, and its completion event follows that invocation's
``InvocationCompleted``, as in the service's histories.

Example (a scripted success one virtual hour after the callback starts):
    >>> from datetime import UTC, datetime
    >>> from orchestra.wire.models import CallbackOptions, Operation, OperationStatus
    >>> from orchestra.wire.models import OperationType
    >>> ex = Execution("arn:x/durable-execution/n/abc", "n", "fn", None)
    >>> ex.callback_script.append((
    ...     CallbackAction("approval", "success", result='"ok"', delay_seconds=3600), [False]))
    >>> start = datetime(2026, 1, 1, tzinfo=UTC)
    >>> op = Operation(id="cb", type=OperationType.CALLBACK, status=OperationStatus.STARTED,
    ...                name="approval")
    >>> ex.store(open_callback(ex, op, CallbackOptions(timeout_seconds=7200), start))
    >>> ex.next_due() == datetime(2026, 1, 1, 1, tzinfo=UTC)
    True
    >>> ex.run_agenda(datetime(2026, 1, 1, 1, tzinfo=UTC))
    >>> done = ex.operations["cb"]
    >>> done.status.value, done.callback_details.result
    ('SUCCEEDED', '"ok"')
"""

from __future__ import annotations

import base64
import functools
import re
import secrets
from datetime import datetime, timedelta
from typing import Literal

import attrs

from orchestra.service.api import ServiceError
from orchestra.service.local.execution import Execution
from orchestra.service.local.history import completion_event
from orchestra.wire.models import (
    CallbackDetails,
    CallbackOptions,
    ErrorObject,
    ExecutionStatus,
    Operation,
    OperationStatus,
)

__all__ = [
    "MAX_RESULT_BYTES",
    "CallbackAction",
    "CallbackState",
    "arm_callback",
    "check_callback_id",
    "encode_result",
    "fail_callback",
    "heartbeat_callback",
    "open_callback",
    "succeed_callback",
]

#: The largest success body (``BinaryOperationPayload`` in the service model).
MAX_RESULT_BYTES = 262_144

#: ``CallbackId`` in the service model: 1-1024 characters of the base64 alphabet.
_CALLBACK_ID = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_MAX_CALLBACK_ID = 1024

TIMEOUT_ERROR = ErrorObject(error_message="Callback timed out", error_type="Callback.Timeout")
HEARTBEAT_ERROR = ErrorObject(
    error_message="Callback timed out on heartbeat", error_type="Callback.Heartbeat"
)

Kind = Literal["success", "failure", "heartbeat"]
_KINDS = ("success", "failure", "heartbeat")


def _check_kind(_: object, __: object, value: str) -> None:
    if value not in _KINDS:
        raise ValueError(f"CallbackAction.kind must be one of {_KINDS}, got {value!r}")


def _check_delay(_: object, __: object, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"CallbackAction.delay_seconds must be >= 0, got {value!r}")


@attrs.frozen
class CallbackAction:
    """What the outside world does to a callback, ``delay_seconds`` (virtual) after it starts.

    Actions are matched by callback name, each used once, in the order the callbacks start
    (the conformance runner's rule): a STARTED callback takes the first unused action whose
    ``name`` matches. A heartbeat does not close the callback, so once it is sent the next
    matching action is bound to the same callback, its delay counted from the heartbeat. A
    callback that no action matches stays open (it may time out).

    Args:
        name: the callback's name; ``"*"`` matches any callback (named or not), a compiled
            regular expression matches names it fully matches.
        kind: ``"success"``, ``"failure"`` or ``"heartbeat"``.
        result: the success body, sent as is (``json.dumps(value)`` for a JSON value).
        error: the failure's error object.
        delay_seconds: virtual seconds between the callback's start (or the heartbeat
            before) and the action.

    Example:
        >>> import re
        >>> approve = CallbackAction("approval", "success", result='{"ok": true}', delay_seconds=60)
        >>> approve.matches("approval"), approve.matches("other")
        (True, False)
        >>> CallbackAction(re.compile("order-.*"), "heartbeat").matches("order-7")
        True
        >>> CallbackAction("*", "failure", error=ErrorObject(error_message="no")).matches(None)
        True
    """

    name: str | re.Pattern[str]
    kind: Kind = attrs.field(validator=_check_kind)
    result: bytes | str | None = attrs.field(default=None, kw_only=True)
    error: ErrorObject | None = attrs.field(default=None, kw_only=True)
    delay_seconds: float = attrs.field(default=0, kw_only=True, validator=_check_delay)

    def matches(self, callback_name: str | None) -> bool:
        """Whether this action applies to a callback named ``callback_name``."""
        if isinstance(self.name, re.Pattern):
            return self.name.fullmatch(callback_name or "") is not None
        return self.name in ("*", callback_name)


@attrs.define
class CallbackState:
    """The service's side of one callback: its id and its deadlines."""

    op_id: str
    callback_id: str
    timeout_at: datetime | None
    heartbeat_seconds: int
    heartbeat_at: datetime | None


def mint_callback_id() -> str:
    """A new unguessable callback id (256 random bits, standard base64, no padding)."""
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def check_callback_id(callback_id: object) -> str:
    """Reject a callback id the service model does not allow (``InvalidParameterValue``)."""
    if (
        not isinstance(callback_id, str)
        or not 1 <= len(callback_id) <= _MAX_CALLBACK_ID
        or _CALLBACK_ID.fullmatch(callback_id) is None
    ):
        raise ServiceError(
            "InvalidParameterValueException",
            "CallbackId must be 1-1024 characters of the base64 alphabet.",
            status=400,
        )
    return callback_id


def encode_result(result: bytes | str | None) -> str | None:
    """The success body as the text the operation stores; too large or not UTF-8: rejected."""
    if result is None:
        return None
    body = result.encode() if isinstance(result, str) else bytes(result)
    if len(body) > MAX_RESULT_BYTES:
        raise ServiceError(
            "InvalidParameterValueException",
            f"Result must be at most {MAX_RESULT_BYTES} bytes, got {len(body)}.",
            status=400,
        )
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise ServiceError(
            "InvalidParameterValueException", "Result must be UTF-8 text.", status=400
        ) from None


def _deadline(now: datetime, seconds: int | None) -> datetime | None:
    if not seconds:
        return None
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        return None  # beyond the calendar: it never falls due


def open_callback(
    ex: Execution, op: Operation, options: CallbackOptions | None, now: datetime
) -> Operation:
    """Start a callback: mint its id, arm its timers and bind the scripted actions."""
    options = options or CallbackOptions()
    state = CallbackState(
        op_id=op.id,
        callback_id=mint_callback_id(),
        timeout_at=_deadline(now, options.timeout_seconds),
        heartbeat_seconds=options.heartbeat_timeout_seconds or 0,
        heartbeat_at=_deadline(now, options.heartbeat_timeout_seconds),
    )
    ex.callbacks[state.callback_id] = state
    ex.unsaved_callbacks[state.callback_id] = None
    arm_callback(ex, state)
    _bind_next_action(ex, state, op.name, now)
    return attrs.evolve(op, callback_details=CallbackDetails(callback_id=state.callback_id))


def arm_callback(ex: Execution, state: CallbackState) -> None:
    """Put a callback's deadlines (timeout, heartbeat) on its execution's agenda."""
    for due in (state.timeout_at, state.heartbeat_at):
        if due is not None:
            ex.schedule(due, functools.partial(_expire, ex, state), outside=True)


def _open_op(ex: Execution, state: CallbackState) -> Operation:
    op = ex.operations.get(state.op_id)
    if (
        op is None
        or op.status is not OperationStatus.STARTED
        or ex.status is not ExecutionStatus.RUNNING
    ):
        raise ServiceError(
            "CallbackTimeoutException",
            "The callback ID token has either expired or the callback associated with the "
            "token has already been closed.",
            status=400,
        )
    return op


def _close(
    ex: Execution,
    op: Operation,
    status: OperationStatus,
    now: datetime,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> None:
    details = attrs.evolve(op.callback_details or CallbackDetails(), result=result, error=error)
    done = attrs.evolve(op, status=status, end_timestamp=now, callback_details=details)
    ex.store(done)
    ex.append(completion_event(done, now))


def succeed_callback(
    ex: Execution, state: CallbackState, result: str | None, now: datetime
) -> None:
    """``SendDurableExecutionCallbackSuccess`` for an encoded ``result``."""
    _close(ex, _open_op(ex, state), OperationStatus.SUCCEEDED, now, result=result)


def fail_callback(
    ex: Execution, state: CallbackState, error: ErrorObject | None, now: datetime
) -> None:
    """``SendDurableExecutionCallbackFailure``."""
    _close(ex, _open_op(ex, state), OperationStatus.FAILED, now, error=error)


def heartbeat_callback(ex: Execution, state: CallbackState, now: datetime) -> None:
    """``SendDurableExecutionCallbackHeartbeat``: restart the heartbeat timeout."""
    _open_op(ex, state)
    if state.heartbeat_seconds:
        state.heartbeat_at = _deadline(now, state.heartbeat_seconds)
        ex.unsaved_callbacks[state.callback_id] = None
        if state.heartbeat_at is not None:
            ex.schedule(state.heartbeat_at, functools.partial(_expire, ex, state), outside=True)


def _expire(ex: Execution, state: CallbackState, now: datetime) -> None:
    op = ex.operations.get(state.op_id)
    if op is None or op.status is not OperationStatus.STARTED:
        return  # closed before its deadline
    if ex.status is not ExecutionStatus.RUNNING:
        return
    if state.timeout_at is not None and now >= state.timeout_at:
        _close(ex, op, OperationStatus.TIMED_OUT, now, error=TIMEOUT_ERROR)
    elif state.heartbeat_at is not None and now >= state.heartbeat_at:
        _close(ex, op, OperationStatus.TIMED_OUT, now, error=HEARTBEAT_ERROR)
    # otherwise a stale heartbeat deadline: a heartbeat moved it later


def _bind_next_action(ex: Execution, state: CallbackState, name: str | None, now: datetime) -> None:
    for action, used in ex.callback_script:
        if not used[0] and action.matches(name):
            used[0] = True
            try:
                due = now + timedelta(seconds=action.delay_seconds)
            except OverflowError:
                return
            ex.schedule(due, functools.partial(_apply, ex, state, name, action))
            return


def _apply(
    ex: Execution, state: CallbackState, name: str | None, action: CallbackAction, now: datetime
) -> None:
    try:
        if action.kind == "success":
            succeed_callback(ex, state, encode_result(action.result), now)
        elif action.kind == "failure":
            fail_callback(ex, state, action.error, now)
        else:
            heartbeat_callback(ex, state, now)
            _bind_next_action(ex, state, name, now)
    except ServiceError:
        return  # the callback closed first (a timeout): the action is answered and dropped
