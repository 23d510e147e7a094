"""One Lambda invocation, end to end: load state, interpret, checkpoint, answer.

This is the imperative shell around the pure :class:`~orchestra.interpreter.machine.Machine`:
one inbox carries the machine's typed events (a step finished, checkpoints acknowledged,
the writer failed, time passed); the machine's commands go to the step executor and the
checkpoint writer, and the writer is told to flush exactly when the machine waits for a
reply.

Nothing here blocks without a bound: every wait ends shortly before the Lambda deadline
(``context.get_remaining_time_in_millis()``; 15 minutes, Lambda's maximum, without a
context), and then the invocation raises a retryable :class:`InvocationTimeoutError`
having relied on nothing that was not acknowledged.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from orchestra._context import LogFields, current_fields
from orchestra.errors import (
    CheckpointError,
    GetStateError,
    InvocationError,
    MalformedEventError,
    error_object,
)
from orchestra.interpreter.commands import (
    Checkpoint,
    Failed,
    RunStep,
    Succeeded,
    Suspended,
    Warn,
    Withdraw,
)
from orchestra.interpreter.events import Acknowledged, Event, Resume, StepFinished, WriterFailed
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.machine import Machine
from orchestra.runtime.executor import StepExecutor
from orchestra.runtime.writer import STATE_PAGE_SIZE, CheckpointWriter
from orchestra.service.api import Call, DurableService, ServiceError, classify
from orchestra.wire.converter import to_wire
from orchestra.wire.models import (
    ErrorObject,
    InvocationInput,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationAction,
    OperationType,
    OperationUpdate,
)

__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEADLINE_MARGIN_S",
    "RESPONSE_SIZE_LIMIT",
    "InvocationTimeoutError",
    "ProcessCrash",
    "run_invocation",
]

log = logging.getLogger("orchestra.invocation")

ProcessCrash = (SystemExit, KeyboardInterrupt)

#: A handler response larger than this is checkpointed on the EXECUTION operation.
RESPONSE_SIZE_LIMIT = 6 * 1024 * 1024 - 50

#: Without a Lambda context, an invocation may last this long (Lambda's maximum).
DEFAULT_DEADLINE_S = 15 * 60.0

#: How long before the Lambda deadline the invocation gives up waiting.
DEADLINE_MARGIN_S = 2.0


class InvocationTimeoutError(InvocationError):
    """The invocation reached its deadline while work was in flight; Lambda re-drives it."""


@attrs.frozen
class _Deadline:
    """When the invocation must stop waiting, on the monotonic clock."""

    at: float

    @classmethod
    def from_context(cls, context: Any, default_s: float) -> _Deadline:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        budget = default_s
        if callable(remaining):
            try:
                budget = float(remaining()) / 1000
            except (TypeError, ValueError):
                budget = default_s
        margin = min(DEADLINE_MARGIN_S, budget / 10)
        return cls(time.monotonic() + max(0.0, budget - margin))

    def left(self) -> float:
        return self.at - time.monotonic()


def _load_operations(inp: InvocationInput, service: DurableService) -> list[Operation]:
    operations = list(inp.initial_execution_state.operations)
    marker = inp.initial_execution_state.next_marker
    while marker:
        try:
            page = service.get_state(
                inp.durable_execution_arn, inp.checkpoint_token, marker, STATE_PAGE_SIZE
            )
        except ServiceError as exc:
            raise classify(exc, Call.GET_STATE) from exc
        operations.extend(page.operations)
        marker = page.next_marker
    return operations


def _execution_input(arn: str, operations: list[Operation]) -> Any:
    execution_id = arn.rsplit("/", 1)[-1]
    for op in operations:
        if op.id == execution_id or op.type is OperationType.EXECUTION:
            if op.type is not OperationType.EXECUTION:
                raise MalformedEventError(
                    f"operation {op.id} should be the EXECUTION operation, found {op.type.value}"
                )
            payload = op.execution_details.input_payload if op.execution_details else None
            if payload is None or not payload.strip():
                return {}
            try:
                return json.loads(payload)
            except ValueError as exc:
                raise MalformedEventError(
                    f"the execution input is not JSON ({exc}); start the execution with a JSON "
                    "payload"
                ) from exc
    return {}


def _failed(error: BaseException | ErrorObject) -> InvocationOutput:
    err = error if isinstance(error, ErrorObject) else error_object(error)
    return InvocationOutput(status=InvocationStatus.FAILED, error=err)


def _set_log_fields(arn: str) -> Callable[[bool, str | None], Callable[[], None]]:
    def enter(replaying: bool, parent_id: str | None) -> Callable[[], None]:
        token = current_fields.set(LogFields(arn, replaying, parent_id=parent_id))
        return lambda: current_fields.reset(token)

    return enter


class _Invocation:
    """The loop of one invocation; see :func:`run_invocation`."""

    def __init__(
        self,
        machine: Machine,
        writer_factory: Callable[[Callable[[Event], None]], CheckpointWriter],
        executor: StepExecutor,
        arn: str,
        deadline: _Deadline,
        clock_ms: Callable[[], int],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.machine = machine
        self.inbox: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.alive = True
        self.writer = writer_factory(self._post)
        self.executor = executor
        self.arn = arn
        self.deadline = deadline
        self.clock_ms = clock_ms
        self.clock = clock
        self.next_ack = -1  # the shell's own sync checkpoints count down, never clashing

    def _post(self, event: Event) -> None:
        if self.alive:  # an abandoned invocation's late step results go nowhere
            self.inbox.put(event)

    def _report(self, op_id: str, value: Any, error: BaseException | None) -> None:
        self._post(StepFinished(op_id, value, error))

    def _issue(self, commands: list[Any]) -> None:
        for command in commands:
            if isinstance(command, Checkpoint):
                self.writer.submit(command.update, ack=command.ack, owner=command.owner)
            elif isinstance(command, RunStep):
                self.executor.submit(command, self.arn, self._report, now=self.clock)
            elif isinstance(command, Withdraw):
                self.writer.withdraw(command.owners)
            elif isinstance(command, Warn):
                log.warning("%s: %s", self.arn, command.message, exc_info=command.error is not None)

    def _next_event(self) -> Event:
        timeout = self.deadline.left()
        if timeout <= 0:
            raise InvocationTimeoutError(
                "the invocation reached its deadline with work in flight (running steps or "
                "unacknowledged checkpoints); nothing unacknowledged was used, and Lambda "
                "re-drives the invocation",
                retryable=True,
            )
        wakeup = self.machine.next_wakeup_ms
        if wakeup is not None:
            timeout = min(timeout, max(0.0, (wakeup - self.clock_ms()) / 1000))
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            return Resume(self.clock_ms())

    def drive(self) -> None:
        """Run the machine to an outcome."""
        machine = self.machine
        while True:
            self._issue(machine.run(self.clock_ms()))
            if machine.outcome is not None:
                return
            if machine.awaiting_acks:
                self.writer.flush()
            event = self._next_event()
            if isinstance(event, WriterFailed):
                machine.handle(event)
                raise event.error
            if isinstance(event, StepFinished) and isinstance(event.error, ProcessCrash):
                raise event.error
            machine.handle(event)

    def checkpoint_result(self, action: OperationAction, **fields: Any) -> None:
        """Store the execution's outcome on the EXECUTION operation; wait until durable."""
        update = OperationUpdate(
            id=f"execution-result-{self.clock_ms()}",
            type=OperationType.EXECUTION,
            action=action,
            **fields,
        )
        ack = self.next_ack
        self.next_ack -= 1
        self.writer.submit(update, ack=ack, owner=0)
        self.writer.flush()
        while True:
            event = self._next_event()
            if isinstance(event, WriterFailed):
                raise event.error
            if isinstance(event, Acknowledged) and ack in event.acks:
                return

    def close(self, timeout: float) -> None:
        """Send what is queued; a failure of the final flush is not ignored."""
        done = self.writer.close(timeout=timeout)
        self.alive = False
        while not self.inbox.empty():
            event = self.inbox.get()
            if isinstance(event, WriterFailed):
                raise event.error
        if not done:
            raise InvocationTimeoutError(
                "the final checkpoint did not complete before the invocation's deadline",
                retryable=True,
            )

    def abandon(self) -> None:
        """Stop without sending anything more; running steps' results will be dropped."""
        self.alive = False
        self.writer.abort()


