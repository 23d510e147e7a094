"""One execution's state inside the emulator: operations, history, timers, token.

Two kinds of timers: ``timers`` complete the execution's own operations (waits, retry
delays) and also fire at checkpoints; the ``agenda`` holds what the world outside the
function does (callback timeouts, scripted callback actions, chained invokes), which the
engine runs only between invocations. Agenda items marked *outside* are deadlines the outside
world sets (a callback's timeouts): a service that must not skip ahead of the outside world
(``orchestra run``) waits for them in real time instead.

The execution also remembers what changed since a store last saved it (``unsaved_ops``,
``unsaved_callbacks``, ``saved_events``), so a persistent store writes only the difference.

The history is kept cheaply: an accepted update's event is recorded as the update, the
operation after it and the moment (:meth:`Execution.append_update`), and becomes an
:class:`~orchestra.wire.models.Event` only when the history is read (:attr:`Execution.events`),
with the EventId and timestamp it would have had if built at once.

Example:
    >>> ex = Execution("arn:x/durable-execution/n/abc", "n", "fn", None)
    >>> ex.execution_id, ex.has_pending_work()
    ('abc', False)
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from orchestra.service.local.history import started_event, succeeded_event, update_event
from orchestra.wire.models import (
    ErrorObject,
    Event,
    ExecutionStatus,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

if TYPE_CHECKING:
    from orchestra.service.local.callbacks import CallbackAction, CallbackState

__all__ = ["Execution"]

_STEP = OperationType.STEP
_CONTEXT = OperationType.CONTEXT
_START_ACTION = OperationAction.START
_SUCCEED_ACTION = OperationAction.SUCCEED
#: The markers of a pending START and SUCCEED event (see Execution.append_update).
_STARTED_EVENT = "started"
_SUCCEEDED_EVENT = "succeeded"

#: Something the service does at a moment: called with the current time.
AgendaItem = Callable[[datetime], None]


class Execution:
    """One execution's state inside the emulator."""

    def __init__(
        self,
        arn: str,
        name: str,
        function_name: str,
        input_payload: str | None,
        *,
        entry: str | None = None,
    ) -> None:
        self.arn = arn
        self.name = name
        self.function_name = function_name
        self.input_payload = input_payload
        #: Where the workflow lives (``"module:attr"``), for a later process to resume it.
        self.entry = entry
        self.status = ExecutionStatus.RUNNING
        self.result: str | None = None
        self.error: ErrorObject | None = None
        self.operations: dict[str, Operation] = {}
        self.children: dict[str, list[str]] = {}
        self.hidden: set[str] = set()
        self._events: list[Event] = []
        #: The accepted updates whose events are not built yet, the operations after them
        #: and the moments they were applied (three lists rather than a list of tuples: no
        #: object per update for the garbage collector to walk). Appended in this order.
        #: An event added whole (:meth:`append`) waits in its place too: no update, the
        #: event where the operation would be.
        #: A START or SUCCEED of a STEP or CONTEXT is kept as a marker instead of its update,
        #: with the operation's id (START) or the operation (SUCCEED): see append_update.
        self._pending_updates: list[OperationUpdate | str | None] = []
        self._pending_ops: list[Operation | Event | str] = []
        self._pending_times: list[datetime] = []
        self._events_lock = threading.Lock()
        self.dirty: dict[str, None] = {}
        self.timers: list[tuple[datetime, int, str]] = []
        self.token: str | None = None
        self.checkpoint_calls = 0
        self.invocations = 0
        self.crash_points: dict[int, bool] = {}
        self.closing: tuple[ExecutionStatus, str | None, ErrorObject | None] | None = None
        self.start_timestamp: datetime | None = None
        self.end_timestamp: datetime | None = None
        self._timer_seq = 0
        self.agenda: list[tuple[datetime, int, AgendaItem, bool]] = []
        #: Whether the execution must be invoked (again) before anything else happens.
        self.wake = True
        self.failures = 0
        self.empty_pending = 0
        #: The callbacks it started, by callback id.
        self.callbacks: dict[str, CallbackState] = {}
        #: Scripted outside actions on its callbacks, and which of them were used.
        self.callback_script: list[tuple[CallbackAction, list[bool]]] = []
        #: ``(parent ARN, CHAINED_INVOKE op id)`` when a chained invoke started it.
        self.invoked_by: tuple[str, str] | None = None
        #: The child executions its chained invokes started.
        self.child_arns: list[str] = []
        #: The process running its invocation now (``None`` between invocations), and since when.
        self.invoking: int | None = None
        #: The process driving it (:meth:`LocalService.run`), ``None`` when none is.
        self.runner: int | None = None
        self.invocation_started: datetime | None = None
        #: What a persistent store has not written yet (see the module documentation).
        self.unsaved_ops: dict[str, None] = {}
        self.unsaved_callbacks: dict[str, None] = {}
        self.saved_events = 0
        #: The version of the execution a persistent store last read or wrote.
        self.version = 0
        #: Counts changes to the operations (for :meth:`visible_operations_cached`).
        self.revision = 0
        self._visible: tuple[int, list[Operation]] | None = None

    @property
    def execution_id(self) -> str:
        """The EXECUTION operation's id (the ARN's last segment)."""
        return self.arn.rsplit("/", 1)[-1]

    def visible_operations(self) -> list[Operation]:
        """The state handed to the handler (children of completed contexts left out)."""
        return [op for op in self.operations.values() if op.id not in self.hidden]

    def visible_operations_cached(self) -> list[Operation]:
        """:meth:`visible_operations`, computed once per change (state pages ask for it often).

        Do not change the list returned.
        """
        if self._visible is None or self._visible[0] != self.revision:
            self._visible = (self.revision, self.visible_operations())
        return self._visible[1]

    def has_pending_work(self) -> bool:
        """Whether some operation waits for the service (a timer, a callback, an invoke)."""
        for op in self.operations.values():
            if op.type is OperationType.STEP and op.status in (
                OperationStatus.PENDING,
                OperationStatus.READY,
            ):
                return True
            if (
                op.type
                in (OperationType.WAIT, OperationType.CALLBACK, OperationType.CHAINED_INVOKE)
                and op.status is OperationStatus.STARTED
            ):
                return True
        return False

    def store(self, op: Operation) -> None:
        """Save ``op`` (a new or changed operation) and mark it for the next response."""
        op_id = op.id
        operations = self.operations
        if op_id not in operations and op.parent_id is not None:
            siblings = self.children.get(op.parent_id)
            if siblings is None:
                self.children[op.parent_id] = [op_id]
            else:
                siblings.append(op_id)
        operations[op_id] = op
        self.dirty[op_id] = None
        self.unsaved_ops[op_id] = None
        self.revision += 1

    def put(self, op: Operation) -> None:
        """Save ``op`` without reporting it to the handler (the EXECUTION operation)."""
        self.operations[op.id] = op
        self.unsaved_ops[op.id] = None
        self.revision += 1

    @property
    def events(self) -> list[Event]:
        """The history, in order (the events of accepted updates are built on first read)."""
        if self._pending_times:
            self._build_pending()
        return self._events

    @events.setter
    def events(self, events: list[Event]) -> None:
        with self._events_lock:
            self._pending_updates.clear()
            self._pending_ops.clear()
            self._pending_times.clear()
            self._events = events

    def event_count(self) -> int:
        """How many events the history holds (without building any)."""
        with self._events_lock:  # not halfway through a build in another thread
            return len(self._events) + len(self._pending_times)

    def append(self, event: Event) -> None:
        """Add ``event`` to the history with the next EventId.

        ``event`` must be new (made for this call, shared with nobody): its id is set in
        place, which is several times cheaper than copying it. It waits behind the pending
        events of accepted updates, so adding it (an invocation's end, say) builds none.
        """
        self._pending_updates.append(None)
        self._pending_ops.append(event)
        self._pending_times.append(event.event_timestamp)

    def append_update(self, update: OperationUpdate, op: Operation, when: datetime) -> None:
        """Add the event of the accepted ``update`` (``op`` is the operation after it).

        The event is :func:`~.history.update_event` of the three, built when the history is
        next read; ``update`` must not be a CANCEL (whose event comes from the operation).

        A START or SUCCEED of a STEP or CONTEXT (nearly every update) keeps neither the
        update nor, for a START, the operation it made: a START's event needs only the
        operation's identity (no later update may change it), read from the operation
        then stored under its id; a SUCCEED's needs the operation, which stores the
        update's payload as its result. A Map's thousands of items leave that much less
        for the garbage collector to walk.
        """
        kind = op.type
        action = update.action
        if (kind is _STEP or kind is _CONTEXT) and update.error is None:
            if action is _START_ACTION:
                self._pending_updates.append(_STARTED_EVENT)
                self._pending_ops.append(op.id)
                self._pending_times.append(when)
                return
            if action is _SUCCEED_ACTION:
                self._pending_updates.append(_SUCCEEDED_EVENT)
                self._pending_ops.append(op)
                self._pending_times.append(when)
                return
        self._pending_updates.append(update)
        self._pending_ops.append(op)
        self._pending_times.append(when)

    def _build_pending(self) -> None:
        with self._events_lock:
            self._build_pending_locked()

    def _build_pending_locked(self) -> None:
        """Build the pending events in order (the caller holds ``_events_lock``).

        Only those complete on entry are taken (their time, appended last, is there), so an
        update appended meanwhile by another thread stays pending, in its place.
        """
        times = self._pending_times
        count = len(times)
        if not count:
            return
        updates, ops, events = self._pending_updates, self._pending_ops, self._events
        operations = self.operations
        for update, op, when in zip(updates[:count], ops[:count], times[:count], strict=True):
            if update is None:  # an event added whole
                assert isinstance(op, Event)
                event: Event | None = op
            elif update is _STARTED_EVENT:
                assert isinstance(op, str)
                event = started_event(operations[op], when)
            elif update is _SUCCEEDED_EVENT:
                assert isinstance(op, Operation)
                event = succeeded_event(op, when)
            else:
                assert isinstance(op, Operation) and isinstance(update, OperationUpdate)
                event = update_event(update, op, when)
            assert event is not None  # append_update is never given a CANCEL
            object.__setattr__(event, "event_id", len(events) + 1)
            events.append(event)
        del updates[:count], ops[:count], times[:count]

    def hide_children(self, context_id: str) -> None:
        """Withhold a completed context's descendants from the state handed out."""
        tree = self.children
        children = tree.get(context_id)
        if children is None:
            return
        if len(children) == 1:  # (a Map item's context: its one step, nothing below)
            child = children[0]
            if child != context_id and child not in tree:
                self.hidden.add(child)
                self.unsaved_ops[child] = None
                self.revision += 1
                return
        stack = list(children)
        seen = {context_id}  # (a cycle of parent links, from a damaged store, ends here)
        while stack:
            child = stack.pop()
            if child in seen:
                continue
            seen.add(child)
            self.hidden.add(child)
            self.unsaved_ops[child] = None
            self.revision += 1
            stack.extend(self.children.get(child, ()))

    def arm(self, due: datetime, op_id: str) -> None:
        """Start a timer for ``op_id`` (a wait, a retry delay)."""
        self._timer_seq += 1
        heapq.heappush(self.timers, (due, self._timer_seq, op_id))

    def schedule(self, due: datetime, item: AgendaItem, *, outside: bool = False) -> None:
        """Have the service call ``item(now)`` at ``due``, between two invocations.

        ``outside`` marks a deadline the outside world sets (a callback's timeout).
        """
        self._timer_seq += 1
        heapq.heappush(self.agenda, (due, self._timer_seq, item, outside))

    def next_due(self, *, outside: bool = True) -> datetime | None:
        """The earliest moment a timer or an agenda item falls due (``None``: nothing).

        With ``outside=False`` the outside world's deadlines are left out.
        """
        moments = [self.timers[0][0]] if self.timers else []
        if outside:
            if self.agenda:
                moments.append(self.agenda[0][0])
        else:
            moments.extend(due for due, _, _, is_outside in self.agenda if not is_outside)
        return min(moments, default=None)

    def run_agenda(self, now: datetime) -> None:
        """Call every agenda item due by ``now``, in order (items may schedule more)."""
        while self.agenda and self.agenda[0][0] <= now:
            _, _, item, _ = heapq.heappop(self.agenda)
            item(now)

    def needs_invocation(self) -> bool:
        """Whether the handler must run now: woken, or an operation changed since."""
        return self.status is ExecutionStatus.RUNNING and (self.wake or bool(self.dirty))
