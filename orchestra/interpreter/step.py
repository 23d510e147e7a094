"""How the interpreter runs a :class:`~orchestra.ops.Step`.

Replayed outcomes resolve at once; a new attempt checkpoints START (async for
at-least-once, sync before running for at-most-once), runs in the shell's pool, and its
SUCCEED / RETRY / FAIL is checkpointed synchronously before the fiber sees the outcome.
An at-most-once attempt found STARTED was interrupted: it counts as failed with
:class:`~orchestra.errors.StepInterruptedError` and is never re-run. A step waiting for its
retry delay parks its fiber on a timer; the service's timer completes it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import GeneratorType
from typing import TYPE_CHECKING, Any

from orchestra.config import StepSemantics
from orchestra.errors import (
    ExecutionError,
    StepError,
    StepInterruptedError,
    WorkflowDefinitionError,
    error_object,
)
from orchestra.errors import operation_error_from as rebuild
from orchestra.interpreter.commands import RunStep
from orchestra.interpreter.payloads import decode, encode_checked, serde_for
from orchestra.interpreter.signals import BLOCKED, ExecutionFailure, label
from orchestra.interpreter.timers import due_ms
from orchestra.ops import Step
from orchestra.serde import Serde
from orchestra.wire.models import (
    Operation,
    OperationAction,
    OperationStatus,
    OperationUpdate,
    StepOptions,
)

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.kernel import Kernel

__all__ = ["STEP_PAYLOAD_LIMIT", "Adopt", "handle_step", "run_detached"]

#: A step result larger than this (bytes of its payload) is refused.
STEP_PAYLOAD_LIMIT = 256 * 1024

A = OperationAction


def handle_step(
    k: Kernel, fiber: Fiber, op: Step[Any], op_id: str, recorded: Operation | None
) -> object:
    """Replay or run ``op`` at ``op_id``."""
    serde = serde_for(k.serdes, op.fn, op.serde)
    details = recorded.step_details if recorded is not None else None
    attempts = (details.attempt or 0) if details is not None else 0
    if recorded is not None:
        status = recorded.status
        if status is OperationStatus.SUCCEEDED:
            k.wake(fiber, decode(serde, details.result if details else None, op_id, op.name), None)
            return None
        if status is OperationStatus.FAILED:
            error = rebuild(
                StepError, details.error if details else None, operation_id=op_id, name=op.name
            )
            k.wake(fiber, None, error)
            return None
        if status is OperationStatus.PENDING:
            _park(k, fiber, op, op_id, attempts)
            return BLOCKED
        if status is OperationStatus.STARTED:
            if op.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY:
                interrupted = StepInterruptedError(
                    f"Step operation_id={op_id} name={op.name} was previously interrupted"
                )
                _failed(k, fiber, op, op_id, attempts + 1, interrupted)
                return BLOCKED
            _run(k, fiber, op, op_id, attempts + 1, serde)
            return BLOCKED
    _start(k, fiber, op, op_id, attempts + 1, serde)
    return BLOCKED


def _start(
    k: Kernel, fiber: Fiber, op: Step[Any], op_id: str, attempt: int, serde: Serde[Any]
) -> None:
    start = k.update(fiber, op, op_id, A.START)
    if op.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY:
        k.checkpoint(fiber, start, lambda: _run(k, fiber, op, op_id, attempt, serde))
    else:
        k.checkpoint(fiber, start)
        _run(k, fiber, op, op_id, attempt, serde)


def _run(
    k: Kernel, fiber: Fiber, op: Step[Any], op_id: str, attempt: int, serde: Serde[Any]
) -> None:
    def finished(value: Any, error: BaseException | None) -> None:
        if error is not None:
            _failed(k, fiber, op, op_id, attempt, error)
        else:
            _succeeded(k, fiber, op, op_id, value, serde)

    command = RunStep(
        op_id,
        op.name,
        fiber.parent_id,
        attempt,
        op.fn,
        op.args,
        op.kwargs,
        at_most_once=op.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY,
        owner=fiber.id,
    )
    k.run_step(fiber, command, finished)


#: Gives a detached step a fiber (whose outcome goes where the step's would have), once
#: its attempt failed: a retry, its delay and its FAIL are a fiber's work.
Adopt = Callable[[int], "Fiber"]


def run_detached(
    k: Kernel,
    parent: Fiber,
    op: Step[Any],
    op_id: str,
    parent_id: str,
    adopt: Adopt,
    done: Callable[[Any, str, Serde[Any]], None],
    args: tuple[Any, ...] | None = None,
    serde: Serde[Any] | None = None,
) -> int:
    """Start a new at-least-once step ``op`` for ``parent``, which no fiber yielded.

    A Map's item that is one step runs so, without a fiber and a generator of its own. It
    checkpoints and runs exactly as :func:`handle_step` does for a fiber that yields
    ``op`` as its first operation in a context whose operations report ``parent_id``, and
    hands the step's checkpointed value to ``done`` with its payload and the serde that
    wrote it. A failed attempt is given a fiber by ``adopt`` (with the returned owner id)
    and goes on as in :func:`handle_step`: retried, or failed, with the fiber's outcome as
    the step's. Only for an at-least-once step the history does not hold (nor any
    operation after it in its context), in an invocation where
    :attr:`~.machine.Machine.may_detach`.

    ``args``: run ``op`` with these positional arguments instead of its own (a Map's
    items share one checked step; the copy with their arguments is made only for a fiber).
    ``serde``: the serde of ``op``'s result, when the caller found it already (a Map's
    items share one); by default it is found as for any step.

    Returns:
        The owner id of its checkpoints (for ``cancel_detached``).
    """
    if op.semantics is not StepSemantics.AT_LEAST_ONCE_PER_RETRY:
        raise ValueError("run_detached runs at-least-once steps only")  # (an interpreter bug)
    owner = k.detach(parent)
    if serde is None:
        serde = serde_for(k.serdes, op.fn, op.serde)
    run = _DetachedRun(k, op, op_id, parent_id, adopt, done, args, owner, serde)
    start = OperationUpdate(op_id, op.op_type, A.START, parent_id, op.name, op.sub_type)
    k.send(owner, start)
    command = RunStep(
        op_id,
        op.name,
        parent_id,
        1,
        op.fn,
        op.args if args is None else args,
        op.kwargs,
        False,
        owner,
    )
    k.run_detached(command, run.finished)
    return owner


class _DetachedRun:
    """A detached step's state once started: what its outcome needs (no closure cells).

    (One slotted object instead of a closure over each of these: a Map starts thousands.)
    """

    __slots__ = (
        "adopt",
        "args",
        "decoded",
        "done",
        "k",
        "op",
        "op_id",
        "owner",
        "parent_id",
        "payload",
        "serde",
    )

    def __init__(
        self,
        k: Kernel,
        op: Step[Any],
        op_id: str,
        parent_id: str,
        adopt: Adopt,
        done: Callable[[Any, str, Serde[Any]], None],
        args: tuple[Any, ...] | None,
        owner: int,
        serde: Serde[Any],
    ) -> None:
        self.k = k
        self.op = op
        self.op_id = op_id
        self.parent_id = parent_id
        self.adopt = adopt
        self.done = done
        self.args = args
        self.owner = owner
        self.serde = serde
        self.decoded: Any = None
        self.payload = ""

    def finished(self, value: Any, error: BaseException | None) -> None:
        """The attempt's outcome: checkpoint a success, or hand a failure to a fiber."""
        op = self.op
        if error is not None:
            step = op if self.args is None else op.with_args(self.args)
            _failed(self.k, self.adopt(self.owner), step, self.op_id, 1, error)
            return
        if isinstance(value, GeneratorType):
            _check_not_generator(value, self.op_id, op.name)
        self.payload, self.decoded = encode_checked(
            self.serde, value, self.op_id, op.name, STEP_PAYLOAD_LIMIT, "step result"
        )
        update = OperationUpdate(
            self.op_id, op.op_type, A.SUCCEED, self.parent_id, op.name, op.sub_type, self.payload
        )
        self.k.send(self.owner, update, self.durable)

    def durable(self) -> None:
        """The SUCCEED is acknowledged: the value is the step's."""
        self.done(self.decoded, self.payload, self.serde)


