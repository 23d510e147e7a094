"""What a running step can learn about itself.

Example:
    >>> step_context() is None
    True
"""

from __future__ import annotations

import contextvars

import attrs

__all__ = ["StepContext", "step_context", "step_context_var"]


@attrs.frozen
class StepContext:
    """The running step: its operation id, name, attempt (from 1) and execution."""

    operation_id: str
    name: str | None
    attempt: int
    execution_arn: str


step_context_var: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "orchestra_step_context", default=None
)


def step_context() -> StepContext | None:
    """The context of the step running on this thread, or ``None`` outside a step.

    Example (inside a step function)::

        def charge(order_id: str) -> str:
            ctx = step_context()
            log.info("charging, attempt %d", ctx.attempt)
    """
    return step_context_var.get()
