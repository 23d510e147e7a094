"""The pure interpreter: replays a workflow against its history and decides what is new.

A sans-I/O state machine in the spirit of h11. It consumes typed events
(:mod:`~orchestra.interpreter.events`: a step finished, checkpoints were acknowledged, time
passed) and hands back typed commands (:mod:`~orchestra.interpreter.commands`: send a
checkpoint, run a step, withdraw a cancelled fiber's updates). It never sleeps, never reads
a clock, never logs and never touches a thread or a socket: the time and the random numbers
(retry jitter) are passed in.

The machine owns the fiber tree, ids, replay lookups and determinism checks; what each kind
of operation does lives in its handler module (:mod:`.step`, :mod:`.wait`, :mod:`.child`),
registered in :data:`HANDLERS`, which acts only through the :class:`~.kernel.Kernel`
interface.

Example:
    >>> from orchestra.ops import Step
    >>> from orchestra.interpreter.events import Acknowledged, StepFinished
    >>> def workflow(name):
    ...     greeting = yield Step(str.upper, name, name="shout")
    ...     return greeting
    >>> machine = Machine(workflow, "hi", HistoryIndex(), execution_arn="arn")
    >>> [type(c).__name__ for c in machine.run()]
    ['Checkpoint', 'RunStep']
    >>> machine.handle(StepFinished(machine.running_steps()[0], "HI"))
    >>> [c.update.action.value for c in machine.run()]
    ['SUCCEED']
    >>> machine.handle(Acknowledged((1,)))
    >>> machine.run(), machine.outcome
    ([], Succeeded(result='"HI"'))
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Any

from orchestra.errors import (
    ExecutionError,
    OperationError,
    SerializationError,
    WorkflowDefinitionError,
)
from orchestra.interpreter.child import handle_child
from orchestra.interpreter.commands import (
    Checkpoint,
    Command,
    Failed,
    Outcome,
    RunStep,
    Succeeded,
    Suspended,
    Warn,
    Withdraw,
)
from orchestra.interpreter.determinism import check_exhausted, check_recorded
from orchestra.interpreter.events import (
    Acknowledged,
    Event,
    Resume,
    StepFinished,
    WriterFailed,
)
from orchestra.interpreter.fiber import Context, Done, Fiber, FiberState, Pending, Then
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.ids import operation_id
from orchestra.interpreter.kernel import Handler
from orchestra.interpreter.payloads import ANY_SERDE
from orchestra.interpreter.signals import BLOCKED, ExecutionFailure
from orchestra.interpreter.step import handle_step
from orchestra.interpreter.user_code import (
    error_object_of,
    not_an_op,
    raising,
    safe_str,
    start_workflow,
    where,
)
from orchestra.interpreter.wait import handle_wait
from orchestra.ops import Attempt, Child, Op, Step, Wait
from orchestra.serde import Serde
from orchestra.wire.models import (
    TERMINAL_STATUSES,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

__all__ = ["HANDLERS", "POLL_INTERVAL_MS", "Machine", "Observer", "ResumeHook", "load_handlers"]

#: The statuses this version knows (an unknown one is refused by ``check_recorded``).
_KNOWN_STATUSES = frozenset(OperationStatus)

#: Sees every yielded operation: ``(op_id, op, fiber path, position in its context)``.
Observer = Callable[[str, Op[Any], str, int], None]

#: Called as a fiber is resumed with ``(replaying, parent_id)``; returns the function that
#: undoes it when the fiber yields. The runtime sets the replay-aware logger's fields here.
ResumeHook = Callable[[bool, str | None], Callable[[], None]]

#: How long after a timer was polled in vain the machine polls again (milliseconds).
POLL_INTERVAL_MS = 1000

#: How each descriptor type is run. New operation types register here. The other built-in
#: operations are registered on first need (:func:`load_handlers`): a workflow made of
#: steps and waits does not import Map, callbacks or invokes at cold start.
HANDLERS: dict[type[Op[Any]], Handler] = {
    Step: handle_step,
    Wait: handle_wait,
    Child: handle_child,
}


def _callback_handlers() -> dict[type[Op[Any]], Handler]:
    from orchestra.callbacks import Callback, CallbackHandle, WaitForCallback
    from orchestra.interpreter.callback import (
        handle_await,
        handle_callback,
        handle_wait_for_callback,
    )

    return {
        Callback: handle_callback,
        CallbackHandle: handle_await,
        WaitForCallback: handle_wait_for_callback,
    }


def _condition_handlers() -> dict[type[Op[Any]], Handler]:
    from orchestra.conditions import WaitForCondition
    from orchestra.interpreter.condition import handle_wait_for_condition

    return {WaitForCondition: handle_wait_for_condition}


def _fanout_handlers() -> dict[type[Op[Any]], Handler]:
    from orchestra.fanout import Map, Parallel
    from orchestra.interpreter.fanout import handle_map, handle_parallel

    return {Map: handle_map, Parallel: handle_parallel}


def _invoke_handlers() -> dict[type[Op[Any]], Handler]:
    from orchestra.interpreter.invoke import handle_invoke
    from orchestra.invoke import Invoke

    return {Invoke: handle_invoke}


def _marker_handlers() -> dict[type[Op[Any]], Handler]:
    from orchestra.interpreter.markers import handle_patched, handle_uuid
    from orchestra.markers import Patched, Uuid

    return {Uuid: handle_uuid, Patched: handle_patched}


#: The other built-in operations' handlers, by the module that defines the descriptors: a
#: workflow that yields a Map loads the Map handlers, not those of callbacks or invokes.
_GROUPS: dict[str, Callable[[], dict[type[Op[Any]], Handler]]] = {
    "orchestra.callbacks": _callback_handlers,
    "orchestra.conditions": _condition_handlers,
    "orchestra.fanout": _fanout_handlers,
    "orchestra.invoke": _invoke_handlers,
    "orchestra.markers": _marker_handlers,
}
_LOADED: set[str] = set()


def load_handlers(module: str | None = None) -> None:
    """Register the handlers of the built-in operations (idempotent).

    Args:
        module: only those whose descriptors ``module`` defines (``"orchestra.fanout"``);
            ``None``: every one.
    """
    for name, handlers in _GROUPS.items():
        if name in _LOADED or (module is not None and name != module):
            continue
        for op_type, handler in handlers().items():
            HANDLERS.setdefault(op_type, handler)
        _LOADED.add(name)


S = FiberState


class Machine:
    """Interprets one invocation of a workflow.

    Args:
        workflow: a generator function taking the execution input (or no argument).
        input_value: the execution's input.
        history: the execution's checkpointed operations.
        execution_arn: the execution's ARN (for messages).
        random: a source of uniform numbers in [0, 1) for retry jitter.
        now_ms: the current time in epoch milliseconds when the invocation starts.
        clock: the current time in epoch milliseconds, read when an operation needs it
            during a :meth:`run` that was given no time (a workflow of steps never needs
            it, so a run reads no clock then).
        observer: called with ``(op_id, op, path, position)`` for every yielded operation
            (the testing tools record replays with it).
        on_resume: called around each resumption of a fiber (see :data:`ResumeHook`).
    """

    def __init__(
        self,
        workflow: Callable[..., Any],
        input_value: Any,
        history: HistoryIndex,
        *,
        execution_arn: str,
        random: Callable[[], float] = lambda: 0.5,
        now_ms: int = 0,
        clock: Callable[[], int] | None = None,
        observer: Observer | None = None,
        on_resume: ResumeHook | None = None,
    ) -> None:
        self._history = history
        self._observer = observer
        self._on_resume = on_resume
        self._arn = execution_arn
        self._random = random
        self._now_ms = now_ms
        self._clock = clock
        self._clock_stale = False  # the clock is read before the time is next used
        self._ready: deque[Fiber] = deque()
        self._commands: list[Command] = []
        self._steps: dict[str, Fiber] = {}  # op id -> the fiber waiting for that step
        # op id -> (owner, what gets the outcome) of a detached step (no fiber waits for it)
        self._detached: dict[str, tuple[int, Then]] = {}
        # owner of a detached operation still running -> the fiber it belongs to (cancelled
        # with it); dropped when its last checkpoint is acknowledged or a fiber adopts it
        self._detached_parents: dict[int, int] = {}
        self._acks: dict[int, Fiber] = {}  # ack number -> the fiber waiting for it
        # ack number -> (owner fiber id, what runs once it is durable)
        self._confirms: dict[int, tuple[int, Then]] = {}
        self._timers: dict[int, Fiber] = {}  # fiber id -> fiber parked on a timer or service
        self._poll_ack: int | None = None
        self._next_ack = 0
        self._next_fiber = 0
        self._closing = False
        self._serdes: dict[Any, Serde[Any]] = {}
        self.outcome: Outcome | None = None
        #: How many yielded operations the history already held, and how many were new.
        self.replayed = 0
        self.new = 0
        self._root: Fiber | None = None
        #: Whether the history held operations of an earlier invocation when this one began.
        self._prior = history.has_prior_operations()
        try:
            gen = start_workflow(workflow, input_value)
        except ExecutionError as exc:
            self._fail(exc)
            return
        self._root = self._new_fiber(gen, Context.root(), parent=None, replaying=self._prior)
        self._root.on_done = self._root_finished
        self._ready.append(self._root)

    # --- events in ---------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Consume one event from the shell (call :meth:`run` afterwards)."""
        if isinstance(event, StepFinished):
            self.step_finished(event.op_id, event.value, event.error)
        elif isinstance(event, Acknowledged):
            self.acknowledged(event.acks, event.operations)
        elif isinstance(event, Resume):
            self._now_ms = max(self._now_ms, event.now_ms)
        elif isinstance(event, WriterFailed):
            # Nothing after the failed call is durable: no fiber may see another value.
            self._close_all()
        else:  # pragma: no cover - the Event union is closed
            raise TypeError(f"not an interpreter event: {event!r}")

    def run(self, now_ms: int | None = None) -> list[Command]:
        """Run every runnable fiber until each one waits; return the new commands.

        Args:
            now_ms: the current time, if it moved since the last event.
        """
        if now_ms is not None:
            self._now_ms = max(self._now_ms, now_ms)
        elif self._clock is not None:
            self._clock_stale = True
        if self._closing:
            return self._take_commands()
        self._guarded(self._run_ready)
        if self.outcome is None:
            self._poll_due_timers()
        in_flight = (
            self._steps
            or self._detached
            or self._acks
            or self._confirms
            or self._poll_ack is not None
        )
        if self.outcome is None and not (self._ready or in_flight):
            self.outcome = Suspended()
        if self.outcome is not None:
            self._close_all()
        return self._take_commands()

    def step_finished(self, op_id: str, value: Any, error: BaseException | None) -> None:
        """Report the outcome of a :class:`RunStep` (``error`` set when the step raised).

        An outcome nobody waits for (the fiber was cancelled, the machine closed) is dropped.
        """
        fiber = self._steps.pop(op_id, None)
        if fiber is None:
            detached = self._detached.pop(op_id, None)
            if detached is not None and not self._closing:
                self._guarded(detached[1], value, error)
            return
        if self._closing or fiber.state is not S.ON_STEP:
            return
        pending = fiber.pending
        assert pending is not None and pending.then is not None
        self._guarded(pending.then, value, error)

    def acknowledged(self, acks: Iterable[int], operations: Iterable[Operation] = ()) -> None:
        """Report that checkpoints ``acks`` are durable; merge the returned ``operations``."""
        operations = list(operations)
        self._history.upsert(operations)
        if self._closing:
            return
        polled = False
        for ack in acks:
            if ack == self._poll_ack:
                self._poll_ack = None
                polled = True
                continue
            confirmed = self._confirms.pop(ack, None)
            if confirmed is not None:
                # (a detached operation's last checkpoint: it is over, nothing to cancel)
                self._detached_parents.pop(confirmed[0], None)
                self._guarded(confirmed[1])
                continue
            fiber = self._acks.pop(ack, None)
            if fiber is None or fiber.state is not S.ON_ACK:
                continue
            pending = fiber.pending
            assert pending is not None and pending.then is not None
            self._guarded(pending.then)
        if (polled or operations) and self._timers:
            self._recheck_timers()

    # --- what the shell may ask --------------------------------------------------------------

    def running_steps(self) -> list[str]:
        """Ids of steps handed to the shell and not yet finished."""
        return [*self._steps, *self._detached]

    @property
    def running_step_count(self) -> int:
        """How many steps were handed to the shell and have not finished."""
        return len(self._steps) + len(self._detached)

    @property
    def awaiting_acks(self) -> bool:
        """Whether some fiber waits for a checkpoint to be acknowledged (flush now)."""
        return bool(self._acks or self._confirms) or self._poll_ack is not None

    @property
    def next_wakeup_ms(self) -> int | None:
        """When a parked timer falls due while other work goes on (else ``None``).

        The shell sends :class:`~orchestra.interpreter.events.Resume` at that time.
        """
        if self.outcome is not None or not self._timers:
            return None
        dues = [f.pending.due_ms for f in self._timers.values() if f.pending and f.pending.due_ms]
        return min(dues) if dues else None

    def fibers(self) -> list[Fiber]:
        """Every fiber of the tree, the root first (for tests and diagnostics)."""
        return self._root.subtree() if self._root is not None else []

    # --- the kernel (what operation handlers use) --------------------------------------------

    @property
    def history(self) -> HistoryIndex:
        """The history index (operations by id)."""
        return self._history

    @property
    def now_ms(self) -> int:
        """The current time in epoch milliseconds, as last given by the shell."""
        if self._clock_stale:
            self._clock_stale = False
            assert self._clock is not None
            self._now_ms = max(self._now_ms, self._clock())
        return self._now_ms

    @property
    def execution_arn(self) -> str:
        """The execution's ARN."""
        return self._arn

    @property
    def serdes(self) -> dict[Any, Serde[Any]]:
        """A cache of codecs by function."""
        return self._serdes

    def random(self) -> float:
        """A uniform number in [0, 1) from the injected source (retry jitter)."""
        return self._random()

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

    def checkpoint(self, fiber: Fiber, update: OperationUpdate, then: Then | None = None) -> None:
        """Send ``update``; with ``then`` it is synchronous and the fiber waits for the ack."""
        if then is None:
            self._commands.append(Checkpoint(update, False, None, fiber.id))
            return
        self._next_ack += 1
        ack = self._next_ack
        self._move(fiber, S.ON_ACK, Pending(op_id=update.id, ack=ack, then=then))
        self._acks[ack] = fiber
        self._commands.append(Checkpoint(update, True, ack, fiber.id))

    def confirm(self, owner: Fiber, update: OperationUpdate, then: Then) -> None:
        """Send ``update`` synchronously; ``then()`` runs once it is durable.

        No fiber waits for it: a branch's SUCCEED while its parent waits on its siblings.
        ``owner`` names the fiber it belongs to (for withdrawal).
        """
        self._next_ack += 1
        self._confirms[self._next_ack] = (owner.id, then)
        self._commands.append(Checkpoint(update, True, self._next_ack, owner.id))

    def run_step(self, fiber: Fiber, command: RunStep, then: Then) -> None:
        """Ask the shell to run a step; ``then(value, error)`` runs with its outcome."""
        self._move(fiber, S.ON_STEP, Pending(op_id=command.op_id, then=then))
        self._steps[command.op_id] = fiber
        self._commands.append(command)

    @property
    def may_detach(self) -> bool:
        """Whether a new operation may run detached (see :meth:`detach`) in this invocation.

        Not with an observer: it sees every operation as a fiber yields it.
        """
        return self._observer is None

    @property
    def has_prior(self) -> bool:
        """Whether the history held an earlier invocation's operations when this one began.

        Without them, an operation missing from the history has nothing recorded after it
        either, and the replay checks of a new operation have nothing to find.
        """
        return self._prior

    def detach(self, parent: Fiber) -> int:
        """A new owner id for an operation run without a fiber of its own, counted as new.

        A detached operation is started by a handler of ``parent`` (a Map's item's one
        step) and reports to a callback; ``parent`` waits for it as for a child fiber, and
        :meth:`adopt` gives it a fiber when it needs one (a retry).
        """
        if parent.state is not S.ON_CHILDREN:
            self._move(parent, S.ON_CHILDREN)
        self.new += 1
        owner = self._next_fiber
        self._next_fiber += 1
        self._detached_parents[owner] = parent.id
        return owner

    def send(self, owner: int, update: OperationUpdate, then: Then | None = None) -> None:
        """Send ``update`` for ``owner``; with ``then``, synchronously: ``then()`` once durable."""
        if then is None:
            self._commands.append(Checkpoint(update, False, None, owner))
            return
        self._next_ack += 1
        self._confirms[self._next_ack] = (owner, then)
        self._commands.append(Checkpoint(update, True, self._next_ack, owner))

    def run_detached(self, command: RunStep, then: Then) -> None:
        """Run a step for ``command.owner``; ``then(value, error)`` gets its outcome."""
        self._detached[command.op_id] = (command.owner, then)
        self._commands.append(command)

    def cancel_detached(self, owner: int, op_id: str) -> None:
        """Cancel the detached operation ``owner``: as :meth:`cancel` does for a fiber."""
        self._detached.pop(op_id, None)
        self._detached_parents.pop(owner, None)
        for ack in [a for a, (who, _) in self._confirms.items() if who == owner]:
            del self._confirms[ack]
        self._commands.append(Withdraw(frozenset((owner,))))

    def adopt(
        self, parent: Fiber, owner: int, context: Context, op_id: str, on_done: Done
    ) -> Fiber:
        """A fiber, with the id ``owner``, for a detached operation ``op_id`` that needs one.

        It has yielded that one operation and waits for its step (``ON_STEP``); it has no
        generator: once woken, it finishes with the value or error it was woken with.
        """
        self._detached_parents.pop(owner, None)  # (cancelled with the tree from now on)
        fiber = Fiber(owner, None, context, parent=parent, replaying=False, on_done=on_done)
        fiber.counter = 1
        fiber.move_to(S.ON_STEP, Pending(op_id=op_id))
        return fiber

    def wait_timer(self, fiber: Fiber, op_id: str, due_ms: int, then: Then) -> None:
        """Park ``fiber`` until fresh state for ``op_id`` arrives (see :class:`Kernel`)."""
        self._move(fiber, S.ON_TIMER, Pending(op_id=op_id, due_ms=due_ms, then=then))
        self._timers[fiber.id] = fiber

    def wait_service(self, fiber: Fiber, op_id: str, then: Then) -> None:
        """Park ``fiber`` until the service completes ``op_id`` (a callback, an invoke).

        ``then()`` runs each time fresh state arrives; it must move the fiber on or park
        it again. With nothing else in flight the invocation suspends meanwhile.
        """
        self._move(fiber, S.ON_SERVICE, Pending(op_id=op_id, then=then))
        self._timers[fiber.id] = fiber

    def start_context(
        self,
        fiber: Fiber,
        body: Callable[[], Generator[Any, Any, Any]],
        context: Context,
        on_done: Done,
    ) -> None:
        """Run ``body()`` as a child fiber of ``fiber`` in ``context`` (one of several)."""
        if fiber.state is not S.ON_CHILDREN:
            self._move(fiber, S.ON_CHILDREN)
        try:
            gen = body()
        except ExecutionFailure:
            raise
        except Exception as exc:  # the body could not even start (wrong arguments)
            gen = raising(exc)
        first_id = operation_id(context.prefix, 1)
        replaying = self._history.get(first_id) is not None
        child = self._new_fiber(gen, context, parent=fiber, replaying=replaying)
        child.id_memo = (1, first_id)  # its first operation's id: _dispatch reuses it
        child.on_done = on_done
        self._ready.append(child)

    def wake(self, fiber: Fiber, value: Any, error: BaseException | None) -> None:
        """Resume ``fiber`` with ``value`` (or ``error``) on the next run."""
        if fiber.finished or self._closing:
            return
        if fiber.wrap:
            fiber.wrap = False
            from returns.result import Failure, Success  # only for Attempt: loaded on use

            if isinstance(error, OperationError):
                value, error = Failure(error), None
            elif error is None:
                value = Success(value)
        fiber.resume_with(value, error)
        if fiber.state is not S.RUNNABLE:
            self._move(fiber, S.RUNNABLE)
            self._ready.append(fiber)

    def cancel(self, fiber: Fiber) -> None:
        """Cancel ``fiber`` and its subtree.

        Their pending step results and acknowledgements are dropped, their queued updates
        that were not sent are withdrawn, and their generators are closed (``finally``
        blocks run; a ``yield`` there is refused with a warning). The detached operations
        they started are cancelled with them. Nothing a cancelled fiber does afterwards
        reaches the wire.
        """
        owners: set[int] = set()
        for victim in reversed(fiber.subtree()):
            if victim.finished:
                continue
            self._forget(victim)
            victim.move_to(S.CANCELLED)
            owners.add(victim.id)
            self._close(victim)
            if victim.parent is not None and victim in victim.parent.children:
                victim.parent.children.remove(victim)
        if owners and self._detached_parents:
            detached = {o for o, p in self._detached_parents.items() if p in owners}
            for op_id in [i for i, (o, _) in self._detached.items() if o in detached]:
                del self._detached[op_id]
            for owner in detached:
                del self._detached_parents[owner]
            owners |= detached
        if owners:
            # their queued confirmations are withdrawn too: no answer will ever come
            for ack in [a for a, (owner, _) in self._confirms.items() if owner in owners]:
                del self._confirms[ack]
            self._commands.append(Withdraw(frozenset(owners)))

    # --- the fiber loop ----------------------------------------------------------------------

    def _run_ready(self) -> None:
        while self._ready and self.outcome is None:
            fiber = self._ready.popleft()
            if fiber.state is S.RUNNABLE:
                self._advance(fiber)

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except ExecutionFailure as failure:
            self._fail(failure.error)
        except ExecutionError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug in a handler, or user code called from one
            self._fail(
                ExecutionError(
                    f"orchestra could not interpret the workflow: {type(exc).__name__}: "
                    f"{safe_str(exc)}{where(exc)}"
                )
            )

    def _advance(self, fiber: Fiber) -> None:
        gen = fiber.gen
        if gen is None:  # an adopted operation's fiber: it ends with what it was woken with
            value, error = fiber.value, fiber.error
            fiber.value = fiber.error = None
            self._finish(fiber, None if error is not None else value, error)
            return
        on_resume = self._on_resume
        reset: Callable[[], None] | None = None
        hooked: tuple[bool, str | None] | None = None
        try:
            while True:
                if on_resume is not None and hooked != (fiber.replaying, fiber.parent_id):
                    # set once per run of this fiber, again only when replay ends: a long
                    # replay does not pay the hook for every operation
                    if reset is not None:
                        reset()
                    hooked = (fiber.replaying, fiber.parent_id)
                    reset = None
                    reset = on_resume(*hooked)
                try:
                    if fiber.error is not None:
                        error, fiber.error = fiber.error, None
                        yielded = gen.throw(error)
                    else:
                        value, fiber.value = fiber.value, None
                        yielded = gen.send(value)
                except StopIteration as stop:
                    self._finish(fiber, stop.value, None)
                    return
                except ExecutionError as exc:
                    raise ExecutionFailure(exc) from exc
                except Exception as exc:
                    self._finish(fiber, None, exc)
                    return
                if self._dispatch(fiber, yielded) is BLOCKED:
                    return
                if fiber.state is not S.RUNNABLE:
                    return  # resolved and queued elsewhere, or cancelled by what it yielded
        finally:
            if reset is not None:
                reset()

    def _finish(self, fiber: Fiber, value: Any, error: BaseException | None) -> None:
        if self._prior:
            # (without an earlier invocation's history, nothing recorded can lie beyond
            # what this fiber yielded: its operations are only ever the ones it made)
            check_exhausted(self._history, fiber, error)
        fiber.move_to(S.DONE)
        if fiber.parent is not None and fiber in fiber.parent.children:
            fiber.parent.children.remove(fiber)
        fiber.on_done(value, error)

    def _dispatch(self, fiber: Fiber, yielded: Any) -> object:
        wrap = isinstance(yielded, Attempt)
        op = yielded.op if wrap else yielded
        if not isinstance(op, Op):
            raise ExecutionFailure(not_an_op(fiber.path, fiber.counter, yielded))
        handler = HANDLERS.get(type(op))
        if handler is None and type(op).__module__ in _GROUPS:
            load_handlers(type(op).__module__)
            handler = HANDLERS.get(type(op))
        if handler is None:
            raise ExecutionFailure(
                WorkflowDefinitionError(
                    f"{type(op).__name__} is not supported by this version of orchestra "
                    f"(at {fiber.position()})"
                )
            )
        if not op.positional:  # it only reads state: no id, no record, no replay check
            fiber.wrap = wrap
            return handler(self, fiber, op, "", None)
        fiber.counter += 1
        memo = fiber.id_memo  # the lookahead of the previous operation computed it
        op_id = memo[1] if memo[0] == fiber.counter else operation_id(fiber.prefix, fiber.counter)
        if self._observer is not None:
            self._observer(op_id, op, fiber.path, fiber.counter)
        ops = self._history._ops  # (the index's dict: one lookup, no method call)
        recorded = ops.get(op_id)
        if recorded is None:
            if self._prior:
                # (without a prior history there is no later operation a new one could skip)
                check_recorded(self._history, fiber, op, op_id, recorded)
            self.new += 1
            fiber.replaying = False
        else:
            if not (
                # what check_recorded accepts, decided inline for the common case
                recorded.type is op.op_type
                and recorded.status in _KNOWN_STATUSES
                and (recorded.sub_type is None or recorded.sub_type == op.sub_type)
                and (recorded.name or None) == (op.op_name or None)
            ):
                check_recorded(self._history, fiber, op, op_id, recorded)
            self.replayed += 1
            if recorded.type is OperationType.STEP and recorded.status not in TERMINAL_STATUSES:
                fiber.replaying = False
        fiber.wrap = wrap
        state = handler(self, fiber, op, op_id, recorded)
        if state is not BLOCKED and fiber.replaying:
            n = fiber.counter + 1  # the lookahead: the next operation's id, remembered
            memo = fiber.id_memo
            if memo[0] != n:
                memo = fiber.id_memo = (n, operation_id(fiber.prefix, n))
            if ops.get(memo[1]) is None:
                fiber.replaying = False
        return state

    # --- timers ------------------------------------------------------------------------------

    def _poll_due_timers(self) -> None:
        """Poll the service once when a parked timer fell due while other work goes on."""
        if not self._timers or self._poll_ack is not None:
            return
        if not (self._steps or self._detached or self._acks or self._confirms):
            return  # nothing else in flight: the invocation suspends and the service re-invokes
        due = self.next_wakeup_ms
        if due is None or due > self.now_ms:
            return
        self._next_ack += 1
        self._poll_ack = self._next_ack
        self._commands.append(Checkpoint(None, sync=True, ack=self._poll_ack, owner=0))

    def _recheck_timers(self) -> None:
        for fiber in list(self._timers.values()):
            if fiber.state not in (S.ON_TIMER, S.ON_SERVICE) or fiber.pending is None:
                continue
            pending = fiber.pending
            del self._timers[fiber.id]
            assert pending.then is not None
            self._guarded(pending.then)
            if fiber.state is S.ON_TIMER and fiber.pending is not None and pending.due_ms:
                # still not complete: poll again a little later
                due = max(fiber.pending.due_ms or 0, self.now_ms + POLL_INTERVAL_MS)
                fiber.pending.due_ms = due

    # --- fiber bookkeeping -------------------------------------------------------------------

    def _new_fiber(
        self,
        gen: Generator[Any, Any, Any],
        context: Context,
        *,
        parent: Fiber | None,
        replaying: bool,
    ) -> Fiber:
        fiber = Fiber(self._next_fiber, gen, context, parent=parent, replaying=replaying)
        self._next_fiber += 1
        return fiber

    def _move(self, fiber: Fiber, state: FiberState, pending: Pending | None = None) -> None:
        self._forget(fiber)
        fiber.move_to(state, pending)

    def _forget(self, fiber: Fiber) -> None:
        """Drop the indexes of what ``fiber`` waited for."""
        pending = fiber.pending
        if pending is None:
            return
        if pending.ack is not None and self._acks.get(pending.ack) is fiber:
            del self._acks[pending.ack]
        if (
            fiber.state is S.ON_STEP
            and pending.op_id is not None
            and self._steps.get(pending.op_id) is fiber
        ):
            del self._steps[pending.op_id]
        self._timers.pop(fiber.id, None)

    def _close_all(self) -> None:
        """Close every live generator, leaves first (the invocation is ending)."""
        if self._closing:
            return
        self._closing = True
        self._ready.clear()
        for fiber in reversed(self.fibers()):
            if not fiber.finished:
                self._close(fiber)

    def _close(self, fiber: Fiber) -> None:
        if fiber.gen is None:
            return  # (no generator: no code to run on close)
        reset = (
            self._on_resume(fiber.replaying, fiber.parent_id)
            if self._on_resume is not None
            else None
        )
        try:
            fiber.gen.close()
        except RuntimeError as exc:
            if "ignored GeneratorExit" not in str(exc):
                raise
            self._commands.append(
                Warn(
                    f"{fiber.path} yielded while being closed (a `yield` in a `finally` or "
                    "`except GeneratorExit` block); the yield was refused. Code that must run "
                    "once after the work belongs in a step after it.",
                    WorkflowDefinitionError(f"{fiber.path} yielded while being closed"),
                )
            )
        except Exception as exc:
            self._commands.append(
                Warn(f"{fiber.path} raised while being closed: {type(exc).__name__}", exc)
            )
        finally:
            if reset is not None:
                reset()

    def _take_commands(self) -> list[Command]:
        commands, self._commands = self._commands, []
        return commands

    # --- the workflow itself -----------------------------------------------------------------

    def _root_finished(self, value: Any, error: BaseException | None) -> None:
        if error is not None:
            self.outcome = Failed(error_object_of(error))
            return
        try:
            result = ANY_SERDE.serialize(value)
        except SerializationError as exc:
            self._fail(SerializationError(f"cannot serialise the workflow's result: {exc}"))
            return
        self.outcome = Succeeded(result)

    def _fail(self, error: BaseException) -> None:
        if self.outcome is None:
            self.outcome = Failed(error_object_of(error))
        self._ready.clear()
