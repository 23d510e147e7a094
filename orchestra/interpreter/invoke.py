"""How the interpreter runs an :class:`~orchestra.invoke.Invoke` (a chained invoke).

A new invoke checkpoints START synchronously with its payload and function name, then
re-reads the operation (a START can fail at once, e.g. on permissions) and parks the fiber
until the service completes it. A completed invoke resolves from the history: its result
decoded (plain JSON by default), or :class:`~orchestra.errors.InvokeError` with the
callee's error type. CANCELLED is not final: the fiber keeps waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestra.errors import InvokeError
from orchestra.errors import operation_error_from as rebuild
from orchestra.interpreter.fiber import FiberState
from orchestra.interpreter.payloads import ANY_SERDE, decode, encode
from orchestra.interpreter.signals import BLOCKED
from orchestra.invoke import Invoke
from orchestra.wire.models import (
    ChainedInvokeOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
)

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.kernel import Kernel

__all__ = ["INVOKE_PAYLOAD_LIMIT", "handle_invoke"]

#: The largest payload orchestra sends to a chained invoke (the service's own limit).
INVOKE_PAYLOAD_LIMIT = 6 * 1024 * 1024

_FAILURES = (OperationStatus.FAILED, OperationStatus.TIMED_OUT, OperationStatus.STOPPED)


def handle_invoke(
    k: Kernel, fiber: Fiber, op: Invoke, op_id: str, recorded: Operation | None
) -> object:
    """Replay or start ``op`` at ``op_id``."""
    if recorded is not None:
        return _replay(k, fiber, op, op_id)
    payload = encode(
        op.payload_serde or ANY_SERDE,
        op.payload,
        op_id,
        op.name,
        INVOKE_PAYLOAD_LIMIT,
        "invoke payload",
    )
    options = ChainedInvokeOptions(function_name=op.function_name, tenant_id=op.tenant_id)
    update = k.update(
        fiber, op, op_id, OperationAction.START, payload=payload, chained_invoke_options=options
    )
    k.checkpoint(fiber, update, lambda: _settle(k, fiber, op, op_id))
    return BLOCKED


def _replay(k: Kernel, fiber: Fiber, op: Invoke, op_id: str) -> object:
    _settle(k, fiber, op, op_id)
    return None if fiber.state is FiberState.RUNNABLE else BLOCKED


def _settle(k: Kernel, fiber: Fiber, op: Invoke, op_id: str) -> None:
    """Resolve from the recorded operation, or park until the service completes it."""
    recorded = k.history.get(op_id)
    status = recorded.status if recorded is not None else None
    details = recorded.chained_invoke_details if recorded is not None else None
    if status is OperationStatus.SUCCEEDED:
        result = details.result if details else None
        value = decode(op.serde or ANY_SERDE, result, op_id, op.name) if result else None
        k.wake(fiber, value, None)
        return
    if status in _FAILURES:
        error = (details.error if details else None) or ErrorObject(
            error_message=f"the invoke ended {status.value if status else 'without a status'}"
        )
        k.wake(fiber, None, rebuild(InvokeError, error, operation_id=op_id, name=op.name))
        return
    k.wait_service(fiber, op_id, lambda: _settle(k, fiber, op, op_id))
