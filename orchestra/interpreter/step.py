"""How the interpreter runs a :class:`~orchestra.ops.Step`.

Replayed outcomes resolve at once; a new attempt checkpoints START (async for
at-least-once, sync before running for at-most-once), runs in the shell's pool, and its
SUCCEED / RETRY / FAIL is checkpointed synchronously before the fiber sees the outcome.
An at-most-once attempt found STARTED was interrupted: it counts as failed with
:class:`~orchestra.errors.StepInterruptedError` and is never re-run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestra.config import StepSemantics
from orchestra.errors import ExecutionError, StepError, StepInterruptedError, error_object
from orchestra.errors import operation_error_from as rebuild
from orchestra.interpreter.commands import RunStep
from orchestra.interpreter.payloads import decode, encode, serde_for
from orchestra.interpreter.signals import BLOCKED, Deliver, ExecutionFailure
from orchestra.ops import Step
from orchestra.serde import Serde
from orchestra.wire.models import Operation, OperationAction, OperationStatus, StepOptions

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.machine import Machine

__all__ = ["STEP_PAYLOAD_LIMIT", "handle_step"]

#: A step result larger than this (bytes of its payload) is refused.
STEP_PAYLOAD_LIMIT = 256 * 1024

A = OperationAction


def handle_step(
    m: Machine,
    fiber: Fiber,
    op: Step[Any],
    op_id: str,
    recorded: Operation | None,
    deliver: Deliver,
) -> object:
    """Replay or run ``op`` at ``op_id``."""
    serde = serde_for(m.serdes, op.fn, op.serde)
    details = recorded.step_details if recorded is not None else None
    attempts = (details.attempt or 0) if details is not None else 0
    if recorded is not None:
        status = recorded.status
        if status is OperationStatus.SUCCEEDED:
            deliver(decode(serde, details.result if details else None, op_id, op.name), None)
            return None
        if status is OperationStatus.FAILED:
            error = rebuild(
                StepError, details.error if details else None, operation_id=op_id, name=op.name
            )
            deliver(None, error)
            return None
        if status is OperationStatus.PENDING:
            return BLOCKED  # the service's retry timer re-invokes us
        if status is OperationStatus.STARTED:
            if op.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY:
                interrupted = StepInterruptedError(
                    f"Step operation_id={op_id} name={op.name} was previously interrupted"
                )
                _failed(m, fiber, op, op_id, attempts + 1, interrupted, deliver)
                return BLOCKED
            _run(m, fiber, op, op_id, attempts + 1, serde, deliver)
            return BLOCKED
    _start(m, fiber, op, op_id, attempts + 1, serde, deliver)
    return BLOCKED


def _start(
    m: Machine,
    fiber: Fiber,
    op: Step[Any],
    op_id: str,
    attempt: int,
    serde: Serde[Any],
    deliver: Deliver,
) -> None:
    start = m.update(fiber, op, op_id, A.START)
    if op.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY:
        m.checkpoint(start, lambda: _run(m, fiber, op, op_id, attempt, serde, deliver))
    else:
        m.checkpoint(start)
        _run(m, fiber, op, op_id, attempt, serde, deliver)


def _run(
    m: Machine,
    fiber: Fiber,
    op: Step[Any],
    op_id: str,
    attempt: int,
    serde: Serde[Any],
    deliver: Deliver,
) -> None:
    def finished(value: Any, error: BaseException | None) -> None:
        if error is not None:
            _failed(m, fiber, op, op_id, attempt, error, deliver)
        else:
            _succeeded(m, fiber, op, op_id, value, serde, deliver)

    command = RunStep(
        op_id,
        op.name,
        fiber.parent_id,
        attempt,
        op.fn,
        op.args,
        op.kwargs,
        at_most_once=op.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY,
    )
    m.run_step(command, finished)


def _succeeded(
    m: Machine,
    fiber: Fiber,
    op: Step[Any],
    op_id: str,
    value: Any,
    serde: Serde[Any],
    deliver: Deliver,
) -> None:
    payload = encode(serde, value, op_id, op.name, STEP_PAYLOAD_LIMIT, "step result")
    decoded = decode(serde, payload, op_id, op.name)  # fail before checkpointing
    update = m.update(fiber, op, op_id, A.SUCCEED, payload=payload)
    m.checkpoint(update, lambda: m.wake(fiber, deliver, decoded, None))


def _failed(
    m: Machine,
    fiber: Fiber,
    op: Step[Any],
    op_id: str,
    attempt: int,
    error: BaseException,
    deliver: Deliver,
) -> None:
    if isinstance(error, ExecutionError):
        raise ExecutionFailure(error)
    err = error_object(error)
    decision = op.retry.decide(error, attempts_made=attempt, random=m.random())
    if decision.should_retry:
        options = StepOptions(next_attempt_delay_seconds=decision.delay_seconds)
        update = m.update(fiber, op, op_id, A.RETRY, error=err, step_options=options)

        def retried() -> None:
            recorded = m.history.get(op_id)
            if recorded is not None and recorded.status is OperationStatus.READY:
                serde = serde_for(m.serdes, op.fn, op.serde)
                _start(m, fiber, op, op_id, attempt + 1, serde, deliver)
            # otherwise the fiber stays parked until the service's retry timer fires

        m.checkpoint(update, retried)
        return
    update = m.update(fiber, op, op_id, A.FAIL, error=err)
    failure = rebuild(StepError, err, operation_id=op_id, name=op.name)
    m.checkpoint(update, lambda: m.wake(fiber, deliver, None, failure))
