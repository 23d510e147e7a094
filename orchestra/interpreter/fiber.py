"""Fibers: one workflow generator each, with its context and an explicit state.

The root workflow is one fiber; each child context (and, later, each Map item and Parallel
branch) is another. Fibers are cooperative and all run on the interpreter's thread, so
thousands of concurrent branches cost thousands of generator objects, not threads.

A fiber's state is data: one :class:`FiberState`, changed only through
:meth:`Fiber.move_to`, which refuses any move the :data:`TRANSITIONS` table does not list
(the design follows h11's ``_state.py``). Whatever the fiber waits for is a
:class:`Pending` record the fiber owns, so cancelling the fiber drops its pending work.

Example:
    >>> def body():
    ...     yield "op"
    >>> fiber = Fiber(1, body(), Context.root(), parent=None, replaying=False)
    >>> fiber.state
    <FiberState.RUNNABLE: 'runnable'>
    >>> fiber.move_to(FiberState.ON_STEP, Pending(op_id="abc"))
    >>> fiber.state, fiber.pending.op_id
    (<FiberState.ON_STEP: 'on step'>, 'abc')
    >>> fiber.move_to(FiberState.ON_CHILDREN)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    orchestra.interpreter.fiber.FiberStateError: fiber 1 (...) cannot go from on step to on children
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator
from typing import Any

import attrs

__all__ = [
    "TRANSITIONS",
    "Context",
    "Fiber",
    "FiberState",
    "FiberStateError",
    "Pending",
]


class FiberState(enum.Enum):
    """What a fiber is doing."""

    #: Ready to be resumed (it has a value or an error to receive).
    RUNNABLE = "runnable"
    #: Waiting for a step function running in the shell's pool.
    ON_STEP = "on step"
    #: Waiting for a synchronous checkpoint to be acknowledged.
    ON_ACK = "on ack"
    #: Waiting for a timer of the service (a wait, a retry delay) that falls due at a time.
    ON_TIMER = "on timer"
    #: Waiting for something only the service can complete (a callback, an invoke).
    ON_SERVICE = "on service"
    #: Waiting for child fibers (a child context's body).
    ON_CHILDREN = "on children"
    #: The generator returned or raised; its outcome was handed on.
    DONE = "done"
    #: Cancelled: its generator is closed and nothing it asked for reaches the wire.
    CANCELLED = "cancelled"

    # members are singletons compared by identity: hashing them by identity too keeps the
    # transition checks off Enum's Python-level __hash__ (a few per operation)
    __hash__ = object.__hash__


S = FiberState
_WAITING = frozenset({S.ON_STEP, S.ON_ACK, S.ON_TIMER, S.ON_SERVICE, S.ON_CHILDREN})

#: The only moves a fiber may make. DONE and CANCELLED are final.
TRANSITIONS: dict[FiberState, frozenset[FiberState]] = {
    S.RUNNABLE: _WAITING | {S.RUNNABLE, S.DONE, S.CANCELLED},
    # A step's outcome is checkpointed (ack) before the fiber sees it; an at-most-once
    # attempt that was interrupted is failed by a checkpoint too.
    S.ON_STEP: frozenset({S.ON_ACK, S.RUNNABLE, S.CANCELLED}),
    # After an ack: resume, run the step (at-most-once START), wait for a timer (a wait or
    # a retry delay the service has not completed yet) or for the service.
    S.ON_ACK: frozenset({S.RUNNABLE, S.ON_STEP, S.ON_TIMER, S.ON_SERVICE, S.ON_ACK, S.CANCELLED}),
    # A timer that fell due is polled with an empty checkpoint, or completes in a new state.
    S.ON_TIMER: frozenset({S.ON_ACK, S.RUNNABLE, S.ON_STEP, S.ON_TIMER, S.CANCELLED}),
    S.ON_SERVICE: frozenset({S.RUNNABLE, S.ON_ACK, S.ON_SERVICE, S.CANCELLED}),
    # A child finished: its outcome may need a checkpoint before the parent resumes.
    S.ON_CHILDREN: frozenset({S.RUNNABLE, S.ON_ACK, S.CANCELLED}),
    S.DONE: frozenset(),
    S.CANCELLED: frozenset(),
}


class FiberStateError(AssertionError):
    """An interpreter bug: a fiber was asked to make a move the transition table forbids."""


@attrs.frozen
class Context:
    """Where a fiber's operations live.

    Attributes:
        prefix: the id prefix of its operations (``None`` at the root).
        parent_id: the ``ParentId`` its operations report (a virtual context reports the
            enclosing one's).
        virtual: whether the context checkpoints no operation of its own.
        sub_type: the context operation's sub-type (``RunInChildContext``, ``MapIteration``).
        name: the context operation's name.
        path: a readable location for messages (``the workflow > child 'x'``).
    """

    prefix: str | None
    parent_id: str | None
    virtual: bool = False
    sub_type: str | None = None
    name: str | None = None
    path: str = "the workflow"

    @classmethod
    def root(cls) -> Context:
        """The workflow's own context."""
        return cls(prefix=None, parent_id=None)

    def child(
        self,
        op_id: str,
        *,
        sub_type: str,
        name: str | None,
        virtual: bool = False,
        label: str = "child",
    ) -> Context:
        """The context of an operation ``op_id`` started in this one.

        Example:
            >>> ctx = Context.root().child("c1", sub_type="RunInChildContext", name="x")
            >>> ctx.prefix, ctx.parent_id, ctx.path
            ('c1', 'c1', "the workflow > child 'x'")
            >>> Context.root().child("c2", sub_type="S", name=None, virtual=True).parent_id is None
            True
        """
        return Context(
            prefix=op_id,
            parent_id=self.parent_id if virtual else op_id,
            virtual=virtual,
            sub_type=sub_type,
            name=name,
            path=f"{self.path} > {label} {name or op_id[:12]!r}",
        )


#: Continues a fiber's waiting work: called with the step's ``(value, error)`` for a step,
#: with nothing for an acknowledgement or a timer.
Then = Callable[..., None]


@attrs.define
class Pending:
    """What a waiting fiber waits for, and what to do when it arrives.

    Attributes:
        op_id: the operation it concerns.
        ack: the checkpoint it waits to be acknowledged (``ON_ACK``).
        due_ms: when its timer falls due, in epoch milliseconds (``ON_TIMER``).
        then: the continuation run on arrival.
    """

    op_id: str | None = None
    ack: int | None = None
    due_ms: int | None = None
    then: Then | None = None


#: Called with ``(value, error)`` when the fiber's generator returns or raises.
Done = Callable[[Any, BaseException | None], None]


class Fiber:
    """One generator being interpreted.

    Attributes:
        id: a number unique within the invocation (checkpoints carry it as their owner).
        gen: the workflow generator (``None`` for a fiber adopted by a detached operation,
            which ends with the outcome it is woken with).
        context: the context its operations live in.
        parent: the fiber that started it (``None`` for the root).
        children: fibers it started that are not finished.
        state: what it is doing; change it only with :meth:`move_to`.
        pending: what it waits for, while waiting.
        counter: how many operations it has yielded.
        replaying: whether it is re-running checkpointed code (for the logger).
        on_done: run with the generator's outcome.
    """

    __slots__ = (
        "children",
        "context",
        "counter",
        "error",
        "gen",
        "id",
        "id_memo",
        "on_done",
        "parent",
        "pending",
        "replaying",
        "state",
        "uuid_count",
        "uuid_position",
        "value",
        "wrap",
    )

    def __init__(
        self,
        fiber_id: int,
        gen: Generator[Any, Any, Any] | None,
        context: Context,
        *,
        parent: Fiber | None,
        replaying: bool,
        on_done: Done | None = None,
    ) -> None:
        self.id = fiber_id
        self.gen = gen
        self.context = context
        self.parent = parent
        self.children: list[Fiber] = []
        self.state = FiberState.RUNNABLE
        self.pending: Pending | None = None
        self.counter = 0
        self.replaying = replaying
        self.on_done: Done = on_done or _ignore
        self.value: Any = None
        self.error: BaseException | None = None
        #: Whether the operation it waits for was yielded as an ``Attempt`` (non-raising).
        self.wrap = False
        #: How many ``Uuid()`` it drew at position ``uuid_position`` (replay-safe uuids).
        self.uuid_position = 0
        self.uuid_count = 0
        #: The id of its operation at a position, computed ahead of time by the interpreter
        #: (is the history done?) and used again when that operation is yielded.
        self.id_memo: tuple[int, str] = (0, "")
        if parent is not None:
            parent.children.append(self)

    @property
    def prefix(self) -> str | None:
        """The id prefix of its operations."""
        return self.context.prefix

    @property
    def parent_id(self) -> str | None:
        """The ``ParentId`` its operations report."""
        return self.context.parent_id

    @property
    def path(self) -> str:
        """A readable location, for messages."""
        return self.context.path

    @property
    def finished(self) -> bool:
        """Whether the fiber is done or cancelled."""
        return self.state is FiberState.DONE or self.state is FiberState.CANCELLED

    def move_to(self, state: FiberState, pending: Pending | None = None) -> None:
        """Change state through the transition table; ``pending`` is what it now waits for."""
        if state not in TRANSITIONS[self.state]:
            raise FiberStateError(
                f"fiber {self.id} ({self.path}) cannot go from {self.state.value} to {state.value}"
            )
        self.state = state
        self.pending = pending

    def resume_with(self, value: Any, error: BaseException | None) -> None:
        """Set what the next resume sends (``value``) or throws (``error``)."""
        self.value = value
        self.error = error

    def subtree(self) -> list[Fiber]:
        """This fiber and every unfinished fiber below it, parents first."""
        found: list[Fiber] = []
        stack = [self]
        while stack:
            fiber = stack.pop()
            found.append(fiber)
            stack.extend(reversed(fiber.children))
        return found

    def position(self) -> str:
        """Where the fiber is, for error messages."""
        return f"operation #{self.counter} of {self.path}"

    def __repr__(self) -> str:
        return f"Fiber({self.id}, {self.path!r}, {self.state.value})"


def _ignore(value: Any, error: BaseException | None) -> None:
    """The default ``on_done``: nothing to hand on."""
