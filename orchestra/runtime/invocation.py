"""One Lambda invocation, end to end: load state, interpret, checkpoint, answer.

This is the imperative shell around the pure :class:`~orchestra.interpreter.machine.Machine`:
it feeds the machine step outcomes and checkpoint acknowledgements from one inbox, hands
its commands to the step executor and the checkpoint writer, and asks the writer to flush
exactly when the machine is waiting for a reply.
"""

from __future__ import annotations

import json
import queue
import random
import time
from collections.abc import Callable
from typing import Any

from orchestra.errors import CheckpointError, InvocationError, MalformedEventError, error_object
from orchestra.interpreter.commands import Checkpoint, Failed, RunStep, Succeeded, Suspended
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.machine import Machine
from orchestra.runtime.executor import StepExecutor
from orchestra.runtime.writer import STATE_PAGE_SIZE, CheckpointWriter
from orchestra.service.api import DurableService, ServiceError, classify
from orchestra.wire.models import (
    ErrorObject,
    InvocationInput,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationType,
)

__all__ = ["ProcessCrash", "run_invocation"]

ProcessCrash = (SystemExit, KeyboardInterrupt)


def _load_operations(inp: InvocationInput, service: DurableService) -> list[Operation]:
    operations = list(inp.initial_execution_state.operations)
    marker = inp.initial_execution_state.next_marker
    while marker:
        try:
            page = service.get_state(
                inp.durable_execution_arn, inp.checkpoint_token, marker, STATE_PAGE_SIZE
            )
        except ServiceError as exc:
            raise classify(exc) from exc
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
                return None
            try:
                return json.loads(payload)
            except ValueError as exc:
                raise MalformedEventError(
                    f"the execution input is not JSON ({exc}); start the execution with a JSON "
                    "payload"
                ) from exc
    return None


def _failed(error: BaseException | ErrorObject) -> InvocationOutput:
    err = error if isinstance(error, ErrorObject) else error_object(error)
    return InvocationOutput(status=InvocationStatus.FAILED, error=err)


def run_invocation(
    workflow: Callable[..., Any],
    inp: InvocationInput,
    service: DurableService,
    *,
    executor: StepExecutor,
    async_bound: float = 0.05,
    rng: Callable[[], float] = random.random,
) -> InvocationOutput:
    """Run one invocation of ``workflow`` and return the handler's answer.

    A retryable service error, or an emulated process crash (``SystemExit`` from a step),
    is raised so that the invocation fails and is re-driven; everything else becomes a
    SUCCEEDED, FAILED or PENDING output.
    """
    arn = inp.durable_execution_arn
    try:
        operations = _load_operations(inp, service)
    except CheckpointError as exc:
        if exc.retryable:
            raise
        return _failed(exc)
    try:
        input_value = _execution_input(arn, operations)
    except MalformedEventError as exc:
        return _failed(exc)

    machine = Machine(
        workflow,
        input_value,
        HistoryIndex(operations),
        execution_arn=arn,
        random=rng,
        clock_ms=lambda: int(time.time() * 1000),
    )
    inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    writer = CheckpointWriter(
        service,
        arn,
        inp.checkpoint_token,
        on_ack=lambda acks, ops: inbox.put(("ack", acks, ops)),
        on_error=lambda exc: inbox.put(("error", exc)),
        async_bound=async_bound,
    )

    def report(op_id: str, value: Any, error: BaseException | None) -> None:
        inbox.put(("step", op_id, value, error))

    try:
        while True:
            for command in machine.run():
                if isinstance(command, Checkpoint):
                    writer.submit(command)
                elif isinstance(command, RunStep):
                    executor.submit(command, arn, report)
            if machine.outcome is not None:
                break
            if machine.awaiting_acks:
                writer.flush()
            event = inbox.get()
            kind = event[0]
            if kind == "ack":
                machine.acknowledged(event[1], event[2])
            elif kind == "step":
                error = event[3]
                if isinstance(error, ProcessCrash):
                    raise error
                machine.step_finished(event[1], event[2], error)
            else:
                raise event[1]
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, InvocationError) and not exc.retryable:
            return _failed(exc)
        raise
    writer.close()
    while not inbox.empty():  # a failure of the final flush must not go unnoticed
        event = inbox.get()
        if event[0] == "error":
            error = event[1]
            if isinstance(error, InvocationError) and not error.retryable:
                return _failed(error)
            raise error

    outcome = machine.outcome
    if isinstance(outcome, Succeeded):
        return InvocationOutput(status=InvocationStatus.SUCCEEDED, result=outcome.result)
    if isinstance(outcome, Failed):
        if outcome.checkpointed:
            return InvocationOutput(status=InvocationStatus.FAILED)
        return _failed(outcome.error)
    assert isinstance(outcome, Suspended)
    return InvocationOutput(status=InvocationStatus.PENDING)
