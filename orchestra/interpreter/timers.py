"""When a service timer falls due, as the interpreter sees it.

Example:
    >>> from datetime import datetime, UTC
    >>> due_ms(datetime(2026, 1, 1, tzinfo=UTC), now_ms=0)
    1767225600000
    >>> due_ms(None, now_ms=5_000)
    5000
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["due_ms"]


def due_ms(when: datetime | None, now_ms: int) -> int:
    """``when`` in epoch milliseconds; unknown (``None``) counts as due now."""
    if when is None:
        return now_ms
    return int(when.timestamp() * 1000)
