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
    >>> service.send_callback_success(callback_id, b'"yes"') == arn
    True
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
import hashlib
import itertools
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import attrs

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
from orchestra.service.local.store import ExecutionSummary, MemoryStore, Store, Transaction
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

__all__ = ["Execution", "InvocationCrashed", "InvocationKilled", "LocalService"]

#: The error a stopped execution records when StopDurableExecution names none.
STOPPED_ERROR = ErrorObject(
    error_message="Execution stopped by user request", error_type="ExecutionStopped"
)

A = OperationAction
_START = OperationAction.START
_CHAINED_INVOKE = OperationType.CHAINED_INVOKE

Handler = Callable[[dict[str, Any], Any], Any]

MAX_CONSECUTIVE_FAILURES = 5
MAX_EMPTY_PENDING = 3
_EXIT_ERROR = "Runtime.ExitError"


class InvocationKilled(BaseException):
    """The emulator ended the invocation at a checkpoint (crash injection)."""


class InvocationCrashed(Exception):
    """A handler host's report that the invocation died, recorded as its error as is.

    Raise it from a handler standing for a process (a worker that exited, a Lambda runtime
    error): the invocation ends as a failed one with ``error_type`` and ``message``, not
    with the class name of whatever Python exception stood for it.

    Example:
        >>> InvocationCrashed("Runtime.ExitError", "exit status 1").error_type
        'Runtime.ExitError'
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class _Tokens:
    """Unguessable checkpoint tokens without a system call each.

    Tokens are 33 bytes in base64 (44 characters), cut from blocks of keyed SHAKE-256
    output: block ``n`` is ``SHAKE-256(key || n)``, under a 256-bit key drawn once from the
    operating system. That is as unpredictable as fresh random bytes to anyone without the
    key, and one hash serves :attr:`PER_BLOCK` tokens, so a token costs a string slice.
    """

    #: How many tokens one block holds.
    PER_BLOCK = 256
    _BYTES = 33  # a multiple of 3: each token is a whole run of base64 characters
    _CHARS = _BYTES // 3 * 4

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._counter = itertools.count()  # next() on it is atomic: no two calls share a value
        #: The last block used, with its number. A block is a function of its number, so
        #: threads racing to replace it can only rebuild the same text.
        self._block: tuple[int, str] = (-1, "")

    def __call__(self) -> str:
        number, index = divmod(next(self._counter), self.PER_BLOCK)
        block = self._block
        if block[0] != number:
            block = (number, self._text(number))
            self._block = block
        start = index * self._CHARS
        return block[1][start : start + self._CHARS]

    def _text(self, number: int) -> str:
        """Block ``number``: its tokens, one after the other."""
        stream = hashlib.shake_256(self._key + number.to_bytes(16, "big"))
        return base64.b64encode(stream.digest(self._BYTES * self.PER_BLOCK)).decode()


_token = _Tokens()

#: The leading fields of the checkpoint answer, in the order ``_apply`` passes them.
_ANSWER_ORDER = (("new_execution_state", "checkpoint_token"), ("operations",))
if (
    tuple(field.name for field in attrs.fields(CheckpointResponse))[:2],
    tuple(field.name for field in attrs.fields(ExecutionState))[:1],
) != _ANSWER_ORDER:  # pragma: no cover - the wire model changed
    raise ImportError("CheckpointResponse's or ExecutionState's fields changed: update _apply")


class _LockedTransaction:
    """``with``: the engine's lock, then a store transaction (a class: cheaper than a generator)."""

    __slots__ = ("_inner", "_lock", "_store")

    def __init__(self, lock: threading.RLock, store: Store) -> None:
        self._lock = lock
        self._store = store
        self._inner: AbstractContextManager[Transaction] | None = None

    def __enter__(self) -> Transaction:
        self._lock.acquire()
        try:
            self._inner = self._store.transaction()
            return self._inner.__enter__()
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, kind: Any, error: Any, trace: Any) -> bool | None:
        try:
            assert self._inner is not None
            return self._inner.__exit__(kind, error, trace)
        finally:
            self._lock.release()


