"""How the interpreter runs a :class:`~orchestra.ops.Wait`.

A new wait checkpoints START synchronously and parks the fiber; the service's timer
completes it and re-invokes the function. A wait the service already completed resolves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestra.interpreter.signals import BLOCKED, Deliver
from orchestra.ops import Wait
from orchestra.wire.models import Operation, OperationAction, WaitOptions

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.machine import Machine

__all__ = ["handle_wait"]


def handle_wait(
    m: Machine,
    fiber: Fiber,
    op: Wait,
    op_id: str,
    recorded: Operation | None,
    deliver: Deliver,
) -> object:
    """Replay or start ``op`` at ``op_id``."""
    if recorded is not None:
        if recorded.is_terminal:
            deliver(None, None)
            return None
        return BLOCKED  # the service's timer re-invokes us
    options = WaitOptions(op.seconds)
    update = m.update(fiber, op, op_id, OperationAction.START, wait_options=options)

    def started() -> None:
        now = m.history.get(op_id)
        if now is not None and now.is_terminal:
            m.wake(fiber, deliver, None, None)

    m.checkpoint(update, started)
    return BLOCKED
