"""The local emulator of the Lambda durable-execution service.

It accepts and rejects checkpoints like the service (:mod:`.rules`), keeps the execution's
operations and history (:mod:`.history`), fires timers for waits and retry delays on a
real or virtual clock (:mod:`.clock`), and re-invokes the handler after every suspension,
exactly as the service does, so every local run exercises replay.

Example:
    >>> from orchestra import Step, Wait, lambda_handler
    >>> def workflow(name):
    ...     yield Wait(3600)
    ...     return (yield Step(str.upper, name))
    >>> service = LocalService()
    >>> arn = service.start_execution("greeter", '"ada"')
    >>> service.run(arn, lambda_handler(workflow, service=service)).value
    'SUCCEEDED'
    >>> service.execution(arn).result
    '"ADA"'
"""

from __future__ import annotations

import base64
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from orchestra.service.api import ServiceError
from orchestra.service.local.clock import Clock, VirtualClock
from orchestra.service.local.execution import Execution
from orchestra.service.local.history import error, payload
from orchestra.service.local.rules import check_batch
from orchestra.service.local.transitions import apply_update, fire_due
from orchestra.wire.converter import to_wire
from orchestra.wire.models import (
    CheckpointResponse,
    ErrorObject,
    Event,
    EventDetails,
    ExecutionDetails,
    ExecutionState,
    ExecutionStatus,
    Operation,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

__all__ = ["Execution", "InvocationKilled", "LocalService"]

Handler = Callable[[dict[str, Any], Any], Any]

MAX_CONSECUTIVE_FAILURES = 5
MAX_EMPTY_PENDING = 3
_EXIT_ERROR = "Runtime.ExitError"


class InvocationKilled(BaseException):
    """The emulator ended the invocation at a checkpoint (crash injection)."""


def _token() -> str:
    return base64.b64encode(secrets.token_bytes(33)).decode()


class LocalService:
    """An in-memory durable-execution service with a virtual (default) or real clock.

    Args:
        clock: the emulator's clock (default: a :class:`VirtualClock`).
        page_size: how many operations the invocation event and each state page carry.
    """

    def __init__(self, clock: Clock | None = None, *, page_size: int = 1000) -> None:
        self.clock: Clock = clock or VirtualClock()
        self.page_size = page_size
        self._executions: dict[str, Execution] = {}
        self._lock = threading.RLock()

    # --- executions --------------------------------------------------------------------------

    def start_execution(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        execution_timeout: int = 86_400,
    ) -> str:
        """Create an execution (not yet invoked) and return its ARN.

        ``execution_timeout`` (seconds) is recorded in the history as the service does; the
        emulator does not enforce it yet.
        """
        name = name or uuid.uuid4().hex
        arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}:$LATEST"
            f"/durable-execution/{name}/{secrets.token_hex(16)}"
        )
        ex = Execution(arn, name, function_name, input_payload)
        now = self.clock.now()
        ex.start_timestamp = now
        op = Operation(
            id=ex.execution_id,
            type=OperationType.EXECUTION,
            status=OperationStatus.STARTED,
            start_timestamp=now,
            name=name,
            execution_details=ExecutionDetails(input_payload=input_payload),
        )
        ex.operations[op.id] = op
        ex.append(
            Event(
                event_type="ExecutionStarted",
                event_id=0,
                event_timestamp=now,
                details=EventDetails(
                    input=payload(input_payload), execution_timeout=execution_timeout
                ),
                id=op.id,
                name=name,
            ),
        )
        with self._lock:
            self._executions[arn] = ex
        return arn

    def execution(self, arn: str) -> Execution:
        """The execution with ``arn``."""
        try:
            return self._executions[arn]
        except KeyError:
            raise ServiceError(
                "ResourceNotFoundException", f"no durable execution {arn}", status=404
            ) from None

    def crash_at(self, arn: str, checkpoint: int, *, after: bool = True) -> None:
        """End the invocation at checkpoint call number ``checkpoint`` (1-based).

        With ``after`` the call is applied and its answer lost (a crash right after the
        write); otherwise it is refused unapplied (a crash before it).
        """
        self.execution(arn).crash_points[checkpoint] = after

    def history(self, arn: str) -> list[Event]:
        """The execution's history events, in order."""
        return list(self.execution(arn).events)

    def history_dicts(
        self, arn: str, *, include_execution_data: bool = True
    ) -> list[dict[str, Any]]:
        """The history as GetDurableExecutionHistory ``Events`` (PascalCase dictionaries)."""
        events: list[dict[str, Any]] = to_wire(self.history(arn))
        if not include_execution_data:
            for event in events:
                for value in event.values():
                    if isinstance(value, dict):
                        for key in ("Input", "Result"):
                            if key in value:
                                value[key] = {"Truncated": True}
        return events

    # --- the invocation loop -----------------------------------------------------------------

    def run(self, arn: str, handler: Handler, *, max_invocations: int = 10_000) -> ExecutionStatus:
        """Invoke ``handler`` until the execution ends or waits for an outside event."""
        ex = self.execution(arn)
        failures = 0
        empty_pending = 0
        for _ in range(max_invocations):
            if ex.status is not ExecutionStatus.RUNNING:
                break
            crashed = self._invoke(ex, handler)
            if ex.status is not ExecutionStatus.RUNNING:
                break
            if crashed is not None:
                failures += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    self._complete(ex, ExecutionStatus.FAILED, None, crashed)
                continue
            failures = 0
            if not ex.has_pending_work() and not ex.dirty:
                empty_pending += 1
                if empty_pending >= MAX_EMPTY_PENDING:
                    self._complete(
                        ex,
                        ExecutionStatus.FAILED,
                        None,
                        ErrorObject(
                            error_message="Cannot return PENDING status with no pending operations",
                            error_type="InvalidParameterValueException",
                        ),
                    )
                continue
            empty_pending = 0
            if not self._advance_to_next_timer(ex) and not ex.dirty:
                break  # waiting for something from outside (a callback)
        return ex.status

    def before_invoke(self, ex: Execution) -> None:
        """Called before each invocation of ``ex`` (a hook for testing tools)."""

    def invocation_event(self, arn: str) -> dict[str, Any]:
        """Open an invocation of ``arn`` and return its event (for driving a handler by hand).

        A fresh checkpoint token is minted; the previous invocation's token stops working.
        """
        ex = self.execution(arn)
        with self._lock:
            ex.invocations += 1
            ex.token = _token()
            ex.dirty.clear()
            visible = ex.visible_operations()
            first = visible[: self.page_size]
            marker = str(self.page_size) if len(visible) > self.page_size else ""
            return {
                "DurableExecutionArn": ex.arn,
                "CheckpointToken": ex.token,
                "InitialExecutionState": {"Operations": to_wire(first), "NextMarker": marker},
            }

    def _invoke(self, ex: Execution, handler: Handler) -> ErrorObject | None:
        self.before_invoke(ex)
        event = self.invocation_event(ex.arn)
        request_id = str(uuid.uuid4())
        started = self.clock.now()
        crash: ErrorObject | None = None
        output: Any = None
        try:
            output = handler(event, None)
        except (InvocationKilled, SystemExit, KeyboardInterrupt):
            crash = ErrorObject(
                error_message=f"RequestId: {request_id} Error: Runtime exited with error: "
                "exit status 1",
                error_type=_EXIT_ERROR,
            )
        except Exception as exc:
            crash = ErrorObject(error_message=str(exc), error_type=type(exc).__name__)
        with self._lock:
            ex.token = None
            ended = self.clock.now()
            ex.append(
                Event(
                    event_type="InvocationCompleted",
                    event_id=0,
                    event_timestamp=ended,
                    details=EventDetails(
                        start_timestamp=started,
                        end_timestamp=ended,
                        request_id=request_id,
                        error=error(crash) if crash else None,
                    ),
                ),
            )
            if crash is None:
                self._settle(ex, output)
        return crash

    def _settle(self, ex: Execution, output: Any) -> None:
        if not isinstance(output, dict) or output.get("Status") not in (
            "SUCCEEDED",
            "FAILED",
            "PENDING",
        ):
            self._complete(
                ex,
                ExecutionStatus.FAILED,
                None,
                ErrorObject(
                    error_message=f"invalid handler response: {str(output)[:200]}",
                    error_type="InvalidParameterValueException",
                ),
            )
            return
        status = output["Status"]
        if (status == "SUCCEEDED" and "Error" in output) or (
            status == "FAILED" and "Result" in output
        ):
            self._complete(
                ex,
                ExecutionStatus.FAILED,
                None,
                ErrorObject(
                    error_message=f"a {status} response must not carry "
                    f"{'Error' if status == 'SUCCEEDED' else 'Result'}",
                    error_type="InvalidParameterValueException",
                ),
            )
            return
        closing = ex.closing
        if status == "SUCCEEDED":
            result = output.get("Result")
            if not result and closing is not None:
                result = closing[1]
            self._complete(ex, ExecutionStatus.SUCCEEDED, result, None)
        elif status == "FAILED":
            err_dict = output.get("Error")
            err = (
                ErrorObject(
                    error_message=err_dict.get("ErrorMessage"),
                    error_type=err_dict.get("ErrorType"),
                    error_data=err_dict.get("ErrorData"),
                    stack_trace=err_dict.get("StackTrace"),
                )
                if isinstance(err_dict, dict)
                else (closing[2] if closing is not None else None)
            )
            self._complete(ex, ExecutionStatus.FAILED, None, err)

    def _complete(
        self,
        ex: Execution,
        status: ExecutionStatus,
        result: str | None,
        err: ErrorObject | None,
    ) -> None:
        now = self.clock.now()
        ex.status = status
        ex.result = result
        ex.error = err
        ex.end_timestamp = now
        op = ex.operations[ex.execution_id]
        ex.operations[op.id] = _evolve(op, status=OperationStatus(status.value), end_timestamp=now)
        kind = {
            ExecutionStatus.SUCCEEDED: "ExecutionSucceeded",
            ExecutionStatus.FAILED: "ExecutionFailed",
            ExecutionStatus.TIMED_OUT: "ExecutionTimedOut",
            ExecutionStatus.STOPPED: "ExecutionStopped",
        }[status]
        details = (
            EventDetails(result=payload(result))
            if status is ExecutionStatus.SUCCEEDED
            else EventDetails(error=error(err))
        )
        ex.append(
            Event(
                event_type=kind,
                event_id=0,
                event_timestamp=now,
                details=details,
                id=op.id,
                name=ex.name,
            ),
        )

    # --- timers ------------------------------------------------------------------------------

    def _advance_to_next_timer(self, ex: Execution) -> bool:
        with self._lock:
            if not ex.timers:
                return False
            due = ex.timers[0][0]
        self.clock.advance_to(due)
        with self._lock:
            fire_due(ex, self.clock.now())
        return True

    # --- the service API ---------------------------------------------------------------------

    def _checked(self, arn: str, token: str) -> Execution:
        ex = self._executions.get(arn)
        if ex is None:
            raise ServiceError(
                "ResourceNotFoundException", f"no durable execution {arn}", status=404
            )
        if ex.token is None or not secrets.compare_digest(ex.token, token):
            raise ServiceError(
                "InvalidParameterValueException", "Invalid checkpoint token", status=400
            )
        return ex

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        """``CheckpointDurableExecution``."""
        with self._lock:
            ex = self._checked(arn, token)
            ex.checkpoint_calls += 1
            crash_after = ex.crash_points.pop(ex.checkpoint_calls, None)
            if crash_after is False:
                ex.token = None
                raise InvocationKilled(f"crash injected before checkpoint {ex.checkpoint_calls}")
            check_batch(ex.operations, updates)
            now = self.clock.now()
            for update in updates:
                apply_update(ex, update, now)
            fire_due(ex, now)
            if crash_after:
                ex.token = None
                raise InvocationKilled(f"crash injected after checkpoint {ex.checkpoint_calls}")
            changed = [ex.operations[i] for i in ex.dirty if i in ex.operations]
            ex.dirty.clear()
            if ex.closing is not None:
                ex.token = None
            else:
                ex.token = _token()
            return CheckpointResponse(
                new_execution_state=ExecutionState(operations=changed), checkpoint_token=ex.token
            )

    def get_state(self, arn: str, token: str, marker: str, max_items: int) -> ExecutionState:
        """``GetDurableExecutionState``: a page of the visible operations."""
        with self._lock:
            ex = self._checked(arn, token)
            try:
                start = int(marker or 0)
            except ValueError:
                raise ServiceError(
                    "InvalidParameterValueException", "Invalid marker", status=400
                ) from None
            size = min(max(max_items or 100, 1), 1000, self.page_size)
            visible = ex.visible_operations()
            page = visible[start : start + size]
            end = start + size
            return ExecutionState(
                operations=page, next_marker=str(end) if end < len(visible) else None
            )

    # --- applying updates --------------------------------------------------------------------


def _evolve(op: Operation, **changes: Any) -> Operation:
    return attrs.evolve(op, **changes)
