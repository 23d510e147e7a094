"""Replay a workflow against a history, in memory, and record what it does.

The probe drives the pure interpreter with no threads and no service: every synchronous
checkpoint is acknowledged at once (the service accepted it, nothing else changed) and no
step is executed. A callback it starts gets a placeholder callback id, as the service
would mint one; nothing completes it, so awaiting it parks, as does a chained invoke or a
condition's next poll. It stops when the workflow finishes, suspends or waits for a step.
What it records (the operations yielded, the updates and step runs it asks for, the
outcome) is what replaying that history would do, which the determinism checks compare.

Example:
    >>> from orchestra import Step
    >>> def workflow(x):
    ...     return (yield Step(abs, x, name="abs"))
    >>> result = probe(workflow, -2, [])
    >>> [y.name for y in result.yields], [u.action.value for u in result.updates]
    (['abs'], ['START'])
    >>> result.runs[0].op_id == result.yields[0].op_id
    True
    >>> from orchestra import Callback
    >>> def approval():
    ...     handle = yield Callback(name="ok")
    ...     return (yield handle)
    >>> probe(approval, None, []).outcome  # started, then parked on the await
    Suspended()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from orchestra.interpreter.commands import Checkpoint, Outcome, RunStep
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.machine import Machine
from orchestra.ops import Child, Op
from orchestra.wire.models import (
    CallbackDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

__all__ = ["PROBE_CALLBACK_ID", "ProbeResult", "StepRun", "Yielded", "probe", "visible"]

#: The placeholder callback id of a callback the probe starts (the service mints real ones).
PROBE_CALLBACK_ID = "cHJvYmU"

MAX_ROUNDS = 100_000


@attrs.frozen
class Yielded:
    """One operation the workflow yielded during the replay."""

    op_id: str
    op_type: OperationType
    sub_type: str
    name: str | None
    path: str
    position: int
    #: A virtual child: it checkpoints no operation of its own.
    virtual: bool = False

    @property
    def identity(self) -> tuple[OperationType, str, str | None]:
        """What the determinism check compares."""
        return (self.op_type, self.sub_type, self.name)


@attrs.frozen
class StepRun:
    """A step the replay would execute."""

    op_id: str
    attempt: int
    at_most_once: bool


@attrs.frozen
class ProbeResult:
    """What replaying one history did."""

    yields: tuple[Yielded, ...]
    updates: tuple[OperationUpdate, ...]
    runs: tuple[StepRun, ...]
    outcome: Outcome | None


def visible(operations: Iterable[Operation]) -> list[Operation]:
    """Drop the children of completed contexts, as the service does when it hands out state.

    Example:
        >>> from orchestra.wire.models import OperationStatus
        >>> ctx = Operation(id="c", type=OperationType.CONTEXT, status=OperationStatus.SUCCEEDED)
        >>> kid = Operation(id="k", type=OperationType.STEP, status=OperationStatus.SUCCEEDED,
        ...                 parent_id="c")
        >>> [op.id for op in visible([ctx, kid])]
        ['c']
    """
    ops = list(operations)
    closed = {
        op.id
        for op in ops
        if op.type is OperationType.CONTEXT
        and op.is_terminal
        and not (op.context_details and op.context_details.replay_children)
    }
    parents = {op.id: op.parent_id for op in ops}

    def hidden(op: Operation) -> bool:
        parent = op.parent_id
        seen = 0
        while parent is not None and seen < len(ops):
            if parent in closed:
                return True
            parent = parents.get(parent)
            seen += 1
        return False

    return [op for op in ops if not hidden(op)]


def probe(
    workflow: Callable[..., Any],
    input_value: Any,
    operations: Sequence[Operation],
    *,
    execution_arn: str = "arn:orchestra:probe",
) -> ProbeResult:
    """Replay ``workflow`` on ``operations`` without running steps; record what it does."""
    yields: list[Yielded] = []

    def observe(op_id: str, op: Op[Any], path: str, position: int) -> None:
        virtual = isinstance(op, Child) and op.virtual
        yields.append(Yielded(op_id, op.op_type, op.sub_type, op.op_name, path, position, virtual))

    machine = Machine(
        workflow,
        input_value,
        HistoryIndex(operations),
        execution_arn=execution_arn,
        random=lambda: 0.5,
        observer=observe,
    )
    updates: list[OperationUpdate] = []
    runs: list[StepRun] = []
    started: list[Operation] = []  # callbacks the service would hand back with their ids
    for _ in range(MAX_ROUNDS):
        commands = machine.run()
        acks: list[int] = []
        for command in commands:
            if isinstance(command, Checkpoint):
                if command.update is not None:
                    updates.append(command.update)
                    if _starts_callback(command.update):
                        started.append(_started_callback(command.update))
                if command.ack is not None:
                    acks.append(command.ack)
            elif isinstance(command, RunStep):
                runs.append(StepRun(command.op_id, command.attempt, command.at_most_once))
        if machine.outcome is not None or not acks:
            break
        machine.acknowledged(acks, started)
        started = []
    return ProbeResult(tuple(yields), tuple(updates), tuple(runs), machine.outcome)


def _starts_callback(update: OperationUpdate) -> bool:
    return update.type is OperationType.CALLBACK and update.action is OperationAction.START


def _started_callback(update: OperationUpdate) -> Operation:
    """The STARTED callback the service returns for ``update``, with a placeholder id."""
    return Operation(
        id=update.id,
        type=OperationType.CALLBACK,
        status=OperationStatus.STARTED,
        parent_id=update.parent_id,
        name=update.name,
        sub_type=update.sub_type,
        callback_details=CallbackDetails(callback_id=PROBE_CALLBACK_ID),
    )
