"""What a running step can learn about itself.

Example:
    >>> step_context() is None
    True
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from datetime import UTC, datetime

import attrs

__all__ = ["RunningStep", "StepContext", "running_step", "step_context"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class StepContext:
    """The running step: its operation id, name, attempt (from 1) and execution.

    ``now()`` is the service's clock: the real time on Lambda, the emulator's (virtual)
    time under :class:`~orchestra.testing.LocalRunner`.
    """

    operation_id: str
    name: str | None
    attempt: int
    execution_arn: str
    now: Callable[[], datetime] = _utc_now


#: The step running on this thread, as plain facts: ``(operation_id, name, parent_id,
#: attempt, execution_arn, now)``. The richer views (its :class:`StepContext`, its log
#: fields) are built only when the step asks for its context or logs: a tuple costs a step
#: less than building both for every step.
RunningStep = tuple[str, str | None, str | None, int, str, Callable[[], datetime] | None]

running_step: contextvars.ContextVar[RunningStep | None] = contextvars.ContextVar(
    "orchestra_running_step", default=None
)


def step_context() -> StepContext | None:
    """The context of the step running on this thread, or ``None`` outside a step.

    Example (inside a step function)::

        def charge(order_id: str) -> str:
            ctx = step_context()
            log.info("charging, attempt %d", ctx.attempt)
    """
    running = running_step.get()
    if running is None:
        return None
    op_id, name, _, attempt, arn, now = running
    if now is None:
        return StepContext(op_id, name, attempt, arn)
    return StepContext(op_id, name, attempt, arn, now)
