"""How the interpreter runs callbacks, their awaits, and WaitForCallback.

The descriptors are :class:`~orchestra.callbacks.Callback`,
:class:`~orchestra.callbacks.CallbackHandle` and :class:`~orchestra.callbacks.WaitForCallback`.

Creating a callback checkpoints START synchronously and reads the service-made callback id
back; a callback found in the history, in any status, resolves to its handle at once, so
errors wait for the await. Awaiting reads the CALLBACK operation only: a result, a typed
error, or (still STARTED) the fiber parks until the service completes it.

A WaitForCallback is a child context (sub-type ``WaitForCallback``) whose body creates the
callback, runs the submitter as a step and awaits the result; its failure is translated at
the call site into the callback's own error, or into ``CallbackSubmitterError``.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from orchestra.callbacks import Callback, CallbackHandle, WaitForCallback
from orchestra.errors import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    OperationError,
    StepError,
)
from orchestra.errors import operation_error_from as rebuild
from orchestra.interpreter.child import run_context
from orchestra.interpreter.fiber import FiberState
from orchestra.interpreter.payloads import ANY_SERDE, decode
from orchestra.interpreter.signals import BLOCKED, ExecutionFailure, label
from orchestra.ops import Step
from orchestra.serde import Serde
from orchestra.wire.models import (
    CallbackOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
)

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.kernel import Kernel

__all__ = ["handle_await", "handle_callback", "handle_wait_for_callback", "read_result"]

_TIMED_OUT = OperationStatus.TIMED_OUT
_EXTERNAL_FAILURES = (OperationStatus.FAILED, OperationStatus.CANCELLED, OperationStatus.STOPPED)


def handle_callback(
    k: Kernel, fiber: Fiber, op: Callback[Any], op_id: str, recorded: Operation | None
) -> object:
    """Create the callback (or find it in the history) and give its handle."""
    if recorded is not None:
        k.wake(fiber, _handle(op, op_id, recorded), None)
        return None
    options = CallbackOptions(
        timeout_seconds=op.timeout or None, heartbeat_timeout_seconds=op.heartbeat_timeout or None
    )
    update = k.update(fiber, op, op_id, OperationAction.START, callback_options=options)

    def started() -> None:
        now = k.history.get(op_id)
        if now is None:
            raise ExecutionFailure(
                CallbackError(f"the service did not return the {label(op_id, op.name)} it started")
            )
        k.wake(fiber, _handle(op, op_id, now), None)

    k.checkpoint(fiber, update, started)
    return BLOCKED


def _handle(op: Callback[Any], op_id: str, recorded: Operation) -> CallbackHandle[Any]:
    details = recorded.callback_details
    if details is None or not details.callback_id:
        raise ExecutionFailure(
            CallbackError(f"the service recorded {label(op_id, op.name)} without a callback id")
        )
    return CallbackHandle(details.callback_id, op_id, op.name, op.serde)


def handle_await(
    k: Kernel, fiber: Fiber, op: CallbackHandle[Any], _op_id: str, _recorded: Operation | None
) -> object:
    """Give the callback's result, throw its error, or park until the service completes it."""

    def check() -> None:
        recorded = k.history.get(op.op_id)
        if recorded is None:
            raise ExecutionFailure(
                CallbackError(
                    f"awaited {label(op.op_id, op.name)}, which this execution never created"
                )
            )
        if recorded.status is OperationStatus.STARTED or not recorded.is_terminal:
            k.wait_service(fiber, op.op_id, check)
            return
        value, error = read_result(recorded, op.serde, op.op_id, op.name)
        k.wake(fiber, value, error)

    check()
    return None if fiber.state is FiberState.RUNNABLE else BLOCKED


