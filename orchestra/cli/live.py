"""Watching an execution while ``orchestra run`` drives it: a live table, or plain lines.

:class:`ObservedService` is the emulator with one addition: after every checkpoint and
before every invocation it hands the history events the watched execution gained to an
observer. On a terminal the observer is a Rich live table of the operations; otherwise
(a pipe, a CI log) it prints one plain line per operation that starts or ends.

Payloads are never shown here: an operation's line names it, its type and its status,
and a failure its error type only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from orchestra.cli.timeline import format_duration, rows, truncate
from orchestra.service.local import LocalService
from orchestra.service.local.execution import Execution
from orchestra.wire.models import CheckpointResponse, Event, OperationUpdate

__all__ = ["LiveTable", "ObservedService", "PlainLines", "operations_table"]

Observer = Callable[[Execution, Sequence[Event]], None]

_VERBS = ("Started", "Succeeded", "Failed", "TimedOut", "Cancelled", "Stopped")


class ObservedService(LocalService):
    """A :class:`LocalService` that reports the new history events of one execution."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watched: str | None = None
        self._observer: Observer | None = None
        self._seen = 0
        self._watch_lock = threading.Lock()

    def watch(self, arn: str, observer: Observer) -> None:
        """Report the events ``arn`` gains from now on (``observer`` first sees none)."""
        with self._watch_lock:
            ex = self.execution(arn)
            self._watched, self._observer, self._seen = arn, observer, len(ex.events)
            observer(ex, [])

    def flush(self) -> None:
        """Hand the watched execution's events not reported yet to the observer."""
        arn, observer = self._watched, self._observer
        if arn is None or observer is None:
            return
        with self._watch_lock:
            ex = self.execution(arn)
            new = ex.events[self._seen :]
            self._seen = len(ex.events)
            if new:
                observer(ex, new)

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        """``CheckpointDurableExecution``, then report what it added."""
        try:
            return super().checkpoint(arn, token, updates)
        finally:
            self.flush()

    def before_invoke(self, ex: Execution) -> None:
        """Report what happened between invocations (timers fired, callbacks answered)."""
        super().before_invoke(ex)
        self.flush()


def _kind(event: Event) -> tuple[str, str] | None:
    for verb in _VERBS:
        if event.event_type.endswith(verb):
            return event.event_type[: -len(verb)], verb
    return None


class PlainLines:
    """Prints one line per operation event (for a pipe or a log file)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.start: datetime | None = None
        self.invocations = 0

    def __call__(self, ex: Execution, events: Sequence[Event]) -> None:
        """Print ``events``."""
        if self.start is None:  # the first call: count the invocations before the new events
            self.start = ex.start_timestamp
            earlier = ex.events[: len(ex.events) - len(events)]
            self.invocations = sum(e.event_type == "InvocationCompleted" for e in earlier)
        for event in events:
            offset = ""
            if self.start is not None:
                seconds = max((event.event_timestamp - self.start).total_seconds(), 0.0)
                offset = "+" + format_duration(seconds)
            if event.event_type == "InvocationCompleted":
                self.invocations += 1
                error = event.details.error
                ended = (
                    f"ended with {error.payload.error_type}"
                    if error is not None and error.payload is not None
                    else "ended"
                )
                self._line(f"{offset:>9}  invocation {self.invocations} {ended}")
                continue
            kind = _kind(event)
            if kind is None or event.event_type.startswith("Execution"):
                continue
            family, verb = kind
            what = event.sub_type or family
            if event.name:
                name = truncate(event.name, 60)
            elif event.details.duration is not None:
                name = format_duration(event.details.duration)
            else:
                name = ""
            text = f"{offset:>9}  {verb.lower():<9} {what} {name}"
            retry = event.details.retry_details
            if verb == "Failed" and retry is not None and retry.next_attempt_delay_seconds:
                text += f" (retrying in {retry.next_attempt_delay_seconds}s)"
            elif event.details.error is not None and event.details.error.payload is not None:
                text += f" ({event.details.error.payload.error_type})"
            self._line(text)

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


def operations_table(ex: Execution, *, last: int | None = None) -> Table:
    """A table of ``ex``'s operations: name, type, status, attempts, duration."""
    table = Table(title=f"{ex.function_name} / {ex.name}: {ex.status.value}", expand=False)
    for column in ("operation", "type", "status", "attempts", "duration"):
        table.add_column(column)
    listed = rows(ex)
    if last is not None and len(listed) > last:
        table.add_row(f"… {len(listed) - last} earlier", "", "", "", "")
        listed = listed[-last:]
    for row in listed:
        duration = (
            format_duration((row.end - row.start).total_seconds())
            if row.start is not None and row.end is not None
            else ""
        )
        table.add_row(
            "  " * row.depth + truncate(row.name, 50),
            row.type,
            _styled(row.status),
            str(row.attempts or ""),
            duration,
        )
    return table


def _styled(status: str) -> str:
    colour = {
        "SUCCEEDED": "green",
        "FAILED": "red",
        "TIMED_OUT": "yellow",
        "STARTED": "cyan",
        "PENDING": "magenta",
        "RUNNING": "cyan",
    }.get(status, "white")
    return f"[{colour}]{status}[/{colour}]"


class LiveTable:
    """A Rich live table of the operations, redrawn as events arrive (on a terminal)."""

    def __init__(self, console: Console) -> None:
        self.live = Live(console=console, auto_refresh=False, transient=False)

    def __enter__(self) -> LiveTable:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def __call__(self, ex: Execution, events: Sequence[Event]) -> None:
        """Redraw the table from ``ex``."""
        height = max(self.live.console.height - 8, 5)
        self.live.update(operations_table(ex, last=height), refresh=True)
