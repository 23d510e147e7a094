"""The local emulator of the Lambda durable-execution service.

It accepts and rejects checkpoints like the service (:mod:`.rules`), keeps the execution's
operations and history (:mod:`.history`), fires timers for waits and retry delays on a
real or virtual clock (:mod:`.clock`), and re-invokes the handler after every suspension,
exactly as the service does, so every local run exercises replay. It serves the callback
APIs (:mod:`.callbacks`: ``send_callback_success/failure/heartbeat``, timeouts, scripted
outside actions) and chained invokes of registered targets (:mod:`.invokes`).

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

A callback at the wire level: START it, answer it from outside, see the operation change:
    >>> from orchestra.wire.models import OperationUpdate
    >>> arn = service.start_execution("approver", None)
    >>> event = service.invocation_event(arn)
    >>> answer = service.checkpoint(arn, event["CheckpointToken"], [OperationUpdate(
    ...     id="cb", type=OperationType.CALLBACK, action=OperationAction.START, name="ok?")])
    >>> callback_id = answer.new_execution_state.operations[0].callback_details.callback_id
    >>> service.send_callback_success(callback_id, b'"yes"')
    >>> op = service.execution(arn).operations["cb"]
    >>> op.status.value, op.callback_details.result
    ('SUCCEEDED', '"yes"')
    >>> service.send_callback_success(callback_id, b'"again"')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    orchestra.service.api.ServiceError: CallbackTimeoutException: The callback ID token ...
"""

from __future__ import annotations

import base64
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from orchestra.service.api import ServiceError
from orchestra.service.local.callbacks import (
    CallbackAction,
    CallbackState,
    check_callback_id,
    encode_result,
    fail_callback,
    heartbeat_callback,
    succeed_callback,
)
from orchestra.service.local.clock import Clock, VirtualClock
from orchestra.service.local.execution import Execution
from orchestra.service.local.history import error
from orchestra.service.local.invokes import ACCOUNT, REGION, Invokes, Target, child_outcome
from orchestra.service.local.lifecycle import close_execution, judge_output, open_execution
from orchestra.service.local.rules import check_batch
from orchestra.service.local.transitions import apply_update, fire_due
from orchestra.wire.converter import to_wire
from orchestra.wire.models import (
    CheckpointResponse,
    ErrorObject,
    Event,
    EventDetails,
    ExecutionState,
    ExecutionStatus,
    OperationAction,
    OperationType,
    OperationUpdate,
)

__all__ = ["Execution", "InvocationKilled", "LocalService"]

