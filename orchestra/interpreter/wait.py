"""How the interpreter runs a :class:`~orchestra.ops.Wait`.

A new wait checkpoints START synchronously and parks the fiber on a timer; the service's
timer completes it (and re-invokes the function if the invocation suspended meanwhile). A
wait the service already completed resolves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestra.interpreter.signals import BLOCKED
from orchestra.interpreter.timers import due_ms
from orchestra.ops import Wait
from orchestra.wire.models import Operation, OperationAction, WaitOptions

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.kernel import Kernel

__all__ = ["handle_wait"]


def handle_wait(
    k: Kernel, fiber: Fiber, op: Wait, op_id: str, recorded: Operation | None
) -> object:
    """Replay or start ``op`` at ``op_id``."""
    if recorded is not None:
        if recorded.is_terminal:
            k.wake(fiber, None, None)
            return None
        _park(k, fiber, op_id, op.seconds)
        return BLOCKED
    update = k.update(fiber, op, op_id, OperationAction.START, wait_options=WaitOptions(op.seconds))
    started_ms = k.now_ms
    k.checkpoint(fiber, update, lambda: _started(k, fiber, op_id, started_ms + op.seconds * 1000))
    return BLOCKED


def _started(k: Kernel, fiber: Fiber, op_id: str, fallback_due: int) -> None:
    now = k.history.get(op_id)
    if now is not None and now.is_terminal:
        k.wake(fiber, None, None)
        return
    _park(k, fiber, op_id, None, fallback_due)


def _park(
    k: Kernel, fiber: Fiber, op_id: str, seconds: int | None, fallback_due: int | None = None
) -> None:
    recorded = k.history.get(op_id)
    details = recorded.wait_details if recorded is not None else None
    scheduled = details.scheduled_end_timestamp if details else None
    if scheduled is not None:
        due = due_ms(scheduled, k.now_ms)
    elif fallback_due is not None:
        due = fallback_due
    else:
        due = k.now_ms + (seconds or 0) * 1000
    k.wait_timer(fiber, op_id, due, lambda: _started(k, fiber, op_id, due))
