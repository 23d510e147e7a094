"""The pure interpreter: replays a workflow against its history and decides what is new.

A sans-I/O state machine in the spirit of h11. It consumes events (the start of an
invocation, a step's outcome, the acknowledgement of a checkpoint) and hands back commands
(:class:`~orchestra.interpreter.commands.Checkpoint`,
:class:`~orchestra.interpreter.commands.RunStep`). It never sleeps, never reads a clock
and never touches a thread or a socket: the clock and the random numbers (retry jitter) are
passed in.

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
from collections.abc import Callable, Generator, Sequence
from typing import Any, get_args, get_origin, get_type_hints

from returns.result import Failure, Success

from orchestra._context import LogFields, current_fields
from orchestra.config import StepSemantics
from orchestra.errors import (
    ChildContextError,
    ExecutionError,
    NonDeterministicExecutionError,
    OperationError,
    PayloadTooLargeError,
    SerializationError,
    StepError,
    StepInterruptedError,
    WorkflowDefinitionError,
    error_object,
    operation_error_from,
)
from orchestra.interpreter.commands import (
    Checkpoint,
    Failed,
    Outcome,
    RunStep,
    Succeeded,
    Suspended,
)
from orchestra.interpreter.determinism import describe, mismatch
from orchestra.interpreter.fiber import Done, Fiber
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.ids import operation_id
from orchestra.ops import Attempt, Child, Op, Step, Wait, is_generator_function
from orchestra.serde import JsonSerde, Serde
from orchestra.wire.converter import to_wire
from orchestra.wire.models import (
    ContextOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepOptions,
    WaitOptions,
)

__all__ = [
    "CHECKPOINT_PAYLOAD_LIMIT",
    "RESPONSE_SIZE_LIMIT",
    "STEP_PAYLOAD_LIMIT",
    "Machine",
]

#: A step result larger than this (bytes of its payload) is refused.
STEP_PAYLOAD_LIMIT = 256 * 1024
#: A child result larger than this is not stored; its children are replayed instead.
CHECKPOINT_PAYLOAD_LIMIT = 256 * 1024
#: A handler response larger than this is checkpointed on the EXECUTION operation.
RESPONSE_SIZE_LIMIT = 6 * 1024 * 1024 - 50

_BLOCKED = object()
_ANY_SERDE: JsonSerde[Any] = JsonSerde()

# A continuation run when a sync checkpoint is acknowledged or a step finishes.
Continuation = Callable[..., None]
#: Sees every yielded operation: ``(op_id, op, fiber path, position in its context)``.
Observer = Callable[[str, Op[Any], str, int], None]


class _ExecutionFailure(Exception):
    """Internal: unwinds the interpreter when the whole execution must fail."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _return_type(fn: Callable[..., Any]) -> Any:
    try:
        hints = get_type_hints(fn)
    except Exception:
        return Any
    return hints.get("return", Any)


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
        self._serdes: dict[Any, Serde[Any]] = {}
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
        except _ExecutionFailure as failure:
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
        except _ExecutionFailure as failure:
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
                raise _ExecutionFailure(exc) from exc
            except Exception as exc:
                self._check_exhausted(fiber)
                fiber.on_done(None, exc)
                return
            finally:
                current_fields.reset(token)
            if self._dispatch(fiber, yielded) is _BLOCKED:
                return

    def _dispatch(self, fiber: Fiber, yielded: Any) -> object:
        wrap = isinstance(yielded, Attempt)
        op = yielded.op if wrap else yielded
        if not isinstance(op, Op):
            raise _ExecutionFailure(self._not_an_op(fiber, yielded))
        fiber.counter += 1
        op_id = operation_id(fiber.prefix, fiber.counter)
        if self._observer is not None:
            self._observer(op_id, op, fiber.path, fiber.counter)
        recorded = self._history.get(op_id)
        if recorded is None and not (isinstance(op, Child) and op.virtual):
            later = self._history.get(operation_id(fiber.prefix, fiber.counter + 1))
            if later is not None:
                raise _ExecutionFailure(
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
                raise _ExecutionFailure(
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

        if isinstance(op, Step):
            state = self._step(fiber, op, op_id, recorded, deliver)
        elif isinstance(op, Wait):
            state = self._wait(fiber, op, op_id, recorded, deliver)
        elif isinstance(op, Child):
            state = self._child(fiber, op, op_id, recorded, deliver)
        else:
            raise _ExecutionFailure(
                WorkflowDefinitionError(
                    f"{type(op).__name__} is not supported by this version of orchestra "
                    f"(at {fiber.position()})"
                )
            )
        if (
            state is not _BLOCKED
            and fiber.replaying
            and self._history.get(operation_id(fiber.prefix, fiber.counter + 1)) is None
        ):
            fiber.replaying = False
        return state

    def _check_exhausted(self, fiber: Fiber) -> None:
        """A finished fiber must have consumed every operation its history recorded."""
        extra = self._history.get(operation_id(fiber.prefix, fiber.counter + 1))
        if extra is not None:
            raise _ExecutionFailure(
                NonDeterministicExecutionError(
                    f"non-deterministic workflow: {fiber.path} finished after "
                    f"{fiber.counter} operations, but its history records more: operation "
                    f"#{fiber.counter + 1} (id {extra.id}) is "
                    f"{describe(extra.type, extra.sub_type, extra.name)}"
                )
            )

    def _wake(self, fiber: Fiber, deliver: Done, value: Any, error: BaseException | None) -> None:
        deliver(value, error)
        self._ready.append(fiber)

    # --- checkpoints -------------------------------------------------------------------------

    def _checkpoint(self, update: OperationUpdate, then: Continuation | None = None) -> None:
        if then is None:
            self._commands.append(Checkpoint(update, sync=False))
            return
        self._next_ack += 1
        self._awaiting[self._next_ack] = then
        self._commands.append(Checkpoint(update, sync=True, ack=self._next_ack))

    def _update(
        self, fiber: Fiber, op: Op[Any], op_id: str, action: OperationAction, **fields: Any
    ) -> OperationUpdate:
        return OperationUpdate(
            id=op_id,
            type=op.op_type,
            action=action,
            parent_id=fiber.parent_id,
            name=op.op_name,
            sub_type=op.sub_type,
            **fields,
        )

    # --- Step --------------------------------------------------------------------------------

    def _serde_for(self, op: Step[Any] | Child[Any]) -> Serde[Any]:
        if op.serde is not None:
            return op.serde
        fn = op.fn
        serde = self._serdes.get(fn)
        if serde is None:
            return_type = _return_type(fn)
            if is_generator_function(fn):
                args = get_args(return_type)
                return_type = args[2] if get_origin(return_type) is Generator and args else Any
            serde = _ANY_SERDE if return_type is Any else JsonSerde(return_type)
            self._serdes[fn] = serde
        return serde

    def _decode(self, serde: Serde[Any], payload: str | None, op_id: str, name: str | None) -> Any:
        if payload is None:
            return None
        try:
            return serde.deserialize(payload)
        except Exception as exc:
            raise _ExecutionFailure(
                SerializationError(f"cannot decode the result of {_label(op_id, name)}: {exc}")
            ) from exc

    def _step(
        self,
        fiber: Fiber,
        op: Step[Any],
        op_id: str,
        recorded: Operation | None,
        deliver: Done,
    ) -> object:
        serde = self._serde_for(op)
        details = recorded.step_details if recorded is not None else None
        attempts = (details.attempt or 0) if details is not None else 0
        if recorded is not None:
            status = recorded.status
            if status is OperationStatus.SUCCEEDED:
                deliver(
                    self._decode(serde, details.result if details else None, op_id, op.name), None
                )
                return None
            if status is OperationStatus.FAILED:
                error = operation_error_from(
                    StepError, details.error if details else None, operation_id=op_id, name=op.name
                )
                deliver(None, error)
                return None
            if status is OperationStatus.PENDING:
                return _BLOCKED  # the service's retry timer re-invokes us
            if status is OperationStatus.STARTED:
                if op.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY:
                    interrupted = StepInterruptedError(
                        f"Step operation_id={op_id} name={op.name} was previously interrupted"
                    )
                    self._step_failed(fiber, op, op_id, attempts + 1, interrupted, deliver)
                    return _BLOCKED
                self._run_step(fiber, op, op_id, attempts + 1, serde, deliver)
                return _BLOCKED
        self._start_step(fiber, op, op_id, attempts + 1, serde, deliver)
        return _BLOCKED

    def _start_step(
        self,
        fiber: Fiber,
        op: Step[Any],
        op_id: str,
        attempt: int,
        serde: Serde[Any],
        deliver: Done,
    ) -> None:
        start = self._update(fiber, op, op_id, OperationAction.START)
        if op.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY:
            self._checkpoint(
                start, lambda: self._run_step(fiber, op, op_id, attempt, serde, deliver)
            )
        else:
            self._checkpoint(start)
            self._run_step(fiber, op, op_id, attempt, serde, deliver)

    def _run_step(
        self,
        fiber: Fiber,
        op: Step[Any],
        op_id: str,
        attempt: int,
        serde: Serde[Any],
        deliver: Done,
    ) -> None:
        def finished(value: Any, error: BaseException | None) -> None:
            if error is not None:
                self._step_failed(fiber, op, op_id, attempt, error, deliver)
            else:
                self._step_succeeded(fiber, op, op_id, value, serde, deliver)

        self._running[op_id] = finished
        self._commands.append(
            RunStep(
                op_id,
                op.name,
                fiber.parent_id,
                attempt,
                op.fn,
                op.args,
                op.kwargs,
                at_most_once=op.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY,
            )
        )

    def _step_succeeded(
        self,
        fiber: Fiber,
        op: Step[Any],
        op_id: str,
        value: Any,
        serde: Serde[Any],
        deliver: Done,
    ) -> None:
        payload = self._encode(serde, value, op_id, op.name, STEP_PAYLOAD_LIMIT, "step result")
        decoded = self._decode(serde, payload, op_id, op.name)  # fail before checkpointing
        update = self._update(fiber, op, op_id, OperationAction.SUCCEED, payload=payload)
        self._checkpoint(update, lambda: self._wake(fiber, deliver, decoded, None))

    def _step_failed(
        self,
        fiber: Fiber,
        op: Step[Any],
        op_id: str,
        attempt: int,
        error: BaseException,
        deliver: Done,
    ) -> None:
        if isinstance(error, ExecutionError):
            raise _ExecutionFailure(error)
        err = error_object(error)
        decision = op.retry.decide(error, attempts_made=attempt, random=self._random())
        if decision.should_retry:
            update = self._update(
                fiber,
                op,
                op_id,
                OperationAction.RETRY,
                error=err,
                step_options=StepOptions(next_attempt_delay_seconds=decision.delay_seconds),
            )

            def retried() -> None:
                recorded = self._history.get(op_id)
                if recorded is not None and recorded.status is OperationStatus.READY:
                    self._start_step(fiber, op, op_id, attempt + 1, self._serde_for(op), deliver)
                # otherwise the fiber stays parked until the service's retry timer fires

            self._checkpoint(update, retried)
            return
        update = self._update(fiber, op, op_id, OperationAction.FAIL, error=err)
        failure = operation_error_from(StepError, err, operation_id=op_id, name=op.name)
        self._checkpoint(update, lambda: self._wake(fiber, deliver, None, failure))

    # --- Wait --------------------------------------------------------------------------------

    def _wait(
        self,
        fiber: Fiber,
        op: Wait,
        op_id: str,
        recorded: Operation | None,
        deliver: Done,
    ) -> object:
        if recorded is not None:
            if recorded.is_terminal:
                deliver(None, None)
                return None
            return _BLOCKED  # the service's timer re-invokes us
        update = self._update(
            fiber, op, op_id, OperationAction.START, wait_options=WaitOptions(op.seconds)
        )

        def started() -> None:
            now = self._history.get(op_id)
            if now is not None and now.is_terminal:
                self._wake(fiber, deliver, None, None)

        self._checkpoint(update, started)
        return _BLOCKED

    # --- Child -------------------------------------------------------------------------------

    def _child(
        self,
        fiber: Fiber,
        op: Child[Any],
        op_id: str,
        recorded: Operation | None,
        deliver: Done,
    ) -> object:
        serde = self._serde_for(op)
        details = recorded.context_details if recorded is not None else None
        replay_children = False
        if recorded is not None:
            if recorded.status is OperationStatus.SUCCEEDED:
                if not (details and details.replay_children):
                    deliver(
                        self._decode(serde, details.result if details else None, op_id, op.name),
                        None,
                    )
                    return None
                replay_children = True
            elif recorded.is_terminal:
                error = operation_error_from(
                    ChildContextError,
                    details.error if details else None,
                    operation_id=op_id,
                    name=op.name,
                )
                deliver(None, error)
                return None
        elif not op.virtual:
            self._checkpoint(self._update(fiber, op, op_id, OperationAction.START))

        def done(value: Any, error: BaseException | None) -> None:
            self._child_finished(fiber, op, op_id, serde, replay_children, deliver, value, error)

        gen = self._body(op)
        child = Fiber(
            gen,
            prefix=op_id,
            parent_id=fiber.parent_id if op.virtual else op_id,
            path=f"{fiber.path} > child {op.name or op_id[:12]!r}",
            replaying=self._history.get(operation_id(op_id, 1)) is not None,
            on_done=done,
        )
        self._ready.append(child)
        return _BLOCKED

    def _child_finished(
        self,
        fiber: Fiber,
        op: Child[Any],
        op_id: str,
        serde: Serde[Any],
        replay_children: bool,
        deliver: Done,
        value: Any,
        error: BaseException | None,
    ) -> None:
        if error is not None:
            err = error_object(error)
            failure = operation_error_from(ChildContextError, err, operation_id=op_id, name=op.name)
            if op.virtual:
                self._wake(fiber, deliver, None, failure)
                return
            update = self._update(fiber, op, op_id, OperationAction.FAIL, error=err)
            self._checkpoint(update, lambda: self._wake(fiber, deliver, None, failure))
            return
        if replay_children:
            self._wake(fiber, deliver, value, None)
            return
        payload = self._encode(serde, value, op_id, op.name, None, "child context result")
        if op.virtual:
            self._wake(fiber, deliver, self._decode(serde, payload, op_id, op.name), None)
            return
        large = len(payload.encode()) > CHECKPOINT_PAYLOAD_LIMIT
        update = self._update(
            fiber,
            op,
            op_id,
            OperationAction.SUCCEED,
            payload="" if large else payload,
            context_options=ContextOptions(replay_children=large),
        )
        result = value if large else None

        def succeeded() -> None:
            decoded = result if large else self._decode(serde, payload, op_id, op.name)
            self._wake(fiber, deliver, decoded, None)

        self._checkpoint(update, succeeded)

    def _body(self, op: Child[Any]) -> Generator[Any, Any, Any]:
        if is_generator_function(op.fn):
            gen = op.fn(*op.args, **op.kwargs)
            if not inspect.isgenerator(gen):
                raise _ExecutionFailure(
                    WorkflowDefinitionError(f"Child {op.name!r} did not return a generator")
                )
            return gen
        return _single_step(Step(op.fn, *op.args, name=op.name, kwargs=op.kwargs))

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
            result = _ANY_SERDE.serialize(value)
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

        self._checkpoint(update, stored)

    def _finish_failed(self, err: ErrorObject) -> None:
        size = len(_ANY_SERDE.serialize({"Status": "FAILED", "Error": to_wire(err)}))
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

        self._checkpoint(update, stored)

    def _fail(self, error: BaseException) -> None:
        if self.outcome is None:
            self.outcome = Failed(error_object(error))
        self._ready.clear()

    # --- helpers -----------------------------------------------------------------------------

    def _encode(
        self,
        serde: Serde[Any],
        value: Any,
        op_id: str,
        name: str | None,
        limit: int | None,
        what: str,
    ) -> str:
        try:
            payload = serde.serialize(value)
        except Exception as exc:
            raise _ExecutionFailure(
                SerializationError(f"cannot serialise the {what} of {_label(op_id, name)}: {exc}")
            ) from exc
        if not isinstance(payload, str):
            raise _ExecutionFailure(
                SerializationError(
                    f"the serde of {_label(op_id, name)} returned {type(payload).__name__}, not str"
                )
            )
        if limit is not None:
            size = len(payload.encode())
            if size > limit:
                raise _ExecutionFailure(
                    PayloadTooLargeError(
                        f"the {what} of {_label(op_id, name)} is {size} bytes once serialised; "
                        f"the limit is {limit} bytes. Store large data elsewhere (S3, a "
                        "database) and return a reference to it."
                    )
                )
        return payload

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


def _single_step(step: Step[Any]) -> Generator[Any, Any, Any]:
    value = yield step
    return value


def _label(op_id: str, name: str | None) -> str:
    return f"operation {name!r} (id {op_id})" if name else f"operation {op_id}"