def _check_not_generator(value: Any, op_id: str, name: str | None) -> None:
    if inspect.isgenerator(value):
        raise ExecutionFailure(
            WorkflowDefinitionError(
                f"{label(op_id, name)} returned a generator: a plain function (often a "
                "lambda wrapping a sub-workflow) ran as a step. Pass the generator function "
                "itself, binding its arguments with functools.partial, so that it runs as a "
                "sub-workflow."
            )
        )


def _succeeded(
    k: Kernel, fiber: Fiber, op: Step[Any], op_id: str, value: Any, serde: Serde[Any]
) -> None:
    _check_not_generator(value, op_id, op.name)
    # decoded before checkpointing: a payload that cannot be read back fails here
    payload, decoded = encode_checked(
        serde, value, op_id, op.name, STEP_PAYLOAD_LIMIT, "step result"
    )
    update = k.update(fiber, op, op_id, A.SUCCEED, payload=payload)
    k.checkpoint(fiber, update, lambda: k.wake(fiber, decoded, None))


def _failed(
    k: Kernel, fiber: Fiber, op: Step[Any], op_id: str, attempt: int, error: BaseException
) -> None:
    if isinstance(error, ExecutionError):
        raise ExecutionFailure(error)
    err = error_object(error)
    decision = op.retry.decide(error, attempts_made=attempt, random=k.random())
    if decision.should_retry:
        options = StepOptions(next_attempt_delay_seconds=decision.delay_seconds)
        update = k.update(fiber, op, op_id, A.RETRY, error=err, step_options=options)
        k.checkpoint(fiber, update, lambda: _retried(k, fiber, op, op_id, attempt))
        return
    update = k.update(fiber, op, op_id, A.FAIL, error=err)
    failure = rebuild(StepError, err, operation_id=op_id, name=op.name)
    k.checkpoint(fiber, update, lambda: k.wake(fiber, None, failure))


def _retried(k: Kernel, fiber: Fiber, op: Step[Any], op_id: str, attempts: int) -> None:
    """After a RETRY is durable: start the next attempt now if the service says READY."""
    recorded = k.history.get(op_id)
    if recorded is not None and recorded.status is OperationStatus.READY:
        _start(k, fiber, op, op_id, attempts + 1, serde_for(k.serdes, op.fn, op.serde))
        return
    _park(k, fiber, op, op_id, attempts)


def _park(k: Kernel, fiber: Fiber, op: Step[Any], op_id: str, attempts: int) -> None:
    """Wait for the retry timer; fresh state with the step READY starts the next attempt."""
    recorded = k.history.get(op_id)
    details = recorded.step_details if recorded is not None else None
    due = due_ms(details.next_attempt_timestamp if details else None, k.now_ms)

    def check() -> None:
        now = k.history.get(op_id)
        if now is not None and now.status is OperationStatus.READY:
            _start(k, fiber, op, op_id, attempts + 1, serde_for(k.serdes, op.fn, op.serde))
        else:
            _park(k, fiber, op, op_id, attempts)

    k.wait_timer(fiber, op_id, due, check)
