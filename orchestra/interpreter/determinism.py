"""Replay validation: the yielded operation must match what the history holds at its id.

A fiber must also consume every operation its context recorded before it finishes.

Example:
    >>> from orchestra.wire.models import Operation, OperationType, OperationStatus
    >>> recorded = Operation(id="x", type=OperationType.WAIT, status=OperationStatus.SUCCEEDED,
    ...                      sub_type="Wait", name="nap")
    >>> mismatch(recorded, OperationType.STEP, "Step", "charge")
    'a WAIT (Wait) named nap'
    >>> mismatch(recorded, OperationType.WAIT, "Wait", "nap") is None
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestra.errors import ExecutionError, NonDeterministicExecutionError, OperationError
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.ids import operation_id
from orchestra.interpreter.signals import ExecutionFailure
from orchestra.interpreter.user_code import ReplayRaised
from orchestra.wire.models import Operation, OperationType

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.ops import Op

__all__ = ["check_exhausted", "check_recorded", "describe", "mismatch"]


def describe(op_type: OperationType, sub_type: str | None, name: str | None) -> str:
    """A short human description of an operation."""
    text = f"a {op_type.value}"
    if sub_type:
        text += f" ({sub_type})"
    return text + (f" named {name}" if name else " without a name")


def mismatch(
    recorded: Operation, op_type: OperationType, sub_type: str, name: str | None
) -> str | None:
    """Describe the recorded operation if it differs from the yielded one, else ``None``."""
    same = (
        recorded.type is op_type
        and (recorded.sub_type is None or recorded.sub_type == sub_type)
        and (recorded.name or None) == (name or None)
    )
    return None if same else describe(recorded.type, recorded.sub_type, recorded.name)


def check_recorded(
    history: HistoryIndex, fiber: Fiber, op: Op[Any], op_id: str, recorded: Operation | None
) -> None:
    """Refuse a yielded ``op`` that does not fit what the history records around ``op_id``.

    Raises:
        ExecutionFailure: with a :class:`NonDeterministicExecutionError` naming the
            position, what was recorded and what the code yields now; or with an
            :class:`ExecutionError` for an operation of a type or status this version of
            orchestra does not know.
    """
    if recorded is None and not getattr(op, "virtual", False):
        later = history.get(operation_id(fiber.prefix, fiber.counter + 1))
        if later is not None:
            raise ExecutionFailure(
                NonDeterministicExecutionError(
                    f"non-deterministic workflow at {fiber.position()} (id {op_id}): the "
                    "history has no operation at this position but records the next one, "
                    f"{describe(later.type, later.sub_type, later.name)}; the code now "
                    f"yields {describe(op.op_type, op.sub_type, op.op_name)} here"
                )
            )
        return
    if recorded is None:
        return
    if not (recorded.type.is_known and recorded.status.is_known):
        raise ExecutionFailure(
            ExecutionError(
                f"the history records {op_id} at {fiber.position()} as a "
                f"{recorded.type.value} with status {recorded.status.value}, which this "
                "version of orchestra does not know; it will not guess how to replay it. "
                "Upgrade orchestra to a version that knows it."
            )
        )
    found = mismatch(recorded, op.op_type, op.sub_type, op.op_name)
    if found is not None:
        raise ExecutionFailure(
            NonDeterministicExecutionError(
                f"non-deterministic workflow at {fiber.position()} (id {op_id}): the "
                f"history recorded {found}, but the code now yields "
                f"{describe(op.op_type, op.sub_type, op.op_name)}. Workflow code must "
                "yield the same operations in the same order on every replay; version "
                "the workflow instead of changing it while executions are in flight."
            )
        )


def check_exhausted(history: HistoryIndex, fiber: Fiber, error: BaseException | None) -> None:
    """A finished fiber must have consumed every operation its history recorded.

    When the fiber ended by raising, the exception is the real news: it is reported as
    itself (type, message, file:line), noting that the history records more.
    """
    extra = history.get(operation_id(fiber.prefix, fiber.counter + 1))
    if extra is None:
        return
    recorded = (
        f"its history records more: operation #{fiber.counter + 1} (id {extra.id}) is "
        f"{describe(extra.type, extra.sub_type, extra.name)}"
    )
    if error is not None and not isinstance(error, OperationError):
        raise ExecutionFailure(ReplayRaised(error, f"{fiber.path} raised {recorded}"))
    raise ExecutionFailure(
        NonDeterministicExecutionError(
            f"non-deterministic workflow: {fiber.path} finished after "
            f"{fiber.counter} operations, but {recorded}"
        )
    )
