"""The pure interpreter: replays a workflow against its history and decides what is new.

A sans-I/O state machine in the spirit of h11. It consumes events (the start of an
invocation, a step's outcome, the acknowledgement of a checkpoint) and hands back commands
(:class:`~orchestra.interpreter.commands.Checkpoint`,
:class:`~orchestra.interpreter.commands.RunStep`). It never sleeps, never reads a clock
and never touches a thread or a socket: the clock and the random numbers (retry jitter) are
passed in.

The machine owns the fibers, ids, replay lookups and determinism checks; what each kind of
operation does lives in its handler module (:mod:`.step`, :mod:`.wait`, :mod:`.child`),
registered in :data:`HANDLERS`.

Example:
    >>> from orchestra.ops import Step
    >>> def workflow(name):
    ...     greeting = yield Step(str.upper, name, name="shout")
    ...     return greeting
    >>> machine = Machine(workflow, "hi", HistoryIndex(), execution_arn="arn")
    >>> [type(c).__name__ for c in machine.run()]
    ['Checkpoint', 'RunStep']
    >>> machine.step_finished(machine.running_steps()[0], "HI", None)
    >>> [c.update.action.value for c in machine.run()]
    ['SUCCEED']
    >>> machine.acknowledged([1], [])
    >>> machine.run(), machine.outcome
    ([], Succeeded(result='"HI"'))
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from returns.result import Failure, Success

from orchestra._context import LogFields, current_fields
from orchestra.errors import (
    ExecutionError,
    NonDeterministicExecutionError,
    OperationError,
    SerializationError,
    WorkflowDefinitionError,
    error_object,
)
from orchestra.interpreter.child import CHECKPOINT_PAYLOAD_LIMIT, handle_child
from orchestra.interpreter.commands import (
    Checkpoint,
    Failed,
    Outcome,
    RunStep,
    Succeeded,
    Suspended,
)
from orchestra.interpreter.determinism import describe, mismatch
from orchestra.interpreter.fiber import Fiber
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.ids import operation_id
from orchestra.interpreter.payloads import ANY_SERDE
from orchestra.interpreter.signals import BLOCKED, Continuation, Deliver, ExecutionFailure
from orchestra.interpreter.step import STEP_PAYLOAD_LIMIT, handle_step
from orchestra.interpreter.wait import handle_wait
from orchestra.ops import Attempt, Child, Op, Step, Wait, is_generator_function
from orchestra.serde import Serde
from orchestra.wire.converter import to_wire
from orchestra.wire.models import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationType,
    OperationUpdate,
)

__all__ = [
    "CHECKPOINT_PAYLOAD_LIMIT",
    "RESPONSE_SIZE_LIMIT",
    "STEP_PAYLOAD_LIMIT",
    "Machine",
]

#: A handler response larger than this is checkpointed on the EXECUTION operation.
RESPONSE_SIZE_LIMIT = 6 * 1024 * 1024 - 50

#: Sees every yielded operation: ``(op_id, op, fiber path, position in its context)``.
Observer = Callable[[str, Op[Any], str, int], None]

#: How each descriptor type is run: ``handler(machine, fiber, op, op_id, recorded, deliver)``
#: returns :data:`BLOCKED` when the fiber must wait. New operation types register here.
Handler = Callable[["Machine", Fiber, Any, str, Operation | None, Deliver], object]
HANDLERS: dict[type[Op[Any]], Handler] = {
    Step: handle_step,
    Wait: handle_wait,
    Child: handle_child,
}


class Machine:
    """Interprets one invocation of a workflow.

    Args:
        workflow: a generator function taking the execution input (or no argument).
        input_value: the execution's input.
        history: the execution's checkpointed operations.
        execution_arn: the execution's ARN (for log fields and messages).
        random: a source of uniform numbers in [0, 1) for retry jitter.
        clock_ms: the current time in epoch milliseconds (for execution-result ids).
        observer: called with ``(op_id, op, path, position)`` for every yielded operation
            (the testing tools record replays with it).
    """

    def __init__(
        self,
        workflow: Callable[..., Any],
        input_value: Any,
        history: HistoryIndex,
        *,
        execution_arn: str,
        random: Callable[[], float] = lambda: 0.5,
        clock_ms: Callable[[], int] = lambda: 0,
        observer: Observer | None = None,
    ) -> None:
        self._history = history
        self._observer = observer
        self._arn = execution_arn
        self._random = random
        self._clock_ms = clock_ms
        self._ready: deque[Fiber] = deque()
        self._commands: list[Checkpoint | RunStep] = []
        self._awaiting: dict[int, Continuation] = {}
        self._running: dict[str, Continuation] = {}
        self._next_ack = 0
        self.serdes: dict[Any, Serde[Any]] = {}
        self.outcome: Outcome | None = None
        self._root_done = False
        try:
            gen = self._start_workflow(workflow, input_value)
        except ExecutionError as exc:
            self._fail(exc)
            return
        root = Fiber(
            gen,
            prefix=None,
            parent_id=None,
            path="the workflow",
            replaying=history.has_prior_operations(),
            on_done=self._root_finished,
        )
        self._ready.append(root)

    # --- events in ---------------------------------------------------------------------------

    def run(self) -> list[Checkpoint | RunStep]:
        """Run every runnable fiber until each one blocks; return the new commands."""
        try:
            while self._ready and self.outcome is None:
                self._advance(self._ready.popleft())
        except ExecutionFailure as failure:
            self._fail(failure.error)
        if (
            self.outcome is None
            and not self._ready
            and not self._running
            and not self._awaiting
            and not self._root_done
        ):
            self.outcome = Suspended()
        commands, self._commands = self._commands, []
        return commands

    def step_finished(self, op_id: str, value: Any, error: BaseException | None) -> None:
        """Report the outcome of a :class:`RunStep` (``error`` set when the step raised)."""
        continuation = self._running.pop(op_id, None)
        if continuation is None or self.outcome is not None:
            return
        self._guarded(continuation, value, error)

    def acknowledged(self, acks: Sequence[int], operations: Sequence[Operation]) -> None:
        """Report that checkpoints ``acks`` are durable; merge the returned ``operations``."""
        self._history.upsert(operations)
        for ack in acks:
            continuation = self._awaiting.pop(ack, None)
            if continuation is not None and self.outcome is None:
                self._guarded(continuation)

    # --- what the shell may ask --------------------------------------------------------------

    def running_steps(self) -> list[str]:
        """Ids of steps handed to the shell and not yet finished."""
        return list(self._running)

    @property
    def awaiting_acks(self) -> bool:
        """Whether some fiber waits for a checkpoint to be acknowledged (flush now)."""
        return bool(self._awaiting)

    # --- the fiber loop ----------------------------------------------------------------------

    def _guarded(self, fn: Continuation, *args: Any) -> None:
        try:
            fn(*args)
        except ExecutionFailure as failure:
            self._fail(failure.error)

    def _advance(self, fiber: Fiber) -> None:
        gen = fiber.gen
        while True:
            token = current_fields.set(
                LogFields(self._arn, fiber.replaying, parent_id=fiber.parent_id)
            )
            try:
                if fiber.error is not None:
                    error, fiber.error = fiber.error, None
                    yielded = gen.throw(error)
                else:
                    value, fiber.value = fiber.value, None
                    yielded = gen.send(value)
            except StopIteration as stop:
                self._check_exhausted(fiber)
                fiber.on_done(stop.value, None)
                return
            except ExecutionError as exc:
                raise ExecutionFailure(exc) from exc
            except Exception as exc:
                self._check_exhausted(fiber)
                fiber.on_done(None, exc)
                return
            finally:
                current_fields.reset(token)
            if self._dispatch(fiber, yielded) is BLOCKED:
                return

    def _dispatch(self, fiber: Fiber, yielded: Any) -> object:
        wrap = isinstance(yielded, Attempt)
        op = yielded.op if wrap else yielded
        if not isinstance(op, Op):
            raise ExecutionFailure(self._not_an_op(fiber, yielded))
        fiber.counter += 1
        op_id = operation_id(fiber.prefix, fiber.counter)
        if self._observer is not None:
            self._observer(op_id, op, fiber.path, fiber.counter)
        recorded = self._history.get(op_id)
        if recorded is None and not (isinstance(op, Child) and op.virtual):
            later = self._history.get(operation_id(fiber.prefix, fiber.counter + 1))
            if later is not None:
                raise ExecutionFailure(
                    NonDeterministicExecutionError(
                        f"non-deterministic workflow at {fiber.position()} (id {op_id}): the "
                        "history has no operation at this position but records the next one, "
                        f"{describe(later.type, later.sub_type, later.name)}; the code now "
                        f"yields {describe(op.op_type, op.sub_type, op.op_name)} here"
                    )
                )
        if recorded is not None:
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
        if recorded is None or (recorded.type is OperationType.STEP and not recorded.is_terminal):
            fiber.replaying = False

        def deliver(value: Any, error: BaseException | None) -> None:
            if wrap:
                if isinstance(error, OperationError):
                    value, error = Failure(error), None
                elif error is None:
                    value = Success(value)
            fiber.resume_with(value, error)

        handler = HANDLERS.get(type(op))
        if handler is None:
            raise ExecutionFailure(
                WorkflowDefinitionError(
                    f"{type(op).__name__} is not supported by this version of orchestra "
                    f"(at {fiber.position()})"
                )
            )
        state = handler(self, fiber, op, op_id, recorded, deliver)
        if (
            state is not BLOCKED
            and fiber.replaying
            and self._history.get(operation_id(fiber.prefix, fiber.counter + 1)) is None
        ):
            fiber.replaying = False
        return state

    def _check_exhausted(self, fiber: Fiber) -> None:
        """A finished fiber must have consumed every operation its history recorded."""
        extra = self._history.get(operation_id(fiber.prefix, fiber.counter + 1))
        if extra is not None:
            raise ExecutionFailure(
                NonDeterministicExecutionError(
                    f"non-deterministic workflow: {fiber.path} finished after "
                    f"{fiber.counter} operations, but its history records more: operation "
                    f"#{fiber.counter + 1} (id {extra.id}) is "
                    f"{describe(extra.type, extra.sub_type, extra.name)}"
                )
            )

    # --- the API operation handlers use ------------------------------------------------------

    @property
    def history(self) -> HistoryIndex:
        """The history index (operations by id)."""
        return self._history

    def random(self) -> float:
        """A uniform number in [0, 1) from the injected source (retry jitter)."""
        return self._random()

    def wake(self, fiber: Fiber, deliver: Deliver, value: Any, error: BaseException | None) -> None:
        """Resume ``fiber`` with ``value`` (or ``error``) on the next run."""
        deliver(value, error)
        self._ready.append(fiber)

    def spawn(self, fiber: Fiber) -> None:
        """Schedule a new fiber (a child context's body)."""
        self._ready.append(fiber)

    def run_step(self, command: RunStep, then: Continuation) -> None:
        """Ask the shell to run a step; ``then(value, error)`` runs with its outcome."""
        self._running[command.op_id] = then
        self._commands.append(command)

    def checkpoint(self, update: OperationUpdate, then: Continuation | None = None) -> None:
        """Send ``update``; with ``then`` it is synchronous and ``then()`` runs once durable."""
        if then is None:
            self._commands.append(Checkpoint(update, sync=False))
            return
        self._next_ack += 1
        self._awaiting[self._next_ack] = then
        self._commands.append(Checkpoint(update, sync=True, ack=self._next_ack))

    def update(
        self, fiber: Fiber, op: Op[Any], op_id: str, action: OperationAction, **fields: Any
    ) -> OperationUpdate:
        """The update for ``op`` at ``op_id`` with its type, sub-type, name and parent."""
        return OperationUpdate(
            id=op_id,
            type=op.op_type,
            action=action,
            parent_id=fiber.parent_id,
            name=op.op_name,
            sub_type=op.sub_type,
            **fields,
        )

    # --- the workflow itself -----------------------------------------------------------------

    def _start_workflow(self, workflow: Callable[..., Any], input_value: Any) -> Any:
        if not is_generator_function(workflow):
            raise WorkflowDefinitionError(
                f"workflow {getattr(workflow, '__qualname__', workflow)!r} is not a generator "
                "function: a workflow must `yield` its operations (for example "
                "`result = yield Step(fn, arg)`)"
            )
        try:
            params = inspect.signature(workflow).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        return workflow(input_value) if params else workflow()

    def _root_finished(self, value: Any, error: BaseException | None) -> None:
        self._root_done = True
        if error is not None:
            self._finish_failed(error_object(error))
            return
        try:
            result = ANY_SERDE.serialize(value)
        except SerializationError as exc:
            self._fail(SerializationError(f"cannot serialise the workflow's result: {exc}"))
            return
        if len(result) <= RESPONSE_SIZE_LIMIT:
            self.outcome = Succeeded(result)
            return
        update = OperationUpdate(
            id=f"execution-result-{self._clock_ms()}",
            type=OperationType.EXECUTION,
            action=OperationAction.SUCCEED,
            payload=result,
        )

        def stored() -> None:
            self.outcome = Succeeded("")

        self.checkpoint(update, stored)

    def _finish_failed(self, err: ErrorObject) -> None:
        size = len(ANY_SERDE.serialize({"Status": "FAILED", "Error": to_wire(err)}))
        if size <= RESPONSE_SIZE_LIMIT:
            self.outcome = Failed(err)
            return
        update = OperationUpdate(
            id=f"execution-result-{self._clock_ms()}",
            type=OperationType.EXECUTION,
            action=OperationAction.FAIL,
            error=err,
        )

        def stored() -> None:
            self.outcome = Failed(err, checkpointed=True)

        self.checkpoint(update, stored)

    def _fail(self, error: BaseException) -> None:
        if self.outcome is None:
            self.outcome = Failed(error_object(error))
        self._ready.clear()

    # --- helpers ------------------------------------------------------------------------------

    def _not_an_op(self, fiber: Fiber, yielded: Any) -> WorkflowDefinitionError:
        hint = ""
        if inspect.isgenerator(yielded):
            hint = (
                " It is a generator: use `yield from` to run a sub-generator inline, or Child(...)."
            )
        return WorkflowDefinitionError(
            f"{fiber.path} yielded {yielded!r} ({type(yielded).__name__}) after operation "
            f"#{fiber.counter}, which is not an operation; yield Step, Wait, Child, ...{hint}"
        )
