"""What operation handlers and the machine share: the blocked sentinel and failure signal.

Example:
    >>> label("abc", "charge")
    "operation 'charge' (id abc)"
"""

from __future__ import annotations

__all__ = ["BLOCKED", "ExecutionFailure", "label"]

#: A handler's answer when the fiber must wait (for a step, a checkpoint, the service).
BLOCKED = object()


class ExecutionFailure(Exception):
    """Unwinds the interpreter when the whole execution must fail with ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def label(op_id: str, name: str | None) -> str:
    """How messages name an operation."""
    return f"operation {name!r} (id {op_id})" if name else f"operation {op_id}"
