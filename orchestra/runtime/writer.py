"""The checkpoint writer: one thread that owns the token and makes every checkpoint call.

Calls are strictly serial (each consumes the token the previous one returned). There is
**no idle linger**: the writer sends as soon as the invocation says that nothing can make
progress without a reply. Updates that nobody waits for (an at-least-once step's START)
ride along with the next flush, and are sent on their own only once they are older than
``async_bound`` seconds, so a quick step's START and SUCCEED share one call.

Who makes a call: the producer itself, when it would otherwise sit idle waiting for the
answer (:meth:`CheckpointWriter.send_now`: no hand-off to another thread and back), or the
writer's own thread, which sends what is due by ``async_bound`` (a slow step's START) or
asked for with :meth:`CheckpointWriter.flush`. Only one call is ever in flight; the
writer's thread sleeps until the oldest queued update falls due and is woken only when a
submission makes that moment earlier, not once per update.

A call is cut (the rest goes in the next call, in order) so that it holds

* at most :data:`MAX_BATCH_UPDATES` updates and :data:`MAX_BATCH_BYTES` of update JSON (a
  single larger update goes alone);
* at most one update per operation id, except that a STEP or CONTEXT ``START`` may be
  followed by one other action for the same id (the service's batch rule), so never two
  updates of the same kind for one id;
* nothing after an EXECUTION update.

The writer cannot hang or lie:

* every exception on its thread (from the service, the converter, paging, ``on_ack``...)
  reaches ``on_error`` and is logged at ERROR with its traceback; the thread then stops;
* a batch is acknowledged only after its answer carried a new checkpoint token (or
  legitimately none: the call ended with an EXECUTION update, which completes the
  execution) and every page of ``NewExecutionState`` was read. An answer without a token
  otherwise is malformed: ``on_error`` gets a retryable
  :class:`~orchestra.errors.CheckpointError`;
* no wait is unbounded: the thread polls, and stops on its own if the thread that created
  the writer ends without closing it; :meth:`~CheckpointWriter.close` and
  :meth:`~CheckpointWriter.abort` take bounded time.

Each call is logged at DEBUG on ``orchestra.checkpoint`` with its number of updates, its
size and the service's RequestId; payloads and tokens are never logged.

Example:
    >>> from orchestra.service.local import LocalService
    >>> from orchestra.wire.models import (
    ...     OperationAction, OperationType, OperationUpdate, WaitOptions)
    >>> service = LocalService()
    >>> arn = service.start_execution("fn", "{}")
    >>> token = service.execution(arn).token = "dG9rZW4="
    >>> done = threading.Event()
    >>> writer = CheckpointWriter(
    ...     service, arn, token, on_ack=lambda acks, ops: done.set(), on_error=print
    ... )
    >>> writer.submit(OperationUpdate(id="w", type=OperationType.WAIT,
    ...     action=OperationAction.START, wait_options=WaitOptions(5)), ack=1)
    >>> writer.flush()
    >>> done.wait(5)
    True
    >>> writer.close(5)
    True
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from json.encoder import encode_basestring_ascii

import attrs

from orchestra.errors import CheckpointError, GetStateError
from orchestra.service.api import Call, DurableService, ServiceError, classify
from orchestra.wire.converter import to_wire
from orchestra.wire.models import (
    CheckpointResponse,
    ExecutionState,
    Operation,
    OperationAction,
    OperationType,
    OperationUpdate,
)

__all__ = [
    "ABORT_JOIN_SECONDS",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_UPDATES",
    "STATE_PAGE_SIZE",
    "CheckpointWriter",
    "OnAck",
    "OnError",
    "read_pages",
]

MAX_BATCH_UPDATES = 250
MAX_BATCH_BYTES = 750 * 1024
STATE_PAGE_SIZE = 1000
#: How long :meth:`CheckpointWriter.abort` waits for a call in flight.
ABORT_JOIN_SECONDS = 5.0
#: The longest the writer thread sleeps before re-checking that its producer is alive.
_POLL_SECONDS = 0.5
#: The shortest the idle writer thread sleeps between looks at its queue (see ``_next_batch``).
_IDLE_FLOOR_SECONDS = 0.01

#: Called on the writer thread with the acknowledged ``ack`` ids and the merged operations.
OnAck = Callable[[list[int], list[Operation]], None]
#: Called on the writer thread with the error that stopped the writer.
OnError = Callable[[BaseException], None]

_LOG = logging.getLogger("orchestra.checkpoint")
_SHARED_START = frozenset({OperationType.STEP, OperationType.CONTEXT})
_EXECUTION = OperationType.EXECUTION


@attrs.define
class _Item:
    """One queued submission: an update (``None`` for an empty call) and its bookkeeping."""

    seq: int
    update: OperationUpdate | None
    ack: int | None
    owner: int | None
    queued_at: float
    size: int | None = None  # JSON bytes, measured on the writer thread


def _measure(item: _Item) -> int:
    """The exact size of the item's update as compact JSON, in bytes (cached)."""
    if item.size is None:
        wire = to_wire(item.update) if item.update is not None else None
        item.size = 0 if wire is None else len(json.dumps(wire, separators=(",", ":")).encode())
    return item.size


