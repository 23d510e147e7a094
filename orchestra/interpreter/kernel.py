"""The narrow interface operation handlers use to act on fibers.

A handler (:mod:`.step`, :mod:`.wait`, :mod:`.child`, ...) replays or starts one kind of
operation for one fiber. It does so only through a :class:`Kernel`: it sends checkpoints,
asks for step runs, parks the fiber on a timer, starts child fibers in new contexts and
wakes the fiber with a value or an error. The :class:`~orchestra.interpreter.machine.Machine`
is the kernel; handlers never see the rest of it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

from orchestra.interpreter.fiber import Context, Done, Fiber, Then
from orchestra.interpreter.history import HistoryIndex
from orchestra.serde import Serde
from orchestra.wire.models import Operation, OperationAction, OperationUpdate

if TYPE_CHECKING:
    from orchestra.interpreter.commands import RunStep
    from orchestra.ops import Op

__all__ = ["Handler", "Kernel"]


class Kernel(Protocol):
    """What a handler may do."""

    @property
    def history(self) -> HistoryIndex:
        """The execution's operations by id (merged with every acknowledged answer)."""
        ...

    @property
    def now_ms(self) -> int:
        """The current time in epoch milliseconds, as last given by the shell."""
        ...

    @property
    def execution_arn(self) -> str:
        """The execution's ARN."""
        ...

    @property
    def serdes(self) -> dict[Any, Serde[Any]]:
        """A cache of codecs by function, for the invocation."""
        ...

    def random(self) -> float:
        """A uniform number in [0, 1) from the injected source (retry jitter)."""
        ...

    def update(
        self, fiber: Fiber, op: Op[Any], op_id: str, action: OperationAction, **fields: Any
    ) -> OperationUpdate:
        """The update for ``op`` with its type, sub-type, name and the fiber's parent id."""
        ...

    def checkpoint(self, fiber: Fiber, update: OperationUpdate, then: Then | None = None) -> None:
        """Send ``update``; with ``then`` the fiber waits until it is acknowledged."""
        ...

    def confirm(self, owner: Fiber, update: OperationUpdate, then: Then) -> None:
        """Send ``update`` synchronously; ``then()`` runs once durable; no fiber waits."""
        ...

    def run_step(self, fiber: Fiber, command: RunStep, then: Then) -> None:
        """Run a step; the fiber waits and ``then(value, error)`` gets its outcome."""
        ...

    @property
    def may_detach(self) -> bool:
        """Whether a new operation may run detached in this invocation (no observer)."""
        ...

    @property
    def has_prior(self) -> bool:
        """Whether the history held an earlier invocation's operations when this one began."""
        ...

    def detach(self, parent: Fiber) -> int:
        """An owner id for a new operation ``parent`` runs without a fiber; counted as new."""
        ...

    def send(self, owner: int, update: OperationUpdate, then: Then | None = None) -> None:
        """Send ``update`` for ``owner``; with ``then``, synchronously (``then()`` once durable)."""
        ...

    def run_detached(self, command: RunStep, then: Then) -> None:
        """Run a step for ``command.owner``; ``then(value, error)`` gets its outcome."""
        ...

    def cancel_detached(self, owner: int, op_id: str) -> None:
        """Drop a detached operation's step outcome, confirmations and queued updates."""
        ...

    def adopt(
        self, parent: Fiber, owner: int, context: Context, op_id: str, on_done: Done
    ) -> Fiber:
        """A generator-less fiber ``owner`` waiting on the detached step ``op_id``."""
        ...

    def wait_timer(self, fiber: Fiber, op_id: str, due_ms: int, then: Then) -> None:
        """Park the fiber until the service's timer for ``op_id`` (due at ``due_ms``) fires.

        ``then()`` runs each time fresh state for ``op_id`` arrives (a poll or any ack); it
        must move the fiber on, or park it again.
        """
        ...

    def wait_service(self, fiber: Fiber, op_id: str, then: Then) -> None:
        """Park the fiber until the service completes ``op_id`` (a callback, an invoke).

        ``then()`` runs each time fresh state arrives; it must move the fiber on, or park
        it again.
        """
        ...

    def start_context(
        self,
        fiber: Fiber,
        body: Callable[[], Generator[Any, Any, Any]],
        context: Context,
        on_done: Done,
    ) -> None:
        """Run ``body()`` as a child fiber in ``context``; the fiber waits for it.

        An exception raised by ``body()`` itself (wrong arguments) is the child's outcome.
        """
        ...

    def wake(self, fiber: Fiber, value: Any, error: BaseException | None) -> None:
        """Resume ``fiber`` with ``value`` (or throw ``error`` into it)."""
        ...

    def cancel(self, fiber: Fiber) -> None:
        """Cancel ``fiber`` and its subtree: drop their pending work, close their generators."""
        ...


#: How each descriptor type is run: ``handler(kernel, fiber, op, op_id, recorded)`` returns
#: :data:`~orchestra.interpreter.signals.BLOCKED` when the fiber must wait, after waking it
#: (or not) otherwise. New operation types register in ``machine.HANDLERS``.
Handler = Callable[[Kernel, Fiber, Any, str, Operation | None], object]
