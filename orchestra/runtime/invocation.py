"""One Lambda invocation, end to end: load state, interpret, checkpoint, answer.

This is the imperative shell around the pure :class:`~orchestra.interpreter.machine.Machine`:
one inbox carries the machine's typed events (a step finished, checkpoints acknowledged,
the writer failed, time passed); the machine's commands go to the step executor and the
checkpoint writer.

Threads, and the hand-offs that are avoided:

* The handler's thread only supervises: it hands the invocation to a *driver* thread and
  waits for its answer, at most until shortly before the Lambda deadline
  (``context.get_remaining_time_in_millis()``; 15 minutes, Lambda's maximum, without a
  context). Then it raises a retryable :class:`InvocationTimeoutError` having relied on
  nothing that was not acknowledged, whatever the driver is doing, and the driver stops
  at its next step without sending or running anything more.
* The driver runs the interpreter. When the machine waits for an acknowledgement and no
  other event is pending, the driver makes the checkpoint call itself
  (:meth:`~orchestra.runtime.writer.CheckpointWriter.send_now`) instead of waking the
  writer thread and waiting for it.
* A step that is the only work in flight (no other step running, no acknowledgement or
  timer awaited, no event pending) runs on the driver thread itself: a sequential
  workflow makes no thread hand-off at all. Concurrent steps run on the executor's pool.
  The step's at-least-once START is still sent by the writer thread once it is older
  than the async bound, so a slow step is visible in the history while it runs.
* The writer thread thereby only sends what falls due by the async bound, or what a call
  in flight on it held back.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import queue
import random
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from orchestra._context import current_fields
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
from orchestra.runtime.writer import (
    MAX_BATCH_UPDATES,
    STATE_PAGE_SIZE,
    CheckpointWriter,
    OnAck,
    OnError,
)
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

#: How much longer than the deadline the handler's thread waits for a busy driver.
_DRIVER_GRACE_S = 0.05


class InvocationTimeoutError(InvocationError):
    """The invocation reached its deadline while work was in flight; Lambda re-drives it."""


class _Abandoned(BaseException):
    """Unwinds a driver whose invocation was given up by its handler (the deadline)."""


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
        return functools.partial(
            current_fields.reset, current_fields.set((arn, replaying, parent_id))
        )

    return enter


#: While other steps are finishing, the driver waits for more results before a call as long
#: as they come less than this apart (see ``_Invocation._linger``): fewer, fuller calls for a
#: Map or a Parallel ...
LINGER_GAP_SECONDS = 0.002
#: ... but never longer than this after the first update queued since the last call.
LINGER_MAX_SECONDS = 0.02
#: At most this many events that already wait in the inbox are handled after the one the
#: driver waited for, before the machine runs the fibers they woke.
DRAIN_AT_ONCE = 256


class _Invocation:
    """The loop of one invocation, run on its driver thread; see :func:`run_invocation`."""

    def __init__(
        self,
        machine: Machine,
        writer_factory: Callable[[OnAck, OnError], CheckpointWriter],
        executor: StepExecutor,
        arn: str,
        deadline: _Deadline,
        clock_ms: Callable[[], int],
        clock: Callable[[], datetime] | None = None,
        *,
        inline_steps: bool = False,
    ) -> None:
        self.machine = machine
        self.inbox: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.alive = True
        self.writer_factory = writer_factory
        self._writer: CheckpointWriter | None = None
        self.executor = executor
        self.arn = arn
        self.deadline = deadline
        self.clock_ms = clock_ms
        self.clock = clock
        self.inline_steps = inline_steps
        self.next_ack = -1  # the shell's own sync checkpoints count down, never clashing
        self._abandoned = False
        self._lock = threading.Lock()
        #: The outcome of the step that ran on the driver thread, handed straight back.
        self._here: StepFinished | None = None
        self._driver_thread = -1  # the driver's thread ident, once it drives
        #: While the driver makes a call itself, its acknowledgement is handed straight back.
        self._direct = False
        self._acked: Acknowledged | None = None
        self._lingering_since: float | None = None

    @property
    def writer(self) -> CheckpointWriter:
        """The checkpoint writer, created by (and owned by) the first thread asking."""
        if self._writer is None:
            self._writer = self.writer_factory(self._on_ack, self._on_error)
        return self._writer

    def _post(self, event: Event) -> None:
        if self.alive:  # an abandoned invocation's late step results go nowhere
            self.inbox.put(event)

    def _on_ack(self, acks: list[int], operations: list[Operation]) -> None:
        """The writer's acknowledgement of a call.

        A call the driver made itself in :meth:`drive` (nothing pending in the inbox) hands
        its acknowledgement straight back to the driver; any other goes through the inbox,
        after what is already there.
        """
        event = Acknowledged(tuple(acks), tuple(operations))
        if (
            self._direct
            and self._acked is None
            and threading.get_ident() == self._driver_thread
            and self.inbox.empty()
        ):
            self._acked = event
        else:
            self._post(event)

    def _on_error(self, error: BaseException) -> None:
        self._post(WriterFailed(error))

    def _report(self, op_id: str, value: Any, error: BaseException | None) -> None:
        self._post(StepFinished(op_id, value, error))

    def _keep(self, op_id: str, value: Any, error: BaseException | None) -> None:
        """Report a step run by :meth:`StepExecutor.run_here`.

        On the driver thread (as the executor does) the outcome goes straight back to the
        driver, not through the inbox; from any other thread (an executor that hands the
        step on) it is posted as usual.
        """
        if threading.get_ident() == self._driver_thread:
            self._here = StepFinished(op_id, value, error)
        else:
            self._report(op_id, value, error)

    def _issue(self, commands: list[Any]) -> RunStep | None:
        """Hand ``commands`` on; return the one step to run on this thread, if any."""
        if not commands:
            return None
        steps: list[RunStep] = []
        writer = self.writer
        if len(commands) <= 2:  # a step's START and the step (or one checkpoint): no batching
            for command in commands:
                if type(command) is Checkpoint:  # (the commands are final classes)
                    writer.submit(command.update, ack=command.ack, owner=command.owner)
                elif type(command) is RunStep:
                    steps.append(command)
                else:
                    self._other(command)
        else:
            queued: list[tuple[OperationUpdate | None, int | None, int | None]] = []
            for command in commands:
                if type(command) is Checkpoint:
                    queued.append((command.update, command.ack, command.owner))
                    continue
                if queued:  # in order: a withdrawal applies to what was queued before it
                    writer.submit_all(queued)
                    queued = []
                if type(command) is RunStep:
                    steps.append(command)
                else:
                    self._other(command)
            if queued:
                writer.submit_all(queued)
        if not steps:
            return None
        machine = self.machine
        if (
            len(steps) == 1
            and self.inline_steps
            and machine.outcome is None
            and machine.running_step_count == 1
            and not machine.awaiting_acks
            and machine.next_wakeup_ms is None
            and self.inbox.empty()
        ):
            return steps[0]
        for step in steps:
            self.executor.submit(step, self.arn, self._report, now=self.clock)
        return None

    def _other(self, command: Any) -> None:
        """Carry out a command that is neither a checkpoint nor a step."""
        if isinstance(command, Withdraw):
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

    def _linger(self) -> Event | None:
        """Wait a moment for more results before a call, while other steps are finishing.

        With steps still running on the pool (a Map, a Parallel), the results that arrive
        less than :data:`LINGER_GAP_SECONDS` apart join this call instead of making calls of
        their own: the wait ends when the call is full, when results stop coming for that
        long, or :data:`LINGER_MAX_SECONDS` after the first update queued since the last call.
        A sequential workflow (no other step running) never waits.
        """
        if not self.machine.running_step_count or self.writer.queued >= MAX_BATCH_UPDATES:
            return None
        now = time.monotonic()
        if self._lingering_since is None:
            self._lingering_since = now
        left = min(
            LINGER_GAP_SECONDS,
            LINGER_MAX_SECONDS - (now - self._lingering_since),
            self.deadline.left(),
        )
        if left <= 0:
            return None
        try:
            return self.inbox.get(timeout=left)
        except queue.Empty:
            return None

    def _check_alive(self) -> None:
        if not self.alive:
            raise _Abandoned

    def drive(self) -> None:
        """Run the machine to an outcome."""
        machine = self.machine
        self._driver_thread = threading.get_ident()
        while True:
            self._check_alive()
            here = self._issue(machine.run())  # the machine reads the clock if it needs it
            if machine.outcome is not None:
                return
            if here is not None:
                self._here = None
                self.executor.run_here(here, self.arn, self._keep, now=self.clock)
                self._check_alive()
                finished, self._here = self._here, None
                if finished is not None:
                    if isinstance(finished.error, ProcessCrash):
                        raise finished.error
                    machine.handle(finished)
                    continue
            event: Event | None = None
            if here is None and machine.awaiting_acks and self.inbox.empty():
                event = self._linger()
                if event is None:
                    self._lingering_since = None
                    # Idle until the answer: make the call right here, one call at a time. What
                    # did not fit waits for what its answer sets off (a Map's branch SUCCEEDs,
                    # the items it frees) and for results still coming, which join it.
                    self._direct = True
                    try:
                        self.writer.send_now(once=True)
                    finally:
                        self._direct = False
                    acked, self._acked = self._acked, None
                    if acked is not None:
                        self._check_alive()
                        machine.handle(acked)
                        continue
            if event is None:
                event = self._next_event()
            self._handle(event)
            # what else already arrived is handled before the fibers run again: a Map's
            # results that came in together cost one pass of the machine, not one each
            for _ in range(DRAIN_AT_ONCE):
                if machine.outcome is not None or self.inbox.empty():
                    break  # (once the workflow has ended, what follows waits for the close)
                self._handle(self.inbox.get_nowait())

    def _handle(self, event: Event) -> None:
        """Give ``event`` to the machine; a writer failure or a process crash ends the drive."""
        if type(event) is StepFinished:  # (the commonest event: a Map's thousands)
            error = event.error
            if error is not None and isinstance(error, ProcessCrash):
                raise error
            self.machine.step_finished(event.op_id, event.value, error)
            return
        if isinstance(event, WriterFailed):
            self.machine.handle(event)
            raise event.error
        if isinstance(event, StepFinished) and isinstance(event.error, ProcessCrash):
            raise event.error
        self.machine.handle(event)

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
        self.writer.send_now()
        while True:
            event = self._next_event()
            if isinstance(event, WriterFailed):
                raise event.error
            if isinstance(event, Acknowledged) and ack in event.acks:
                return

    def close(self, timeout: float) -> None:
        """Send what is queued, then stop the writer; a failure of the last call is raised."""
        self.writer.send_now()
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
        """Stop without sending anything more; running steps' results will be dropped.

        Safe from any thread, and more than once.
        """
        self.alive = False
        with self._lock:
            if self._abandoned:
                return
            self._abandoned = True
            writer = self._writer
        if writer is not None:
            writer.abort()


def _on_driver(run: _Invocation, body: Callable[[], InvocationOutput]) -> InvocationOutput:
    """Run ``body`` on a driver thread; wait for it until the invocation's deadline.

    The driver carries the caller's context variables and profiling hook (a determinism
    guard watching the handler's thread watches the workflow code on the driver).

    Raises:
        InvocationTimeoutError: the deadline came first; the driver is abandoned.
        BaseException: whatever ``body`` raised.
    """
    outcome: list[Any] = []
    done = threading.Event()
    context = contextvars.copy_context()
    profile = sys.getprofile()
    if not callable(profile):  # none, or a C profiler's object (cProfile) that cannot move
        profile = None

    def main() -> None:
        if profile is not None:
            sys.setprofile(profile)
        try:
            outcome.append(context.run(body))
        except _Abandoned:
            pass
        except BaseException as exc:  # handed to the handler's thread as raised
            outcome.append(exc)
        finally:
            if profile is not None:
                sys.setprofile(None)
            done.set()

    driver = threading.Thread(target=main, name="orchestra-invocation", daemon=True)
    driver.start()
    # the driver's own waits end at the deadline; this one only catches a driver that is
    # busy (a step running on it, a call that hangs) when the deadline comes
    if not done.wait(max(0.0, run.deadline.left()) + _DRIVER_GRACE_S) or not outcome:
        run.abandon()
        raise InvocationTimeoutError(
            "the invocation reached its deadline while a step or a checkpoint call was "
            "still running; nothing unacknowledged was used, and Lambda re-drives the "
            "invocation",
            retryable=True,
        )
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    answer: InvocationOutput = result
    return answer


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
        clock=clock_ms,
        on_resume=_set_log_fields(arn),
    )

    def make_writer(on_ack: OnAck, on_error: OnError) -> CheckpointWriter:
        return CheckpointWriter(
            service,
            arn,
            inp.checkpoint_token,
            on_ack=on_ack,
            on_error=on_error,
            async_bound=async_bound,
        )

    run = _Invocation(
        machine,
        make_writer,
        executor,
        arn,
        deadline,
        clock_ms,
        clock,
        # under a profiling hook (a determinism guard) steps keep off the workflow's thread
        inline_steps=executor.runs_inline and sys.getprofile() is None,
    )

    def body() -> InvocationOutput:
        try:
            run.drive()
            output = _answer(run, machine)
            run.close(timeout=max(0.1, deadline.left()))
        except BaseException:
            run.abandon()
            raise
        return output

    try:
        output = _on_driver(run, body)
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