#: More than the keys, punctuation, enumeration values and numbers of any update take.
_FIXED_BYTES = 640


def _rough(item: _Item) -> int:
    """A coarser upper bound of :func:`_measure` than :func:`_bound`, from lengths alone.

    A character is at most 12 bytes of JSON (a non-BMP character escaped as a surrogate
    pair); an error is measured.
    """
    update = item.update
    if update is None:
        return 0
    if item.size is not None:
        return item.size
    chars = len(update.id) + len(update.payload or "")
    for text in (update.parent_id, update.name, update.sub_type):
        if text is not None:
            chars += len(text)
    invoke = update.chained_invoke_options
    if invoke is not None:
        chars += len(invoke.function_name) + len(invoke.tenant_id or "")
    size = _FIXED_BYTES + 12 * chars
    if update.error is not None:
        size += len(json.dumps(to_wire(update.error), separators=(",", ":")).encode())
    return size


def _text(value: str | None) -> int:
    return 0 if value is None else len(encode_basestring_ascii(value))


def _bound(item: _Item) -> int:
    """An upper bound of :func:`_measure`, without converting the update (cheap).

    Strings are measured escaped exactly as JSON writes them; everything else (keys,
    enumerations, numbers, options) fits in :data:`_FIXED_BYTES`; an error is measured.
    """
    update = item.update
    if update is None:
        return 0
    if item.size is not None:
        return item.size
    size = (
        _FIXED_BYTES
        + _text(update.id)
        + _text(update.parent_id)
        + _text(update.name)
        + _text(update.sub_type)
        + _text(update.payload)
    )
    if update.error is not None:
        size += len(json.dumps(to_wire(update.error), separators=(",", ":")).encode())
    invoke = update.chained_invoke_options
    if invoke is not None:
        size += _text(invoke.function_name) + _text(invoke.tenant_id)
    return size


def _may_follow(previous: OperationAction, update: OperationUpdate) -> bool:
    """Whether ``update`` may share a call with an earlier update ``previous`` of its id."""
    return (
        update.type in _SHARED_START
        and previous is OperationAction.START
        and update.action is not OperationAction.START
    )