def run_invocation(
    workflow: Callable[..., Any],
    inp: InvocationInput,
    service: DurableService,
    *,
    executor: StepExecutor,
    async_bound: float = 0.05,
    rng: Callable[[], float] = random.random,
    context: Any = None,
    default_deadline_s: float = DEFAULT_DEADLINE_S,
    clock: Callable[[], datetime] | None = None,
) -> InvocationOutput:
    """Run one invocation of ``workflow`` and return the handler's answer.

    A retryable service error, a deadline reached with work in flight, or an emulated
    process crash (``SystemExit`` from a step) is raised so that the invocation fails and
    is re-driven; everything else becomes a SUCCEEDED, FAILED or PENDING output.

    Args:
        workflow: the workflow generator function.
        inp: the parsed invocation event.
        service: where checkpoints go.
        executor: runs step functions.
        async_bound: see :class:`~orchestra.runtime.writer.CheckpointWriter`.
        rng: uniform numbers for retry jitter.
        context: the Lambda context (its remaining time bounds every wait).
        default_deadline_s: the time budget without a Lambda context.
        clock: the service's clock (default: real UTC time); the interpreter's time input
            and steps' ``step_context().now()`` read it.
    """
    arn = inp.durable_execution_arn
    started = time.monotonic()
    deadline = _Deadline.from_context(context, default_deadline_s)
    try:
        operations = _load_operations(inp, service)
        input_value = _execution_input(arn, operations)
    except (CheckpointError, GetStateError) as exc:
        log.error("%s: cannot load the execution's state: %s", arn, exc, exc_info=True)
        if exc.retryable:
            raise
        return _failed(exc)
    except MalformedEventError as exc:
        log.error("%s: %s", arn, exc)
        return _failed(exc)

    def clock_ms() -> int:
        if clock is None:
            return int(time.time() * 1000)
        return int(clock().timestamp() * 1000)

    log.debug("%s: invocation started with %d checkpointed operations", arn, len(operations))
    machine = Machine(
        workflow,
        input_value,
        HistoryIndex(operations),
        execution_arn=arn,
        random=rng,
        now_ms=clock_ms(),
        on_resume=_set_log_fields(arn),
    )

    def make_writer(post: Callable[[Event], None]) -> CheckpointWriter:
        return CheckpointWriter(
            service,
            arn,
            inp.checkpoint_token,
            on_ack=lambda acks, ops: post(Acknowledged(tuple(acks), tuple(ops))),
            on_error=lambda exc: post(WriterFailed(exc)),
            async_bound=async_bound,
        )

    run = _Invocation(machine, make_writer, executor, arn, deadline, clock_ms, clock)
    try:
        run.drive()
        output = _answer(run, machine)
        run.close(timeout=max(0.1, deadline.left()))
    except BaseException as exc:
        run.abandon()
        if isinstance(exc, InvocationError) and not exc.retryable:
            log.error("%s: the execution fails: %s", arn, exc, exc_info=True)
            return _failed(exc)
        if isinstance(exc, Exception):  # not a process crash (SystemExit, a kill)
            log.error("%s: the invocation fails and will be retried: %s", arn, exc, exc_info=True)
        raise
    log.info(
        "%s: invocation ended %s in %.3f s (%d operations replayed, %d new)",
        arn,
        output.status.value,
        time.monotonic() - started,
        machine.replayed,
        machine.new,
    )
    return output


def _answer(run: _Invocation, machine: Machine) -> InvocationOutput:
    """The handler's answer for the machine's outcome (large ones go through a checkpoint)."""
    outcome = machine.outcome
    if isinstance(outcome, Succeeded):
        if len(outcome.result) <= RESPONSE_SIZE_LIMIT:
            return InvocationOutput(status=InvocationStatus.SUCCEEDED, result=outcome.result)
        run.checkpoint_result(OperationAction.SUCCEED, payload=outcome.result)
        return InvocationOutput(status=InvocationStatus.SUCCEEDED, result="")
    if isinstance(outcome, Failed):
        answer = {"Status": "FAILED", "Error": _error_json(outcome.error)}
        if len(json.dumps(answer)) <= RESPONSE_SIZE_LIMIT:
            return _failed(outcome.error)
        run.checkpoint_result(OperationAction.FAIL, error=outcome.error)
        return InvocationOutput(status=InvocationStatus.FAILED)
    assert isinstance(outcome, Suspended)
    return InvocationOutput(status=InvocationStatus.PENDING)


def _error_json(error: ErrorObject) -> dict[str, Any]:
    result: dict[str, Any] = to_wire(error)
    return result