def read_result(
    recorded: Operation, serde: Serde[Any] | None, op_id: str, name: str | None
) -> tuple[Any, OperationError | None]:
    """The outcome of a completed CALLBACK operation: ``(value, None)`` or ``(None, error)``."""
    details = recorded.callback_details
    if recorded.status is OperationStatus.SUCCEEDED:
        result = details.result if details else None
        if result is None:
            return None, None
        if serde is not None:
            try:
                return decode(serde, result, op_id, name), None
            except ExecutionFailure as failure:  # the body came from outside: catchable
                return None, CallbackError(
                    f"the result sent to {label(op_id, name)} could not be decoded: "
                    f"{failure.error}",
                    operation_id=op_id,
                    name=name,
                )
        return _json_or_raw(result), None
    error = details.error if details else None
    if recorded.status is _TIMED_OUT:
        return None, _rebuilt(CallbackTimeoutError, error, "Callback timed out", op_id, name)
    if recorded.status in _EXTERNAL_FAILURES:
        return None, _rebuilt(CallbackExternalError, error, "Callback failed", op_id, name)
    return None, _rebuilt(CallbackError, error, "Callback failed", op_id, name)


def _rebuilt(
    cls: type[OperationError],
    error: ErrorObject | None,
    default: str,
    op_id: str,
    name: str | None,
) -> OperationError:
    error = error or ErrorObject()
    message = error.error_message or default
    return rebuild(
        cls,
        ErrorObject(message, error.error_type, error.error_data, error.stack_trace),
        operation_id=op_id,
        name=name,
    )


def _json_or_raw(text: str) -> Any:
    """The default decoding of a callback result: JSON when it is JSON, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- WaitForCallback -------------------------------------------------------------------------


def handle_wait_for_callback(
    k: Kernel, fiber: Fiber, op: WaitForCallback[Any], op_id: str, recorded: Operation | None
) -> object:
    """Run ``op`` as a ``WaitForCallback`` child context."""
    return run_context(
        k,
        fiber,
        op,
        op_id,
        recorded,
        body=lambda: _wait_for_callback_body(op),
        serde=op.serde if op.serde is not None else ANY_SERDE,
        map_error=_translate,
    )


def _wait_for_callback_body(op: WaitForCallback[Any]) -> Generator[Any, Any, Any]:
    prefix = f"{op.name} " if op.name else ""
    handle: CallbackHandle[Any] = yield Callback(
        name=f"{prefix}create callback id",
        timeout=op.timeout or None,
        heartbeat_timeout=op.heartbeat_timeout or None,
        serde=op.serde,
    )
    yield Step(
        _submit,
        op.submitter,
        handle.callback_id,
        op.args,
        op.kwargs,
        name=f"{prefix}submitter",
        retry=op.retry,
    )
    return (yield handle)


def _submit(submitter: Any, callback_id: str, args: tuple[Any, ...], kwargs: Any) -> None:
    """The submitter step: hand the callback id over; its return value is not kept."""
    submitter(callback_id, *args, **kwargs)


_PASS_THROUGH = {
    cls.__name__: cls
    for cls in (CallbackTimeoutError, CallbackExternalError, CallbackError, CallbackSubmitterError)
}


def _translate(error: ChildContextError) -> OperationError:
    """A failed WaitForCallback context as the caller sees it (first run and replay alike)."""
    cls = _PASS_THROUGH.get(error.error_type)
    if cls is not None:
        cause = error.__cause__
        if isinstance(cause, cls):  # rebuilt from the checkpoint, external type and all
            cause.operation_id, cause.name = error.operation_id, error.name
            if cause.data is None:
                cause.data = error.data  # the context's error object keeps the data
            return cause
        return _again(cls, error, error.error_type)
    if error.error_type == StepError.__name__:  # the submitter gave up
        submitter = _again(CallbackSubmitterError, error, CallbackSubmitterError.__name__)
        submitter.__cause__ = error.__cause__ or error
        return submitter
    return error


def _again(cls: type[OperationError], error: OperationError, error_type: str) -> OperationError:
    result = cls(
        error.message,
        error_type=error_type,
        data=error.data,
        stack_trace=error.stack_trace,
        operation_id=error.operation_id,
        name=error.name,
    )
    result.__cause__ = error.__cause__
    return result