class _Batch:
    """The items of one call, and the rules that decide where the call is cut."""

    __slots__ = ("closed", "cut_for_size", "items", "last_action", "size", "updates")

    def __init__(self) -> None:
        self.items: list[_Item] = []
        self.updates = 0
        self.size = 0
        self.last_action: dict[str, OperationAction] = {}
        self.closed = False  # an EXECUTION update ends the call
        self.cut_for_size = False  # the call ended because the next update was too large

    def take(self, item: _Item, size: int) -> bool:
        """Add ``item`` (of ``size`` bytes) if it may join this call; whether it did."""
        if self.closed:
            return False
        update = item.update
        if update is None:
            self.items.append(item)  # an empty call adds nothing
            return True
        if self.updates:  # the first update always fits
            if self.updates >= MAX_BATCH_UPDATES:
                return False
            if self.size + size > MAX_BATCH_BYTES:
                self.cut_for_size = True
                return False
            previous = self.last_action.get(update.id)
            if previous is not None and not _may_follow(previous, update):
                return False
        self.items.append(item)
        self.updates += 1
        self.size += size
        self.last_action[update.id] = update.action
        self.closed = update.type is OperationType.EXECUTION
        return True

    def fill(self, queue: Iterable[_Item]) -> None:
        """:meth:`take` the queue's items in order, each sized by :func:`_rough`, while they fit.

        The same decisions, made inline for the common update (no error, no chained invoke,
        not measured yet), with the counts kept in locals: a Map's calls hold hundreds.
        """
        items = self.items
        last_action = self.last_action
        count = self.updates
        total = self.size
        try:
            for item in queue:
                update = item.update
                if (
                    update is None
                    or item.size is not None
                    or update.error is not None
                    or update.chained_invoke_options is not None
                    or self.closed
                ):
                    self.updates, self.size = count, total
                    if not self.take(item, _rough(item)):
                        return
                    count, total = self.updates, self.size
                    continue
                op_id = update.id
                chars = (
                    len(op_id)
                    + len(update.payload or "")
                    + len(update.parent_id or "")
                    + len(update.name or "")
                    + len(update.sub_type or "")
                )
                size = _FIXED_BYTES + 12 * chars
                action = update.action
                if count:
                    if count >= MAX_BATCH_UPDATES:
                        return
                    if total + size > MAX_BATCH_BYTES:
                        self.cut_for_size = True
                        return
                    previous = last_action.get(op_id)
                    if previous is not None and not _may_follow(previous, update):
                        return
                items.append(item)
                count += 1
                total += size
                last_action[op_id] = action
                if update.type is _EXECUTION:
                    self.closed = True
        finally:
            self.updates, self.size = count, total


def _no_token(response: CheckpointResponse) -> CheckpointError:
    """The error for an answer without a token to a call that did not end the execution."""
    return CheckpointError(
        "CheckpointDurableExecution answered without a CheckpointToken although the call did "
        f"not complete the execution: malformed answer (no token; RequestId "
        f"{response.request_id})",
        retryable=True,
        code="MalformedResponse",
        request_id=response.request_id,
    )


def read_pages(
    service: DurableService,
    arn: str,
    token: str,
    marker: str | None,
    *,
    logger: logging.Logger = _LOG,
) -> list[Operation]:
    """Read every ``GetDurableExecutionState`` page from ``marker`` on.

    Args:
        service: the backend.
        arn: the execution's ARN.
        token: the current checkpoint token (reads do not consume it).
        marker: the first page's marker; ``None`` or ``""`` reads nothing.
        logger: where each page is logged at DEBUG.

    Returns:
        The operations of every page, in order.

    Raises:
        GetStateError: a read failed, was malformed, or the service repeated a marker
            (it would page forever); classified retryable or not.
    """
    operations: list[Operation] = []
    seen: set[str] = set()
    while marker:
        seen.add(marker)
        try:
            page: ExecutionState = service.get_state(arn, token, marker, STATE_PAGE_SIZE)
        except ServiceError as exc:
            raise classify(exc, Call.GET_STATE) from exc
        logger.debug(
            "GetDurableExecutionState: %d operations, RequestId %s",
            len(page.operations),
            page.request_id,
        )
        operations.extend(page.operations)
        marker = page.next_marker
        if marker and marker in seen:
            raise GetStateError(
                f"GetDurableExecutionState answered with a marker it had already given "
                f"(RequestId {page.request_id}); paging would not end",
                code="MalformedResponse",
                request_id=page.request_id,
            )
    return operations