A = OperationAction

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
        self._handlers: dict[str, Handler] = {}
        self._invokes = Invokes(self._start_child)
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
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}:$LATEST"
            f"/durable-execution/{name}/{secrets.token_hex(16)}"
        )
        ex = open_execution(
            arn, name, function_name, input_payload, execution_timeout, self.clock.now()
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
        """Invoke ``handler`` until the execution ends or waits for an outside event.

        Between invocations the virtual clock skips to the next timer of the execution or
        of a child execution a chained invoke started (waits, retry delays, callback
        timeouts, scheduled callback actions, chained invokes); the handler is invoked
        again whenever an operation changed. Calling ``run`` again later (after a callback
        was sent from outside) continues the execution.
        """
        ex = self.execution(arn)
        self._handlers[arn] = handler
        invocations = 0
        while ex.status is ExecutionStatus.RUNNING and invocations < max_invocations:
            with self._lock:
                due = next((e for e in self._family(ex) if e.needs_invocation()), None)
            if due is None:
                if not self._advance(ex):
                    break  # waiting for something from outside (a callback)
                continue
            invocations += 1
            crashed = self._invoke(due, self._handlers[due.arn])
            self._after_invocation(due, crashed)
        return ex.status

    def _after_invocation(self, ex: Execution, crashed: ErrorObject | None) -> None:
        with self._lock:
            if ex.status is not ExecutionStatus.RUNNING:
                return
            if crashed is not None:
                ex.failures += 1
                if ex.failures >= MAX_CONSECUTIVE_FAILURES:
                    self._complete(ex, ExecutionStatus.FAILED, None, crashed)
                ex.wake = True
                return
            ex.failures = 0
            if ex.has_pending_work() or ex.dirty:
                ex.empty_pending = 0
                return
            ex.empty_pending += 1
            ex.wake = True
            if ex.empty_pending >= MAX_EMPTY_PENDING:
                self._complete(
                    ex,
                    ExecutionStatus.FAILED,
                    None,
                    ErrorObject(
                        error_message="Cannot return PENDING status with no pending operations",
                        error_type="InvalidParameterValueException",
                    ),
                )

    def _family(self, ex: Execution) -> list[Execution]:
        """``ex`` and the running child executions its chained invokes started."""
        found: list[Execution] = []
        stack = [ex]
        while stack:
            current = stack.pop()
            if current.status is ExecutionStatus.RUNNING:
                found.append(current)
                stack.extend(self._executions[a] for a in reversed(current.child_arns))
        return found

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
            ex.wake = False
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
        verdict = judge_output(output, ex.closing)
        if verdict is not None:
            self._complete(ex, *verdict)

    def _complete(
        self,
        ex: Execution,
        status: ExecutionStatus,
        result: str | None,
        err: ErrorObject | None,
    ) -> None:
        now = self.clock.now()
        close_execution(ex, status, result, err, now)
        if ex.invoked_by is not None:
            parent_arn, op_id = ex.invoked_by
            child_outcome(self._executions[parent_arn], op_id, ex, now)

    # --- timers ------------------------------------------------------------------------------

    def _advance(self, ex: Execution) -> bool:
        """Skip to the next moment something falls due in ``ex``'s family and fire it."""
        with self._lock:
            family = self._family(ex)
            moments = [m for m in (e.next_due() for e in family) if m is not None]
            if not moments:
                return False
        self.clock.advance_to(min(moments))
        with self._lock:
            now = self.clock.now()
            for member in family:
                fire_due(member, now)
                member.run_agenda(now)
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
                if update.type is OperationType.CHAINED_INVOKE and update.action is A.START:
                    self._invokes.start(ex, update, now)
                else:
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

    # --- callbacks (SendDurableExecutionCallback*) ---------------------------------------

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> None:
        """``SendDurableExecutionCallbackSuccess``: the callback succeeds with ``result``.

        ``result`` is the request body (at most 256 KiB); the operation stores it as text.

        Raises:
            ServiceError: ``InvalidParameterValueException`` (400) for a malformed id or a
                body too large or not UTF-8; ``ResourceNotFoundException`` (404) for an
                unknown id; ``CallbackTimeoutException`` (400) once the callback has
                completed or timed out, or its execution has ended.
        """
        with self._lock:
            check_callback_id(callback_id)
            text = encode_result(result)
            ex, state = self._callback(callback_id)
            succeed_callback(ex, state, text, self.clock.now())

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        """``SendDurableExecutionCallbackFailure``: the callback fails with ``error``.

        Raises:
            ServiceError: as :meth:`send_callback_success`.
        """
        with self._lock:
            check_callback_id(callback_id)
            ex, state = self._callback(callback_id)
            fail_callback(ex, state, error, self.clock.now())

    def send_callback_heartbeat(self, callback_id: str) -> None:
        """``SendDurableExecutionCallbackHeartbeat``: restart the heartbeat timeout.

        Raises:
            ServiceError: as :meth:`send_callback_success`.
        """
        with self._lock:
            check_callback_id(callback_id)
            ex, state = self._callback(callback_id)
            heartbeat_callback(ex, state, self.clock.now())

    def script_callbacks(self, arn: str, actions: Iterable[CallbackAction]) -> None:
        """Have the outside world act on ``arn``'s callbacks, on the virtual clock.

        Each :class:`CallbackAction` applies to the first callback that starts afterwards
        with a matching name, ``delay_seconds`` after its start (see its documentation).
        """
        with self._lock:
            self.execution(arn).callback_script.extend((a, [False]) for a in actions)

    def _callback(self, callback_id: str) -> tuple[Execution, CallbackState]:
        for ex in self._executions.values():
            state = ex.callbacks.get(callback_id)
            if state is not None:
                return ex, state
        raise ServiceError("ResourceNotFoundException", "Callback not found.", status=404)

    # --- chained invokes -----------------------------------------------------------------

    def register_target(self, function_name: str, target: Target) -> None:
        """Serve chained invokes of ``function_name`` (name or ARN, ``:qualifier`` optional).

        ``target`` is a plain function of the JSON-decoded payload, or a
        :class:`DurableTarget` run as a child durable execution (see :mod:`.invokes`).
        """
        with self._lock:
            self._invokes.register(function_name, target)

    def _start_child(
        self, function_name: str, input_payload: str | None, handler: Handler
    ) -> Execution:
        arn = self.start_execution(function_name, input_payload)
        self._handlers[arn] = handler
        return self._executions[arn]