class _MemoryTransaction:
    """``with`` on an in-memory store: just the engine's lock."""

    __slots__ = ("_lock", "store")

    def __init__(self, lock: threading.RLock, store: MemoryStore) -> None:
        self._lock = lock
        self.store = store

    def __enter__(self) -> MemoryStore:
        self._lock.acquire()
        return self.store

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        self._lock.release()


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _refuse_if_driven_elsewhere(arn: str, pid: int | None) -> None:
    """Raise ``ConflictException`` while another live process drives ``arn``."""
    if pid is not None and pid != os.getpid() and _process_alive(pid):
        raise ServiceError(
            "ConflictException",
            f"execution {arn} is being run by process {pid}; wait for it to end "
            "or stop that process first",
            status=409,
        )


class LocalService:
    """A durable-execution service on one machine, with a virtual (default) or real clock.

    Args:
        clock: the emulator's clock (default: a :class:`VirtualClock`).
        page_size: how many operations the invocation event and each state page carry.
        store: where executions live (default: a :class:`~.store.MemoryStore`; a
            :class:`~.sqlite_store.SQLiteStore` keeps them across processes).
        skip_outside: whether the virtual clock skips ahead to the outside world's
            deadlines (a callback's timeouts). ``False`` (``orchestra run``) leaves them to
            real time: :meth:`run` returns when only such a deadline is left.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        page_size: int = 1000,
        store: Store | None = None,
        skip_outside: bool = True,
    ) -> None:
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise ValueError(f"LocalService page_size must be an int >= 1, got {page_size!r}")
        self.clock: Clock = clock or VirtualClock()
        self.page_size = page_size
        self.store: Store = store if store is not None else MemoryStore()
        self.skip_outside = skip_outside
        self._handlers: dict[str, Handler] = {}
        self._invokes = Invokes(self._start_child)
        self._lock = threading.RLock()
        self._memory_txn: _MemoryTransaction | None = None
        latest = self.store.latest_timestamp()
        if latest is not None and isinstance(self.clock, VirtualClock):
            self.clock.advance_to(latest)  # never earlier than what the history shows

    def _txn(self) -> AbstractContextManager[Transaction]:
        store = self.store
        if type(store) is MemoryStore:
            memory = self._memory_txn
            if memory is None or memory.store is not store:
                # it keeps no state between uses: one serves every (nested) transaction
                memory = self._memory_txn = _MemoryTransaction(self._lock, store)
            return memory
        return _LockedTransaction(self._lock, store)

    @staticmethod
    def _get(tx: Transaction, arn: str) -> Execution:
        ex = tx.get(arn)
        if ex is None:
            raise ServiceError(
                "ResourceNotFoundException", f"no durable execution {arn}", status=404
            )
        return ex

    # --- executions --------------------------------------------------------------------------

    def start_execution(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        execution_timeout: int = 86_400,
        entry: str | None = None,
    ) -> str:
        """Create an execution (not yet invoked) and return its ARN.

        ``execution_timeout`` (seconds) is recorded in the history as the service does; the
        emulator does not enforce it yet. ``entry`` (``"module:attr"``) records where the
        workflow lives, so that another process can resume the execution.
        """
        name = name or uuid.uuid4().hex
        arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}:$LATEST"
            f"/durable-execution/{name}/{secrets.token_hex(16)}"
        )
        with self._txn() as tx:
            ex = open_execution(
                arn,
                name,
                function_name,
                input_payload,
                execution_timeout,
                self.clock.now(),
                entry=entry,
            )
            tx.add(ex)
        return arn

    def execution(self, arn: str) -> Execution:
        """The execution with ``arn`` (read again when another process changed it)."""
        with self._txn() as tx:
            return self._get(tx, arn)

    def list_executions(
        self, function_name: str | None = None, status: ExecutionStatus | None = None
    ) -> list[ExecutionSummary]:
        """Every execution (of one function, in one status), oldest first."""
        return self.store.executions(function_name, status)

    def stop_execution(self, arn: str, error: ErrorObject | None = None) -> datetime:
        """``StopDurableExecution``: end a running execution as ``STOPPED``; its stop time.

        Its invocation in flight, if any, loses its token: its next checkpoint is refused.

        Raises:
            ServiceError: ``ResourceNotFoundException`` (404) for an unknown ARN,
                ``InvalidParameterValueException`` (400) once the execution has ended.
        """
        with self._txn() as tx:
            ex = self._get(tx, arn)
            if ex.status is not ExecutionStatus.RUNNING:
                raise ServiceError(
                    "InvalidParameterValueException",
                    f"Execution {arn} has already ended ({ex.status.value}); only a running "
                    "execution can be stopped.",
                    status=400,
                )
            ex.token = None
            self._complete(tx, ex, ExecutionStatus.STOPPED, None, error or STOPPED_ERROR)
            assert ex.end_timestamp is not None
            return ex.end_timestamp

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
        self._handlers[arn] = handler
        self.recover(arn)
        self._claim(arn)
        try:
            self._drive(arn, max_invocations)
        finally:
            with self._txn() as tx:
                ex = self._get(tx, arn)
                if ex.runner == os.getpid():
                    ex.runner = None
        return self.execution(arn).status

    def _claim(self, arn: str) -> None:
        """Record this process as the one driving ``arn``; refuse if a live other one is."""
        with self._txn() as tx:
            ex = self._get(tx, arn)
            _refuse_if_driven_elsewhere(arn, ex.runner)
            ex.runner = os.getpid()

    def _drive(self, arn: str, max_invocations: int) -> None:
        invocations = 0
        while invocations < max_invocations:
            with self._txn() as tx:
                ex = self._get(tx, arn)
                if ex.status is not ExecutionStatus.RUNNING:
                    break
                due = next((e for e in self._family(tx, ex) if e.needs_invocation()), None)
                if due is not None and due.arn not in self._handlers:
                    self._orphan(tx, due)
                    continue
            if due is None:
                if not self._advance(arn):
                    break  # waiting for something from outside (a callback)
                continue
            invocations += 1
            crashed = self._invoke(due.arn, self._handlers[due.arn])
            self._after_invocation(due.arn, crashed)

    def recover(self, arn: str) -> bool:
        """Close an invocation whose process died (``orchestra resume`` after a kill).

        An execution records the process running its invocation. When that process is
        gone, the invocation ends as a failed one (``Runtime.ExitError``), as the service
        records a Lambda that died, and the execution is invoked again. Returns whether
        there was such an invocation.

        Raises:
            ServiceError: ``ConflictException`` (409) while another live process runs it.
        """
        with self._txn() as tx:
            ex = self._get(tx, arn)
            pid = ex.invoking
            if pid is None or ex.status is not ExecutionStatus.RUNNING:
                return False
            _refuse_if_driven_elsewhere(arn, pid)
            crash = ErrorObject(
                error_message=f"Runtime exited: the process running the invocation ({pid}) "
                "ended before it answered",
                error_type=_EXIT_ERROR,
            )
            now = self.clock.now()
            self._record_invocation(ex, ex.invocation_started or now, now, crash)
            ex.failures += 1
            ex.wake = True
            return True

    def _orphan(self, tx: Transaction, ex: Execution) -> None:
        """Fail an execution this process has no handler for (a child after a restart)."""
        self._complete(
            tx,
            ex,
            ExecutionStatus.FAILED,
            None,
            ErrorObject(
                error_message=f"no handler for function {ex.function_name} in this process "
                "(a chained invoke's child cannot be resumed by another process)",
                error_type="ResourceNotFoundException",
            ),
        )

    def _after_invocation(self, arn: str, crashed: ErrorObject | None) -> None:
        with self._txn() as tx:
            ex = self._get(tx, arn)
            if ex.status is not ExecutionStatus.RUNNING:
                return
            if crashed is not None:
                ex.failures += 1
                if ex.failures >= MAX_CONSECUTIVE_FAILURES:
                    self._complete(tx, ex, ExecutionStatus.FAILED, None, crashed)
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
                    tx,
                    ex,
                    ExecutionStatus.FAILED,
                    None,
                    ErrorObject(
                        error_message="Cannot return PENDING status with no pending operations",
                        error_type="InvalidParameterValueException",
                    ),
                )

    def _family(self, tx: Transaction, ex: Execution) -> list[Execution]:
        """``ex`` and the running child executions its chained invokes started."""
        found: list[Execution] = []
        stack = [ex]
        while stack:
            current = stack.pop()
            if current.status is ExecutionStatus.RUNNING:
                found.append(current)
                stack.extend(self._get(tx, a) for a in reversed(current.child_arns))
        return found

    def before_invoke(self, ex: Execution) -> None:
        """Called before each invocation of ``ex`` (a hook for testing tools)."""

    def invocation_event(self, arn: str) -> dict[str, Any]:
        """Open an invocation of ``arn`` and return its event (for driving a handler by hand).

        A fresh checkpoint token is minted; the previous invocation's token stops working.
        """
        with self._txn() as tx:
            ex = self._get(tx, arn)
            ex.invocations += 1
            ex.invoking = os.getpid()
            ex.invocation_started = self.clock.now()
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

    def _invoke(self, arn: str, handler: Handler) -> ErrorObject | None:
        self.before_invoke(self.execution(arn))
        event = self.invocation_event(arn)
        request_id = str(uuid.uuid4())
        started = self.clock.now()
        crash: ErrorObject | None = None
        output: Any = None
        interrupted: KeyboardInterrupt | None = None
        try:
            output = handler(event, None)
        except (InvocationKilled, SystemExit, KeyboardInterrupt) as exc:
            crash = ErrorObject(
                error_message=f"RequestId: {request_id} Error: Runtime exited with error: "
                "exit status 1",
                error_type=_EXIT_ERROR,
            )
            if isinstance(exc, KeyboardInterrupt):
                interrupted = exc
        except InvocationCrashed as exc:
            crash = ErrorObject(error_message=exc.message, error_type=exc.error_type)
        except Exception as exc:
            crash = ErrorObject(error_message=str(exc), error_type=type(exc).__name__)
        with self._txn() as tx:
            ex = self._get(tx, arn)
            self._record_invocation(ex, started, self.clock.now(), crash, request_id)
            if crash is None:
                self._settle(tx, ex, output)
            elif interrupted is not None:
                ex.wake = True  # resumable: the next run invokes it again
        if interrupted is not None:
            raise interrupted  # Ctrl-C stops the run; the execution stays resumable
        return crash

    def _record_invocation(
        self,
        ex: Execution,
        started: datetime,
        ended: datetime,
        crash: ErrorObject | None,
        request_id: str | None = None,
    ) -> None:
        """End the invocation in flight: its token dies and ``InvocationCompleted`` is logged."""
        ex.token = None
        ex.invoking = None
        ex.invocation_started = None
        ex.append(
            Event(
                event_type="InvocationCompleted",
                event_id=0,
                event_timestamp=ended,
                details=EventDetails(
                    start_timestamp=started,
                    end_timestamp=ended,
                    request_id=request_id or str(uuid.uuid4()),
                    error=error(crash) if crash else None,
                ),
            ),
        )

    def _settle(self, tx: Transaction, ex: Execution, output: Any) -> None:
        verdict = judge_output(output, ex.closing)
        if verdict is not None:
            self._complete(tx, ex, *verdict)

    def _complete(
        self,
        tx: Transaction,
        ex: Execution,
        status: ExecutionStatus,
        result: str | None,
        err: ErrorObject | None,
    ) -> None:
        now = self.clock.now()
        close_execution(ex, status, result, err, now)
        if ex.invoked_by is not None:
            parent_arn, op_id = ex.invoked_by
            child_outcome(self._get(tx, parent_arn), op_id, ex, now)

    # --- timers ------------------------------------------------------------------------------

    def _advance(self, arn: str) -> bool:
        """Skip to the next moment something falls due in ``arn``'s family and fire it.

        Without :attr:`skip_outside`, what is already due fires first, and the outside
        world's deadlines are not skipped to: with only those left, nothing happens.
        """
        with self._txn() as tx:
            family = self._family(tx, self._get(tx, arn))
            if not self.skip_outside:
                before = sum(member.event_count() for member in family)
                self._fire(family, self.clock.now())
                if sum(member.event_count() for member in family) != before or any(
                    member.needs_invocation() for member in family
                ):
                    return True
            moments = [
                m for m in (e.next_due(outside=self.skip_outside) for e in family) if m is not None
            ]
            if not moments:
                return False
        self.clock.advance_to(min(moments))
        with self._txn() as tx:
            self._fire(self._family(tx, self._get(tx, arn)), self.clock.now())
        return True

    @staticmethod
    def _fire(family: list[Execution], now: datetime) -> None:
        for member in family:
            fire_due(member, now)
            member.run_agenda(now)

    # --- the service API ---------------------------------------------------------------------

    def _checked(self, tx: Transaction, arn: str, token: str) -> Execution:
        ex = self._get(tx, arn)
        if ex.token is None or not secrets.compare_digest(ex.token, token):
            raise ServiceError(
                "InvalidParameterValueException", "Invalid checkpoint token", status=400
            )
        return ex

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        """``CheckpointDurableExecution``: all of ``updates`` are applied and saved, or none."""
        killed: InvocationKilled | None = None
        answer: CheckpointResponse | None = None
        with self._txn() as tx:
            ex = self._checked(tx, arn, token)
            ex.checkpoint_calls += 1
            crash_after = ex.crash_points.pop(ex.checkpoint_calls, None)
            if crash_after is False:
                ex.token = None
                killed = InvocationKilled(f"crash injected before checkpoint {ex.checkpoint_calls}")
            else:
                answer = self._apply(ex, updates, crash_after)
                if answer is None:
                    killed = InvocationKilled(
                        f"crash injected after checkpoint {ex.checkpoint_calls}"
                    )
        if killed is not None or answer is None:
            raise killed or InvocationKilled("crash injected")
        return answer

    def _apply(
        self, ex: Execution, updates: Sequence[OperationUpdate], crash_after: bool | None
    ) -> CheckpointResponse | None:
        """Apply an accepted call's ``updates``; ``None`` when a crash is injected after it."""
        operations = ex.operations
        check_batch(operations, updates)
        now = self.clock.now()
        for update in updates:
            if update.type is _CHAINED_INVOKE and update.action is _START:
                self._invokes.start(ex, update, now)
            else:
                apply_update(ex, update, now)
        if ex.timers:
            fire_due(ex, now)
        if crash_after:
            ex.token = None
            return None
        changed = [operations[i] for i in ex.dirty if i in operations]
        ex.dirty.clear()
        if ex.closing is not None:
            ex.token = None
        else:
            ex.token = _token()
        # by position, in the order _ANSWER_ORDER pins (a hot path)
        return CheckpointResponse(ExecutionState(changed), ex.token)

    def get_state(self, arn: str, token: str, marker: str, max_items: int) -> ExecutionState:
        """``GetDurableExecutionState``: a page of the visible operations."""
        with self._txn() as tx:
            ex = self._checked(tx, arn, token)
            try:
                start = int(marker or 0)
            except ValueError:
                raise ServiceError(
                    "InvalidParameterValueException", "Invalid marker", status=400
                ) from None
            size = min(max(max_items or 100, 1), 1000, self.page_size)
            visible = ex.visible_operations_cached()
            page = visible[start : start + size]
            end = start + size
            return ExecutionState(
                operations=page, next_marker=str(end) if end < len(visible) else None
            )

    # --- callbacks (SendDurableExecutionCallback*) ---------------------------------------

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> str:
        """``SendDurableExecutionCallbackSuccess``: the callback succeeds with ``result``.

        ``result`` is the request body (at most 256 KiB); the operation stores it as text.

        Raises:
            ServiceError: ``InvalidParameterValueException`` (400) for a malformed id or a
                body too large or not UTF-8; ``ResourceNotFoundException`` (404) for an
                unknown id; ``CallbackTimeoutException`` (400) once the callback has
                completed or timed out, or its execution has ended.
        """
        with self._txn() as tx:
            check_callback_id(callback_id)
            text = encode_result(result)
            ex, state = self._callback(tx, callback_id)
            succeed_callback(ex, state, text, self.clock.now())
            return ex.arn

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> str:
        """``SendDurableExecutionCallbackFailure``: the callback fails with ``error``.

        Raises:
            ServiceError: as :meth:`send_callback_success`.
        """
        with self._txn() as tx:
            check_callback_id(callback_id)
            ex, state = self._callback(tx, callback_id)
            fail_callback(ex, state, error, self.clock.now())
            return ex.arn

    def send_callback_heartbeat(self, callback_id: str) -> str:
        """``SendDurableExecutionCallbackHeartbeat``: restart the heartbeat timeout.

        Raises:
            ServiceError: as :meth:`send_callback_success`.
        """
        with self._txn() as tx:
            check_callback_id(callback_id)
            ex, state = self._callback(tx, callback_id)
            heartbeat_callback(ex, state, self.clock.now())
            return ex.arn

    def script_callbacks(self, arn: str, actions: Iterable[CallbackAction]) -> None:
        """Have the outside world act on ``arn``'s callbacks, on the virtual clock.

        Each :class:`CallbackAction` applies to the first callback that starts afterwards
        with a matching name, ``delay_seconds`` after its start (see its documentation).
        """
        with self._txn() as tx:
            self._get(tx, arn).callback_script.extend((a, [False]) for a in actions)

    def _callback(self, tx: Transaction, callback_id: str) -> tuple[Execution, CallbackState]:
        arn = tx.callback_owner(callback_id)
        if arn is not None:
            ex = self._get(tx, arn)
            return ex, ex.callbacks[callback_id]
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
        return self.execution(arn)
