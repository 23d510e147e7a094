"""What the shell tells the interpreter: typed events, one class each.

The runtime's inbox carries these, and :meth:`Machine.handle
<orchestra.interpreter.machine.Machine.handle>` consumes them.

Example:
    >>> StepFinished("abc", 42)
    StepFinished(op_id='abc', value=42, error=None)
    >>> Resume(now_ms=1_700_000_000_000).now_ms
    1700000000000
"""

from __future__ import annotations

from typing import Any

import attrs

from orchestra.wire.models import Operation

__all__ = ["Acknowledged", "Event", "Resume", "StepFinished", "WriterFailed"]


@attrs.define
class StepFinished:
    """A step function returned ``value`` or raised ``error``."""

    op_id: str
    value: Any = None
    error: BaseException | None = None


@attrs.define
class Acknowledged:
    """Checkpoints ``acks`` are durable; ``operations`` is the state the service returned."""

    acks: tuple[int, ...]
    operations: tuple[Operation, ...] = ()


@attrs.frozen
class WriterFailed:
    """The checkpoint writer stopped with ``error``; nothing after it was sent."""

    error: BaseException


@attrs.frozen
class Resume:
    """Time passed: the current time is ``now_ms`` (epoch milliseconds)."""

    now_ms: int


Event = StepFinished | Acknowledged | WriterFailed | Resume
