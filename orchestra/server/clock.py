"""A real-time clock whose waits the server can cut short.

:meth:`LocalService.run <orchestra.service.local.LocalService.run>` sleeps on its clock
until the next timer (a wait, a retry delay, a callback timeout). Behind the HTTP server a
callback or a stop can arrive during that sleep; with :class:`WakeableClock` the server
wakes the sleeper, the engine looks again and invokes the function at once, instead of at
the timer. Closing the server interrupts every wait (:class:`ClockClosed`), so no worker
thread outlives it by more than an invocation.

Example:
    >>> import threading
    >>> from datetime import timedelta
    >>> clock = WakeableClock()
    >>> threading.Timer(0.05, clock.wake).start()
    >>> start = clock.now()
    >>> clock.advance_to(start + timedelta(hours=1))   # returns early, woken
    >>> clock.now() - start < timedelta(seconds=5)
    True
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

__all__ = ["ClockClosed", "WakeableClock"]


class ClockClosed(Exception):
    """The server closed while a wait was in progress."""


class WakeableClock:
    """Wall-clock time; :meth:`advance_to` sleeps, but :meth:`wake` ends every sleep.

    A wake is never lost: a thread that was not asleep when :meth:`wake` was called
    returns at once from its next :meth:`advance_to` (once), so the engine re-examines the
    execution before sleeping again.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._closed = False
        self._seen = threading.local()

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def advance_to(self, moment: datetime) -> None:
        """Sleep until ``moment``, or until woken.

        Raises:
            ClockClosed: the clock was closed (the server is shutting down).
        """
        with self._cond:
            if self._closed:
                raise ClockClosed("the server is closing")
            seen = getattr(self._seen, "generation", -1)
            self._seen.generation = self._generation
            if seen != self._generation:
                return
            while True:
                if self._closed:
                    raise ClockClosed("the server is closing")
                if self._generation != seen:
                    self._seen.generation = self._generation
                    return
                delay = (moment - self.now()).total_seconds()
                if delay <= 0:
                    return
                self._cond.wait(delay)

    def wake(self) -> None:
        """End every current sleep (something outside changed an execution)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Interrupt every current and later wait with :class:`ClockClosed`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """Let waits happen again (a new server on the same service)."""
        with self._cond:
            self._closed = False
