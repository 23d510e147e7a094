"""How the interpreter runs a :class:`~orchestra.conditions.WaitForCondition`.

It is a STEP (sub-type ``WaitForCondition``) whose attempts are polls. An attempt sends
START (asynchronously), runs ``check(state)`` in the shell's pool, then asks the strategy
on the interpreter thread. *Stop* checkpoints SUCCEED with the state; *continue*
checkpoints RETRY with the state as payload (no error) and the strategy's delay, and the
fiber waits for the service's timer. The state between polls is read back from the step's
``Result``. Any exception (from the check, the strategy or the serde) is final: FAIL, and
:class:`~orchestra.errors.WaitForConditionError` carrying the raw error type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestra.conditions import WaitForCondition
from orchestra.errors import ExecutionError, WaitForConditionError, error_object
from orchestra.errors import operation_error_from as rebuild
from orchestra.interpreter.commands import RunStep
from orchestra.interpreter.payloads import ANY_SERDE, decode
from orchestra.interpreter.signals import BLOCKED, ExecutionFailure
from orchestra.interpreter.timers import due_ms
from orchestra.wire.models import Operation, OperationAction, OperationStatus, StepOptions

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.kernel import Kernel

__all__ = ["handle_wait_for_condition"]

A = OperationAction


def handle_wait_for_condition(
    k: Kernel, fiber: Fiber, op: WaitForCondition[Any], op_id: str, recorded: Operation | None
) -> object:
    """Replay or poll ``op`` at ``op_id``."""
    serde = op.serde or ANY_SERDE
    details = recorded.step_details if recorded is not None else None
    status = recorded.status if recorded is not None else None
    if status is OperationStatus.SUCCEEDED:
        k.wake(fiber, decode(serde, details.result if details else None, op_id, op.name), None)
        return None
    if status is OperationStatus.FAILED:
        error = details.error if details else None
        k.wake(fiber, None, rebuild(WaitForConditionError, error, operation_id=op_id, name=op.name))
        return None
    if status is OperationStatus.PENDING:
        _park(k, fiber, op, op_id)
        return BLOCKED
    _poll(k, fiber, op, op_id)
    return BLOCKED


def _poll(k: Kernel, fiber: Fiber, op: WaitForCondition[Any], op_id: str) -> None:
    """Run one check: START unless already STARTED, then the check in the pool."""
    serde = op.serde or ANY_SERDE
    recorded = k.history.get(op_id)
    details = recorded.step_details if recorded is not None else None
    attempt = ((details.attempt or 0) if details else 0) + 1
    state = op.initial_state
    if recorded is not None and details is not None and details.result:
        state = decode(serde, details.result, op_id, op.name)
    if recorded is None or recorded.status is not OperationStatus.STARTED:
        k.checkpoint(fiber, k.update(fiber, op, op_id, A.START))

    def checked(new_state: Any, error: BaseException | None) -> None:
        if error is None:
            try:
                decision = op.decide(new_state, attempt, k.random())
                payload = serde.serialize(new_state)
                if not isinstance(payload, str):
                    raise TypeError(f"the serde returned {type(payload).__name__}, not str")
            except ExecutionError as exc:
                raise ExecutionFailure(exc) from exc
            except Exception as exc:
                error = exc
        if error is not None:
            _failed(k, fiber, op, op_id, error)
        elif decision.stop:
            update = k.update(fiber, op, op_id, A.SUCCEED, payload=payload)
            result = decode(serde, payload, op_id, op.name)
            k.checkpoint(fiber, update, lambda: k.wake(fiber, result, None))
        else:
            options = StepOptions(next_attempt_delay_seconds=max(1, decision.delay_seconds))
            update = k.update(fiber, op, op_id, A.RETRY, payload=payload, step_options=options)
            k.checkpoint(fiber, update, lambda: _after_retry(k, fiber, op, op_id))

    command = RunStep(
        op_id,
        op.name,
        fiber.parent_id,
        attempt,
        op.check,
        (state,),
        {},
        owner=fiber.id,
    )
    k.run_step(fiber, command, checked)


def _failed(
    k: Kernel, fiber: Fiber, op: WaitForCondition[Any], op_id: str, error: BaseException
) -> None:
    if isinstance(error, ExecutionError):
        raise ExecutionFailure(error)
    err = error_object(error)
    failure = rebuild(WaitForConditionError, err, operation_id=op_id, name=op.name)
    if not isinstance(error, WaitForConditionError):
        failure.error_type = err.error_type or type(error).__name__
    k.checkpoint(
        fiber, k.update(fiber, op, op_id, A.FAIL, error=err), lambda: k.wake(fiber, None, failure)
    )


def _after_retry(k: Kernel, fiber: Fiber, op: WaitForCondition[Any], op_id: str) -> None:
    recorded = k.history.get(op_id)
    if recorded is not None and recorded.status is OperationStatus.READY:
        _poll(k, fiber, op, op_id)
        return
    _park(k, fiber, op, op_id)


def _park(k: Kernel, fiber: Fiber, op: WaitForCondition[Any], op_id: str) -> None:
    recorded = k.history.get(op_id)
    details = recorded.step_details if recorded is not None else None
    due = due_ms(details.next_attempt_timestamp if details else None, k.now_ms)
    k.wait_timer(fiber, op_id, due, lambda: _after_retry(k, fiber, op, op_id))
