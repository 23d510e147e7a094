"""What operation handlers and the machine share: the blocked sentinel and failure signal.

Example:
    >>> label("abc", "charge")
    "operation 'charge' (id abc)"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["BLOCKED", "Continuation", "Deliver", "ExecutionFailure", "label"]

#: A handler's answer when the fiber must wait (for a step, a checkpoint, the service).
BLOCKED = object()

#: Resumes a fiber: ``deliver(value, error)`` sets what its ``yield`` gives or raises.
Deliver = Callable[[Any, BaseException | None], None]

#: Run when a sync checkpoint is acknowledged or a step finishes.
Continuation = Callable[..., None]


class ExecutionFailure(Exception):
    """Unwinds the interpreter when the whole execution must fail with ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def label(op_id: str, name: str | None) -> str:
    """How messages name an operation."""
    return f"operation {name!r} (id {op_id})" if name else f"operation {op_id}"