class CheckpointWriter:
    """Batches checkpoint updates and sends them from one background thread.

    Args:
        service: where checkpoints go.
        arn: the execution's ARN.
        token: the invocation's first checkpoint token.
        on_ack: receives the ``ack`` ids of a call's items and the operations the service
            returned (with every page merged), on the writer thread, once per call.
        on_error: receives the error that stopped the writer, on the writer thread: a
            classified :class:`~orchestra.errors.CheckpointError` (a checkpoint call failed
            or was answered with nonsense) or :class:`~orchestra.errors.GetStateError` (a
            page read did); check ``retryable``. Anything else is passed on as raised (a
            bug, or ``BaseException`` such as an emulated process crash).
        async_bound: how long (seconds) an update nobody waits for may wait for company;
            ``0`` sends every update at once.
        logger: where calls are logged (default: ``orchestra.checkpoint``).

    Nothing is called back after :meth:`abort`, nor after :meth:`close` timed out.
    """

    def __init__(
        self,
        service: DurableService,
        arn: str,
        token: str,
        *,
        on_ack: OnAck,
        on_error: OnError,
        async_bound: float = 0.05,
        logger: logging.Logger | None = None,
    ) -> None:
        self._service = service
        self._arn = arn
        self._token: str | None = token
        self._on_ack = on_ack
        self._on_error = on_error
        self._async_bound = async_bound
        # (not below _IDLE_FLOOR_SECONDS: with a tinier bound, submissions wake it instead)
        self._idle_seconds = (
            min(_POLL_SECONDS, max(async_bound, _IDLE_FLOOR_SECONDS))
            if async_bound > 0
            else _POLL_SECONDS
        )
        self._log = logger or _LOG
        self._queue: deque[_Item] = deque()
        self._seq = 0
        self._flush_upto = 0  # items with a smaller seq are due
        # a plain lock (entered from C, unlike a Condition) guards the state; the condition
        # shares it, for the writer thread's sleeps
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._closing = False
        self._aborted = False  # no more calls and no more callbacks
        self._stopped = False  # the thread has stopped (failed, or abandoned)
        self._calling = False  # a call is in flight (on either thread)
        #: When the writer thread's current sleep ends (``-inf`` while it is awake).
        self._wake_at = -math.inf
        self._owner = threading.current_thread()
        self._thread = threading.Thread(target=self._run, name="orchestra-checkpoint", daemon=True)
        self._thread.start()

    # --- producer side (the invocation thread) -----------------------------------------------

    def submit(
        self, update: OperationUpdate | None, *, ack: int | None = None, owner: int | None = None
    ) -> None:
        """Queue one update, or with ``None`` an empty call (fresh state, a new token).

        Args:
            update: the update, or ``None`` for an empty checkpoint call.
            ack: acknowledged through ``on_ack`` once the call holding this item answered;
                ``None`` when nobody waits (the item may linger up to ``async_bound``).
            owner: a tag for :meth:`withdraw`.

        Raises:
            RuntimeError: the writer was closed or aborted. After a failure (already
                reported to ``on_error``) submissions are dropped.
        """
        with self._lock:
            if self._closing or self._aborted:
                raise RuntimeError("the checkpoint writer is closed")
            if self._stopped:
                return
            item = _Item(self._seq, update, ack, owner, time.monotonic())
            self._seq += 1
            self._queue.append(item)
            if self._async_bound <= 0:
                self._flush_upto = self._seq
            self._nudge()

    def submit_all(
        self, items: Sequence[tuple[OperationUpdate | None, int | None, int | None]]
    ) -> None:
        """:meth:`submit` each ``(update, ack, owner)`` in order, under one lock.

        Raises:
            RuntimeError: the writer was closed or aborted (nothing is queued then).
        """
        with self._lock:
            if self._closing or self._aborted:
                raise RuntimeError("the checkpoint writer is closed")
            if self._stopped:
                return
            queued_at = time.monotonic()
            seq = self._seq
            append = self._queue.append
            for update, ack, owner in items:
                append(_Item(seq, update, ack, owner, queued_at))
                seq += 1
            self._seq = seq
            if self._async_bound <= 0:
                self._flush_upto = seq
            self._nudge()

    def _nudge(self) -> None:
        """Wake the writer thread if the queue's head falls due before it would look again.

        Called with the lock held. The thread is not woken for each submission, only when
        its planned wake-up is too late (or it must close).
        """
        if self._calling and not self._closing:
            return  # the call's end nudges again
        if self._closing:
            self._cond.notify_all()
            return
        if not self._queue:
            return
        head = self._queue[0]
        due = -math.inf if head.seq < self._flush_upto else head.queued_at + self._async_bound
        if due < self._wake_at:
            self._cond.notify_all()
            # woken: it looks at the queue before it sleeps again, so later submissions
            # need not wake it again (until then, it counts as awake)
            self._wake_at = -math.inf

    def flush(self) -> None:
        """Have the writer thread send everything queued so far, without waiting for more."""
        with self._lock:
            if self._flush_upto < self._seq:
                self._flush_upto = self._seq
                self._cond.notify_all()

    @property
    def queued(self) -> int:
        """How many updates wait to be sent (a hint: it may change at once)."""
        return len(self._queue)

    def send_now(self, *, once: bool = False) -> bool:
        """Send everything queued so far on the calling thread, in as many calls as needed.

        The producer calls this when it would otherwise sit idle until an answer: the call
        is made right here, with no hand-off to the writer thread and back. Acknowledgements
        and failures are reported through ``on_ack`` and ``on_error`` (on this thread)
        before it returns; a failure is never raised.

        Args:
            once: make one call at most (what does not fit stays queued, for the caller to
                send with whatever joins it).

        Returns:
            Whether calls were made. ``False`` when nothing is queued, the writer stopped,
            or a call is already in flight on the writer thread; then everything queued is
            marked due, and the writer thread sends it as soon as that call ends.
        """
        sent = False
        while True:
            with self._lock:
                if self._aborted or self._stopped or self._closing or not self._queue:
                    return sent
                self._flush_upto = max(self._flush_upto, self._seq)
                if self._calling:
                    return sent
                self._calling = True
                try:
                    batch = self._cut()
                except BaseException as exc:
                    failure: BaseException | None = exc
                else:
                    failure = None
            if failure is not None:
                self._fail(failure)
                return True
            if not self._call(batch):
                return True
            sent = True
            if once:
                return sent

    def withdraw(self, owners: Collection[int]) -> None:
        """Drop the queued, not yet sent items whose owner is in ``owners``."""
        with self._lock:
            kept = [item for item in self._queue if item.owner is None or item.owner not in owners]
            self._queue = deque(kept)

    def close(self, timeout: float | None) -> bool:
        """Send what is queued, then stop the thread.

        Args:
            timeout: the longest to wait, in seconds; ``None`` waits until the calls end
                (each is bounded by the client's own timeouts).

        Returns:
            Whether the writer finished in time. When it did not, it is aborted: the call in
            flight is abandoned and nothing more is sent or called back.
        """
        with self._lock:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            return True
        self._log.warning("the checkpoint writer did not finish within %s s; aborting", timeout)
        self._halt()
        return False

    def abort(self) -> None:
        """Stop without sending what is queued (the invocation is dying); bounded."""
        self._halt()
        self._thread.join(ABORT_JOIN_SECONDS)

    def _halt(self) -> None:
        with self._lock:
            self._aborted = True
            self._queue.clear()
            self._cond.notify_all()

    # --- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                batch = self._next_batch()
            except BaseException as exc:  # measuring an update failed: on_error hears it
                self._fail(exc)
                return
            if batch is None or not self._call(batch):
                return

    def _call(self, batch: list[_Item]) -> bool:
        """Send ``batch`` (this thread set ``_calling``); whether the writer goes on."""
        try:
            acks, operations = self._send(batch)
            with self._lock:
                if self._aborted:
                    return False
            self._on_ack(acks, operations)
        except BaseException as exc:  # every failure, even a crash, reaches on_error
            self._fail(exc)
            return False
        finally:
            with self._lock:
                self._calling = False
                self._nudge()
        return True

    def _delay(self) -> float | None:
        """Seconds until the head of the queue is due (``<= 0``: now); ``None``: empty."""
        if not self._queue:
            return None
        head = self._queue[0]
        if self._closing or head.seq < self._flush_upto:
            return 0.0
        return head.queued_at + self._async_bound - time.monotonic()

    def _next_batch(self) -> list[_Item] | None:
        with self._lock:
            while True:
                if self._aborted or self._stopped:
                    return None
                delay = self._delay()
                if self._calling:
                    if delay is not None and delay <= 0:
                        delay = None  # due, but the producer is calling: its end nudges
                elif delay is None and self._closing:
                    return None
                elif delay is not None and delay <= 0:
                    self._calling = True
                    return self._cut()
                if not self._closing and not self._owner.is_alive():
                    self._abandon()
                    return None
                # With nothing due, it looks again within the async bound: an update queued
                # meanwhile falls due no earlier than that, so submitting it needs no wake-up
                # (a Map queues STARTs all along; each notify would cost a thread switch).
                idle = self._idle_seconds
                timeout = idle if delay is None else min(delay, _POLL_SECONDS)
                self._wake_at = time.monotonic() + timeout
                self._cond.wait(timeout)
                self._wake_at = -math.inf

    def _abandon(self) -> None:
        self._log.warning(
            "the invocation thread ended without closing the checkpoint writer; "
            "%d queued updates are dropped",
            len(self._queue),
        )
        self._stopped = True
        self._queue.clear()

    def _cut(self) -> list[_Item]:
        """Take the next call's items off the queue.

        Sizes are first taken as cheap upper bounds (from lengths, then from escaped
        strings); only when those would end the call are the updates measured exactly, so
        a call is cut for size only if the next update really does not fit.
        """
        queue = self._queue
        if 0 < len(queue) <= 2:
            small = self._cut_small(queue)
            if small is not None:
                return small
        batch = _Batch()
        batch.fill(self._queue)  # (what self._plan(_rough) gives, faster)
        if batch.cut_for_size:
            batch = self._plan(_bound)
        if batch.cut_for_size:
            batch = self._plan(_measure)
        for _ in batch.items:
            self._queue.popleft()
        return batch.items

    @staticmethod
    def _cut_small(queue: deque[_Item]) -> list[_Item] | None:
        """:meth:`_cut` for one or two queued items (a step's START and its end), or ``None``.

        The same rules as :class:`_Batch` without its bookkeeping: the first item always
        goes; the second joins unless the first is an EXECUTION update or both are updates
        of one id that may not share a call. ``None`` (plan the general way) when the two
        might not fit :data:`MAX_BATCH_BYTES` by their rough sizes.
        """
        if len(queue) == 1:
            _rough(queue[0])  # sized as the general path would (an unwritable one fails here)
            return [queue.popleft()]
        first, second = queue
        size = _rough(first) + _rough(second)
        a, b = first.update, second.update
        if a is not None:
            if a.type is OperationType.EXECUTION:
                return [queue.popleft()]
            if b is not None:
                if size > MAX_BATCH_BYTES:
                    return None
                if a.id == b.id and not _may_follow(a.action, b):
                    return [queue.popleft()]
        queue.clear()
        return [first, second]

    def _plan(self, size_of: Callable[[_Item], int]) -> _Batch:
        batch = _Batch()
        for item in self._queue:
            size = size_of(item)
            if not batch.take(item, size):
                break
        return batch

    def _send(self, batch: Sequence[_Item]) -> tuple[list[int], list[Operation]]:
        updates = [item.update for item in batch if item.update is not None]
        response = self._checkpoint(batch, updates)
        state = response.new_execution_state
        operations = list(state.operations)
        if response.checkpoint_token:
            self._token = response.checkpoint_token
            if state.next_marker:
                pages = read_pages(
                    self._service, self._arn, self._token, state.next_marker, logger=self._log
                )
                operations.extend(pages)
        elif updates and updates[-1].type is OperationType.EXECUTION:
            self._token = None  # the execution completed: the token is spent, no paging
            self._log.debug("the execution completed; no checkpoint token is left")
        else:
            raise _no_token(response)
        return [item.ack for item in batch if item.ack is not None], operations

    def _checkpoint(
        self, batch: Sequence[_Item], updates: list[OperationUpdate]
    ) -> CheckpointResponse:
        if self._token is None:
            raise CheckpointError(
                "the execution has already completed (its last checkpoint spent the token); "
                f"{len(updates)} more updates cannot be sent",
                retryable=False,
                code="ExecutionEnded",
            )
        try:
            response = self._service.checkpoint(self._arn, self._token, updates)
        except ServiceError as exc:
            raise classify(exc, Call.CHECKPOINT) from exc
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug(
                "CheckpointDurableExecution: %d updates, %d bytes, RequestId %s",
                len(updates),
                sum(_measure(item) for item in batch),
                response.request_id,
            )
        return response

    def _fail(self, error: BaseException) -> None:
        with self._lock:
            self._stopped = True
            self._calling = False
            self._queue.clear()
            self._cond.notify_all()
            silent = self._aborted
        if isinstance(error, Exception):
            self._log.error("the checkpoint writer stopped: %s", error, exc_info=error)
        else:
            self._log.warning("the checkpoint writer stopped by %s", type(error).__name__)
        if silent:
            return
        try:
            self._on_error(error)
        except BaseException:
            self._log.exception("on_error raised; the writer's error is lost to the invocation")
