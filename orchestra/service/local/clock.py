"""Clocks for the emulator: real time, or virtual time that skips ahead to timers.

Example:
    >>> clock = VirtualClock()
    >>> start = clock.now()
    >>> clock.advance_to(start + timedelta(hours=1))
    >>> clock.now() - start >= timedelta(hours=1)
    True
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "RealClock", "VirtualClock"]


class Clock(Protocol):
    """Tells the time and waits until a moment."""

    def now(self) -> datetime:
        """The current time (aware, UTC)."""
        ...

    def advance_to(self, moment: datetime) -> None:
        """Return once ``moment`` has come (sleeping, or skipping ahead)."""
        ...


class RealClock:
    """Wall-clock time; waiting really waits."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def advance_to(self, moment: datetime) -> None:
        """Sleep until ``moment``."""
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            time.sleep(delay)


class VirtualClock:
    """Real elapsed time plus every jump made to reach a timer: waits take no real time.

    Timestamps stay realistic within an invocation, and a one-hour wait still shows as one
    hour in the history.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime.now(UTC)
        self._mono = time.monotonic()
        self._skipped = timedelta()
        self._lock = threading.Lock()
        #: now() = origin + monotonic time: one addition, no lock (origin is swapped whole).
        self._origin = self._start - timedelta(seconds=self._mono)

    def now(self) -> datetime:
        """The virtual current time."""
        return self._origin + timedelta(0, time.monotonic())  # (days, seconds): a hot path

    def advance_to(self, moment: datetime) -> None:
        """Jump forward to ``moment`` (no-op if it has passed)."""
        with self._lock:
            now = self._start + timedelta(seconds=time.monotonic() - self._mono) + self._skipped
            if moment > now:
                self._skipped += moment - now
                self._origin = self._start - timedelta(seconds=self._mono) + self._skipped
